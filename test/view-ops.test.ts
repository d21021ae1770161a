import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  contiguous, reshape, permute, transpose, slice, select, unsqueeze, expand, concat, stack, gather, bindable, setBindInPlace,
} from '../src/autograd/view-ops.js';
import { matmul } from '../src/kernels/matmul.js';
import { layernormForward, layernormBackward } from '../src/kernels/layernorm.js';
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

describe('bindable: operands bound in place', () => {
  // A "bucket" as ParameterStore lays one out: a weight (37, 29) at element 64 (256 bytes), a
  // bias (37) at 1152, a LayerNorm weight and bias (29) at 1216 and 1280; and the same tensors
  // at unaligned offsets.
  const W = randomArray(37 * 29, 21);
  const B = randomArray(37, 22);
  const G = randomArray(29, 23);
  const Bt = randomArray(29, 24);
  function bucket(at: number[]) {
    const flat = new Float32Array(1536);
    flat.set(W, at[0]);
    flat.set(B, at[1]);
    flat.set(G, at[2]);
    flat.set(Bt, at[3]);
    const t = Tensor.fromArray(flat, [1536]);
    return {
      t,
      w: t.view([37, 29], [29, 1], at[0]),
      b: t.view([37], [1], at[1]),
      g: t.view([29], [1], at[2]),
      bt: t.view([29], [1], at[3]),
    };
  }

  it('keeps an aligned row-major view, copies an unaligned or strided one', () => {
    const al = bucket([64, 1152, 1216, 1280]);
    expect(bindable(al.w)).toBe(al.w);
    expect(bindable(al.b)).toBe(al.b);
    const un = bucket([3, 1101, 1160, 1200]);
    const c = bindable(un.w);
    expect(c).not.toBe(un.w);
    expect(c.isContiguous).toBe(true);
    c.dispose();
    const tr = transpose(al.w, 0, 1);
    const ct = bindable(tr);
    expect(ct).not.toBe(tr);
    for (const t of [ct, tr, al.t, al.w, al.b, al.g, al.bt, un.t, un.w, un.b, un.g, un.bt]) t.dispose();
  });

  it('reshape of a row-major view at an offset is a view (a parameter keeps its place in the bucket)', async () => {
    const al = bucket([64, 1152, 1216, 1280]);
    const d0 = rt.counters.dispatches;
    const r = reshape(al.w, [29, 37]); // (37, 29) -> (29, 37): same elements, row-major
    expect(rt.counters.dispatches).toBe(d0);
    expect(r.offset).toBe(64);
    expect(r.storage).toBe(al.t.storage);
    expect(Array.from(await r.toArray())).toEqual(Array.from(W));
    const tr = transpose(al.w, 0, 1);
    const rc = reshape(tr, [37 * 29]); // not row-major: copied
    expect(rc.storage).not.toBe(al.t.storage);
    for (const t of [r, tr, rc, ...Object.values(al)]) t.dispose();
  });

  it('matmul and LayerNorm give the same bits from parameters in place, unaligned (copied), and dense', async () => {
    const x = Tensor.fromArray(randomArray(19 * 29, 25), [19, 29]);
    const dy = Tensor.fromArray(randomArray(19 * 29, 26), [19, 29]);
    const dense = { w: Tensor.fromArray(W, [37, 29]), b: Tensor.fromArray(B, [37]), g: Tensor.fromArray(G, [29]), bt: Tensor.fromArray(Bt, [29]) };
    const run = async (p: { w: Tensor; b: Tensor; g: Tensor; bt: Tensor }) => {
      const y = matmul(x, p.w, { transB: true, bias: p.b });
      const { y: ln, mean, rstd } = layernormForward(x, p.g, p.bt, 1e-5, { saveStats: true });
      const { dx, dw, db } = layernormBackward(x, p.g, mean, rstd, dy);
      const out = await Promise.all([y, ln, dx, dw!, db!].map((t) => t.toArray()));
      for (const t of [y, ln, mean, rstd, dx, dw, db]) t?.dispose();
      return out.map((a) => Array.from(a));
    };
    const want = await run(dense);
    const al = bucket([64, 1152, 1216, 1280]);
    const un = bucket([3, 1101, 1160, 1200]);
    expect(await run(al)).toEqual(want);
    expect(await run(un)).toEqual(want);
    // In place means no copy launches: one matmul dispatch, against two copies + the matmul.
    const launches = (p: { w: Tensor; b: Tensor }) => {
      const d0 = rt.counters.dispatches;
      matmul(x, p.w, { transB: true, bias: p.b }).dispose();
      return rt.counters.dispatches - d0;
    };
    expect(launches(al)).toBe(1);
    expect(launches(un)).toBe(3);
    setBindInPlace(false);
    try {
      expect(await run(al)).toEqual(want);
    } finally {
      setBindInPlace(true);
    }
    for (const t of [x, dy, ...Object.values(dense), ...Object.values(al), ...Object.values(un)]) t.dispose();
  });
});
