// The embedded default data set: procedural lung-ultrasound clips with known LUS scores.
// synthSpecs() decides who is who (ids, patients, scores); synthClip() renders one clip;
// SynthSource serves them lazily to the loaders, like a manifest does for real data.
// Deterministic: a clip depends only on (seed, its index, frames, size).
//
// What a score looks like (synth-scene.ts has the details):
//   0  smooth pleural line, lung sliding, A-lines at multiples of the pleural depth
//   1  1-3 separate B-lines (vertical, laser-like, pleura to bottom, erasing A-lines),
//      mildly irregular pleura
//   2  B-lines covering more than half of the sector, coalescent; thick fragmented pleura
//   3  consolidation under the pleura with air bronchograms and a shredded deep border,
//      little lung sliding, B-lines around it
// Per-clip variation: depth, probe radius, sector angle, crop, gain, dynamic range,
// attenuation, speckle, ribs and their shadows, breathing, probe drift, noise.

import { Rng, hashSeed } from './rng.js';
import { scoreToClass, type Clip } from './clip.js';
import type { ManifestItem } from './manifest.js';
import type { ClipSource } from './source.js';
import { clipSeeds, makeScene, type Scene, type SynthClipSpec } from './synth-scene.js';
import { makeScratch, renderFrame } from './synth-render.js';

export type { SynthClipSpec } from './synth-scene.js';

export interface SynthOptions {
  /** Number of clips. */
  videos: number;
  /** Frames per clip. */
  frames: number;
  /** Square frame side in pixels. */
  size: number;
  /** Data-set seed. */
  seed: number;
}

export const SYNTH_DEFAULTS: SynthOptions = { videos: 64, frames: 15, size: 112, seed: 0 };

/**
 * Ids, patients and scores of a synthetic data set. Patients have 1-4 clips (lung zones);
 * a patient's clips share anatomy and sit around the patient's severity (±1 sometimes).
 * Patient severities cycle through shuffled blocks of 0..3, so scores stay balanced and
 * every class appears once there are a handful of patients.
 */
export function synthSpecs(opts: Pick<SynthOptions, 'videos' | 'seed'>): SynthClipSpec[] {
  const rng = new Rng(hashSeed(opts.seed, 0x51d5));
  const out: SynthClipSpec[] = [];
  let block: number[] = [];
  for (let p = 0; out.length < opts.videos; p++) {
    if (block.length === 0) block = rng.shuffle([0, 1, 2, 3]);
    const base = block.pop() as number;
    const n = Math.min(1 + rng.int(4), opts.videos - out.length);
    for (let k = 0; k < n; k++) {
      const u = rng.next();
      const score = Math.min(3, Math.max(0, base + (u < 0.15 ? -1 : u > 0.85 ? 1 : 0)));
      const index = out.length;
      out.push({
        index, id: `synth_${pad(index, 4)}`, patient: `synth_p${pad(p, 3)}`, score, ...clipSeeds(opts.seed, index, p),
      });
    }
  }
  return out;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** The scene behind a clip (exposed for tests and for drawing a single frame). */
export function synthScene(spec: SynthClipSpec, frames: number, size: number): Scene {
  if (!(size >= 16)) throw new RangeError(`synthetic frames need size >= 16, got ${size}`);
  if (!(frames >= 1)) throw new RangeError(`synthetic clips need frames >= 1, got ${frames}`);
  return makeScene(spec, size, frames);
}

/** Render one synthetic clip. */
export function synthClip(spec: SynthClipSpec, frames: number, size: number): Clip {
  const scene = synthScene(spec, frames, size);
  const scratch = makeScratch(scene);
  const out: Float32Array[] = [];
  for (let j = 0; j < frames; j++) {
    const f = new Float32Array(size * size);
    renderFrame(scene, j, f, scratch);
    out.push(f);
  }
  return { id: spec.id, patient: spec.patient, score: spec.score, label: scoreToClass(spec.score), size, frames: out };
}

/** The manifest row a synthetic clip gets (synth --out writes frames/<id>/fNN.png). */
export function synthItem(spec: SynthClipSpec, frames: number): ManifestItem {
  const path = `frames/${spec.id}`;
  const label = scoreToClass(spec.score);
  return {
    id: spec.id, patient: spec.patient, score: spec.score, label, path, row: spec.index + 2,
    columns: {
      id: spec.id, patient: spec.patient, label: String(label), lus_score: String(spec.score), path,
      severity3_basis: 'synthetic', probe: 'convex', media_type: 'video', n_frames: String(frames),
    },
  };
}

/** Extra manifest columns synthetic data sets carry. */
export const SYNTH_EXTRA_COLUMNS = ['severity3_basis', 'probe', 'media_type', 'n_frames'];

/** A synthetic data set served lazily: clips are rendered when loaded, nothing is written. */
export class SynthSource implements ClipSource {
  readonly specs: SynthClipSpec[];
  readonly items: ManifestItem[];
  constructor(readonly opts: SynthOptions) {
    this.specs = synthSpecs(opts);
    this.items = this.specs.map((s) => synthItem(s, opts.frames));
  }
  async load(index: number): Promise<Clip> {
    const spec = this.specs[index];
    if (spec === undefined) throw new RangeError(`synthetic item ${index} out of range (${this.specs.length})`);
    return synthClip(spec, this.opts.frames, this.opts.size);
  }
}

/** Render a whole synthetic data set in memory. */
export function synthDataset(opts: SynthOptions): Clip[] {
  return synthSpecs(opts).map((s) => synthClip(s, opts.frames, opts.size));
}
