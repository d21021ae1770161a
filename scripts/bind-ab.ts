// Paired A/B of bindable()'s in-place binding (src/autograd/view-ops.ts) on a training step:
// alternating steps with parameters bound in place and with the old per-call copies, same
// process, median of per-pair ratios (this box's speed drifts between processes).
//   npx esbuild scripts/bind-ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
//     --external:webgpu --outfile=dist/bind-ab.mjs && node dist/bind-ab.mjs [PAIRS] [dino|vit]
// dino: the tiny DINO step (bench model's dino-step row); vit: a ViT-S/8 training step at 64 px,
// batch 32 (bench model's train-step row).
import { initNode } from '../src/node/index.js';
import { DinoTrainer, DINO_PRESETS } from '../src/train/dino.js';
import { VIT_PRESETS } from '../src/models/vit.js';
import { synthDataset } from '../src/data/synth.js';
import { setBindInPlace } from '../src/autograd/view-ops.js';
import { Tensor } from '../src/autograd/tensor.js';
import * as A from '../src/autograd/index.js';
import { VisionTransformer } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';

const pairs = Number(process.argv[2] ?? 8);
const rt = await initNode();
function dinoCase() {
  const cfg = { ...DINO_PRESETS.tiny, epochs: 1, itersPerEpoch: 1000 };
  const clips = synthDataset({ videos: 16, frames: 4, size: VIT_PRESETS.tiny.imgSize, seed: 0 });
  const t = new DinoTrainer(cfg, { clips, knnSplit: null });
  return { step: () => t.step(), dispose: () => t.dispose() };
}
function vitCase() {
  const vit = new VisionTransformer(VIT_PRESETS['vit-s8']);
  const store = new ParameterStore(vit, { seed: 0, rt });
  const opt = new AdamW(store, { lr: 5e-4, weightDecay: 0.04 });
  const x = Tensor.fromArray(Float32Array.from({ length: 32 * 3 * 64 * 64 }, (_, i) => Math.sin(i * 0.37)), [32, 3, 64, 64], rt);
  const step = () =>
    A.scope(() => {
      store.zeroGrad();
      A.backward(A.mean(A.square(vit.forward(x))));
      opt.step({ clip: { mode: 'per-tensor', max: 3 } });
    });
  return { step, dispose: () => (x.dispose(), store.dispose()) };
}
const t = process.argv[3] === 'vit' ? vitCase() : dinoCase();
const timeStep = async (inPlace: boolean) => {
  setBindInPlace(inPlace);
  await rt.sync();
  const t0 = performance.now();
  t.step();
  await rt.sync();
  return performance.now() - t0;
};
await timeStep(true);
await timeStep(false);
const ratios: number[] = [];
const ms = { copy: [] as number[], inPlace: [] as number[] };
for (let i = 0; i < pairs; i++) {
  const order = i % 2 === 0 ? [false, true] : [true, false];
  const r: Record<string, number> = {};
  for (const o of order) r[String(o)] = await timeStep(o);
  ms.copy.push(r.false);
  ms.inPlace.push(r.true);
  ratios.push(r.false / r.true);
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(`copies ${med(ms.copy).toFixed(0)} ms, in place ${med(ms.inPlace).toFixed(0)} ms, paired ratio ${med(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
t.dispose();
process.exit(0);
