// `medivlad bench compare A.json B.json`: two saved reports side by side, row by row.
//
// Rows are matched by name, "<kernel> <shape>" (a name repeated within one file gets " #2",
// " #3" in order). Per matched row: A's and B's median ms, and the ratio A / B (> 1: B is
// faster, the "speed-up" of B over A), with GFLOPS or GB/s where the rows have them. Times are
// compared on one clock: the median when both rows were timed alike (GPU timestamps or wall),
// else both wall-clock medians (the row says which). Rows only in A or only in B are listed
// after the table; the summary gives the geometric mean of the ratios. Different adapters or
// host loads are printed in the header: such ratios compare machines, not code.
import { readFileSync } from 'node:fs';
import type { BenchReport, BenchRow } from './harness.js';

export interface CompareRow {
  name: string;
  a_ms: number;
  b_ms: number;
  /** a_ms / b_ms: > 1 means B is faster. */
  ratio: number;
  clock: 'gpu-timestamp' | 'wall';
  a_gflops?: number;
  b_gflops?: number;
  a_gbps?: number;
  b_gbps?: number;
}

export interface Comparison {
  a: { file: string; adapter: string; commit: string; date: string; load?: number };
  b: { file: string; adapter: string; commit: string; date: string; load?: number };
  sameAdapter: boolean;
  rows: CompareRow[];
  onlyA: string[];
  onlyB: string[];
  /** Geometric mean of the ratios (null without matched rows). */
  geomean: number | null;
}

/** Read a saved bench report; errors name the file and what is wrong with it. */
export function loadReport(path: string): BenchReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(`bench compare: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`bench compare: ${path} is not JSON (${(e as Error).message})`);
  }
  const r = doc as Partial<BenchReport>;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(r.rows) || typeof r.adapter !== 'object' || r.adapter === null) {
    throw new Error(`bench compare: ${path} is not a bench report (needs "adapter" and a "rows" array; write one with medivlad bench <suite> --save or --json)`);
  }
  r.rows.forEach((row, i) => {
    const x = row as Partial<BenchRow>;
    if (typeof x.kernel !== 'string' || typeof x.shape !== 'string' || typeof x.ms_median !== 'number' || !Number.isFinite(x.ms_median)) {
      throw new Error(`bench compare: ${path} row ${i} has no kernel, shape or finite ms_median`);
    }
  });
  return r as BenchReport;
}

/** Rows by name, duplicates numbered in order. */
function byName(rows: BenchRow[]): Map<string, BenchRow> {
  const out = new Map<string, BenchRow>();
  const seen = new Map<string, number>();
  for (const r of rows) {
    const base = `${r.kernel} ${r.shape}`;
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    out.set(k === 1 ? base : `${base} #${k}`, r);
  }
  return out;
}

function describe(file: string, rep: BenchReport): Comparison['a'] {
  const ad = rep.adapter;
  return {
    file,
    adapter: ad.description || ad.device || ad.family || 'unknown adapter',
    commit: rep.commit ?? 'unknown',
    date: rep.date ?? '',
    load: rep.host ? rep.host.loadavg_before : undefined,
  };
}

export function compareReports(a: BenchReport, b: BenchReport, files: [string, string] = ['A', 'B']): Comparison {
  const ra = byName(a.rows);
  const rb = byName(b.rows);
  const rows: CompareRow[] = [];
  for (const [name, x] of ra) {
    const y = rb.get(name);
    if (!y) continue;
    const same = (x.timing ?? 'wall') === (y.timing ?? 'wall');
    const a_ms = same ? x.ms_median : (x.wall_ms_median ?? x.ms_median);
    const b_ms = same ? y.ms_median : (y.wall_ms_median ?? y.ms_median);
    rows.push({
      name, a_ms, b_ms, ratio: a_ms / b_ms,
      clock: same && x.timing === 'gpu-timestamp' ? 'gpu-timestamp' : 'wall',
      ...(x.gflops !== undefined ? { a_gflops: x.gflops } : {}),
      ...(y.gflops !== undefined ? { b_gflops: y.gflops } : {}),
      ...(x.gbps !== undefined ? { a_gbps: x.gbps } : {}),
      ...(y.gbps !== undefined ? { b_gbps: y.gbps } : {}),
    });
  }
  const finite = rows.map((r) => r.ratio).filter((v) => Number.isFinite(v) && v > 0);
  const geomean = finite.length ? Math.exp(finite.reduce((s, v) => s + Math.log(v), 0) / finite.length) : null;
  const da = describe(files[0], a);
  const db = describe(files[1], b);
  return {
    a: da, b: db, sameAdapter: da.adapter === db.adapter, rows,
    onlyA: [...ra.keys()].filter((k) => !rb.has(k)),
    onlyB: [...rb.keys()].filter((k) => !ra.has(k)),
    geomean,
  };
}

const ms = (v: number) => (v >= 100 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const rate = (g?: number, b?: number) => (g !== undefined ? `${g.toFixed(2)} GF` : b !== undefined ? `${b.toFixed(2)} GB/s` : '-');

/** The comparison as Markdown: header, table, unmatched rows, summary. */
export function compareMarkdown(c: Comparison): string {
  const side = (tag: string, s: Comparison['a']) =>
    `${tag}: ${s.file} (${s.adapter}; commit ${s.commit}; ${s.date}${s.load !== undefined ? `; load ${s.load.toFixed(1)}` : ''})`;
  const lines = [side('A', c.a), side('B', c.b)];
  if (!c.sameAdapter) lines.push('warning: different adapters: the ratios compare machines, not code');
  lines.push('');
  const head = ['row', 'A ms', 'B ms', 'A / B', 'A rate', 'B rate', 'clock'];
  const body = c.rows.map((r) => [
    r.name, ms(r.a_ms), ms(r.b_ms), `${r.ratio.toFixed(2)}x`, rate(r.a_gflops, r.a_gbps), rate(r.b_gflops, r.b_gbps), r.clock === 'gpu-timestamp' ? 'gpu' : 'wall',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells: string[]) => `| ${cells.map((x, i) => x.padEnd(widths[i])).join(' | ')} |`;
  lines.push(fmt(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(fmt), '');
  lines.push(`matched ${c.rows.length} rows; A / B > 1: B is faster${c.geomean !== null ? `; geometric mean ${c.geomean.toFixed(2)}x` : ''}`);
  if (c.onlyA.length) lines.push('', `only in A (${c.onlyA.length}):`, ...c.onlyA.map((n) => `- ${n}`));
  if (c.onlyB.length) lines.push('', `only in B (${c.onlyB.length}):`, ...c.onlyB.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
