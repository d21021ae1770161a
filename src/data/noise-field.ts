// Smooth random fields for the synthetic generator: white Gaussian noise blurred with a
// separable Gaussian, and fully developed speckle built from it.

import type { Rng } from './rng.js';

/** 1-D Gaussian kernel with standard deviation sigma (taps), normalised to sum 1. */
function kernel(sigma: number): Float32Array {
  if (sigma <= 0) return new Float32Array([1]);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/**
 * In-place separable Gaussian blur of a (h, w) field, edges clamped. Small sigmas use the
 * exact kernel; sigmas above 2 use three box filters (running sums, O(1) per sample whatever
 * the width), whose convolution is within a few percent of a Gaussian.
 */
export function blur(f: Float32Array, h: number, w: number, sy: number, sx: number): void {
  const line = new Float32Array(Math.max(h, w));
  const tmp = new Float32Array(Math.max(h, w));
  if (sx > 0) for (let y = 0; y < h; y++) blurLine(f, y * w, 1, w, sx, line, tmp);
  if (sy > 0) for (let x = 0; x < w; x++) blurLine(f, x, w, h, sy, line, tmp);
}

/** Blur n samples of f starting at `start` with stride `step`. */
function blurLine(f: Float32Array, start: number, step: number, n: number, sigma: number, line: Float32Array,
  tmp: Float32Array): void {
  for (let i = 0; i < n; i++) line[i] = f[start + i * step];
  if (sigma <= 2) {
    const k = kernel(sigma), r = (k.length - 1) >> 1;
    for (let i = 0; i < n; i++) {
      let a = 0;
      for (let j = -r; j <= r; j++) {
        const ii = i + j < 0 ? 0 : i + j >= n ? n - 1 : i + j;
        a += line[ii] * k[j + r];
      }
      f[start + i * step] = a;
    }
    return;
  }
  // three boxes of radius r: variance 3 * ((2r + 1)^2 - 1) / 12 = sigma^2
  const r = Math.max(1, Math.round((Math.sqrt(4 * sigma * sigma + 1) - 1) / 2));
  let src = line, dst = tmp;
  for (let pass = 0; pass < 3; pass++) {
    let acc = 0;
    for (let j = -r; j <= r; j++) acc += src[j < 0 ? 0 : j >= n ? n - 1 : j];
    const inv = 1 / (2 * r + 1);
    for (let i = 0; i < n; i++) {
      dst[i] = acc * inv;
      const add = i + r + 1, sub = i - r;
      acc += src[add >= n ? n - 1 : add] - src[sub < 0 ? 0 : sub];
    }
    const t = src;
    src = dst;
    dst = t;
  }
  for (let i = 0; i < n; i++) f[start + i * step] = src[i];
}

/** Gaussian noise blurred by (sy, sx), rescaled to zero mean and unit standard deviation. */
export function smoothNoise(rng: Rng, h: number, w: number, sy: number, sx: number): Float32Array {
  // White noise: Irwin-Hall sums of 3 uniforms (zero mean). The blur that follows makes the
  // field Gaussian by the central limit theorem, and it avoids transcendental functions.
  const f = new Float32Array(h * w);
  for (let i = 0; i < f.length; i++) f[i] = rng.next() + rng.next() + rng.next() - 1.5;
  blur(f, h, w, sy, sx);
  let s = 0, s2 = 0;
  for (let i = 0; i < f.length; i++) {
    s += f[i];
    s2 += f[i] * f[i];
  }
  const m = s / f.length;
  const sd = Math.sqrt(Math.max(1e-12, s2 / f.length - m * m));
  for (let i = 0; i < f.length; i++) f[i] = (f[i] - m) / sd;
  return f;
}

/**
 * Speckle: the envelope |I + iQ| of a band-limited complex Gaussian field, i.e. Rayleigh
 * distributed amplitude with grains of size (sy, sx): the multiplicative texture of B-mode
 * images. `contrast` k < 1 returns |I + iQ|^k instead, the lower contrast left after a
 * scanner's spatial compounding and smoothing (k = 1: fully developed speckle). Normalised
 * to mean square 1, so multiplying by it keeps the mean echo power.
 */
export function speckle(rng: Rng, h: number, w: number, sy: number, sx: number, contrast = 1): Float32Array {
  const i = smoothNoise(rng, h, w, sy, sx);
  const q = smoothNoise(rng, h, w, sy, sx);
  const out = new Float32Array(h * w);
  const e = contrast / 2;
  let p = 0;
  for (let k = 0; k < out.length; k++) {
    const m2 = i[k] * i[k] + q[k] * q[k];
    const v = e === 0.5 ? Math.sqrt(m2) : Math.pow(m2, e);
    out[k] = v;
    p += v * v;
  }
  const s = 1 / Math.sqrt(p / out.length);
  for (let k = 0; k < out.length; k++) out[k] *= s;
  return out;
}

/** 1-D smooth noise of length n with correlation length sigma (samples), unit std. */
export function smoothNoise1(rng: Rng, n: number, sigma: number): Float32Array {
  return smoothNoise(rng, 1, n, 0, sigma);
}
