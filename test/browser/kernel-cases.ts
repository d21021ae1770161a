// Kernel cases run twice on the same inputs: in Chromium through the shipped browser bundle
// (kernels-page.ts) and in Node through Dawn (kernels.test.ts), which compares the two. Each
// case runs forward and, through autograd, the backward kernels, with an upstream gradient
// that is not all ones. Inputs: seeded uniform [-1, 1), small odd sizes off every tile.
// Everything comes from the library's public browser API (src/web/index.ts).
import * as M from '../../src/web/index.js';
import type { Tensor } from '../../src/web/index.js';

/** The inputs' PRNG (mulberry32, as test/helpers/random.ts) so both sides see identical data. */
function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    a[i] = lo + ((hi - lo) * ((t ^ (t >>> 14)) >>> 0)) / 4294967296;
  }
  return a;
}

export type CaseResults = Record<string, number[]>;

/** A leaf that wants a gradient. */
function leaf(data: Float32Array, shape: number[]): Tensor {
  const t = M.Tensor.fromArray(data, shape);
  t.requiresGrad = true;
  return t;
}

/**
 * Run fwd on leaves, backpropagate a seeded upstream gradient, and read the outputs and every
 * leaf's gradient as `${name}.out${i}` / `${name}.d${leafName}`.
 */
async function forwardBackward(
  name: string,
  seed: number,
  inputs: Record<string, { shape: number[]; lo?: number; hi?: number }>,
  fwd: (x: Record<string, Tensor>) => Tensor[],
  out: CaseResults,
): Promise<void> {
  const leaves: Record<string, Tensor> = {};
  Object.entries(inputs).forEach(([n, spec], i) => {
    leaves[n] = leaf(rand(spec.shape.reduce((a, b) => a * b, 1), seed + i, spec.lo, spec.hi), spec.shape);
  });
  const ys = M.scope(() => fwd(leaves));
  // L = Σ_k Σ w_k · y_k: one backward through every output.
  const loss = M.scope(() => {
    let acc: Tensor | null = null;
    ys.forEach((y, k) => {
      const w = M.Tensor.fromArray(rand(y.size, seed + 100 + k), [...y.shape]);
      const term = M.sum(M.mul(y, w));
      acc = acc ? M.add(acc, term) : term;
    });
    return acc!;
  });
  M.backward(loss);
  for (let k = 0; k < ys.length; k++) out[`${name}.out${k}`] = Array.from(await ys[k].toArray());
  for (const [n, t] of Object.entries(leaves)) out[`${name}.d${n}`] = Array.from(await t.grad!.toArray());
  for (const t of [...ys, loss, ...Object.values(leaves)]) t.dispose();
}

export async function runKernelCases(seed = 1): Promise<CaseResults> {
  const out: CaseResults = {};

  // matmul: batched (3, 37, 29) @ (29, 23), and a Linear with bias + GELU + residual.
  await forwardBackward('matmul', seed, { a: { shape: [3, 37, 29] }, b: { shape: [29, 23] } }, (x) => [M.matmul(x.a, x.b)], out);
  await forwardBackward(
    'linear', seed + 10,
    { x: { shape: [41, 29] }, w: { shape: [23, 29] }, b: { shape: [23] }, r: { shape: [41, 23] } },
    (x) => [M.linear(x.x, x.w, x.b, { gelu: true, residual: x.r })], out,
  );

  // softmax with a temperature, and log-softmax, over rows of 77.
  await forwardBackward('softmax', seed + 20, { x: { shape: [13, 77], lo: -4, hi: 4 } },
    (x) => [M.softmax(x.x, -1, 0.7), M.logSoftmax(x.x, -1, 1.3)], out);

  // LayerNorm (DINO's eps 1e-6) over 45 features.
  await forwardBackward('layernorm', seed + 30, { x: { shape: [19, 45], lo: -3, hi: 3 }, w: { shape: [45] }, b: { shape: [45] } },
    (x) => [M.layerNorm(x.x, x.w, x.b, 1e-6)], out);

  // Fused attention forward and backward: B 2, H 3, N 29, Dh 24.
  const qkv = { shape: [2, 3, 29, 24] };
  await forwardBackward('attention', seed + 40, { q: qkv, k: qkv, v: qkv }, (x) => [M.attention(x.q, x.k, x.v)], out);

  // DINO loss: V = 4 crops of B = 5, K = 37; teacher 2·B rows and the center get no gradient.
  {
    const B = 5, K = 37, V = 4;
    const teacher = M.Tensor.fromArray(rand(2 * B * K, seed + 51, -2, 2), [2 * B, K]);
    const center = M.Tensor.fromArray(rand(K, seed + 52, -0.5, 0.5), [K]);
    let newCenter: Tensor | null = null;
    await forwardBackward('dino', seed + 50, { s: { shape: [V * B, K], lo: -2, hi: 2 } }, (x) => {
      const r = M.dinoLossOp(x.s, teacher, center, { tauS: 0.1, tauT: 0.04, nCrops: V });
      newCenter = M.keep(r.newCenter);
      return [r.loss];
    }, out);
    out['dino.center'] = Array.from(await newCenter!.toArray());
    for (const t of [teacher, center, newCenter!]) t.dispose();
  }

  // VLAD: DualVLAD's assignment + residuals and the β-weighted aggregation, B 2, S 5, K 3, D 33.
  await forwardBackward(
    'vlad', seed + 60,
    { x: { shape: [2, 5, 33] }, w: { shape: [3, 33], lo: -2, hi: 2 }, bias: { shape: [3] }, c: { shape: [3, 33], lo: 0, hi: 1 }, e: { shape: [2, 5] } },
    (x) => {
      const { a, r } = M.vladAssignResidual(x.x, x.w, x.bias, x.c);
      const beta = M.softmax(x.e, -1, 1.2);
      return [a, M.vladAggregate(r, beta, 3)];
    }, out,
  );
  return out;
}
