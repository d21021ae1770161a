// Non-finite steps in DINO (issue #10). The fault: every frame of one clip is NaN, so each
// iteration whose batch draws that clip has a NaN loss and NaN gradients, and the others are
// clean. With onNonFinite 'skip' (`pretrain --skip-nonfinite`) such a step leaves parameters,
// AdamW state, step counts, teacher and center exactly as they were, is logged as skipped, and
// training goes on; without it, training stops at that iteration naming the first non-finite
// gradient (today's behaviour).
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig, type DinoState, type StepLog } from '../src/train/dino.js';
import { synthDataset } from '../src/data/synth.js';
import { loadSafetensors } from '../src/node/files.js';
import { Rng, hashSeed } from '../src/data/rng.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

beforeAll(async () => {
  await gpu();
});

const cfg: DinoConfig = {
  ...DINO_PRESETS.tiny,
  vit: { imgSize: 32, embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 },
  head: { outDim: 37, hiddenDim: 32, bottleneckDim: 16, normLastLayer: true },
  epochs: 2, itersPerEpoch: 4, batch: 4, nLocal: 2, localSize: 16, logEvery: 2, warmupEpochs: 1,
};
const N_CLIPS = 10;
const N_FRAMES = 3;

/** The clips iteration `it` draws: the same (seed, it) stream as DinoTrainer's batchImages. */
function drawnClips(it: number): Set<number> {
  const rng = new Rng(hashSeed(cfg.seed, it, 0x64617461));
  const out = new Set<number>();
  for (let b = 0; b < cfg.batch; b++) {
    out.add(rng.int(N_CLIPS));
    rng.int(N_FRAMES);
  }
  return out;
}

// Poison the clip that iterations 0 and 1 do not draw and the rest draw least often (but at
// least once), so the run has clean steps first, then a mix. Only iterations that draw it can
// be skipped, but not all of them are: colour jitter clamps to [0, 1], and WGSL's clamp/min/max
// of a NaN may return a bound (lavapipe does), so a jittered NaN crop can come out finite.
const total = cfg.epochs * cfg.itersPerEpoch;
const drawsOf = (c: number) => [...Array(total).keys()].filter((it) => drawnClips(it).has(c));
const candidates = [...Array(N_CLIPS).keys()].filter((c) => drawsOf(c).length > 0 && drawsOf(c)[0] >= 2);
const poisoned = candidates.sort((a, b) => drawsOf(a).length - drawsOf(b).length)[0];
const poisonedDraws = drawsOf(poisoned);

function nanClips() {
  const clips = synthDataset({ videos: N_CLIPS, frames: N_FRAMES, size: 32, seed: 1 });
  clips[poisoned].frames.forEach((f) => f.fill(NaN));
  return clips;
}

/** Every tensor of a state as one map of host arrays (student, teacher, AdamW m/v, center). */
function flat(s: DinoState): Map<string, Float32Array> {
  const m = new Map<string, Float32Array>();
  for (const [n, t] of s.student) m.set(`student.${n}`, t.data);
  for (const [n, t] of s.teacher) m.set(`teacher.${n}`, t.data);
  for (const [n, t] of s.optim.tensors) m.set(n, t.data);
  m.set('center', s.center);
  return m;
}

function changed(a: DinoState, b: DinoState): string[] {
  const fa = flat(a);
  const fb = flat(b);
  return [...fa].filter(([n, v]) => !v.every((x, i) => Object.is(x, fb.get(n)![i]))).map(([n]) => n);
}

describe('DINO with onNonFinite: skip', () => {
  it('a skipped step changes nothing (parameters, AdamW state and steps, teacher, center); a clean one updates', async () => {
    const t = new DinoTrainer(cfg, { clips: nanClips(), knnSplit: null, onNonFinite: 'skip' });
    const skippedAt: number[] = [];
    for (let it = 0; it < t.total; it++) {
      const before = await t.state();
      const what = await t.stepOrSkip();
      const after = await t.state();
      expect(after.it).toBe(it + 1);
      if (what !== null) {
        skippedAt.push(it);
        expect(what).toMatch(/^loss NaN; first non-finite gradient: [\w.]+$/);
        expect(changed(before, after)).toEqual([]);
        expect(after.optim.steps).toEqual(before.optim.steps);
      } else {
        // lr is 0 at iteration 0 (warm-up), so the parameters may stay; the center and the
        // AdamW moments always move, and the step counts advance.
        expect(changed(before, after)).toContain('center');
        expect(changed(before, after).some((n) => n.startsWith('optim.m.'))).toBe(true);
        expect(after.optim.steps['backbone.cls_token']).toBe(before.optim.steps['backbone.cls_token'] + 1);
        for (const v of flat(after).values()) expect(v.every(Number.isFinite)).toBe(true);
      }
    }
    expect([...t.skipped.keys()]).toEqual(skippedAt);
    // The fault must produce both kinds of step, or this test proves nothing.
    expect(skippedAt[0]).toBe(poisonedDraws[0]);
    expect(skippedAt.every((it) => poisonedDraws.includes(it))).toBe(true);
    expect(skippedAt.length).toBeLessThan(total);
    t.dispose();
  });

  it('train() logs skipped steps and keeps going; without skip the same data stops at the first of them', async () => {
    const logs: StepLog[] = [];
    const t = new DinoTrainer(cfg, { clips: nanClips(), knnSplit: null, onNonFinite: 'skip', onStep: (l) => void logs.push(l) });
    await t.train();
    t.dispose();
    expect(logs.map((l) => l.it)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const skipped = logs.filter((l) => l.skipped);
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.every((l) => poisonedDraws.includes(l.it))).toBe(true);
    for (const l of skipped) {
      expect(Number.isNaN(l.loss)).toBe(true);
      expect(l.nonfinite).toMatch(/^loss NaN; first non-finite gradient: /);
    }
    for (const l of logs.filter((x) => !x.skipped)) {
      expect(Number.isFinite(l.loss) && l.loss > 0).toBe(true);
      expect(l.nonfinite).toBeUndefined();
    }

    const first = skipped[0].it;
    const s = new DinoTrainer(cfg, { clips: nanClips(), knnSplit: null });
    await expect(s.train()).rejects.toThrow(
      new RegExp(`non-finite loss NaN at iteration ${first}; first non-finite gradient: [\\w.]+; the last checkpoint is left intact`),
    );
    s.dispose();
  });
});

describe('`medivlad pretrain --skip-nonfinite`', () => {
  const ARGS = ['pretrain', '--epochs', '3', '--iters-per-epoch', '2', '--batch', '2', '--videos', '8', '--frames', '2', '--log-every', '1'];
  const env = { ...process.env, MEDIVLAD_TEST_FAULT: 'nan-data' };

  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  });

  it('finishes, logs each skipped step in log.jsonl and counts them in the final summary', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'medivlad-skip-')), 'run');
    const r = spawnSync(process.execPath, [bin, ...ARGS, '--out', out, '--skip-nonfinite'], { cwd: root, encoding: 'utf8', timeout: 300_000, env });
    expect(r.status, r.stderr).toBe(0);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(log.map((l) => l.it)).toEqual([0, 1, 2, 3, 4, 5]);
    const skipped = log.filter((l) => l.skipped === true);
    expect(skipped.length).toBeGreaterThan(0);
    for (const l of skipped) {
      expect(l.loss).toBeNull(); // JSON has no NaN
      expect(String(l.nonfinite)).toMatch(/^loss NaN; first non-finite gradient: /);
    }
    for (const l of log.filter((x) => x.skipped === undefined)) expect(typeof l.loss).toBe('number');
    const its = skipped.map((l) => l.it).join(', ');
    expect(r.stderr).toContain(`pretrain: finished at iteration 6; ${skipped.length} non-finite step(s) skipped (iterations ${its};`);
  });

  it('without the flag, stops at the first non-finite step naming it, with the last checkpoint intact', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'medivlad-stop-')), 'run');
    const r = spawnSync(process.execPath, [bin, ...ARGS, '--out', out], { cwd: root, encoding: 'utf8', timeout: 300_000, env });
    expect(r.status).toBe(2);
    const m = /medivlad: error: DINO: non-finite loss NaN at iteration (\d+); first non-finite gradient: [\w.]+; the last checkpoint is left intact/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const at = Number(m![1]);
    // With this seed the NaN clip is first drawn in epoch 1, after epoch 0's checkpoint.
    expect(at).toBeGreaterThanOrEqual(2);
    const f = await loadSafetensors(join(out, 'checkpoint.safetensors'));
    expect(Number(f.metadata.it)).toBe(2 * Math.floor(at / 2));
  });
});
