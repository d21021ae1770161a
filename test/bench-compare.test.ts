// `medivlad bench compare A.json B.json` (bench/compare.ts): rows matched by name, the ratio
// A / B on one clock, duplicates numbered, rows only in one file listed, and clear errors for
// files that are not bench reports. No GPU needed.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareReports, compareMarkdown, loadReport } from '../bench/compare.js';
import type { BenchReport, BenchRow } from '../bench/harness.js';

const adapter = { vendor: 'mesa', architecture: 'software', device: '', description: 'llvmpipe test', isSoftware: true, family: 'lavapipe', driver: 'system', features: [], limits: {} } as BenchReport['adapter'];

function row(kernel: string, shape: string, ms: number, extra: Partial<BenchRow> = {}): BenchRow {
  return { kernel, shape, ms_median: ms, ms_min: ms, ms_max: ms, peers: {}, timing: 'gpu-timestamp', wall_ms_median: ms, ...extra };
}

function report(commit: string, rows: BenchRow[], desc = adapter.description): BenchReport {
  return { adapter: { ...adapter, description: desc }, commit, date: '2026-11-26T00:00:00Z', rows, host: { cpus: 2, loadavg_before: 1.5, loadavg_after: 1.7 } };
}

const A = report('aaaa111', [
  row('matmul_v5', '785x384 qkv', 40, { gflops: 17.4 }),
  row('softmax v1', '(64,65536)', 10, { gbps: 5 }),
  row('dup', 'x', 3),
  row('dup', 'x', 6),
  // timed with timestamps in A, wall clock in B: compared on the wall clock (10 vs 5)
  row('gelu forward', '(785,1536)', 8, { wall_ms_median: 10, gbps: 1.2 }),
  row('old kernel', 'gone', 1),
]);
const B = report('bbbb222', [
  row('softmax v1', '(64,65536)', 12.5, { gbps: 4 }),
  row('matmul_v5', '785x384 qkv', 20, { gflops: 34.8 }),
  row('dup', 'x', 1.5),
  row('dup', 'x', 12),
  row('gelu forward', '(785,1536)', 5, { timing: 'wall', wall_ms_median: 5, gbps: 2.4 }),
  row('new kernel', 'fresh', 2),
]);

describe('bench compare', () => {
  it('matches rows by name and gives A / B on one clock', () => {
    const c = compareReports(A, B, ['a.json', 'b.json']);
    const got = Object.fromEntries(c.rows.map((r) => [r.name, [r.a_ms, r.b_ms, r.ratio, r.clock]]));
    expect(got).toEqual({
      'matmul_v5 785x384 qkv': [40, 20, 2, 'gpu-timestamp'],
      'softmax v1 (64,65536)': [10, 12.5, 0.8, 'gpu-timestamp'],
      'dup x': [3, 1.5, 2, 'gpu-timestamp'],
      'dup x #2': [6, 12, 0.5, 'gpu-timestamp'],
      'gelu forward (785,1536)': [10, 5, 2, 'wall'],
    });
    // rows in A's order
    expect(c.rows.map((r) => r.name)[0]).toBe('matmul_v5 785x384 qkv');
    expect(c.onlyA).toEqual(['old kernel gone']);
    expect(c.onlyB).toEqual(['new kernel fresh']);
    expect(c.sameAdapter).toBe(true);
    // geometric mean of 2, 0.8, 2, 0.5, 2
    expect(c.geomean).toBeCloseTo(Math.exp((3 * Math.log(2) + Math.log(0.8) + Math.log(0.5)) / 5), 12);
  });

  it('prints the table, the unmatched rows and the summary', () => {
    const md = compareMarkdown(compareReports(A, B, ['a.json', 'b.json']));
    const lines = md.split('\n');
    expect(lines[0]).toBe('A: a.json (llvmpipe test; commit aaaa111; 2026-11-26T00:00:00Z; load 1.5)');
    expect(lines[1]).toBe('B: b.json (llvmpipe test; commit bbbb222; 2026-11-26T00:00:00Z; load 1.5)');
    const cells = (name: string) => lines.find((l) => l.startsWith(`| ${name} `))!.split('|').slice(1, -1).map((s) => s.trim());
    expect(cells('matmul_v5 785x384 qkv')).toEqual(['matmul_v5 785x384 qkv', '40.00', '20.00', '2.00x', '17.40 GF', '34.80 GF', 'gpu']);
    expect(cells('softmax v1 (64,65536)')).toEqual(['softmax v1 (64,65536)', '10.00', '12.50', '0.80x', '5.00 GB/s', '4.00 GB/s', 'gpu']);
    expect(cells('dup x #2')).toEqual(['dup x #2', '6.00', '12.00', '0.50x', '-', '-', 'gpu']);
    expect(cells('gelu forward (785,1536)')).toEqual(['gelu forward (785,1536)', '10.00', '5.00', '2.00x', '1.20 GB/s', '2.40 GB/s', 'wall']);
    expect(md).toContain('matched 5 rows; A / B > 1: B is faster; geometric mean 1.26x');
    expect(md).toContain('only in A (1):\n- old kernel gone');
    expect(md).toContain('only in B (1):\n- new kernel fresh');
    expect(md).not.toContain('different adapters');
  });

  it('warns when the adapters differ', () => {
    const md = compareMarkdown(compareReports(A, report('c', B.rows, 'NVIDIA H200'), ['a.json', 'h200.json']));
    expect(md).toContain('warning: different adapters');
  });

  it('reads saved reports and names the file in every error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-compare-'));
    const ok = join(dir, 'a.json');
    writeFileSync(ok, JSON.stringify(A));
    expect(loadReport(ok).rows.length).toBe(A.rows.length);
    const missing = join(dir, 'missing.json');
    expect(() => loadReport(missing)).toThrow(`cannot read ${missing}: no such file`);
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{"rows": [');
    expect(() => loadReport(notJson)).toThrow(new RegExp(`${notJson} is not JSON`));
    const notReport = join(dir, 'other.json');
    writeFileSync(notReport, JSON.stringify({ hello: 1 }));
    expect(() => loadReport(notReport)).toThrow(`${notReport} is not a bench report`);
    const badRow = join(dir, 'row.json');
    writeFileSync(badRow, JSON.stringify({ adapter, rows: [{ kernel: 'k', shape: 's', ms_median: 'fast' }] }));
    expect(() => loadReport(badRow)).toThrow(`${badRow} row 0 has no kernel, shape or finite ms_median`);
  });
});
