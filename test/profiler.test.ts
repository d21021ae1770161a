// The per-kernel profiler (Runtime.startProfile / stopProfile, src/kernels/profiler.ts): every
// dispatch is charged to its kernel exactly once, batches past the query set's size still add
// up, results are what they are without profiling, and misuse is a clear error.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { unary, binary } from '../src/kernels/elementwise.js';
import { matmul } from '../src/kernels/matmul.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

describe('per-kernel profile', () => {
  it('charges every dispatch to its kernel once and leaves the results unchanged', async () => {
    const a = Tensor.fromArray(randomArray(97 * 61, 1), [97, 61]);
    const b = Tensor.fromArray(randomArray(61 * 45, 2), [61, 45]);
    const run = () => {
      const y = matmul(a, b);
      const g = unary('gelu', y);
      const s = binary('add', g, y);
      y.dispose();
      g.dispose();
      return s;
    };
    const plain = run();
    const want = await plain.toArray();
    plain.dispose();

    const d0 = rt.counters.dispatches;
    const t0 = performance.now();
    rt.startProfile();
    const outs = [run(), run(), run()];
    const got = await outs[2].toArray(); // a readback mid-profile: its batch is charged too
    const { kernels, dropped } = await rt.stopProfile();
    const wall = performance.now() - t0;
    const dispatches = rt.counters.dispatches - d0;
    outs.forEach((t) => t.dispose());

    expect(Array.from(got)).toEqual(Array.from(want));
    expect(dropped).toBe(0);
    expect(kernels.reduce((n, k) => n + k.dispatches, 0)).toBe(dispatches);
    const names = kernels.map((k) => k.kernel);
    expect(new Set(names).size).toBe(names.length);
    const matmuls = kernels.filter((k) => k.kernel.startsWith('matmul/'));
    expect(matmuls.reduce((n, k) => n + k.dispatches, 0)).toBe(3);
    for (const k of kernels) {
      expect(k.ms).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(k.ms)).toBe(true);
    }
    // GPU time inside the passes cannot exceed the wall time around them.
    const total = kernels.reduce((s, k) => s + k.ms, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(wall);
    // Slowest first.
    for (let i = 1; i < kernels.length; i++) expect(kernels[i].ms).toBeLessThanOrEqual(kernels[i - 1].ms);
  });

  it('a batch of more dispatches than the query set holds is split, and every dispatch counted', async () => {
    const x = Tensor.fromArray(randomArray(33, 3), [33]);
    const d0 = rt.counters.dispatches;
    const s0 = rt.counters.submits;
    rt.startProfile({ shapes: true });
    let y = unary('neg', x);
    for (let i = 0; i < 1499; i++) {
      const z = unary('neg', y);
      y.dispose();
      y = z;
    }
    const got = await y.toArray(); // 1500 negations: -x
    const { kernels } = await rt.stopProfile();
    expect(rt.counters.submits - s0).toBeGreaterThanOrEqual(2);
    expect(kernels.reduce((n, k) => n + k.dispatches, 0)).toBe(rt.counters.dispatches - d0);
    expect(kernels.some((k) => k.kernel.includes('['))).toBe(true); // shapes in the names
    const xs = await x.toArray();
    expect(Array.from(got)).toEqual(Array.from(xs));
    x.dispose();
    y.dispose();
  });

  it('misuse is a clear error', async () => {
    await expect(rt.stopProfile()).rejects.toThrow(/no profile is running/);
    rt.startProfile();
    expect(() => rt.startProfile()).toThrow(/already running/);
    const r = await rt.stopProfile();
    expect(r.kernels).toEqual([]);
  });
});
