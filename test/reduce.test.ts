import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { transpose } from '../src/autograd/view-ops.js';
import { reduce, reduceAll, planReduce, REDUCE_OPS, type ReduceOp, type ReduceOpts, type FullReduceOp } from '../src/kernels/reduce.js';
import { reduceRef, axisView } from './reference/reduce.js';
import source from '../shaders/reduce.wgsl';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

const OPS = Object.keys(REDUCE_OPS) as ReduceOp[];

async function check(op: ReduceOp, shape: number[], dim: number, xs: Float32Array, opts: ReduceOpts = {}): Promise<void> {
  const x = Tensor.fromArray(xs, shape);
  const y = reduce(op, x, dim, opts);
  const [outer, r, inner] = axisView(shape, dim);
  const want = reduceRef(op, xs, outer, r, inner);
  const got = await y.toArray();
  const what = `${op} x(${shape}) dim ${dim} ${JSON.stringify(opts)}`;
  if (op === 'argmax') expect(Array.from(got), what).toEqual(Array.from(want));
  else expectClose(got, want, { rel: 1e-5, what });
  x.dispose();
  y.dispose();
}

// Shapes chosen to land on each path of planReduce (see the comment on each).
const CASES: [number[], number, string][] = [
  [[1], 0, 'a single element'],
  [[3, 17], -1, 'short rows: v1'],
  [[65, 3], 1, 'K = 3 clusters: v1'],
  [[5, 785], 1, 'long rows: v2'],
  [[4099], 0, 'one long row: v2'],
  [[2, 65537], -1, 'DINO-head rows: v2 split'],
  [[17, 65, 3], 1, 'middle axis, inner 3: v1'],
  [[785, 65], 0, 'columns: v2'],
  [[16385, 3], 0, 'long columns, few outputs: v2 split'],
  [[17, 300], 0, 'short columns: v1'],
  [[2, 3, 5, 7], 2, 'rank 4, middle axis'],
  [[2, 3, 5, 7], 0, 'rank 4, first axis'],
];

describe('reduce along one axis (planner picks)', () => {
  for (const op of OPS) {
    it(`${op}`, async () => {
      for (const [shape, dim] of CASES) {
        const n = shape.reduce((a, b) => a * b, 1);
        await check(op, shape, dim, randomArray(n, n * 7 + op.length), {});
      }
    });
  }

  it('the planner reaches every path on these shapes', () => {
    const plans = CASES.map(([s, d]) => planReduce(...axisView(s, d), 'gpu'));
    expect(plans.some((p) => p.version === 1 && p.chunks === 1)).toBe(true);
    expect(plans.some((p) => p.version === 2 && p.chunks === 1)).toBe(true);
    expect(plans.some((p) => p.version === 2 && p.chunks > 1)).toBe(true);
    const cpu = CASES.map(([s, d]) => planReduce(...axisView(s, d), 'lavapipe'));
    expect(cpu.some((p) => p.chunks > 1)).toBe(true);
    expect(planReduce(1, 37680, 785, 'gpu')).toEqual({ version: 2, chunks: 1, wg: 256 });
    expect(planReduce(1, 16385, 3, 'gpu').chunks).toBeGreaterThan(1);
  });
});

describe('reduce: every version forced', () => {
  const forced: ReduceOpts[] = [
    { version: 1 }, { version: 1, chunks: 7 }, { version: 1, wg: 256 }, { version: 1, wg: 8, chunks: 4 },
    { version: 2 }, { version: 2, chunks: 5 }, { version: 2, wg: 64 }, { version: 2, wg: 64, chunks: 3 },
  ];
  for (const op of OPS) {
    it(`${op}`, async () => {
      for (const opts of forced) {
        for (const [shape, dim] of [[[3, 785], 1], [[17, 65, 3], 1], [[4099], 0]] as [number[], number][]) {
          const n = shape.reduce((a, b) => a * b, 1);
          await check(op, shape, dim, randomArray(n, n + 11), opts);
        }
      }
    });
  }
});

describe('reduce: numerics and views', () => {
  it('argmax returns the first maximum on ties, across threads and chunks', async () => {
    // Values on a coarse grid: each row holds its maximum many times.
    const n = 3 * 4099;
    const xs = randomArray(n, 5).map((v) => Math.round(v * 3));
    for (const opts of [{}, { version: 1 }, { version: 2 }, { version: 2, chunks: 6 }, { version: 1, chunks: 9 }] as ReduceOpts[]) {
      await check('argmax', [3, 4099], 1, xs, opts);
      await check('argmax', [3, 4099], 0, xs, opts);
    }
  });

  it('l2 neither overflows nor underflows (x ~ 1e20 and 1e-22)', async () => {
    for (const scale of [1e20, 1e-22]) {
      const xs = randomArray(5 * 785, 9).map((v) => v * scale);
      for (const opts of [{ version: 1 }, { version: 2 }, { version: 2, chunks: 4 }] as ReduceOpts[]) {
        await check('l2', [5, 785], 1, xs, opts);
      }
    }
  });

  it('keepdim keeps the axis as 1; a transposed view reduces like its dense copy', async () => {
    const xs = randomArray(17 * 65, 3);
    const x = Tensor.fromArray(xs, [17, 65]);
    const y = reduce('sum', x, 0, { keepdim: true });
    expect(y.shape).toEqual([1, 65]);
    const xt = transpose(x); // (65, 17), strides (1, 65)
    const z = reduce('max', xt, -1);
    expect(z.shape).toEqual([65]);
    expectClose(await y.toArray(), reduceRef('sum', xs, 1, 17, 65), { rel: 1e-5, what: 'sum keepdim' });
    expectClose(await z.toArray(), reduceRef('max', xs, 1, 17, 65), { rel: 1e-6, what: 'max of transpose' });
    for (const t of [x, y, xt, z]) t.dispose();
  });
});

describe('reduceAll to a scalar', () => {
  const ops: FullReduceOp[] = ['sum', 'mean', 'max', 'min', 'l2'];
  for (const op of ops) {
    it(`${op}`, async () => {
      for (const [shape, opts] of [[[4099, 65], {}], [[3, 17], {}], [[65537], { version: 1, chunks: 33 }], [[785, 3], { version: 2 }]] as [number[], ReduceOpts][]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const xs = randomArray(n, n + op.length);
        const x = Tensor.fromArray(xs, shape);
        const y = reduceAll(op, x, opts);
        expect(y.shape).toEqual([]);
        expectClose(await y.toArray(), reduceRef(op, xs, 1, n, 1), { rel: 1e-5, what: `${op} all of (${shape})` });
        x.dispose();
        y.dispose();
      }
    });
  }
});

describe('reduce: errors name the tensor and shape', () => {
  it('bad axis, empty axis, unknown op', () => {
    const x = Tensor.fromArray(randomArray(6, 1), [2, 3]);
    expect(() => reduce('sum', x, 2)).toThrow(/dim 2 is out of range for x \(2,3\)/);
    expect(() => reduce('sum', x, -3)).toThrow(/dim -3 is out of range/);
    const e = Tensor.empty([2, 0]);
    expect(() => reduce('max', e, 1)).toThrow(/empty axis of x \(2,0\)/);
    expect(() => reduce('nope' as ReduceOp, x, 0)).toThrow(/unknown op 'nope'/);
    x.dispose();
    e.dispose();
  });
});

describe('reduce.wgsl header', () => {
  it('its version table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('reduce', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| (\w+_v\d+)\s+\|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(entries);
  });
});
