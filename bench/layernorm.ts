// LayerNorm benchmark: every version of shaders/layernorm.wgsl, forward and backward, at ViT-S/8
// shapes, and (with --peers) tfjs-webgpu on the same adapter for the forward. tfjs has no fused
// LayerNorm, so the peer is what a user writes: tf.moments over the last axis, then
// (x - mean) * rsqrt(var + eps) * w + b. No backward peer: tfjs-core's Node bundle registers no
// gradients (tf.grads fails).
//
// Shapes: (785·8, 384) a batch of 8 images' tokens (N = 785 at 224 px / 8, D = 384);
//   (785, 384) one image; (785·64, 384) a batch of 64, on GPUs only (big enough to measure
//   bandwidth rather than per-dispatch cost).
// Bytes: x read and y written once (8 per element) plus w and b (8·D); with saveStats also
//   mean and rstd (8 per row). Backward: x and dy read, dx written (12 per element), w read and
//   dw, db written (12·D), mean and rstd read (8 per row); the dw/db partial sums per chunk of
//   rows are not counted. GB/s is that over the median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  layernormForward, layernormBackward, planLayerNorm, planLayerNormBackward, type LayerNormVersion, type LayerNormBackwardVersion,
} from '../src/kernels/layernorm.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, ourFields, peerResult } from './calibrate.js';

const EPS = 1e-6;

const CASES: { rows: number; d: number; what: string; gpuOnly?: boolean }[] = [
  { rows: 785 * 8, d: 384, what: 'ViT-S/8 tokens, batch 8' },
  { rows: 785, d: 384, what: 'ViT-S/8 tokens, one image' },
  { rows: 785 * 64, d: 384, what: 'ViT-S/8 tokens, batch 64', gpuOnly: true },
];

const VARIANTS: { version: LayerNormVersion; wg: number }[] = [
  { version: 1, wg: 8 },
  { version: 1, wg: 64 },
  { version: 2, wg: 64 },
  { version: 2, wg: 128 },
  { version: 3, wg: 64 },
  { version: 3, wg: 128 },
];

/** Backward variants: v3 holds a row in registers, 8 per thread, so D = 384 needs wg >= 48. */
const BWD_VARIANTS: { version: LayerNormBackwardVersion; wg: number }[] = [
  { version: 1, wg: 8 },
  { version: 1, wg: 64 },
  { version: 2, wg: 64 },
  { version: 3, wg: 64 },
];

export async function benchLayernorm(rt: Runtime, opts: { repeat?: number; filter?: RegExp; peers?: boolean } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  for (const c of CASES) {
    const shape = `(${c.rows},${c.d})`;
    if (c.gpuOnly && rt.adapter.family !== 'gpu') {
      progress(`layernorm ${shape}: skipped on a CPU adapter`);
      continue;
    }
    const bytes = 8 * c.rows * c.d + 8 * c.d;
    const bwdBytes = 12 * c.rows * c.d + 12 * c.d + 8 * c.rows;
    const fwdNames = [...VARIANTS.map((v) => `layernorm_forward_v${v.version} wg${v.wg}`), 'layernorm_forward +stats (planned)'];
    const bwdNames = BWD_VARIANTS.map((v) => `layernorm_backward_v${v.version} wg${v.wg}`);
    if (opts.filter && ![...fwdNames, ...bwdNames].some((k) => opts.filter!.test(`${k} ${shape}`))) continue;
    const xs = seeded(c.rows * c.d, -1, 1, 1);
    const ws = seeded(c.d, -1, 1, 2);
    const bs = seeded(c.d, -1, 1, 3);
    const x = Tensor.fromArray(xs, [c.rows, c.d], rt);
    const w = Tensor.fromArray(ws, [c.d], rt);
    const b = Tensor.fromArray(bs, [c.d], rt);
    const plan = planLayerNorm(c.rows, c.d, rt.adapter.family);
    const entries = [
      ...VARIANTS.map((v) => ({
        kernel: `layernorm_forward_v${v.version} wg${v.wg}`,
        launch: () => layernormForward(x, w, b, EPS, { version: v.version, wg: v.wg }).dispose(),
        bytes,
        picked: v.version === plan.version && v.wg === plan.wg,
      })),
      {
        kernel: 'layernorm_forward +stats (planned)',
        launch: () => {
          const r = layernormForward(x, w, b, EPS, { saveStats: true });
          for (const t of [r.y, r.mean, r.rstd]) t.dispose();
        },
        bytes: bytes + 8 * c.rows,
        picked: false,
      },
    ];
    let peer: PeerResult | null = null;
    if (tf && (!opts.filter || entries.some((e) => opts.filter!.test(`${e.kernel} ${shape}`)))) {
      progress(`layernorm ${shape}: tfjs-webgpu (moments + arithmetic)`);
      const xt = tf.tensor2d(xs, [c.rows, c.d]);
      const wt = tf.tensor1d(ws);
      const bt = tf.tensor1d(bs);
      const tm = await timeTfjs(
        tf,
        () =>
          tf.tidy(() => {
            const { mean, variance } = tf.moments(xt, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(xt, mean), tf.rsqrt(tf.add(variance, EPS))), wt), bt);
          }),
        repeat,
      );
      for (const t of [xt, wt, bt]) t.dispose();
      peer = peerResult(tm, { bytes });
    }
    for (const e of entries) {
      if (opts.filter && !opts.filter.test(`${e.kernel} ${shape}`)) continue;
      progress(`layernorm ${shape}: ${e.kernel}`);
      const tm = await timeOurs(rt, e.launch, repeat);
      rows.push({
        kernel: e.kernel, shape, ...ourFields(tm, { bytes: e.bytes }), what: c.what, picked: e.picked, pass: 'fwd',
        peers: peer ? { 'tfjs-webgpu': peer } : {},
      });
    }

    // Backward: dx, dw, db from dy and the forward's saved statistics.
    const todo = BWD_VARIANTS.filter((v) => !opts.filter || opts.filter.test(`layernorm_backward_v${v.version} wg${v.wg} ${shape}`));
    if (todo.length) {
      const fwd = layernormForward(x, w, b, EPS, { saveStats: true });
      const dy = Tensor.fromArray(seeded(c.rows * c.d, -1, 1, 4), [c.rows, c.d], rt);
      const bplan = planLayerNormBackward(c.rows, c.d, rt.adapter.family);
      for (const v of todo) {
        const kernel = `layernorm_backward_v${v.version} wg${v.wg}`;
        progress(`layernorm ${shape}: ${kernel}`);
        const tm = await timeOurs(rt, () => {
          const g = layernormBackward(x, w, fwd.mean, fwd.rstd, dy, { version: v.version, wg: v.wg });
          for (const t of [g.dx, g.dw, g.db]) t?.dispose();
        }, repeat);
        rows.push({
          kernel, shape, ...ourFields(tm, { bytes: bwdBytes }), what: c.what, pass: 'bwd',
          picked: v.version === bplan.version && v.wg === bplan.wg, peers: {},
        });
      }
      for (const t of [fwd.y, fwd.mean, fwd.rstd, dy]) t.dispose();
    }
    for (const t of [x, w, b]) t.dispose();
  }
  addRatios(rows);
  return rows;
}
