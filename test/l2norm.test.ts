import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { transpose } from '../src/autograd/view-ops.js';
import { l2normForward, planL2Norm, L2NORM_VERSIONS, type L2NormOpts } from '../src/kernels/l2norm.js';
import { l2normRef } from './reference/l2norm.js';
import source from '../shaders/l2norm.wgsl';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

async function check(shape: number[], opts: L2NormOpts, seed: number, scale = 1): Promise<void> {
  const n = shape.reduce((a, c) => a * c, 1);
  const d = shape[shape.length - 1];
  const xs = randomArray(n, seed).map((v) => v * scale);
  const x = Tensor.fromArray(xs, shape);
  const ref = l2normRef(xs, n / d, d, opts.eps ?? 1e-12);
  const what = `l2norm x(${shape}) ${JSON.stringify(opts)} scale ${scale}`;
  const r = l2normForward(x, { ...opts, saveNorm: true });
  expect(r.norm.shape).toEqual(shape.slice(0, -1));
  expectClose(await r.y.toArray(), ref.y, { rel: 1e-5, what });
  expectClose(await r.norm.toArray(), ref.norm, { rel: 1e-5, what: `${what} norm` });
  const y2 = l2normForward(x, opts);
  expectClose(await y2.toArray(), ref.y, { rel: 1e-5, what: `${what} no norm` });
  for (const t of [x, r.y, r.norm, y2]) t.dispose();
}

// (B·S, 384) frames, (B·K, 384) VLAD clusters, (B, 1152) global VLAD, (B, 256) DINO bottleneck.
const SHAPES: number[][] = [[1, 1], [3, 17], [65, 3], [785, 384], [3, 1152], [17, 256], [2, 3, 65], [2, 4099], [1, 65537]];

describe('l2norm forward (float64 reference)', () => {
  it('planner picks', async () => {
    for (const s of SHAPES) await check(s, {}, s[s.length - 1] + s.length);
  });

  for (const version of L2NORM_VERSIONS) {
    for (const wg of [8, 64, 256]) {
      it(`v${version} wg ${wg} forced`, async () => {
        for (const s of [[1, 1], [3, 17], [65, 3], [17, 385], [3, 1152], [2, 4099]]) await check(s, { version, wg }, 5 + s[1]);
      });
    }
  }

  it('no overflow or underflow of x² (|x| ~ 1e20, 1e-18), and tiny rows clamp to eps', async () => {
    for (const version of L2NORM_VERSIONS) {
      await check([5, 385], { version }, 3, 1e20);
      await check([5, 385], { version }, 4, 1e-18);
      // ||x|| ~ 1e-14 < eps: y = x / eps, as F.normalize.
      await check([5, 385], { version }, 6, 1e-15);
      await check([5, 385], { version, eps: 1e-3 }, 7, 1e-5);
    }
  });

  it('a strided input (transposed view) matches its dense copy', async () => {
    const xs = randomArray(65 * 17, 2);
    const x = Tensor.fromArray(xs, [65, 17]);
    const xt = transpose(x); // (17, 65)
    const dense: number[] = [];
    for (let j = 0; j < 17; j++) for (let i = 0; i < 65; i++) dense.push(xs[i * 17 + j]);
    const y = l2normForward(xt);
    expectClose(await y.toArray(), l2normRef(dense, 17, 65).y, { rel: 1e-5, what: 'transposed' });
    for (const t of [x, xt, y]) t.dispose();
  });

  it('planner and errors', () => {
    expect(planL2Norm(45, 3).version).toBe(1);
    expect(planL2Norm(45, 384).version).toBe(2);
    expect(planL2Norm(6280, 384, 'lavapipe')).toEqual({ version: 1, wg: 8 });
    const s = Tensor.scalar(2);
    const x = Tensor.fromArray([1, 2, 3]);
    expect(() => l2normForward(s)).toThrow(/x \(\) is a scalar/);
    expect(() => l2normForward(x, { eps: -1 })).toThrow(/eps must be finite and >= 0/);
    expect(() => l2normForward(x, { version: 3 as 1 })).toThrow(/no version 3/);
    s.dispose();
    x.dispose();
  });
});

describe('l2norm.wgsl header', () => {
  it('its version table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('l2norm', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| (\w+_v\d+)\s+\|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(entries);
  });
});
