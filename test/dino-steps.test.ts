// The DINO update against PyTorch (scripts/make-fixtures.py: dino_fixture restates DINO's
// train_one_epoch): three iterations, one per epoch, on fixed crops. Checks the loss, the
// center EMA, every student parameter (per-tensor clipping, AdamW with the wd schedule on
// the decayed group, last layer frozen in epoch 0) and every teacher parameter (EMA with
// the momentum schedule) after each step. Both sides use AdamW eps 1e-3 (see the fixture
// script: with 1e-8, near-zero gradients make Adam's first step amplify float rounding).
import { describe, it, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { loadStFixture } from './helpers/st-fixture.js';
import { formulaValues } from './helpers/formula-init.js';
import { Tensor } from '../src/autograd/tensor.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig } from '../src/train/dino.js';

beforeAll(async () => {
  await gpu();
});

describe('DINO steps vs PyTorch', () => {
  it('loss, center, student and teacher after each of 3 steps', async () => {
    const fx = loadStFixture('dino-steps');
    const m = fx.meta as Record<string, number>;
    const cfg: DinoConfig = {
      ...DINO_PRESETS.tiny,
      vit: { imgSize: m.img, patchSize: m.patch, embedDim: m.dim, depth: m.depth, numHeads: m.heads, mlpRatio: 4 },
      head: { outDim: m.outDim, hiddenDim: m.hidden, bottleneckDim: m.bottleneck, normLastLayer: true },
      epochs: m.epochs, itersPerEpoch: m.itersPerEpoch, batch: m.B,
      lr: (m.lr * 256) / m.B, minLr: m.minLr, warmupEpochs: 0,
      weightDecay: m.weightDecay, weightDecayEnd: m.weightDecayEnd, momentumTeacher: m.momentumTeacher,
      warmupTeacherTemp: m.warmupTeacherTemp, teacherTemp: m.teacherTemp, warmupTeacherTempEpochs: m.warmupTeacherTempEpochs,
      studentTemp: m.studentTemp, centerMomentum: 0.9, freezeLastLayer: m.freezeLastLayer, clipGrad: m.clip,
      dropPathRate: 0, nLocal: m.nLocal, localSize: m.local, logEvery: 8, adamEps: m.adamEps,
    };
    const t = new DinoTrainer(cfg, { clips: [], knnSplit: null });
    t.sStore.loadValues(formulaValues(t.student, m.formulaScale));
    t.syncTeacher();
    for (let step = 0; step < 3; step++) {
      const crop = (j: number) => {
        const c = fx.get(`step${step}.crop${j}`);
        return Tensor.fromArray(c.data, c.shape);
      };
      const globals = [crop(0), crop(1)];
      const locals = [crop(2), crop(3)];
      t.stepOnCrops(globals, locals);
      const [loss] = await t.drainLosses();
      expectClose([loss], fx.get(`step${step}.loss`).data, { rel: 1e-5, what: `step ${step} loss` });
      expectClose(await t.center.toArray(), fx.get(`step${step}.center`).data, { rel: 1e-5, what: `step ${step} center` });
      const s = await t.sStore.stateDict();
      const te = await t.tStore.stateDict();
      for (const [name, v] of s) expectClose(v.data, fx.get(`step${step}.student.${name}`).data, { rel: 1e-4, what: `step ${step} student ${name}` });
      for (const [name, v] of te) expectClose(v.data, fx.get(`step${step}.teacher.${name}`).data, { rel: 1e-4, what: `step ${step} teacher ${name}` });
      for (const c of [...globals, ...locals]) c.dispose();
    }
    t.dispose();
  });
});
