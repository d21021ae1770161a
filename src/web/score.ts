// The browser scoring pipeline (SPEC §3, §4, §9), on the GPU except for the last few numbers:
//   clip (T gray frames) → S frames at floor(linspace) → (S, 3, size, size) normalised
//     → ViT CLS per frame (S, D) → aggregator → logits (C), β (S)
//     → probabilities softmax(logits) (float64 on the host), critical frame = argmax β
//     → that frame's last-block CLS attention, thresholded to θ = 60% of the mass per head.
// Everything runs under noGrad in scopes: no tensor outlives a call.
import { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import { noGrad } from '../autograd/tape.js';
import { concat, reshape } from '../autograd/ops/shape.js';
import { resizeGray } from '../data/resize.js';
import { clipInput, type GrayClip } from './frames.js';
import { clsAttentionHeatmap, DEFAULT_MASS, type AttentionHeatmap } from './attention-map.js';
import type { ScoringModel } from './model.js';

export interface EmbedResult {
  /** (S, D) row-major CLS features. */
  features: Float32Array;
  dim: number;
  /** Clip frame behind each of the S slots. */
  indices: number[];
}

export interface ScoreResult extends EmbedResult {
  logits: number[];
  /** softmax(logits), float64. */
  probs: number[];
  /** argmax of probs. */
  predicted: number;
  /** Per-slot frame weight β (S), or null for an aggregator without one (Bi-LSTM). */
  beta: number[] | null;
  /** Slot of the largest β (first on ties); null without β. */
  critical: number | null;
  /** The clip frame whose attention is shown: the critical frame's, else the middle slot's. */
  attentionFrame: number;
  attention: AttentionHeatmap;
  ms: { embedAndScore: number; attention: number };
}

export interface ScoreOptions {
  /** Mass kept per attention head (SPEC §9: 0.6). */
  theta?: number;
  /** Frames per ViT forward (bounds activation memory at 224 px). Default 8. */
  batch?: number;
}

/** The clip at the model's size (resized when it is not). */
function atModelSize(model: ScoringModel, clip: GrayClip): GrayClip {
  const s = model.size;
  if (clip.size === s) return clip;
  return { size: s, frames: clip.frames.map((f) => resizeGray(f, clip.size, clip.size, s, s)) };
}

/** CLS features of the S sampled frames as one (S, D) tensor (caller disposes). */
function featuresTensor(model: ScoringModel, input: Float32Array, S: number, batch: number): Tensor {
  const size = model.size;
  const per = 3 * size * size;
  return noGrad(() =>
    scope(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < S; s += batch) {
        const n = Math.min(batch, S - s);
        const x = Tensor.fromArray(input.subarray(s * per, (s + n) * per), [n, 3, size, size]);
        parts.push(model.vit.forward(x)); // (n, D)
      }
      return parts.length === 1 ? parts[0] : concat(parts, 0);
    }),
  );
}

/** The ViT's CLS feature of each sampled frame (`medivlad embed`, in the browser). */
export async function embedClip(model: ScoringModel, clip: GrayClip, opts: ScoreOptions = {}): Promise<EmbedResult> {
  const { input, indices } = clipInput(atModelSize(model, clip), model.options);
  const f = featuresTensor(model, input, indices.length, opts.batch ?? 8);
  try {
    return { features: await f.toArray(), dim: model.vit.cfg.embedDim, indices };
  } finally {
    f.dispose();
  }
}

/** Softmax in float64: the probabilities sum to 1 up to rounding of doubles. */
export function softmax64(logits: readonly number[]): number[] {
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

function argmax(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Last-block CLS attention of one gray frame (size·size values at the model's size). */
export async function attentionMap(model: ScoringModel, frame: Float32Array, theta = DEFAULT_MASS): Promise<AttentionHeatmap> {
  const size = model.size;
  const { input } = clipInput({ size, frames: [frame] }, { ...model.options, frames: 1 });
  const p = noGrad(() => scope(() => model.vit.lastSelfAttention(Tensor.fromArray(input, [1, 3, size, size])))); // (1, H, N, N)
  try {
    return clsAttentionHeatmap(await p.toArray(), model.vit.cfg.numHeads, theta);
  } finally {
    p.dispose();
  }
}

/** Score a clip: class probabilities, per-frame β, the critical frame and its attention map. */
export async function scoreClip(model: ScoringModel, clip: GrayClip, opts: ScoreOptions = {}): Promise<ScoreResult> {
  const t0 = performance.now();
  const sized = atModelSize(model, clip);
  const { input, indices } = clipInput(sized, model.options);
  const S = indices.length;
  const D = model.vit.cfg.embedDim;
  const out = noGrad(() =>
    scope(() => {
      const f = featuresTensor(model, input, S, opts.batch ?? 8);
      const { logits, beta } = model.video.forward(reshape(f, [1, S, D]));
      return { f, logits, beta };
    }),
  );
  let features: Float32Array, logits: number[], beta: number[] | null;
  try {
    features = await out.f.toArray();
    logits = Array.from(await out.logits.toArray());
    beta = out.beta ? Array.from(await out.beta.toArray()) : null;
  } finally {
    for (const t of [out.f, out.logits, out.beta]) t?.dispose();
  }
  const t1 = performance.now();
  const critical = beta ? argmax(beta) : null;
  const attentionFrame = indices[critical ?? S >> 1];
  const attention = await attentionMap(model, sized.frames[attentionFrame], opts.theta);
  const probs = softmax64(logits);
  return {
    features, dim: D, indices, logits, probs, predicted: argmax(probs), beta, critical, attentionFrame, attention,
    ms: { embedAndScore: t1 - t0, attention: performance.now() - t1 },
  };
}
