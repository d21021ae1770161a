// DINO loss benchmark: the fused kernels of shaders/dino-loss.wgsl (loss + dL/dS + center, 4
// dispatches) against the same result composed from our unfused ops (centering, softmax,
// log-softmax, one mul + sum per pair, per-crop gradient maps, concat, column mean, axpby)
// and (with --peers) against tfjs-webgpu (the loss written as DINO's DINOLoss, dL/dS in closed
// form).
//
// Shapes: MeDiVLAD's DINO stage: V = 12 crops (2 global + 10 local), B = 32, K = 65536 (the
//   head's out_dim), τs 0.1, τt 0.06; and a small head, K = 1024.
// Bytes (the shader header's compulsory traffic): 4·(2·V·B·K + 2·B·K + 2·K): S read and dS
//   written once, T read once, c read and c' written. GB/s is that over the median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { slice, concat } from '../src/autograd/view-ops.js';
import { binary, unary } from '../src/kernels/elementwise.js';
import { softmaxForward, logSoftmaxForward } from '../src/kernels/softmax.js';
import { reduce, reduceAll } from '../src/kernels/reduce.js';
import { dinoLoss, planDinoLoss, type DinoLossVersion } from '../src/kernels/dino-loss.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu, type Tf } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, ourFields, peerResult, baselineResult, type TfTensor } from './calibrate.js';
export { seeded, timeOurs, timeTfjs };

export interface BenchOpts {
  repeat?: number;
  filter?: RegExp;
  /** Time the outside peers (tfjs-webgpu) too. */
  peers?: boolean;
}

interface Case {
  V: number;
  B: number;
  K: number;
  tauS: number;
  tauT: number;
}

const CASES: Case[] = [
  { V: 12, B: 32, K: 65536, tauS: 0.1, tauT: 0.06 },
  { V: 12, B: 32, K: 1024, tauS: 0.1, tauT: 0.06 },
];

const M = 0.9;

/** The same three results from unfused ops: ~4·V launches, every intermediate in memory. */
function unfused(S: Tensor, T: Tensor, C: Tensor, c: Case): Tensor[] {
  const { V, B, tauS, tauT } = c;
  const nPairs = 2 * V - 2;
  const centered = binary('sub', T, C);
  const P = softmaxForward(centered, { temperature: tauT });
  const LS = logSoftmaxForward(S, { temperature: tauS });
  const Q = softmaxForward(S, { temperature: tauS });
  const rows = (t: Tensor, i: number) => slice(t, 0, i * B, (i + 1) * B);
  const Pt = [rows(P, 0), rows(P, 1)];
  let acc: Tensor | null = null;
  for (let t = 0; t < 2; t++) {
    for (let v = 0; v < V; v++) {
      if (v === t) continue;
      const lv = rows(LS, v);
      const prod = binary('mul', Pt[t], lv);
      const s = reduceAll('sum', prod);
      const next: Tensor = acc ? binary('add', acc, s) : s;
      if (acc) acc.dispose();
      if (next !== s) s.dispose();
      acc = next;
      prod.dispose();
      lv.dispose();
    }
  }
  const loss = unary('mulScalar', acc!, -1 / (B * nPairs));
  acc!.dispose();
  const g = 1 / (tauS * B * nPairs);
  const Psum = binary('add', Pt[0], Pt[1]);
  const parts: Tensor[] = [];
  for (let v = 0; v < V; v++) {
    const qv = rows(Q, v);
    parts.push(v < 2 ? binary('axpby', qv, Pt[1 - v], g, -g) : binary('axpby', qv, Psum, 2 * g, -g));
    qv.dispose();
  }
  const dS = concat(parts, 0);
  const mean = reduce('mean', T, 0);
  const newC = binary('axpby', C, mean, M, 1 - M);
  for (const t of [centered, P, LS, Q, ...Pt, Psum, ...parts, mean]) t.dispose();
  return [loss, dS, newC];
}

/**
 * DINO's DINOLoss in tfjs, with dL/dS in closed form in tfjs ops (tfjs-core's Node bundle
 * registers no gradients, so tf.grad is not available to the peer).
 */
function tfjsDino(tf: Tf, S: TfTensor, T: TfTensor, C: TfTensor, c: Case): TfTensor[] {
  const { V, B, tauS, tauT } = c;
  const nPairs = 2 * V - 2;
  return tf.tidy(() => {
    const P = tf.split(tf.softmax(tf.div(tf.sub(T, C), tauT)), 2);
    const z = tf.div(S, tauS);
    const ls = tf.split(tf.logSoftmax(z), V);
    const q = tf.split(tf.softmax(z), V);
    let total: TfTensor = tf.scalar(0);
    for (let t = 0; t < 2; t++) {
      for (let v = 0; v < V; v++) {
        if (v !== t) total = tf.add(total, tf.mean(tf.neg(tf.sum(tf.mul(P[t], ls[v]), -1))));
      }
    }
    const loss = tf.div(total, nPairs);
    const g = 1 / (tauS * B * nPairs);
    const Psum = tf.add(P[0], P[1]);
    const parts = q.map((qv, v) => (v < 2 ? tf.mul(tf.sub(qv, P[1 - v]), g) : tf.mul(tf.sub(tf.mul(qv, 2), Psum), g)));
    const newC = tf.add(tf.mul(C, M), tf.mul(tf.mean(T, 0), 1 - M));
    return [loss, newC, tf.concat(parts, 0)];
  });
}

const VARIANTS: { version: DinoLossVersion; wg: number }[] = [
  { version: 1, wg: 8 },
  { version: 1, wg: 64 },
  { version: 2, wg: 16 },
  { version: 2, wg: 64 },
  { version: 2, wg: 256 },
  { version: 3, wg: 8 },
  { version: 3, wg: 16 },
];

export async function benchDinoLoss(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 5;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  for (const c of CASES) {
    const { V, B, K } = c;
    const shape = `V ${V} B ${B} K ${K}`;
    const plannedName = (p: { version: number; wg: number }) => `dino_loss (planned v${p.version} wg${p.wg})`;
    const plan = planDinoLoss(V, B, K, rt.adapter.family).student;
    const wanted = [...VARIANTS, null].filter((v) => {
      const kernel = v ? `dino_loss v${v.version} wg${v.wg}` : plannedName(plan);
      return !opts.filter || opts.filter.test(`${kernel} ${shape}`);
    });
    if (wanted.length === 0) continue;
    const bytes = 4 * (2 * V * B * K + 2 * B * K + 2 * K);
    const s = seeded(V * B * K, -4, 4, 1);
    const t = seeded(2 * B * K, -2, 2, 2);
    const cc = seeded(K, -0.5, 0.5, 3);
    const S = Tensor.fromArray(s, [V * B, K], rt);
    const T = Tensor.fromArray(t, [2 * B, K], rt);
    const C = Tensor.fromArray(cc, [K], rt);
    const o = { tauS: c.tauS, tauT: c.tauT, nCrops: V, centerMomentum: M };

    const peers: Record<string, PeerResult> = {};
    progress(`dino-loss ${shape}: unfused`);
    const un = await timeOurs(rt, () => unfused(S, T, C, c).forEach((x) => x.dispose()), repeat);
    peers.unfused = baselineResult(un, { bytes });
    if (tf) {
      progress(`dino-loss ${shape}: tfjs-webgpu`);
      const [st, tt, ct] = [tf.tensor2d(s, [V * B, K]), tf.tensor2d(t, [2 * B, K]), tf.tensor1d(cc)];
      const tm = await timeTfjs(tf, () => tfjsDino(tf, st, tt, ct, c), repeat);
      for (const x of [st, tt, ct]) x.dispose();
      peers['tfjs-webgpu'] = peerResult(tm, { bytes });
    }
    for (const v of wanted) {
      const kernel = v ? `dino_loss v${v.version} wg${v.wg}` : plannedName(plan);
      progress(`dino-loss ${shape}: ${kernel}`);
      const tm = await timeOurs(rt, () => {
        const r = dinoLoss(S, T, C, v ? { ...o, version: v.version, wg: v.wg } : o);
        for (const x of [r.loss, r.gradStudent!, r.newCenter]) x.dispose();
      }, repeat);
      rows.push({ kernel, shape, ...ourFields(tm, { bytes }), peers: { ...peers }, picked: v === null });
    }
    for (const x of [S, T, C]) x.dispose();
  }
  addRatios(rows);
  return rows;
}
