// Video-level classifiers on frozen per-frame CLS features x (B, S, D) (SPEC §4, §5): one
// Module, VideoClassifier, whose aggregator is picked by `kind`; parameter names are the
// PyTorch ones, so safetensors / .pth state dicts load by name.
//
//   dualvlad  vlad.* (dual-vlad.ts) → dense.0 Linear(K·D → C)       β: softmax over frames
//   netvlad   vlad.* without V, w  → dense.0 Linear(K·D → C)       β: uniform 1/S
//   lstm      lstm.* (bilstm.ts, H = D) → dense.0 Linear(2H → C)    β: null
//   max       dense.0 Linear(D → C) on every frame; severity s_i = Σ_c c·softmax(logits_i)_c;
//             the video's logits are the frame's with the largest s (first on ties)
//                                                                   β: one-hot of that frame
//
// The max-score baseline is not trained in the video stage (the pipeline loads the stage-2
// frame head into dense.0) but runs under autograd: the gradient reaches the chosen frame only,
// as torch's indexing would. Its choice is made on the GPU (argmax, no readback).
//
// Initial values depend only on config.seed (seeded-init.ts): dense.0 and the VLAD attention
// MLP take PyTorch's default Linear init, the LSTM U(−1/√H, 1/√H), the centroids U[0, 1) with
// the conv derived from them (initCentroids replaces them, e.g. by classMeanCentroids).
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import { noGrad } from '../autograd/tape.js';
import * as A from '../autograd/index.js';
import { binary } from '../kernels/elementwise.js';
import { reduce } from '../kernels/reduce.js';
import { Module, ModuleList } from './module.js';
import { Linear, torchLinearInit } from './layers.js';
import { seededInit } from './seeded-init.js';
import { VladLayer } from './dual-vlad.js';
import { BiLSTM } from './bilstm.js';

export { VladLayer, FRAME_TEMPERATURE } from './dual-vlad.js';
export { BiLSTM } from './bilstm.js';

export type AggregatorKind = 'dualvlad' | 'netvlad' | 'lstm' | 'max';

export const AGGREGATOR_KINDS: readonly AggregatorKind[] = ['dualvlad', 'netvlad', 'lstm', 'max'];

export interface VideoModelConfig {
  kind: AggregatorKind;
  /** D: the frame feature length (384 for ViT-S). */
  dim: number;
  /** K: VLAD clusters (MeDiVLAD: 3, one per class). */
  clusters?: number;
  /** C: classes (3: LUS 0, 1–2, 3). */
  classes?: number;
  /** α of the conv init from the centroids (MeDiVLAD: 1; lyakaap's NetVLAD: 100). */
  alpha?: number;
  /** Seed of every initial value. */
  seed?: number;
}

export const VIDEO_MODEL_DEFAULTS = { clusters: 3, classes: 3, alpha: 1.0, seed: 0 } as const;

export class VideoClassifier extends Module {
  readonly config: Required<VideoModelConfig>;
  readonly vlad: VladLayer | null = null;
  readonly lstm: BiLSTM | null = null;
  readonly dense: ModuleList<Linear>;

  constructor(cfg: VideoModelConfig) {
    super();
    const c: Required<VideoModelConfig> = { ...VIDEO_MODEL_DEFAULTS, ...cfg };
    if (!AGGREGATOR_KINDS.includes(c.kind)) throw new Error(`VideoClassifier: unknown kind '${c.kind}' (one of ${AGGREGATOR_KINDS.join(', ')})`);
    for (const k of ['dim', 'clusters', 'classes'] as const) {
      if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`VideoClassifier(${c.kind}): ${k} ${c[k]} must be an integer >= 1`);
    }
    if (!Number.isFinite(c.alpha)) throw new Error(`VideoClassifier(${c.kind}): alpha ${c.alpha} must be finite`);
    if (!Number.isInteger(c.seed)) throw new Error(`VideoClassifier(${c.kind}): seed ${c.seed} must be an integer`);
    this.config = c;
    const { dim: D, clusters: K, classes: C, seed } = c;
    let inDense = D;
    if (c.kind === 'dualvlad' || c.kind === 'netvlad') {
      this.vlad = this.child('vlad', new VladLayer(K, D, c.alpha, c.kind === 'dualvlad', seed));
      inDense = K * D;
    } else if (c.kind === 'lstm') {
      this.lstm = this.child('lstm', new BiLSTM(D, D, seed));
      inDense = 2 * D;
    }
    const dense = new Linear(inDense, C, {
      weightInit: seededInit(seed, 'dense.0.weight', torchLinearInit(inDense)),
      biasInit: seededInit(seed, 'dense.0.bias', torchLinearInit(inDense)),
    });
    this.dense = this.child('dense', new ModuleList([dense]));
  }

  /**
   * x: (B, S, D) frozen per-frame CLS features. logits (B, C); beta (B, S): per-frame weights
   * (DualVLAD: the softmax over frames; NetVLAD: uniform 1/S; LSTM: null; max: one-hot at the
   * critical frame).
   */
  forward(x: Tensor): { logits: Tensor; beta: Tensor | null } {
    const { kind, dim } = this.config;
    x.assertAlive(`VideoClassifier(${kind})`);
    if (x.ndim !== 3 || x.shape[2] !== dim || x.shape[0] < 1 || x.shape[1] < 1) {
      throw new Error(`VideoClassifier(${kind}): input x ${shapeStr(x.shape)} must be (B, S, D = ${dim}) with B, S >= 1`);
    }
    const head = this.dense.items[0];
    return scope(() => {
      if (this.vlad) {
        const { desc, beta } = this.vlad.forward(x);
        return { logits: head.forward(desc), beta };
      }
      if (this.lstm) return { logits: head.forward(this.lstm.forward(x)), beta: null };
      return maxScore(head.forward(x)); // frame logits (B, S, C)
    });
  }
}

/** The max-score choice: frame logits (B, S, C) → the logits of the most severe frame, and its one-hot. */
function maxScore(frameLogits: Tensor): { logits: Tensor; beta: Tensor } {
  const [B, S, C] = frameLogits.shape;
  // Two tiny constant uploads per call (the class scores 0…C−1 and the frame indices 0…S−1).
  const beta = noGrad(() =>
    scope(() => {
      const p = A.softmax(frameLogits, -1); // (B, S, C)
      const scores = Tensor.fromArray(Float32Array.from({ length: C }, (_, c) => c), [1, C], frameLogits.rt);
      const severity = A.linear(p, scores, null); // (B, S, 1): Σ_c c·p_ic
      const idx = reduce('argmax', A.reshape(severity, [B, S]), 1); // (B): first maximum, as torch
      const frames = Tensor.fromArray(Float32Array.from({ length: S }, (_, s) => s), [1, S], frameLogits.rt);
      return binary('eq', A.reshape(idx, [B, 1]), frames); // (B, S) one-hot, 1.0 / 0.0
    }),
  );
  // logits_b = Σ_i β_bi · frameLogits_bi: a (1, S) × (S, C) product per video, so the gradient
  // goes to the chosen frame's logits (β is a constant).
  const logits = A.reshape(A.matmul(A.reshape(beta, [B, 1, S]), frameLogits), [B, C]);
  return { logits, beta };
}

export function createVideoModel(cfg: VideoModelConfig): VideoClassifier {
  return new VideoClassifier(cfg);
}

/**
 * SPEC §4 init from centroids (K×D, row-major): c = centroids, conv w_k = 2α c_k,
 * b_k = −α‖c_k‖ (norm, not squared). Works before and after a ParameterStore materialised the model.
 */
export function initCentroids(model: VideoClassifier, centroids: Float32Array): void {
  if (!model.vlad) throw new Error(`initCentroids: a '${model.config.kind}' model has no VLAD centroids`);
  model.vlad.setCentroids(centroids);
}

/**
 * Per-class means of L2-normalised features (the paper's centroid init, SPEC §11): features
 * (N, dim) row-major, labels (N) in [0, classes). Returns (classes, dim). A class with no sample
 * is an error naming the class.
 */
export function classMeanCentroids(features: Float32Array, labels: ArrayLike<number>, dim: number, classes: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`classMeanCentroids: dim ${dim} must be an integer >= 1`);
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`classMeanCentroids: classes ${classes} must be an integer >= 1`);
  const n = labels.length;
  if (features.length !== n * dim) {
    throw new Error(`classMeanCentroids: features hold ${features.length} values, expected ${n} labels × dim ${dim} = ${n * dim}`);
  }
  const sum = new Float64Array(classes * dim);
  const count = new Array<number>(classes).fill(0);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new Error(`classMeanCentroids: label ${y} of sample ${i} is not a class in [0, ${classes})`);
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += features[i * dim + j] ** 2;
    if (!Number.isFinite(ss)) throw new Error(`classMeanCentroids: feature row ${i} is not finite`);
    const inv = 1 / Math.max(Math.sqrt(ss), 1e-12); // F.normalize's eps
    for (let j = 0; j < dim; j++) sum[y * dim + j] += features[i * dim + j] * inv;
    count[y]++;
  }
  const empty = count.findIndex((c) => c === 0);
  if (empty >= 0) throw new Error(`classMeanCentroids: class ${empty} has no sample (counts per class: ${count.join(', ')})`);
  const out = new Float32Array(classes * dim);
  for (let k = 0; k < classes; k++) for (let j = 0; j < dim; j++) out[k * dim + j] = sum[k * dim + j] / count[k];
  return out;
}
