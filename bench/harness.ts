// Benchmark harness shared by every bench/X.ts: timing, the report schema, and peers.
//
// Timing: wall clock around queue.onSubmittedWorkDone(). Each sample records `inner` launches
// into one batch, submits, and waits; ms per launch = sample / inner. Warm-up samples first
// (they also compile pipelines); we report the median, min and max of `repeat` samples.
//
// Report schema (stable; later benches add fields and peers, never rename):
//   { "adapter": {...}, "commit": "...", "date": "...",
//     "rows": [{ "kernel", "shape", "ms_median", "ms_min", "ms_max", "gflops" | "gbps",
//                "peers": { "tfjs-webgpu": { "ms_median", "gflops" | "gbps" } },
//                "ratio_vs_tfjs-webgpu": peer ms / our ms  (> 1: we are faster) , ...extra }] }
import { readFileSync, readdirSync } from 'node:fs';
import type { Runtime } from '../src/kernels/runtime.js';
import type { AdapterSummary } from '../src/kernels/adapter-info.js';

export interface Timing {
  ms_median: number;
  ms_min: number;
  ms_max: number;
}

export interface PeerResult {
  ms_median: number;
  gflops?: number;
  gbps?: number;
  [extra: string]: unknown;
}

export interface BenchRow extends Timing {
  kernel: string;
  shape: string;
  gflops?: number;
  gbps?: number;
  peers: Record<string, PeerResult>;
  [extra: string]: unknown;
}

export interface BenchReport {
  adapter: AdapterSummary;
  commit: string;
  date: string;
  rows: BenchRow[];
}

export interface TimeOpts {
  warmup?: number;
  repeat?: number;
  /** Launches per sample (amortises submit + wait overhead for tiny kernels). */
  inner?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

export function summarize(samples: number[]): Timing {
  return { ms_median: median(samples), ms_min: Math.min(...samples), ms_max: Math.max(...samples) };
}

/** Time `launch` (which records GPU work on rt) per call. */
export async function timeRuntime(rt: Runtime, launch: () => void, opts: TimeOpts = {}): Promise<Timing> {
  const { warmup = 2, repeat = 7, inner = 1 } = opts;
  const samples: number[] = [];
  for (let r = 0; r < warmup + repeat; r++) {
    await rt.sync();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) launch();
    await rt.sync();
    const dt = (performance.now() - t0) / inner;
    if (r >= warmup) samples.push(dt);
  }
  return summarize(samples);
}

/** Time an async callback that itself waits for its GPU work (used for peers). */
export async function timeAsync(run: () => Promise<void>, opts: TimeOpts = {}): Promise<Timing> {
  const { warmup = 2, repeat = 7, inner = 1 } = opts;
  const samples: number[] = [];
  for (let r = 0; r < warmup + repeat; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) await run();
    const dt = (performance.now() - t0) / inner;
    if (r >= warmup) samples.push(dt);
  }
  return summarize(samples);
}

export function gflops(flop: number, ms: number): number {
  return flop / (ms * 1e6);
}

export function gbps(bytes: number, ms: number): number {
  return bytes / (ms * 1e6);
}

/** Progress goes to stderr so that `--json` leaves stdout with exactly one JSON object. */
export function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

export function printTable(rows: BenchRow[]): string {
  const peerNames = [...new Set(rows.flatMap((r) => Object.keys(r.peers)))];
  const head = ['kernel', 'shape', 'ms (median)', 'min', 'max', 'GFLOPS|GB/s', ...peerNames.flatMap((p) => [`${p} ms`, `vs ${p}`])];
  const body = rows.map((r) => [
    r.kernel,
    r.shape,
    r.ms_median.toFixed(3),
    r.ms_min.toFixed(3),
    r.ms_max.toFixed(3),
    r.gflops !== undefined ? `${r.gflops.toFixed(2)} GF` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '-',
    ...peerNames.flatMap((p) => {
      const pr = r.peers[p];
      return pr ? [pr.ms_median.toFixed(3), `${(pr.ms_median / r.ms_median).toFixed(2)}x`] : ['-', '-'];
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
}

/** Attach ratio_vs_<peer> = peer ms / our ms to each row (> 1 means we are faster). */
export function addRatios(rows: BenchRow[]): void {
  for (const r of rows) {
    for (const [name, p] of Object.entries(r.peers)) r[`ratio_vs_${name}`] = p.ms_median / r.ms_median;
  }
}

/**
 * CPU time (ms) used so far by this process's threads other than the main one. On a software
 * adapter those are the driver's workers, so the difference across a timed loop is a kernel's
 * CPU cost, which other processes competing for the cores inflate far less than wall time
 * (and which leaves out Dawn's busy-polling of the main thread). Linux only; null elsewhere.
 */
export function workerCpuMs(): number | null {
  try {
    let ns = 0;
    for (const t of readdirSync('/proc/self/task')) {
      if (Number(t) === process.pid) continue;
      ns += Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    }
    return ns / 1e6;
  } catch {
    return null;
  }
}
