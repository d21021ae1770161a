// Fused optimizer kernels over flat parameter buckets vs float64 references: AdamW (decoupled
// decay, decay groups), SGD with momentum, per-tensor and global clipping, frozen tensors,
// and buckets split by the binding-size limit.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { Module } from '../src/models/module.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW, SGD, type ClipMode } from '../src/train/optim.js';
import { cosineSchedule, teacherTempSchedule, at } from '../src/train/schedules.js';
import { Tensor } from '../src/autograd/tensor.js';
import { adamwStep, sgdStep, type SegmentTable } from '../src/kernels/optimizer.js';
import { adamwRef, sgdRef, clipCoefsRef, l2, type AdamState } from './reference/optimizer.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

class Toy extends Module {
  constructor() {
    super();
    this.param('w1', [7, 5], { kind: 'uniform', lo: -1, hi: 1 });
    this.param('b1', [7], { kind: 'uniform', lo: -1, hi: 1 });
    this.param('cls_token', [1, 1, 3], { kind: 'truncNormal', std: 0.02 });
    this.param('norm.weight', [5], { kind: 'ones' });
    this.param('frozen', [4], { kind: 'uniform', lo: -1, hi: 1 }, { trainable: false });
    this.param('last.weight', [65, 3], { kind: 'uniform', lo: -1, hi: 1 });
  }
}

/** Write grads into the store's flat grad views (as backward would), return them by name. */
async function setGrads(store: ParameterStore, seed: number, scale: number): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  let k = 0;
  for (const [name, p] of store.module.namedParameters()) {
    if (!p.trainable) continue;
    const g = randomArray(p.size, seed + k++, -scale, scale);
    rt.upload(p.t.grad!.buffer, g, p.t.grad!.offset * 4);
    out.set(name, g);
  }
  return out;
}

describe('AdamW / SGD over flat buckets', () => {
  for (const clip of ['none', 'per-tensor', 'global'] as ClipMode[]) {
    for (const maxBucketBytes of [Infinity, 1024]) {
      it(`AdamW, clip ${clip}, ${maxBucketBytes === Infinity ? 'one bucket' : 'several buckets'}, last layer frozen at step 1`, async () => {
        const store = new ParameterStore(new Toy(), { seed: 3, maxBucketBytes });
        if (maxBucketBytes !== Infinity) expect(store.buckets.length).toBeGreaterThan(1);
        if (clip === 'global' && store.buckets.length > 1) {
          const opt = new AdamW(store, { lr: 1e-2, weightDecay: 0.1 });
          expect(() => opt.step({ clip: { mode: 'global', max: 1 } })).toThrow(/global-norm clipping across several/);
          opt.dispose();
          store.dispose();
          return;
        }
        const names = store.module.namedParameters();
        const ref = new Map<string, Float64Array>();
        const st = new Map<string, AdamState>();
        const steps = new Map<string, number>();
        const init = await store.stateDict();
        for (const [n, p] of names) {
          ref.set(n, Float64Array.from(init.get(n)!.data));
          st.set(n, { m: new Float64Array(p.size), v: new Float64Array(p.size) });
        }
        const opt = new AdamW(store, { lr: 1e-2, weightDecay: 0.1 });
        const lrs = [0.01, 0.02, 0.005];
        for (let t = 1; t <= 3; t++) {
          const frozenLast = t === 1;
          opt.setFrozen((n) => n.startsWith('last.'), frozenLast);
          const grads = await setGrads(store, 10 * t, 3);
          const trainable = names.filter(([, p]) => p.trainable);
          const frozen = trainable.map(([n]) => frozenLast && n.startsWith('last.'));
          const coefs = clipCoefsRef(trainable.map(([n]) => grads.get(n)!), clip, 1.5, frozen);
          opt.step({ lr: lrs[t - 1], weightDecay: 0.1 * t, clip: { mode: clip, max: 1.5 } });
          trainable.forEach(([n, p], i) => {
            if (frozen[i]) return;
            const g = Array.from(grads.get(n)!, (x) => x * coefs[i]);
            // Per-parameter step count, as PyTorch: the frozen layer starts counting later.
            const tn = (steps.get(n) ?? 0) + 1;
            steps.set(n, tn);
            adamwRef(ref.get(n)!, g, st.get(n)!, tn, lrs[t - 1], p.decay ? 0.1 * t : 0);
          });
          // Zero the grads as a training loop would; the next step writes fresh ones.
          store.zeroGrad();
        }
        expect(opt.t).toBe(3);
        const after = await store.stateDict();
        for (const [n] of names) {
          expectClose(after.get(n)!.data, ref.get(n)!, { rel: 1e-6, what: `${n} after 3 steps` });
        }
        // The frozen (non-trainable) tensor never moved; the grad buffer is zero after zeroGrad.
        expectClose(after.get('frozen')!.data, init.get('frozen')!.data, { rel: 0, atol: 0, elemRel: 0 });
        for (const b of store.buckets) expect(l2(await b.grad.toArray())).toBe(0);
        opt.dispose();
        store.dispose();
      });
    }
  }

  it('gradNorms names each tensor and exposes a non-finite gradient', async () => {
    const store = new ParameterStore(new Toy(), { seed: 1 });
    const opt = new AdamW(store, { lr: 1e-3, weightDecay: 0 });
    const grads = await setGrads(store, 5, 1);
    const bad = store.byName.get('b1')!;
    const nan = new Float32Array([NaN]);
    rt.upload(store.buckets[bad.bucket].grad.buffer, nan, (bad.start + 2) * 4);
    opt.step({ clip: { mode: 'per-tensor', max: 3 } });
    const norms = await opt.gradNorms();
    expect(norms.get('w1')).toBeCloseTo(l2(grads.get('w1')!), 4);
    const firstBad = [...norms].find(([, v]) => !Number.isFinite(v));
    expect(firstBad?.[0]).toBe('b1');
    opt.dispose();
    store.dispose();
  });

  it('SGD with momentum and coupled weight decay', async () => {
    const store = new ParameterStore(new Toy(), { seed: 4 });
    const names = store.module.namedParameters().filter(([, p]) => p.trainable);
    const init = await store.stateDict();
    const ref = new Map(names.map(([n]) => [n, Float64Array.from(init.get(n)!.data)]));
    const bufs = new Map(names.map(([n, p]) => [n, new Float64Array(p.size)]));
    const opt = new SGD(store, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    for (let t = 1; t <= 3; t++) {
      const grads = await setGrads(store, 100 + t, 1);
      opt.step();
      for (const [n, p] of names) sgdRef(ref.get(n)!, grads.get(n)!, bufs.get(n)!, t, 0.1, 0.9, p.decay ? 1e-3 : 0);
      store.zeroGrad();
    }
    const after = await store.stateDict();
    for (const [n] of names) expectClose(after.get(n)!.data, ref.get(n)!, { rel: 1e-6, what: n });
    opt.dispose();
    store.dispose();
  });

  it('parameters are 256-byte aligned views; the layout puts decayed tensors first', () => {
    const store = new ParameterStore(new Toy(), { seed: 0 });
    const segs = store.buckets[0].segments;
    for (const s of segs) expect(s.start % 64).toBe(0);
    const order = segs.map((s) => s.name);
    expect(order.indexOf('w1')).toBeLessThan(order.indexOf('b1'));
    expect(order.indexOf('last.weight')).toBeLessThan(order.indexOf('norm.weight'));
    expect(order[order.length - 1]).toBe('frozen');
    const t = store.byName.get('b1')!.param.t;
    expect(t).toBeInstanceOf(Tensor);
    expect(t.grad?.storage).toBe(store.buckets[0].grad.storage);
    store.dispose();
  });
});

describe('the step kernels on segments at any offset', () => {
  // ParameterStore starts segments at multiples of 64, so each thread's run of 8 elements
  // lies in one segment; a table built by hand with odd starts sends runs across boundaries
  // (the per-element path), including a frozen segment and a tail shorter than a run.
  const starts = [0, 5, 13, 14, 30, 37, 61];
  const flags = [1, 0, 1, 2, 1, 0]; // bit 0 decay, bit 1 frozen (segment 3)
  const total = starts[starts.length - 1];
  const u32 = (v: number[]) => Tensor.fromArray(new Float32Array(Uint32Array.from(v).buffer), [v.length], rt);
  const table = (bias: number[]): SegmentTable => ({
    starts: u32(starts), flags: u32(flags), sumsq: Tensor.fromArray(new Float32Array(6), [6], rt),
    coef: Tensor.fromArray(Float32Array.from([1, 0.5, 1, 1, 0.25, 1]), [6], rt),
    bias: Tensor.fromArray(Float32Array.from(bias), [12], rt), nSeg: 6, total,
  });
  const segOf = (i: number) => starts.filter((st) => st <= i).length - 1;

  it('AdamW, two steps, against the float64 reference per element', async () => {
    const w0 = randomArray(total, 1);
    const p64 = Float64Array.from(w0);
    const st: AdamState = { m: new Float64Array(total), v: new Float64Array(total) };
    const param = Tensor.fromArray(w0, [total], rt);
    const m = Tensor.fromArray(new Float32Array(total), [total], rt);
    const v = Tensor.fromArray(new Float32Array(total), [total], rt);
    const h = { lr: 0.01, wd: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8 };
    for (let t = 1; t <= 2; t++) {
      const g = randomArray(total, 10 + t);
      const grad = Tensor.fromArray(g, [total], rt);
      const tab = table(Array.from({ length: 6 }, () => [1 - h.b1 ** t, Math.sqrt(1 - h.b2 ** t)]).flat());
      adamwStep(param, grad, m, v, tab, h);
      const coef = [1, 0.5, 1, 1, 0.25, 1];
      for (let i = 0; i < total; i++) {
        const s = segOf(i);
        if (flags[s] & 2) continue;
        const one = { m: st.m.subarray(i, i + 1), v: st.v.subarray(i, i + 1) };
        adamwRef(p64.subarray(i, i + 1), [g[i] * coef[s]], one, t, h.lr, flags[s] & 1 ? h.wd : 0);
      }
      for (const x of [grad, tab.starts, tab.flags, tab.sumsq, tab.coef, tab.bias]) x.dispose();
    }
    const got = await param.toArray();
    expectClose(got, p64, { rel: 1e-5, what: 'AdamW parameters' });
    for (let i = starts[3]; i < starts[4]; i++) expect(got[i]).toBe(w0[i]); // frozen: untouched
    for (const x of [param, m, v]) x.dispose();
  });

  it('SGD with momentum, two steps', async () => {
    const w0 = randomArray(total, 2);
    const p64 = Float64Array.from(w0);
    const buf64 = new Float64Array(total);
    const param = Tensor.fromArray(w0, [total], rt);
    const buf = Tensor.fromArray(new Float32Array(total), [total], rt);
    for (let t = 1; t <= 2; t++) {
      const g = randomArray(total, 20 + t);
      const grad = Tensor.fromArray(g, [total], rt);
      const tab = table(Array.from({ length: 6 }, () => [t === 1 ? 1 : 0, 0]).flat());
      sgdStep(param, grad, buf, tab, { lr: 0.05, wd: 0.01, momentum: 0.9 });
      const coef = [1, 0.5, 1, 1, 0.25, 1];
      for (let i = 0; i < total; i++) {
        const s = segOf(i);
        if (flags[s] & 2) continue;
        sgdRef(p64.subarray(i, i + 1), [g[i] * coef[s]], buf64.subarray(i, i + 1), t, 0.05, 0.9, flags[s] & 1 ? 0.01 : 0);
      }
      for (const x of [grad, tab.starts, tab.flags, tab.sumsq, tab.coef, tab.bias]) x.dispose();
    }
    expectClose(await param.toArray(), p64, { rel: 1e-5, what: 'SGD parameters' });
    for (const x of [param, buf]) x.dispose();
  });
});

describe('schedules', () => {
  it('cosine with linear warmup matches DINO cosine_scheduler', () => {
    const s = cosineSchedule(1.0, 0.1, 4, 5, 1, 0);
    expect(s.length).toBe(20);
    // warmup: linspace(0, 1, 5) endpoint included
    expect(Array.from(s.slice(0, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    // cosine part: i = 0 gives base, and it decreases monotonically towards final
    const n = 15;
    for (let i = 0; i < n; i++) expect(s[5 + i]).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos((Math.PI * i) / n)), 12);
    expect(() => at(s, 20, 'lr')).toThrow(/lr: iteration 20 is outside 0..19/);
    // np.linspace(0, base, 1) == [0]: one warm-up iteration starts at the start value.
    expect(cosineSchedule(1.0, 0.1, 3, 1, 1, 0)[0]).toBe(0);
    expect(Array.from(teacherTempSchedule(0.04, 0.06, 5, 7))).toEqual([0.04, 0.045, 0.05, 0.055, 0.06, 0.06, 0.06].map((v) => expect.closeTo(v, 12)));
  });
});
