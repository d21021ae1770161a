// Node entry: acquire Dawn, create the runtime, make it current, and tear it down at exit
// (an undestroyed Dawn device can keep the process from ending).
import { acquireNodeGpu, type NodeGpuOptions } from './gpu.js';
import { createRuntime } from '../kernels/create-runtime.js';
import { setRuntime, hasRuntime, getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';

let exitHooked = false;

export async function initNode(opts: NodeGpuOptions = {}): Promise<Runtime> {
  if (hasRuntime()) return getRuntime();
  const { adapter, driver } = await acquireNodeGpu(opts);
  const rt = await createRuntime(adapter, driver);
  setRuntime(rt);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => shutdownNode());
  }
  return rt;
}

export function shutdownNode(): void {
  if (!hasRuntime()) return;
  const rt = getRuntime();
  setRuntime(null);
  rt.destroy();
}
