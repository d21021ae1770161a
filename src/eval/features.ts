// Frozen-backbone features for evaluation (SPEC §6 k-NN and linear probe, §9 DINO linear eval):
// the ViT runs in eval mode, without the tape, over batches of at most `batch` images, and
// only the (N, F) features stay on the host. Memory is bounded by one batch of images and its
// activations, whatever N is.
//
//   lastN = 1 (default): F = D, the CLS token of the last block after the final LayerNorm
//                        (the MeDiVLAD frame feature, SPEC §3);
//   lastN = n > 1:       F = n·D, the CLS tokens of the last n blocks, each through the final
//                        norm, concatenated in block order (DINO's eval_linear for ViT-S:
//                        n = 4, F = 1536). The last D columns equal the lastN = 1 feature.
//
// Platform-neutral: no Node built-ins.
import { Tensor, noGrad, scope } from '../autograd/index.js';
import type { VisionTransformer } from '../models/vit.js';

/** Frames that fill model-ready batches on demand (already resized, repeated to C channels, normalised). */
export interface FrameSource {
  /** Number of frames N. */
  readonly length: number;
  /** Square side of every frame (the model input size). */
  readonly size: number;
  /** Channels per frame (the ViT's inChans, 3 for repeated grayscale). */
  readonly channels: number;
  /** Write frames [start, start + n) as (n, C, size, size) into out (length n·C·size²). */
  fill(start: number, n: number, out: Float32Array): void;
}

export interface FeatureOptions {
  /** Images per forward pass (bounds memory). Default 16. */
  batch?: number;
  /** Concatenate the CLS of the last n blocks (DINO linear eval: 4). Default 1. */
  lastN?: number;
  /** Square side of the images when `images` is a plain array (N·C·size² values). */
  size?: number;
  /** Called after each batch with (done, total). */
  progress?: (done: number, total: number) => void;
}

/** A plain (N, C, H, W) array of normalised images seen as a FrameSource. */
export function arrayFrames(images: Float32Array, size: number, channels: number): FrameSource {
  const per = channels * size * size;
  if (!(Number.isInteger(size) && size > 0) || images.length % per !== 0) {
    throw new Error(`extractFeatures: images of ${images.length} values are not (N, ${channels}, ${size}, ${size})`);
  }
  return {
    length: images.length / per,
    size,
    channels,
    fill: (start, n, out) => out.set(images.subarray(start * per, (start + n) * per)),
  };
}

/** Feature width for a ViT and lastN. */
export function featureDim(vit: VisionTransformer, lastN = 1): number {
  return lastN * vit.cfg.embedDim;
}

/**
 * Features (N, F) of every image, row-major: no grad, eval mode (restored afterwards), batched.
 * `images` is a normalised (N, C, size, size) Float32Array (then opts.size is required) or a FrameSource.
 */
export async function extractFeatures(
  vit: VisionTransformer,
  images: Float32Array | FrameSource,
  opts: FeatureOptions = {},
): Promise<Float32Array> {
  const C = vit.cfg.inChans;
  let src: FrameSource;
  if (images instanceof Float32Array) {
    if (opts.size === undefined) throw new Error('extractFeatures: a plain image array needs opts.size (square side)');
    src = arrayFrames(images, opts.size, C);
  } else src = images;
  const lastN = opts.lastN ?? 1;
  const depth = vit.cfg.depth;
  if (!(Number.isInteger(lastN) && lastN >= 1 && lastN <= depth)) {
    throw new Error(`extractFeatures: lastN ${lastN} must be an integer in 1..${depth} (the ViT's depth)`);
  }
  if (src.channels !== C) throw new Error(`extractFeatures: frames have ${src.channels} channels, the ViT takes ${C}`);
  const P = vit.cfg.patchSize;
  if (src.size % P !== 0) throw new Error(`extractFeatures: frame side ${src.size} is not a multiple of the patch ${P}`);
  const batch = opts.batch ?? 16;
  if (!(Number.isInteger(batch) && batch >= 1)) throw new Error(`extractFeatures: batch ${batch} must be a positive integer`);

  const N = src.length;
  const F = featureDim(vit, lastN);
  const S = src.size;
  const out = new Float32Array(N * F);
  const host = new Float32Array(Math.min(batch, N) * C * S * S);
  const wasTraining = vit.training;
  vit.eval(); // no drop-path; DINO's eval scripts call model.eval() too
  try {
    for (let s = 0; s < N; s += batch) {
      const n = Math.min(batch, N - s);
      const view = host.subarray(0, n * C * S * S);
      src.fill(s, n, view);
      const y = noGrad(() =>
        scope(() => {
          const x = Tensor.fromArray(view, [n, C, S, S]);
          return lastN === 1 ? vit.forward(x) : vit.lastCls(x, lastN); // (n, F)
        }),
      );
      try {
        out.set(await y.toArray(), s * F);
      } finally {
        y.dispose();
      }
      opts.progress?.(s + n, N);
    }
  } finally {
    vit.train(wasTraining);
  }
  return out;
}
