// Frame preprocessing and temporal sampling (SPEC §3).
//   frames: grayscale [0, 1] at the model size (resize.ts did grayscale + antialiased resize)
//   model input: repeat to C channels, normalise (x - mean) / std         -> (S, C, H, W)
//   temporal sampling to S frames: evaluation (and any T <= S) uses floor(linspace(0, T-1, S));
//   training with T > S uses a random strided clip.

import type { Clip } from './clip.js';
import type { Rng } from './rng.js';

/** The paper's normalisation (SPEC §3); its checkpoints expect it. */
export const LUS_MEAN = 0.3261;
export const LUS_STD = 0.2283;
/** Frames per clip the video model sees (SPEC: S = 15). */
export const CLIP_FRAMES = 15;

/**
 * Evaluation indices: floor(linspace(0, T-1, S)), i.e. floor(j (T-1) / (S-1)) for j = 0..S-1,
 * computed in exact integer arithmetic. (pytorchvideo evaluates linspace in float32; at the
 * rare points where j (T-1) / (S-1) is an integer, float32 rounding can land one below. The
 * exact form is the documented intent: "nearest-neighbour" subsampling that truncates.)
 * Short clips (T < S) repeat frames. S = 1 gives [0].
 */
export function evalIndices(T: number, S: number = CLIP_FRAMES): number[] {
  if (!(T >= 1)) throw new RangeError(`evalIndices: clip has ${T} frames`);
  if (S === 1) return [0];
  const out: number[] = [];
  for (let j = 0; j < S; j++) out.push(Math.floor((j * (T - 1)) / (S - 1)));
  return out;
}

/**
 * Training indices: for T > S, step = floor(T / S), offset ~ UniformInt[0, T - S*step)
 * (0 when that range is empty), indices = offset + step * j. For T <= S, evalIndices.
 */
export function trainIndices(T: number, S: number, rng: Rng): number[] {
  if (T <= S) return evalIndices(T, S);
  const step = Math.floor(T / S);
  const room = T - S * step;
  const offset = room > 0 ? rng.int(room) : 0;
  const out: number[] = [];
  for (let j = 0; j < S; j++) out.push(offset + step * j);
  return out;
}

export interface NormalizeOptions {
  mean?: number; // default LUS_MEAN
  std?: number; // default LUS_STD
  channels?: number; // grayscale repeated to this many channels; default 3
}

/**
 * Write frames[indices] of one clip, normalised and repeated to C channels, into `out` at
 * `offset` as (S, C, H, W). Returns the number of floats written. Allocation-free: the batch
 * loader calls this for every clip of a batch into one buffer.
 */
export function writeClipTensor(clip: Clip, indices: readonly number[], out: Float32Array, offset: number,
  opts: NormalizeOptions = {}): number {
  const mean = opts.mean ?? LUS_MEAN;
  const inv = 1 / (opts.std ?? LUS_STD);
  const C = opts.channels ?? 3;
  const hw = clip.size * clip.size;
  let o = offset;
  for (const t of indices) {
    const f = clip.frames[t];
    if (f === undefined) throw new RangeError(`clip ${clip.id}: frame index ${t} out of range (${clip.frames.length} frames)`);
    for (let i = 0; i < hw; i++) out[o + i] = (f[i] - mean) * inv;
    for (let c = 1; c < C; c++) out.copyWithin(o + c * hw, o, o + hw);
    o += C * hw;
  }
  return o - offset;
}

/** One clip as a model input (S, C, H, W). */
export function clipTensor(clip: Clip, indices: readonly number[], opts: NormalizeOptions = {}): Float32Array {
  const C = opts.channels ?? 3;
  const out = new Float32Array(indices.length * C * clip.size * clip.size);
  writeClipTensor(clip, indices, out, 0, opts);
  return out;
}

/** Mean and std of all pixels of all frames (for --norm data: statistics of the training data). */
export function pixelStats(clips: readonly Clip[]): { mean: number; std: number } {
  let n = 0, s = 0, s2 = 0;
  for (const c of clips)
    for (const f of c.frames) {
      for (let i = 0; i < f.length; i++) {
        s += f[i];
        s2 += f[i] * f[i];
      }
      n += f.length;
    }
  if (n === 0) throw new RangeError('pixelStats: no pixels');
  const mean = s / n;
  return { mean, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}
