import { describe, it, beforeAll, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, toF64 } from './helpers/gradcheck.js';
import { Tensor, backward, mulScalar, noGrad } from '../src/autograd/index.js';
import { dinoLoss, planDinoLoss, DINO_LOSS_VERSIONS, type DinoLossOpts } from '../src/kernels/dino-loss.js';
import { dinoLossOp } from '../src/autograd/ops/dino-loss.js';
import { dinoLossRef, dinoLossBackwardRef, dinoCenterRef, type DinoRefShape } from './reference/dino-loss.js';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import source from '../shaders/dino-loss.wgsl';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

interface Case extends DinoRefShape {
  teacherScale: number;
  seed: number;
}

function inputs(c: Case): { s: Float32Array; t: Float32Array; ctr: Float32Array } {
  return {
    s: randomArray(c.crops * c.b * c.k, c.seed, -4, 4),
    t: randomArray(2 * c.b * c.k, c.seed + 1, -c.teacherScale, c.teacherScale),
    ctr: randomArray(c.k, c.seed + 2, -0.5, 0.5),
  };
}

async function check(c: Case, opts: Partial<DinoLossOpts> = {}): Promise<void> {
  const { s, t, ctr } = inputs(c);
  const S = Tensor.fromArray(s, [c.crops * c.b, c.k]);
  const T = Tensor.fromArray(t, [2 * c.b, c.k]);
  const C = Tensor.fromArray(ctr, [c.k]);
  const what = `dino V ${c.crops} B ${c.b} K ${c.k} τt ${c.tauT} ${JSON.stringify(opts)}`;
  const r = dinoLoss(S, T, C, { tauS: c.tauS, tauT: c.tauT, nCrops: c.crops, centerMomentum: c.momentum, ...opts });
  expect(r.loss.shape).toEqual([]);
  expectClose([await r.loss.item()], [dinoLossRef(s, t, ctr, c)], { rel: 1e-5, what: `${what} loss` });
  expectClose(await r.gradStudent!.toArray(), dinoLossBackwardRef(s, t, ctr, c), { rel: 1e-4, what: `${what} dS` });
  expectClose(await r.newCenter.toArray(), dinoCenterRef(t, ctr, c), { rel: 1e-6, what: `${what} center` });
  for (const x of [S, T, C, r.loss, r.gradStudent!, r.newCenter]) x.dispose();
}

const base = { tauS: 0.1, tauT: 0.04, momentum: 0.9, teacherScale: 3 };

describe('DINO loss reference', () => {
  it('backward matches finite differences of the naive pairwise loss', () => {
    for (const crops of [2, 4]) {
      const c: Case = { ...base, crops, b: 3, k: 7, seed: 11 + crops };
      const { s, t, ctr } = inputs(c);
      const [fd] = refGradFD((xs) => [dinoLossRef(xs[0], t, ctr, c)], [toF64(s)], [1]);
      expectClose(dinoLossBackwardRef(s, t, ctr, c), fd, { rel: 1e-7, what: `ref dS vs FD, V ${crops}` });
    }
  });
});

describe('DINO loss on the GPU (float64 reference)', () => {
  it('planner picks: K = 65537 (V 4, B 3), V 12 (2 + 10 local), V 2, tiny K', async () => {
    await check({ ...base, crops: 4, b: 3, k: 65537, seed: 1 });
    await check({ ...base, crops: 12, b: 3, k: 1001, tauT: 0.06, seed: 2 });
    await check({ ...base, crops: 2, b: 1, k: 5, seed: 3 });
    await check({ ...base, crops: 3, b: 5, k: 1, seed: 4 });
  });

  for (const version of DINO_LOSS_VERSIONS) {
    for (const wg of version === 1 ? [1, 8, 64] : version === 2 ? [1, 16, 64, 256] : [8, 16]) {
      it(`v${version} wg ${wg} forced`, async () => {
        await check({ ...base, crops: 12, b: 3, k: 257, seed: 5 + wg }, { version, wg });
        await check({ ...base, crops: 16, b: 2, k: 33, seed: 7 + wg }, { version, wg });
        await check({ ...base, crops: 4, b: 2, k: 4099, tauT: 0.07, seed: 6 }, { version, wg });
      });
    }
  }

  it('K = 65537 with every version', async () => {
    for (const version of DINO_LOSS_VERSIONS) await check({ ...base, crops: 3, b: 3, k: 65537, seed: 9 }, { version });
  });

  it('logits with a large common offset (1e3) stay accurate', async () => {
    const c: Case = { ...base, crops: 4, b: 2, k: 1001, seed: 21 };
    const { s, t, ctr } = inputs(c);
    const s2 = s.map((v) => v + 1000);
    const S = Tensor.fromArray(s2, [8, 1001]);
    const T = Tensor.fromArray(t, [4, 1001]);
    const C = Tensor.fromArray(ctr, [1001]);
    for (const version of DINO_LOSS_VERSIONS) {
      const r = dinoLoss(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 4, version });
      expectClose([await r.loss.item()], [dinoLossRef(s2, t, ctr, c)], { rel: 1e-5, what: `offset loss v${version}` });
      expectClose(await r.gradStudent!.toArray(), dinoLossBackwardRef(s2, t, ctr, c), { rel: 1e-4, what: `offset dS v${version}` });
      for (const x of [r.loss, r.gradStudent!, r.newCenter]) x.dispose();
    }
    for (const x of [S, T, C]) x.dispose();
  });

  it('plans: a workgroup per row on GPUs, a workgroup per batch item over all crops on CPUs', () => {
    expect(planDinoLoss(12, 32, 65536, 'gpu').student).toEqual({ version: 2, wg: 256 });
    expect(planDinoLoss(12, 32, 65536, 'lavapipe').student.version).toBe(3);
    expect(planDinoLoss(17, 32, 65536, 'lavapipe').student.version).toBe(2);
  });

  it('more crops than v3 holds (17): the planner falls back, forcing v3 is an error', async () => {
    await check({ ...base, crops: 17, b: 2, k: 129, seed: 41 });
    const S = Tensor.fromArray(randomArray(17 * 4, 1), [17, 4]);
    const T = Tensor.fromArray(randomArray(2 * 4, 2), [2, 4]);
    const C = Tensor.fromArray(randomArray(4, 3), [4]);
    expect(() => dinoLoss(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 17, version: 3 })).toThrow(/at most 16 crops/);
    for (const x of [S, T, C]) x.dispose();
  });

  it('rejects shapes that are not V crops of the teacher batch', () => {
    const S = Tensor.fromArray(randomArray(10 * 4, 1), [10, 4]);
    const T = Tensor.fromArray(randomArray(4 * 4, 2), [4, 4]);
    const C = Tensor.fromArray(randomArray(4, 3), [4]);
    expect(() => dinoLoss(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 4 })).toThrow(/crops/);
    expect(() => dinoLoss(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 2 })).toThrow(/teacher must be/);
    for (const x of [S, T, C]) x.dispose();
  });
});

interface Fixture {
  meta: { momentum: number; cases: { name: string; crops: number; B: number; K: number; tau_s: number; tau_t: number }[] };
  tensors: Record<string, { shape: number[]; data: number[] }>;
}

describe('DINO loss vs PyTorch (test/fixtures/dino-loss.json)', () => {
  const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'dino-loss.json'), 'utf8')) as Fixture;
  for (const c of fx.meta.cases) {
    it(`case ${c.name}: V ${c.crops} B ${c.B} K ${c.K} τt ${c.tau_t}`, async () => {
      const f = (n: string) => Float32Array.from(fx.tensors[`${c.name}.${n}`].data);
      const S = Tensor.fromArray(f('student'), [c.crops * c.B, c.K]);
      const T = Tensor.fromArray(f('teacher'), [2 * c.B, c.K]);
      const C = Tensor.fromArray(f('center'), [c.K]);
      for (const version of DINO_LOSS_VERSIONS) {
        const r = dinoLoss(S, T, C, { tauS: c.tau_s, tauT: c.tau_t, nCrops: c.crops, centerMomentum: fx.meta.momentum, version });
        const what = `fixture ${c.name} v${version}`;
        expectClose([await r.loss.item()], fx.tensors[`${c.name}.loss`].data, { rel: 1e-5, what: `${what} loss` });
        expectClose(await r.gradStudent!.toArray(), fx.tensors[`${c.name}.grad_student`].data, { rel: 1e-4, what: `${what} dS` });
        expectClose(await r.newCenter.toArray(), fx.tensors[`${c.name}.new_center`].data, { rel: 1e-6, what: `${what} center` });
        for (const x of [r.loss, r.gradStudent!, r.newCenter]) x.dispose();
      }
      for (const x of [S, T, C]) x.dispose();
    });
  }
});

describe('DINO loss autograd op', () => {
  it('backward scales the saved dL/dS by the upstream gradient; no_grad saves nothing', async () => {
    const c: Case = { ...base, crops: 4, b: 3, k: 129, seed: 31 };
    const { s, t, ctr } = inputs(c);
    const S = Tensor.fromArray(s, [12, 129]);
    S.requiresGrad = true;
    const T = Tensor.fromArray(t, [6, 129]);
    const C = Tensor.fromArray(ctr, [129]);
    const { loss, newCenter } = dinoLossOp(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 4 });
    const y = mulScalar(loss, 3);
    backward(y);
    const want = dinoLossBackwardRef(s, t, ctr, c).map((v) => 3 * v);
    expectClose(await S.grad!.toArray(), want, { rel: 1e-4, what: 'autograd dS × 3' });
    expectClose(await newCenter.toArray(), dinoCenterRef(t, ctr, c), { rel: 1e-6, what: 'autograd center' });
    const before = rt.counters.bytesLive;
    const r2 = noGrad(() => dinoLossOp(S, T, C, { tauS: 0.1, tauT: 0.04, nCrops: 4 }));
    expectClose([await r2.loss.item()], [dinoLossRef(s, t, ctr, c)], { rel: 1e-5, what: 'no_grad loss' });
    r2.loss.dispose();
    r2.newCenter.dispose();
    expect(rt.counters.bytesLive).toBe(before);
    for (const x of [S, T, C, loss, y, newCenter]) x.dispose();
  });
});

describe('dino-loss.wgsl header', () => {
  it('its table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('dino-loss', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| ([a-z]\w+)\s+\|/gm)].map((m) => m[1]).filter((r) => r !== 'entry').sort();
    expect(rows).toEqual(entries);
  });
});
