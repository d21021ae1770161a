// Kernel micro-benchmarks for the demo page: matmul and fused attention on the adapter the page
// got, timed as bench/harness.ts times them (wall clock around the queue draining; warm-up
// samples compile the pipelines; launches per sample calibrated so a sample lasts ~10 ms;
// median of the samples). FLOP counts:
//   matmul     (batch, M, K) @ (N, K)ᵀ           2·batch·M·N·K
//   attention  softmax(s q kᵀ) v, (B·H, N, Dh)    4·B·H·N²·Dh (q kᵀ and P v; the softmax's
//                                                 O(N²) exps are not counted)
import { Tensor } from '../autograd/tensor.js';
import { noGrad } from '../autograd/tape.js';
import { scope } from '../autograd/scope.js';
import { matmul } from '../kernels/matmul.js';
import { attentionForward } from '../kernels/attention.js';
import type { Runtime } from '../kernels/runtime.js';

export interface MicroBenchRow {
  kernel: 'matmul' | 'attention';
  /** "785x384 @ (1152x384)^T" or "B·H 6, N 785, Dh 64". */
  shape: string;
  ms: number;
  gflops: number;
  /** Launches per sample and samples taken. */
  inner: number;
  samples: number;
}

export interface MatmulShape {
  batch?: number;
  M: number;
  N: number;
  K: number;
}

export interface AttentionShape {
  bh: number;
  n: number;
  dh: number;
}

/** The ViT-S/8 shapes (224 px: N = 785): the qkv projection and one layer's attention. */
export const VIT_S8_SHAPES = { matmul: { M: 785, N: 1152, K: 384 }, attention: { bh: 6, n: 785, dh: 64 } };
/** The tiny preset's (64 px: N = 65) for software adapters, where ViT-S/8 takes seconds a launch. */
export const TINY_SHAPES = { matmul: { batch: 15, M: 65, N: 384, K: 128 }, attention: { bh: 30, n: 65, dh: 64 } };

/** Seeded uniform [-1, 1) inputs (an LCG: benchmarks need speed, not quality). */
function seeded(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s >>> 8) / 8388608 - 1;
  }
  return a;
}

/** ms per launch: median over `samples`, each `inner` launches in one batch then a wait. */
async function timeLaunch(rt: Runtime, launch: () => void, samples: number): Promise<{ ms: number; inner: number }> {
  const sample = async (inner: number) => {
    await rt.sync();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) launch();
    await rt.sync();
    return (performance.now() - t0) / inner;
  };
  await sample(1); // compiles the pipelines
  const once = await sample(1);
  const inner = Math.max(1, Math.min(64, Math.ceil(10 / Math.max(once, 1e-3))));
  const ms: number[] = [];
  for (let r = 0; r < samples; r++) ms.push(await sample(inner));
  ms.sort((a, b) => a - b);
  return { ms: ms[ms.length >> 1], inner };
}

export async function benchMatmul(rt: Runtime, s: MatmulShape, samples = 5): Promise<MicroBenchRow> {
  const batch = s.batch ?? 1;
  const a = Tensor.fromArray(seeded(batch * s.M * s.K, 1), batch === 1 ? [s.M, s.K] : [batch, s.M, s.K], rt);
  const b = Tensor.fromArray(seeded(s.N * s.K, 2), [s.N, s.K], rt);
  try {
    const t = await timeLaunch(rt, () => noGrad(() => scope(() => void matmul(a, b, { transB: true }))), samples);
    const flop = 2 * batch * s.M * s.N * s.K;
    const shape = `${batch > 1 ? `${batch}x` : ''}${s.M}x${s.K} @ (${s.N}x${s.K})^T`;
    return { kernel: 'matmul', shape, ms: t.ms, gflops: flop / (t.ms * 1e6), inner: t.inner, samples };
  } finally {
    a.dispose();
    b.dispose();
  }
}

export async function benchAttention(rt: Runtime, s: AttentionShape, samples = 5): Promise<MicroBenchRow> {
  const shape = [1, s.bh, s.n, s.dh];
  const size = s.bh * s.n * s.dh;
  const [q, k, v] = [1, 2, 3].map((seed) => Tensor.fromArray(seeded(size, seed), shape, rt));
  try {
    const launch = () => noGrad(() => scope(() => void attentionForward(q, k, v)));
    const t = await timeLaunch(rt, launch, samples);
    const flop = 4 * s.bh * s.n * s.n * s.dh;
    return { kernel: 'attention', shape: `B·H ${s.bh}, N ${s.n}, Dh ${s.dh}`, ms: t.ms, gflops: flop / (t.ms * 1e6), inner: t.inner, samples };
  } finally {
    for (const t of [q, k, v]) t.dispose();
  }
}
