// Patient-disjoint k-fold splits (SPEC §2: 2 folds, split by patient, matched by exact id).
// Labelled items are dealt to folds patient by patient, largest patients first, each to the
// fold where it best keeps every class near its target share (greedy stratified group
// k-fold). Unlabelled items take no part: they are returned apart, for self-supervised
// pretraining only.

import { Rng, hashSeed } from './rng.js';
import { NUM_CLASSES } from './clip.js';

export interface FoldItem {
  patient: string;
  label: number | null;
}

export interface Fold {
  train: number[]; // item indices, labelled, ascending
  test: number[];
}

export interface FoldSplit {
  folds: Fold[];
  /** Labelled item index -> its test fold (-1 for unlabelled items). */
  foldOf: Int32Array;
  /** Unlabelled items: pretraining only, never in train or test. */
  unlabelled: number[];
}

/** Split items into k patient-disjoint, class-stratified folds. Deterministic for a seed. */
export function patientFolds(items: readonly FoldItem[], k = 2, seed = 0): FoldSplit {
  if (!(k >= 2)) throw new RangeError(`patientFolds: need k >= 2 folds, got ${k}`);
  const unlabelled: number[] = [];
  const byPatient = new Map<string, number[]>();
  items.forEach((it, i) => {
    if (it.label === null) return void unlabelled.push(i);
    const list = byPatient.get(it.patient);
    if (list) list.push(i);
    else byPatient.set(it.patient, [i]);
  });
  const patients = [...byPatient.keys()].sort();
  if (patients.length < k) throw new RangeError(`patientFolds: ${patients.length} labelled patients cannot fill ${k} folds`);
  new Rng(hashSeed(seed, 0xf01d)).shuffle(patients);
  // stable sort keeps the shuffled order among patients of equal size
  patients.sort((a, b) => (byPatient.get(b) as number[]).length - (byPatient.get(a) as number[]).length);

  const C = NUM_CLASSES;
  const total = new Float64Array(C);
  for (const it of items) if (it.label !== null) total[it.label]++;
  const target = total.map((t) => t / k);
  const count = Array.from({ length: k }, () => new Float64Array(C));
  const size = new Float64Array(k);
  const foldOf = new Int32Array(items.length).fill(-1);
  for (const p of patients) {
    const idx = byPatient.get(p) as number[];
    const h = new Float64Array(C);
    for (const i of idx) h[items[i].label as number]++;
    let best = 0, bestCost = Infinity;
    for (let f = 0; f < k; f++) {
      // change of the squared distance to the target share, relative to the class size
      let cost = 0;
      for (let c = 0; c < C; c++) {
        if (total[c] === 0) continue;
        const after = count[f][c] + h[c] - target[c];
        const before = count[f][c] - target[c];
        cost += (after * after - before * before) / total[c];
      }
      cost += (1e-6 * size[f]) / items.length; // tie-break: the smaller fold
      if (cost < bestCost) {
        bestCost = cost;
        best = f;
      }
    }
    for (let c = 0; c < C; c++) count[best][c] += h[c];
    size[best] += idx.length;
    for (const i of idx) foldOf[i] = best;
  }
  const folds: Fold[] = [];
  for (let f = 0; f < k; f++) {
    const train: number[] = [], test: number[] = [];
    foldOf.forEach((g, i) => {
      if (g === f) test.push(i);
      else if (g >= 0) train.push(i);
    });
    folds.push({ train, test });
  }
  return { folds, foldOf, unlabelled };
}

/**
 * Hold out about `fraction` of the given items (by patient) for model selection, so the
 * reported test fold is never used to pick epochs. Returns { train, val } (subsets of indices).
 * With fewer than two labelled patients everything stays in train.
 */
export function validationSplit(items: readonly FoldItem[], indices: readonly number[], fraction = 0.2,
  seed = 0): { train: number[]; val: number[] } {
  const sub = indices.map((i) => items[i]);
  const patients = new Set(sub.filter((it) => it.label !== null).map((it) => it.patient));
  const k = Math.max(2, Math.round(1 / fraction));
  if (patients.size < k) return { train: [...indices], val: [] };
  const split = patientFolds(sub, k, hashSeed(seed, 0x7a1));
  const val = split.folds[0].test.map((j) => indices[j]);
  const valSet = new Set(val);
  return { train: indices.filter((i) => !valSet.has(i)), val };
}
