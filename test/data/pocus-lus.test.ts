// The real data set ../shared/data/pocus-lus must load completely, as is. This test runs
// when the folder exists and says so plainly when it does not.
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { openManifest, loadAll } from '../../src/data/source';
import { isExpertLabel } from '../../src/data/manifest';
import { patientFolds } from '../../src/data/folds';
import { pixelStats } from '../../src/data/preprocess';
import { nodeDataFs } from '../../src/node/data-io';
import { HAVE_POCUS, POCUS_DIR } from './helpers';

if (!HAVE_POCUS) {
  describe('pocus-lus', () => {
    it.skip(`SKIPPED: real data set not found at ${POCUS_DIR} (the test runs when it exists)`, () => {});
  });
} else {
  describe('pocus-lus', () => {
    it('loads all 155 items as is: frame counts as n_frames_saved says, labels and expert basis intact', async () => {
      const src = await openManifest(nodeDataFs, path.join(POCUS_DIR, 'manifest.csv'), { size: 112 });
      expect(src.items).toHaveLength(155);
      const counts = [0, 1, 2].map((c) => src.items.filter((i) => i.label === c).length);
      expect(counts).toEqual([66, 31, 38]); // README: expert 48/21/6 + proxy videos 9/2/25 + images 9/8/7
      expect(src.items.filter((i) => i.label === null)).toHaveLength(20);
      const expert = src.items.filter((i) => i.label !== null && isExpertLabel(i));
      expect([0, 1, 2].map((c) => expert.filter((i) => i.label === c).length)).toEqual([48, 21, 6]);
      const clips = await loadAll(src);
      expect(clips).toHaveLength(155);
      expect(clips.map((c) => c.frames.length)).toEqual(src.items.map((i) => Number(i.columns.n_frames_saved)));
      expect(clips.filter((c) => c.frames.length === 15).length).toBeGreaterThan(100);
      for (const c of clips) expect(c.frames.every((f) => f.length === 112 * 112)).toBe(true);
      const stats = pixelStats(clips);
      console.log(`pocus-lus at 112 px: mean ${stats.mean.toFixed(4)}, std ${stats.std.toFixed(4)}`);
      expect(stats.mean).toBeGreaterThan(0.05);
      expect(stats.mean).toBeLessThan(0.3);
      // 2 patient-disjoint folds over the labelled items
      const { folds, unlabelled } = patientFolds(src.items, 2, 0);
      expect(unlabelled).toHaveLength(20);
      const p0 = new Set(folds[0].test.map((i) => src.items[i].patient));
      for (const i of folds[1].test) expect(p0.has(src.items[i].patient)).toBe(false);
    });

    it('resizes to 224 (the paper size) and 64 on load', async () => {
      for (const size of [64, 224]) {
        const src = await openManifest(nodeDataFs, path.join(POCUS_DIR, 'manifest.csv'), { size });
        const clip = await src.load(0);
        expect(clip.frames[0]).toHaveLength(size * size);
      }
    });
  });
}
