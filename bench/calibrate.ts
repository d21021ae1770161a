// Shared timing for the benches: seeded inputs, "ours" (bench/measure.ts) and the tfjs-webgpu
// peer, whose launches per sample (`inner`) are calibrated by one trial sample so a sample lasts
// ~20 ms (submit + wait overhead amortised for small kernels; big ones not repeated needlessly).
import type { Runtime } from '../src/kernels/runtime.js';
import { gbps, gflops, timeAsync, workerCpuMs, type PeerResult, type Timing } from './harness.js';
import { measure, type Measured } from './measure.js';
import { tfjsGpuDone, type Tf } from './peers/tfjs-webgpu.js';

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

/** Launches per sample so that one sample lasts ~20 ms. */
export function innerFor(msOnce: number, max = 256): number {
  return Math.max(1, Math.min(max, Math.ceil(20 / Math.max(msOnce, 1e-3))));
}

/** Our launch, measured the one way every row is (bench/measure.ts). */
export async function timeOurs(rt: Runtime, launch: () => void, repeat: number): Promise<Measured> {
  return measure(rt, launch, { repeat });
}

export type TfTensor = ReturnType<Tf['tensor']>;

export interface PeerTiming extends Timing {
  inner: number;
  first_ms: number;
  cpu_ms: number | null;
}

/**
 * tfjs-webgpu: `inner` runs, then its pending commands are submitted and its queue waited on
 * (tfjsGpuDone: GPU completion, no download); outputs disposed after. Wall clock. The first run
 * (tfjs compiles its shaders then) is `first_ms`.
 */
export async function timeTfjs(tf: Tf, run: () => TfTensor | TfTensor[], repeat: number): Promise<PeerTiming> {
  const sample = (inner: number, reps: number, warmup: number) =>
    timeAsync(
      async () => {
        const outs: TfTensor[] = [];
        for (let i = 0; i < inner; i++) {
          const r = run();
          outs.push(...(Array.isArray(r) ? r : [r]));
        }
        await tfjsGpuDone(tf, outs[outs.length - 1]);
        for (const o of outs) o.dispose();
      },
      { warmup, repeat: reps },
    );
  const first_ms = (await sample(1, 1, 0)).ms_median;
  const inner = innerFor((await sample(1, 1, 0)).ms_median);
  const c0 = workerCpuMs();
  const t = await sample(inner, repeat, 1);
  const c1 = workerCpuMs();
  return {
    ms_median: t.ms_median / inner, ms_min: t.ms_min / inner, ms_max: t.ms_max / inner, inner, first_ms,
    cpu_ms: c0 === null || c1 === null ? null : (c1 - c0) / ((repeat + 1) * inner),
  };
}

/** A peer's entry in a row: wall-clock time and the same work measure as our row. */
export function peerResult(t: PeerTiming | Timing, work: { flop?: number; bytes?: number }): PeerResult {
  return {
    ms_median: t.ms_median,
    ms_min: t.ms_min,
    ms_max: t.ms_max,
    ...(work.flop !== undefined ? { gflops: gflops(work.flop, t.ms_median) } : {}),
    ...(work.bytes !== undefined ? { gbps: gbps(work.bytes, t.ms_median) } : {}),
    timing: 'wall',
    ...('first_ms' in t ? { first_ms: t.first_ms, cpu_ms: t.cpu_ms } : {}),
  };
}

/** Our row's timing fields from a measurement, plus GFLOPS or GB/s from the work done. */
export function ourFields(m: Measured, work: { flop?: number; bytes?: number }) {
  return {
    ...m,
    ...(work.flop !== undefined ? { gflops: gflops(work.flop, m.ms_median) } : {}),
    ...(work.bytes !== undefined ? { gbps: gbps(work.bytes, m.ms_median) } : {}),
  };
}

/** An internal baseline (our unfused composition) as a peer: timed like our rows. */
export function baselineResult(m: Measured, work: { flop?: number; bytes?: number }): PeerResult {
  return {
    ms_median: m.ms_median,
    ...(work.flop !== undefined ? { gflops: gflops(work.flop, m.ms_median) } : {}),
    ...(work.bytes !== undefined ? { gbps: gbps(work.bytes, m.ms_median) } : {}),
    timing: m.timing,
    wall_ms_median: m.wall_ms_median,
    ...(m.profile ? { profile: m.profile } : {}),
  };
}
