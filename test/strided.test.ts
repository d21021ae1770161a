// The strided entries of shaders/elementwise.wgsl in both versions (src/kernels/strided.ts):
// dim collapsing, the reciprocal division, and unary / binary / copy on views of every rank
// with odd sizes, offsets, broadcasts and size-1 dims, against index loops in float64.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { mulberry32, randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { binary, unary } from '../src/kernels/elementwise.js';
import { copyInto } from '../src/kernels/copy.js';
import { expand, permute, slice } from '../src/autograd/view-ops.js';
import { FASTDIV_LIMIT, collapseDims, setFastDivLimit, setStridedVersion } from '../src/kernels/strided.js';
import { denseFromView, stridesOf } from './reference/copy.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

describe('collapseDims', () => {
  it('merges dims every operand walks as one and drops size-1 dims', () => {
    // dense (2,3,4) read densely and transposed in its last two dims
    expect(collapseDims([2, 3, 4], [[12, 4, 1], [12, 4, 1]])).toEqual({ shape: [24], strides: [[1], [1]] });
    expect(collapseDims([2, 4, 3], [[12, 4, 1], [12, 1, 4]])).toEqual({ shape: [2, 4, 3], strides: [[12, 4, 1], [12, 1, 4]] });
    // broadcast over the leading dim: (5, 6·7) with b's stride 0 on the 5
    expect(collapseDims([5, 6, 7], [[42, 7, 1], [0, 7, 1]])).toEqual({ shape: [5, 42], strides: [[42, 1], [0, 1]] });
    // two broadcast dims in a row merge with each other
    expect(collapseDims([3, 4, 5], [[20, 5, 1], [0, 0, 1]])).toEqual({ shape: [12, 5], strides: [[5, 1], [0, 1]] });
    // size-1 dims vanish whatever their strides; all of them: one element
    expect(collapseDims([1, 3, 1, 2], [[99, 2, 7, 1], [0, 2, 0, 1]])).toEqual({ shape: [6], strides: [[1], [1]] });
    expect(collapseDims([1, 1], [[5, 3], [0, 0]])).toEqual({ shape: [1], strides: [[0], [0]] });
  });
});

describe('reciprocal division (udiv in elementwise.wgsl), emulated in f32', () => {
  // The shader's steps with every f32 operation rounded as WGSL requires (x · r correctly
  // rounded; u32(f) truncates).
  function udiv(x: number, d: number): number {
    const r = Math.fround(1 / d);
    let q = Math.trunc(Math.fround(Math.fround(x) * r));
    const rem = x - q * d;
    if (rem < 0) q -= 1;
    if (rem >= d) q += 1;
    return q;
  }

  it(`is exact below ${FASTDIV_LIMIT} (boundaries of quotients, random pairs, large divisors)`, () => {
    const rand = mulberry32(7);
    let checked = 0;
    const check = (x: number, d: number) => {
      if (x < 0 || x >= FASTDIV_LIMIT) return;
      const q = udiv(x, d);
      if (q !== Math.floor(x / d)) throw new Error(`udiv(${x}, ${d}) = ${q}, want ${Math.floor(x / d)}`);
      checked++;
    };
    const divisors = [1, 2, 3, 5, 7, 8, 9, 13, 65, 127, 384, 785, 1001, 4095, 65535, 65537, 999_983, 4_194_301, FASTDIV_LIMIT - 1];
    for (let i = 0; i < 2000; i++) divisors.push(1 + Math.floor(rand() * (i % 2 ? 4096 : FASTDIV_LIMIT - 1)));
    for (const d of divisors) {
      // both sides of the multiples of d near the top of the range and near 0
      for (const k of [1, 2, 3, Math.floor((FASTDIV_LIMIT - 1) / d), Math.floor((FASTDIV_LIMIT - 1) / d) - 1]) {
        for (const e of [-1, 0, 1]) check(k * d + e, d);
      }
      for (let j = 0; j < 50; j++) check(Math.floor(rand() * FASTDIV_LIMIT), d);
      check(FASTDIV_LIMIT - 1, d);
      check(0, d);
    }
    expect(checked).toBeGreaterThan(100_000);
  });
});

// A view (shape, strides, offset) over `data`, made from a dense tensor with the view ops.
interface ViewCase {
  name: string;
  make: (x: Tensor) => Tensor;
  base: number[];
}

const CASES: ViewCase[] = [
  { name: 'rank 1 slice at an odd offset', base: [101], make: (x) => slice(x, 0, 3, 98) },
  { name: 'odd transpose', base: [37, 29], make: (x) => permute(x, [1, 0]) },
  { name: 'patchify permute', base: [3, 3, 2, 8, 3, 8], make: (x) => permute(x, [0, 2, 4, 1, 3, 5]) },
  { name: 'rank 5 permute with a size-1 dim', base: [3, 1, 5, 7, 2], make: (x) => permute(x, [4, 2, 1, 0, 3]) },
  { name: 'rank 8 permute, inner dim 3', base: [2, 3, 2, 2, 3, 2, 2, 3], make: (x) => permute(x, [7, 0, 6, 1, 5, 2, 4, 3]) },
  { name: 'slice of a permute', base: [6, 11, 13], make: (x) => slice(permute(x, [2, 0, 1]), 1, 1, 5) },
  { name: 'expand (broadcast view)', base: [1, 9, 5], make: (x) => expand(x, [7, 9, 5]) },
  { name: 'inner run longer than RUN, odd', base: [5, 67], make: (x) => slice(x, 1, 2, 61) },
];

for (const version of [1, 2] as const) {
  for (const exact of version === 1 ? [false] : [false, true]) {
    // Each test sets the version and the division path itself and restores the defaults in
    // `finally` (the GPU-check kit's vitest stand-in has no afterEach).
    const under = async (body: () => Promise<void>) => {
      setStridedVersion(version);
      setFastDivLimit(exact ? 0 : undefined);
      try {
        await body();
      } finally {
        setStridedVersion(2);
        setFastDivLimit();
      }
    };
    describe(`strided v${version}, ${exact ? 'integer' : 'reciprocal'} division`, () => {
      for (const { name, base, make } of CASES) {
        it(`unary copy and exp of ${name}`, () =>
          under(async () => {
            const data = randomArray(base.reduce((a, b) => a * b, 1), 3);
            const x = Tensor.fromArray(data, base);
            const v = make(x);
            const ref = denseFromView(data, [...v.shape], [...v.strides], v.offset);
            rt.startProfile();
            const c = unary('copy', v);
            const e = unary('exp', v);
            const { kernels } = await rt.stopProfile();
            if (!v.isRowMajor) expect(kernels[0].kernel).toBe(version === 2 ? 'elementwise/unary_strided_v2' : 'elementwise/unary_strided');
            expectClose(await c.toArray(), ref, { rel: 0, atol: 0, elemRel: 0, what: 'copy' });
            expectClose(await e.toArray(), Array.from(ref, Math.exp), { rel: 1e-6, what: 'exp' });
            for (const t of [x, v, c, e]) t.dispose();
          }));

        it(`binary sub of ${name} and a broadcast row, both ways round`, () =>
          under(async () => {
            const data = randomArray(base.reduce((a, b) => a * b, 1), 4);
            const x = Tensor.fromArray(data, base);
            const v = make(x);
            const last = v.shape[v.ndim - 1];
            const rowData = randomArray(last, 5);
            const row = Tensor.fromArray(rowData, [last]);
            const ref = denseFromView(data, [...v.shape], [...v.strides], v.offset);
            const y1 = binary('sub', v, row);
            const y2 = binary('sub', row, v);
            expectClose(await y1.toArray(), Array.from(ref, (a, i) => a - rowData[i % last]), { rel: 1e-6, what: 'view - row' });
            expectClose(await y2.toArray(), Array.from(ref, (a, i) => rowData[i % last] - a), { rel: 1e-6, what: 'row - view' });
            for (const t of [x, v, row, y1, y2]) t.dispose();
          }));

        it(`copyInto a strided window from ${name}`, () =>
          under(async () => {
            const data = randomArray(base.reduce((a, b) => a * b, 1), 6);
            const x = Tensor.fromArray(data, base);
            const v = make(x);
            // destination: the view's shape laid out back-to-front inside a bigger poisoned
            // buffer, at an offset, so its strides differ from the source's in every dim
            const shape = [...v.shape];
            const rev = [...shape].reverse().map((d) => d + 1);
            const dstData = new Float32Array(rev.reduce((a, b) => a * b, 1) + 3).fill(-7);
            const dst = Tensor.fromArray(dstData, [dstData.length]);
            const dStrides = stridesOf(rev).reverse();
            const window = dst.view(shape, dStrides, 3);
            copyInto(v, window);
            const got = await dst.toArray();
            const ref = denseFromView(data, shape, [...v.strides], v.offset);
            const want = Float64Array.from(dstData);
            const idx = new Array(shape.length).fill(0);
            for (let k = 0; k < ref.length; k++) {
              want[3 + idx.reduce((a, i, j) => a + i * dStrides[j], 0)] = ref[k];
              for (let j = shape.length - 1; j >= 0; j--) {
                if (++idx[j] < shape[j]) break;
                idx[j] = 0;
              }
            }
            expectClose(got, want, { rel: 0, atol: 0, elemRel: 0, what: 'copyInto window (untouched cells keep -7)' });
            for (const t of [x, v, dst, window]) t.dispose();
          }));
      }
    });
  }
}
