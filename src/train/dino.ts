// DINO self-distillation (SPEC §7, §9), read like DINO's train_one_epoch:
//   lr/wd/momentum from precomputed schedules -> multi-crop on the GPU -> teacher on the 2
//   global crops (no grad) -> student on every crop -> fused DINO loss with centering ->
//   backward -> per-tensor clipping + AdamW (last layer frozen in epoch 0) -> teacher EMA.
// The CPU waits for the GPU only every `logEvery` steps, to read the losses (kept in a GPU
// buffer meanwhile), check them and write the log. Randomness comes from (seed, iteration),
// so a resumed run reproduces the uninterrupted one bit for bit.
import { Tensor } from '../autograd/tensor.js';
import { scope, keep } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { axpbyInPlace, fill } from '../kernels/elementwise.js';
import { ParameterStore } from '../models/parameters.js';
import { VIT_PRESETS, type VitConfig } from '../models/vit.js';
import { AdamW } from './optim.js';
import { cosineSchedule, teacherTempSchedule, at } from './schedules.js';
import { MultiCrop, type MultiCropConfig, type MultiCropPreset } from './multicrop.js';
import { DinoModel, type HeadConfig } from './dino-model.js';
import { knnClassify } from '../eval/knn.js';
import { Rng, hashSeed } from '../data/rng.js';
import type { Clip } from '../data/clip.js';
import type { HostTensor } from '../models/safetensors.js';
import { adamwState, loadModelState, loadAdamwState } from '../models/model-state.js';

// ============ configuration (paper defaults; a why-line each) ============
export interface DinoConfig {
  /** Backbone preset: 'vit-s8' (the paper) or 'tiny' (CPU-sized). */
  arch: keyof typeof VIT_PRESETS;
  /** Overrides of the backbone preset (e.g. a narrower tiny model in tests). */
  vit?: Partial<VitConfig>;
  epochs: number;
  itersPerEpoch: number;
  /** Images per step; every image gives 2 global + nLocal crops. */
  batch: number;
  /** Peak lr per 256 images (DINO: 5e-4, scaled linearly with the batch). */
  lr: number;
  /** Cosine floor of the lr (DINO: 1e-6). */
  minLr: number;
  /** Linear lr warm-up from 0 (DINO: 10 epochs). */
  warmupEpochs: number;
  /** Weight decay cosine from `weightDecay` to `weightDecayEnd` (DINO 0.04 -> 0.4; MeDiVLAD 0.1 -> 0.5). */
  weightDecay: number;
  weightDecayEnd: number;
  /** Teacher EMA momentum, cosine to 1 (DINO 0.996; MeDiVLAD 0.998). */
  momentumTeacher: number;
  /** Teacher temperature warm-up per epoch (DINO 0.04 -> 0.04 over 0; MeDiVLAD 0.04 -> 0.06 over 5). */
  warmupTeacherTemp: number;
  teacherTemp: number;
  warmupTeacherTempEpochs: number;
  /** Student temperature (0.1). */
  studentTemp: number;
  /** Center EMA momentum (0.9). */
  centerMomentum: number;
  /** Head: out_dim 65536 in the paper; smaller for tiny runs (tiny DINO collapses easily). */
  head: HeadConfig;
  /** Epochs with the last layer frozen (1). */
  freezeLastLayer: number;
  /** Per-tensor gradient clipping (3.0). */
  clipGrad: number;
  /** AdamW eps (PyTorch default 1e-8). */
  adamEps?: number;
  /** Student stochastic depth (DINO 0.1; MeDiVLAD 0). */
  dropPathRate: number;
  /** Multi-crop preset and number of local crops. */
  crops: MultiCropPreset;
  nLocal?: number;
  /** Local crop side (default: the crop preset's). */
  localSize?: number;
  /** Overrides of the crop preset (scales, jitter, blur, …), e.g. milder crops for tiny runs. */
  cropOverrides?: Partial<Omit<MultiCropConfig, 'seed' | 'globalSize'>>;
  seed: number;
  /** Read losses and write the log every N steps (the only GPU waits inside an epoch). */
  logEvery: number;
}

export const DINO_PRESETS: Record<string, DinoConfig> = {
  /** MeDiVLAD's stage 1 (SPEC §7) on ViT-S/8. */
  lus: {
    arch: 'vit-s8', epochs: 100, itersPerEpoch: 100, batch: 32, lr: 5e-4, minLr: 1e-6, warmupEpochs: 10,
    weightDecay: 0.1, weightDecayEnd: 0.5, momentumTeacher: 0.998, warmupTeacherTemp: 0.04, teacherTemp: 0.06,
    warmupTeacherTempEpochs: 5, studentTemp: 0.1, centerMomentum: 0.9,
    head: { outDim: 65536, hiddenDim: 2048, bottleneckDim: 256, normLastLayer: true },
    freezeLastLayer: 1, clipGrad: 3, dropPathRate: 0, crops: 'lus', seed: 42, logEvery: 10,
  },
  /**
   * CPU-sized: tiny ViT at 64 px, a small head (out 256), 300 steps. Chosen by
   * scripts/dino-sweep.ts (docs/dino-tiny-recipe.md): with DINO's lr (5e-4 per 256) and teacher
   * momentum 0.996 the teacher does not move in a few hundred steps; a higher lr (2e-2 per 256
   * = 1.25e-3 at batch 16) and a faster teacher (0.97 → 1) lift its k-NN above random init.
   */
  tiny: {
    arch: 'tiny', epochs: 15, itersPerEpoch: 20, batch: 16, lr: 2e-2, minLr: 1e-5, warmupEpochs: 5,
    weightDecay: 0.04, weightDecayEnd: 0.1, momentumTeacher: 0.97, warmupTeacherTemp: 0.04, teacherTemp: 0.04,
    warmupTeacherTempEpochs: 0, studentTemp: 0.1, centerMomentum: 0.9,
    head: { outDim: 256, hiddenDim: 256, bottleneckDim: 64, normLastLayer: true },
    freezeLastLayer: 1, clipGrad: 3, dropPathRate: 0, crops: 'tiny', seed: 0, logEvery: 5,
  },
};

export interface StepLog {
  it: number;
  epoch: number;
  loss: number;
  lr: number;
  wd: number;
  momentum: number;
  teacher_temp: number;
  /** Mean entropy of the teacher's centered, sharpened output (collapse to one-hot: 0). */
  teacher_entropy?: number;
  /** Entropy of the batch-mean teacher output (uniform collapse: ln(out_dim)). */
  teacher_mean_entropy?: number;
  img_per_s?: number;
  /** With onNonFinite 'skip': this step's update was not applied; `nonfinite` says why. */
  skipped?: boolean;
  nonfinite?: string;
}

export interface EpochLog {
  epoch: number;
  knn_top1: number | null;
}

/** Everything the loop needs from the outside (data, logging, checkpoint I/O). */
export interface DinoHooks {
  /** Clips to sample frames from (any size: crops resample). Labelled ones feed the k-NN monitor. */
  clips: Clip[];
  /** Train/test indices into clips for the k-NN monitor (patient-disjoint), or null to skip. */
  knnSplit: { train: number[]; test: number[] } | null;
  /**
   * Run the k-NN monitor after every knnEvery-th epoch and after the last one (default 1: every
   * epoch); the other epochs log knn_top1 null. Each monitor embeds every labelled frame of the
   * split (~18 s per run at the tiny preset on lavapipe, ~40% of its DINO stage when run every epoch).
   */
  knnEvery?: number;
  onStep?: (log: StepLog) => void | Promise<void>;
  onEpoch?: (log: EpochLog, state: () => Promise<DinoState>) => void | Promise<void>;
  progress?: (line: string) => void;
  /**
   * A non-finite loss or gradient: 'stop' (default) throws at the next log point, naming the
   * iteration and the first non-finite gradient; 'skip' leaves out that step's update (no
   * AdamW, teacher EMA or center update), logs it and goes on. 'skip' reads a finiteness
   * flag back every step, one GPU wait per step (as PyTorch's GradScaler does).
   */
  onNonFinite?: 'stop' | 'skip';
}

/** Serializable training state (all tensors as host arrays). */
export interface DinoState {
  it: number;
  student: Map<string, HostTensor>;
  teacher: Map<string, HostTensor>;
  optim: { tensors: Map<string, HostTensor>; steps: Record<string, number> };
  center: Float32Array;
}

/** What update() needs from lossAndGrads(). */
interface PendingUpdate {
  loss: Tensor;
  newCenter: Tensor;
  tOut: Tensor;
}

/** Frames per labelled clip in the k-NN monitor. */
export const KNN_FRAMES_PER_CLIP = 4;

export class DinoTrainer {
  readonly student: DinoModel;
  readonly teacher: DinoModel;
  readonly sStore: ParameterStore;
  readonly tStore: ParameterStore;
  readonly opt: AdamW;
  readonly crops: MultiCrop;
  center: Tensor;
  it = 0;
  readonly total: number;
  readonly lrS: Float64Array;
  readonly wdS: Float64Array;
  readonly momS: Float64Array;
  readonly tempS: Float64Array;
  private lossBuf: Tensor;

  constructor(readonly cfg: DinoConfig, readonly hooks: DinoHooks) {
    // ============ building student and teacher networks ============
    const vit = { ...VIT_PRESETS[cfg.arch], ...(cfg.vit ?? {}) };
    this.student = new DinoModel({ ...vit, dropPathRate: cfg.dropPathRate }, cfg.head);
    this.teacher = new DinoModel({ ...vit, dropPathRate: 0 }, cfg.head);
    this.teacher.eval();
    this.sStore = new ParameterStore(this.student, { seed: cfg.seed });
    this.tStore = new ParameterStore(this.teacher, { seed: cfg.seed });
    // The teacher starts as a copy of the student (same layout: same modules, same buckets).
    this.syncTeacher();
    for (const [, p] of this.teacher.namedParameters()) p.t.requiresGrad = false;

    // ============ preparing loss, optimizer and schedules ============
    const D = cfg.head.outDim;
    this.center = keep(fill(Tensor.empty([D]), 0));
    this.opt = new AdamW(this.sStore, { lr: 0, weightDecay: cfg.weightDecay, eps: cfg.adamEps ?? 1e-8 });
    this.total = cfg.epochs * cfg.itersPerEpoch;
    const peak = (cfg.lr * cfg.batch) / 256;
    this.lrS = cosineSchedule(peak, cfg.minLr, cfg.epochs, cfg.itersPerEpoch, cfg.warmupEpochs);
    this.wdS = cosineSchedule(cfg.weightDecay, cfg.weightDecayEnd, cfg.epochs, cfg.itersPerEpoch);
    this.momS = cosineSchedule(cfg.momentumTeacher, 1, cfg.epochs, cfg.itersPerEpoch);
    this.tempS = teacherTempSchedule(cfg.warmupTeacherTemp, cfg.teacherTemp, cfg.warmupTeacherTempEpochs, cfg.epochs);
    this.crops = new MultiCrop(cfg.crops, {
      ...(cfg.cropOverrides ?? {}),
      seed: cfg.seed,
      globalSize: vit.imgSize,
      ...(cfg.nLocal !== undefined ? { nLocal: cfg.nLocal } : {}),
      ...(cfg.localSize !== undefined ? { localSize: cfg.localSize } : {}),
    });
    this.lossBuf = keep(fill(Tensor.empty([cfg.logEvery]), 0));
  }

  /** B frames (one random frame of one uniformly drawn clip each) as (B, 3, S, S) in [0, 1]. */
  private batchImages(it: number): Tensor {
    const rng = new Rng(hashSeed(this.cfg.seed, it, 0x64617461)); // 'data'
    const clips = this.hooks.clips;
    const S = clips[0].size;
    const B = this.cfg.batch;
    const host = new Float32Array(B * 3 * S * S);
    for (let b = 0; b < B; b++) {
      const c = clips[rng.int(clips.length)];
      if (c.size !== S) throw new Error(`DINO: clip ${c.id} is ${c.size} px, expected ${S} (all clips must share one size)`);
      const f = c.frames[rng.int(c.frames.length)];
      for (let ch = 0; ch < 3; ch++) host.set(f, (b * 3 + ch) * S * S);
    }
    return Tensor.fromArray(host, [B, 3, S, S]);
  }

  /** Copy the student's parameters into the teacher (DINO's start; also after loading weights). */
  syncTeacher(): void {
    this.sStore.buckets.forEach((b, i) => b.param.rt.copy({ buffer: b.param.buffer }, { buffer: this.tStore.buckets[i].param.buffer }, b.length * 4));
  }

  /** One training iteration; returns nothing the CPU must wait for. */
  step(): void {
    scope(() => {
      const images = this.batchImages(this.it);
      const { globals, locals } = this.crops.generate(images, this.it);
      this.stepOnCrops(globals, locals);
    });
  }

  /** One iteration on given crops: 2 global (B, C, G, G) and n local (B, C, L, L) tensors. */
  stepOnCrops(globals: Tensor[], locals: Tensor[]): void {
    scope(() => this.update(this.lossAndGrads(globals, locals)));
    this.it++;
  }

  /** Forward passes, DINO loss (copied into lossBuf) and backward into the student's grads. */
  private lossAndGrads(globals: Tensor[], locals: Tensor[]): PendingUpdate {
    const it = this.it;
    const cfg = this.cfg;
    const epoch = Math.floor(it / cfg.itersPerEpoch);
    // ============ teacher and student forward passes + compute dino loss ============
    const tOut = A.noGrad(() => this.teacher.forwardCrops([globals]));
    this.sStore.zeroGrad();
    const sOut = this.student.forwardCrops([globals, locals], { seed: cfg.seed, stream: it });
    const { loss, newCenter } = A.dinoLossOp(sOut, tOut, this.center, {
      tauS: cfg.studentTemp,
      tauT: at(this.tempS, epoch, 'teacher temperature'),
      nCrops: globals.length + locals.length,
      centerMomentum: cfg.centerMomentum,
    });
    // keep the loss on the GPU until the next log point
    loss.rt.copy({ buffer: loss.buffer }, { buffer: this.lossBuf.buffer, offset: (it - this.logFrom) * 4 }, 4);
    A.backward(loss);
    return { loss, newCenter, tOut };
  }

  /** Center EMA, student step (clipping, frozen last layer, AdamW), teacher EMA. */
  private update({ newCenter, tOut }: PendingUpdate): void {
    const it = this.it;
    const cfg = this.cfg;
    const epoch = Math.floor(it / cfg.itersPerEpoch);
    this.center.dispose();
    this.center = keep(newCenter);
    // ============ student update ============
    this.opt.setFrozen((n) => n.startsWith('head.last_layer'), epoch < cfg.freezeLastLayer);
    this.opt.step({ lr: at(this.lrS, it, 'lr'), weightDecay: at(this.wdS, it, 'wd'), clip: { mode: 'per-tensor', max: cfg.clipGrad } });
    // ============ EMA update for the teacher ============
    const m = at(this.momS, it, 'momentum');
    this.tStore.buckets.forEach((tb, i) => axpbyInPlace(tb.param, this.sStore.buckets[i].param, 1 - m, m));
    this.lastTeacher?.dispose();
    this.lastTeacher = keep(tOut.view()); // for the collapse monitors at the next log point
  }

  // ============ non-finite steps (onNonFinite: 'skip') ============
  /** Skipped iterations and what was non-finite in each (this process only; the log has all). */
  readonly skipped = new Map<number, string>();

  /**
   * One iteration whose update is applied only when the loss and every gradient are finite;
   * otherwise parameters, optimizer state, teacher and center stay as they were. Returns what
   * was non-finite, or null. The flag Σ(0·g) + 0·loss is 0 exactly when all are finite
   * (0·NaN = 0·Inf = NaN) and cannot overflow, unlike Σg².
   */
  async stepOrSkip(): Promise<string | null> {
    const p = scope(() => {
      const images = this.batchImages(this.it);
      const { globals, locals } = this.crops.generate(images, this.it);
      const u = this.lossAndGrads(globals, locals);
      const flag = A.noGrad(() =>
        this.sStore.buckets.reduce((acc, b) => A.add(acc, A.sum(A.mulScalar(b.grad, 0))), A.mulScalar(u.loss, 0)),
      );
      return { ...u, flag };
    });
    let what: string | null = null;
    try {
      if (!Number.isFinite(await p.flag.item())) what = await this.describeNonFinite(p.loss);
      if (what === null) scope(() => this.update(p));
      else {
        p.newCenter.dispose();
        this.skipped.set(this.it, what);
      }
    } finally {
      for (const t of [p.loss, p.flag, p.tOut]) t.dispose();
    }
    this.it++;
    return what;
  }

  /** "loss NaN; first non-finite gradient: <name>" (reads the gradients back: rare path). */
  private async describeNonFinite(loss: Tensor): Promise<string> {
    const parts: string[] = [];
    const l = await loss.item();
    if (!Number.isFinite(l)) parts.push(`loss ${l}`);
    for (const b of this.sStore.buckets) {
      const g = await b.grad.toArray();
      const seg = b.segments.find((s) => g.subarray(s.start, s.start + s.size).some((v) => !Number.isFinite(v)));
      if (seg) {
        parts.push(`first non-finite gradient: ${seg.name}`);
        break;
      }
    }
    return parts.join('; ') || 'non-finite value';
  }

  /** Losses of the iterations since the last log point (reads back; resets the window). */
  async drainLosses(): Promise<Float32Array> {
    const n = this.it - this.logFrom;
    const l = (await this.lossBuf.toArray()).slice(0, n);
    this.logFrom = this.it;
    return l;
  }

  private lastTeacher: Tensor | null = null;
  /** First iteration whose loss is still only in lossBuf. */
  private logFrom = 0;

  /** Entropies of the teacher output of the last logged step (collapse monitors). */
  private async teacherEntropies(epoch: number): Promise<{ h: number; hMean: number }> {
    const t = this.lastTeacher;
    if (!t) return { h: NaN, hMean: NaN };
    const r = A.noGrad(() =>
      scope(() => {
        const z = A.sub(t, this.center);
        const p = A.softmax(z, -1, at(this.tempS, epoch));
        const logp = A.logSoftmax(z, -1, at(this.tempS, epoch));
        const h = A.neg(A.mean(A.sum(A.mul(p, logp), -1)));
        const pm = A.mean(p, 0);
        const hm = A.neg(A.sum(A.mul(pm, A.log(A.addScalar(pm, 1e-12)))));
        return [h, hm];
      }),
    );
    const [h, hm] = await Promise.all(r.map((x) => x.item()));
    r.forEach((x) => x.dispose());
    t.dispose();
    this.lastTeacher = null;
    return { h, hMean: hm };
  }

  /**
   * k-NN top-1 (k = 20, T = 0.07) of teacher CLS features. Each labelled clip gives up to
   * KNN_FRAMES_PER_CLIP frames (centres of equal time segments) with the clip's label: with one
   * frame per clip, 64 test clips make the accuracy move by ±6 points from noise alone.
   */
  async knn(): Promise<number | null> {
    const split = this.hooks.knnSplit;
    if (!split || split.train.length === 0 || split.test.length === 0) return null;
    const clips = this.hooks.clips;
    const size = this.crops.config.globalSize;
    const { mean, std } = this.crops.config;
    const S = clips[0].size;
    if (S !== size) throw new Error(`k-NN monitor: clips are ${S} px, the backbone runs at ${size}`);
    const frames = (idx: number[]) =>
      idx.flatMap((ci) => {
        const c = clips[ci];
        const n = Math.min(KNN_FRAMES_PER_CLIP, c.frames.length);
        return Array.from({ length: n }, (_, j) => ({ f: c.frames[Math.floor(((j + 0.5) * c.frames.length) / n)], label: c.label as number }));
      });
    const D = this.teacher.backbone.cfg.embedDim;
    const feats = async (list: { f: Float32Array }[]) => {
      const out = new Float32Array(list.length * D);
      const chunk = 64; // bounds the activations at ViT-S/8 sizes
      for (let s0 = 0; s0 < list.length; s0 += chunk) {
        const part = list.slice(s0, s0 + chunk);
        const host = new Float32Array(part.length * 3 * S * S);
        part.forEach(({ f }, b) => {
          for (let ch = 0; ch < 3; ch++) for (let i = 0; i < S * S; i++) host[(b * 3 + ch) * S * S + i] = (f[i] - mean[ch]) / std[ch];
        });
        const x = Tensor.fromArray(host, [part.length, 3, S, S]);
        const y = A.noGrad(() => this.teacher.backbone.forward(x));
        out.set(await y.toArray(), s0 * D);
        x.dispose();
        y.dispose();
      }
      return out;
    };
    const train = frames(split.train);
    const test = frames(split.test);
    const lab = (l: { label: number }[]) => l.map((e) => e.label);
    const r = knnClassify(await feats(train), lab(train), await feats(test), lab(test), D, { k: 20, T: 0.07 });
    return r.accuracy;
  }

  /** Run to iteration `until` (default: the end), logging every cfg.logEvery steps and evaluating each epoch. */
  async train(until = this.total): Promise<void> {
    const cfg = this.cfg;
    let t0 = performance.now();
    let itAtT0 = this.it;
    while (this.it < Math.min(until, this.total)) {
      if (this.hooks.onNonFinite === 'skip') await this.stepOrSkip();
      else this.step();
      const it = this.it - 1;
      const epoch = Math.floor(it / cfg.itersPerEpoch);
      const endOfEpoch = this.it % cfg.itersPerEpoch === 0;
      if (this.it - this.logFrom >= cfg.logEvery || endOfEpoch) {
        const n = this.it - this.logFrom;
        const from = this.logFrom;
        const losses = (await this.lossBuf.toArray()).slice(0, n);
        this.logFrom = this.it;
        const bad = losses.findIndex((l, j) => !Number.isFinite(l) && !this.skipped.has(from + j));
        if (bad >= 0) {
          const norms = await this.opt.gradNorms();
          const first = [...norms].find(([, v]) => !Number.isFinite(v));
          throw new Error(
            `DINO: non-finite loss ${losses[bad]} at iteration ${from + bad}` +
              (first ? `; first non-finite gradient: ${first[0]}` : '') + '; the last checkpoint is left intact',
          );
        }
        const ent = await this.teacherEntropies(epoch);
        const ips = ((this.it - itAtT0) * cfg.batch * 1000) / (performance.now() - t0);
        for (let j = 0; j < n; j++) {
          const i = from + j;
          const last = j === n - 1;
          await this.hooks.onStep?.({
            it: i, epoch: Math.floor(i / cfg.itersPerEpoch), loss: losses[j], lr: this.lrS[i], wd: this.wdS[i], momentum: this.momS[i],
            teacher_temp: this.tempS[Math.floor(i / cfg.itersPerEpoch)],
            ...(last && Number.isFinite(ent.h) ? { teacher_entropy: ent.h, teacher_mean_entropy: ent.hMean } : {}),
            ...(last ? { img_per_s: ips } : {}),
            ...(this.skipped.has(i) ? { skipped: true, nonfinite: this.skipped.get(i) } : {}),
          });
        }
        const eta = ((this.total - this.it) * cfg.batch) / Math.max(ips, 1e-9);
        this.hooks.progress?.(
          `step ${this.it}/${this.total} epoch ${epoch} loss ${losses[n - 1].toFixed(4)} lr ${this.lrS[it].toExponential(2)} ` +
            `${ips.toFixed(1)} img/s ETA ${eta.toFixed(0)} s${this.skipped.size ? ` (${this.skipped.size} non-finite steps skipped)` : ''}`,
        );
        t0 = performance.now();
        itAtT0 = this.it;
      }
      if (endOfEpoch) {
        const every = this.hooks.knnEvery ?? 1;
        const knn = (epoch + 1) % every === 0 || epoch === cfg.epochs - 1 ? await this.knn() : null;
        await this.hooks.onEpoch?.({ epoch, knn_top1: knn }, () => this.state());
        t0 = performance.now();
        itAtT0 = this.it;
      }
    }
  }

  async state(): Promise<DinoState> {
    return {
      it: this.it,
      student: await this.sStore.stateDict(),
      teacher: await this.tStore.stateDict(),
      optim: await adamwState(this.opt),
      center: await this.center.toArray(),
    };
  }

  /** Restore a state saved by state() (names and shapes checked). */
  async restore(s: DinoState, file?: string): Promise<void> {
    loadModelState(this.sStore, s.student, { file });
    loadModelState(this.tStore, s.teacher, { file });
    loadAdamwState(this.opt, s.optim.tensors, s.optim.steps, file);
    if (s.center.length !== this.center.size) throw new Error(`checkpoint ${file ?? ''}: center has ${s.center.length} values, expected ${this.center.size}`);
    this.center.rt.upload(this.center.buffer, s.center);
    this.it = s.it;
    this.logFrom = s.it;
  }

  dispose(): void {
    this.opt.dispose();
    this.sStore.dispose();
    this.tStore.dispose();
    this.center.dispose();
    this.lossBuf.dispose();
    this.lastTeacher?.dispose();
  }
}
