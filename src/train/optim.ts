// Optimizers over a ParameterStore: per bucket, one dispatch for the gradient norms, one for
// the clipping coefficients, one for the step. Hyperparameters per step (schedules) are
// uniforms, so changing lr / wd every iteration costs nothing.
//
// Weight-decay groups follow PyTorch/DINO: tensors with ndim > 1 decay, biases and 1-D
// tensors do not (Parameter.decay). Frozen parameters (trainable but excluded from this step,
// like DINO's last layer in epoch 0, whose grad PyTorch sets to None) are skipped entirely.
import { Tensor } from '../autograd/tensor.js';
import { keep } from '../autograd/scope.js';
import { fill } from '../kernels/elementwise.js';
import { adamwStep, gradNormsAndCoefs, sgdStep, type SegmentTable } from '../kernels/optimizer.js';
import type { Bucket, ParameterStore } from '../models/parameters.js';

export type ClipMode = 'none' | 'per-tensor' | 'global';

export interface ClipConfig {
  mode: ClipMode;
  /** Threshold c: DINO clips each tensor at 3.0. */
  max: number;
}

const MODE = { none: 0, 'per-tensor': 1, global: 2 } as const;

function u32Tensor(values: ArrayLike<number>, rt: Tensor['rt']): Tensor {
  const u = Uint32Array.from(values);
  return keep(Tensor.fromArray(new Float32Array(u.buffer), [u.length], rt));
}

class BucketState {
  readonly tab: SegmentTable;
  private frozen: boolean[];
  /** Steps each segment has taken (PyTorch keeps a step count per parameter). */
  readonly steps: number[];
  constructor(readonly bucket: Bucket) {
    const rt = bucket.param.rt;
    const segs = bucket.segments;
    const starts = segs.map((s) => s.start);
    starts.push(bucket.length);
    this.frozen = segs.map((s) => !s.param.trainable);
    this.steps = segs.map(() => 0);
    this.tab = {
      starts: u32Tensor(starts, rt),
      flags: u32Tensor(this.flagValues(), rt),
      sumsq: keep(fill(Tensor.empty([segs.length], rt), 0)),
      coef: keep(fill(Tensor.empty([segs.length], rt), 1)),
      bias: keep(fill(Tensor.empty([2 * segs.length], rt), 1)),
      nSeg: segs.length,
      total: bucket.length,
    };
  }

  private flagValues(): number[] {
    return this.bucket.segments.map((s, i) => (s.param.decay ? 1 : 0) | (this.frozen[i] ? 2 : 0));
  }

  /** Returns true when a flag changed (and re-uploads the table). */
  setFrozen(pred: (name: string) => boolean, frozen: boolean): void {
    let changed = false;
    this.bucket.segments.forEach((s, i) => {
      const f = !s.param.trainable || (pred(s.name) ? frozen : this.frozen[i]);
      if (f !== this.frozen[i]) {
        this.frozen[i] = f;
        changed = true;
      }
    });
    if (changed) {
      const u = Uint32Array.from(this.flagValues());
      this.tab.flags.rt.upload(this.tab.flags.buffer, u);
    }
  }

  /**
   * Advance the step count of every active segment and upload its bias terms, computed in
   * double: AdamW [1 - b1^t, sqrt(1 - b2^t)], SGD [t == 1 ? 1 : 0, 0].
   */
  advance(kind: 'adamw' | 'sgd', b1 = 0, b2 = 0): void {
    const v = new Float32Array(2 * this.steps.length);
    this.steps.forEach((t, i) => {
      if (!this.frozen[i]) this.steps[i] = ++t;
      const ts = Math.max(1, this.steps[i]);
      if (kind === 'adamw') {
        v[2 * i] = 1 - b1 ** ts;
        v[2 * i + 1] = Math.sqrt(1 - b2 ** ts);
      } else v[2 * i] = ts === 1 ? 1 : 0;
    });
    this.tab.bias.rt.upload(this.tab.bias.buffer, v);
  }

  dispose(): void {
    for (const t of [this.tab.starts, this.tab.flags, this.tab.sumsq, this.tab.coef, this.tab.bias]) t.dispose();
  }
}

abstract class Optimizer {
  protected states: BucketState[];
  /** Steps taken (AdamW's t). */
  t = 0;
  constructor(readonly store: ParameterStore) {
    this.states = store.buckets.map((b) => new BucketState(b));
  }

  /** Steps taken by each segment of bucket `bi` (PyTorch keeps one count per parameter). */
  segmentSteps(bi: number): readonly number[] {
    return this.states[bi].steps;
  }

  /** Restore per-segment step counts (resuming from a checkpoint). */
  setSegmentSteps(bi: number, steps: readonly number[]): void {
    const st = this.states[bi].steps;
    if (steps.length !== st.length) throw new Error(`setSegmentSteps: bucket ${bi} has ${st.length} segments, got ${steps.length}`);
    steps.forEach((v, i) => (st[i] = v));
    this.t = Math.max(this.t, ...steps);
  }

  /** Freeze / unfreeze parameters whose name matches (e.g. DINO's last layer in epoch 0). */
  setFrozen(pred: (name: string) => boolean, frozen: boolean): void {
    for (const s of this.states) s.setFrozen(pred, frozen);
  }

  protected clipAll(clip: ClipConfig): void {
    if (clip.mode === 'global' && this.states.length > 1) {
      throw new Error('global-norm clipping across several parameter buckets is not supported; use per-tensor clipping');
    }
    for (const s of this.states) gradNormsAndCoefs(s.bucket.grad, s.tab, MODE[clip.mode], clip.max);
  }

  /**
   * L2 norm of each parameter's gradient as of the last step (clipping input), by name.
   * Reads back: use for logging every N steps and to name the first non-finite tensor.
   */
  async gradNorms(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const s of this.states) {
      const ss = await s.tab.sumsq.toArray();
      s.bucket.segments.forEach((seg, i) => out.set(seg.name, Math.sqrt(ss[i])));
    }
    return out;
  }

  dispose(): void {
    for (const s of this.states) s.dispose();
  }
}

export interface AdamWConfig {
  lr: number;
  weightDecay: number;
  betas?: [number, number];
  eps?: number;
}

/** PyTorch's AdamW (β 0.9/0.999, eps 1e-8, decoupled decay), fused over each flat bucket. */
export class AdamW extends Optimizer {
  readonly m: Tensor[];
  readonly v: Tensor[];
  readonly betas: [number, number];
  readonly eps: number;
  constructor(store: ParameterStore, readonly cfg: AdamWConfig) {
    super(store);
    this.betas = cfg.betas ?? [0.9, 0.999];
    this.eps = cfg.eps ?? 1e-8;
    this.m = store.buckets.map((b) => keep(fill(Tensor.empty([b.length], b.param.rt), 0)));
    this.v = store.buckets.map((b) => keep(fill(Tensor.empty([b.length], b.param.rt), 0)));
  }

  /** One step with this iteration's lr / wd (schedules) and optional clipping. */
  step(opts: { lr?: number; weightDecay?: number; clip?: ClipConfig } = {}): void {
    this.t++;
    this.clipAll(opts.clip ?? { mode: 'none', max: 0 });
    this.states.forEach((s, i) => {
      s.advance('adamw', this.betas[0], this.betas[1]);
      adamwStep(s.bucket.param, s.bucket.grad, this.m[i], this.v[i], s.tab, {
        lr: opts.lr ?? this.cfg.lr,
        wd: opts.weightDecay ?? this.cfg.weightDecay,
        b1: this.betas[0],
        b2: this.betas[1],
        eps: this.eps,
      });
    });
  }

  override dispose(): void {
    super.dispose();
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

export interface SGDConfig {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/** SGD with momentum (PyTorch semantics, dampening 0), used by DINO's linear evaluation. */
export class SGD extends Optimizer {
  readonly buf: Tensor[];
  constructor(store: ParameterStore, readonly cfg: SGDConfig) {
    super(store);
    this.buf = store.buckets.map((b) => keep(fill(Tensor.empty([b.length], b.param.rt), 0)));
  }

  step(opts: { lr?: number; weightDecay?: number; clip?: ClipConfig } = {}): void {
    this.t++;
    this.clipAll(opts.clip ?? { mode: 'none', max: 0 });
    this.states.forEach((s, i) => {
      s.advance('sgd');
      sgdStep(s.bucket.param, s.bucket.grad, this.buf[i], s.tab, {
        lr: opts.lr ?? this.cfg.lr,
        wd: opts.weightDecay ?? this.cfg.weightDecay ?? 0,
        momentum: this.cfg.momentum ?? 0,
      });
    });
  }

  override dispose(): void {
    super.dispose();
    for (const t of this.buf) t.dispose();
  }
}
