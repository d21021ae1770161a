// LayerNorm benchmark: every version of shaders/layernorm.wgsl at ViT-S/8 shapes, and
// tfjs-webgpu on the same adapter. tfjs has no fused LayerNorm, so the peer is what a user
// writes: tf.moments over the last axis, then (x - mean) * rsqrt(var + eps) * w + b.
//
// Shapes: (785·8, 384) a batch of 8 images' tokens (N = 785 at 224 px / 8, D = 384);
//   (785, 384) one image; (785·64, 384) a batch of 64, on GPUs only (big enough to measure
//   bandwidth rather than per-dispatch cost).
// Bytes: x read and y written once (8 per element) plus w and b (8·D); with saveStats also
//   mean and rstd (8 per row). GB/s is that over the median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { layernormForward, planLayerNorm, type LayerNormVersion } from '../src/kernels/layernorm.js';
import { gbps, addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs } from './calibrate.js';

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

export async function benchLayernorm(rt: Runtime, opts: { repeat?: number; filter?: RegExp } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = await loadTfjsWebgpu();
  for (const c of CASES) {
    const shape = `(${c.rows},${c.d})`;
    if (c.gpuOnly && rt.adapter.family !== 'gpu') {
      progress(`layernorm ${shape}: skipped on a CPU adapter`);
      continue;
    }
    const bytes = 8 * c.rows * c.d + 8 * c.d;
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
      peer = { ms_median: tm.ms_median, gbps: gbps(bytes, tm.ms_median) };
    }
    for (const e of entries) {
      if (opts.filter && !opts.filter.test(`${e.kernel} ${shape}`)) continue;
      progress(`layernorm ${shape}: ${e.kernel}`);
      const tm = await timeOurs(rt, e.launch, repeat);
      rows.push({
        kernel: e.kernel, shape, ...tm, gbps: gbps(e.bytes, tm.ms_median), what: c.what, picked: e.picked,
        peers: peer ? { 'tfjs-webgpu': peer } : {},
      });
    }
    for (const t of [x, w, b]) t.dispose();
  }
  addRatios(rows);
  return rows;
}
