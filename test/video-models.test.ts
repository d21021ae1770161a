// Video models against PyTorch (scripts/make-fixtures-video.py → test/fixtures/video-models.json):
// MediVLAD with DualVLAD and with NetVLAD, the Bi-LSTM baseline (torch.nn.LSTM, bidirectional,
// batch_first) over 5 frames and over 1, and the max-score baseline. Parameters load by their
// PyTorch names; the logits, β and every gradient (input and parameters) of
// loss = sum(loss_weight * logits) are compared. Then the init rules (SPEC §4) and the
// class-mean centroids against float64 loops written here.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { loadFixture } from './helpers/fixtures.js';
import { randomArray } from './helpers/random.js';
import { Tensor, backward, noGrad } from '../src/autograd/index.js';
import { ParameterStore } from '../src/models/parameters.js';
import {
  createVideoModel, initCentroids, classMeanCentroids, type VideoModelConfig, type VideoClassifier,
} from '../src/models/video-models.js';

beforeAll(async () => {
  await gpu();
});

const fx = loadFixture('video-models');
type Meta = { B: number; S: number; D: number; C: number; K?: number; params: [string, number[]][] };
const meta = (tag: string) => fx.meta[tag] as Meta;

function shapesOf(model: VideoClassifier): [string, number[]][] {
  return model.namedParameters().map(([n, p]) => [n, [...p.shape]]);
}

/** The model with the fixture's parameters, loaded by name. */
function fromFixture(tag: string, cfg: VideoModelConfig): { model: VideoClassifier; store: ParameterStore } {
  const model = createVideoModel(cfg);
  expect(shapesOf(model), `${tag} parameter names and shapes`).toEqual(meta(tag).params);
  const store = new ParameterStore(model, { seed: 123 });
  store.loadValues(new Map(model.namedParameters().map(([n]) => [n, fx.get(`${tag}.param.${n}`).data])));
  return { model, store };
}

/** Forward + backward of sum(loss_weight * logits); compares logits, β (if given) and every gradient. */
async function checkAgainstTorch(tag: string, inputs: string, cfg: VideoModelConfig, opts: { zeroGrads?: string[] } = {}) {
  const { model, store } = fromFixture(tag, cfg);
  const xf = fx.get(`${inputs}.x`);
  const x = Tensor.fromArray(xf.data, xf.shape);
  x.requiresGrad = true;
  const lwf = fx.get(`${inputs}.loss_weight`);
  const lw = Tensor.fromArray(lwf.data, lwf.shape);
  const { logits, beta } = model.forward(x);
  expect(logits.shape).toEqual(lwf.shape);
  expectClose(await logits.toArray(), fx.get(`${tag}.logits`).data, { rel: 1e-5, what: `${tag} logits` });
  if (fx.has(`${tag}.beta`)) {
    expect(beta!.shape).toEqual([xf.shape[0], xf.shape[1]]);
    expectClose(await beta!.toArray(), fx.get(`${tag}.beta`).data, { rel: 1e-5, what: `${tag} beta` });
  } else expect(beta).toBeNull();
  backward(logits, lw);
  expectClose(await x.grad!.toArray(), fx.get(`${tag}.grad.x`).data, { rel: 1e-4, what: `${tag} grad x` });
  for (const [name, p] of model.namedParameters()) {
    const got = await p.t.grad!.toArray();
    const want = fx.get(`${tag}.grad.${name}`).data;
    if (opts.zeroGrads?.includes(name)) {
      // Exactly 0 in exact arithmetic (see the caller): bound the rounding left on the GPU.
      expect(Array.from(want)).toEqual(new Array(want.length).fill(0));
      for (const v of got) expect(Math.abs(v)).toBeLessThan(1e-6);
      continue;
    }
    expectClose(got, want, { rel: 1e-4, what: `${tag} grad ${name}` });
  }
  for (const t of [x, lw, logits, beta]) t?.dispose();
  store.dispose();
}

describe('video models vs PyTorch (test/fixtures/video-models.json)', () => {
  it('DualVLAD (MediVLAD): logits, β (softmax over frames) and every gradient', async () => {
    const m = meta('dualvlad');
    // vlad.w.0.bias shifts every frame's score alike; the softmax over frames ignores it.
    await checkAgainstTorch('dualvlad', 'vlad', { kind: 'dualvlad', dim: m.D, clusters: m.K, classes: m.C }, { zeroGrads: ['vlad.w.0.bias'] });
  });

  it('NetVLAD: logits, uniform β = 1/S and every gradient', async () => {
    const m = meta('netvlad');
    await checkAgainstTorch('netvlad', 'vlad', { kind: 'netvlad', dim: m.D, clusters: m.K, classes: m.C });
  });

  for (const tag of ['lstm', 'lstm1']) {
    it(`Bi-LSTM (${tag}: B ${meta(tag).B}, S ${meta(tag).S}, D = H ${meta(tag).D}): logits and every gradient`, async () => {
      const m = meta(tag);
      await checkAgainstTorch(tag, tag, { kind: 'lstm', dim: m.D, classes: m.C });
    });
  }

  it('max-score: the most severe frame\'s logits, its one-hot β and the gradients', async () => {
    const m = meta('max');
    expect(Array.from(fx.get('max.index').data)).not.toEqual([0, 0, 0]); // the fixture picks other frames too
    await checkAgainstTorch('max', 'max', { kind: 'max', dim: m.D, classes: m.C });
  });
});

describe('max-score ties', () => {
  it('picks the first of equally severe frames (torch argmax), without grad too', async () => {
    const D = 9;
    const C = 3;
    const model = createVideoModel({ kind: 'max', dim: D, classes: C, seed: 5 });
    const store = new ParameterStore(model);
    const state = await store.stateDict();
    const W = state.get('dense.0.weight')!.data;
    const b = state.get('dense.0.bias')!.data;
    const severity = (v: Float32Array) => {
      const l = Array.from({ length: C }, (_, c) => b[c] + v.reduce((s, x, j) => s + W[c * D + j] * x, 0));
      const mx = Math.max(...l);
      const e = l.map((z) => Math.exp(z - mx));
      const z = e.reduce((s, v2) => s + v2, 0);
      return e.reduce((s, v2, c) => s + (c * v2) / z, 0);
    };
    // Eight random frames; the most severe one goes to positions 1 and 3, two others to 0 and 2.
    const cands = Array.from({ length: 8 }, (_, i) => randomArray(D, 40 + i, -3, 3));
    cands.sort((p, q) => severity(q) - severity(p));
    expect(severity(cands[0]) - severity(cands[1])).toBeGreaterThan(1e-3);
    const frames = [cands[2], cands[0], cands[1], cands[0]];
    const same = [cands[4], cands[4], cands[4]];
    const x = Tensor.fromArray(Float32Array.from([...frames, ...same, cands[5]].flatMap((f) => Array.from(f))), [2, 4, D]);
    for (const grad of [true, false]) {
      const run = () => model.forward(x);
      const { logits, beta } = grad ? run() : noGrad(run);
      expect(Array.from(await beta!.toArray())).toEqual([0, 1, 0, 0, 1, 0, 0, 0]);
      const lg = await logits.toArray();
      const want = (v: Float32Array) => Array.from({ length: C }, (_, c) => b[c] + v.reduce((s, xv, j) => s + W[c * D + j] * xv, 0));
      expectClose(lg, [...want(cands[0]), ...want(cands[4])], { rel: 1e-5, what: 'tied max-score logits' });
      logits.dispose();
      beta!.dispose();
    }
    x.dispose();
    store.dispose();
  });
});

describe('parameters and init', () => {
  it('names and shapes at ViT-S size (D 384, K 3, C 3); DualVLAD has ~1.34 M parameters (SPEC §4)', () => {
    const dual = createVideoModel({ kind: 'dualvlad', dim: 384 });
    expect(shapesOf(dual)).toEqual([
      ['vlad.centroids', [3, 384]], ['vlad.conv.weight', [3, 384, 1, 1]], ['vlad.conv.bias', [3]],
      ['vlad.V.0.weight', [1152, 1152]], ['vlad.V.0.bias', [1152]], ['vlad.w.0.weight', [1, 1152]], ['vlad.w.0.bias', [1]],
      ['dense.0.weight', [3, 1152]], ['dense.0.bias', [3]],
    ]);
    expect(dual.numParameters()).toBe(1335175);
    expect(dual.config).toEqual({ kind: 'dualvlad', dim: 384, clusters: 3, classes: 3, alpha: 1, seed: 0 });
    expect(shapesOf(createVideoModel({ kind: 'netvlad', dim: 384 })).map(([n]) => n)).toEqual([
      'vlad.centroids', 'vlad.conv.weight', 'vlad.conv.bias', 'dense.0.weight', 'dense.0.bias',
    ]);
    const lstm = shapesOf(createVideoModel({ kind: 'lstm', dim: 384 }));
    expect(lstm.slice(0, 4)).toEqual([
      ['lstm.weight_ih_l0', [1536, 384]], ['lstm.weight_hh_l0', [1536, 384]], ['lstm.bias_ih_l0', [1536]], ['lstm.bias_hh_l0', [1536]],
    ]);
    expect(lstm.slice(4, 8).map(([n]) => n)).toEqual(['lstm.weight_ih_l0_reverse', 'lstm.weight_hh_l0_reverse', 'lstm.bias_ih_l0_reverse', 'lstm.bias_hh_l0_reverse']);
    expect(lstm.slice(8)).toEqual([['dense.0.weight', [3, 768]], ['dense.0.bias', [3]]]);
    expect(shapesOf(createVideoModel({ kind: 'max', dim: 384 }))).toEqual([['dense.0.weight', [3, 384]], ['dense.0.bias', [3]]]);
  });

  it('bad configs and inputs are errors naming the problem', () => {
    expect(() => createVideoModel({ kind: 'gru' as never, dim: 8 })).toThrow(/unknown kind 'gru'/);
    expect(() => createVideoModel({ kind: 'dualvlad', dim: 0 })).toThrow(/dim 0/);
    expect(() => createVideoModel({ kind: 'netvlad', dim: 8, clusters: 2.5 })).toThrow(/clusters 2.5/);
    const model = createVideoModel({ kind: 'netvlad', dim: 8 });
    const store = new ParameterStore(model);
    const x = Tensor.fromArray(randomArray(2 * 3 * 7, 1), [2, 3, 7]);
    expect(() => model.forward(x)).toThrow(/input x \(2,3,7\) must be \(B, S, D = 8\)/);
    expect(() => initCentroids(model, new Float32Array(5))).toThrow(/5 values, expected K·D = 3·8 = 24/);
    expect(() => initCentroids(createVideoModel({ kind: 'lstm', dim: 8 }), new Float32Array(24))).toThrow(/'lstm' model has no VLAD centroids/);
    x.dispose();
    store.dispose();
  });

  /** SPEC §4 in float64: conv.weight = 2α c, conv.bias = −α ‖c_k‖. */
  function expectConvFromCentroids(state: Map<string, { data: Float32Array }>, K: number, D: number, alpha: number, what: string) {
    const c = state.get('vlad.centroids')!.data;
    const w = state.get('vlad.conv.weight')!.data;
    const b = state.get('vlad.conv.bias')!.data;
    expectClose(w, Array.from(c, (v) => 2 * alpha * v), { rel: 1e-7, what: `${what} conv.weight = 2αc` });
    const norms = Array.from({ length: K }, (_, k) => Math.sqrt(c.subarray(k * D, (k + 1) * D).reduce((s, v) => s + v * v, 0)));
    expectClose(b, norms.map((n) => -alpha * n), { rel: 1e-6, what: `${what} conv.bias = −α‖c‖` });
  }

  it('default init: centroids U[0, 1), the conv from them; values depend on config.seed only', async () => {
    const K = 3;
    const D = 37;
    const read = async (seed: number, storeSeed: number) => {
      const model = createVideoModel({ kind: 'dualvlad', dim: D, alpha: 0.7, seed });
      const store = new ParameterStore(model, { seed: storeSeed });
      const s = await store.stateDict();
      store.dispose();
      return s;
    };
    const a = await read(1, 0);
    const c = a.get('vlad.centroids')!.data;
    expect(c.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Math.min(...c)).toBeLessThan(0.1);
    expect(Math.max(...c)).toBeGreaterThan(0.9);
    expectConvFromCentroids(a, K, D, 0.7, 'default');
    const bound = 1 / Math.sqrt(K * D); // PyTorch's default Linear init
    const V = a.get('vlad.V.0.weight')!.data;
    expect(V.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(Math.max(...V.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const sameSeed = await read(1, 99);
    for (const [n, v] of a) expect(Array.from(sameSeed.get(n)!.data), n).toEqual(Array.from(v.data));
    const other = await read(2, 0);
    expect(Array.from(other.get('vlad.centroids')!.data)).not.toEqual(Array.from(c));
  });

  it('initCentroids before and after the store materialises the model (α 0.5)', async () => {
    const K = 3;
    const D = 29;
    const cents = randomArray(K * D, 77, -0.5, 1.5);
    const before = createVideoModel({ kind: 'netvlad', dim: D, alpha: 0.5 });
    initCentroids(before, cents);
    const s1 = new ParameterStore(before);
    const after = createVideoModel({ kind: 'dualvlad', dim: D, alpha: 0.5, seed: 3 });
    const s2 = new ParameterStore(after);
    const keepV = (await s2.stateDict()).get('vlad.V.0.weight')!.data;
    initCentroids(after, cents);
    for (const [what, store] of [['before', s1], ['after', s2]] as const) {
      const st = await store.stateDict();
      expect(Array.from(st.get('vlad.centroids')!.data), what).toEqual(Array.from(cents));
      expectConvFromCentroids(st, K, D, 0.5, what);
    }
    expect(Array.from((await s2.stateDict()).get('vlad.V.0.weight')!.data)).toEqual(Array.from(keepV)); // the rest untouched
    s1.dispose();
    s2.dispose();
  });
});

describe('classMeanCentroids', () => {
  it('per-class means of L2-normalised rows, against a float64 loop', () => {
    const N = 11;
    const D = 7;
    const C = 3;
    const feats = randomArray(N * D, 5, -2, 2);
    feats.fill(0, 3 * D, 4 * D); // a zero row: normalised by max(‖x‖, 1e-12), so it adds zeros
    const labels = [0, 2, 1, 1, 0, 2, 2, 1, 0, 0, 2];
    const want = new Float64Array(C * D);
    for (let k = 0; k < C; k++) {
      const rows = labels.flatMap((y, i) => (y === k ? [i] : []));
      for (const i of rows) {
        const row = Array.from(feats.subarray(i * D, (i + 1) * D));
        const n = Math.hypot(...row) || 1; // the zero row stays zero
        row.forEach((v, j) => (want[k * D + j] += v / n / rows.length));
      }
    }
    expectClose(classMeanCentroids(feats, labels, D, C), want, { rel: 1e-6, what: 'class means' });
  });

  it('errors: an empty class is named, bad labels and sizes', () => {
    const feats = randomArray(4 * 3, 6);
    expect(() => classMeanCentroids(feats, [0, 2, 0, 2], 3, 3)).toThrow(/class 1 has no sample \(counts per class: 2, 0, 2\)/);
    expect(() => classMeanCentroids(feats, [0, 1, 3, 2], 3, 3)).toThrow(/label 3 of sample 2/);
    expect(() => classMeanCentroids(feats, [0, 1, 2], 3, 3)).toThrow(/12 values, expected 3 labels × dim 3 = 9/);
  });
});

describe('lifetimes', () => {
  it('a training step frees every intermediate and reads nothing back (LSTM: 2·S steps on the GPU)', async () => {
    const x = Tensor.fromArray(randomArray(3 * 6 * 10, 31), [3, 6, 10]);
    const g = Tensor.fromArray(randomArray(3 * 3, 32), [3, 3]);
    const rt = x.rt;
    for (const kind of ['dualvlad', 'netvlad', 'lstm', 'max'] as const) {
      const model = createVideoModel({ kind, dim: 10, seed: 2 });
      const store = new ParameterStore(model);
      const step = () => {
        const { logits, beta } = model.forward(x);
        backward(logits, g);
        logits.dispose();
        beta?.dispose();
      };
      step();
      rt.flush();
      const before = rt.counters;
      step();
      rt.flush();
      const after = rt.counters;
      expect(after.bytesLive, `${kind} bytes live`).toBe(before.bytesLive);
      expect(after.readbacks, `${kind} readbacks`).toBe(before.readbacks);
      store.dispose();
    }
    x.dispose();
    g.dispose();
  });
});

describe('ViT-S size', () => {
  it('every kind runs forward and backward at B 2, S 15, D 384 with finite logits', async () => {
    const x = Tensor.fromArray(randomArray(2 * 15 * 384, 9), [2, 15, 384]);
    for (const kind of ['dualvlad', 'netvlad', 'lstm', 'max'] as const) {
      const model = createVideoModel({ kind, dim: 384, seed: 1 });
      const store = new ParameterStore(model);
      const { logits, beta } = model.forward(x);
      expect(logits.shape).toEqual([2, 3]);
      backward(logits, Tensor.fromArray(new Float32Array(6).fill(1), [2, 3]));
      expect((await logits.toArray()).every(Number.isFinite), kind).toBe(true);
      if (beta) {
        const bt = await beta.toArray();
        for (let v = 0; v < 2; v++) expect(bt.subarray(v * 15, v * 15 + 15).reduce((s, b) => s + b, 0), kind).toBeCloseTo(1, 5);
      }
      const g = await store.buckets[0].grad.toArray();
      expect(g.some((v) => v !== 0) && g.every(Number.isFinite), kind).toBe(true);
      logits.dispose();
      beta?.dispose();
      store.dispose();
    }
    x.dispose();
  });
});
