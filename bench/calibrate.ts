// Shared timing for the benches: seeded inputs, and "ours" / tfjs timings whose launches per
// sample (`inner`) are calibrated by one trial sample so a sample lasts ~10 ms (the submit +
// wait overhead is amortised for small kernels, and big ones are not repeated needlessly).
import type { Runtime } from '../src/kernels/runtime.js';
import { timeAsync, timeRuntime, type Timing } from './harness.js';
import type { Tf } from './peers/tfjs-webgpu.js';

/** Seeded uniform [lo, hi) (an LCG: benches need speed, not quality). */
export function seeded(n: number, lo: number, hi: number, seed = 12345): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = lo + ((hi - lo) * (s >>> 8)) / 16777216;
  }
  return a;
}

/** Launches per sample so that one sample lasts ~10 ms. */
export function innerFor(msOnce: number): number {
  return Math.max(1, Math.min(256, Math.ceil(10 / Math.max(msOnce, 1e-3))));
}

/** Time our launch with `inner` calibrated by one trial sample (which also compiles). */
export async function timeOurs(rt: Runtime, launch: () => void, repeat: number): Promise<Timing & { inner: number }> {
  const once = await timeRuntime(rt, launch, { warmup: 1, repeat: 1 });
  const inner = innerFor(once.ms_median);
  return { ...(await timeRuntime(rt, launch, { repeat, inner })), inner };
}

export type TfTensor = ReturnType<Tf['tensor']>;

/**
 * tfjs runs lazily and reads back to finish: `inner` runs, then one element of the last
 * output is read, so the time covers GPU completion but not a full download.
 */
export async function timeTfjs(tf: Tf, run: () => TfTensor | TfTensor[], repeat: number): Promise<Timing> {
  const sample = (inner: number, reps: number) =>
    timeAsync(
      async () => {
        let last: TfTensor[] = [];
        for (let i = 0; i < inner; i++) {
          for (const t of last) t.dispose();
          const r = run();
          last = Array.isArray(r) ? r : [r];
        }
        const tail = last[last.length - 1];
        const one = tf.slice(tf.reshape(tail, [-1]), [0], [1]);
        await one.data();
        one.dispose();
        for (const t of last) t.dispose();
      },
      { warmup: reps === 1 ? 1 : 2, repeat: reps },
    );
  const inner = innerFor((await sample(1, 1)).ms_median);
  const t = await sample(inner, repeat);
  return { ms_median: t.ms_median / inner, ms_min: t.ms_min / inner, ms_max: t.ms_max / inner };
}
