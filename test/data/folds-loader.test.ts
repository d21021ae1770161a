import { describe, it, expect } from 'vitest';
import { patientFolds, validationSplit, type FoldItem } from '../../src/data/folds';
import { BatchLoader, ClipCache } from '../../src/data/loader';
import { SynthSource, synthSpecs } from '../../src/data/synth';
import { LUS_MEAN, LUS_STD } from '../../src/data/preprocess';
import { Rng } from '../../src/data/rng';
import type { Clip } from '../../src/data/clip';
import type { ClipSource } from '../../src/data/source';

function randomItems(n: number, seed: number): FoldItem[] {
  const r = new Rng(seed);
  const out: FoldItem[] = [];
  for (let i = 0; i < n; i++) {
    // patients with 1..5 items, a patient's items mostly share a class; some unlabelled
    const p = `p${Math.floor(i / (1 + r.int(5)))}-${r.int(3)}`;
    out.push({ patient: p, label: r.chance(0.1) ? null : r.int(3) });
  }
  return out;
}

describe('patient-disjoint folds', () => {
  for (const k of [2, 3, 5])
    it(`${k} folds: every labelled item tested once, no patient on both sides, unlabelled kept out`, () => {
      const items = randomItems(300, k);
      const { folds, unlabelled, foldOf } = patientFolds(items, k, 1);
      expect(folds).toHaveLength(k);
      const tested = folds.flatMap((f) => f.test).sort((a, b) => a - b);
      const labelled = items.map((_, i) => i).filter((i) => items[i].label !== null);
      expect(tested).toEqual(labelled);
      expect(unlabelled).toEqual(items.map((_, i) => i).filter((i) => items[i].label === null));
      for (const f of folds) {
        const trainP = new Set(f.train.map((i) => items[i].patient));
        for (const i of f.test) expect(trainP.has(items[i].patient)).toBe(false);
        expect(f.train.length + f.test.length).toBe(labelled.length);
      }
      for (const i of unlabelled) expect(foldOf[i]).toBe(-1);
    });

  it('matches patients by exact id ("2" and "12" are different patients)', () => {
    const items: FoldItem[] = [{ patient: '2', label: 0 }, { patient: '12', label: 0 }, { patient: '2', label: 1 }, { patient: '12', label: 1 }];
    const { foldOf } = patientFolds(items, 2, 0);
    expect(foldOf[0]).toBe(foldOf[2]);
    expect(foldOf[1]).toBe(foldOf[3]);
    expect(foldOf[0]).not.toBe(foldOf[1]);
  });

  it('is stratified: each class is split close to evenly across folds', () => {
    const items = synthSpecs({ videos: 200, seed: 4 }).map((s) => ({ patient: s.patient, label: [0, 1, 1, 2][s.score] }));
    const { folds } = patientFolds(items, 2, 0);
    for (let c = 0; c < 3; c++) {
      const total = items.filter((it) => it.label === c).length;
      const inFold0 = folds[0].test.filter((i) => items[i].label === c).length;
      // patients have <= 4 clips, so a greedy split lands within a few clips of half
      expect(Math.abs(inFold0 - total / 2)).toBeLessThanOrEqual(4);
    }
  });

  it('is deterministic for a seed, and a validation split stays patient-disjoint from train', () => {
    const items = randomItems(120, 9);
    expect(patientFolds(items, 2, 5)).toEqual(patientFolds(items, 2, 5));
    const { train, val } = validationSplit(items, patientFolds(items, 2, 5).folds[0].train, 0.25, 1);
    expect(val.length).toBeGreaterThan(0);
    const vp = new Set(val.map((i) => items[i].patient));
    for (const i of train) expect(vp.has(items[i].patient)).toBe(false);
  });
});

describe('batch loader', () => {
  const opts = { videos: 10, frames: 20, size: 16, seed: 1 };

  it('builds (B, S, C, H, W) normalised batches with labels; eval uses linspace in order', async () => {
    const src = new SynthSource(opts);
    const loader = new BatchLoader(src, [0, 1, 2, 3, 4], { batchSize: 2, train: false, frames: 15 });
    const batches = [];
    for await (const b of loader.epoch()) batches.push(b);
    expect(batches.map((b) => b.B)).toEqual([2, 2, 1]); // eval keeps the last partial batch
    const b0 = batches[0];
    expect(b0.x.length).toBe(2 * 15 * 3 * 16 * 16);
    expect(b0.ids).toEqual([src.items[0].id, src.items[1].id]);
    expect([...b0.labels]).toEqual([src.items[0].label, src.items[1].label]);
    // frame j of clip 1 = frames[floor(j * 19 / 14)], channel 2, normalised
    const clip1 = await src.load(1);
    const j = 7, t = Math.floor((j * 19) / 14), hw = 256;
    const off = (1 * 15 + j) * 3 * hw + 2 * hw;
    for (const p of [0, 100, 200]) expect(b0.x[off + p]).toBeCloseTo((clip1.frames[t][p] - LUS_MEAN) / LUS_STD, 5);
  });

  it('training shuffles per epoch, drops the partial batch, samples strided clips, and is seeded', async () => {
    const src = new SynthSource(opts);
    const run = async (seed: number, epoch: number) => {
      const l = new BatchLoader(src, [...Array(10).keys()], { batchSize: 3, train: true, seed });
      const ids: string[] = [];
      for await (const b of l.epoch(epoch)) ids.push(...b.ids);
      return ids;
    };
    const a = await run(1, 0);
    expect(a).toHaveLength(9);
    expect(await run(1, 0)).toEqual(a);
    expect(await run(1, 1)).not.toEqual(a);
  });

  it('prefetches: the next batch is being loaded while the caller holds the current one', async () => {
    const loadsAt: number[] = [];
    let loads = 0;
    const inner = new SynthSource(opts);
    const counting: ClipSource = { items: inner.items, load: (i) => { loads++; return inner.load(i); } };
    const loader = new BatchLoader(counting, [...Array(8).keys()], { batchSize: 2, train: false });
    for await (const _b of loader.epoch()) {
      await new Promise((r) => setTimeout(r, 20)); // "GPU work"
      loadsAt.push(loads);
    }
    // while holding batch i (after the pause), batch i+1's two clips have been loaded
    expect(loadsAt).toEqual([4, 6, 8, 8]);
  });

  it('caches decoded clips: a second epoch loads nothing', async () => {
    let loads = 0;
    const inner = new SynthSource(opts);
    const counting: ClipSource = { items: inner.items, load: (i): Promise<Clip> => { loads++; return inner.load(i); } };
    const cache = new ClipCache(counting);
    const loader = new BatchLoader(counting, [0, 1, 2, 3], { batchSize: 2, train: true }, cache);
    for await (const _ of loader.epoch(0));
    expect(loads).toBe(4);
    for await (const _ of loader.epoch(1));
    expect(loads).toBe(4);
  });
});
