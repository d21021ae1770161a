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
import os from 'node:os';
import { acquireNodeGpu, type NodeGpuOptions } from './gpu.js';
import { createRuntime } from '../kernels/create-runtime.js';
import { setRuntime, hasRuntime, getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';
import { startEnvProfile } from './profile-env.js';
import { autotunerFor } from '../kernels/autotune.js';
import { nodeTuneStore } from './autotune-store.js';

let exitHooked = false;

export interface NodeInitOptions extends NodeGpuOptions {
  /**
   * Nice value for the JS thread on a software adapter (Linux only); false leaves it alone.
   * Default 19, or $MEDIVLAD_MAIN_NICE (a number; 0 or 'off' leaves it alone). See yieldToDriver.
   */
  mainThreadNice?: number | false;
  /**
   * Read (and write) the autotuner's per-adapter disk cache (src/node/autotune-store.ts), so
   * that the kernel choices of `medivlad bench --tune` apply to this process. The CLI commands
   * set it; default off (library users and the tests keep the measured default choices).
   */
  tuneCache?: boolean;
}

/** The nice value initNode gave the JS thread (null: left alone). */
export let mainThreadNice: number | null = null;

/**
 * On a software adapter the GPU is the driver's worker threads (lavapipe: one per core), on the
 * same cores as this process, and Dawn's Node binding spins the JS thread while any GPU promise
 * is pending (runtime.ts idleWait sleeps first, but a wait that outlasts its estimate still
 * spins): on a 2-core machine that spinning takes a core's share from the workers. Linux nice
 * values are per thread, and the driver created its workers with the device, before this, so
 * they keep theirs: at nice 19 the JS thread still runs whenever a core is free, but yields to
 * the workers when they want the core. Measured on lavapipe, 2 cores: a DINO step of the tiny
 * preset 1500 -> 1185-1238 ms (`bench model --filter dino-step`, two pairs of runs), and bench
 * timings stop depending on how long the JS thread happened to spin. Not on other systems: there
 * os.setPriority sets the whole process's priority, the driver's threads included. A device made
 * later in the same process (initNode after a device loss) gets workers that inherit nice 19:
 * then they and the JS thread compete as equals again, as before this.
 */
function yieldToDriver(rt: Runtime, opts: NodeInitOptions): void {
  const env = process.env.MEDIVLAD_MAIN_NICE;
  const want = opts.mainThreadNice ?? (env === undefined ? 19 : env === 'off' ? false : Number(env));
  if (want === false || !rt.adapter.isSoftware || process.platform !== 'linux') return;
  if (!Number.isInteger(want) || want < 0 || want > 19) throw new Error(`initNode: mainThreadNice / $MEDIVLAD_MAIN_NICE must be an integer 0..19 or 'off', got ${want}`);
  if (want === 0) return;
  try {
    os.setPriority(0, want); // pid 0: on Linux the calling thread only
    mainThreadNice = want;
  } catch {
    // Not permitted (a sandbox's seccomp filter): timings only, nothing to report.
  }
}

/** The current runtime, or a new one (also when the current one's device was lost). */
export async function initNode(opts: NodeInitOptions = {}): Promise<Runtime> {
  if (hasRuntime()) {
    const cur = getRuntime();
    if (!cur.lost) {
      if (opts.tuneCache) await autotunerFor(cur).useStore(nodeTuneStore(cur.adapter));
      return cur;
    }
    shutdownNode();
  }
  const { adapter, driver } = await acquireNodeGpu(opts);
  const rt = await createRuntime(adapter, driver);
  yieldToDriver(rt, opts);
  setRuntime(rt);
  startEnvProfile(rt); // MEDIVLAD_PROFILE=FILE (src/node/profile-env.ts)
  if (opts.tuneCache) await autotunerFor(rt).useStore(nodeTuneStore(rt.adapter));
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
