// Teacher EMA benchmark: θ_t ← m·θ_t + (1 − m)·θ_s over every parameter of ViT-S/8 + DINO head
// in one flat buffer, as the training step runs it.
//
// Ours, fused: axpbyInPlace (shaders/elementwise.wgsl, axpby_inplace), one dispatch.
// Ours, unfused: m·θ_t and (1 − m)·θ_s as two scaled copies, their sum, and a copy back into
//   θ_t (4 launches, 3 temporaries): what the step would do without the in-place entry.
// tfjs-webgpu (--peers): variable.assign(m·t + (1 − m)·s), the way a tfjs training loop writes it.
// Shape: 21.7 M parameters (ViT-S/8's 21.67 M). Bytes: 12 per parameter (read θ_t and θ_s,
//   write θ_t); GB/s is that over the median time.
// Measured (bench/results/fused-{h200,lavapipe}.local.json): H200 0.130 ms, 2.0 TB/s, 5.6x
//   unfused, 7.4x tfjs. lavapipe (2 busy cores) 464 ms, 0.56 GB/s, 4.2x unfused but 0.71x tfjs:
//   axpby_inplace is scalar, one element per thread; a vec4 scratch variant (4 elements per
//   thread, one vector load each) reached 2.2 GB/s there, 4x: a candidate for elementwise.wgsl.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { axpbyInPlace, binary, unary } from '../src/kernels/elementwise.js';
import { copyInto } from '../src/kernels/copy.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, type BenchOpts } from './dino-loss.js';
import { baselineResult, ourFields, peerResult } from './calibrate.js';

const N = 21_700_000;
const M = 0.996;

export async function benchEma(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const shape = `(${N})`;
  if (opts.filter && !opts.filter.test(`ema axpby_inplace ${shape}`)) return [];
  const bytes = 12 * N;
  const t = seeded(N, -1, 1, 1);
  const s = seeded(N, -1, 1, 2);
  const T = Tensor.fromArray(t, [N], rt);
  const S = Tensor.fromArray(s, [N], rt);
  const peers: Record<string, PeerResult> = {};

  progress(`ema ${shape}: unfused`);
  const un = await timeOurs(rt, () => {
    const a = unary('mulScalar', T, M);
    const b = unary('mulScalar', S, 1 - M);
    const c = binary('add', a, b);
    copyInto(c, T);
    for (const x of [a, b, c]) x.dispose();
  }, repeat);
  peers.unfused = baselineResult(un, { bytes });

  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  if (tf) {
    progress(`ema ${shape}: tfjs-webgpu`);
    const tv = tf.variable(tf.tensor1d(t));
    const st = tf.tensor1d(s);
    const tm = await timeTfjs(tf, () => {
      tf.tidy(() => tv.assign(tf.add(tf.mul(tv, M), tf.mul(st, 1 - M))));
      return [tf.slice(tv, [0], [1])];
    }, repeat);
    tv.dispose();
    st.dispose();
    peers['tfjs-webgpu'] = peerResult(tm, { bytes });
  }

  progress(`ema ${shape}: axpby_inplace`);
  const tm = await timeOurs(rt, () => void axpbyInPlace(T, S, 1 - M, M), repeat);
  const rows: BenchRow[] = [{ kernel: 'ema axpby_inplace', shape, ...ourFields(tm, { bytes }), peers }];
  T.dispose();
  S.dispose();
  addRatios(rows);
  return rows;
}
