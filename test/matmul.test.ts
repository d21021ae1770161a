import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Tensor } from '../src/autograd/tensor.js';
import { transpose } from '../src/autograd/view-ops.js';
import {
  matmul, tuneMatmul, chooseVersion, matmulProblem, ineligible, withoutSubgroups, subgroupSize,
  MATMUL_VERSIONS, type MatmulVersion, type MatmulOptions,
} from '../src/kernels/matmul.js';
import { autotunerFor, type TuneStore } from '../src/kernels/autotune.js';
import { matmulRef, type MatmulRefOpts } from './reference/matmul.js';
import type { Runtime } from '../src/kernels/runtime.js';
import source from '../shaders/matmul.wgsl';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true; // every output starts as NaN: an unwritten element fails the comparison
});

interface Case {
  M: number; N: number; K: number;
  aBatch?: number; bBatch?: number; lead?: number[];
  transA?: boolean; transB?: boolean;
  bias?: boolean; gelu?: boolean; residual?: boolean; alpha?: number;
}

let seed = 1;
/** Run one case on the GPU and against the float64 reference. */
async function check(version: MatmulVersion | undefined, c: Case): Promise<void> {
  const { M, N, K, transA = false, transB = false } = c;
  const aBatch = c.aBatch ?? 1;
  const bBatch = c.bBatch ?? 1;
  const batch = Math.max(aBatch, bBatch);
  const av = randomArray(aBatch * M * K, seed++);
  const bv = randomArray(bBatch * K * N, seed++);
  const lead = (n: number) => (c.lead && n > 1 ? c.lead : n > 1 ? [n] : []);
  const a = Tensor.fromArray(av, [...lead(aBatch), ...(transA ? [K, M] : [M, K])]);
  const b = Tensor.fromArray(bv, [...lead(bBatch), ...(transB ? [N, K] : [K, N])]);
  const ref: MatmulRefOpts = { transA, transB, gelu: c.gelu, alpha: c.alpha };
  const opts: MatmulOptions = { transA, transB, gelu: c.gelu, alpha: c.alpha, version };
  const extra: Tensor[] = [];
  if (c.bias) {
    ref.bias = randomArray(N, seed++);
    opts.bias = Tensor.fromArray(ref.bias, [N]);
    extra.push(opts.bias);
  }
  if (c.residual) {
    ref.residual = randomArray(batch * M * N, seed++);
    opts.residual = Tensor.fromArray(ref.residual, [...lead(batch), M, N]);
    extra.push(opts.residual);
  }
  const y = matmul(a, b, opts);
  expect(y.shape).toEqual([...lead(batch), M, N]);
  const want = matmulRef(av, aBatch, bv, bBatch, M, N, K, ref);
  const tag = `${version ?? 'auto'} ${JSON.stringify(c)}`;
  expectClose(await y.toArray(), want, { rel: 1e-4, what: tag });
  for (const t of [a, b, y, ...extra]) t.dispose();
}

const layouts: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];
const lname = ([ta, tb]: [boolean, boolean]) => `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;

// Sizes off every tile (1, 3, 17, 65, 127, ...); v5 needs K % 4 == 0 (and M or N % 4 for some layouts).
const oddSizes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 65, 3], [65, 17, 127], [127, 33, 64], [33, 127, 65]];
const vec4Sizes: [number, number, number][] = [[4, 4, 4], [12, 20, 36], [68, 36, 132], [36, 132, 68]];

function sizesFor(v: MatmulVersion, [ta, tb]: [boolean, boolean]): [number, number, number][] {
  if (v !== 'v5') return oddSizes;
  // Odd M (N) where the layout allows it: NT needs only K % 4.
  const odd: [number, number, number][] = ta ? [] : tb ? [[17, 65, 8], [65, 3, 132]] : [[17, 8, 12]];
  return [...vec4Sizes, ...odd, ...(ta && tb ? [[8, 17, 12] as [number, number, number]] : [])];
}

function available(v: MatmulVersion): boolean {
  return !((v === 'v4' || v === 'v5') && subgroupSize(rt) === null);
}

describe('matmul: every version and layout against the float64 reference', () => {
  for (const v of MATMUL_VERSIONS) {
    for (const l of layouts) {
      it(`${v} ${lname(l)}`, async () => {
        if (!available(v)) return;
        for (const [M, N, K] of sizesFor(v, l)) await check(v, { M, N, K, transA: l[0], transB: l[1] });
      });
    }
  }
});

describe('matmul: fused epilogue combinations', () => {
  const combos = [
    { bias: true }, { gelu: true }, { residual: true }, { bias: true, gelu: true },
    { bias: true, residual: true }, { bias: true, gelu: true, residual: true }, { alpha: 0.125 },
    { alpha: -0.5, bias: true, gelu: true, residual: true },
  ];
  for (const v of MATMUL_VERSIONS) {
    it(`${v}: bias / gelu / residual / alpha`, async () => {
      if (!available(v)) return;
      for (const e of combos) {
        await check(v, { M: 17, N: 36, K: 20, transB: true, ...e });
        await check(v, { M: 17, N: 37, K: 20, transB: true, ...e }); // v5: the scalar epilogue
        await check(v, { M: 20, N: 12, K: 8, ...e });
      }
    });
  }
  it('v5 takes the vec4 epilogue exactly when N % 4 == 0', async () => {
    if (!available('v5')) return;
    const entries = async (N: number) => {
      const a = Tensor.fromArray(new Float32Array(9 * 8).fill(0.5), [9, 8]);
      const b = Tensor.fromArray(new Float32Array(N * 8).fill(0.25), [N, 8]);
      rt.startProfile();
      const y = matmul(a, b, { transB: true, version: 'v5' });
      const { kernels } = await rt.stopProfile();
      for (const t of [a, b, y]) t.dispose();
      return kernels.map((k) => k.kernel);
    };
    expect(await entries(12)).toEqual(['matmul/matmul_v5_y4']);
    expect(await entries(13)).toEqual(['matmul/matmul_v5']);
  });
  it('gelu tails: large negative and positive pre-activations', async () => {
    // alpha = 40 pushes |x| to ~10-40 where 1 + erf would cancel: erfc keeps it exact.
    for (const v of MATMUL_VERSIONS.filter(available)) await check(v, { M: 9, N: 12, K: 16, transB: true, gelu: true, alpha: 40 });
  });
});

describe('matmul: batches and broadcasting', () => {
  for (const v of MATMUL_VERSIONS) {
    it(`${v}: batched, batch-1 A, batch-1 B, 4-D leading dims`, async () => {
      if (!available(v)) return;
      const base = { M: 17, N: 12, K: 24, transB: true };
      await check(v, { ...base, aBatch: 3, bBatch: 3 });
      await check(v, { ...base, aBatch: 1, bBatch: 3, residual: true });
      await check(v, { ...base, aBatch: 3, bBatch: 1, bias: true });
      await check(v, { ...base, transB: false, transA: true, M: 12, aBatch: 6, bBatch: 6, lead: [2, 3] });
    });
  }
  it('attention-like: (B*H, N, Dh) x (B*H, N, Dh)^T then P @ V, every version', async () => {
    for (const v of MATMUL_VERSIONS.filter(available)) {
      await check(v, { M: 65, N: 65, K: 64, aBatch: 2, bBatch: 2, transB: true, alpha: 0.125 });
      if (v !== 'v5') await check(v, { M: 65, N: 64, K: 65, aBatch: 2, bBatch: 2 }); // K % 4 != 0
    }
  });
});

describe('matmul: long K and ViT-sized edges (rel 1e-4 at K <= 1536)', () => {
  for (const v of MATMUL_VERSIONS) {
    it(`${v}: K = 1536 and 785 rows`, async () => {
      if (!available(v)) return;
      await check(v, { M: 33, N: 40, K: 1536, transB: true, bias: true, residual: true });
      await check(v, { M: 785, N: 36, K: 384, transB: true, bias: true, gelu: true });
      await check(v, { M: 40, N: 785, K: 64, transB: true }); // scores-like: N = 785
    });
  }
});

describe('matmul: inputs, choice of version, errors', () => {
  it('non-contiguous operands are made contiguous (a transposed view)', async () => {
    const av = randomArray(17 * 24, 901);
    const bv = randomArray(24 * 12, 902);
    const at = Tensor.fromArray(av, [24, 17]);
    const a = transpose(at); // (17, 24) view of a (24, 17) storage
    const b = Tensor.fromArray(bv, [24, 12]);
    const y = matmul(a, b);
    const ref = matmulRef(av, 1, bv, 1, 17, 12, 24, { transA: true });
    expectClose(await y.toArray(), ref, { rel: 1e-4, what: 'transposed view' });
    for (const t of [at, a, b, y]) t.dispose();
  });

  it('picks a default version per adapter family, and v5 only where it is eligible', () => {
    const pr = matmulProblem([785, 384], [1152, 384], { transB: true });
    const v = chooseVersion(rt, pr);
    expect(MATMUL_VERSIONS).toContain(v);
    if (rt.adapter.family === 'lavapipe') expect(v).toBe('v5');
    const odd = matmulProblem([785, 385], [1152, 385], { transB: true });
    // On adapters whose subgroups are not 4 or 8 wide (NVIDIA: 32), v5 is out for that reason first.
    expect(ineligible('v5', rt, odd)).toMatch(/K % 4|subgroups of a fixed size/);
    expect(chooseVersion(rt, odd)).not.toBe('v5');
  });

  it('autotunes a shape class once, uses the choice, and saves it to an injected store', async () => {
    const saved: Record<string, string>[] = [];
    const store: TuneStore = { load: () => ({}), save: (e) => void saved.push(e) };
    await autotunerFor(rt).useStore(store);
    const a = Tensor.fromArray(randomArray(40 * 32, 7), [40, 32]);
    const b = Tensor.fromArray(randomArray(24 * 32, 8), [24, 32]);
    const r = await tuneMatmul(a, b, { transB: true }, 1);
    expect(Object.keys(r.ms)).toContain(r.best);
    expect(chooseVersion(rt, matmulProblem(a.shape, b.shape, { transB: true }))).toBe(r.best);
    expect(Object.values(saved.at(-1)!)).toContain(r.best);
    for (const t of [a, b]) t.dispose();
  });

  it('K = 0: the product is zero and only the epilogue remains (as in PyTorch)', async () => {
    const a = Tensor.fromArray([], [3, 0]);
    const b = Tensor.fromArray([], [0, 5]);
    const bias = Tensor.fromArray([1, 2, 3, 4, 5], [5]);
    for (const v of MATMUL_VERSIONS.filter(available)) {
      if (ineligible(v, rt, matmulProblem(a.shape, b.shape))) continue;
      const y = matmul(a, b, { bias, version: v });
      expect(Array.from(await y.toArray())).toEqual([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
      y.dispose();
    }
    for (const t of [a, b, bias]) t.dispose();
  });

  it('raises errors that name the shapes', () => {
    const a = Tensor.fromArray(randomArray(6, 1), [2, 3]);
    const b = Tensor.fromArray(randomArray(8, 2), [4, 2]);
    const b3 = Tensor.fromArray(randomArray(24, 3), [2, 3, 4]);
    const a3 = Tensor.fromArray(randomArray(18, 4), [3, 2, 3]);
    const v = Tensor.fromArray(randomArray(3, 5), [3]);
    expect(() => matmul(a, b)).toThrow(/a\(2,3\) b\(4,2\): inner dimensions differ \(K = 3 for a, 4 for b\)/);
    expect(() => matmul(a3, b3)).toThrow(/a\(3,2,3\) b\(2,3,4\): batch dims \(3\) and \(2\) differ/);
    expect(() => matmul(a, v)).toThrow(/a\(2,3\) b\(3\): both operands need at least 2 dims/);
    const b34 = Tensor.fromArray(randomArray(12, 6), [3, 4]);
    expect(() => matmul(a, b34, { bias: v })).toThrow(/a\(2,3\) b\(3,4\): bias \(3\) must be \(4\)/);
    expect(() => matmul(a, b34, { residual: a })).toThrow(/residual \(2,3\) must have the output shape \(2,4\)/);
    expect(() => matmul(a, b34, { version: 'v5' })).toThrow(/a\(2,3\) b\(3,4\): version v5 needs/);
    for (const t of [a, b, b3, a3, v, b34]) t.dispose();
  });
});

describe('matmul.wgsl: header and source', () => {
  it('lists every version in the header table and defines its entry point', () => {
    for (const v of MATMUL_VERSIONS) {
      expect(source).toMatch(new RegExp(`^// \\| ${v}\\s+\\|`, 'm'));
      expect(source).toMatch(new RegExp(`fn matmul_${v}\\(`));
    }
  });

  it('the source without the subgroup section still compiles (devices without subgroups)', async () => {
    const cut = withoutSubgroups(source);
    expect(cut).not.toMatch(/^enable subgroups;|fn matmul_v[45]|subgroup_invocation_id/m);
    expect(cut).toMatch(/fn matmul_v3\(/);
    rt.device.pushErrorScope('validation');
    const module = rt.device.createShaderModule({ code: cut });
    for (const entry of ['matmul_v1', 'matmul_v2', 'matmul_v3']) {
      rt.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: entry } });
    }
    expect(await rt.device.popErrorScope()).toBeNull();
  });
});
