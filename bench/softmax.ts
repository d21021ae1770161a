// Softmax benchmark: every version of shaders/softmax.wgsl at the shapes the models run, and
// (with --peers) tfjs-webgpu's tf.softmax(x / T) on the same adapter.
//
// Shapes: (6·785, 785) one image's attention rows (6 heads, N = 785 tokens at 224 px / 8);
//   (64, 65536) DINO-head logits (out_dim 65536, 64 student crops), student T = 0.1;
//   (8·6·785, 785) a batch of 8 images' attention rows, on GPUs only (big enough to measure
//   bandwidth rather than per-dispatch cost; minutes on a CPU adapter).
// Bytes: softmax reads each element once and writes it once, 8 bytes per element; GB/s is
//   that over the median time (v2 and v3 re-read x, from cache when it fits).
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { softmaxForward, logSoftmaxForward, planSoftmax, type SoftmaxOpts, type SoftmaxVersion } from '../src/kernels/softmax.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, ourFields, peerResult } from './calibrate.js';

interface Case {
  rows: number;
  d: number;
  t: number;
  what: string;
  gpuOnly?: boolean;
}

const CASES: Case[] = [
  { rows: 6 * 785, d: 785, t: 1, what: 'attention rows' },
  { rows: 64, d: 65536, t: 0.1, what: 'DINO head' },
  { rows: 8 * 6 * 785, d: 785, t: 1, what: 'attention rows, batch 8', gpuOnly: true },
];

/** The variants timed per shape: every version at the workgroup sizes the planners pick. */
const VARIANTS: { version: SoftmaxVersion; wg: number }[] = [
  { version: 1, wg: 8 },
  { version: 1, wg: 64 },
  { version: 2, wg: 64 },
  { version: 2, wg: 256 },
  { version: 3, wg: 64 },
  { version: 3, wg: 128 },
  { version: 3, wg: 256 },
];

export async function benchSoftmax(rt: Runtime, opts: { repeat?: number; filter?: RegExp; peers?: boolean } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  for (const c of CASES) {
    const shape = `(${c.rows},${c.d}) T=${c.t}`;
    if (c.gpuOnly && rt.adapter.family !== 'gpu') {
      progress(`softmax ${shape}: skipped on a CPU adapter`);
      continue;
    }
    const bytes = 8 * c.rows * c.d;
    const names = [...VARIANTS.map((v) => `softmax_forward_v${v.version} wg${v.wg}`), 'log_softmax (planned)'];
    if (opts.filter && !names.some((k) => opts.filter!.test(`${k} ${shape}`))) continue;
    const data = seeded(c.rows * c.d, -8, 8);
    const x = Tensor.fromArray(data, [c.rows, c.d], rt);
    const plan = planSoftmax(c.rows, c.d, rt.adapter.family);
    const entries: { kernel: string; run: (o: SoftmaxOpts) => Tensor; o: SoftmaxOpts; picked: boolean }[] = [
      ...VARIANTS.map((v) => ({
        kernel: `softmax_forward_v${v.version} wg${v.wg}`,
        run: (o: SoftmaxOpts) => softmaxForward(x, o),
        o: { temperature: c.t, version: v.version, wg: v.wg },
        picked: v.version === plan.version && v.wg === plan.wg,
      })),
      { kernel: 'log_softmax (planned)', run: (o) => logSoftmaxForward(x, o), o: { temperature: c.t }, picked: false },
    ];
    let peer: PeerResult | null = null;
    if (tf && (!opts.filter || entries.some((e) => opts.filter!.test(`${e.kernel} ${shape}`)))) {
      progress(`softmax ${shape}: tfjs-webgpu`);
      const xt = tf.tensor2d(data, [c.rows, c.d]);
      const tm = await timeTfjs(tf, () => tf.tidy(() => tf.softmax(tf.div(xt, c.t))), repeat);
      xt.dispose();
      peer = peerResult(tm, { bytes });
    }
    for (const e of entries) {
      if (opts.filter && !opts.filter.test(`${e.kernel} ${shape}`)) continue;
      progress(`softmax ${shape}: ${e.kernel}`);
      const tm = await timeOurs(rt, () => e.run(e.o).dispose(), repeat);
      rows.push({
        kernel: e.kernel, shape, ...ourFields(tm, { bytes }), what: c.what, picked: e.picked,
        peers: peer && !e.kernel.startsWith('log') ? { 'tfjs-webgpu': peer } : {},
      });
    }
    x.dispose();
  }
  addRatios(rows);
  return rows;
}
