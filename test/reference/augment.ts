// Float64 references for shaders/augment.wgsl, written plainly: one function per pass, crop by
// crop, pixel by pixel. Only the host-sampled CropParams are shared with src/kernels/augment.ts.
import type { CropParams } from '../../src/kernels/augment.js';

type Arr = ArrayLike<number>;

/** Keys cubic kernel with coefficient a. */
export function cubicRef(t: number, a: number): number {
  const x = Math.abs(t);
  if (x < 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
  if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
  return 0;
}

/**
 * Antialiased bicubic weights (PIL / PyTorch antialias=True) for resampling len -> s:
 * for output o, taps lo..lo+ws.length-1 of the input and their normalised weights.
 */
export function aaWeightsRef(len: number, s: number, a: number): { lo: number; ws: number[] }[] {
  const scale = len / s;
  const widen = Math.max(scale, 1); // filter stretched by the downscale factor
  const support = 2 * widen;
  const rows: { lo: number; ws: number[] }[] = [];
  for (let o = 0; o < s; o++) {
    const centre = scale * (o + 0.5);
    const lo = Math.max(Math.trunc(centre - support + 0.5), 0);
    const hi = Math.min(Math.trunc(centre + support + 0.5), len);
    const ws: number[] = [];
    for (let q = lo; q < hi; q++) ws.push(cubicRef((q - centre + 0.5) / widen, a));
    const tot = ws.reduce((u, v) => u + v, 0);
    rows.push({ lo, ws: tot !== 0 ? ws.map((v) => v / tot) : ws });
  }
  return rows;
}

/** Resized crop + flip: x (B, C, H, W) -> (NC, C, S, S), as a direct 2-D weighted sum. */
export function resizedCropRef(x: Arr, B: number, C: number, H: number, W: number, ps: readonly CropParams[], s: number, a: number): Float64Array {
  const out = new Float64Array(ps.length * C * s * s);
  ps.forEach((q, n) => {
    if (q.src >= B) throw new Error(`crop ${n}: source ${q.src} >= B ${B}`);
    const wx = aaWeightsRef(q.w, s, a);
    const wy = aaWeightsRef(q.h, s, a);
    for (let c = 0; c < C; c++) {
      const plane = (q.src * C + c) * H * W;
      for (let i = 0; i < s; i++) {
        for (let o = 0; o < s; o++) {
          const ox = q.flip ? s - 1 - o : o;
          let acc = 0;
          wy[i].ws.forEach((ky, dy) => {
            const row = plane + (q.y0 + wy[i].lo + dy) * W + q.x0;
            wx[ox].ws.forEach((kx, dx) => {
              acc += ky * kx * x[row + wx[ox].lo + dx];
            });
          });
          out[((n * C + c) * s + i) * s + o] = acc;
        }
      }
    }
  });
  return out;
}

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
const grayOf = (r: number, g: number, b: number) => 0.2989 * r + 0.587 * g + 0.114 * b;

/** torchvision adjust_hue on one pixel: RGB -> HSV (its _rgb2hsv), h + f mod 1, -> RGB. */
export function hueRef(r: number, g: number, b: number, f: number): [number, number, number] {
  const maxc = Math.max(r, g, b);
  const minc = Math.min(r, g, b);
  const eqc = maxc === minc;
  const cr = maxc - minc;
  const s = cr / (eqc ? 1 : maxc);
  const d = eqc ? 1 : cr;
  const rc = (maxc - r) / d;
  const gc = (maxc - g) / d;
  const bc = (maxc - b) / d;
  let h: number;
  if (maxc === r) h = bc - gc;
  else if (maxc === g) h = 2 + rc - bc;
  else h = 4 + gc - rc;
  const mod1 = (v: number) => v - Math.floor(v);
  h = mod1(mod1(h / 6 + 1) + f);
  const i = Math.floor(h * 6);
  const fr = h * 6 - i;
  const p = clamp01(maxc * (1 - s));
  const qv = clamp01(maxc * (1 - s * fr));
  const t = clamp01(maxc * (1 - s * (1 - fr)));
  const v = maxc;
  const table: [number, number, number][] = [[v, t, p], [qv, v, p], [p, v, t], [p, qv, v], [t, p, v], [v, p, qv]];
  return table[i % 6];
}

/** ColorJitter (in the crop's order, when applied) then RandomGrayscale, on crops y (NC, C, S, S). */
export function colourRef(y: Arr, C: number, s: number, ps: readonly CropParams[]): Float64Array {
  const out = Float64Array.from(y);
  const hw = s * s;
  ps.forEach((q, n) => {
    const base = n * C * hw;
    const px = (c: number, i: number) => base + c * hw + i;
    const grayAt = (i: number) => (C === 3 ? grayOf(out[px(0, i)], out[px(1, i)], out[px(2, i)]) : out[px(0, i)]);
    if (q.jitter) {
      for (const op of q.order) {
        if (op === 0) {
          for (let i = 0; i < C * hw; i++) out[base + i] = clamp01(q.bright * out[base + i]);
        } else if (op === 1) {
          let m = 0;
          for (let i = 0; i < hw; i++) m += grayAt(i);
          m /= hw;
          for (let i = 0; i < C * hw; i++) out[base + i] = clamp01(q.contrast * out[base + i] + (1 - q.contrast) * m);
        } else if (op === 2) {
          for (let i = 0; i < hw; i++) {
            const g = grayAt(i); // C = 1: the pixel itself, so only the clamp acts
            for (let c = 0; c < C; c++) out[px(c, i)] = clamp01(q.sat * out[px(c, i)] + (1 - q.sat) * g);
          }
        } else if (C === 3) {
          for (let i = 0; i < hw; i++) {
            const [r, g, b] = hueRef(out[px(0, i)], out[px(1, i)], out[px(2, i)], q.hue);
            out[px(0, i)] = r;
            out[px(1, i)] = g;
            out[px(2, i)] = b;
          }
        } // C = 1: hue is a no-op
      }
    }
    if (q.gray && C === 3) {
      for (let i = 0; i < hw; i++) {
        const g = grayAt(i);
        for (let c = 0; c < 3; c++) out[px(c, i)] = g;
      }
    }
  });
  return out;
}

/** torchvision GaussianBlur(9, sigma) with reflect padding, per crop (sigma 0: unchanged). */
export function blurRef(y: Arr, C: number, s: number, ps: readonly CropParams[]): Float64Array {
  const out = Float64Array.from(y);
  const refl = (i: number) => (i < 0 ? -i : i >= s ? 2 * (s - 1) - i : i);
  ps.forEach((q, n) => {
    if (q.sigma === 0) return;
    const k: number[] = [];
    for (let j = -4; j <= 4; j++) k.push(Math.exp(-0.5 * (j / q.sigma) ** 2));
    const tot = k.reduce((u, v) => u + v, 0);
    const g = k.map((v) => v / tot);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * s * s;
      const tmp = new Float64Array(s * s);
      for (let i = 0; i < s; i++) {
        for (let o = 0; o < s; o++) {
          let acc = 0;
          for (let j = -4; j <= 4; j++) acc += g[j + 4] * y[plane + i * s + refl(o + j)];
          tmp[i * s + o] = acc;
        }
      }
      for (let i = 0; i < s; i++) {
        for (let o = 0; o < s; o++) {
          let acc = 0;
          for (let j = -4; j <= 4; j++) acc += g[j + 4] * tmp[refl(i + j) * s + o];
          out[plane + i * s + o] = acc;
        }
      }
    }
  });
  return out;
}

/** Solarize (x >= 0.5 -> 1 - x) where flagged, then (x - mean_c) / std_c. */
export function finishRef(y: Arr, C: number, s: number, ps: readonly CropParams[], mean: readonly number[], std: readonly number[]): Float64Array {
  const out = new Float64Array(y.length);
  ps.forEach((q, n) => {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < s * s; i++) {
        const at = (n * C + c) * s * s + i;
        const v = q.solarize && y[at] >= 0.5 ? 1 - y[at] : y[at];
        out[at] = (v - mean[c]) / std[c];
      }
    }
  });
  return out;
}
