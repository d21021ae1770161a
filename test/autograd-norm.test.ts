// Backward of LayerNorm and L2-normalisation (src/autograd/ops/norm-ops.ts, shaders/
// layernorm.wgsl, l2norm.wgsl): the float64 reference backward against central differences
// first, then GPU autograd against it on odd sizes with every version forced.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import * as A from '../src/autograd/index.js';
import { Tensor, backward, scope } from '../src/autograd/index.js';
import {
  layernormForward, layernormBackward, planLayerNormBackward, type LayerNormBackwardOpts,
} from '../src/kernels/layernorm.js';
import { L2NORM_VERSIONS, type L2NormVersion } from '../src/kernels/l2norm.js';
import { layernormRef, layernormBackwardRef } from './reference/layernorm.js';
import { l2normRef, l2normBackwardRef } from './reference/l2norm.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

const EPS = 1e-6; // ViT's LayerNorm

describe('reference backward vs finite differences of the reference forward', () => {
  it('layernorm: dx, dw, db', () => {
    const [rows, d] = [3, 17];
    for (const shift of [0, 5]) {
      const x = toF64(randomArray(rows * d, 1).map((v) => v + shift));
      const w = toF64(randomArray(d, 2));
      const b = toF64(randomArray(d, 3));
      const g = randomArray(rows * d, 4);
      const fd = refGradFD((xs) => layernormRef(xs[0], xs[1], xs[2], rows, d, EPS).y, [x, w, b], g);
      const ref = layernormBackwardRef(x, w, g, rows, d, EPS);
      expectClose(ref.dx, fd[0], { rel: 1e-6, what: `dx shift ${shift}` });
      expectClose(ref.dw, fd[1], { rel: 1e-6, what: `dw shift ${shift}` });
      expectClose(ref.db, fd[2], { rel: 1e-6, what: `db shift ${shift}` });
    }
  });

  it('l2 normalize: ||x|| > eps, and rows below eps (y = x / eps)', () => {
    const [rows, d] = [3, 17];
    for (const [scale, eps] of [[1, 1e-12], [1e-5, 1e-3]]) {
      const x = toF64(randomArray(rows * d, 5).map((v) => v * scale));
      const g = randomArray(rows * d, 6);
      const fd = refGradFD((xs) => l2normRef(xs[0], rows, d, eps).y, [x], g, scale * 1e-6);
      expectClose(l2normBackwardRef(x, g, rows, d, eps), fd[0], { rel: 1e-6, what: `l2 scale ${scale} eps ${eps}` });
    }
  });
});

// Odd sizes: rows 1, 3, 17, 785 by widths 1, 17, 384, 385.
const ROWS = [1, 3, 17, 785];
const WIDTHS = [1, 17, 384, 385];

async function checkLayerNorm(shape: number[], bwd: LayerNormBackwardOpts, seed: number, opts: { affine?: 'both' | 'weight' | 'none'; shift?: number; xGrad?: boolean } = {}): Promise<void> {
  const { affine = 'both', shift = 0, xGrad = true } = opts;
  const d = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / d;
  const xs = randomArray(rows * d, seed).map((v) => v + shift);
  const ws = randomArray(d, seed + 1);
  const bs = randomArray(d, seed + 2);
  const g = randomArray(rows * d, seed + 3);
  const what = `layerNorm x(${shape}) ${JSON.stringify(bwd)} ${affine}${shift ? ` shift ${shift}` : ''}`;
  const inputs: { data: Float32Array; shape: number[]; wantGrad: boolean }[] = [{ data: xs, shape, wantGrad: xGrad }];
  if (affine !== 'none') inputs.push({ data: ws, shape: [d], wantGrad: true });
  if (affine === 'both') inputs.push({ data: bs, shape: [d], wantGrad: true });
  const { out, grads } = await gpuGrads(
    (ts) => A.layerNorm(ts[0], ts[1] ?? null, ts[2] ?? null, EPS, { bwd }),
    inputs, g,
  );
  const wRef = affine === 'none' ? new Float64Array(d).fill(1) : ws;
  const bRef = affine === 'both' ? bs : new Float64Array(d);
  expectClose(out, layernormRef(xs, wRef, bRef, rows, d, EPS).y, { rel: 1e-5, what: `${what} forward` });
  const ref = layernormBackwardRef(xs, wRef, g, rows, d, EPS);
  if (xGrad && d === 1) {
    // D = 1: x - mean(x) = 0, so the true dx is exactly 0 and a relative error is undefined.
    // In f32, g w - mean(g w) can leave an ulp of g w (a GPU computes the mean as sum * (1/D),
    // with FMA), multiplied by rstd = 1/sqrt(eps): bound |dx| by a few ulps of |g w| * rstd.
    const rstd = 1 / Math.sqrt(EPS);
    for (let i = 0; i < rows; i++) {
      const bound = 1e-6 * Math.abs(g[i] * wRef[0]) * rstd;
      expect(Math.abs(grads[0]![i] - ref.dx[i]), `${what} dx[${i}] = ${grads[0]![i]}, want ${ref.dx[i]}`).toBeLessThanOrEqual(bound);
    }
  } else if (xGrad) expectClose(grads[0]!, ref.dx, { rel: 1e-4, what: `${what} dx` });
  else expect(grads[0], `${what}: x got a gradient`).toBeNull();
  if (affine !== 'none') expectClose(grads[1]!, ref.dw, { rel: 1e-4, what: `${what} dw` });
  if (affine === 'both') expectClose(grads[2]!, ref.db, { rel: 1e-4, what: `${what} db` });
}

describe('layerNorm: GPU backward vs the reference backward', () => {
  it('planner picks, every size', async () => {
    for (const rows of ROWS) for (const d of WIDTHS) await checkLayerNorm([rows, d], {}, rows * 13 + d);
  });

  const forced: LayerNormBackwardOpts[] = [
    { version: 1, wg: 8 }, { version: 1, wg: 64, chunkRows: 7 },
    { version: 2, wg: 8 }, { version: 2, wg: 64, chunkRows: 1 }, { version: 2, wg: 256, chunkRows: 1000 },
    { version: 3, wg: 64 }, { version: 3, wg: 64, chunkRows: 1 }, { version: 3, wg: 256, chunkRows: 100 },
  ];
  for (const bwd of forced) {
    // Workgroups of 256 barrier 8 times per row, slow on CPU adapters: 785 rows only at <= 64.
    const rowsFor = (bwd.wg ?? 0) > 64 ? ROWS.filter((r) => r < 785) : ROWS;
    it(`v${bwd.version} wg ${bwd.wg} chunkRows ${bwd.chunkRows ?? 'plan'} forced, every size`, async () => {
      for (const rows of rowsFor) for (const d of WIDTHS) await checkLayerNorm([rows, d], bwd, rows + d);
    });
  }

  it('v3 full to the last register (D = 8·wg: 256 at wg 32, 2048 at wg 256), and D = 2049 on v2', async () => {
    await checkLayerNorm([5, 256], { version: 3, wg: 32 }, 3);
    await checkLayerNorm([3, 2048], { version: 3, wg: 256 }, 4);
    await checkLayerNorm([3, 2049], { version: 2, wg: 256 }, 5);
    expect(planLayerNormBackward(3, 2048).version).toBe(3);
    expect(planLayerNormBackward(3, 2049).version).toBe(2);
  });

  it('no affine, weight only, x without grad, a 3-D input, rows with |mean| >> std', async () => {
    for (const version of [1, 2, 3] as const) {
      await checkLayerNorm([17, 65], { version }, 6, { affine: 'none' });
      await checkLayerNorm([17, 65], { version }, 7, { affine: 'weight' });
      await checkLayerNorm([17, 65], { version }, 8, { xGrad: false });
      await checkLayerNorm([2, 3, 65], { version }, 9);
      await checkLayerNorm([17, 385], { version }, 10, { shift: 300 });
    }
  });

  it('dw and db are bit-identical run to run (no atomics), whatever the chunking', async () => {
    const [rows, d] = [785, 384];
    const x = Tensor.fromArray(randomArray(rows * d, 1), [rows, d]);
    const w = Tensor.fromArray(randomArray(d, 2));
    const b = Tensor.fromArray(randomArray(d, 3));
    const dy = Tensor.fromArray(randomArray(rows * d, 4), [rows, d]);
    const f = layernormForward(x, w, b, EPS, { saveStats: true });
    for (const opts of [{}, { version: 1, wg: 8 }, { version: 3, chunkRows: 3 }] as LayerNormBackwardOpts[]) {
      const runs: Float32Array[] = [];
      for (let k = 0; k < 2; k++) {
        const r = layernormBackward(x, w, f.mean, f.rstd, dy, opts);
        runs.push(Float32Array.from([...(await r.dw!.toArray()), ...(await r.db!.toArray())]));
        for (const t of [r.dx, r.dw!, r.db!]) t.dispose();
      }
      expect(runs[1], JSON.stringify(opts)).toEqual(runs[0]);
    }
    for (const t of [x, w, b, dy, f.y, f.mean, f.rstd]) t.dispose();
  });

  it('the planner: v3 with ~1536 chunks on GPUs for ViT tokens; thread per row on CPU adapters', () => {
    expect(planLayerNormBackward(6280, 384)).toEqual({ version: 3, wg: 64, chunkRows: 5 });
    expect(planLayerNormBackward(50240, 384)).toEqual({ version: 3, wg: 64, chunkRows: 33 });
    expect(planLayerNormBackward(6280, 17).version).toBe(1);
    expect(planLayerNormBackward(6280, 384, 'lavapipe').version).toBe(1);
  });

  it('errors name the tensors and shapes', () => {
    const x = Tensor.fromArray(randomArray(2 * 384, 1), [2, 384]);
    const w = Tensor.fromArray(randomArray(384, 2));
    const s = Tensor.fromArray([0, 1]);
    const dy = Tensor.fromArray(randomArray(3 * 128, 1), [3, 128]);
    expect(() => layernormBackward(x, w, s, s, dy)).toThrow(/gradient .* \(3,128\) does not match x \(2,384\)/);
    expect(() => layernormBackward(x, s, s, s, x)).toThrow(/weight .* must be \(384\)/);
    expect(() => layernormBackward(x, w, w, s, x)).toThrow(/saved mean .* has 384 values for 2 rows/);
    expect(() => layernormBackward(x, w, s, s, x, { version: 3, wg: 32 })).toThrow(/v3 holds at most 8·32 = 256/);
    expect(() => layernormBackward(x, w, s, s, x, { chunkRows: 0 })).toThrow(/chunkRows must be a positive integer/);
    for (const t of [x, w, s, dy]) t.dispose();
  });
});

async function checkL2(shape: number[], version: L2NormVersion | undefined, wg: number | undefined, seed: number, scale = 1, eps = 1e-12): Promise<void> {
  const d = shape[shape.length - 1];
  const rows = shape.reduce((a, b) => a * b, 1) / d;
  const xs = randomArray(rows * d, seed).map((v, i) => v * (Math.floor(i / d) % 3 === 1 ? scale : 1));
  const g = randomArray(rows * d, seed + 1);
  const what = `l2Normalize x(${shape}) v${version ?? 'plan'} wg ${wg ?? 'plan'} scale ${scale} eps ${eps}`;
  const bwd = { ...(version ? { version } : {}), ...(wg ? { wg } : {}) };
  const { out, grads } = await gpuGrads(([x]) => A.l2Normalize(x, eps, { bwd }), [{ data: xs, shape }], g);
  const ref = l2normRef(xs, rows, d, eps);
  expectClose(out, ref.y, { rel: 1e-5, what: `${what} forward` });
  const want = l2normBackwardRef(xs, g, rows, d, eps);
  if (d > 1) {
    expectClose(grads[0]!, want, { rel: 1e-4, what: `${what} dx` });
    return;
  }
  // D = 1: the true gradient is 0 where n > eps (the 1-D sphere is two points), so a relative
  // error is undefined. y = x · (1 / n) is ±1 only to an ulp, and (g - y² g) / n leaves a few
  // ulps of g / n: check |dx - ref| against that scale, element by element.
  for (let i = 0; i < rows; i++) {
    const bound = (1e-6 * Math.abs(g[i])) / Math.max(ref.norm[i], eps) + 1e-4 * Math.abs(want[i]);
    expect(Math.abs(grads[0]![i] - want[i]), `${what} dx[${i}] = ${grads[0]![i]}, want ${want[i]}`).toBeLessThanOrEqual(bound);
  }
}

describe('l2Normalize: GPU backward vs the reference backward', () => {
  it('planner picks, every size', async () => {
    for (const rows of ROWS) for (const d of WIDTHS) await checkL2([rows, d], undefined, undefined, rows * 3 + d);
  });

  for (const version of L2NORM_VERSIONS) {
    for (const wg of [8, 64, 256]) {
      it(`v${version} wg ${wg} forced, every size`, async () => {
        for (const rows of ROWS) for (const d of WIDTHS) await checkL2([rows, d], version, wg, rows + d + wg);
      });
    }
  }

  it('every third row tiny (below eps: dx = g / eps) or huge (1e20), a 3-D input', async () => {
    for (const version of [undefined, ...L2NORM_VERSIONS]) {
      await checkL2([17, 385], version, undefined, 2, 1e-5, 1e-3);
      await checkL2([17, 385], version, undefined, 3, 1e-18);
      await checkL2([17, 385], version, undefined, 4, 1e20);
      await checkL2([2, 3, 65], version, undefined, 5);
    }
  });
});

describe('lifetimes', () => {
  it('backward frees saved inputs, statistics and norms', async () => {
    const live0 = rt.counters.bytesLive;
    const x = Tensor.fromArray(randomArray(17 * 65, 2), [17, 65]);
    const w = Tensor.fromArray(randomArray(65, 3));
    x.requiresGrad = true;
    w.requiresGrad = true;
    const y = scope(() => A.sum(A.mul(A.layerNorm(x, w, null, EPS), A.l2Normalize(A.layerNorm(x, null, null)))));
    backward(y);
    expect((await x.grad!.toArray()).every(Number.isFinite)).toBe(true);
    expect((await w.grad!.toArray()).every(Number.isFinite)).toBe(true);
    for (const t of [y, x, w]) t.dispose();
    expect(rt.counters.bytesLive).toBe(live0);
  });
});
