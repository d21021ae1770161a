// Per-frame features of whole clips for the video stage (SPEC §3, §7 stage 3). The frame
// backbone is frozen in stage 3, so every frame's CLS feature is computed once and cached;
// video training then never runs the ViT.
//
// Video augmentation (SPEC §3) draws one set of parameters per clip: hflip 0.5, time reversal
// 0.5, ColorJiggle(0.4, 0.4) (brightness x + U(-0.4, 0.4), contrast x·U(0.6, 1.4), each
// clamped to [0, 1], in random order), centre crop with ratio U(0.4, 1) at p 0.5, resize back.
// Flip, jitter and crop change the pixels, so they are baked into `views`: view 0 is the clean
// clip, views 1..V-1 are augmented copies (features computed once each). Time reversal and the
// random strided temporal sampling only reorder frames, so they are drawn every step.
import { Rng, hashSeed } from '../data/rng.js';
import { resizeGray } from '../data/resize.js';
import { evalIndices, trainIndices } from '../data/preprocess.js';
import type { Clip } from '../data/clip.js';
import type { VisionTransformer } from '../models/vit.js';
import { extractFeatures, type FrameSource } from '../eval/features.js';
import type { Normalization } from './frame-data.js';

/** One clip's pixel augmentation (shared by all its frames). */
export interface VideoAugment {
  flip: boolean;
  /** Additive brightness shift and contrast factor, applied in `order`. */
  brightness: number;
  contrast: number;
  contrastFirst: boolean;
  /** Centre-crop side ratio, or null for no crop. */
  crop: number | null;
}

/** SPEC §3 draws (time reversal is drawn per step, see sampleClip). */
export function sampleVideoAugment(rng: Rng): VideoAugment {
  const flip = rng.next() < 0.5;
  const brightness = -0.4 + 0.8 * rng.next();
  const contrast = 0.6 + 0.8 * rng.next();
  const contrastFirst = rng.next() < 0.5;
  const crop = rng.next() < 0.5 ? 0.4 + 0.6 * rng.next() : null;
  return { flip, brightness, contrast, contrastFirst, crop };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Apply an augmentation to one gray frame (size²): flip, jiggle, centre crop + resize back. */
export function augmentFrame(f: Float32Array, size: number, a: VideoAugment): Float32Array {
  let out: Float32Array = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = f[y * size + (a.flip ? size - 1 - x : x)];
      // kornia ColorJiggle: brightness adds, contrast multiplies; each result is clamped
      if (a.contrastFirst) v = clamp01(clamp01(v * a.contrast) + a.brightness);
      else v = clamp01(clamp01(v + a.brightness) * a.contrast);
      out[y * size + x] = v;
    }
  }
  if (a.crop !== null) {
    const side = Math.max(1, Math.round(size * a.crop));
    const off = Math.floor((size - side) / 2);
    const win = new Float32Array(side * side);
    for (let y = 0; y < side; y++) win.set(out.subarray((off + y) * size + off, (off + y) * size + off + side), y * side);
    out = resizeGray(win, side, side, size, size);
  }
  return out;
}

/** Cached per-frame features of a set of clips. */
export interface ClipFeatures {
  ids: string[];
  patients: string[];
  labels: (number | null)[];
  /** Frames per clip. */
  T: number[];
  /** Feature length D. */
  dim: number;
  /** feats[view][clip]: (T, D) row-major. View 0 is the clean clip. */
  feats: Float32Array[][];
}

export interface ClipFeatureOptions {
  norm: Normalization;
  /** Clean view + (views - 1) augmented views. Default 1. */
  views?: number;
  seed?: number;
  /** Images per forward pass. */
  batch?: number;
  progress?: (done: number, total: number) => void;
}

/** Features of every frame of every clip (and of each augmented view). */
export async function computeClipFeatures(vit: VisionTransformer, clips: readonly Clip[], opts: ClipFeatureOptions): Promise<ClipFeatures> {
  const views = opts.views ?? 1;
  if (!(Number.isInteger(views) && views >= 1)) throw new Error(`clip features: views ${views} must be an integer >= 1`);
  if (clips.length === 0) throw new Error('clip features: no clips');
  const size = vit.cfg.imgSize;
  const C = vit.cfg.inChans;
  for (const c of clips) {
    if (c.size !== size) throw new Error(`clip features: clip ${c.id} is ${c.size} px, the ViT runs at ${size} (load the data at the model size)`);
    if (c.frames.length === 0) throw new Error(`clip features: clip ${c.id} has no frames`);
  }
  const D = vit.cfg.embedDim;
  const T = clips.map((c) => c.frames.length);
  const total = T.reduce((a, b) => a + b, 0);
  const feats: Float32Array[][] = [];
  let done = 0;
  for (let v = 0; v < views; v++) {
    const augs = clips.map((c, i) => (v === 0 ? null : sampleVideoAugment(new Rng(hashSeed(opts.seed ?? 0, i, v, 0x76617567))))); // 'vaug'
    // frame k of the flattened (clip, frame) list
    const where: [number, number][] = [];
    clips.forEach((c, i) => c.frames.forEach((_, t) => where.push([i, t])));
    const { mean, std } = opts.norm;
    const src: FrameSource = {
      length: total,
      size,
      channels: C,
      fill: (start, n, out) => {
        const per = size * size;
        for (let k = 0; k < n; k++) {
          const [i, t] = where[start + k];
          const a = augs[i];
          const f = a ? augmentFrame(clips[i].frames[t], size, a) : clips[i].frames[t];
          for (let ch = 0; ch < C; ch++) {
            const o = (k * C + ch) * per;
            for (let p = 0; p < per; p++) out[o + p] = (f[p] - mean) / std;
          }
        }
      },
    };
    const all = await extractFeatures(vit, src, {
      batch: opts.batch ?? 32,
      progress: (d) => opts.progress?.(done + d, total * views),
    });
    done += total;
    const perClip: Float32Array[] = [];
    let off = 0;
    for (const t of T) {
      perClip.push(all.slice(off * D, (off + t) * D));
      off += t;
    }
    feats.push(perClip);
  }
  return { ids: clips.map((c) => c.id), patients: clips.map((c) => c.patient), labels: clips.map((c) => c.label), T, dim: D, feats };
}

/**
 * The S-frame feature sequence (S·D) of clip i. Training: a random view, random strided
 * indices and time reversal with p 0.5; evaluation: the clean view and floor(linspace).
 */
export function sampleClip(set: ClipFeatures, i: number, S: number, train: { rng: Rng } | null, out: Float32Array, offset = 0): number[] {
  const D = set.dim;
  let view = 0;
  let idx: number[];
  if (train) {
    view = set.feats.length > 1 ? train.rng.int(set.feats.length) : 0;
    idx = trainIndices(set.T[i], S, train.rng);
    if (train.rng.next() < 0.5) idx = idx.slice().reverse();
  } else {
    idx = evalIndices(set.T[i], S);
  }
  const f = set.feats[view][i];
  idx.forEach((t, s) => out.set(f.subarray(t * D, (t + 1) * D), offset + s * D));
  return idx;
}

/** Features of a subset of clips (same views), by index. */
export function subsetFeatures(set: ClipFeatures, idx: readonly number[]): ClipFeatures {
  return {
    ids: idx.map((i) => set.ids[i]),
    patients: idx.map((i) => set.patients[i]),
    labels: idx.map((i) => set.labels[i]),
    T: idx.map((i) => set.T[i]),
    dim: set.dim,
    feats: set.feats.map((v) => idx.map((i) => v[i])),
  };
}
