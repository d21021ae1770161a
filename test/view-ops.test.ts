import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  contiguous, reshape, permute, transpose, slice, select, unsqueeze, expand, concat, stack, gather,
} from '../src/autograd/view-ops.js';
import { denseFromView, concatRef, gatherRef, stridesOf } from './reference/copy.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

describe('views', () => {
  it('permute/transpose/slice/select/unsqueeze/expand match index arithmetic, and contiguous() copies them', async () => {
    const shape = [3, 5, 7, 2];
    const data = randomArray(3 * 5 * 7 * 2, 11);
    const x = Tensor.fromArray(data, shape);
    const views: [string, Tensor][] = [
      ['permute', permute(x, [2, 0, 3, 1])],
      ['transpose', transpose(x, 0, 2)],
      ['slice', slice(x, 1, 1, 4)],
      ['slice-neg', slice(x, 2, -3, 7)],
      ['select', select(x, 2, 4)],
      ['unsqueeze', unsqueeze(x, 1)],
      ['expand', expand(slice(x, 0, 1, 2), [4, 5, 7, 2])],
      ['slice-of-permute', slice(permute(x, [3, 2, 1, 0]), 2, 2, 5)],
    ];
    for (const [name, v] of views) {
      const ref = denseFromView(data, [...v.shape], [...v.strides], v.offset);
      const c = contiguous(v);
      expect(c.isContiguous).toBe(true);
      expectClose(await c.toArray(), ref, { rel: 0, atol: 0, elemRel: 0, what: `${name} via contiguous()` });
      expectClose(await v.toArray(), ref, { rel: 0, atol: 0, elemRel: 0, what: `${name} via strided readback` });
      if (c !== v) c.dispose();
      v.dispose();
    }
    x.dispose();
  });

  it('reshape is a view of contiguous data, a copy otherwise, and infers -1', async () => {
    const data = randomArray(6 * 35, 3);
    const x = Tensor.fromArray(data, [6, 35]);
    const r = reshape(x, [2, -1, 5]);
    expect(r.shape).toEqual([2, 21, 5]);
    expect(r.storage).toBe(x.storage);
    const t = transpose(x);
    const r2 = reshape(t, [35 * 6]);
    expect(r2.storage).not.toBe(x.storage);
    expectClose(await r2.toArray(), denseFromView(data, [35, 6], [1, 35], 0), { rel: 0, atol: 0, elemRel: 0 });
    expect(() => reshape(x, [4, 50])).toThrow(/\(6,35\) \(210 elements\) cannot become \(4,50\)/);
    for (const v of [x, r, t, r2]) v.dispose();
  });
});

describe('copy kernels', () => {
  it('concat along each dim, with odd sizes and strided parts', async () => {
    for (const dim of [0, 1, 2]) {
      const shapes = [[3, 5, 7], [3, 5, 7], [3, 5, 7]].map((s, i) => {
        const c = [...s];
        c[dim] = [1, 4, 17][i];
        return c;
      });
      const datas = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b, 1), 100 + i + dim));
      const ts = shapes.map((s, i) => Tensor.fromArray(datas[i], s));
      const y = concat(ts, dim);
      const ref = concatRef(shapes.map((s, i) => ({ data: datas[i], shape: s })), dim);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.toArray(), ref.out, { rel: 0, atol: 0, elemRel: 0, what: `concat dim ${dim}` });
      for (const t of [...ts, y]) t.dispose();
    }
    // A transposed (strided) part.
    const a = Tensor.fromArray(randomArray(12, 7), [3, 4]);
    const b = Tensor.fromArray(randomArray(12, 8), [4, 3]);
    const bt = transpose(b);
    const y = concat([a, bt], 0);
    const ref = concatRef([
      { data: await a.toArray(), shape: [3, 4] },
      { data: denseFromView(await b.toArray(), [3, 4], [1, 3], 0), shape: [3, 4] },
    ], 0);
    expectClose(await y.toArray(), ref.out, { rel: 0, atol: 0, elemRel: 0, what: 'concat of a transpose' });
    expect(() => concat([a, b], 0)).toThrow(/\(4,3\) does not match \(3,4\) outside dim 0/);
    for (const t of [a, b, bt, y]) t.dispose();
  });

  it('stack inserts a dim', async () => {
    const ds = [randomArray(10, 1), randomArray(10, 2)];
    const ts = ds.map((d) => Tensor.fromArray(d, [2, 5]));
    const y = stack(ts, 1);
    expect(y.shape).toEqual([2, 2, 5]);
    const ref = concatRef(ds.map((d) => ({ data: d, shape: [2, 1, 5] })), 1);
    expectClose(await y.toArray(), ref.out, { rel: 0, atol: 0, elemRel: 0 });
    for (const t of [...ts, y]) t.dispose();
  });

  it('gather (index_select) with repeats, on every dim, and rejects bad indices', async () => {
    const shape = [4, 17, 3];
    const data = randomArray(4 * 17 * 3, 9);
    const x = Tensor.fromArray(data, shape);
    const cases: [number, number[]][] = [[0, [3, 0, 0, 2]], [1, [16, 0, 5, 5, 9, 1, 2]], [2, [2]]];
    for (const [dim, idx] of cases) {
      const y = gather(x, dim, idx);
      expectClose(await y.toArray(), gatherRef(data, shape, dim, idx), { rel: 0, atol: 0, elemRel: 0, what: `gather dim ${dim}` });
      y.dispose();
    }
    expect(() => gather(x, 1, [0, 17])).toThrow(/index 17 at position 1 is out of range 0..16 for dim 1 of \(4,17,3\)/);
    x.dispose();
    expect(stridesOf([2, 3])).toEqual([3, 1]);
  });
});
