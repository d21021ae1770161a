// MeDiVLAD stage 3 (SPEC §7): a video aggregator and its classifier trained on cached,
// frozen per-frame features. Model selection on validation clips (patients held out of the
// training fold) by accuracy + weighted F1, as the paper selects; the test fold is only reported.
import { Tensor } from '../autograd/tensor.js';
import { scope, keep } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { fill } from '../kernels/elementwise.js';
import { ParameterStore } from '../models/parameters.js';
import { classMeanCentroids, initCentroids, type VideoClassifier } from '../models/video-models.js';
import { AdamW } from './optim.js';
import { cosineSchedule, at } from './schedules.js';
import { sampleClip, type ClipFeatures } from './video-data.js';
import { classificationReport, type ClassificationReport } from '../eval/metrics.js';
import { Rng, hashSeed } from '../data/rng.js';

// ============ configuration (paper defaults; a why-line each) ============
export interface VideoConfig {
  /** MeDiVLAD: 200 epochs × 50 iterations of batch 2 (100 clips drawn with replacement per epoch). */
  epochs: number;
  itersPerEpoch: number;
  batch: number;
  /** AdamW lr 2e-3, cosine to 5e-5, no warm-up; wd 1e-5. */
  lr: number;
  minLr: number;
  weightDecay: number;
  /** Frames per clip S (15). */
  frames: number;
  /** VLAD centroids: per-class means of the training features (the paper's centroid files) or U[0, 1). */
  centroids: 'class-means' | 'random';
  /** Evaluate on the validation clips every N epochs (and after the last). */
  evalEvery: number;
  seed: number;
}

export const VIDEO_DEFAULTS: VideoConfig = {
  epochs: 200, itersPerEpoch: 50, batch: 2, lr: 2e-3, minLr: 5e-5, weightDecay: 1e-5, frames: 15,
  centroids: 'class-means', evalEvery: 1, seed: 42,
};

export interface VideoEpochLog {
  epoch: number;
  train_loss: number;
  val_accuracy: number | null;
  val_f1: number | null;
  lr: number;
}

export interface VideoPredictions {
  report: ClassificationReport;
  labels: number[];
  /** (N, C) softmax probabilities, row-major. */
  probs: Float32Array;
  /** (N, S) per-frame weights (null for the Bi-LSTM). */
  beta: Float32Array | null;
  ids: string[];
}

export interface VideoResult {
  epochs: VideoEpochLog[];
  bestEpoch: number;
  selection: string;
  val: { accuracy: number; weightedF1: number; n: number } | null;
  test: VideoPredictions;
}

/** Labelled clips only; an unlabelled one in a training set is an error naming it. */
function labelsOf(set: ClipFeatures, what: string): number[] {
  return set.labels.map((l, i) => {
    if (l === null) throw new Error(`video stage: ${what} clip ${set.ids[i]} has no label`);
    return l;
  });
}

/** Forward every clip of a set (evaluation frames, clean view) in chunks; probabilities and β on the host. */
export async function predictVideos(model: VideoClassifier, set: ClipFeatures, S: number, chunk = 64): Promise<{ probs: Float32Array; beta: Float32Array | null }> {
  const n = set.ids.length;
  const C = model.config.classes;
  const D = set.dim;
  const probs = new Float32Array(n * C);
  let beta: Float32Array | null = model.config.kind === 'lstm' ? null : new Float32Array(n * S);
  for (let s0 = 0; s0 < n; s0 += chunk) {
    const m = Math.min(chunk, n - s0);
    const host = new Float32Array(m * S * D);
    for (let b = 0; b < m; b++) sampleClip(set, s0 + b, S, null, host, b * S * D);
    const [p, bt] = A.noGrad(() =>
      scope(() => {
        const x = Tensor.fromArray(host, [m, S, D]);
        const out = model.forward(x);
        return [A.softmax(out.logits, -1), out.beta ?? null] as const;
      }),
    );
    probs.set(await p.toArray(), s0 * C);
    p.dispose();
    if (bt) {
      beta?.set(await bt.toArray(), s0 * S);
      bt.dispose();
    } else beta = null;
  }
  return { probs, beta };
}

export async function evaluateVideos(model: VideoClassifier, set: ClipFeatures, S: number): Promise<VideoPredictions> {
  const labels = labelsOf(set, 'evaluation');
  const { probs, beta } = await predictVideos(model, set, S);
  return { report: classificationReport(labels, probs, model.config.classes), labels, probs, beta, ids: set.ids };
}

export class VideoTrainer {
  readonly store: ParameterStore;
  readonly opt: AdamW | null;
  readonly lrS: Float64Array;
  private readonly lossBuf: Tensor;

  /**
   * `frameHead`: the stage-2 frame classifier (C, D) + (C): required for 'max' (it is the
   * model; nothing trains) and ignored otherwise.
   */
  constructor(
    readonly model: VideoClassifier,
    readonly cfg: VideoConfig,
    readonly data: { train: ClipFeatures; val: ClipFeatures; test: ClipFeatures },
    readonly hooks: { progress?: (line: string) => void; frameHead?: { w: Float32Array; b: Float32Array } } = {},
  ) {
    const kind = model.config.kind;
    if (data.train.ids.length === 0) throw new Error('video stage: no training clips');
    if (data.train.dim !== model.config.dim) throw new Error(`video stage: features are ${data.train.dim}-d, the ${kind} model takes ${model.config.dim}`);
    this.store = new ParameterStore(model, { seed: cfg.seed });
    if (kind === 'max') {
      if (!hooks.frameHead) throw new Error('video stage: the max-score baseline needs the frame classifier (stage-2 head)');
      this.store.loadValues(new Map([['dense.0.weight', hooks.frameHead.w], ['dense.0.bias', hooks.frameHead.b]]));
      this.opt = null;
    } else {
      if ((kind === 'dualvlad' || kind === 'netvlad') && cfg.centroids === 'class-means') {
        // SPEC §11: per-class means of the L2-normalised frame features of the training fold
        const t = data.train;
        const rows: Float32Array[] = [];
        const labs: number[] = [];
        const y = labelsOf(t, 'training');
        t.feats[0].forEach((f, i) => {
          rows.push(f);
          for (let k = 0; k < t.T[i]; k++) labs.push(y[i]);
        });
        const all = new Float32Array(labs.length * t.dim);
        let o = 0;
        for (const r of rows) {
          all.set(r, o);
          o += r.length;
        }
        initCentroids(model, classMeanCentroids(all, labs, t.dim, model.config.classes));
      }
      this.opt = new AdamW(this.store, { lr: cfg.lr, weightDecay: cfg.weightDecay });
    }
    this.lrS = cosineSchedule(cfg.lr, cfg.minLr, cfg.epochs, cfg.itersPerEpoch);
    this.lossBuf = keep(fill(Tensor.empty([cfg.itersPerEpoch]), 0));
  }

  private step(it: number): void {
    const { batch: B, frames: S, seed } = this.cfg;
    const t = this.data.train;
    const D = t.dim;
    const rng = new Rng(hashSeed(seed, it, 0x76696473)); // 'vids'
    const host = new Float32Array(B * S * D);
    const labels: number[] = [];
    const y = labelsOf(t, 'training');
    for (let b = 0; b < B; b++) {
      const i = rng.int(t.ids.length); // uniform with replacement, as the paper's sampler
      sampleClip(t, i, S, { rng }, host, b * S * D);
      labels.push(y[i]);
    }
    scope(() => {
      this.store.zeroGrad();
      const x = Tensor.fromArray(host, [B, S, D]);
      const loss = A.crossEntropy(this.model.forward(x).logits, labels);
      const slot = it % this.cfg.itersPerEpoch;
      loss.rt.copy({ buffer: loss.buffer }, { buffer: this.lossBuf.buffer, offset: slot * 4 }, 4);
      A.backward(loss);
      this.opt!.step({ lr: at(this.lrS, it, 'lr') });
    });
  }

  async run(): Promise<VideoResult> {
    const cfg = this.cfg;
    const S = cfg.frames;
    const say = this.hooks.progress ?? (() => {});
    const epochs: VideoEpochLog[] = [];
    const hasVal = this.data.val.ids.length > 0;
    let best = { score: -Infinity, epoch: -1, weights: null as Map<string, Float32Array> | null, val: null as VideoResult['val'] };
    const snapshot = async () => new Map([...(await this.store.stateDict())].map(([n, t]) => [n, t.data]));
    if (this.opt === null) {
      // max-score: nothing to train; the frame classifier is the model
      const test = await evaluateVideos(this.model, this.data.test, S);
      return { epochs, bestEpoch: -1, selection: 'none (max-score uses the stage-2 frame classifier as is)', val: null, test };
    }
    for (let e = 0; e < cfg.epochs; e++) {
      for (let k = 0; k < cfg.itersPerEpoch; k++) this.step(e * cfg.itersPerEpoch + k);
      const losses = await this.lossBuf.toArray();
      const trainLoss = losses.reduce((a, b) => a + b, 0) / losses.length;
      if (!Number.isFinite(trainLoss)) throw new Error(`video stage: non-finite training loss in epoch ${e}`);
      const log: VideoEpochLog = { epoch: e, train_loss: trainLoss, val_accuracy: null, val_f1: null, lr: at(this.lrS, e * cfg.itersPerEpoch, 'lr') };
      const last = e === cfg.epochs - 1;
      if (hasVal && ((e + 1) % cfg.evalEvery === 0 || last)) {
        const v = await evaluateVideos(this.model, this.data.val, S);
        log.val_accuracy = v.report.accuracy;
        log.val_f1 = v.report.weightedF1;
        const score = v.report.accuracy + v.report.weightedF1;
        if (score > best.score) best = { score, epoch: e, weights: await snapshot(), val: { accuracy: v.report.accuracy, weightedF1: v.report.weightedF1, n: v.report.n } };
      }
      epochs.push(log);
      say(`epoch ${e + 1}/${cfg.epochs} loss ${trainLoss.toFixed(4)}` + (log.val_accuracy !== null ? ` val acc ${(100 * log.val_accuracy).toFixed(1)}% F1 ${(100 * (log.val_f1 as number)).toFixed(1)}%` : ''));
    }
    let selection: string;
    if (best.weights) {
      this.store.loadValues(best.weights);
      selection = 'best validation accuracy + weighted F1 (patients held out of the training fold)';
    } else {
      best.epoch = cfg.epochs - 1;
      selection = 'last epoch (the training fold has too few patients for a validation split)';
    }
    const test = await evaluateVideos(this.model, this.data.test, S);
    return { epochs, bestEpoch: best.epoch, selection, val: best.val, test };
  }

  dispose(): void {
    this.lossBuf.dispose();
    this.opt?.dispose?.();
    this.store.dispose();
  }
}
