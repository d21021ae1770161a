import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { transpose, slice } from '../src/autograd/view-ops.js';
import { layernormForward, planLayerNorm, LAYERNORM_VERSIONS, type LayerNormOpts } from '../src/kernels/layernorm.js';
import { layernormRef } from './reference/layernorm.js';
import source from '../shaders/layernorm.wgsl';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

const EPS = 1e-6; // ViT's LayerNorm

async function check(shape: number[], opts: LayerNormOpts, seed: number, shift = 0): Promise<void> {
  const n = shape.reduce((a, c) => a * c, 1);
  const d = shape[shape.length - 1];
  const rows = n / d;
  const xs = randomArray(n, seed).map((v) => v + shift);
  const ws = randomArray(d, seed + 1);
  const bs = randomArray(d, seed + 2);
  const x = Tensor.fromArray(xs, shape);
  const w = Tensor.fromArray(ws);
  const b = Tensor.fromArray(bs);
  const ref = layernormRef(xs, ws, bs, rows, d, EPS);
  const what = `layernorm x(${shape}) ${JSON.stringify(opts)}${shift ? ` shift ${shift}` : ''}`;
  const r = layernormForward(x, w, b, EPS, { ...opts, saveStats: true });
  expect(r.y.shape).toEqual(shape);
  expect(r.mean.shape).toEqual(shape.slice(0, -1));
  expectClose(await r.y.toArray(), ref.y, { rel: 1e-5, what });
  expectClose(await r.mean.toArray(), ref.mean, { rel: 1e-5, what: `${what} mean` });
  expectClose(await r.rstd.toArray(), ref.rstd, { rel: 1e-5, what: `${what} rstd` });
  // Without stats: the same y from the SAVE_STATS = false pipeline.
  const y2 = layernormForward(x, w, b, EPS, opts);
  expectClose(await y2.toArray(), ref.y, { rel: 1e-5, what: `${what} no stats` });
  for (const t of [x, w, b, r.y, r.mean, r.rstd, y2]) t.dispose();
}

// D: odd sizes around ViT's 384 and its MLP width 1536; rows off every workgroup multiple.
const SHAPES: number[][] = [[1, 1], [3, 17], [785, 384], [17, 383], [5, 385], [3, 1537], [2, 3, 65], [4099, 3], [2, 4099]];

describe('layernorm forward (float64 reference)', () => {
  it('planner picks', async () => {
    for (const s of SHAPES) await check(s, {}, s[s.length - 1] * 13 + s.length);
  });

  for (const version of LAYERNORM_VERSIONS) {
    for (const wg of version === 3 ? [64, 256] : [8, 64, 256]) {
      it(`v${version} wg ${wg} forced`, async () => {
        for (const s of [[1, 1], [3, 17], [65, 384], [17, 383], [5, 385]]) await check(s, { version, wg }, 7 + s[1]);
        if (version !== 3 || wg === 256) await check([3, 1537], { version, wg }, 9);
      });
    }
  }

  it('rows with a large mean (|mean| >> std) keep the variance accurate', async () => {
    for (const version of LAYERNORM_VERSIONS) await check([17, 385], { version }, 21, 300);
  });

  it('a strided input (transposed view) matches its dense copy', async () => {
    const xs = randomArray(65 * 17, 2);
    const x = Tensor.fromArray(xs, [65, 17]);
    const xt = transpose(x); // (17, 65)
    const w = Tensor.fromArray(randomArray(65, 3));
    const b = Tensor.fromArray(randomArray(65, 4));
    const dense: number[] = [];
    for (let j = 0; j < 17; j++) for (let i = 0; i < 65; i++) dense.push(xs[i * 17 + j]);
    const y = layernormForward(xt, w, b, EPS);
    expectClose(await y.toArray(), layernormRef(dense, await w.toArray(), await b.toArray(), 17, 65, EPS).y, { rel: 1e-5, what: 'transposed' });
    for (const t of [x, xt, w, b, y]) t.dispose();
  });

  it('the planner: v1 for short rows, v3 for ViT widths, v2 past 2048', () => {
    expect(planLayerNorm(785, 17).version).toBe(1);
    expect(planLayerNorm(785 * 8, 384)).toEqual({ version: 3, wg: 64 });
    expect(planLayerNorm(785, 4099).version).toBe(2);
    expect(planLayerNorm(785 * 8, 384, 'lavapipe')).toEqual({ version: 1, wg: 8 });
  });
});

describe('layernorm errors name the tensor and its shape', () => {
  it('wrong weight or bias shape, bad eps, v3 row too long', () => {
    const x = Tensor.fromArray(randomArray(2 * 384, 1), [2, 384]);
    const w = Tensor.fromArray(randomArray(383, 2));
    const w2 = Tensor.fromArray(randomArray(2 * 384, 2), [2, 384]);
    const b = Tensor.fromArray(randomArray(384, 3));
    const bad = slice(b, 0, 0, 17);
    expect(() => layernormForward(x, w, b)).toThrow(/weight Tensor#\d+\(383\) has shape \(383\), expected \(384\) to match the last dim of x \(2,384\)/);
    expect(() => layernormForward(x, w2, b)).toThrow(/weight .* has shape \(2,384\)/);
    expect(() => layernormForward(x, b, bad)).toThrow(/bias .* has shape \(17\), expected \(384\)/);
    expect(() => layernormForward(x, b, b, -1)).toThrow(/eps must be finite and >= 0/);
    expect(() => layernormForward(x, b, b, 1e-6, { version: 3, wg: 32 })).toThrow(/v3 holds at most 8·32 = 256/);
    for (const t of [x, w, w2, b, bad]) t.dispose();
  });
});

describe('layernorm.wgsl header', () => {
  it('its version table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('layernorm', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| (\w+_v\d+)\s+\|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(entries);
  });
});
