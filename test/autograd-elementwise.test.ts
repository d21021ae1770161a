// Backward rules of the elementwise and shape ops: GPU autograd vs central differences of the
// float64 reference forward (test/reference/elementwise.ts, copy.ts).
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import * as A from '../src/autograd/index.js';
import { Tensor, backward, scope, noGrad } from '../src/autograd/index.js';
import { unaryRef, binaryBroadcastRef } from './reference/elementwise.js';
import { denseFromView, concatRef, gatherRef } from './reference/copy.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

const n = (s: number[]) => s.reduce((a, b) => a * b, 1);

async function check(
  name: string,
  shapes: number[][],
  fwd: (xs: Tensor[]) => Tensor,
  ref: (xs: Float64Array[]) => ArrayLike<number>,
  opts: { lo?: number; hi?: number; seed?: number } = {},
) {
  const { lo = -1, hi = 1, seed = 1 } = opts;
  const datas = shapes.map((s, i) => randomArray(n(s), seed * 100 + i, lo, hi));
  const refOut = ref(datas.map(toF64));
  const w = randomArray(refOut.length, seed + 77);
  const fd = refGradFD(ref, datas.map(toF64), w);
  const { out, grads } = await gpuGrads(fwd, datas.map((d, i) => ({ data: d, shape: shapes[i] })), w);
  expectClose(out, refOut, { rel: 1e-5, what: `${name} forward` });
  grads.forEach((g, i) => {
    expect(g, `${name}: input ${i} got no gradient`).not.toBeNull();
    expectClose(g!, fd[i], { rel: 1e-4, what: `${name} d/d input ${i}` });
  });
}

const un = (op: string) => (xs: Float64Array[]) => Array.from(xs[0], (v) => unaryRef(op, v));
const bin = (op: string, sa: number[], sb: number[]) => (xs: Float64Array[]) => binaryBroadcastRef(op, xs[0], sa, xs[1], sb).out;

describe('backward of elementwise ops vs finite differences', () => {
  it('unary maps', async () => {
    await check('exp', [[17]], ([x]) => A.exp(x), un('exp'));
    await check('log', [[17]], ([x]) => A.log(x), un('log'), { lo: 0.2, hi: 2 });
    await check('tanh', [[33]], ([x]) => A.tanh(x), un('tanh'), { lo: -3, hi: 3 });
    await check('gelu', [[65]], ([x]) => A.gelu(x), un('gelu'), { lo: -4, hi: 4 });
    await check('sigmoid', [[17]], ([x]) => A.sigmoid(x), un('sigmoid'), { lo: -4, hi: 4 });
    await check('relu', [[17]], ([x]) => A.relu(x), un('relu'));
    await check('sqrt', [[17]], ([x]) => A.sqrt(x), un('sqrt'), { lo: 0.2, hi: 2 });
    await check('rsqrt', [[17]], ([x]) => A.rsqrt(x), un('rsqrt'), { lo: 0.2, hi: 2 });
    await check('square', [[17]], ([x]) => A.square(x), un('square'));
    await check('neg', [[5]], ([x]) => A.neg(x), un('neg'));
    await check('mulScalar', [[5]], ([x]) => A.mulScalar(x, -2.5), (xs) => Array.from(xs[0], (v) => v * -2.5));
    await check('addScalar', [[5]], ([x]) => A.addScalar(x, 0.7), (xs) => Array.from(xs[0], (v) => v + 0.7));
    await check('powScalar', [[9]], ([x]) => A.powScalar(x, 2.5), (xs) => Array.from(xs[0], (v) => v ** 2.5), { lo: 0.2, hi: 2 });
  });

  it('binary maps with broadcasting (gradients summed back to each input shape)', async () => {
    const cases: [number[], number[]][] = [[[3, 5], [3, 5]], [[3, 5], [5]], [[4, 1, 3], [1, 5, 3]], [[7], []]];
    for (const [sa, sb] of cases) {
      await check(`add ${sa}|${sb}`, [sa, sb], ([a, b]) => A.add(a, b), bin('add', sa, sb));
      await check(`sub ${sa}|${sb}`, [sa, sb], ([a, b]) => A.sub(a, b), bin('sub', sa, sb));
      await check(`mul ${sa}|${sb}`, [sa, sb], ([a, b]) => A.mul(a, b), bin('mul', sa, sb));
      await check(`div ${sa}|${sb}`, [sa, sb], ([a, b]) => A.div(a, b), bin('div', sa, sb), { lo: 0.5, hi: 2 });
    }
  });

  it('a composite expression that reuses a tensor accumulates both paths', async () => {
    // f(x, y) = tanh(x * y) * x + gelu(y) ; x used twice.
    const f = ([x, y]: Tensor[]) => A.add(A.mul(A.tanh(A.mul(x, y)), x), A.gelu(y));
    const fr = (xs: Float64Array[]) => Array.from(xs[0], (x, i) => Math.tanh(x * xs[1][i]) * x + unaryRef('gelu', xs[1][i]));
    await check('composite', [[13], [13]], f, fr);
  });
});

describe('backward of shape ops', () => {
  const shape = [3, 4, 5];
  it('permute, transpose, reshape, slice, select, unsqueeze, expand, contiguous', async () => {
    const cases: [string, (x: Tensor) => Tensor, (x: Float64Array) => ArrayLike<number>][] = [
      ['permute', (x) => A.contiguous(A.permute(x, [2, 0, 1])), (x) => denseFromView(x, [5, 3, 4], [1, 20, 5], 0)],
      ['transpose', (x) => A.contiguous(A.transpose(x, 0, 2)), (x) => denseFromView(x, [5, 4, 3], [1, 5, 20], 0)],
      ['reshape', (x) => A.reshape(x, [12, 5]), (x) => x],
      ['slice', (x) => A.contiguous(A.slice(x, 1, 1, 3)), (x) => denseFromView(x, [3, 2, 5], [20, 5, 1], 5)],
      ['select', (x) => A.contiguous(A.select(x, 2, 3)), (x) => denseFromView(x, [3, 4], [20, 5], 3)],
      ['unsqueeze', (x) => A.unsqueeze(x, 1), (x) => x],
      ['expand', (x) => A.contiguous(A.expand(A.slice(x, 0, 1, 2), [2, 4, 4, 5])), (x) => denseFromView(x, [2, 4, 4, 5], [0, 0, 5, 1], 20)],
    ];
    for (const [name, f, r] of cases) {
      // Multiply by a second input so the gradient is not just the upstream weights.
      await check(name, [shape], ([x]) => A.mul(f(x), f(x)), (xs) => Array.from(r(xs[0]), (v) => v * v));
    }
  });

  it('concat, stack and gather (repeated indices add up)', async () => {
    await check('concat', [[2, 3], [2, 4]], ([a, b]) => A.concat([a, b], 1), (xs) => concatRef([{ data: xs[0], shape: [2, 3] }, { data: xs[1], shape: [2, 4] }], 1).out);
    await check('stack', [[2, 3], [2, 3]], ([a, b]) => A.stack([a, b], 0), (xs) => concatRef([{ data: xs[0], shape: [1, 2, 3] }, { data: xs[1], shape: [1, 2, 3] }], 0).out);
    const idx = [4, 0, 4, 2, 4];
    await check('gather', [[3, 5, 2]], ([x]) => A.gather(x, 1, idx), (xs) => gatherRef(xs[0], [3, 5, 2], 1, idx));
  });
});

describe('tape mechanics', () => {
  it('noGrad records nothing; detach cuts the graph; a consumed graph cannot be reused', async () => {
    const x = Tensor.fromArray([1, 2, 3]);
    x.requiresGrad = true;
    const y = noGrad(() => A.exp(x));
    expect(() => backward(y, y)).toThrow(/does not require grad/);
    const z = scope(() => A.mul(A.exp(x), A.detach(A.exp(x))));
    const g = Tensor.fromArray([1, 1, 1]);
    backward(z, g);
    // d/dx [e^x * c] with c detached = e^x * c = e^(2x)
    expectClose(await x.grad!.toArray(), [1, 2, 3].map((v) => Math.exp(2 * v)), { rel: 1e-6 });
    expect(() => backward(z, g)).toThrow(/already consumed/);
    for (const t of [x, y, z, g]) t.dispose();
  });

  it('saved activations are freed by backward, and by disposing an unused graph', async () => {
    const live0 = rt.counters.bytesLive;
    const x = Tensor.fromArray(randomArray(1000, 3));
    x.requiresGrad = true;
    const y = scope(() => A.mul(A.tanh(A.exp(x)), A.gelu(x)));
    const g = Tensor.fromArray(randomArray(1000, 4));
    backward(y, g);
    y.dispose();
    g.dispose();
    x.dispose(); // also frees x.grad
    expect(rt.counters.bytesLive).toBe(live0);
    // Same graph, never backpropagated: disposing its output must free the saved tensors.
    const x2 = Tensor.fromArray(randomArray(1000, 3));
    x2.requiresGrad = true;
    const y2 = scope(() => A.mul(A.tanh(A.exp(x2)), A.gelu(x2)));
    y2.dispose();
    x2.dispose();
    expect(rt.counters.bytesLive).toBe(live0);
  });

  it('leaf gradients accumulate across backward calls', async () => {
    const x = Tensor.fromArray([0.5, -1]);
    x.requiresGrad = true;
    for (let k = 0; k < 3; k++) {
      const y = scope(() => A.square(x));
      const g = Tensor.fromArray([1, 1]);
      backward(y, g);
      y.dispose();
      g.dispose();
    }
    expectClose(await x.grad!.toArray(), [3 * 2 * 0.5, 3 * 2 * -1], { rel: 1e-6 });
    x.dispose();
  });
});
