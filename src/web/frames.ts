// Frames as the browser has them (RGBA pixels from a canvas: decoded images, video frames, the
// synthetic generator's output) to the model's input (SPEC §3):
//   gray    = ITU-R 601 luma / 255 in [0, 1] (src/data/resize.ts toGray, as PIL's convert('L'))
//   resize  = antialiased bilinear to size × size, aspect ratio not kept (resizeGray)
//   sample  = S frames at floor(linspace(0, T − 1, S)) (evalIndices; short clips repeat frames)
//   input   = (x − mean) / std repeated to 3 channels: (S, 3, size, size)
import { resizeGray, toGray } from '../data/resize.js';
import { evalIndices, LUS_MEAN, LUS_STD } from '../data/preprocess.js';

/** One decoded frame: RGBA bytes (ImageData's layout). */
export interface RgbaFrame {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** A square gray clip at the model's size, before normalisation. */
export interface GrayClip {
  size: number;
  /** Frames in time order, each size·size values in [0, 1]. */
  frames: Float32Array[];
}

/** RGBA frame -> gray [0, 1] resized to size × size. */
export function rgbaToGray(f: RgbaFrame, size: number): Float32Array {
  if (f.data.length !== f.width * f.height * 4) {
    throw new RangeError(`frame: ${f.data.length} bytes are not RGBA ${f.width}x${f.height}`);
  }
  const data = f.data instanceof Uint8Array ? f.data : new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.length);
  const gray = toGray({ width: f.width, height: f.height, channels: 4, data });
  return resizeGray(gray, f.height, f.width, size, size);
}

/** Decoded frames of any size -> a gray clip at the model's size. */
export function grayClip(frames: readonly RgbaFrame[], size: number): GrayClip {
  if (frames.length === 0) throw new RangeError('clip has no frames');
  return { size, frames: frames.map((f) => rgbaToGray(f, size)) };
}

export interface InputOptions {
  /** Frames the model sees (S); default 15 (SPEC). */
  frames?: number;
  mean?: number;
  std?: number;
}

/**
 * Sample S frames and normalise: returns the (S, 3, size, size) input and which clip frame
 * each of the S slots holds.
 */
export function clipInput(clip: GrayClip, opts: InputOptions = {}): { input: Float32Array; indices: number[] } {
  const S = opts.frames ?? 15;
  const mean = opts.mean ?? LUS_MEAN;
  const std = opts.std ?? LUS_STD;
  if (!(std > 0)) throw new RangeError(`normalisation std must be > 0, got ${std}`);
  const indices = evalIndices(clip.frames.length, S);
  const hw = clip.size * clip.size;
  const input = new Float32Array(S * 3 * hw);
  indices.forEach((t, s) => {
    const f = clip.frames[t];
    if (f.length !== hw) throw new RangeError(`clip frame ${t} has ${f.length} values, expected ${clip.size}x${clip.size}`);
    const o = s * 3 * hw;
    for (let i = 0; i < hw; i++) input[o + i] = (f[i] - mean) / std;
    input.copyWithin(o + hw, o, o + hw);
    input.copyWithin(o + 2 * hw, o, o + hw);
  });
  return { input, indices };
}
