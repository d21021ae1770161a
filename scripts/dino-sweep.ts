// Research tool: how the tiny DINO recipe was chosen. Trains several DINO recipes (and a
// supervised reference) on synthetic clips and prints the k-NN top-1 of teacher and student
// backbones at fixed step counts, next to the same network at random init. Evaluation uses more
// frames than the pretrain monitor (4 per clip, patient-disjoint halves) so differences of a few
// points are not noise.
//
//   npx esbuild scripts/dino-sweep.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
//     --external:webgpu --outfile=/tmp/sweep.mjs && node /tmp/sweep.mjs recipes.json
// recipes.json: [{ "name": "...", "steps": 160, "evalEvery": 40, "cfg": { partial DinoConfig } } | { "name", "supervised": true, "steps", "lr" }]
import { readFileSync } from 'node:fs';
import { initNode, shutdownNode } from '../src/node/index.js';
import { Tensor } from '../src/autograd/tensor.js';
import { scope } from '../src/autograd/scope.js';
import * as A from '../src/autograd/index.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig } from '../src/train/dino.js';
import { synthDataset } from '../src/data/synth.js';
import { patientFolds } from '../src/data/folds.js';
import { knnClassify } from '../src/eval/knn.js';
import { VisionTransformer, VIT_PRESETS } from '../src/models/vit.js';
import { Module } from '../src/models/module.js';
import { Linear } from '../src/models/layers.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { Rng, hashSeed } from '../src/data/rng.js';
import type { Clip } from '../src/data/clip.js';

interface Recipe {
  name: string;
  steps: number;
  evalEvery: number;
  cfg?: Partial<DinoConfig>;
  supervised?: boolean;
  lr?: number;
  batch?: number;
}

const FRAMES_PER_CLIP_EVAL = 4;

function evalSet(clips: Clip[], idx: number[], mean: number, std: number) {
  const S = clips[0].size;
  const n = idx.length * FRAMES_PER_CLIP_EVAL;
  const host = new Float32Array(n * 3 * S * S);
  const labels: number[] = [];
  let b = 0;
  for (const ci of idx) {
    const c = clips[ci];
    for (let j = 0; j < FRAMES_PER_CLIP_EVAL; j++) {
      const f = c.frames[Math.floor(((j + 0.5) * c.frames.length) / FRAMES_PER_CLIP_EVAL)];
      for (let ch = 0; ch < 3; ch++) for (let i = 0; i < S * S; i++) host[(b * 3 + ch) * S * S + i] = (f[i] - mean) / std;
      labels.push(c.label as number);
      b++;
    }
  }
  return { host, labels, n, S };
}

async function features(vit: VisionTransformer, set: ReturnType<typeof evalSet>): Promise<Float32Array> {
  const D = vit.cfg.embedDim;
  const out = new Float32Array(set.n * D);
  const chunk = 64;
  for (let s = 0; s < set.n; s += chunk) {
    const m = Math.min(chunk, set.n - s);
    const per = 3 * set.S * set.S;
    const x = Tensor.fromArray(set.host.subarray(s * per, (s + m) * per), [m, 3, set.S, set.S]);
    const y = A.noGrad(() => vit.forward(x));
    out.set(await y.toArray(), s * D);
    x.dispose();
    y.dispose();
  }
  return out;
}

class Supervised extends Module {
  readonly backbone: VisionTransformer;
  readonly head: Linear;
  constructor() {
    super();
    this.backbone = this.child('backbone', new VisionTransformer(VIT_PRESETS.tiny));
    this.head = this.child('head', new Linear(VIT_PRESETS.tiny.embedDim, 3));
  }
}

async function main(): Promise<void> {
  const recipes = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Recipe[];
  const videos = Number(process.env.SWEEP_VIDEOS ?? 192);
  await initNode();
  const t0 = performance.now();
  const clips = synthDataset({ videos, frames: 8, size: 64, seed: 0 });
  const { folds } = patientFolds(clips.map((c) => ({ patient: c.patient, label: c.label })), 2, 0);
  const mean = 0.326, std = 0.228;
  const trainSet = evalSet(clips, folds[0].test, mean, std);
  const testSet = evalSet(clips, folds[0].train, mean, std);
  console.log(`data: ${videos} clips in ${((performance.now() - t0) / 1000).toFixed(1)} s; k-NN ${trainSet.n} train / ${testSet.n} test frames`);
  const knn = async (vit: VisionTransformer) => {
    const a = await features(vit, trainSet);
    const b = await features(vit, testSet);
    return knnClassify(a, trainSet.labels, b, testSet.labels, vit.cfg.embedDim, { k: 20, T: 0.07 }).accuracy;
  };
  const pct = (x: number) => (100 * x).toFixed(1);

  for (const r of recipes) {
    const t1 = performance.now();
    const rows: string[] = [];
    if (r.supervised) {
      const model = new Supervised();
      const store = new ParameterStore(model, { seed: 0 });
      const opt = new AdamW(store, { lr: r.lr ?? 1e-3, weightDecay: 0.05 });
      rows.push(`0: ${pct(await knn(model.backbone))}`);
      const B = r.batch ?? 32;
      for (let it = 0; it < r.steps; it++) {
        scope(() => {
          const rng = new Rng(hashSeed(1, it));
          const S = 64;
          const host = new Float32Array(B * 3 * S * S);
          const labels: number[] = [];
          for (let b = 0; b < B; b++) {
            const ci = folds[0].test[rng.int(folds[0].test.length)];
            const c = clips[ci];
            const f = c.frames[rng.int(c.frames.length)];
            for (let ch = 0; ch < 3; ch++) for (let i = 0; i < S * S; i++) host[(b * 3 + ch) * S * S + i] = (f[i] - mean) / std;
            labels.push(c.label as number);
          }
          store.zeroGrad();
          const logits = model.head.forward(model.backbone.forward(Tensor.fromArray(host, [B, 3, S, S])));
          A.backward(A.crossEntropy(logits, labels));
          opt.step({ lr: r.lr ?? 1e-3 });
        });
        if ((it + 1) % r.evalEvery === 0) rows.push(`${it + 1}: ${pct(await knn(model.backbone))}`);
      }
    } else {
      const cfg: DinoConfig = { ...DINO_PRESETS.tiny, ...(r.cfg ?? {}) };
      const trainer = new DinoTrainer(cfg, { clips, knnSplit: null });
      rows.push(`0: ${pct(await knn(trainer.teacher.backbone))}`);
      let last: Float32Array = new Float32Array(0);
      for (let it = 0; it < Math.min(r.steps, trainer.total); it++) {
        trainer.step();
        if ((it + 1) % cfg.logEvery === 0) last = await trainer.drainLosses();
        if ((it + 1) % r.evalEvery === 0) {
          const t = await knn(trainer.teacher.backbone);
          const s = await knn(trainer.student.backbone);
          rows.push(`${it + 1}: T ${pct(t)} S ${pct(s)} loss ${last.length ? last[last.length - 1].toFixed(3) : '?'}`);
        }
      }
    }
    console.log(`${r.name} (${((performance.now() - t1) / 1000).toFixed(0)} s): ${rows.join(' | ')}`);
  }
  shutdownNode();
}

await main();
