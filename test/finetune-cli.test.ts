// `medivlad finetune` as a user runs it (the built CLI) on small synthetic data: a linear
// probe writes a frame checkpoint and frame-metrics.json whose probabilities are what the
// saved model gives on the test fold (recomputed here in process), whose accuracy agrees
// with its own predictions, and whose checkpoint feeds a fine-tuning run as its backbone;
// bad arguments give one-line errors.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { synthDataset } from '../src/data/synth.js';
import { frameSplits, normalizedFrames } from '../src/train/frame-data.js';
import { headScores } from '../src/train/frame-eval.js';
import { extractFeatures } from '../src/eval/features.js';
import { loadFrameModel } from '../src/cli/finetune.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Small enough for a few seconds per run at the tiny preset (64 px, width 128, 4 blocks).
const DATA = ['--data', 'synthetic', '--videos', '24', '--frames', '2', '--val-fraction', '0.5'];

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  await gpu();
});

describe('medivlad finetune', () => {
  it('probe: checkpoint + metrics whose probabilities the saved model reproduces; the checkpoint seeds a finetune run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-ft-'));
    const out = join(dir, 'probe');
    const r = run(['finetune', '--backbone', 'random', ...DATA, '--preset', 'tiny', '--mode', 'probe', '--fold', '1',
      '--epochs', '4', '--batch', '4', '--lr', '0.01', '--seed', '3', '--out', out, '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^epoch 4\/4 loss [\d.]+ train acc [\d.]+% val acc [\d.]+% \(best epoch \d\)/m);
    expect(r.err).toMatch(/^k-NN \(k 20, T 0.07\) of the backbone: [\d.]+%$/m);
    const m = JSON.parse(readFileSync(join(out, 'frame-metrics.json'), 'utf8'));
    expect(JSON.parse(r.out)).toEqual(m); // --json prints the same object
    expect(m.config).toMatchObject({ mode: 'probe', cachedFeatures: true, epochs: 4, batch: 4, lr: 0.01, seed: 3, optimizer: 'adamw' });
    expect(m.data.fold).toBe(1);
    expect(m.data.frames.val).toBeGreaterThan(0);
    expect(m.epochs.length).toBe(4);
    expect(m.selection.val.n).toBe(m.data.frames.val);
    const n = m.test.n;
    expect(n).toBe(m.data.frames.test);
    for (const k of ['labels', 'predictions', 'probs', 'ids', 'frames']) expect(m.test[k].length, k).toBe(n);
    let ok = 0;
    m.test.probs.forEach((p: number[], i: number) => {
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
      expect(p.indexOf(Math.max(...p))).toBe(m.test.predictions[i]);
      if (m.test.predictions[i] === m.test.labels[i]) ok++;
    });
    expect(m.accuracy).toBe(ok / n);
    expect(m.knn.initial).toBeGreaterThanOrEqual(0);
    expect(m.knn.final).toBeNull(); // the backbone did not train

    // The saved model on the same test fold gives the reported probabilities.
    const { model, checkpoint } = await loadFrameModel(join(out, 'frame.safetensors'));
    expect(checkpoint.metadata).toMatchObject({ format: 'medivlad-frame-checkpoint', preset: 'tiny', mode: 'probe', fold: '1' });
    expect(model.linear.weight.shape).toEqual([3, 128]);
    const clips = synthDataset({ videos: 24, frames: 2, size: 64, seed: 0 });
    const { test } = frameSplits(clips, { fold: 1, foldSeed: 0, valFraction: 0.5, perClip: 2 });
    expect(test.labels).toEqual(m.test.labels);
    expect(test.ids).toEqual(m.test.ids);
    const feats = await extractFeatures(model.vit, normalizedFrames(test, { mean: 0.3261, std: 0.2283 }));
    const { w, b } = await model.headWeights();
    expectClose(headScores(feats, 128, w, b).probs, m.test.probs.flat(), { rel: 1e-6, what: 'test probabilities' });
    model.dispose();

    // A checkpoint of another architecture than --preset: one line naming the preset that fits.
    const wrong = run(['finetune', '--backbone', join(out, 'frame.safetensors'), '--preset', 'vit-s8', '--out', join(dir, 'w')]);
    expect(wrong.code).toBe(2);
    expect(wrong.err.trim()).toMatch(/^medivlad: error: checkpoint \S+frame\.safetensors: is not a 'vit-s8' ViT \(patch 8, width 384, depth 12, MLP 1536\): it has patch 8, width 128, depth 4, MLP 512; use --preset tiny$/);

    // The frame checkpoint as the backbone of a fine-tuning run (stage2 layout: backbone.* is read, the head is new).
    const out2 = join(dir, 'finetune');
    const f = run(['finetune', '--backbone', join(out, 'frame.safetensors'), ...DATA, '--fold', '1', '--mode', 'finetune', '--epochs', '1', '--batch', '8', '--out', out2]);
    expect(f.code, f.err).toBe(0);
    expect(f.err).toMatch(/\(stage2 layout\)/);
    const m2 = JSON.parse(readFileSync(join(out2, 'frame-metrics.json'), 'utf8'));
    // Same backbone (the probe left it untouched), same fold: the same k-NN before training.
    expect(m2.knn.initial).toBe(m.knn.initial);
    expect(typeof m2.knn.final).toBe('number');
    expect(m2.config).toMatchObject({ mode: 'finetune', cachedFeatures: false, optimizer: 'adamw', weightDecay: 0.1, cropScale: [0.2, 1] });
  });

  it('bad arguments: one line, exit 2', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'medivlad-ft-bad-')), 'o');
    const cases: [string[], RegExp][] = [
      [['--backbone', 'random', '--fold', '2'], /--fold must be 0 or 1, got 2/],
      [['--backbone', 'random', '--epochs', '0'], /--epochs must be a positive integer, got 0/],
      [['--backbone', 'random', '--lr', '-1'], /--lr must be > 0, got -1/],
      [['--backbone', 'random', '--crop-scale', '1.5'], /--crop-scale must be in \(0, 1\], got 1.5/],
      [['--backbone', 'random', '--mode', 'finetune', '--cached-features'], /--cached-features needs a frozen backbone/],
      [['--backbone', 'random', '--mode', 'bogus'], /--mode must be one of probe, finetune, linear-eval, got 'bogus'/],
      [['--backbone', 'random', '--preset', 'huge'], /--preset must be one of vit-s8, tiny, got 'huge'/],
      [['--backbone', join(out, 'nope.safetensors')], /--backbone: missing file .*nope\.safetensors/],
      [['--backbone', 'random', '--data', join(out, 'missing.csv')], /missing\.csv: missing file or folder/],
    ];
    for (const [args, re] of cases) {
      const r = run(['finetune', ...args, '--out', out, '--videos', '4', '--frames', '1']);
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.err.split('\n').filter((l) => l.startsWith('medivlad:'));
      expect(lines.length, r.err).toBe(1);
      expect(lines[0], args.join(' ')).toMatch(re);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
