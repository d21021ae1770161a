// GELU benchmark: the exact (erf) GELU of shaders/elementwise.wgsl, forward y = 0.5 x erfc(-x/√2)
// and backward dx = (Φ(x) + x φ(x)) dy, at ViT-S/8's MLP hidden shape, and (with --peers, forward
// only) tfjs-webgpu's composition 0.5 x (1 + erf(x/√2)) (tfjs has no GELU op; its gradients are
// not registered in the Node bundle).
//
// Shapes: (785·8, 1536) the fc1 output of 8 images at 224 px (9.6 M elements); (785, 1536) one.
// In the model GELU is fused into fc1's epilogue (bench/matmul.ts "+bias+gelu"); this row is
// the stand-alone kernel the autograd GELU op and the fused epilogue's backward use.
// Bytes: forward reads x and writes y (8 per element); backward reads x and dy and writes dx
//   (12 per element). GB/s is that over the median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { unary, binary } from '../src/kernels/elementwise.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu } from './peers/tfjs-webgpu.js';
import { seeded, timeOurs, timeTfjs, ourFields, peerResult } from './calibrate.js';
import type { BenchOpts } from './dino-loss.js';

const CASES = [
  { rows: 785 * 8, d: 1536, what: 'ViT-S/8 MLP hidden, batch 8' },
  { rows: 785, d: 1536, what: 'ViT-S/8 MLP hidden, one image' },
];

export async function benchGelu(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  for (const c of CASES) {
    const shape = `(${c.rows},${c.d})`;
    const n = c.rows * c.d;
    const want = (k: string) => !opts.filter || opts.filter.test(`${k} ${shape}`);
    if (!want('gelu forward') && !want('gelu backward')) continue;
    const xs = seeded(n, -4, 4, 1);
    const x = Tensor.fromArray(xs, [c.rows, c.d], rt);
    const dy = Tensor.fromArray(seeded(n, -1, 1, 2), [c.rows, c.d], rt);

    if (want('gelu forward')) {
      let peer: PeerResult | null = null;
      if (tf) {
        progress(`gelu ${shape}: tfjs-webgpu (erf composition)`);
        const xt = tf.tensor2d(xs, [c.rows, c.d]);
        const tm = await timeTfjs(tf, () => tf.tidy(() => tf.mul(tf.mul(xt, 0.5), tf.add(tf.erf(tf.mul(xt, Math.SQRT1_2)), 1))), repeat);
        xt.dispose();
        peer = peerResult(tm, { bytes: 8 * n });
      }
      progress(`gelu ${shape}: forward`);
      const tm = await timeOurs(rt, () => unary('gelu', x).dispose(), repeat);
      rows.push({ kernel: 'gelu forward', shape, ...ourFields(tm, { bytes: 8 * n }), what: c.what, pass: 'fwd', peers: peer ? { 'tfjs-webgpu': peer } : {} });
    }
    if (want('gelu backward')) {
      progress(`gelu ${shape}: backward`);
      const tm = await timeOurs(rt, () => binary('geluBwd', x, dy).dispose(), repeat);
      rows.push({ kernel: 'gelu backward', shape, ...ourFields(tm, { bytes: 12 * n }), what: c.what, pass: 'bwd', peers: {} });
    }
    x.dispose();
    dy.dispose();
  }
  addRatios(rows);
  return rows;
}
