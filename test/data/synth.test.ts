import { describe, it, expect } from 'vitest';
import { synthSpecs, synthClip, synthScene, SynthSource } from '../../src/data/synth';
import { makeScratch, renderFrame } from '../../src/data/synth-render';
import type { SynthClipSpec } from '../../src/data/synth';
import { Rng, hashSeed } from '../../src/data/rng';

const SIZE = 64;

/** The first n specs of each score among the first `pool` clips of a seed. */
function perScore(seed: number, n: number, pool = 400): SynthClipSpec[][] {
  const by: SynthClipSpec[][] = [[], [], [], []];
  for (const s of synthSpecs({ videos: pool, seed })) if (by[s.score].length < n) by[s.score].push(s);
  return by;
}

/** Render frame 0 and return the probe-space (depth row x beam) image and the scene. */
function probeSpace(spec: SynthClipSpec) {
  const scene = synthScene(spec, 1, SIZE);
  const k = makeScratch(scene);
  renderFrame(scene, 0, new Float32Array(SIZE * SIZE), k);
  return { scene, polar: k.polar };
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;

describe('rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xa = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xa);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xa);
    expect(hashSeed(1, 2)).not.toBe(hashSeed(2, 1));
  });

  it('gives uniform numbers in [0, 1) with the right mean and normals with unit variance', () => {
    const r = new Rng(7);
    const u = Array.from({ length: 20000 }, () => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.01); // sd of the mean = 0.002
    const z = Array.from({ length: 20000 }, () => r.normal());
    expect(Math.abs(mean(z))).toBeLessThan(0.03);
    expect(Math.abs(mean(z.map((v) => v * v)) - 1)).toBeLessThan(0.05);
  });
});

describe('synthetic data set: who is who', () => {
  it('gives unique ids, patients with 1-4 clips, all four scores and the 3-class labels', () => {
    const specs = synthSpecs({ videos: 40, seed: 3 });
    expect(specs).toHaveLength(40);
    expect(new Set(specs.map((s) => s.id)).size).toBe(40);
    const perPatient = new Map<string, number>();
    for (const s of specs) perPatient.set(s.patient, (perPatient.get(s.patient) ?? 0) + 1);
    expect(perPatient.size).toBeGreaterThan(8);
    expect(perPatient.size).toBeLessThan(40); // some patients have several clips: folds matter
    expect(Math.max(...perPatient.values())).toBeLessThanOrEqual(4);
    const counts = [0, 1, 2, 3].map((k) => specs.filter((s) => s.score === k).length);
    for (const c of counts) expect(c).toBeGreaterThanOrEqual(5);
    const src = new SynthSource({ videos: 40, frames: 2, size: 32, seed: 3 });
    expect(src.items.map((i) => i.label)).toEqual(specs.map((s) => [0, 1, 1, 2][s.score]));
    // a longer data set starts with the same clips
    expect(synthSpecs({ videos: 60, seed: 3 }).slice(0, 39)).toEqual(specs.slice(0, 39));
  });

  it('is deterministic: same seed, identical frames; another seed, other frames', () => {
    const [a] = synthSpecs({ videos: 1, seed: 9 });
    const c1 = synthClip(a, 4, SIZE), c2 = synthClip(a, 4, SIZE);
    for (let t = 0; t < 4; t++) expect(Buffer.from(c1.frames[t].buffer).equals(Buffer.from(c2.frames[t].buffer))).toBe(true);
    const [b] = synthSpecs({ videos: 1, seed: 10 });
    const c3 = synthClip(b, 4, SIZE);
    expect(Buffer.from(c3.frames[0].buffer).equals(Buffer.from(c1.frames[0].buffer))).toBe(false);
  });
});

describe('synthetic frames', () => {
  it('are in [0, 1], black outside the fan, and change over time while staying correlated', () => {
    for (const spec of synthSpecs({ videos: 8, seed: 5 })) {
      const scene = synthScene(spec, 6, SIZE);
      const clip = synthClip(spec, 6, SIZE);
      let outside = 0, litOutside = 0, outOfRange = 0;
      for (let p = 0; p < SIZE * SIZE; p++) {
        if (scene.scCover[p] === 0) {
          outside++;
          for (const f of clip.frames) if (f[p] !== 0) litOutside++;
        }
      }
      for (const f of clip.frames) for (const v of f) if (!(v >= 0 && v <= 1)) outOfRange++;
      expect(outside / (SIZE * SIZE)).toBeGreaterThan(0.03); // the sector leaves black corners
      expect(litOutside).toBe(0);
      expect(outOfRange).toBe(0);
      const f0 = clip.frames[0], f5 = clip.frames[5];
      let diff = 0, s0 = 0, s5 = 0, s05 = 0, m0 = 0, m5 = 0;
      for (let i = 0; i < f0.length; i++) {
        m0 += f0[i] / f0.length;
        m5 += f5[i] / f0.length;
      }
      for (let i = 0; i < f0.length; i++) {
        diff += Math.abs(f0[i] - f5[i]);
        s0 += (f0[i] - m0) ** 2;
        s5 += (f5[i] - m5) ** 2;
        s05 += (f0[i] - m0) * (f5[i] - m5);
      }
      expect(diff / f0.length).toBeGreaterThan(0.005); // breathing, sliding, probe motion, noise
      expect(s05 / Math.sqrt(s0 * s5)).toBeGreaterThan(0.5); // still the same scene
    }
  });

  it('every clip of a 64-clip data set at 112 px has finite values in [0, 1]', () => {
    let bad = 0;
    for (const spec of synthSpecs({ videos: 64, seed: 0 }))
      for (const f of synthClip(spec, 2, 112).frames) for (const v of f) if (!(v >= 0 && v <= 1)) bad++;
    expect(bad).toBe(0);
  });

  it('B-line column energy is higher for scores 1, 2 and 3 than for score 0', () => {
    // In probe space B-lines are columns (beams). Per clip: the brightest beam's mean over the
    // deep lung (from 30% below the pleura to the bottom), minus the chest wall's mean level
    // (which cancels the per-clip gain). Averaged over 12 clips per score.
    const energy = perScore(21, 12).map((specs) => specs.map((spec) => {
      const { scene, polar } = probeSpace(spec);
      const { nd, nb, pleuraRow: pr } = scene;
      const r0 = Math.ceil(pr + 0.3 * (nd - pr));
      let best = -Infinity;
      for (let b = 0; b < nb; b++) {
        let t = 0;
        for (let r = r0; r < nd; r++) t += polar[r * nb + b];
        best = Math.max(best, t / (nd - r0));
      }
      let wall = 0, n = 0;
      for (let r = Math.floor(0.3 * pr); r < Math.floor(0.9 * pr); r++)
        for (let b = 0; b < nb; b++, n++) wall += polar[r * nb + b];
      return best - wall / n;
    }));
    const m = energy.map(mean);
    console.log(`B-line column energy per score: ${m.map((v) => v.toFixed(3)).join(' ')}`);
    for (const s of [1, 2, 3]) expect(m[s] - m[0], `score ${s} vs 0: ${m.map((v) => v.toFixed(3))}`).toBeGreaterThan(0.05);
  });

  it('A-lines (a bright band at twice the pleural depth) are strong at score 0 and gone at score 2', () => {
    const contrast = perScore(22, 10).map((specs) => specs.map((spec) => {
      const { scene, polar } = probeSpace(spec);
      const rowMean = (r: number) => {
        let t = 0;
        for (let b = 0; b < scene.nb; b++) t += polar[Math.round(r) * scene.nb + b];
        return t / scene.nb;
      };
      const pr = scene.pleuraRow;
      return rowMean(2 * pr) - 0.5 * (rowMean(1.5 * pr) + rowMean(Math.min(2.5 * pr, scene.nd - 1)));
    }));
    console.log(`A-line contrast per score: ${contrast.map((c) => mean(c).toFixed(3)).join(' ')}`);
    expect(mean(contrast[0])).toBeGreaterThan(0.04);
    expect(mean(contrast[0]) - mean(contrast[2])).toBeGreaterThan(0.03);
  });

  it('B-lines cover under half the sector at score 1 and over half at score 2; score 3 has a consolidation', () => {
    const by = perScore(23, 10);
    for (const s of by[0]) expect(synthScene(s, 1, SIZE).stats.blines).toBe(0);
    for (const s of by[1]) {
      const st = synthScene(s, 1, SIZE).stats;
      expect(st.blines).toBeGreaterThanOrEqual(1);
      expect(st.blineCoverage).toBeLessThan(0.5);
    }
    for (const s of by[2]) expect(synthScene(s, 1, SIZE).stats.blineCoverage).toBeGreaterThan(0.5);
    for (const s of by[3]) expect(synthScene(s, 1, SIZE).stats.consolidation).toBe(true);
    for (const s of [...by[0], ...by[1], ...by[2]]) expect(synthScene(s, 1, SIZE).stats.consolidation).toBe(false);
  });

  it('consolidation makes the region under the pleura tissue-like (brighter than aerated lung)', () => {
    // mean level of the band from the pleura to 1.5 cm below, relative to the chest wall
    const band = perScore(24, 10).map((specs) => specs.map((spec) => {
      const { scene, polar } = probeSpace(spec);
      const pr = scene.pleuraRow, nb = scene.nb;
      const lo = Math.ceil(pr + 0.4 * pr), hi = Math.min(scene.nd - 1, Math.floor(pr + 0.9 * pr));
      let t = 0, n = 0, w = 0, m = 0;
      for (let r = lo; r <= hi; r++) for (let b = Math.floor(nb * 0.2); b < nb * 0.8; b++, n++) t += polar[r * nb + b];
      for (let r = Math.floor(0.3 * pr); r < Math.floor(0.9 * pr); r++) for (let b = 0; b < nb; b++, m++) w += polar[r * nb + b];
      return t / n - w / m;
    }));
    console.log(`sub-pleural band per score: ${band.map((c) => mean(c).toFixed(3)).join(' ')}`);
    expect(mean(band[3]) - mean(band[0])).toBeGreaterThan(0.03);
  });
});
