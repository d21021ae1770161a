// Grayscale conversion and antialiased bilinear resizing (SPEC §3: "bilinear, antialias,
// aspect ratio not kept"), matching PyTorch's interpolate(mode='bilinear', antialias=True,
// align_corners=False), which is PIL's resampling scheme:
//   scale = in / out; support = max(scale, 1)            (triangle filter of radius 1, stretched
//                                                          by the scale when shrinking)
//   centre of output i in input coordinates: c = (i + 0.5) * scale
//   taps j in [trunc(c - support + 0.5), trunc(c + support + 0.5)) ∩ [0, in)
//   w_j = max(0, 1 - |(j + 0.5 - c) / max(scale, 1)|), normalised to sum 1.
// Upsampling (scale < 1) reduces to ordinary bilinear with edge clamping. The filter is
// separable: rows first, then columns; tables are cached per (in, out).

import type { Image8 } from './png.js';

interface Taps {
  start: Int32Array; // (out) first input index
  count: Int32Array; // (out) number of taps
  weights: Float32Array; // (out, maxTaps)
  maxTaps: number;
}

const tapCache = new Map<string, Taps>();

function taps(inSize: number, outSize: number): Taps {
  const key = `${inSize}>${outSize}`;
  const hit = tapCache.get(key);
  if (hit) return hit;
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const inv = 1 / Math.max(scale, 1);
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let i = 0; i < outSize; i++) {
    const c = (i + 0.5) * scale;
    const lo = Math.max(Math.trunc(c - support + 0.5), 0);
    const hi = Math.min(Math.trunc(c + support + 0.5), inSize);
    let total = 0;
    const w: number[] = [];
    for (let j = lo; j < hi; j++) {
      const v = Math.max(0, 1 - Math.abs((j + 0.5 - c) * inv));
      w.push(v);
      total += v;
    }
    start[i] = lo;
    count[i] = w.length;
    for (let k = 0; k < w.length; k++) weights[i * maxTaps + k] = total > 0 ? w[k] / total : 0;
  }
  const t = { start, count, weights, maxTaps };
  tapCache.set(key, t);
  return t;
}

/**
 * Resize a single-channel float image (h, w) to (outH, outW) with the antialiased bilinear
 * filter above. Returns a new array; src is not modified.
 */
export function resizeGray(src: Float32Array, h: number, w: number, outH: number, outW: number): Float32Array {
  if (src.length !== h * w) throw new RangeError(`resizeGray: ${src.length} values for ${h}x${w}`);
  if (h === outH && w === outW) return src.slice();
  const tx = taps(w, outW);
  const ty = taps(h, outH);
  // rows pass: (h, w) -> (h, outW)
  const mid = new Float32Array(h * outW);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < outW; x++) {
      const s = row + tx.start[x];
      const n = tx.count[x];
      const wo = x * tx.maxTaps;
      let acc = 0;
      for (let k = 0; k < n; k++) acc += src[s + k] * tx.weights[wo + k];
      mid[y * outW + x] = acc;
    }
  }
  // columns pass: (h, outW) -> (outH, outW)
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const s = ty.start[y];
    const n = ty.count[y];
    const wo = y * ty.maxTaps;
    const o = y * outW;
    for (let k = 0; k < n; k++) {
      const wk = ty.weights[wo + k];
      const r = (s + k) * outW;
      for (let x = 0; x < outW; x++) out[o + x] += mid[r + x] * wk;
    }
  }
  return out;
}

/**
 * 8-bit image (any channel count) to grayscale floats in [0, 1]. Colour uses ITU-R 601 luma
 * (0.299 R + 0.587 G + 0.114 B, as PIL's convert('L') and torchvision's rgb_to_grayscale);
 * alpha is ignored.
 */
export function toGray(img: Image8): Float32Array {
  const { width, height, channels, data } = img;
  const n = width * height;
  const out = new Float32Array(n);
  if (channels <= 2) {
    for (let i = 0; i < n; i++) out[i] = data[i * channels] / 255;
  } else {
    for (let i = 0; i < n; i++) {
      const o = i * channels;
      out[i] = (0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2]) / 255;
    }
  }
  return out;
}

/** Gray floats in [0, 1] to 8-bit (rounded, clamped), for writing PNGs. */
export function toUint8(frame: Float32Array): Uint8Array {
  const out = new Uint8Array(frame.length);
  for (let i = 0; i < frame.length; i++) {
    const v = Math.round(frame[i] * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}
