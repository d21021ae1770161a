// Node entry: acquire Dawn, create the runtime, make it current, and tear it down at exit
// (an undestroyed Dawn device can keep the process from ending).
//
// GPU device loss (driver reset, GPU removed, device.destroy()): every GPU operation then
// throws DeviceLostError naming the reason, and every tensor of the old runtime is gone.
// Recovery is: shutdownNode(), initNode() (a fresh device from the same Dawn instance), rebuild
// the models and load the last checkpoint, e.g. for DINO
//   shutdownNode(); await initNode();
//   const t = new DinoTrainer(cfg, hooks); await t.restore(state);  // state read from the checkpoint
// initNode() alone also replaces a runtime whose device was lost (test/reliability-device.test.ts).
import { acquireNodeGpu, type NodeGpuOptions } from './gpu.js';
import { createRuntime } from '../kernels/create-runtime.js';
import { setRuntime, hasRuntime, getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';

let exitHooked = false;

/** The current runtime, or a new one (also when the current one's device was lost). */
export async function initNode(opts: NodeGpuOptions = {}): Promise<Runtime> {
  if (hasRuntime()) {
    if (!getRuntime().lost) return getRuntime();
    shutdownNode();
  }
  const { adapter, driver } = await acquireNodeGpu(opts);
  const rt = await createRuntime(adapter, driver);
  setRuntime(rt);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => shutdownNode());
  }
  return rt;
}

/** Destroy the current runtime (its device and buffers); a later initNode() makes a new one. */
export function shutdownNode(): void {
  if (!hasRuntime()) return;
  const rt = getRuntime();
  setRuntime(null);
  rt.destroy();
}
