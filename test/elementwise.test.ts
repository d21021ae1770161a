import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { unary, binary, UNARY_OPS, BINARY_OPS, type UnaryOp, type BinaryOp } from '../src/kernels/elementwise.js';
import { transpose, slice } from '../src/autograd/view-ops.js';
import { unaryRef, binaryBroadcastRef, binaryRef } from './reference/elementwise.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

// Inputs valid for each op's domain: log/sqrt/rsqrt need positive values.
function inputFor(op: string, n: number, seed: number): Float32Array {
  if (op === 'log' || op === 'sqrt' || op === 'rsqrt' || op === 'powScalar') return randomArray(n, seed, 0.05, 3);
  if (op === 'exp' || op === 'sigmoid' || op === 'tanh' || op === 'gelu') return randomArray(n, seed, -6, 6);
  return randomArray(n, seed);
}

describe('elementwise unary (float64 reference)', () => {
  const sizes = [1, 3, 17, 785, 4099];
  for (const op of Object.keys(UNARY_OPS) as UnaryOp[]) {
    it(`${op} on sizes ${sizes.join(',')}`, async () => {
      for (const n of sizes) {
        const xs = inputFor(op, n, n * 31 + op.length);
        const [alpha, beta] = op === 'clamp' ? [-0.3, 0.4] : op === 'powScalar' ? [1.7, 0] : [0.75, 0];
        const x = Tensor.fromArray(xs, [n]);
        const y = unary(op, x, alpha, beta);
        const out = await y.toArray();
        const ref = Array.from(xs, (v) => unaryRef(op, v, alpha, beta));
        expectClose(out, ref, { rel: 1e-5, what: `${op} n=${n}` });
        x.dispose();
        y.dispose();
      }
    });
  }

  it('tanh and gelu stay finite and exact in the far tails', async () => {
    const xs = Float32Array.from([-90, -40, -12, -8, -5.5, 5.5, 12, 40, 90]);
    const x = Tensor.fromArray(xs);
    for (const op of ['tanh', 'gelu'] as const) {
      const y = unary(op, x);
      expectClose(await y.toArray(), Array.from(xs, (v) => unaryRef(op, v)), { rel: 1e-6, what: op });
      y.dispose();
    }
    x.dispose();
  });

  it('strided input (a transposed view) gives the same result as its dense copy', async () => {
    const xs = randomArray(17 * 65, 5);
    const x = Tensor.fromArray(xs, [17, 65]);
    const xt = transpose(x);
    expect(xt.isContiguous).toBe(false);
    const y = unary('exp', xt);
    const ref: number[] = [];
    for (let j = 0; j < 65; j++) for (let i = 0; i < 17; i++) ref.push(Math.exp(xs[i * 65 + j]));
    expectClose(await y.toArray(), ref, { rel: 1e-6, what: 'exp of transpose' });
    for (const t of [x, xt, y]) t.dispose();
  });
});

describe('elementwise binary with broadcasting', () => {
  const cases: [number[], number[]][] = [
    [[17], [17]],
    [[3, 65], [65]],
    [[5, 1, 7], [1, 3, 7]],
    [[785, 3], [785, 1]],
    [[2, 3, 5, 7], []],
  ];
  for (const op of Object.keys(BINARY_OPS) as BinaryOp[]) {
    it(`${op}`, async () => {
      for (const [sa, sb] of cases) {
        const na = sa.reduce((a, b) => a * b, 1);
        const nb = sb.reduce((a, b) => a * b, 1);
        let av = randomArray(na, na + 1);
        let bv = randomArray(nb, nb + 2);
        if (op === 'pow') av = randomArray(na, na + 1, 0.1, 2);
        if (op === 'div') bv = bv.map((v) => (Math.abs(v) < 0.1 ? 0.5 : v));
        if (op === 'eq' || op === 'ne') bv = bv.map((v, i) => (i % 2 === 0 ? av[i % na] : v));
        const a = Tensor.fromArray(av, sa);
        const b = Tensor.fromArray(bv, sb);
        const y = binary(op, a, b, 0.3, -1.7);
        const ref = binaryBroadcastRef(op, av, sa, bv, sb, 0.3, -1.7);
        expect(y.shape).toEqual(ref.shape);
        expectClose(await y.toArray(), ref.out, { rel: 1e-6, what: `${op} ${JSON.stringify(sa)} x ${JSON.stringify(sb)}` });
        for (const t of [a, b, y]) t.dispose();
      }
    });
  }

  it('rejects shapes that do not broadcast, naming both', () => {
    const a = Tensor.fromArray(randomArray(6, 1), [2, 3]);
    const b = Tensor.fromArray(randomArray(4, 2), [4]);
    expect(() => binary('add', a, b)).toThrow(/\(2,3\) and \(4\) do not broadcast/);
    a.dispose();
    b.dispose();
  });

  it('row-major slices at odd offsets take the dense entries and index from their offsets', async () => {
    const av = randomArray(9 * 13, 5);
    const bv = randomArray(9 * 13, 6);
    const a = Tensor.fromArray(av, [9, 13]);
    const b = Tensor.fromArray(bv, [9, 13]);
    const ra = slice(a, 0, 2, 7); // rows 2..6: row-major, offset 26
    const rb = slice(b, 0, 3, 8); // rows 3..7: offset 39
    rt.startProfile();
    const y = binary('sub', ra, rb);
    const u = unary('exp', rb);
    const { kernels } = await rt.stopProfile();
    expect(kernels.map((k) => k.kernel).sort()).toEqual(['elementwise/binary_contig', 'elementwise/unary_contig']);
    const want = Array.from({ length: 5 * 13 }, (_, i) => binaryRef('sub', av[26 + i], bv[39 + i]));
    expectClose(await y.toArray(), want, { rel: 1e-6, what: 'sub of row slices' });
    expectClose(await u.toArray(), Array.from({ length: 5 * 13 }, (_, i) => unaryRef('exp', bv[39 + i])), { rel: 1e-5, what: 'exp of a row slice' });
    for (const t of [a, b, ra, rb, y, u]) t.dispose();
  });

  it('binary on non-contiguous slices', async () => {
    const av = randomArray(9 * 13, 3);
    const a = Tensor.fromArray(av, [9, 13]);
    const s1 = slice(a, 1, 2, 9); // (9, 7)
    const s2 = slice(a, 0, 1, 2); // (1, 13) -> broadcast needs (1, 7): take a slice of it
    const s3 = slice(s2, 1, 0, 7);
    const y = binary('mul', s1, s3);
    const ref: number[] = [];
    for (let i = 0; i < 9; i++) for (let j = 0; j < 7; j++) ref.push(binaryRef('mul', av[i * 13 + 2 + j], av[13 + j]));
    expectClose(await y.toArray(), ref, { rel: 1e-6, what: 'mul of slices' });
    for (const t of [a, s1, s2, s3, y]) t.dispose();
  });
});
