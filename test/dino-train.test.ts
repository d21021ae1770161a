// The DINO loop end to end on a very small model: it runs, logs finite losses with the
// schedules, evaluates k-NN each epoch, and a run resumed from its epoch-1 state reproduces
// the uninterrupted run's losses bit for bit.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig, type StepLog, type DinoState } from '../src/train/dino.js';
import { synthDataset } from '../src/data/synth.js';
import { patientFolds } from '../src/data/folds.js';

beforeAll(async () => {
  await gpu();
});

const clips = synthDataset({ videos: 10, frames: 3, size: 32, seed: 1 });
const split = patientFolds(clips, 2, 0).folds[0];

const cfg: DinoConfig = {
  ...DINO_PRESETS.tiny,
  vit: { imgSize: 32, embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 },
  head: { outDim: 37, hiddenDim: 32, bottleneckDim: 16, normLastLayer: true },
  epochs: 2, itersPerEpoch: 3, batch: 4, nLocal: 2, localSize: 16, logEvery: 2, warmupEpochs: 1,
};

async function run(c: DinoConfig, opts: { until?: number; from?: DinoState; knnEvery?: number } = {}) {
  const logs: StepLog[] = [];
  const knn: (number | null)[] = [];
  let snapshot: DinoState | null = null;
  const t = new DinoTrainer(c, {
    clips,
    knnSplit: split,
    knnEvery: opts.knnEvery,
    onStep: (l) => void logs.push(l),
    onEpoch: async (e, state) => {
      knn.push(e.knn_top1);
      if (e.epoch === 0) snapshot = await state();
    },
  });
  if (opts.from) await t.restore(opts.from);
  await t.train(opts.until);
  t.dispose();
  return { logs, knn, snapshot: snapshot as DinoState | null };
}

describe('DINO training loop', () => {
  it('runs, logs every step, evaluates k-NN per epoch, and resumes bit for bit', async () => {
    const full = await run(cfg);
    expect(full.logs.map((l) => l.it)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const l of full.logs) expect(Number.isFinite(l.loss) && l.loss > 0).toBe(true);
    // lr: linear warm-up over epoch 0 from 0, then cosine
    expect(full.logs[0].lr).toBe(0);
    expect(full.logs[2].lr).toBeCloseTo((cfg.lr * cfg.batch) / 256, 12);
    expect(full.logs.some((l) => l.teacher_entropy !== undefined)).toBe(true);
    expect(full.knn.length).toBe(2);
    for (const k of full.knn) expect(k !== null && k >= 0 && k <= 1).toBe(true);

    // Interrupted after epoch 0, resumed from its state in a fresh trainer.
    const first = await run(cfg, { until: 3 });
    expect(first.snapshot).not.toBeNull();
    const resumed = await run(cfg, { from: first.snapshot! });
    expect(resumed.logs.map((l) => l.it)).toEqual([3, 4, 5]);
    expect(resumed.logs.map((l) => l.loss)).toEqual(full.logs.slice(3).map((l) => l.loss));
    expect(first.logs.map((l) => l.loss)).toEqual(full.logs.slice(0, 3).map((l) => l.loss));
  });
});

describe('DINO k-NN monitor interval', () => {
  it('knnEvery 2 over 3 epochs monitors after epochs 2 and 3 (the last) only', async () => {
    const r = await run({ ...cfg, epochs: 3, itersPerEpoch: 1, warmupEpochs: 0 }, { knnEvery: 2 });
    expect(r.knn.length).toBe(3);
    expect(r.knn[0]).toBeNull();
    for (const k of r.knn.slice(1)) expect(k !== null && k >= 0 && k <= 1).toBe(true);
  });
});

describe('DINO faults', () => {
  it('a non-finite loss stops training at the next log point, naming the iteration and the first non-finite gradient', async () => {
    const t = new DinoTrainer(cfg, { clips, knnSplit: null });
    await t.train(3); // epoch 0 done
    // Corrupt one weight of the student's head, as a diverging run would.
    const seg = t.sStore.byName.get('head.mlp.0.weight')!;
    t.sStore.buckets[seg.bucket].param.rt.upload(t.sStore.buckets[seg.bucket].param.buffer, new Float32Array([NaN]), (seg.start + 5) * 4);
    await expect(t.train()).rejects.toThrow(/non-finite loss NaN at iteration 3; first non-finite gradient: [\w.]+; the last checkpoint is left intact/);
    t.dispose();
  });
});
