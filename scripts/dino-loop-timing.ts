// The tiny DINO step as the training loop runs it, three ways, on the main job's data (192
// synthetic clips of 20 frames at 64 px): the figures behind README's "Batching" (JS recording
// cost per dispatch) and the wait planner (src/kernels/wait-planner.ts).
//   npx esbuild scripts/dino-loop-timing.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
//     --external:webgpu --outfile=dist/dino-loop-timing.mjs && node dist/dino-loop-timing.mjs [STEPS]
// Prints, per step:
//   record  dispatches, wall time of step() (recording only) and the main thread's CPU time
//           during it (Linux: /proc/self/task/<pid>/schedstat), each step then synced;
//   synced  step() + sync, wall time;
//   loop    DinoTrainer.train() with its log points every cfg.logEvery steps (loss read-back and
//           the teacher-entropy monitor), wall time.
// Each mode gets a fresh trainer after 3 warm-up steps.
import { readFileSync } from 'node:fs';
import { initNode } from '../src/node/index.js';
import { DinoTrainer, DINO_PRESETS } from '../src/train/dino.js';
import { synthDataset } from '../src/data/synth.js';

const steps = Number(process.argv[2] ?? 15);
const rt = await initNode({ tuneCache: true });
const cfg = { ...DINO_PRESETS.tiny, epochs: 1, itersPerEpoch: 1000 };
const clips = synthDataset({ videos: 192, frames: 20, size: 64, seed: 0 });
const mainCpuMs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

async function fresh(): Promise<DinoTrainer> {
  const t = new DinoTrainer(cfg, { clips, knnSplit: null, onStep: () => {}, progress: () => {} });
  for (let i = 0; i < 3; i++) t.step();
  await rt.sync();
  return t;
}

{
  const t = await fresh();
  const d0 = rt.counters.dispatches;
  let wall = 0;
  let cpu = 0;
  for (let i = 0; i < steps; i++) {
    const c0 = mainCpuMs();
    const w0 = performance.now();
    t.step();
    wall += performance.now() - w0;
    cpu += mainCpuMs() - c0;
    await rt.sync();
  }
  const n = (rt.counters.dispatches - d0) / steps;
  console.log(`record: ${n.toFixed(0)} dispatches, ${(wall / steps).toFixed(1)} ms wall, ${(cpu / steps).toFixed(1)} ms main-thread CPU per step (${((1000 * cpu) / steps / n).toFixed(0)} us per dispatch)`);
  t.dispose();
}
{
  const t = await fresh();
  const w0 = performance.now();
  for (let i = 0; i < steps; i++) {
    t.step();
    await rt.sync();
  }
  console.log(`synced: ${((performance.now() - w0) / steps).toFixed(0)} ms per step`);
  t.dispose();
}
{
  const t = await fresh();
  const w0 = performance.now();
  await t.train(3 + steps);
  await rt.sync();
  console.log(`loop:   ${((performance.now() - w0) / steps).toFixed(0)} ms per step (log points every ${cfg.logEvery} steps)`);
  t.dispose();
}
process.exit(0);
