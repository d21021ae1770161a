// Built-in clips for the demo: the project's procedural lung-ultrasound generator
// (src/data/synth.ts), rendered in the page. One clip per LUS score 0–3, fixed by the seed.
import { synthClip, synthSpecs } from '../data/synth.js';
import { scoreToClass } from '../data/clip.js';
import type { GrayClip } from './frames.js';

export interface SyntheticClip extends GrayClip {
  id: string;
  /** LUS score 0–3 the generator drew, and its class (0; 1–2 → 1; 3 → 2). */
  score: number;
  label: number;
}

/** The first clip of the seeded synthetic set with this LUS score. */
export function syntheticClip(score: number, opts: { size?: number; frames?: number; seed?: number } = {}): SyntheticClip {
  if (![0, 1, 2, 3].includes(score)) throw new RangeError(`LUS score ${score} is not 0, 1, 2 or 3`);
  const spec = synthSpecs({ videos: 32, seed: opts.seed ?? 0 }).find((s) => s.score === score);
  if (!spec) throw new Error(`no synthetic clip with LUS score ${score} among the first 32 (seed ${opts.seed ?? 0})`);
  const c = synthClip(spec, opts.frames ?? 15, opts.size ?? 64);
  return { id: c.id, score, label: scoreToClass(score), size: c.size, frames: c.frames };
}
