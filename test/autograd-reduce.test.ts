// Backward of the reductions (src/autograd/ops/reduce-ops.ts, shaders/reduce.wgsl): the float64
// reference backward against central differences first, then GPU autograd against it on odd
// sizes, over rows and columns, with keepdim, over everything, and with each version forced.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import * as A from '../src/autograd/index.js';
import { Tensor, backward, scope } from '../src/autograd/index.js';
import { planReduceBackward, REDUCE_BACKWARD_VERSIONS } from '../src/kernels/reduce.js';
import type { ReduceKernelOpts } from '../src/autograd/ops/reduce-ops.js';
import { reduceRef, reduceBackwardRef, axisView } from './reference/reduce.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

type Op = 'sum' | 'mean' | 'max' | 'min' | 'l2';
const OPS: Op[] = ['sum', 'mean', 'max', 'min', 'l2'];

/** The autograd op for `op` over `dim` (undefined: every element). */
function opFn(op: Op, dim: number | undefined, keepdim: boolean, k: ReduceKernelOpts) {
  return (x: Tensor) => {
    if (op === 'max' || op === 'min') return A[op](x, dim!, keepdim, k);
    return (op === 'l2' ? A.norm : A[op])(x, dim, keepdim, k);
  };
}

function view(shape: number[], dim: number | undefined): [number, number, number] {
  return dim === undefined ? [1, shape.reduce((a, b) => a * b, 1), 1] : axisView(shape, dim);
}

describe('reference backward vs finite differences of the reference forward', () => {
  it('every op over each axis of (3, 5, 4) and over everything', () => {
    const shape = [3, 5, 4];
    for (const op of OPS) {
      for (const dim of [0, 1, 2, undefined]) {
        if ((op === 'max' || op === 'min') && dim === undefined) continue;
        const [o, r, i] = view(shape, dim);
        const x = toF64(randomArray(60, 7 + (dim ?? 9))); // continuous values: no ties
        const w = randomArray(o * i, 8);
        const fd = refGradFD((xs) => reduceRef(op, xs[0], o, r, i), [x], w);
        expectClose(reduceBackwardRef(op, x, w, o, r, i), fd[0], { rel: 1e-6, what: `${op} dim ${dim}` });
      }
    }
  });
});

async function checkGpu(op: Op, shape: number[], dim: number | undefined, keepdim: boolean, k: ReduceKernelOpts, seed: number, xs?: Float32Array): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = xs ?? randomArray(n, seed);
  const [o, r, i] = view(shape, dim);
  const w = randomArray(o * i, seed + 1);
  const what = `${op} x(${shape}) dim ${dim} keepdim ${keepdim} ${JSON.stringify(k)}`;
  const { out, grads } = await gpuGrads(([x]) => opFn(op, dim, keepdim, k)(x), [{ data, shape }], w);
  expectClose(out, reduceRef(op, data, o, r, i), { rel: 1e-5, what: `${what} forward` });
  expectClose(grads[0]!, reduceBackwardRef(op, data, w, o, r, i), { rel: 1e-4, what: `${what} dx` });
}

// rows 1, 3, 17, 785 by widths 1, 17, 384, 385, reduced along the rows and down the columns.
const ROWS = [1, 3, 17, 785];
const WIDTHS = [1, 17, 384, 385];

describe('GPU backward vs the reference backward', () => {
  for (const op of OPS) {
    it(`${op}: planner picks, every size, both axes`, async () => {
      for (const rows of ROWS) {
        for (const d of WIDTHS) {
          await checkGpu(op, [rows, d], -1, false, {}, rows * 7 + d);
          if (rows * d < 20000) await checkGpu(op, [rows, d], 0, true, {}, rows + d);
        }
      }
    });
  }

  for (const version of REDUCE_BACKWARD_VERSIONS) {
    for (const wg of [8, 64, 256]) {
      it(`every op, v${version} wg ${wg} forced`, async () => {
        for (const op of OPS) {
          for (const [shape, dim] of [[[1, 1], 0], [[3, 17], -1], [[17, 385], 0], [[785, 17], 1], [[3, 17, 5], 1], [[17, 3, 2, 5], 2]] as [number[], number][]) {
            await checkGpu(op, shape, dim, false, { bwd: { version, wg } }, shape.length * 31 + wg);
          }
        }
      });
    }
  }

  it('over every element: sum, mean and norm, to shape [] or all ones with keepdim', async () => {
    for (const op of ['sum', 'mean', 'l2'] as Op[]) {
      for (const shape of [[1], [17, 385], [3, 5, 7]]) {
        for (const version of [undefined, ...REDUCE_BACKWARD_VERSIONS]) {
          await checkGpu(op, shape, undefined, version === 1, version ? { bwd: { version } } : {}, shape.length * 5);
        }
      }
    }
    const x = Tensor.fromArray(randomArray(6, 1), [2, 3]);
    const y = A.sum(x);
    const z = A.mean(x, undefined, true);
    expect(y.shape).toEqual([]);
    expect(z.shape).toEqual([1, 1]);
    for (const t of [x, y, z]) t.dispose();
  });

  it('max / min: ties send the gradient to the first extremum only (also through split forwards)', async () => {
    // Values on a coarse grid: every row and column holds its extremum several times.
    const xs = randomArray(17 * 1025, 5).map((v) => Math.round(v * 3));
    for (const op of ['max', 'min'] as Op[]) {
      for (const k of [{}, { fwd: { version: 2, chunks: 5, wg: 8 } }, { fwd: { version: 1, chunks: 3 }, bwd: { version: 1 } }] as ReduceKernelOpts[]) {
        await checkGpu(op, [17, 1025], 1, false, k, 3, xs);
        await checkGpu(op, [17, 1025], 0, true, k, 4, xs);
      }
    }
  });

  it('norm of an all-zero row has gradient 0 (as torch), not NaN', async () => {
    const xs = randomArray(3 * 17, 2);
    xs.fill(0, 17, 34);
    await checkGpu('l2', [3, 17], 1, false, {}, 6, xs);
  });

  it('the planner: thread per element on GPUs, thread per output on CPU adapters', () => {
    expect(planReduceBackward(6280, 384, 1)).toEqual({ version: 2, wg: 256 });
    expect(planReduceBackward(1, 65536, 1)).toEqual({ version: 2, wg: 256 });
    expect(planReduceBackward(1, 6280, 384, 'lavapipe')).toEqual({ version: 1, wg: 8 });
    expect(planReduceBackward(1, 65536, 1, 'lavapipe')).toEqual({ version: 1, wg: 8 });
  });

  it('errors: missing saved values, wrong gradient size, unknown version', async () => {
    const { reduceBackward } = await import('../src/kernels/reduce.js');
    const g = Tensor.fromArray([1, 2, 3]);
    expect(() => reduceBackward('max', g, [3, 5], 1)).toThrow(/needs the saved arg-extrema/);
    expect(() => reduceBackward('sum', g, [3, 5], 1, {})).not.toThrow();
    expect(() => reduceBackward('sum', g, [3, 5], 0)).toThrow(/gradient .* does not fit the reduction of x \(3,5\) over dim 0/);
    expect(() => reduceBackward('sum', g, [3, 5], 1, {}, { version: 3 as 1 })).toThrow(/no version 3/);
    g.dispose();
  });
});

describe('lifetimes', () => {
  it('backward frees the saved indices, inputs and norms', async () => {
    const live0 = rt.counters.bytesLive;
    const x = Tensor.fromArray(randomArray(17 * 5, 2), [17, 5]);
    x.requiresGrad = true;
    const y = scope(() => A.add(A.add(A.sum(A.max(x, 0)), A.mean(A.min(x, 1, true))), A.add(A.norm(x), A.sum(A.mean(x, 1)))));
    backward(y);
    expect((await x.grad!.toArray()).every(Number.isFinite)).toBe(true);
    y.dispose();
    x.dispose();
    expect(rt.counters.bytesLive).toBe(live0);
  });
});
