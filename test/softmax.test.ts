import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { transpose } from '../src/autograd/view-ops.js';
import { softmaxForward, logSoftmaxForward, planSoftmax, SOFTMAX_VERSIONS, type SoftmaxOpts } from '../src/kernels/softmax.js';
import { softmaxRef, logSoftmaxRef } from './reference/softmax.js';
import source from '../shaders/softmax.wgsl';
import { reflectShader } from '../src/kernels/shader-reflection.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

// Inputs span [-30, 30): without the max subtraction exp(30 / 0.5) overflows.
async function check(log: boolean, shape: number[], t: number, opts: SoftmaxOpts, seed: number): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = shape[shape.length - 1];
  const xs = randomArray(n, seed, -30, 30);
  const x = Tensor.fromArray(xs, shape);
  const y = (log ? logSoftmaxForward : softmaxForward)(x, { temperature: t, ...opts });
  expect(y.shape).toEqual(shape);
  const want = (log ? logSoftmaxRef : softmaxRef)(xs, n / d, d, t);
  expectClose(await y.toArray(), want, { rel: 1e-5, what: `${log ? 'log' : ''}softmax x(${shape}) T ${t} ${JSON.stringify(opts)}` });
  x.dispose();
  y.dispose();
}

const SHAPES: number[][] = [[1, 1], [7, 3], [3, 17], [65, 15], [5, 65], [3, 785], [2, 4099], [2, 65537], [2, 3, 5, 33]];

for (const log of [false, true]) {
  const name = log ? 'log-softmax' : 'softmax';
  describe(`${name} over the last axis (float64 reference)`, () => {
    it('planner picks, T = 1 and T = 0.5', async () => {
      for (const shape of SHAPES) for (const t of [1, 0.5]) await check(log, shape, t, {}, shape.length * 100 + shape[shape.length - 1]);
    });

    for (const version of SOFTMAX_VERSIONS) {
      for (const wg of version === 1 ? [8, 64] : version === 2 ? [64, 256] : [8, 64, 256]) {
        it(`v${version} wg ${wg} forced`, async () => {
          for (const shape of [[1, 1], [7, 3], [3, 17], [5, 65], [3, 785], [2, 4099]]) {
            await check(log, shape, 0.7, { version, wg }, 3 + shape[1]);
          }
          if (version > 1) await check(log, [2, 65537], 0.7, { version, wg }, 77);
        });
      }
    }
  });
}

describe('softmax: temperature, views, stability', () => {
  it('DINO teacher temperature 0.04 on logits in [-1.2, 1.2) (x / T up to 30)', async () => {
    const xs = randomArray(3 * 4099, 4, -1.2, 1.2);
    const x = Tensor.fromArray(xs, [3, 4099]);
    for (const version of SOFTMAX_VERSIONS) {
      const y = softmaxForward(x, { temperature: 0.04, version });
      expectClose(await y.toArray(), softmaxRef(xs, 3, 4099, 0.04), { rel: 1e-5, what: `T 0.04 v${version}` });
      y.dispose();
    }
    x.dispose();
  });

  it('huge logits (1e30) stay finite; rows sum to 1', async () => {
    const xs = randomArray(5 * 65, 8, -1, 1).map((v) => v * 1e30);
    const x = Tensor.fromArray(xs, [5, 65]);
    for (const version of SOFTMAX_VERSIONS) {
      const y = softmaxForward(x, { version });
      const out = await y.toArray();
      expectClose(out, softmaxRef(xs, 5, 65), { rel: 1e-5, what: `1e30 v${version}` });
      y.dispose();
    }
    x.dispose();
  });

  it('a transposed (strided) input matches its dense copy', async () => {
    const xs = randomArray(17 * 65, 5, -30, 30);
    const x = Tensor.fromArray(xs, [17, 65]);
    const xt = transpose(x); // (65, 17)
    const y = softmaxForward(xt);
    const dense: number[] = [];
    for (let j = 0; j < 65; j++) for (let i = 0; i < 17; i++) dense.push(xs[i * 65 + j]);
    expectClose(await y.toArray(), softmaxRef(dense, 65, 17), { rel: 1e-5, what: 'softmax of transpose' });
    for (const t of [x, xt, y]) t.dispose();
  });

  it('the planner: GPUs take v1 for short rows only; CPU adapters whenever rows are many', () => {
    expect(planSoftmax(4710, 3).version).toBe(1);
    expect(planSoftmax(4710, 785).version).not.toBe(1);
    expect(planSoftmax(64, 65536).version).not.toBe(1);
    expect(planSoftmax(4710, 785, 'lavapipe')).toEqual({ version: 1, wg: 8 });
    expect(planSoftmax(64, 65536, 'lavapipe').version).not.toBe(1);
  });

  it('errors: scalar input, bad temperature, unknown version', () => {
    const x = Tensor.fromArray([1, 2, 3], [3]);
    const s = Tensor.scalar(1);
    expect(() => softmaxForward(s)).toThrow(/x \(\) is a scalar/);
    expect(() => softmaxForward(x, { temperature: 0 })).toThrow(/temperature must be positive/);
    expect(() => softmaxForward(x, { version: 9 as 1 })).toThrow(/no version 9/);
    x.dispose();
    s.dispose();
  });
});

describe('softmax.wgsl header', () => {
  it('its version table lists exactly the entry points of the shader', () => {
    const entries = [...reflectShader('softmax', source).keys()].sort();
    const rows = [...source.matchAll(/^\/\/ \| (\w+_v\d+)\s+\|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(entries);
  });
});
