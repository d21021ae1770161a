// VLAD benchmark: the fused kernels of shaders/vlad.wgsl at MeDiVLAD's shape against the same
// results composed from our unfused ops and (with --peers) against tfjs-webgpu on the same adapter.
//
// Rows:
//   assign+residual fwd   fused: one dispatch. Unfused: l2norm, matmul (+bias), softmax over
//     K, broadcast sub and mul (5 launches, x̂, logits and x̂ − c in memory). tfjs: the same ops.
//   aggregate fwd (β)     fused: one dispatch. Unfused: β·r, sum over S, intra l2norm, global
//     l2norm (4 launches). tfjs: the same ops.
//   aggregate bwd (β), assign bwd   each backward pass alone (fused), after a forward done once
//     outside the timing; no peers (below).
//   vlad fwd+bwd          fused: assign, aggregate and both backward passes (6 dispatches).
//     No peers: tfjs-core's Node bundle registers no gradients (tf.grads fails), and the engine
//     has no autograd ops for the unfused pieces yet. The row tracks our own fwd+bwd cost.
// Shape: B 2 videos, S 15 frames, D 384, K 3 (DualVLAD). Bytes (compulsory traffic):
//   assign 4·(F·D + 2·K·D + K + F·K·(D + 1)), aggregate 4·(F·K·D + F + B·K·(D + 1) + B),
//   aggregate bwd 4·(2·F·K·D + 2·F + B·K·(D + 1) + B·K·D), assign bwd 4·(2·F·D + 4·K·D + K +
//   F·K·(2·D + 1)), fwd+bwd 4·(2·F·D + 4·K·D + 2·K + 2·F + 2·B·K·D), F = B·S. These kernels are tiny: the
//   times are mostly launch and submit overhead, which is what fusing removes.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { reshape } from '../src/autograd/view-ops.js';
import { binary } from '../src/kernels/elementwise.js';
import { matmul } from '../src/kernels/matmul.js';
import { softmaxForward } from '../src/kernels/softmax.js';
import { reduce } from '../src/kernels/reduce.js';
import { l2normForward } from '../src/kernels/l2norm.js';
import { vladAssignForward, vladAssignBackward, vladAggregateForward, vladAggregateBackward, planVlad } from '../src/kernels/vlad.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu, type Tf } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, type BenchOpts } from './dino-loss.js';
import { baselineResult, ourFields, peerResult } from './calibrate.js';

const SH = { B: 2, S: 15, D: 384, K: 3 };

type TfTensor = ReturnType<Tf['tensor']>;

function tfAssign(tf: Tf, x: TfTensor, w: TfTensor, b: TfTensor, c: TfTensor): { a: TfTensor; r: TfTensor } {
  const { B, S, D, K } = SH;
  const xh = tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12)); // (B, S, D)
  const a = tf.softmax(tf.add(tf.matMul(tf.reshape(xh, [B * S, D]), w, false, true), b)); // (F, K)
  const diff = tf.sub(tf.reshape(xh, [B, S, 1, D]), tf.reshape(c, [1, 1, K, D]));
  const r = tf.reshape(tf.mul(diff, tf.reshape(a, [B, S, K, 1])), [B, S, K * D]);
  return { a, r };
}

function tfAggregate(tf: Tf, r: TfTensor, beta: TfTensor): TfTensor {
  const { B, S, D, K } = SH;
  const v = tf.reshape(tf.sum(tf.mul(r, tf.reshape(beta, [B, S, 1])), 1), [B, K, D]);
  const u = tf.reshape(tf.div(v, tf.maximum(tf.norm(v, 'euclidean', -1, true), 1e-12)), [B, K * D]);
  return tf.div(u, tf.maximum(tf.norm(u, 'euclidean', -1, true), 1e-12));
}

export async function benchVlad(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const { B, S, D, K } = SH;
  const F = B * S;
  const KD = K * D;
  const shape = `B ${B} S ${S} D ${D} K ${K}`;
  const data = {
    x: seeded(F * D, -1, 1, 1), w: seeded(K * D, -2, 2, 2), b: seeded(K, -1, 1, 3), c: seeded(K * D, 0, 1, 4),
    beta: seeded(F, 0, 0.2, 5), dy: seeded(B * KD, -1, 1, 6),
  };
  const X = Tensor.fromArray(data.x, [B, S, D], rt);
  const W = Tensor.fromArray(data.w, [K, D], rt);
  const Bi = Tensor.fromArray(data.b, [K], rt);
  const C = Tensor.fromArray(data.c, [K, D], rt);
  const Be = Tensor.fromArray(data.beta, [B, S], rt);
  const DY = Tensor.fromArray(data.dy, [B, KD], rt);
  const fwdA = vladAssignForward(X, W, Bi, C);
  const R = fwdA.r;
  const fwdG = vladAggregateForward(R, Be, K); // saved forward for the backward-alone rows
  const bwdG = vladAggregateBackward(R, Be, fwdG.y, fwdG.norms, DY, K); // its dR feeds the assign backward
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  const tt = tf
    ? {
        x: tf.tensor3d(data.x, [B, S, D]), w: tf.tensor2d(data.w, [K, D]), b: tf.tensor1d(data.b), c: tf.tensor2d(data.c, [K, D]),
        beta: tf.tensor2d(data.beta, [B, S]), r: tf.tensor3d(seeded(F * KD, -0.5, 0.5, 7), [B, S, KD]),
      }
    : null;
  const wgs = [16, 128];
  const planned = planVlad(D, rt.adapter.family);
  const rows: BenchRow[] = [];

  interface Piece {
    kernel: string;
    bytes: number;
    fused: (wg: number) => void;
    unfused: (() => void) | null;
    tfjs: (() => TfTensor[]) | null;
  }
  const pieces: Piece[] = [
    {
      kernel: 'vlad_assign_forward',
      bytes: 4 * (F * D + 2 * K * D + K + F * K * (D + 1)),
      fused: (wg) => {
        const o = vladAssignForward(X, W, Bi, C, { wg });
        for (const t of [o.ar, o.a, o.r]) t.dispose();
      },
      unfused: () => {
        const xh = l2normForward(X); // (B, S, D)
        const xf = reshape(xh, [F, D]);
        const logits = matmul(xf, W, { transB: true, bias: Bi }); // (F, K)
        const a = softmaxForward(logits);
        const diff = binary('sub', xh.view([B, S, 1, D], [S * D, D, D, 1]), C); // (B, S, K, D)
        const r = binary('mul', diff, a.view([B, S, K, 1], [S * K, K, 1, 1]));
        for (const t of [xh, xf, logits, a, diff, r]) t.dispose();
      },
      tfjs: tt && tf ? () => tf.tidy(() => Object.values(tfAssign(tf, tt.x, tt.w, tt.b, tt.c))) : null,
    },
    {
      kernel: 'vlad_aggregate_forward (β)',
      bytes: 4 * (F * KD + F + B * (KD + K + 1)),
      fused: (wg) => {
        const o = vladAggregateForward(R, Be, K, { wg });
        o.y.dispose();
        o.norms.dispose();
      },
      unfused: () => {
        const wr = binary('mul', R, Be.view([B, S, 1], [S, 1, 1]));
        const v = reduce('sum', wr, 1); // (B, KD)
        const vk = reshape(v, [B, K, D]);
        const u = l2normForward(vk);
        const uf = reshape(u, [B, KD]);
        const y = l2normForward(uf);
        for (const t of [wr, v, vk, u, uf, y]) t.dispose();
      },
      tfjs: tt && tf ? () => [tf.tidy(() => tfAggregate(tf, tt.r, tt.beta))] : null,
    },
    {
      kernel: 'vlad_aggregate_backward (β)',
      bytes: 4 * (2 * F * KD + 2 * F + B * (KD + K) + B * KD),
      fused: (wg) => {
        const g = vladAggregateBackward(R, Be, fwdG.y, fwdG.norms, DY, K, { wg });
        g.dr.dispose();
        g.dbeta?.dispose();
      },
      unfused: null,
      tfjs: null,
    },
    {
      kernel: 'vlad_assign_backward',
      bytes: 4 * (2 * F * D + 4 * K * D + K + F * K * (2 * D + 1)),
      fused: (wg) => {
        const g = vladAssignBackward(X, W, C, fwdA.ar, { dr: bwdG.dr, da: null }, fwdA.shape, { wg });
        for (const t of [g.dx, g.dw, g.dbias, g.dc]) t.dispose();
      },
      unfused: null,
      tfjs: null,
    },
    {
      kernel: 'vlad fwd+bwd (assign, aggregate β)',
      bytes: 4 * (2 * F * D + 4 * K * D + 2 * K + 2 * F + 2 * B * KD),
      fused: (wg) => {
        const a = vladAssignForward(X, W, Bi, C, { wg });
        const g = vladAggregateForward(a.r, Be, K, { wg });
        const gb = vladAggregateBackward(a.r, Be, g.y, g.norms, DY, K, { wg });
        const ga = vladAssignBackward(X, W, C, a.ar, { dr: gb.dr, da: null }, a.shape, { wg });
        for (const t of [a.ar, a.a, a.r, g.y, g.norms, gb.dr, gb.dbeta!, ga.dx, ga.dw, ga.dbias, ga.dc]) t.dispose();
      },
      unfused: null,
      // tfjs-core's Node bundle registers no gradients (tf.grads fails), so no peer here.
      tfjs: null,
    },
  ];

  for (const pc of pieces) {
    const wgsWanted = wgs.filter((wg) => !opts.filter || opts.filter.test(`${pc.kernel} wg${wg} ${shape}`));
    if (wgsWanted.length === 0) continue;
    const peers: Record<string, PeerResult> = {};
    if (pc.unfused) {
      progress(`vlad ${pc.kernel}: unfused`);
      const tm = await timeOurs(rt, pc.unfused, repeat);
      peers.unfused = baselineResult(tm, { bytes: pc.bytes });
    }
    if (pc.tfjs && tf) {
      progress(`vlad ${pc.kernel}: tfjs-webgpu`);
      const tm = await timeTfjs(tf, pc.tfjs, repeat);
      peers['tfjs-webgpu'] = peerResult(tm, { bytes: pc.bytes });
    }
    for (const wg of wgsWanted) {
      progress(`vlad ${pc.kernel}: wg ${wg}`);
      const tm = await timeOurs(rt, () => pc.fused(wg), repeat);
      rows.push({ kernel: `${pc.kernel} wg${wg}`, shape, ...ourFields(tm, { bytes: pc.bytes }), peers: { ...peers }, picked: wg === planned });
    }
  }
  for (const t of [X, W, Bi, C, Be, DY, fwdA.ar, fwdA.a, fwdA.r, fwdG.y, fwdG.norms, bwdG.dr, bwdG.dbeta]) t?.dispose();
  if (tt) for (const t of Object.values(tt)) t.dispose();
  addRatios(rows);
  return rows;
}
