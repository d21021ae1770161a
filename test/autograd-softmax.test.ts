// Backward of softmax / log-softmax with temperature and of cross-entropy (src/autograd/ops/
// softmax-ops.ts, shaders/softmax.wgsl): each float64 reference backward against central
// differences of the float64 forward first, then GPU autograd against that reference on odd
// sizes with every backward version forced, then cross-entropy against PyTorch.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import { loadFixture } from './helpers/fixtures.js';
import * as A from '../src/autograd/index.js';
import { Tensor, backward, scope } from '../src/autograd/index.js';
import { planSoftmaxBackward, SOFTMAX_BACKWARD_VERSIONS, type SoftmaxBackwardVersion } from '../src/kernels/softmax.js';
import {
  softmaxRef, logSoftmaxRef, softmaxBackwardRef, logSoftmaxBackwardRef, crossEntropyRef, crossEntropyBackwardRef,
  type CrossEntropyRefOpts,
} from './reference/softmax.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

const FWD = { softmax: softmaxRef, logSoftmax: logSoftmaxRef };
const BWD = { softmax: softmaxBackwardRef, logSoftmax: logSoftmaxBackwardRef };
type Kind = keyof typeof FWD;
const KINDS: Kind[] = ['softmax', 'logSoftmax'];

describe('reference backward vs finite differences of the reference forward', () => {
  it('softmax and log-softmax, T = 1, 0.5 and 0.04 (DINO teacher)', () => {
    for (const kind of KINDS) {
      for (const [t, lo, hi] of [[1, -4, 4], [0.5, -4, 4], [0.04, -0.2, 0.2]]) {
        const x = toF64(randomArray(3 * 17, 11, lo, hi));
        const w = randomArray(3 * 17, 12);
        const fd = refGradFD((xs) => FWD[kind](xs[0], 3, 17, t), [x], w);
        expectClose(BWD[kind](x, w, 3, 17, t), fd[0], { rel: 1e-6, what: `${kind} T ${t}` });
      }
    }
  });

  it('cross-entropy: mean, sum, none, with class weights', () => {
    const b = 7;
    const c = 5;
    const labels = [0, 4, 2, 2, 1, 4, 3];
    const weight = [0.5, 1.5, 1, 2, 0.25];
    for (const opts of [{}, { reduction: 'sum' }, { weight }, { reduction: 'sum', weight }, { reduction: 'none', weight }] as CrossEntropyRefOpts[]) {
      const x = toF64(randomArray(b * c, 13, -3, 3));
      const w = opts.reduction === 'none' ? randomArray(b, 14) : [1];
      const fd = refGradFD((xs) => crossEntropyRef(xs[0], labels, b, c, opts), [x], w);
      expectClose(crossEntropyBackwardRef(x, labels, w, b, c, opts), fd[0], { rel: 1e-6, what: `cross-entropy ${JSON.stringify(opts)}` });
    }
  });
});

// Odd sizes: rows 1, 3, 17, 785 (ViT tokens) by widths 1, 17, 384, 385.
const ROWS = [1, 3, 17, 785];
const WIDTHS = [1, 17, 384, 385];

async function checkGpu(kind: Kind, rows: number, d: number, t: number, version: SoftmaxBackwardVersion | undefined, seed: number): Promise<void> {
  const xs = randomArray(rows * d, seed, -4, 4); // logits wider than [-1, 1): x / T up to 8
  const w = randomArray(rows * d, seed + 1);
  const what = `${kind} x(${rows},${d}) T ${t} v${version ?? 'plan'}`;
  const bwd = version ? { version } : {};
  const { out, grads } = await gpuGrads(([x]) => A[kind](x, -1, t, { bwd }), [{ data: xs, shape: [rows, d] }], w);
  expectClose(out, FWD[kind](xs, rows, d, t), { rel: 1e-5, what: `${what} forward` });
  expectClose(grads[0]!, BWD[kind](xs, w, rows, d, t), { rel: 1e-4, what: `${what} dx` });
}

describe('GPU backward vs the reference backward', () => {
  for (const kind of KINDS) {
    it(`${kind}: planner picks, every size`, async () => {
      for (const rows of ROWS) for (const d of WIDTHS) await checkGpu(kind, rows, d, 0.5, undefined, rows * 1000 + d);
    });
    for (const version of SOFTMAX_BACKWARD_VERSIONS) {
      it(`${kind}: v${version} forced, every size, T = 1 and 0.25`, async () => {
        for (const rows of ROWS) for (const d of WIDTHS) await checkGpu(kind, rows, d, rows === 17 ? 0.25 : 1, version, rows + d);
      });
    }
  }

  it('every workgroup size the planner can pick, and a long row (4099)', async () => {
    for (const kind of KINDS) {
      for (const [version, wg] of [[1, 8], [1, 64], [2, 8], [2, 64], [2, 256]] as [SoftmaxBackwardVersion, number][]) {
        const xs = randomArray(3 * 4099, wg + version, -4, 4);
        const w = randomArray(3 * 4099, 5);
        const { grads } = await gpuGrads(([x]) => A[kind](x, -1, 0.7, { bwd: { version, wg } }), [{ data: xs, shape: [3, 4099] }], w);
        expectClose(grads[0]!, BWD[kind](xs, w, 3, 4099, 0.7), { rel: 1e-4, what: `${kind} (3,4099) v${version} wg ${wg}` });
      }
    }
  });

  it('another axis (dim 0 of (17, 5), dim 1 of (3, 5, 7)): transposed there and back', async () => {
    // Reference: move the axis last in JS, apply the row reference, move it back.
    const moveLast = (a: ArrayLike<number>, shape: number[], dim: number, back = false) => {
      const outer = shape.slice(0, dim).reduce((p, q) => p * q, 1);
      const r = shape[dim];
      const inner = shape.slice(dim + 1).reduce((p, q) => p * q, 1);
      const out = new Float64Array(a.length);
      for (let o = 0; o < outer; o++) {
        for (let k = 0; k < r; k++) {
          for (let i = 0; i < inner; i++) {
            const src = (o * r + k) * inner + i; // (outer, R, inner)
            const dst = (o * inner + i) * r + k; // (outer, inner, R)
            if (back) out[src] = a[dst];
            else out[dst] = a[src];
          }
        }
      }
      return out;
    };
    for (const kind of KINDS) {
      for (const [shape, dim] of [[[17, 5], 0], [[3, 5, 7], 1]] as [number[], number][]) {
        const n = shape.reduce((p, q) => p * q, 1);
        const r = shape[dim];
        const xs = randomArray(n, n, -4, 4);
        const w = randomArray(n, n + 1);
        const { out, grads } = await gpuGrads(([x]) => A[kind](x, dim, 0.5), [{ data: xs, shape }], w);
        const want = moveLast(FWD[kind](moveLast(xs, shape, dim), n / r, r, 0.5), shape, dim, true);
        const wantDx = moveLast(BWD[kind](moveLast(xs, shape, dim), moveLast(w, shape, dim), n / r, r, 0.5), shape, dim, true);
        expectClose(out, want, { rel: 1e-5, what: `${kind} (${shape}) dim ${dim} forward` });
        expectClose(grads[0]!, wantDx, { rel: 1e-4, what: `${kind} (${shape}) dim ${dim} dx` });
      }
    }
  });

  it('the planner: thread per row for short rows, and on CPU adapters when rows are many', () => {
    expect(planSoftmaxBackward(4710, 3).version).toBe(1);
    expect(planSoftmaxBackward(4710, 785)).toEqual({ version: 2, wg: 64 });
    expect(planSoftmaxBackward(64, 65536)).toEqual({ version: 2, wg: 256 });
    expect(planSoftmaxBackward(4710, 785, 'lavapipe').version).toBe(1);
    expect(planSoftmaxBackward(8, 4099, 'lavapipe').version).toBe(2);
  });
});

describe('cross-entropy', () => {
  const cases: [number, number, CrossEntropyRefOpts][] = [
    [1, 3, {}], [3, 17, { reduction: 'sum' }], [17, 1, {}], [785, 3, { weight: [0.2, 1, 3] }],
    [17, 385, { reduction: 'none' }], [3, 384, { reduction: 'sum', weight: randomArray(384, 9, 0.1, 2) }],
  ];
  it('GPU autograd vs the reference (B 1..785, C 1..385, weights, reductions)', async () => {
    for (const [b, c, opts] of cases) {
      const xs = randomArray(b * c, b + c, -4, 4);
      const labels = Array.from(randomArray(b, c, 0, c), (v) => Math.min(c - 1, Math.floor(v)));
      const g = opts.reduction === 'none' ? randomArray(b, 3) : Float32Array.of(0.75);
      const what = `cross-entropy (${b},${c}) ${JSON.stringify({ ...opts, weight: opts.weight ? 'w' : undefined })}`;
      const { out, grads } = await gpuGrads(([x]) => A.crossEntropy(x, labels, opts), [{ data: xs, shape: [b, c] }], g);
      expectClose(out, crossEntropyRef(xs, labels, b, c, opts), { rel: 1e-5, what: `${what} loss` });
      expectClose(grads[0]!, crossEntropyBackwardRef(xs, labels, g, b, c, opts), { rel: 1e-4, what: `${what} dlogits` });
    }
  });

  it('matches PyTorch F.cross_entropy (test/fixtures/cross-entropy.json)', async () => {
    const fx = loadFixture('cross-entropy');
    const cases2 = fx.meta.cases as { B: number; C: number; reduction: 'mean' | 'sum' | 'none'; weighted: boolean }[];
    expect(cases2.length).toBeGreaterThan(0);
    for (const [k, cs] of cases2.entries()) {
      const p = `case${k}.`;
      const labels = Array.from(fx.get(`${p}labels`).data);
      const opts = { reduction: cs.reduction, weight: cs.weighted ? fx.get(`${p}weight`).data : undefined };
      const g = cs.reduction === 'none' ? fx.get(`${p}grad_out`).data : Float32Array.of(1);
      const { out, grads } = await gpuGrads(([x]) => A.crossEntropy(x, labels, opts), [{ data: fx.get(`${p}logits`).data, shape: [cs.B, cs.C] }], g);
      expectClose(out, fx.get(`${p}loss`).f64, { rel: 1e-5, what: `torch case ${k} loss` });
      expectClose(grads[0]!, fx.get(`${p}grad`).f64, { rel: 1e-4, what: `torch case ${k} grad` });
    }
  });

  it('returns a scalar; bad labels, shapes and reductions name the problem', () => {
    const x = Tensor.fromArray(randomArray(6, 1), [2, 3]);
    const y = A.crossEntropy(x, [0, 2]);
    expect(y.shape).toEqual([]);
    expect(() => A.crossEntropy(x, [0, 3])).toThrow(/label 3 of row 1 is not a class index in \[0, 3\)/);
    expect(() => A.crossEntropy(x, [0, 1.5])).toThrow(/label 1.5/);
    expect(() => A.crossEntropy(x, [0])).toThrow(/1 labels for 2 rows/);
    expect(() => A.crossEntropy(x, [0, 1], { weight: [1, 1] })).toThrow(/2 class weights for 3 classes/);
    expect(() => A.crossEntropy(x, [0, 1], { reduction: 'avg' as 'sum' })).toThrow(/unknown reduction 'avg'/);
    const x3 = Tensor.fromArray(randomArray(6, 1), [1, 2, 3]);
    expect(() => A.crossEntropy(x3, [0])).toThrow(/must be \(B, C\)/);
    for (const t of [x, y, x3]) t.dispose();
  });
});

describe('lifetimes', () => {
  it('backward frees every saved tensor (softmax, log-softmax on another axis, cross-entropy)', async () => {
    const live0 = rt.counters.bytesLive;
    const x = Tensor.fromArray(randomArray(17 * 5, 2, -4, 4), [17, 5]);
    x.requiresGrad = true;
    const loss = scope(() => A.sum(A.add(A.crossEntropy(A.softmax(x, -1, 0.5), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]), A.sum(A.logSoftmax(x, 0, 2)))));
    backward(loss);
    expect((await x.grad!.toArray()).every(Number.isFinite)).toBe(true);
    loss.dispose();
    x.dispose();
    expect(rt.counters.bytesLive).toBe(live0);
  });
});
