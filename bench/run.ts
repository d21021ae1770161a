// The bench dispatcher behind `medivlad bench <suite|group>`: measures the adapter's peak once
// (bench/peak.ts), runs one suite or a group of them, wraps the rows in the report schema of
// bench/harness.ts (fraction of peak and peer ratios per row), and writes
// bench/results/<adapter-key>-<suite>.json plus a Markdown table per suite when asked.
//
// Suites are registered here: matmul, softmax, layernorm, gelu, elementwise, attention, dino-loss, ema,
// adamw, vlad, augment (the kernels), model (DINO step, ViT-S/8 forward and training step) and
// data (decode + preprocess speed of the loaders, CPU only; its rows are mapped to the schema).
// Groups: kernels (every kernel suite), all (kernels, model and data).
import { execSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import type { Runtime } from '../src/kernels/runtime.js';
import { adapterKey } from '../src/kernels/adapter-info.js';
import { writeFileAtomic } from '../src/node/files.js';
import { mainThreadNice } from '../src/node/index.js';
import { addPeakFractions, printProfiles, printTable, progress, type BenchReport, type BenchRow } from './harness.js';
import { measurePeak } from './peak.js';
import { timingSourceOf } from './measure.js';
import { benchMatmul } from './matmul.js';
import { benchSoftmax } from './softmax.js';
import { benchLayernorm } from './layernorm.js';
import { benchGelu } from './gelu.js';
import { benchElementwise } from './elementwise.js';
import { benchAttention } from './attention.js';
import { benchLstm } from './lstm.js';
import { benchDinoLoss } from './dino-loss.js';
import { benchEma } from './ema.js';
import { benchAdamw } from './adamw.js';
import { benchVlad } from './vlad.js';
import { benchData } from './data.js';
import { benchAugment } from './augment.js';
import { benchModel } from './model.js';

/** The data-loader benchmark in the common row schema (no GPU, no peer). */
async function benchDataRows(_rt: Runtime, opts: SuiteOpts): Promise<BenchRow[]> {
  const rows = await benchData({ repeat: opts.repeat, log: progress });
  return rows
    .map((r) => ({
      kernel: `data ${r.case}`,
      shape: `${r.size}px ${r.what}`,
      ms_median: r.ms_median,
      ms_min: r.ms_min,
      ms_max: r.ms_max,
      spread: r.ms_median > 0 ? (r.ms_max - r.ms_min) / r.ms_median : 0,
      timing: 'wall',
      wall_ms_median: r.ms_median,
      ms_per_unit: r.ms_per_unit,
      unit: r.unit,
      peers: {},
    }))
    .filter((r) => !opts.filter || opts.filter.test(`${r.kernel} ${r.shape}`));
}

export interface SuiteOpts {
  repeat?: number;
  filter?: RegExp;
  /** matmul and attention: autotune each shape before timing (the picked version is the tuned one). */
  tune?: boolean;
  /** Also time the peers: tfjs-webgpu (kernels) and PyTorch CPU (model). Off by default. */
  peers?: boolean;
}

export interface RunOpts extends SuiteOpts {
  /** Measure the adapter's peak first (default true; tests of other parts may skip it). */
  peak?: boolean;
}

type Suite = (rt: Runtime, opts: SuiteOpts) => Promise<BenchRow[]>;

export const SUITES: Record<string, Suite> = {
  matmul: benchMatmul,
  softmax: benchSoftmax,
  layernorm: benchLayernorm,
  gelu: benchGelu,
  elementwise: benchElementwise,
  attention: benchAttention,
  'dino-loss': benchDinoLoss,
  ema: benchEma,
  adamw: benchAdamw,
  vlad: benchVlad,
  lstm: benchLstm,
  augment: benchAugment,
  model: benchModel,
  data: benchDataRows,
  soak: (rt, o) => import('./soak.js').then((m) => m.benchSoak(rt, o)), // not in any group: `bench soak --steps N`
};

const KERNEL_SUITES = ['matmul', 'softmax', 'layernorm', 'gelu', 'elementwise', 'attention', 'dino-loss', 'ema', 'adamw', 'vlad', 'lstm', 'augment'];

/** Names that run several suites, one after another, in one report. */
export const GROUPS: Record<string, string[]> = {
  kernels: KERNEL_SUITES,
  all: [...KERNEL_SUITES, 'model', 'data'],
};

export function suiteNames(): string[] {
  return Object.keys(SUITES);
}

/** The suites a suite or group name stands for; an unknown name is an error listing both. */
export function resolveSuites(name: string): string[] {
  const names = GROUPS[name] ?? [name];
  for (const n of names) {
    if (!SUITES[n]) {
      throw new Error(`bench: unknown suite '${n}' (suites: ${suiteNames().join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}; or compare A.json B.json)`);
    }
  }
  return names;
}

/** `git describe`-like: short commit, "-dirty" when the tree has changes; "unknown" outside git. */
export function currentCommit(): string {
  try {
    const head = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Run a suite or group on rt: the peak first, then each suite; one report. */
export async function runBench(rt: Runtime, suite: string, opts: RunOpts = {}): Promise<BenchReport> {
  const names = resolveSuites(suite);
  const loadBefore = loadavg()[0];
  const timing = timingSourceOf(rt);
  let peak: BenchReport['peak'] = null;
  if (opts.peak !== false) {
    progress(`== peak of ${rt.adapter.description || rt.adapter.family} (FMA kernel, streaming copy)`);
    peak = await measurePeak(rt);
    progress(`peak: ${peak.gflops.toFixed(1)} GFLOPS, ${peak.gbps.toFixed(1)} GB/s (${peak.timing})`);
  }
  const rows: BenchRow[] = [];
  for (const n of names) {
    progress(`== bench ${n} on ${rt.adapter.description || rt.adapter.family} (${rt.adapter.driver})${opts.peers ? ', with peers' : ''}`);
    const got = await SUITES[n](rt, opts);
    rows.push(...got.map((r) => ({ ...r, suite: n })));
  }
  addPeakFractions(rows, peak);
  // The host's 1-minute load average before and after: on a shared CPU box, wall times are only
  // comparable between runs with similar load (ratios within one run always are).
  const host = { cpus: cpus().length, loadavg_before: loadBefore, loadavg_after: loadavg()[0], main_thread_nice: mainThreadNice };
  return { adapter: rt.adapter, commit: currentCommit(), date: new Date().toISOString(), host, timing, peak, peers: !!opts.peers, suites: names, rows };
}

const TIMING_TEXT: Record<string, string> = {
  'gpu-timestamp': "GPU timestamps ('timestamp-query') around each batch; rows marked w fell back to wall clock",
  wall: 'wall clock from recording to queue.onSubmittedWorkDone() (no timestamp-query)',
};

/** The report header: adapter, commit, host load, timing source, peak. */
export function reportHeader(report: BenchReport, note = ''): string[] {
  const a = report.adapter;
  const h = report.host;
  const p = report.peak;
  return [
    `adapter: ${a.family} (${a.driver}), ${a.vendor} ${a.architecture}; commit ${report.commit}; ${report.date}${note ? `; ${note}` : ''}`,
    ...(h ? [`host: ${h.cpus} CPUs, load average ${h.loadavg_before.toFixed(1)} before, ${h.loadavg_after.toFixed(1)} after${typeof h.main_thread_nice === 'number' ? `; JS thread at nice ${h.main_thread_nice} (src/node/index.ts)` : ''}`] : []),
    ...(report.timing ? [`timing: ${TIMING_TEXT[report.timing] ?? report.timing}`] : []),
    ...(p ? [`peak (measured this run): ${p.gflops.toFixed(1)} GFLOPS fp32 (FMA kernel), ${p.gbps.toFixed(1)} GB/s (streaming copy, read + write)`] : []),
    ...(report.peers !== undefined ? [`peers: ${report.peers ? 'measured in this run' : 'not run (add --peers)'}`] : []),
  ];
}

/** Markdown: the header, the table, and the per-kernel profiles of `--profile`. */
export function reportMarkdown(report: BenchReport, suite: string, note = ''): string {
  const a = report.adapter;
  const profiles = printProfiles(report.rows);
  return [
    `# bench ${suite}: ${a.description || a.device || a.family}`, '', ...reportHeader(report, note).flatMap((l) => [l, '']), printTable(report.rows), '',
    ...(profiles ? [profiles] : []),
  ].join('\n');
}

/**
 * Write <dir>/<adapter-key><tag>-<suite>.json and .md for each suite of the report (a group
 * writes one pair per suite, each with the run's header), atomically. Returns the JSON paths.
 */
export async function saveReport(report: BenchReport, dir = 'bench/results', tag = ''): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const suites = report.suites ?? [...new Set(report.rows.map((r) => String(r.suite)))];
  const paths: string[] = [];
  for (const suite of suites) {
    const part: BenchReport = { ...report, suites: [suite], rows: report.rows.filter((r) => r.suite === suite) };
    const base = join(dir, `${adapterKey(report.adapter)}${tag}-${suite}`);
    const enc = new TextEncoder();
    await writeFileAtomic(`${base}.json`, enc.encode(`${JSON.stringify(part, null, 2)}\n`));
    await writeFileAtomic(`${base}.md`, enc.encode(reportMarkdown(part, suite, tag ? tag.replace(/^-/, '') : '')));
    paths.push(`${base}.json`);
  }
  return paths;
}
