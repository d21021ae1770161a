// Benchmark harness shared by every bench/X.ts: the report schema, table printing, peers.
// How our kernels are timed is bench/measure.ts; the adapter's measured peak, bench/peak.ts.
//
// Report schema (stable; later benches add fields and peers, never rename):
//   { "adapter": {...}, "commit": "...", "date": "...", "host": {...},
//     "timing": "gpu-timestamp" | "wall", "peak": { "gflops", "gbps", ... }, "peers": bool,
//     "suites": [...],
//     "rows": [{ "suite", "kernel", "shape", "ms_median", "ms_min", "ms_max", "spread",
//                "timing", "wall_ms_median", "gflops" | "gbps", "frac_of_peak",
//                "first_ms", "pipelines_created", "buffers_created", "buffers_created_steady",
//                "peak_bytes", "extra_bytes", "inner", "cpu_ms",
//                "peers": { "tfjs-webgpu": { "ms_median", "gflops" | "gbps", "timing": "wall" } },
//                "ratio_vs_tfjs-webgpu": peer ms / our ms  (> 1: we are faster) ,
//                "paired_vs_unfused": { "median", "min", "max", "rounds", ... } (fused rows with an
//                unfused baseline timed side by side, bench/measure.ts measurePaired), ...extra }] }
import { readFileSync, readdirSync } from 'node:fs';
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
  /** How the peer was timed; absent means wall clock. */
  timing?: 'gpu-timestamp' | 'wall';
  [extra: string]: unknown;
}

export interface BenchRow extends Timing {
  kernel: string;
  shape: string;
  gflops?: number;
  gbps?: number;
  peers: Record<string, PeerResult>;
  /** 'gpu-timestamp' | 'wall' (bench/measure.ts); absent in reports older than the field. */
  timing?: string;
  /** Wall-clock median per launch (= ms_median when timing is 'wall'). */
  wall_ms_median?: number;
  [extra: string]: unknown;
}

export interface PeakResult {
  /** FMA-bound kernel: fp32 GFLOPS (a fused multiply-add counts 2). */
  gflops: number;
  /** Streaming copy: GB/s counting bytes read plus bytes written. */
  gbps: number;
  [extra: string]: unknown;
}

export interface HostInfo {
  cpus: number;
  loadavg_before: number;
  loadavg_after: number;
  /** Nice value initNode gave the JS thread on a software adapter (null or absent: left alone). */
  main_thread_nice?: number | null;
}

export interface BenchReport {
  adapter: AdapterSummary;
  commit: string;
  date: string;
  rows: BenchRow[];
  host?: HostInfo;
  /** How our rows were timed on this device (rows that had to fall back say so themselves). */
  timing?: string;
  peak?: PeakResult | null;
  /** Whether the peers (tfjs-webgpu, PyTorch CPU) ran. */
  peers?: boolean;
  suites?: string[];
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

const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3));
const fmtBytes = (b: unknown) => (typeof b === 'number' ? (b / 1e6).toFixed(1) : '-');

/**
 * peer ms / our ms (> 1: we are faster), both on the same clock: GPU timestamps when both rows
 * have them, else wall clock (tfjs and PyTorch are always wall-clocked).
 */
export function peerRatio(r: BenchRow, p: PeerResult): number {
  if ((p.timing ?? 'wall') === (r.timing ?? 'wall')) return p.ms_median / r.ms_median;
  const pw = typeof p.wall_ms_median === 'number' ? p.wall_ms_median : p.ms_median;
  return pw / (r.wall_ms_median ?? r.ms_median);
}

const isPaired = (x: unknown): x is { median: number; min: number; max: number } =>
  typeof x === 'object' && x !== null && typeof (x as { median?: unknown }).median === 'number';

/** Markdown table: timing, throughput and fraction of peak, first call, memory, then each peer. */
export function printTable(rows: BenchRow[]): string {
  const peerNames = [...new Set(rows.flatMap((r) => Object.keys(r.peers)))];
  const paired = rows.some((r) => isPaired(r.paired_vs_unfused));
  const head = [
    'kernel', 'shape', 'ms (median)', 'spread', 'GFLOPS, GB/s', '% peak', 'first ms', 'buffers', 'peak MB',
    ...peerNames.flatMap((p) => [`${p} ms`, `vs ${p}`]),
    ...(paired ? ['paired vs unfused (min-max)'] : []),
  ];
  const body = rows.map((r) => {
    const frac = typeof r.frac_of_peak === 'number' ? `${(100 * r.frac_of_peak).toFixed(1)}%` : '-';
    const tag = r.timing === 'gpu-timestamp' ? '' : r.timing === 'wall' ? ' w' : '';
    return [
      `${r.kernel}${r.picked === true ? ' *' : ''}`,
      r.shape,
      `${fmtMs(r.ms_median)}${tag}`,
      typeof r.spread === 'number' ? `${(100 * r.spread).toFixed(0)}%` : '-',
      r.gflops !== undefined ? `${r.gflops.toFixed(2)} GF` : r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '-',
      frac,
      typeof r.first_ms === 'number' ? fmtMs(r.first_ms) : '-',
      typeof r.buffers_created === 'number' ? `${r.buffers_created}${r.buffers_created_steady ? `+${r.buffers_created_steady}` : ''}` : '-',
      fmtBytes(r.peak_bytes),
      ...peerNames.flatMap((p) => {
        const pr = r.peers[p];
        return pr ? [fmtMs(pr.ms_median), `${peerRatio(r, pr).toFixed(2)}x`] : ['-', '-'];
      }),
      ...(paired ? [isPaired(r.paired_vs_unfused) ? `${r.paired_vs_unfused.median.toFixed(2)}x (${r.paired_vs_unfused.min.toFixed(2)}-${r.paired_vs_unfused.max.toFixed(2)})` : '-'] : []),
    ];
  });
  return markdownTable(head, body);
}

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
}

interface ProfileCell {
  kernel: string;
  dispatches: number;
  ms: number;
  share: number;
}

/**
 * The per-kernel profiles of the rows that have one (`bench --profile`), a table each: the `top`
 * slowest kernels, then the rest summed. Empty when no row was profiled.
 */
export function printProfiles(rows: BenchRow[], top = 12): string {
  const out: string[] = [];
  for (const r of rows) {
    const prof = r.profile as ProfileCell[] | undefined;
    if (!Array.isArray(prof) || prof.length === 0) continue;
    const total = prof.reduce((s, k) => s + k.ms, 0);
    const shown = prof.slice(0, top);
    const rest = prof.slice(top);
    const body = shown.map((k) => [k.kernel, fmtCount(k.dispatches), fmtMs(k.ms), `${(100 * k.share).toFixed(1)}%`]);
    if (rest.length) {
      const ms = rest.reduce((s, k) => s + k.ms, 0);
      body.push([`(${rest.length} more)`, fmtCount(rest.reduce((s, k) => s + k.dispatches, 0)), fmtMs(ms), `${(100 * (total > 0 ? ms / total : 0)).toFixed(1)}%`]);
    }
    body.push(['sum of kernels', fmtCount(prof.reduce((s, k) => s + k.dispatches, 0)), fmtMs(total), '100%']);
    out.push(`profile: ${r.kernel} ${r.shape} (GPU time per launch, dispatch by dispatch; the row's median: ${fmtMs(r.ms_median)} ms)`, '');
    out.push(markdownTable(['kernel', 'dispatches', 'ms', 'share'], body), '');
  }
  return out.join('\n');
}

const fmtCount = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/**
 * Attach ratio_vs_<peer> = peer ms / our ms to each row (> 1 means we are faster), on one clock
 * (peerRatio).
 */
export function addRatios(rows: BenchRow[]): void {
  for (const r of rows) {
    for (const [name, p] of Object.entries(r.peers)) r[`ratio_vs_${name}`] = peerRatio(r, p);
  }
}

/** frac_of_peak: GFLOPS over the peak GFLOPS, or GB/s over the peak GB/s (null without either). */
export function addPeakFractions(rows: BenchRow[], peak: PeakResult | null | undefined): void {
  for (const r of rows) {
    r.frac_of_peak =
      !peak ? null
      : r.gflops !== undefined ? r.gflops / peak.gflops
      : r.gbps !== undefined ? r.gbps / peak.gbps
      : null;
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
