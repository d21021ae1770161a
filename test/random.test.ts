import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { gpuGrads } from './helpers/gradcheck.js';
import { Tensor, dropout, dropPath } from '../src/autograd/index.js';
import { uniformFill, hostUniform } from '../src/kernels/random.js';
import { dropoutRef, dropPathRef } from './reference/random.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

describe('counter-based GPU RNG', () => {
  it('matches the host generator bit for bit, and looks uniform', async () => {
    const n = 100_003;
    const y = uniformFill([n], 1234, 7);
    const v = await y.toArray();
    for (let i = 0; i < n; i += 997) expect(v[i]).toBe(hostUniform(1234, 7, i));
    let mean = 0;
    let below = 0;
    for (const x of v) {
      mean += x;
      if (x < 0.1) below++;
      expect(x >= 0 && x < 1).toBe(true);
    }
    mean /= n;
    // Mean of U(0,1) over 1e5 draws: sd 0.0009; 5 sd bounds.
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.0046);
    expect(Math.abs(below / n - 0.1)).toBeLessThan(0.005);
    // Different streams differ.
    const z = uniformFill([16], 1234, 8);
    expect(Array.from(await z.toArray())).not.toEqual(Array.from(v.slice(0, 16)));
    y.dispose();
    z.dispose();
  });
});

describe('dropout and drop-path', () => {
  it('forward matches the reference mask; backward applies the same mask', async () => {
    const shape = [5, 7, 3];
    const x = randomArray(105, 2);
    const w = randomArray(105, 3);
    const key = { seed: 99, stream: 4 };
    const d = await gpuGrads(([t]) => dropout(t, 0.3, key), [{ data: x, shape }], w);
    expectClose(d.out, dropoutRef(x, 0.3, 99, 4), { rel: 1e-6, what: 'dropout forward' });
    expectClose(d.grads[0]!, dropoutRef(w, 0.3, 99, 4), { rel: 1e-6, what: 'dropout backward' });
    const dp = await gpuGrads(([t]) => dropPath(t, 0.4, key), [{ data: x, shape }], w);
    expectClose(dp.out, dropPathRef(x, 21, 0.4, 99, 4), { rel: 1e-6, what: 'drop-path forward' });
    expectClose(dp.grads[0]!, dropPathRef(w, 21, 0.4, 99, 4), { rel: 1e-6, what: 'drop-path backward' });
    // Whole samples are kept or dropped.
    for (let r = 0; r < 5; r++) {
      const row = Array.from(dp.out.slice(r * 21, r * 21 + 21));
      const zeros = row.filter((v) => v === 0).length;
      expect(zeros === 0 || zeros === 21).toBe(true);
    }
  });

  it('drops close to a fraction p and preserves the mean', async () => {
    const n = 50_000;
    const x = Tensor.fromArray(new Float32Array(n).fill(1));
    const y = dropout(x, 0.25, { seed: 5, stream: 1 });
    const v = await y.toArray();
    const dropped = v.filter((e) => e === 0).length / n;
    expect(Math.abs(dropped - 0.25)).toBeLessThan(0.01);
    const mean = v.reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(mean - 1)).toBeLessThan(0.015);
    expect(() => dropout(x, 1, { seed: 1, stream: 1 })).toThrow(/p = 1 must be in \[0, 1\)/);
    x.dispose();
    y.dispose();
  });
});

describe('dropout layers', () => {
  it('p = 0 and eval mode are identities that still pass gradients', async () => {
    const { Dropout, DropPath } = await import('../src/models/layers.js');
    const x = randomArray(12, 5);
    const w = randomArray(12, 6);
    for (const layer of [new Dropout(0.5).eval(), new DropPath(0.5).eval(), new Dropout(0)]) {
      const r = await gpuGrads(([t]) => layer.forward(t, { seed: 1, stream: 1 }), [{ data: x, shape: [3, 4] }], w);
      expectClose(r.out, x, { rel: 0, atol: 0, elemRel: 0 });
      expectClose(r.grads[0]!, w, { rel: 0, atol: 0, elemRel: 0 });
    }
  });
});
