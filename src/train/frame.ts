// MeDiVLAD stage 2 (SPEC §6, §7): a frame classifier Linear(F -> 3) on a ViT's CLS feature,
// read like DINO's train_one_epoch:
//   features of every split once (frozen backbone: the k-NN check and, by default, the probe's
//   training inputs) -> per epoch: shuffled batches -> [GPU RandomResizedCrop + hflip ->
//   backbone] -> head -> cross-entropy -> backward -> AdamW / SGD with the cosine lr ->
//   validation accuracy on patients held out of the TRAINING fold -> keep the best epoch
//   -> restore it -> test-fold accuracy, probabilities, and the backbone's k-NN accuracy.
//
// Modes:
//   probe        frozen backbone (no grad), AdamW lr 5e-4 cosine to 1e-6, no warm-up, wd 0.1
//                (MeDiVLAD's shipped train_backbone = False). Default: the head trains on
//                features cached once, without per-step augmentation (fast); with
//                cachedFeatures = false every step augments and runs the frozen backbone.
//   finetune     the whole ViT and the head with the same optimizer (train_backbone = True).
//   linear-eval  DINO eval_linear: last-4 CLS concatenated, SGD momentum 0.9, lr
//                0.001·batch/256 cosine to 0, wd 0, head N(0, 0.01); cached features by default.
// Training augmentation (SPEC §7): hflip 0.5 + RandomResizedCrop(scale (0.2, 1), ratio 3/4..4/3,
// bicubic) on the GPU, then normalise; evaluation: resize (at load time) + normalise only.
// Randomness: batches from hashSeed(seed, epoch), crops from hashSeed(seed, iteration), so a
// seed fixes the run. The CPU waits for the GPU once per epoch (losses, validation).
import { Tensor } from '../autograd/tensor.js';
import { scope, keep } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { fill } from '../kernels/elementwise.js';
import { augmentCrops, sampleCropParams, type CropSpec } from '../kernels/augment.js';
import { Rng, hashSeed } from '../data/rng.js';
import { knnClassify } from '../eval/knn.js';
import { extractFeatures } from '../eval/features.js';
import { AdamW, SGD } from './optim.js';
import { cosineSchedule, at } from './schedules.js';
import type { FrameModel, HeadInit } from './frame-model.js';
import { normalizedFrames, rawBatch, concatFrameSets, type FrameSet, type Normalization } from './frame-data.js';
import { headScores, accuracy, meanCrossEntropy, lastColumns } from './frame-eval.js';

// ============ configuration (paper defaults; a why-line each) ============
export type FrameMode = 'probe' | 'finetune' | 'linear-eval';
export const FRAME_MODES: readonly FrameMode[] = ['probe', 'finetune', 'linear-eval'];

export interface FrameConfig {
  mode: FrameMode;
  /** Frozen backbone only: train the head on features extracted once (no per-step augmentation). */
  cachedFeatures: boolean;
  /** MeDiVLAD: 250 epochs; DINO linear eval: 100. */
  epochs: number;
  /** MeDiVLAD: batch 2; DINO linear eval: 128. */
  batch: number;
  /** Peak lr (MeDiVLAD 5e-4, not batch-scaled; DINO linear eval 0.001·batch/256). */
  lr: number;
  /** Cosine floor (MeDiVLAD 1e-6; DINO 0). No warm-up in either. */
  minLr: number;
  /**
   * MeDiVLAD 0.1; DINO linear eval 0. MeDiVLAD's AdamW(model.parameters()) decays every tensor:
   * the head's weight and bias do here; a fine-tuned ViT keeps its own groups (ndim > 1 only,
   * as DINO), which are fixed when the ViT is built.
   */
  weightDecay: number;
  optimizer: 'adamw' | 'sgd';
  /** SGD momentum (DINO linear eval 0.9). */
  momentum: number;
  /** CLS of the last n blocks feed the head (DINO linear eval on ViT-S: 4). */
  lastN: number;
  headInit: HeadInit;
  /** RandomResizedCrop area range: MeDiVLAD (0.2, 1); DINO eval_linear torchvision's default (0.08, 1). */
  cropScale: [number, number];
  cropRatio: [number, number];
  flipP: number;
  /**
   * Cubic coefficient of the crop resampling: -0.5, what torchvision's antialiased bicubic
   * (MeDiVLAD's RandomResizedCrop(antialias=True, BICUBIC)) uses, as in multicrop.ts.
   */
  cubicA: number;
  /** Share of the training fold's patients held out for model selection. */
  valFraction: number;
  /** k-NN check of the backbone (SPEC §6: k fixed at 20, T 0.07). */
  knnK: number;
  knnT: number;
  /** Images per forward pass when extracting features. */
  evalBatch: number;
  seed: number;
}

const STAGE2: FrameConfig = {
  mode: 'probe', cachedFeatures: true, epochs: 250, batch: 2, lr: 5e-4, minLr: 1e-6, weightDecay: 0.1, optimizer: 'adamw',
  momentum: 0, lastN: 1, headInit: 'torch', cropScale: [0.2, 1], cropRatio: [3 / 4, 4 / 3], flipP: 0.5, cubicA: -0.5,
  valFraction: 0.2, knnK: 20, knnT: 0.07, evalBatch: 16, seed: 42,
};

/** The defaults of a mode, with overrides; linear-eval's lr follows its batch unless given. */
export function frameConfig(mode: FrameMode, o: Partial<FrameConfig> = {}): FrameConfig {
  if (!FRAME_MODES.includes(mode)) throw new Error(`unknown frame mode '${mode}' (known: ${FRAME_MODES.join(', ')})`);
  let base: FrameConfig = { ...STAGE2, mode };
  if (mode === 'finetune') base.cachedFeatures = false;
  if (mode === 'linear-eval') {
    const batch = o.batch ?? 128;
    base = { ...base, epochs: 100, batch, lr: (0.001 * batch) / 256, minLr: 0, weightDecay: 0, optimizer: 'sgd', momentum: 0.9, lastN: 4, headInit: 'normal', cropScale: [0.08, 1] };
  }
  const cfg = { ...base, ...o, mode };
  if (mode === 'finetune' && cfg.cachedFeatures) throw new Error('finetune trains the backbone: features cannot be cached');
  for (const k of ['epochs', 'batch', 'evalBatch', 'lastN', 'knnK'] as const) {
    if (!(Number.isInteger(cfg[k]) && cfg[k] >= 1)) throw new Error(`frame config: ${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (!(cfg.lr > 0) || !(cfg.minLr >= 0) || !(cfg.weightDecay >= 0)) throw new Error(`frame config: lr ${cfg.lr}, minLr ${cfg.minLr}, weightDecay ${cfg.weightDecay} out of range`);
  return cfg;
}

export interface FrameData {
  train: FrameSet;
  /** Model selection (patients held out of the training fold); may be empty. */
  val: FrameSet;
  /** The reported fold. */
  test: FrameSet;
  norm: Normalization;
}

export interface FrameEpochLog {
  epoch: number;
  train_loss: number;
  /** On the cached (un-augmented) training features; cached mode only. */
  train_accuracy?: number;
  val_accuracy: number | null;
  val_loss: number | null;
  lr: number;
  img_per_s: number;
}

export interface FramePredictions {
  accuracy: number;
  loss: number;
  labels: number[];
  predictions: number[];
  /** Softmax probabilities per frame (C each). */
  probs: number[][];
  ids: string[];
  frames: number[];
}

export interface FrameResult {
  epochs: FrameEpochLog[];
  /** Epoch whose weights were kept, and why. */
  bestEpoch: number;
  selection: string;
  val: { accuracy: number; loss: number; n: number } | null;
  test: FramePredictions;
  /** k-NN top-1 (test fold vs training fold) of the backbone before training and, when it trains, after. */
  knn: { k: number; T: number; initial: number; final: number | null };
}

export interface FrameHooks {
  progress?: (line: string) => void;
  onEpoch?: (log: FrameEpochLog) => void | Promise<void>;
}

export class FrameTrainer {
  readonly frozen: boolean;
  readonly stepsPerEpoch: number;
  readonly lrS: Float64Array;
  private readonly opts: (AdamW | SGD)[] = [];
  private readonly lossBuf: Tensor;
  private readonly crop: CropSpec;

  constructor(readonly model: FrameModel, readonly cfg: FrameConfig, readonly data: FrameData, readonly hooks: FrameHooks = {}) {
    if (cfg.lastN !== model.arch.lastN) throw new Error(`frame trainer: config lastN ${cfg.lastN} but the model takes ${model.arch.lastN}`);
    const N = data.train.frames.length;
    if (N === 0) throw new Error('frame trainer: no training frames');
    const S = model.vit.cfg.imgSize;
    for (const [what, set] of [['train', data.train], ['val', data.val], ['test', data.test]] as const) {
      if (set.frames.length > 0 && set.size !== S) throw new Error(`frame trainer: ${what} frames are ${set.size} px, the ViT runs at ${S} (load the data at the model size)`);
    }
    this.frozen = cfg.mode !== 'finetune';
    // ============ optimizer and schedule ============
    this.stepsPerEpoch = Math.ceil(N / cfg.batch); // the last batch may be smaller (no drop_last)
    this.lrS = cosineSchedule(cfg.lr, cfg.minLr, cfg.epochs, this.stepsPerEpoch);
    const stores = this.frozen ? [model.headStore] : [model.vitStore, model.headStore];
    for (const s of stores) {
      this.opts.push(cfg.optimizer === 'sgd'
        ? new SGD(s, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay })
        : new AdamW(s, { lr: cfg.lr, weightDecay: cfg.weightDecay }));
    }
    this.lossBuf = keep(fill(Tensor.empty([this.stepsPerEpoch]), 0));
    this.crop = {
      scale: cfg.cropScale, ratio: cfg.cropRatio, flipP: cfg.flipP,
      jitterP: 0, jitter: [0, 0, 0, 0], grayP: 0, blurP: 0, sigma: [0.1, 2], solarizeP: 0,
    };
  }

  /** Features (N, F) of a frame set with the current backbone (eval mode, no grad). */
  features(set: FrameSet): Promise<Float32Array> {
    return extractFeatures(this.model.vit, normalizedFrames(set, this.data.norm, this.model.vit.cfg.inChans), {
      batch: this.cfg.evalBatch, lastN: this.cfg.lastN,
    });
  }

  /** Augmented, normalised crops (B, C, S, S) of training frames idx at iteration it: RandomResizedCrop + hflip on the GPU. */
  augmentedBatch(idx: readonly number[], it: number): Tensor {
    const set = this.data.train;
    const Cin = this.model.vit.cfg.inChans;
    const S = set.size;
    const rng = new Rng(hashSeed(this.cfg.seed, it, 0x63726f70)); // 'crop'
    const params = idx.map((_, b) => sampleCropParams(rng, b, S, S, this.crop));
    const m = new Array<number>(Cin).fill(this.data.norm.mean);
    const s = new Array<number>(Cin).fill(this.data.norm.std);
    return scope(() => {
      const raw = Tensor.fromArray(rawBatch(set, idx, Cin), [idx.length, Cin, S, S]);
      return augmentCrops(raw, params, { size: this.model.vit.cfg.imgSize, mean: m, std: s, cubicA: this.cfg.cubicA });
    });
  }

  /** One optimisation step on training frames idx; the loss stays on the GPU (lossBuf[k]). */
  private step(idx: readonly number[], it: number, k: number, cached: Float32Array | null): void {
    const { model, cfg } = this;
    const F = model.featureDim;
    const labels = idx.map((i) => this.data.train.labels[i]);
    scope(() => {
      let feats: Tensor;
      if (cached) {
        const host = new Float32Array(idx.length * F);
        idx.forEach((i, b) => host.set(cached.subarray(i * F, (i + 1) * F), b * F));
        feats = Tensor.fromArray(host, [idx.length, F]);
      } else {
        const x = this.augmentedBatch(idx, it);
        feats = this.frozen ? A.noGrad(() => model.features(x)) : model.features(x, { rng: { seed: cfg.seed, stream: it } });
      }
      for (const o of this.opts) o.store.zeroGrad();
      const loss = A.crossEntropy(model.logits(feats), labels);
      loss.rt.copy({ buffer: loss.buffer }, { buffer: this.lossBuf.buffer, offset: k * 4 }, 4);
      A.backward(loss);
      const lr = at(this.lrS, it, 'lr');
      for (const o of this.opts) o.step({ lr, weightDecay: cfg.weightDecay });
    });
  }

  /** Head scores on features of a labelled set. */
  private async score(feats: Float32Array, set: FrameSet): Promise<{ accuracy: number; loss: number; probs: Float64Array; predictions: Int32Array }> {
    const { w, b } = await this.model.headWeights();
    const s = headScores(feats, this.model.featureDim, w, b);
    return { accuracy: accuracy(s.predictions, set.labels), loss: meanCrossEntropy(s.logits, set.labels, b.length), probs: s.probs, predictions: s.predictions };
  }

  private knn(trainFeats: Float32Array, trainLabels: number[], testFeats: Float32Array, testLabels: number[]): number {
    const F = this.model.featureDim;
    const D = this.model.vit.cfg.embedDim;
    // The k-NN feature is the final-norm CLS (SPEC §6), the last D columns of a last-n concatenation.
    return knnClassify(lastColumns(trainFeats, F, D), trainLabels, lastColumns(testFeats, F, D), testLabels, D,
      { k: this.cfg.knnK, T: this.cfg.knnT, classes: this.model.arch.classes }).accuracy;
  }

  /** Train, select on validation, evaluate the test fold. */
  async run(): Promise<FrameResult> {
    const { cfg, data, model } = this;
    const say = (l: string) => this.hooks.progress?.(l);
    const N = data.train.frames.length;
    const fold = concatFrameSets(data.train, data.val);

    // ============ features of the loaded backbone: k-NN check, cached probe inputs ============
    say(`features of ${N} train, ${data.val.frames.length} val, ${data.test.frames.length} test frames`);
    let trainF = await this.features(data.train);
    let valF = await this.features(data.val);
    let testF = await this.features(data.test);
    const knnInitial = this.knn(concatRows(trainF, valF), fold.labels, testF, data.test.labels);
    say(`k-NN (k ${cfg.knnK}, T ${cfg.knnT}) of the backbone: ${(100 * knnInitial).toFixed(1)}%`);
    const cached = cfg.cachedFeatures ? trainF : null;
    if (this.frozen) model.vit.eval();
    else model.vit.train();

    // ============ training ============
    const epochs: FrameEpochLog[] = [];
    let best = { epoch: -1, acc: -Infinity, loss: Infinity };
    let snapshot: { head: Map<string, Float32Array>; vit: Map<string, Float32Array> | null } | null = null;
    const order = Array.from({ length: N }, (_, i) => i);
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const t0 = performance.now();
      const perm = new Rng(hashSeed(cfg.seed, epoch, 0x7065726d)).shuffle([...order]); // 'perm'
      const sizes: number[] = [];
      for (let k = 0; k < this.stepsPerEpoch; k++) {
        const idx = perm.slice(k * cfg.batch, (k + 1) * cfg.batch);
        sizes.push(idx.length);
        this.step(idx, epoch * this.stepsPerEpoch + k, k, cached);
      }
      const losses = await this.lossBuf.toArray();
      const bad = losses.findIndex((l) => !Number.isFinite(l));
      if (bad >= 0) throw new Error(`frame training: non-finite loss ${losses[bad]} at epoch ${epoch}, step ${bad}`);
      const trainLoss = sizes.reduce((a, n, k) => a + n * losses[k], 0) / N;
      // ============ validation (patients of the training fold) ============
      if (!this.frozen && data.val.frames.length > 0) valF = await this.features(data.val);
      const v = data.val.frames.length > 0 ? await this.score(valF, data.val) : null;
      const log: FrameEpochLog = {
        epoch, train_loss: trainLoss,
        ...(cached ? { train_accuracy: (await this.score(cached, data.train)).accuracy } : {}),
        val_accuracy: v ? v.accuracy : null, val_loss: v ? v.loss : null,
        lr: this.lrS[(epoch + 1) * this.stepsPerEpoch - 1],
        img_per_s: (N * 1000) / (performance.now() - t0),
      };
      epochs.push(log);
      // Best validation accuracy, ties to the lower validation loss; without validation, the last epoch.
      if (v === null) best = { epoch, acc: NaN, loss: NaN };
      else if (v.accuracy > best.acc || (v.accuracy === best.acc && v.loss < best.loss)) {
        best = { epoch, acc: v.accuracy, loss: v.loss };
        snapshot = {
          head: new Map([...(await model.headStore.stateDict())].map(([n, t]) => [n, t.data])),
          vit: this.frozen ? null : new Map([...(await model.vitStore.stateDict())].map(([n, t]) => [n, t.data])),
        };
      }
      say(`epoch ${epoch + 1}/${cfg.epochs} loss ${trainLoss.toFixed(4)}` +
        (log.train_accuracy !== undefined ? ` train acc ${(100 * log.train_accuracy).toFixed(1)}%` : '') +
        (v ? ` val acc ${(100 * v.accuracy).toFixed(1)}% (best epoch ${best.epoch + 1})` : '') +
        ` lr ${log.lr.toExponential(2)} ${log.img_per_s.toFixed(1)} img/s`);
      await this.hooks.onEpoch?.(log);
    }

    // ============ the selected epoch on the test fold ============
    if (snapshot) {
      model.headStore.loadValues(snapshot.head);
      if (snapshot.vit) model.vitStore.loadValues(snapshot.vit);
    }
    let knnFinal: number | null = null;
    if (!this.frozen) {
      trainF = await this.features(data.train);
      valF = await this.features(data.val);
      testF = await this.features(data.test);
      knnFinal = this.knn(concatRows(trainF, valF), fold.labels, testF, data.test.labels);
    }
    const vs = data.val.frames.length > 0 ? await this.score(valF, data.val) : null;
    const t = await this.score(testF, data.test);
    const C = model.arch.classes;
    const test: FramePredictions = {
      accuracy: t.accuracy, loss: t.loss, labels: [...data.test.labels], predictions: Array.from(t.predictions),
      probs: Array.from({ length: data.test.labels.length }, (_, i) => Array.from(t.probs.subarray(i * C, (i + 1) * C))),
      ids: [...data.test.ids], frames: [...data.test.frameIndex],
    };
    say(`test fold: accuracy ${(100 * t.accuracy).toFixed(1)}% on ${test.labels.length} frames (epoch ${best.epoch + 1})` +
      (knnFinal !== null ? `; k-NN after fine-tuning ${(100 * knnFinal).toFixed(1)}%` : ''));
    return {
      epochs,
      bestEpoch: best.epoch,
      selection: data.val.frames.length > 0
        ? `best validation accuracy (ties: lower validation loss) on ${data.val.frames.length} frames of patients held out of the training fold`
        : 'last epoch (the training fold has too few patients for a validation split)',
      val: vs ? { accuracy: vs.accuracy, loss: vs.loss, n: data.val.frames.length } : null,
      test,
      knn: { k: cfg.knnK, T: cfg.knnT, initial: knnInitial, final: knnFinal },
    };
  }

  dispose(): void {
    for (const o of this.opts) o.dispose();
    this.lossBuf.dispose();
  }
}

/** Rows of a then rows of b, as one array. */
function concatRows(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
