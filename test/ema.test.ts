// The teacher EMA and the DINO center EMA: both are axpbyInPlace (shaders/elementwise.wgsl,
// axpby_inplace), y ← m·y + (1 − m)·x, one dispatch over a flat buffer.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { axpbyInPlace } from '../src/kernels/elementwise.js';
import { reduce } from '../src/kernels/reduce.js';
import { dinoLoss } from '../src/kernels/dino-loss.js';
import { dinoCenterRef } from './reference/dino-loss.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

/** float64 y ← m y + (1 − m) x. */
function emaRef(y: Float64Array, x: ArrayLike<number>, m: number): void {
  for (let i = 0; i < y.length; i++) y[i] = m * y[i] + (1 - m) * x[i];
}

/** DINO's momentum schedule: cosine from base to 1 over the steps. */
function cosineMomentum(base: number, steps: number): Float64Array {
  return Float64Array.from({ length: steps }, (_, i) => 1 + 0.5 * (base - 1) * (1 + Math.cos((Math.PI * i) / steps)));
}

describe('teacher EMA (axpbyInPlace) vs float64', () => {
  it('one step over 1,000,003 parameters, m = 0.996', async () => {
    const n = 1_000_003;
    const t = randomArray(n, 1);
    const s = randomArray(n, 2);
    const T = Tensor.fromArray(t, [n]);
    const S = Tensor.fromArray(s, [n]);
    axpbyInPlace(T, S, 1 - 0.996, 0.996);
    const want = Float64Array.from(t);
    emaRef(want, s, 0.996);
    expectClose(await T.toArray(), want, { rel: 1e-6, what: 'EMA 1M+3' });
    expectClose(await S.toArray(), s, { rel: 0, what: 'student untouched' });
    T.dispose();
    S.dispose();
  });

  it('ten steps on a cosine schedule 0.996 → 1, student moving each step', async () => {
    const n = 65_537;
    const t = randomArray(n, 3);
    const T = Tensor.fromArray(t, [n]);
    const want = Float64Array.from(t);
    for (const [i, m] of cosineMomentum(0.996, 10).entries()) {
      const s = randomArray(n, 10 + i);
      const S = Tensor.fromArray(s, [n]);
      axpbyInPlace(T, S, 1 - m, m);
      emaRef(want, s, m);
      S.dispose();
    }
    expectClose(await T.toArray(), want, { rel: 1e-6, what: 'EMA 10 steps' });
    T.dispose();
  });

  it('a window of a flat parameter buffer (one tensor\'s view) leaves the rest alone', async () => {
    const n = 10_007;
    const [off, len] = [1_001, 4_099];
    const t = randomArray(n, 20);
    const s = randomArray(n, 21);
    const T = Tensor.fromArray(t, [n]);
    const S = Tensor.fromArray(s, [n]);
    const tw = T.view([len], [1], off);
    const sw = S.view([len], [1], off);
    axpbyInPlace(tw, sw, 0.25, 0.75);
    const want = Float64Array.from(t);
    for (let i = off; i < off + len; i++) want[i] = 0.75 * t[i] + 0.25 * s[i];
    expectClose(await T.toArray(), want, { rel: 1e-6, what: 'EMA window' });
    for (const x of [T, S, tw, sw]) x.dispose();
  });

  it('rejects aliasing and size mismatches', () => {
    const T = Tensor.fromArray(randomArray(8, 30), [8]);
    const S = Tensor.fromArray(randomArray(7, 31), [7]);
    expect(() => axpbyInPlace(T, S, 0.1, 0.9)).toThrow(/size/);
    expect(() => axpbyInPlace(T.view([4], [1], 0), T.view([4], [1], 4), 0.1, 0.9)).toThrow(/storage/);
    T.dispose();
    S.dispose();
  });
});

describe('center EMA: c ← 0.9 c + 0.1 · mean over all 2·B teacher rows (SPEC §11)', () => {
  it('axpbyInPlace with a column mean, and the fused dino-loss center, match float64', async () => {
    const B = 3;
    const K = 65_537;
    const t = randomArray(2 * B * K, 40, -3, 3);
    const c = randomArray(K, 41, -0.5, 0.5);
    const want = dinoCenterRef(t, c, { crops: 2, b: B, k: K, tauS: 0.1, tauT: 0.04, momentum: 0.9 });
    const T = Tensor.fromArray(t, [2 * B, K]);
    const C = Tensor.fromArray(c, [K]);
    const mean = reduce('mean', T, 0);
    axpbyInPlace(C, mean, 0.1, 0.9);
    expectClose(await C.toArray(), want, { rel: 1e-6, what: 'center via axpbyInPlace' });
    const C0 = Tensor.fromArray(c, [K]);
    const S = Tensor.fromArray(randomArray(4 * B * K, 42), [4 * B, K]);
    const r = dinoLoss(S, T, C0, { tauS: 0.1, tauT: 0.04, nCrops: 4, grad: false });
    expectClose(await r.newCenter.toArray(), want, { rel: 1e-6, what: 'center fused in dinoLoss' });
    expectClose(await C0.toArray(), c, { rel: 0, what: 'input center untouched' });
    for (const x of [T, C, mean, C0, S, r.loss, r.newCenter]) x.dispose();
  });
});
