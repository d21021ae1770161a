// How every bench row times our kernels: one function, `measure`, so that every row of every
// suite carries the same fields (bench/README.md, "How to read the numbers").
//
//   1. First call: one launch on a warm runtime, then a wait. `first_ms` is its wall time:
//      pipeline creation (seconds on lavapipe when Mesa's shader cache is cold) plus one run.
//      Around it: `pipelines_created`, `buffers_created` (GPU buffers the pool had to create),
//      `peak_bytes` (the pool's peak live bytes during the launch, inputs included) and
//      `extra_bytes` (peak minus what was live before: the launch's own footprint).
//   2. `inner`: launches per sample, so that a sample lasts ~20 ms (submit + wait amortised for
//      small kernels), from one trial sample, capped so a sample fits one batch of the runtime.
//   3. `warmup` samples, then `repeat` timed samples. Each records `inner` launches, submits
//      them as one batch, and waits. Per-launch times: median (the number to quote), min, max,
//      `spread` = (max - min) / median.
//   4. Timing source: GPU timestamps ('timestamp-query', bench/gpu-timer.ts) bracketing the
//      batch when the device has the feature and the batch went out as one submit; else wall
//      clock from the first recorded launch to queue.onSubmittedWorkDone(). `timing` says which;
//      `wall_ms_median` is always there (peers are wall-clocked, so ratios use it).
//   5. `buffers_created_steady`: buffers created after the first call (0 when the pool reuses),
//      `cpu_ms`: CPU time per launch of the driver's worker threads (bench/harness.ts).
//   6. With `bench --profile` (setProfile): one more sample of `inner` launches, untimed, with
//      every dispatch timestamped (Runtime.startProfile): `profile` lists the GPU ms and
//      dispatches per launch of each kernel, slowest first, and its share of their sum.
import type { Runtime } from '../src/kernels/runtime.js';
import { GpuTimer } from './gpu-timer.js';
import { summarize, workerCpuMs, type Timing } from './harness.js';

export type TimingSource = 'gpu-timestamp' | 'wall';

export interface Measured extends Timing {
  spread: number;
  timing: TimingSource;
  wall_ms_median: number;
  inner: number;
  first_ms: number;
  pipelines_created: number;
  buffers_created: number;
  buffers_created_steady: number;
  peak_bytes: number;
  extra_bytes: number;
  cpu_ms: number | null;
  /** With setProfile: GPU time per launch of each kernel (one extra, untimed sample). */
  profile?: ProfileLine[];
}

export interface ProfileLine {
  kernel: string;
  /** Dispatches per launch. */
  dispatches: number;
  /** GPU ms per launch. */
  ms: number;
  /** Share of the summed kernel time. */
  share: number;
}

export interface MeasureOpts {
  /** Timed samples (default 7). */
  repeat?: number;
  /** Untimed samples after the trial (default 1). */
  warmup?: number;
  /** Launches per sample; default: calibrated so a sample lasts ~targetMs. */
  inner?: number;
  targetMs?: number;
  maxInner?: number;
}

/** Uniform slots of the runtime's arena (src/kernels/runtime.ts): a batch flushes past them. */
const BATCH_DISPATCHES = 1000;

const timers = new WeakMap<Runtime, GpuTimer | null>();
const wallOnly = new WeakSet<Runtime>();

/** Force wall-clock timing on rt (`--no-timestamps`), or allow timestamps again. */
export function setGpuTimestamps(rt: Runtime, on: boolean): void {
  if (on) wallOnly.delete(rt);
  else wallOnly.add(rt);
}

const profiled = new WeakMap<Runtime, { shapes: boolean }>();

/**
 * Per-kernel profiles on rt's rows (`--profile`, `--profile-shapes`: one line per kernel and
 * launch shape): an extra sample each, see the header (6). null turns it off.
 */
export function setProfile(rt: Runtime, opts: { shapes: boolean } | null): void {
  if (opts) profiled.set(rt, opts);
  else profiled.delete(rt);
}

/** GPU time per kernel over `n` launches, per launch (Runtime.startProfile). */
export async function profileLaunches(rt: Runtime, launch: () => void, n: number, opts: { shapes?: boolean } = {}): Promise<ProfileLine[]> {
  await rt.sync();
  rt.startProfile(opts);
  try {
    for (let i = 0; i < n; i++) launch();
  } catch (e) {
    await rt.stopProfile().catch(() => undefined);
    throw e;
  }
  const { kernels } = await rt.stopProfile();
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  return kernels.map((k) => ({ kernel: k.kernel, dispatches: k.dispatches / n, ms: k.ms / n, share: total > 0 ? k.ms / total : 0 }));
}

/** The timer for rt, or null without 'timestamp-query' (or when turned off). */
export function gpuTimerFor(rt: Runtime): GpuTimer | null {
  if (wallOnly.has(rt)) return null;
  if (!timers.has(rt)) timers.set(rt, GpuTimer.create(rt.device));
  return timers.get(rt) ?? null;
}

/** What the run's timing will be on rt: for the report header. */
export function timingSourceOf(rt: Runtime): TimingSource {
  return gpuTimerFor(rt) ? 'gpu-timestamp' : 'wall';
}

interface Sample {
  wall: number;
  gpu: number | null;
}

/** One sample: `n` launches recorded, submitted as one batch (bracketed by timestamps), waited for. */
async function sample(rt: Runtime, launch: () => void, n: number, timer: GpuTimer | null): Promise<Sample> {
  await rt.sync();
  const submits = rt.counters.submits;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) launch();
  const bracket = timer !== null && rt.counters.submits === submits;
  if (bracket) timer.bracket(() => rt.flush());
  await rt.sync();
  const wall = (performance.now() - t0) / n;
  const gpu = bracket ? await timer.read() : null;
  return { wall, gpu: gpu === null ? null : gpu / n };
}

export async function measure(rt: Runtime, launch: () => void, opts: MeasureOpts = {}): Promise<Measured> {
  const repeat = opts.repeat ?? 7;
  const warmup = opts.warmup ?? 1;
  const timer = gpuTimerFor(rt);

  // 1. first call
  await rt.sync();
  const c0 = rt.counters;
  rt.pool.resetPeak();
  const t0 = performance.now();
  launch();
  await rt.sync();
  const first_ms = performance.now() - t0;
  const c1 = rt.counters;
  const dispatches = Math.max(1, c1.dispatches - c0.dispatches);

  // 2. launches per sample
  let inner = opts.inner ?? 0;
  if (!inner) {
    const trial = await sample(rt, launch, 1, timer);
    const target = opts.targetMs ?? 20;
    inner = Math.ceil(target / Math.max(trial.gpu ?? trial.wall, 1e-3));
    inner = Math.max(1, Math.min(inner, opts.maxInner ?? 256, Math.floor(BATCH_DISPATCHES / dispatches)));
  }

  // 3. warm-up, then the timed samples
  for (let i = 0; i < warmup; i++) await sample(rt, launch, inner, timer);
  const cpu0 = workerCpuMs();
  const samples: Sample[] = [];
  for (let i = 0; i < repeat; i++) samples.push(await sample(rt, launch, inner, timer));
  const cpu1 = workerCpuMs();
  const c2 = rt.counters;
  const prof = profiled.get(rt);
  const profile = prof ? await profileLaunches(rt, launch, inner, prof) : undefined;

  // 4. timing source: timestamps only when every timed sample has them
  const gpu = samples.every((s) => s.gpu !== null);
  const t = summarize(samples.map((s) => (gpu ? s.gpu! : s.wall)));
  const wall = summarize(samples.map((s) => s.wall));
  return {
    ...t,
    spread: t.ms_median > 0 ? (t.ms_max - t.ms_min) / t.ms_median : 0,
    timing: gpu ? 'gpu-timestamp' : 'wall',
    wall_ms_median: wall.ms_median,
    inner,
    first_ms,
    pipelines_created: c1.pipelinesCreated - c0.pipelinesCreated,
    buffers_created: c1.buffersCreated - c0.buffersCreated,
    buffers_created_steady: c2.buffersCreated - c1.buffersCreated,
    peak_bytes: c1.peakBytesLive,
    extra_bytes: c1.peakBytesLive - c0.bytesLive,
    cpu_ms: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / (repeat * inner),
    ...(profile ? { profile } : {}),
  };
}

export interface PairedRatio {
  /** Median over rounds of (b's time / a's time): > 1 means a is faster. */
  median: number;
  min: number;
  max: number;
  rounds: number;
  /** Each contestant's median per-launch time over the same rounds (ms). */
  a_ms_median: number;
  b_ms_median: number;
  timing: TimingSource;
}

/**
 * The speed ratio of two launches measured side by side: `rounds` rounds, each one sample of a
 * and one of b, back to back, in the order a b, b a, a b, ... (so a slow drift of the box's
 * load favours neither). The ratio is taken per round and its median reported. On a shared
 * 2-core box a busy second slows whichever row it lands in; rows measured minutes apart then
 * give ratios that swing ±30%, while the two halves of one round see nearly the same load.
 * Both launches must already have run once (pipelines compiled, pools warm).
 */
export async function measurePaired(rt: Runtime, a: () => void, b: () => void, opts: { rounds?: number; targetMs?: number; maxInner?: number } = {}): Promise<PairedRatio> {
  const rounds = opts.rounds ?? 7;
  const timer = gpuTimerFor(rt);
  const innerOf = async (launch: () => void) => {
    const d0 = rt.counters.dispatches;
    const trial = await sample(rt, launch, 1, timer);
    const dispatches = Math.max(1, rt.counters.dispatches - d0);
    const n = Math.ceil((opts.targetMs ?? 20) / Math.max(trial.gpu ?? trial.wall, 1e-3));
    return Math.max(1, Math.min(n, opts.maxInner ?? 256, Math.floor(BATCH_DISPATCHES / dispatches)));
  };
  const ia = await innerOf(a);
  const ib = await innerOf(b);
  const ta: Sample[] = [];
  const tb: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      ta.push(await sample(rt, a, ia, timer));
      tb.push(await sample(rt, b, ib, timer));
    } else {
      tb.push(await sample(rt, b, ib, timer));
      ta.push(await sample(rt, a, ia, timer));
    }
  }
  const gpu = [...ta, ...tb].every((s) => s.gpu !== null);
  const ms = (s: Sample) => (gpu ? s.gpu! : s.wall);
  const ratios = ta.map((s, i) => ms(tb[i]) / ms(s));
  const r = summarize(ratios);
  return {
    median: r.ms_median, min: r.ms_min, max: r.ms_max, rounds,
    a_ms_median: summarize(ta.map(ms)).ms_median, b_ms_median: summarize(tb.map(ms)).ms_median,
    timing: gpu ? 'gpu-timestamp' : 'wall',
  };
}
