// The bench dispatcher behind `medivlad bench <suite>`: runs one suite (or all), wraps the rows
// in the report schema of bench/harness.ts, and writes bench/results/<adapter-key>-<suite>.json
// plus a Markdown table when asked.
//
// Suites are registered here: matmul, softmax, layernorm, attention, dino-loss, ema, vlad, augment,
// model (DINO step, ViT-S/8 forward) and data (decode + preprocess speed of the loaders, CPU only; its rows are mapped to the schema).
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import type { Runtime } from '../src/kernels/runtime.js';
import { adapterKey } from '../src/kernels/adapter-info.js';
import { printTable, progress, type BenchReport, type BenchRow } from './harness.js';
import { benchMatmul } from './matmul.js';
import { benchSoftmax } from './softmax.js';
import { benchLayernorm } from './layernorm.js';
import { benchAttention } from './attention.js';
import { benchDinoLoss } from './dino-loss.js';
import { benchEma } from './ema.js';
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
      ms_per_unit: r.ms_per_unit,
      unit: r.unit,
      peers: {},
    }))
    .filter((r) => !opts.filter || opts.filter.test(`${r.kernel} ${r.shape}`));
}

export interface SuiteOpts {
  repeat?: number;
  filter?: RegExp;
  /** matmul only: autotune each shape before timing. */
  tune?: boolean;
}

type Suite = (rt: Runtime, opts: SuiteOpts) => Promise<BenchRow[]>;

export const SUITES: Record<string, Suite> = {
  matmul: benchMatmul,
  softmax: benchSoftmax,
  layernorm: benchLayernorm,
  attention: benchAttention,
  'dino-loss': benchDinoLoss,
  ema: benchEma,
  vlad: benchVlad,
  augment: benchAugment,
  model: benchModel,
  data: benchDataRows,
};

export function suiteNames(): string[] {
  return Object.keys(SUITES);
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

/** Run `suite` ('all' runs every registered suite, one after another) on rt. */
export async function runBench(rt: Runtime, suite: string, opts: SuiteOpts = {}): Promise<BenchReport> {
  const names = suite === 'all' ? suiteNames() : [suite];
  for (const n of names) {
    if (!SUITES[n]) throw new Error(`bench: unknown suite '${n}' (have: ${suiteNames().join(', ')}, all)`);
  }
  const rows: BenchRow[] = [];
  const loadBefore = loadavg()[0];
  for (const n of names) {
    progress(`== bench ${n} on ${rt.adapter.description || rt.adapter.family} (${rt.adapter.driver})`);
    const got = await SUITES[n](rt, opts);
    rows.push(...got.map((r) => ({ ...r, suite: n })));
  }
  // The host's 1-minute load average before and after: on a shared CPU box, wall times are only
  // comparable between runs with similar load (ratios within one run always are).
  const host = { cpus: cpus().length, loadavg_before: loadBefore, loadavg_after: loadavg()[0] };
  return { adapter: rt.adapter, commit: currentCommit(), date: new Date().toISOString(), host, rows } as BenchReport;
}

/** Markdown: the adapter, the command context, and the table. */
export function reportMarkdown(report: BenchReport, suite: string, note = ''): string {
  const a = report.adapter;
  const host = (report as BenchReport & { host?: { cpus: number; loadavg_before: number; loadavg_after: number } }).host;
  return [
    `# bench ${suite}: ${a.description || a.device || a.family}`,
    '',
    `adapter: ${a.family} (${a.driver}), ${a.vendor} ${a.architecture}; commit ${report.commit}; ${report.date}${note ? `; ${note}` : ''}`,
    ...(host ? ['', `host: ${host.cpus} CPUs, load average ${host.loadavg_before.toFixed(1)} before, ${host.loadavg_after.toFixed(1)} after`] : []),
    '',
    printTable(report.rows),
    '',
  ].join('\n');
}

/** Write <dir>/<adapter-key><tag>-<suite>.json and .md; returns the JSON path. */
export function saveReport(report: BenchReport, suite: string, dir = 'bench/results', tag = ''): string {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${adapterKey(report.adapter)}${tag}-${suite}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, reportMarkdown(report, suite, tag ? tag.replace(/^-/, '') : ''));
  return `${base}.json`;
}
