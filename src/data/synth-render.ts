// The synthetic LUS generator, part 2: draw frame j of a scene (synth-scene.ts).
//   1. per-beam profiles for this frame: pleura depth and brightness, B-lines, rib shadow
//      (sampled from the lung and wall frames at this frame's motion);
//   2. the probe-space image, row by row: chest wall above the pleura, the pleural line,
//      the lung below it (haze + A-lines where no B-line, + B-lines, or consolidation), all
//      times speckle; then rib shadow, attenuation, electronic noise, log compression;
//   3. scan conversion to the square output (bilinear in probe space, black outside the fan).
// Cost per frame: ~size² probe-space pixels (two bilinear texture reads and one log each)
// plus size² scan-converted pixels.

import type { Scene, Tex } from './synth-scene.js';

/** Bilinear weights and base offset for sampling texture t shifted by (dy, dx) probe pixels. */
interface Shift {
  oy: number; ox: number; // integer part (texture index of probe pixel (0, 0))
  w00: number; w01: number; w10: number; w11: number;
}

function shiftOf(t: Tex, dy: number, dx: number): Shift {
  const y = t.my - dy, x = t.mx - dx;
  const oy = Math.floor(y), ox = Math.floor(x);
  const fy = y - oy, fx = x - ox;
  return { oy, ox, w00: (1 - fy) * (1 - fx), w01: (1 - fy) * fx, w10: fy * (1 - fx), w11: fy * fx };
}

function sample(t: Tex, s: Shift, r: number, b: number): number {
  let y = r + s.oy, x = b + s.ox;
  if (y < 0) y = 0; else if (y > t.h - 2) y = t.h - 2;
  if (x < 0) x = 0; else if (x > t.w - 2) x = t.w - 2;
  const k = y * t.w + x, d = t.data;
  return s.w00 * d[k] + s.w01 * d[k + 1] + s.w10 * d[k + t.w] + s.w11 * d[k + t.w + 1];
}

/** Linear interpolation of a 1-D profile at fractional position x (clamped). */
function lerp1(p: Float32Array, x: number): number {
  if (x <= 0) return p[0];
  if (x >= p.length - 1) return p[p.length - 1];
  const i = Math.floor(x), f = x - i;
  return p[i] * (1 - f) + p[i + 1] * f;
}

/** Scratch buffers reused across frames of one scene. */
export interface RenderScratch {
  polar: Float32Array; // (nd, nb) log-compressed image in probe space
  pz: Float32Array; pAmp: Float32Array; bl: Float32Array; aLat: Float32Array; shRow: Float32Array; shGain: Float32Array;
  aProf: Float32Array;
}

export function makeScratch(s: Scene): RenderScratch {
  const nb = s.nb;
  return {
    polar: new Float32Array(s.nd * nb), pz: new Float32Array(nb), pAmp: new Float32Array(nb), bl: new Float32Array(nb),
    aLat: new Float32Array(nb), shRow: new Float32Array(nb), shGain: new Float32Array(nb), aProf: new Float32Array(s.nd),
  };
}

/** Render frame j of the scene into out (size*size, values in [0, 1]). */
export function renderFrame(s: Scene, j: number, out: Float32Array, k: RenderScratch = makeScratch(s)): void {
  const { nd, nb } = s;
  const dz = s.dz[j], probe = s.probe[j], lungShift = s.probe[j] + s.slide[j];
  const flick = s.flicker[j];

  // ---- 1. per-beam profiles for this frame
  const lm = s.lungSpk.mx, wm = s.wall.mx;
  for (let b = 0; b < nb; b++) {
    const xl = b + lm - lungShift; // lung-frame coordinate of this beam
    const xw = b + wm - probe; // wall-frame coordinate
    k.pz[b] = s.pleuraRow + dz + lerp1(s.pleuraOffset, xl);
    k.pAmp[b] = lerp1(s.pleuraAmp, xl);
    const bl = Math.min(1, lerp1(s.bline, xl) * flick);
    k.bl[b] = bl;
    k.aLat[b] = s.aProfileGain * k.pAmp[b] * (1 - Math.min(1, lerp1(s.bline, xl))) * (1 - lerp1(s.consCover, xl));
    const xi = Math.min(s.shadowRow.length - 1, Math.max(0, Math.round(xw)));
    k.shRow[b] = s.shadowRow[xi] + dz;
    k.shGain[b] = s.shadowGain[xi];
  }
  // A-lines: reverberations at k times the (mean) probe-to-pleura distance, fading with k
  const pr = s.pleuraRow + dz, sig0 = s.pleuraSigma;
  k.aProf.fill(0);
  for (let m = 2, a = 1; m * pr < nd + 3 * sig0 * m; m++, a *= s.aDecay) {
    const c = m * pr, sg = sig0 * (1.3 + 0.6 * (m - 1));
    for (let r = Math.max(0, Math.floor(c - 3 * sg)); r <= Math.min(nd - 1, Math.ceil(c + 3 * sg)); r++) {
      const d = (r - c) / sg;
      k.aProf[r] += a * Math.exp(-d * d);
    }
  }

  // ---- 2. probe-space image
  const wS = shiftOf(s.wall, dz, probe);
  const lS = shiftOf(s.lungSpk, dz, lungShift);
  const cons = s.cons, consMask = s.consMask;
  const ny = s.noiseDy[j], nx = s.noiseDx[j], nw = s.noise.w, nData = s.noise.data;
  const invSig = 1 / s.pleuraSigma;
  const dbScale = 20 / Math.LN10 / s.dr; // amplitude -> display units per natural log
  const offset = 0.9 + s.gain / s.dr;
  const polar = k.polar;
  for (let r = 0; r < nd; r++) {
    const haze = s.haze[r], aP = k.aProf[r], att = s.atten[r], nz = s.noiseProf[r];
    const row = r * nb, nrow = (r + ny) * nw + nx;
    for (let b = 0; b < nb; b++) {
      const d = r - k.pz[b]; // rows below the pleural line
      const wWall = d < -0.75 ? 1 : d > 0.75 ? 0 : 0.5 - d / 1.5;
      let amp = 0;
      if (wWall > 0) amp += wWall * sample(s.wall, wS, r, b);
      if (wWall < 1 || (d > -3 * s.pleuraSigma && d < 3 * s.pleuraSigma)) {
        const spk = sample(s.lungSpk, lS, r, b);
        if (wWall < 1) {
          const bl = k.bl[b];
          const rise = d <= 0 ? 0 : d >= 2 ? 1 : d / 2;
          let lung = haze + aP * k.aLat[b] + s.bAmp * bl * rise * (1.25 - (0.5 * r) / nd);
          let lspk = spk;
          if (bl > 0) lspk = 1 + (spk - 1) * (1 - 0.5 * bl); // B-lines are more homogeneous
          if (cons !== null && consMask !== null) {
            const m = sample(consMask, lS, r, b);
            if (m > 0) {
              lung = lung * (1 - m) + m * sample(cons, lS, r, b);
              lspk = lspk * (1 - m) + m * spk;
            }
          }
          amp += (1 - wWall) * lung * lspk;
        }
        const dp = d * invSig;
        if (dp > -3 && dp < 3) amp += k.pAmp[b] * Math.exp(-dp * dp) * (0.55 + 0.45 * spk);
      }
      if (r > k.shRow[b]) amp *= k.shGain[b];
      amp = amp * att * s.edge[b] + nz * nData[nrow + b];
      const v = offset + dbScale * Math.log((amp > 0 ? amp : 0) + 1e-6); // -120 dB floor
      polar[row + b] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }

  // ---- 3. scan conversion
  const n = s.size * s.size;
  for (let p = 0; p < n; p++) {
    const c = s.scCover[p];
    if (c <= 0) {
      out[p] = 0;
      continue;
    }
    const y = s.scRow[p], x = s.scBeam[p];
    let iy = Math.floor(y), ix = Math.floor(x);
    if (iy > nd - 2) iy = nd - 2;
    if (ix > nb - 2) ix = nb - 2;
    const fy = y - iy, fx = x - ix, q = iy * nb + ix;
    out[p] = c * ((1 - fy) * ((1 - fx) * polar[q] + fx * polar[q + 1]) + fy * ((1 - fx) * polar[q + nb] + fx * polar[q + nb + 1]));
  }
}
