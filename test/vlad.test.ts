import { describe, it, beforeAll, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import { Tensor, backward, reshape, tanh, scope, linear, softmax } from '../src/autograd/index.js';
import { vladAssignForward, vladAssignBackward, vladAggregateForward, vladAggregateBackward, planVlad } from '../src/kernels/vlad.js';
import { vladAssignResidual, vladAggregate } from '../src/autograd/ops/vlad.js';
import { vladAssignRef, vladAssignBackwardRef, vladAggregateRef, vladAggregateBackwardRef, type VladRefShape } from './reference/vlad.js';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import source from '../shaders/vlad.wgsl';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

function assignInputs(sh: VladRefShape, seed: number) {
  const { B, S, K, D } = sh;
  return {
    x: randomArray(B * S * D, seed),
    w: randomArray(K * D, seed + 1, -2, 2),
    b: randomArray(K, seed + 2),
    c: randomArray(K * D, seed + 3, 0, 1), // U[0, 1) as SPEC §4
  };
}

const concat = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from([...Array.from(a), ...Array.from(b)]);

describe('VLAD references', () => {
  it('assign + residual backward matches finite differences', () => {
    const sh = { B: 2, S: 3, K: 3, D: 5 };
    const { x, w, b, c } = assignInputs(sh, 7);
    const n = sh.B * sh.S * sh.K;
    const wts = randomArray(n * sh.D + n, 8);
    const f = (xs: Float64Array[]) => {
      const o = vladAssignRef(xs[0], xs[1], xs[2], xs[3], sh);
      return concat(o.r, o.a);
    };
    const fd = refGradFD(f, [x, w, b, c].map(toF64), wts);
    const g = vladAssignBackwardRef(x, w, b, c, wts.subarray(0, n * sh.D), wts.subarray(n * sh.D), sh);
    [g.dx, g.dw, g.db, g.dc].forEach((v, i) => expectClose(v, fd[i], { rel: 1e-7, what: `ref assign grad ${'xwbc'[i]}` }));
  });

  it('aggregate backward matches finite differences (DualVLAD β and NetVLAD sum)', () => {
    const sh = { B: 2, S: 3, K: 3, D: 4 };
    const r = randomArray(sh.B * sh.S * sh.K * sh.D, 9);
    const beta = randomArray(sh.B * sh.S, 10, 0, 1);
    const wts = randomArray(sh.B * sh.K * sh.D, 11);
    const fd = refGradFD((xs) => vladAggregateRef(xs[0], xs[1], sh), [toF64(r), toF64(beta)], wts);
    const g = vladAggregateBackwardRef(r, beta, wts, sh);
    expectClose(g.dr, fd[0], { rel: 1e-7, what: 'ref aggregate dr' });
    expectClose(g.dbeta, fd[1], { rel: 1e-7, what: 'ref aggregate dbeta' });
    const [fdn] = refGradFD((xs) => vladAggregateRef(xs[0], null, sh), [toF64(r)], wts);
    expectClose(vladAggregateBackwardRef(r, null, wts, sh).dr, fdn, { rel: 1e-7, what: 'ref NetVLAD dr' });
  });
});

// MeDiVLAD's shape, odd sizes off every workgroup size, K = 64 (NetVLAD's default), K = 1.
const SHAPES: VladRefShape[] = [
  { B: 2, S: 15, K: 3, D: 384 },
  { B: 3, S: 5, K: 5, D: 37 },
  { B: 1, S: 3, K: 65, D: 33 },
  { B: 2, S: 1, K: 1, D: 3 },
];

async function checkAssign(sh: VladRefShape, wg: number | undefined, seed: number): Promise<void> {
  const { B, S, K, D } = sh;
  const { x, w, b, c } = assignInputs(sh, seed);
  if (sh.S > 2) x.fill(0, D, 2 * D); // a zero frame: the norm clamps at ε
  const X = Tensor.fromArray(x, [B, S, D]);
  const W = Tensor.fromArray(w, [K, D]);
  const Bi = Tensor.fromArray(b, [K]);
  const C = Tensor.fromArray(c, [K, D]);
  const what = `assign B ${B} S ${S} K ${K} D ${D} wg ${wg}`;
  const fwd = vladAssignForward(X, W, Bi, C, { wg });
  const ref = vladAssignRef(x, w, b, c, sh);
  expectClose(await fwd.a.toArray(), ref.a, { rel: 1e-5, what: `${what} a` });
  expectClose(await fwd.r.toArray(), ref.r, { rel: 1e-5, what: `${what} r` });
  const n = B * S * K;
  const dar = randomArray(n * D + n, seed + 5);
  const DAR = Tensor.fromArray(dar, [dar.length]);
  const g = vladAssignBackward(X, W, C, fwd.ar, { packed: DAR }, fwd.shape, { wg });
  const gr = vladAssignBackwardRef(x, w, b, c, dar.subarray(0, n * D), dar.subarray(n * D), sh);
  expectClose(await g.dx.toArray(), gr.dx, { rel: 1e-4, what: `${what} dx` });
  expectClose(await g.dw.toArray(), gr.dw, { rel: 1e-4, what: `${what} dw` });
  expectClose(await g.dbias.toArray(), gr.db, { rel: 1e-4, what: `${what} dbias` });
  expectClose(await g.dc.toArray(), gr.dc, { rel: 1e-4, what: `${what} dc` });
  // dr and da as separate tensors, and dr alone (a unused downstream: da = 0).
  const DR = Tensor.fromArray(dar.subarray(0, n * D), [B, S, K * D]);
  const DA = Tensor.fromArray(dar.subarray(n * D), [B, S, K]);
  const g2 = vladAssignBackward(X, W, C, fwd.ar, { dr: DR, da: DA }, fwd.shape, { wg });
  expectClose(await g2.dx.toArray(), gr.dx, { rel: 1e-4, what: `${what} dx (dr, da apart)` });
  const g3 = vladAssignBackward(X, W, C, fwd.ar, { dr: DR, da: null }, fwd.shape, { wg });
  const gr3 = vladAssignBackwardRef(x, w, b, c, dar.subarray(0, n * D), new Float64Array(n), sh);
  expectClose(await g3.dx.toArray(), gr3.dx, { rel: 1e-4, what: `${what} dx (no da)` });
  expectClose(await g3.dbias.toArray(), gr3.db, { rel: 1e-4, what: `${what} dbias (no da)` });
  for (const t of [X, W, Bi, C, fwd.ar, fwd.a, fwd.r, DAR, DR, DA, ...Object.values(g), ...Object.values(g2), ...Object.values(g3)]) t.dispose();
}

async function checkAggregate(sh: VladRefShape, withBeta: boolean, wg: number | undefined, seed: number): Promise<void> {
  const { B, S, K, D } = sh;
  const r = randomArray(B * S * K * D, seed);
  const beta = withBeta ? randomArray(B * S, seed + 1, 0, 1) : null;
  const R = Tensor.fromArray(r, [B, S, K * D]);
  const Be = beta ? Tensor.fromArray(beta, [B, S]) : null;
  const what = `aggregate B ${B} S ${S} K ${K} D ${D} beta ${withBeta} wg ${wg}`;
  const { y, norms } = vladAggregateForward(R, Be, K, { wg });
  expectClose(await y.toArray(), vladAggregateRef(r, beta, sh), { rel: 1e-5, what: `${what} y` });
  const dy = randomArray(B * K * D, seed + 2);
  const DY = Tensor.fromArray(dy, [B, K * D]);
  const g = vladAggregateBackward(R, Be, y, norms, DY, K, { wg });
  const gr = vladAggregateBackwardRef(r, beta, dy, sh);
  expectClose(await g.dr.toArray(), gr.dr, { rel: 1e-4, what: `${what} dr` });
  if (!withBeta) expect(g.dbeta).toBeNull();
  else if (S > 1) expectClose(await g.dbeta!.toArray(), gr.dbeta, { rel: 1e-4, what: `${what} dbeta` });
  else {
    // One frame: y = βr / ‖βr‖ does not depend on β, so dβ is exactly 0 and only rounding is
    // left: bound it by the size of the terms of Σ r·dV (‖r‖ ‖dy‖ / ‖V‖ per video).
    const dbeta = await g.dbeta!.toArray();
    const scale = Math.sqrt(r.reduce((t, v) => t + v * v, 0) * dy.reduce((t, v) => t + v * v, 0));
    for (const v of dbeta) expect(Math.abs(v)).toBeLessThan(1e-6 * scale);
  }
  for (const t of [R, Be, y, norms, DY, g.dr, g.dbeta]) t?.dispose();
}

describe('VLAD kernels on the GPU (float64 reference)', () => {
  it('assign + residual, forward and backward, planner wg', async () => {
    for (const [i, sh] of SHAPES.entries()) await checkAssign(sh, undefined, 100 + i);
  });
  it('aggregate + intra/global norm, forward and backward, planner wg', async () => {
    for (const [i, sh] of SHAPES.entries()) {
      await checkAggregate(sh, true, undefined, 200 + i);
      await checkAggregate(sh, false, undefined, 300 + i);
    }
  });
  for (const wg of [1, 16, 128]) {
    it(`every kernel at wg ${wg}`, async () => {
      await checkAssign({ B: 2, S: 3, K: 3, D: 385 }, wg, 400 + wg);
      await checkAggregate({ B: 2, S: 3, K: 3, D: 385 }, true, wg, 500 + wg);
    });
  }
  it('a zero aggregate (all-zero residuals) stays finite: norms clamp at ε', async () => {
    const R = Tensor.fromArray(new Float32Array(2 * 3 * 12), [2, 3, 12]);
    const { y, norms } = vladAggregateForward(R, null, 3);
    expect(Array.from(await y.toArray())).toEqual(new Array(24).fill(0));
    for (const t of [R, y, norms]) t.dispose();
  });
  it('plans', () => {
    expect(planVlad(384, 'gpu')).toBe(128);
    expect(planVlad(384, 'lavapipe')).toBe(16);
  });
  it('rejects more clusters than the workgroup arrays hold (257)', () => {
    const R = Tensor.fromArray(randomArray(257 * 2, 1), [1, 1, 257 * 2]);
    expect(() => vladAggregateForward(R, null, 257)).toThrow(/exceed 256/);
    R.dispose();
  });
});

describe('VLAD autograd ops', () => {
  it('NetVLAD = aggregate(assign(x).r, null): gradients of x, w, bias, c', async () => {
    const sh = { B: 2, S: 4, K: 3, D: 19 };
    const { x, w, b, c } = assignInputs(sh, 600);
    const wts = randomArray(sh.B * sh.K * sh.D, 601);
    const run = await gpuGrads(
      ([X, W, Bi, C]) => vladAggregate(vladAssignResidual(X, W, Bi, C).r, null, sh.K),
      [{ data: x, shape: [2, 4, 19] }, { data: w, shape: [3, 19] }, { data: b, shape: [3] }, { data: c, shape: [3, 19] }],
      wts,
    );
    const ref = vladAssignRef(x, w, b, c, sh);
    expectClose(run.out, vladAggregateRef(ref.r, null, sh), { rel: 1e-5, what: 'NetVLAD y' });
    const dr = vladAggregateBackwardRef(ref.r, null, wts, sh).dr;
    const g = vladAssignBackwardRef(x, w, b, c, dr, new Float64Array(sh.B * sh.S * sh.K), sh);
    [g.dx, g.dw, g.db, g.dc].forEach((v, i) => expectClose(run.grads[i]!, v, { rel: 1e-4, what: `NetVLAD grad ${'xwbc'[i]}` }));
  });

  it('the assignment output a carries gradient too', async () => {
    const sh = { B: 1, S: 3, K: 4, D: 7 };
    const { x, w, b, c } = assignInputs(sh, 700);
    const wts = randomArray(sh.S * sh.K, 701);
    const run = await gpuGrads(
      ([X, W, Bi, C]) => vladAssignResidual(X, W, Bi, C).a,
      [{ data: x, shape: [1, 3, 7] }, { data: w, shape: [4, 7] }, { data: b, shape: [4] }, { data: c, shape: [4, 7] }],
      wts,
    );
    expectClose(run.out, vladAssignRef(x, w, b, c, sh).a, { rel: 1e-5, what: 'a' });
    const g = vladAssignBackwardRef(x, w, b, c, new Float64Array(sh.S * sh.K * sh.D), wts, sh);
    expectClose(run.grads[0]!, g.dx, { rel: 1e-4, what: 'da → dx' });
    expectClose(run.grads[2]!, g.db, { rel: 1e-4, what: 'da → dbias' });
    expect(Array.from(run.grads[3]!)).toEqual(new Array(sh.K * sh.D).fill(0)); // c does not reach a
  });
});

// ---------------------------------------------------------------- DualVLAD vs PyTorch
// The model's composition: the fused assign + residual, the frame-attention MLP from the
// engine's autograd ops (linear, tanh, softmax over frames with temperature 1.2), then the
// fused weighted aggregate.

interface Fixture {
  meta: { B: number; S: number; D: number; K: number; C: number; frame_temperature: number };
  tensors: Record<string, { shape: number[]; data: number[] }>;
}

describe('DualVLAD vs PyTorch (test/fixtures/dualvlad.json)', () => {
  const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'dualvlad.json'), 'utf8')) as Fixture;
  const { B, S, D, K } = fx.meta;
  const KD = K * D;
  const leaf = (name: string) => {
    const t = Tensor.fromArray(Float32Array.from(fx.tensors[name].data), fx.tensors[name].shape);
    t.requiresGrad = true;
    return t;
  };
  const want = (name: string) => fx.tensors[name].data;

  it('forward (a, r, beta, descriptor, logits) and every gradient', async () => {
    const names = ['x', 'conv.weight', 'conv.bias', 'centroids', 'V.weight', 'V.bias', 'w.weight', 'w.bias', 'dense.weight', 'dense.bias'];
    const P = Object.fromEntries(names.map((n) => [n, leaf(n)]));
    const lw = Tensor.fromArray(Float32Array.from(want('loss_weight')), [B, fx.meta.C]);
    const out = scope(() => {
      const { a, r } = vladAssignResidual(P.x, P['conv.weight'], P['conv.bias'], P.centroids);
      const r2 = reshape(r, [B * S, KD]);
      const h = tanh(linear(r2, P['V.weight'], P['V.bias'])); // (B·S, Kd)
      const e = reshape(linear(h, P['w.weight'], P['w.bias']), [B, S]);
      const beta = softmax(e, -1, fx.meta.frame_temperature); // softmax over frames of e / 1.2
      const desc = vladAggregate(r, beta, K);
      const logits = linear(desc, P['dense.weight'], P['dense.bias']);
      return { a, r, beta, desc, logits };
    });
    expectClose(await out.a.toArray(), want('a'), { rel: 1e-5, what: 'a' });
    expectClose(await out.r.toArray(), want('r'), { rel: 1e-5, what: 'r' });
    expectClose(await out.beta.toArray(), want('beta'), { rel: 1e-5, what: 'beta' });
    expectClose(await out.desc.toArray(), want('descriptor'), { rel: 1e-5, what: 'descriptor' });
    expectClose(await out.logits.toArray(), want('logits'), { rel: 1e-5, what: 'logits' });
    backward(out.logits, lw);
    for (const n of names) {
      const got = await P[n].grad!.toArray();
      if (n === 'w.bias') {
        // The score bias shifts every frame's score alike and the softmax over frames ignores
        // it: its gradient is exactly 0 (PyTorch's -2e-18 is rounding). Bound it absolutely.
        expect(Math.abs(got[0])).toBeLessThan(1e-7);
        continue;
      }
      expectClose(got, want(`grad.${n}`), { rel: 1e-4, what: `grad.${n}` });
    }
    for (const t of [...Object.values(P), lw, ...Object.values(out)]) t.dispose();
  });

  it('NetVLAD (β ≡ 1) on the same parameters', async () => {
    const P = { x: leaf('x'), w: leaf('conv.weight'), b: leaf('conv.bias'), c: leaf('centroids') };
    const lw = Tensor.fromArray(Float32Array.from(want('netvlad.loss_weight')), [B, KD]);
    const desc = scope(() => vladAggregate(vladAssignResidual(P.x, P.w, P.b, P.c).r, null, K));
    expectClose(await desc.toArray(), want('netvlad.descriptor'), { rel: 1e-5, what: 'NetVLAD descriptor' });
    backward(desc, lw);
    const map = { x: 'x', w: 'conv.weight', b: 'conv.bias', c: 'centroids' } as const;
    for (const [k, n] of Object.entries(map)) {
      expectClose(await P[k as keyof typeof P].grad!.toArray(), want(`netvlad.grad.${n}`), { rel: 1e-4, what: `NetVLAD grad.${n}` });
    }
    for (const t of [...Object.values(P), lw, desc]) t.dispose();
  });
});

describe('vlad.wgsl header', () => {
  it('its table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('vlad', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| ([a-z]\w+)\s+\|/gm)].map((m) => m[1]).filter((r) => r !== 'entry').sort();
    expect(rows).toEqual(entries);
  });
});
