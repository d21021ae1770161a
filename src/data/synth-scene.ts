// The synthetic LUS generator, part 1: one clip's scene. Everything random about a clip is
// drawn here, once, from its seed: probe geometry, anatomy, the score-dependent findings, the
// static textures and the motion of every frame. synth-render.ts then draws frames from it.
//
// Coordinates. The image is formed in probe (polar) space: nd depth rows × nb beams, depth
// z = row · D / (nd - 1) cm below the probe face, beam angle θ = -φ + 2φ · beam / (nb - 1).
// A curvilinear probe of radius r0 puts the point (z, θ) at x = (r0 + z) sin θ,
// y = (r0 + z) cos θ below the virtual apex; scan conversion (render) maps it to pixels.
// Three frames of reference move against each other over time:
//   probe  — fixed to the screen: attenuation, fan edges, A-lines (reverberation artefacts
//            between the probe and the pleura: arcs at depths k · pleura depth);
//   wall   — chest wall tissue: shifts with probe motion (lateral) and breathing (depth);
//   lung   — pleura, B-lines, consolidation: wall motion plus lung sliding (lateral).
// Textures hold linear echo amplitude; the renderer log-compresses (dB) at the end.

import { Rng, hashSeed } from './rng.js';
import { smoothNoise, smoothNoise1, speckle } from './noise-field.js';

/** What identifies one synthetic clip; synthSpecs() makes these for a data set. */
export interface SynthClipSpec {
  index: number;
  id: string;
  patient: string;
  score: number; // LUS 0..3
  seed: number; // clip seed
  patientSeed: number; // anatomy shared by a patient's clips
}

/** A texture with a margin around the nb × nd field of view, for motion. */
export interface Tex {
  data: Float32Array;
  w: number;
  h: number;
  mx: number; // lateral margin (beams)
  my: number; // depth margin (rows)
}

export interface Scene {
  size: number; nd: number; nb: number; frames: number;
  // scan conversion table, one entry per output pixel
  scRow: Float32Array; scBeam: Float32Array; scCover: Float32Array; // cover 0 = outside the fan
  // static textures
  wall: Tex; // chest-wall echo × speckle (wall frame)
  lungSpk: Tex; // speckle of the lung region (lung frame)
  cons: Tex | null; consMask: Tex | null; // consolidation echo and coverage (lung frame), score 3
  noise: Tex; // electronic noise (probe frame, random offset per frame)
  // 1-D profiles along the beam axis, lung frame (length lungSpk.w)
  pleuraOffset: Float32Array; // rows, irregularity of the pleural line
  pleuraAmp: Float32Array; // brightness of the pleural line
  bline: Float32Array; // B-line coverage 0..1
  consCover: Float32Array; // consolidation lateral coverage 0..1 (A-lines are absent there)
  // 1-D profiles, wall frame (length wall.w): rib shadows
  shadowRow: Float32Array; // rows below which the rib shadow starts (Infinity: no rib)
  shadowGain: Float32Array; // amplitude factor inside the shadow
  // per row / per beam, probe frame
  haze: Float32Array; // (nd) lung background echo
  aProfileGain: number; // A-line strength
  aDecay: number; // amplitude ratio of successive A-lines
  atten: Float32Array; // (nd) depth attenuation after TGC
  edge: Float32Array; // (nb) lateral fall-off near the fan edges
  noiseProf: Float32Array; // (nd) electronic noise level
  // scalars
  pleuraRow: number; pleuraSigma: number; bAmp: number; gain: number; dr: number;
  // motion per frame
  dz: Float32Array; probe: Float32Array; slide: Float32Array; flicker: Float32Array;
  noiseDy: Int32Array; noiseDx: Int32Array;
  /** Summary of the findings, for tests and the manifest: B-line coverage of the sector etc. */
  stats: { blineCoverage: number; blines: number; consolidation: boolean; ribs: number };
}

const TAU = 2 * Math.PI;

/** Build the scene of one clip. Cost: a few textures of ~size² values, once per clip. */
export function makeScene(spec: SynthClipSpec, size: number, frames: number): Scene {
  const rng = new Rng(spec.seed);
  const prng = new Rng(spec.patientSeed); // patient anatomy and habitus
  const score = spec.score;
  const nd = size, nb = size;

  // ------------------------------------------------------------ probe geometry and view
  const depthCm = rng.uniform(6, 11);
  const wallCm = prng.uniform(1.6, 3.0) + rng.uniform(-0.15, 0.15); // skin to pleura
  const r0 = rng.uniform(3.5, 9); // probe radius of curvature
  const phi = rng.uniform(0.45, 0.68); // half sector angle, 26°..39°
  const rowCm = depthCm / (nd - 1);
  const beamRad = (2 * phi) / (nb - 1);
  const { scRow, scBeam, scCover } = scanTable(rng, size, nd, nb, r0, depthCm, phi);

  // ------------------------------------------------------------ motion (per frame)
  const dur = rng.uniform(2, 5); // seconds covered by the clip
  const period = rng.uniform(3, 5); // breathing
  const ph = rng.uniform(0, TAU);
  const breathRows = rng.uniform(0.05, 0.25) / rowCm;
  const atPleura = (r0 + wallCm) * beamRad; // cm per beam at the pleura
  const slideCm = score === 3 ? rng.uniform(0, 0.15) : rng.uniform(0.25, 0.7);
  const slideBeams = slideCm / atPleura;
  const driftBeams = rng.uniform(-1, 1) * 0.03 * nb;
  const dz = new Float32Array(frames), probe = new Float32Array(frames), slide = new Float32Array(frames);
  const flicker = new Float32Array(frames), noiseDy = new Int32Array(frames), noiseDx = new Int32Array(frames);
  for (let j = 0; j < frames; j++) {
    const t = frames > 1 ? (j * dur) / (frames - 1) : 0;
    const w = TAU * (t / period) + ph;
    dz[j] = breathRows * Math.sin(w) + 0.15 * rng.normal();
    probe[j] = driftBeams * (t / dur - 0.5) + 0.25 * rng.normal();
    slide[j] = slideBeams * Math.sin(w + 0.4);
    flicker[j] = 1 + 0.12 * rng.normal();
    noiseDy[j] = rng.int(16);
    noiseDx[j] = rng.int(16);
  }
  const mx = Math.ceil(Math.abs(driftBeams) + slideBeams + 4);
  const my = Math.ceil(breathRows + 3);

  // ------------------------------------------------------------ textures
  const grainY = 0.004 * nd + 0.25, grainX = 0.008 * nb + 0.3;
  const contrast = rng.uniform(0.55, 0.85); // speckle contrast left after the scanner's smoothing // speckle grain (axial, lateral)
  const wall = wallTexture(rng, prng, nd, nb, mx, my, rowCm, wallCm, grainY * 1.2, grainX * 1.2, contrast * 0.75);
  const lungW = nb + 2 * mx, lungH = nd + 2 * my;
  const lungSpk: Tex = { data: speckle(rng, lungH, lungW, grainY, grainX * 1.8, contrast), w: lungW, h: lungH, mx, my };
  const noise = noiseTexture(nd, nb);

  // ------------------------------------------------------------ pleura, score-dependent
  const pleuraRow = wallCm / rowCm;
  const irregCm = [0.01, 0.03, 0.055, 0.07][score] * rng.uniform(0.7, 1.3);
  const pleuraOffset = smoothNoise1(rng, lungW, 2.5);
  const wave = smoothNoise1(rng, lungW, 0.15 * nb);
  for (let b = 0; b < lungW; b++) pleuraOffset[b] = (irregCm * pleuraOffset[b] + 0.05 * wave[b]) / rowCm;
  const pleuraAmp = smoothNoise1(rng, lungW, 0.8);
  const gaps = smoothNoise1(rng, lungW, 0.02 * nb + 0.5);
  const gapLevel = [9, 1.3, 0.8, 0.5][score]; // std units: higher = fewer gaps
  const pBright = rng.uniform(0.45, 0.8);
  for (let b = 0; b < lungW; b++) {
    const gap = gaps[b] > gapLevel ? Math.max(0.25, 1 - 1.5 * (gaps[b] - gapLevel)) : 1;
    pleuraAmp[b] = pBright * Math.max(0.2, 1 + 0.4 * pleuraAmp[b]) * gap;
  }
  const pleuraSigma = Math.max(0.7, (score >= 2 ? rng.uniform(0.12, 0.18) : rng.uniform(0.08, 0.12)) / rowCm);

  // ------------------------------------------------------------ B-lines (lung frame)
  const bline = new Float32Array(lungW);
  const sectorCm = 2 * phi * (r0 + wallCm);
  const lines: { c: number; w: number; a: number }[] = [];
  const addLine = (c: number, wCm: number, a: number) => lines.push({ c, w: Math.max(0.6, wCm / atPleura), a });
  if (score === 1) {
    const n = 1 + rng.int(3);
    for (let k = 0; k < n; k++) addLine(mx + ((k + 0.2 + 0.6 * rng.next()) / n) * nb, rng.uniform(0.015, 0.04) * sectorCm, rng.uniform(0.7, 1));
  } else if (score === 2) {
    // many and coalescent: keep adding until more than half of the sector is covered
    const target = rng.uniform(0.52, 0.8);
    for (let guard = 0; guard < 60 && coverage(bline, mx, nb) < target; guard++) {
      addLine(mx + rng.next() * nb, rng.uniform(0.03, 0.08) * sectorCm, rng.uniform(0.5, 1));
      drawLines(bline, lines);
    }
  } else if (score === 3) {
    const n = 1 + rng.int(3); // B-lines beside the consolidation
    for (let k = 0; k < n; k++) addLine(mx + rng.next() * nb, rng.uniform(0.02, 0.06) * sectorCm, rng.uniform(0.5, 0.9));
  }
  drawLines(bline, lines);

  // ------------------------------------------------------------ consolidation (score 3)
  const consCover = new Float32Array(lungW);
  let cons: Tex | null = null, consMask: Tex | null = null;
  if (score === 3) {
    const c = consolidation(rng, lungW, lungH, mx, my, nb, nd, pleuraRow, rowCm, grainY, grainX);
    cons = c.amp;
    consMask = c.mask;
    consCover.set(c.cover);
  }

  // ------------------------------------------------------------ ribs (wall frame)
  const shadowRow = new Float32Array(wall.w).fill(Infinity);
  const shadowGain = new Float32Array(wall.w).fill(1);
  const ribs = rng.chance(0.45) ? 0 : rng.chance(0.6) ? 1 : 2;
  for (let k = 0; k < ribs; k++) {
    const side = ribs === 2 ? (k === 0 ? -1 : 1) : rng.chance(0.5) ? -1 : 1;
    const centre = mx + nb / 2 + side * rng.uniform(0.3, 0.55) * nb;
    const half = Math.min(0.14 * nb, rng.uniform(0.8, 1.3) / atPleura);
    const top = pleuraRow - rng.uniform(0.1, 0.4) / rowCm;
    ribInto(wall, shadowRow, shadowGain, centre, half, top, rng.uniform(0.2, 0.45));
  }

  // ------------------------------------------------------------ depth and lateral profiles
  const hazeLevel = rng.uniform(0.006, 0.014);
  const haze = new Float32Array(nd);
  for (let r = 0; r < nd; r++) {
    const below = Math.max(0, r - pleuraRow) * rowCm;
    haze[r] = hazeLevel * (1 + 1.2 * Math.exp(-below / 1.5));
  }
  const aProfileGain = [rng.uniform(0.06, 0.2), rng.uniform(0.03, 0.12), rng.uniform(0, 0.04), rng.uniform(0, 0.05)][score];
  const aDecay = rng.uniform(0.35, 0.6);
  const attDb = rng.uniform(0.3, 1.3); // dB/cm left after time-gain compensation
  const tgcTilt = rng.uniform(-0.4, 0.4);
  const atten = new Float32Array(nd);
  const noiseProf = new Float32Array(nd);
  const noiseLevel = rng.uniform(0.001, 0.003);
  for (let r = 0; r < nd; r++) {
    const z = r * rowCm;
    atten[r] = Math.pow(10, (-(attDb + tgcTilt) * z) / 20);
    noiseProf[r] = noiseLevel * (0.4 + z / depthCm);
  }
  const edge = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const u = (2 * b) / (nb - 1) - 1;
    edge[b] = 1 - 0.45 * u * u * u * u;
  }

  const bAmp = rng.uniform(0.05, 0.12);
  const dr = rng.uniform(48, 60); // displayed dynamic range, dB
  const gain = rng.uniform(-4, 4) + prng.uniform(-2, 2); // dB
  return {
    size, nd, nb, frames, scRow, scBeam, scCover, wall, lungSpk, cons, consMask, noise,
    pleuraOffset, pleuraAmp, bline, consCover, shadowRow, shadowGain, haze, aProfileGain, aDecay, atten, edge,
    noiseProf, pleuraRow, pleuraSigma, bAmp, gain, dr, dz, probe, slide, flicker, noiseDy, noiseDx,
    stats: { blineCoverage: coverage(bline, mx, nb), blines: lines.length, consolidation: score === 3, ribs },
  };
}

const noiseCache = new Map<string, Tex>();

/**
 * Electronic noise: one fixed texture per size (seeded by the size alone, so deterministic),
 * read at a random offset per frame; 16 rows and columns larger than the field of view.
 */
function noiseTexture(nd: number, nb: number): Tex {
  const key = `${nd}x${nb}`;
  let t = noiseCache.get(key);
  if (!t) {
    t = { data: speckle(new Rng(hashSeed(0x7015e, nd, nb)), nd + 16, nb + 16, 0.5, 0.7), w: nb + 16, h: nd + 16, mx: 0, my: 0 };
    noiseCache.set(key, t);
  }
  return t;
}

/** Fraction of the nb visible beams where the B-line profile exceeds 0.5. */
function coverage(bline: Float32Array, mx: number, nb: number): number {
  let n = 0;
  for (let b = mx; b < mx + nb; b++) if (bline[b] > 0.5) n++;
  return n / nb;
}

/** B-line lateral profile: flat-topped, sharp-edged (laser-like): exp(-(d / w)^4). */
function drawLines(bline: Float32Array, lines: { c: number; w: number; a: number }[]): void {
  bline.fill(0);
  for (const { c, w, a } of lines) {
    const lo = Math.max(0, Math.floor(c - 4 * w)), hi = Math.min(bline.length - 1, Math.ceil(c + 4 * w));
    for (let b = lo; b <= hi; b++) {
      const d = (b - c) / w, d2 = d * d;
      bline[b] = Math.max(bline[b], a * (0.6 * Math.exp(-d2 * d2) + 0.4 * Math.exp(-0.4 * d2)));
    }
  }
}

/**
 * Output pixel -> (depth row, beam) in probe space and fan coverage. The view box is the
 * fan's bounding box, sometimes cropped into the fan or padded, then stretched to a square
 * (real frames were resized without keeping the aspect ratio).
 */
function scanTable(rng: Rng, size: number, nd: number, nb: number, r0: number, D: number, phi: number) {
  const halfW = (r0 + D) * Math.sin(phi);
  let xl = -halfW, xr = halfW, yt = r0 * Math.cos(phi), yb = r0 + D;
  const h = yb - yt;
  const cropX = rng.chance(0.3) ? 0 : rng.uniform(0, 0.3) * halfW;
  xl += cropX;
  xr -= cropX;
  yt += rng.chance(0.4) ? rng.uniform(-0.04, 0) * h : rng.uniform(0, 0.1) * h;
  yb -= rng.uniform(-0.04, 0.1) * h;
  const n = size * size;
  const scRow = new Float32Array(n), scBeam = new Float32Array(n), scCover = new Float32Array(n);
  const pxCm = 0.5 * ((xr - xl) + (yb - yt)) / size;
  for (let i = 0; i < size; i++) {
    const y = yt + ((i + 0.5) / size) * (yb - yt);
    for (let j = 0; j < size; j++) {
      const x = xl + ((j + 0.5) / size) * (xr - xl);
      const r = Math.hypot(x, y);
      const th = Math.atan2(x, y);
      const z = r - r0;
      // distance to the nearest fan edge in pixels, for an antialiased boundary
      const dEdge = Math.min(z, D - z, r * Math.sin(phi - Math.abs(th))) / pxCm;
      const k = i * size + j;
      scCover[k] = Math.min(1, Math.max(0, dEdge + 0.5));
      scRow[k] = Math.min(nd - 1, Math.max(0, (z / D) * (nd - 1)));
      scBeam[k] = Math.min(nb - 1, Math.max(0, ((th + phi) / (2 * phi)) * (nb - 1)));
    }
  }
  return { scRow, scBeam, scCover };
}

/**
 * Chest wall: bright skin line, subcutaneous fat, muscle with horizontal fibre striation and
 * fascia lines; multiplied by speckle. Rows reach a little below the deepest pleura.
 */
function wallTexture(rng: Rng, prng: Rng, nd: number, nb: number, mx: number, my: number, rowCm: number,
  wallCm: number, gy: number, gx: number, contrast: number): Tex {
  const w = nb + 2 * mx, h = Math.min(nd, Math.ceil((wallCm + 0.6) / rowCm)) + 2 * my;
  const data = speckle(rng, h, w, gy, gx, contrast);
  const fibre = smoothNoise(rng, h, w, 0.6 + 0.012 * nd, 0.04 * nb);
  const fatCm = prng.uniform(0.2, 0.35) * wallCm;
  const fascia: { d: number; a: number; wave: Float32Array }[] = [];
  const nf = 2 + prng.int(3);
  for (let k = 0; k < nf; k++)
    fascia.push({ d: fatCm + ((k + 0.5 + 0.4 * (prng.next() - 0.5)) / nf) * (wallCm - fatCm) * 0.9, a: rng.uniform(0.015, 0.04),
      wave: smoothNoise1(rng, w, 0.12 * nb) });
  const muscle = rng.uniform(0.035, 0.07), fat = rng.uniform(0.015, 0.03), skin = rng.uniform(0.08, 0.15);
  const sig = Math.max(0.7, 0.07 / rowCm);
  for (let y = 0; y < h; y++) {
    const z = (y - my) * rowCm;
    for (let x = 0; x < w; x++) {
      let e: number;
      if (z < 0.12) e = skin;
      else if (z < fatCm) e = fat * Math.max(0.3, 1 + 0.4 * fibre[y * w + x]);
      else e = muscle * Math.max(0.3, 1 + 0.3 * fibre[y * w + x]);
      for (const f of fascia) {
        const d = (z - f.d - 0.06 * f.wave[x]) / rowCm / sig;
        if (d > -3 && d < 3) e += f.a * Math.exp(-d * d);
      }
      data[y * w + x] *= e;
    }
  }
  return { data, w, h, mx, my };
}

/** A rib: bright curved cortex at `top`, acoustic shadow below it (wall frame). */
function ribInto(wall: Tex, shadowRow: Float32Array, shadowGain: Float32Array, centre: number, half: number,
  top: number, cortex: number): void {
  for (let b = Math.max(0, Math.floor(centre - half - 2)); b <= Math.min(wall.w - 1, Math.ceil(centre + half + 2)); b++) {
    const u = (b - centre) / half;
    if (Math.abs(u) > 1.15) continue;
    const row = top + 1.5 * u * u;
    const soft = Math.min(1, Math.max(0, (1.15 - Math.abs(u)) / 0.3)); // soft shadow edge
    shadowRow[b] = Math.min(shadowRow[b], row + 1);
    shadowGain[b] = Math.min(shadowGain[b], 1 - 0.96 * soft);
    const y0 = Math.round(row + wall.my);
    for (let dy = -1; dy <= 1; dy++) {
      const y = y0 + dy;
      if (y >= 0 && y < wall.h) wall.data[y * wall.w + b] += cortex * soft * (dy === 0 ? 1 : 0.4);
    }
  }
}

/**
 * Consolidation (score 3): a tissue-like (hepatised) region under the pleura with an
 * irregular, bright deep border (shred sign) and air bronchograms (bright dots and short
 * branching lines) inside. Returns echo amplitude, coverage mask (lung frame) and lateral cover.
 */
function consolidation(rng: Rng, w: number, h: number, mx: number, my: number, nb: number, nd: number,
  pleuraRow: number, rowCm: number, gy: number, gx: number) {
  const amp = new Float32Array(w * h), mask = new Float32Array(w * h), cover = new Float32Array(w);
  const centre = mx + rng.uniform(0.25, 0.75) * nb;
  const half = rng.uniform(0.2, 0.4) * nb;
  const depth = Math.min(nd - pleuraRow - 4, rng.uniform(1.5, 5) / rowCm);
  const shred = smoothNoise1(rng, w, 2.5);
  const coarse = smoothNoise(rng, h, w, 0.8 * gy, 1.0 * gx);
  const tissue = rng.uniform(0.03, 0.06);
  const bottom = new Float32Array(w);
  for (let b = 0; b < w; b++) {
    const u = (b - centre) / half;
    if (Math.abs(u) >= 1) continue;
    cover[b] = Math.min(1, (1 - Math.abs(u)) / 0.15);
    bottom[b] = pleuraRow + 1 + depth * Math.pow(1 - u * u, 0.6) * (1 + 0.25 * shred[b]);
    for (let y = 0; y < h; y++) {
      const r = y - my;
      if (r < pleuraRow - 0.5) continue;
      const m = Math.min(1, Math.max(0, bottom[b] + 1.5 - r)) * cover[b];
      if (m <= 0) continue;
      const k = y * w + b;
      mask[k] = m;
      const border = Math.exp(-(((r - bottom[b]) / 1.2) ** 2));
      amp[k] = tissue * Math.max(0.3, 1 + 0.4 * coarse[k]) + 0.07 * border * Math.max(0.2, 1 + 0.5 * shred[(b + 7) % w]);
    }
  }
  // air bronchograms: random walks of bright dots, some branching
  const nAir = 3 + rng.int(8);
  for (let k = 0; k < nAir; k++) {
    let b = centre + rng.uniform(-0.8, 0.8) * half;
    const bi = Math.round(b);
    if (bi < 0 || bi >= w || bottom[bi] <= pleuraRow + 2) continue;
    let r = pleuraRow + 1 + rng.uniform(0.1, 0.85) * (bottom[bi] - pleuraRow - 1);
    const len = rng.chance(0.5) ? 1 : 2 + rng.int(6);
    let ang = rng.uniform(-0.7, 0.7) + (rng.chance(0.5) ? 0 : Math.PI / 2);
    const a = rng.uniform(0.1, 0.3);
    for (let s = 0; s < len; s++) {
      blob(amp, w, h, b, r + my, 0.6, 0.8, a * (1 - 0.05 * s));
      b += 1.1 * Math.sin(ang);
      r += 1.1 * Math.cos(ang);
      ang += 0.3 * rng.normal();
    }
  }
  return { amp: { data: amp, w, h, mx, my } as Tex, mask: { data: mask, w, h, mx, my } as Tex, cover };
}

function blob(f: Float32Array, w: number, h: number, cx: number, cy: number, sy: number, sx: number, a: number): void {
  for (let y = Math.max(0, Math.floor(cy - 3 * sy)); y <= Math.min(h - 1, Math.ceil(cy + 3 * sy)); y++)
    for (let x = Math.max(0, Math.floor(cx - 3 * sx)); x <= Math.min(w - 1, Math.ceil(cx + 3 * sx)); x++) {
      const dy = (y - cy) / sy, dx = (x - cx) / sx;
      f[y * w + x] += a * Math.exp(-0.5 * (dy * dy + dx * dx));
    }
}

/** Derive a clip's seeds from the data-set seed (used by synthSpecs). */
export function clipSeeds(seed: number, index: number, patientIndex: number): { seed: number; patientSeed: number } {
  return { seed: hashSeed(seed, 0x5c11, index), patientSeed: hashSeed(seed, 0x9a71, patientIndex) };
}
