// ParameterStore: every parameter of a module tree lives in flat buffers, one per "bucket":
//   param (P), grad (P), and the optimizer's moments (created by the optimizer).
// Each parameter is a Tensor view into its bucket, aligned to 256 bytes (the largest
// minStorageBufferOffsetAlignment we know), and its .grad is a view into the grad buffer, so
// backward() accumulates straight into the flat gradient and AdamW, clipping, zero_grad and
// the teacher EMA are one dispatch per bucket. Buckets exist because one binding may not
// exceed maxStorageBufferBindingSize (128 MiB on lavapipe): ViT-S/8 fits one; the DINO head
// with out_dim 65536 needs a second.
//
// Layout inside a bucket: trainable decayed tensors, then trainable non-decayed, then frozen
// ones, in registration order within each group.
import { Tensor, contiguousStrides } from '../autograd/tensor.js';
import { keep } from '../autograd/scope.js';
import { fill } from '../kernels/elementwise.js';
import type { Runtime } from '../kernels/runtime.js';
import { getRuntime } from '../kernels/current.js';
import { Rng } from '../data/rng.js';
import type { Init, Module, Parameter } from './module.js';

const ALIGN = 64; // floats = 256 bytes

export interface Segment {
  name: string;
  param: Parameter;
  /** Element offset inside the bucket. */
  start: number;
  size: number;
}

export interface Bucket {
  /** Flat buffers as 1-D tensors (the store owns them). */
  param: Tensor;
  grad: Tensor;
  segments: Segment[];
  /** Padded total length in elements. */
  length: number;
}

export function fillInit(init: Init, out: Float32Array, rng: Rng): void {
  switch (init.kind) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'const':
      out.fill(init.value);
      return;
    case 'uniform':
      for (let i = 0; i < out.length; i++) out[i] = rng.uniform(init.lo, init.hi);
      return;
    case 'normal':
      for (let i = 0; i < out.length; i++) out[i] = (init.mean ?? 0) + init.std * rng.normal();
      return;
    case 'truncNormal': {
      const a = init.a ?? -2;
      const b = init.b ?? 2;
      for (let i = 0; i < out.length; i++) {
        let v: number;
        do v = init.std * rng.normal();
        while (v < a || v > b);
        out[i] = v;
      }
      return;
    }
    case 'fn':
      init.fill(out, () => rng.next());
      return;
  }
}

export class ParameterStore {
  readonly buckets: Bucket[] = [];
  readonly byName = new Map<string, Segment & { bucket: number }>();

  constructor(
    readonly module: Module,
    opts: { seed?: number; rt?: Runtime; maxBucketBytes?: number } = {},
  ) {
    const rt = opts.rt ?? getRuntime();
    const limit = Math.min(opts.maxBucketBytes ?? Infinity, rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize);
    const named = module.namedParameters();
    const rank = (p: Parameter) => (!p.trainable ? 2 : p.decay ? 0 : 1);
    const ordered = named.map((e, i) => ({ e, i })).sort((x, y) => rank(x.e[1]) - rank(y.e[1]) || x.i - y.i).map((x) => x.e);

    // Greedy bucketing in layout order.
    let current: { name: string; p: Parameter; start: number }[] = [];
    let length = 0;
    const plans: { items: typeof current; length: number }[] = [];
    for (const [name, p] of ordered) {
      const padded = Math.ceil(p.size / ALIGN) * ALIGN;
      if (padded * 4 > limit) throw new Error(`parameter ${name} ${JSON.stringify(p.shape)} alone exceeds the binding limit ${limit} bytes`);
      if ((length + padded) * 4 > limit && current.length) {
        plans.push({ items: current, length });
        current = [];
        length = 0;
      }
      current.push({ name, p, start: length });
      length += padded;
    }
    if (current.length) plans.push({ items: current, length });

    const rng = new Rng(opts.seed ?? 0);
    plans.forEach((plan, bi) => {
      const host = new Float32Array(plan.length);
      // Initialise in registration order (not layout order), so the values do not depend on
      // how the store happens to group tensors.
      const inits = new Map<string, Float32Array>();
      for (const [name, p] of named) {
        const it = plan.items.find((x) => x.name === name);
        if (!it) continue;
        const v = new Float32Array(p.size);
        inits.set(name, v);
      }
      for (const [name, p] of named) {
        const v = inits.get(name);
        if (v) fillInit(p.init, v, rng);
      }
      for (const it of plan.items) host.set(inits.get(it.name)!, it.start);
      const param = keep(Tensor.fromArray(host, [plan.length], rt));
      const grad = keep(fill(Tensor.empty([plan.length], rt), 0));
      const segments: Segment[] = [];
      for (const it of plan.items) {
        const view = keep(param.view(it.p.shape, contiguousStrides(it.p.shape), it.start));
        view.name = it.name;
        view.requiresGrad = it.p.trainable;
        if (it.p.trainable) {
          view.grad = keep(grad.view(it.p.shape, contiguousStrides(it.p.shape), it.start));
        }
        it.p.tensor = view;
        const seg = { name: it.name, param: it.p, start: it.start, size: it.p.size };
        segments.push(seg);
        this.byName.set(it.name, { ...seg, bucket: bi });
      }
      this.buckets.push({ param, grad, segments, length: plan.length });
    });
  }

  /** grad = 0 for every parameter (one dispatch per bucket). */
  zeroGrad(): void {
    for (const b of this.buckets) fill(b.grad, 0);
  }

  /** Host copy of every parameter by name, in registration order (checkpointing). */
  async stateDict(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const all = await Promise.all(this.buckets.map((b) => b.param.toArray()));
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name] of this.module.namedParameters()) {
      const s = this.byName.get(name)!;
      out.set(name, { shape: [...s.param.shape], data: all[s.bucket].slice(s.start, s.start + s.size) });
    }
    return out;
  }

  /** Upload values by name (the caller has checked names and shapes, see checkpoint.ts). */
  loadValues(values: Map<string, Float32Array>): void {
    for (const b of this.buckets) {
      for (const s of b.segments) {
        const v = values.get(s.name);
        if (!v) continue;
        if (v.length !== s.size) throw new Error(`loadValues: ${s.name} has ${v.length} values, expected ${s.size}`);
        b.param.rt.upload(b.param.buffer, v, s.start * 4);
      }
    }
  }

  dispose(): void {
    for (const b of this.buckets) {
      for (const s of b.segments) {
        s.param.tensor?.dispose();
        s.param.tensor = null;
      }
      b.param.dispose();
      b.grad.dispose();
    }
    this.buckets.length = 0;
  }
}
