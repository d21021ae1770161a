// `medivlad bench` as a user runs it (the esbuild bundle): a group with a filter emits exactly one
// JSON object whose rows carry the per-row fields of bench/measure.ts and a fraction of the
// peak measured in the same run; `bench compare` prints the before/after table; bad names fail
// in one line before any GPU work.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');
const cacheDir = mkdtempSync(join(tmpdir(), 'medivlad-bench-cache-'));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root, encoding: 'utf8', timeout: 300_000, env: { ...process.env, MEDIVLAD_CACHE_DIR: cacheDir },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
});

const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

describe('medivlad bench', () => {
  it('bench kernels --filter X --repeat 1 --json: one JSON object with the per-row fields', () => {
    const r = run(['bench', 'kernels', '--filter', 'vlad_assign_forward wg16', '--repeat', '1', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split('\n').length).toBe(1);
    const rep = JSON.parse(r.out);
    expect(rep.suites).toEqual(['matmul', 'softmax', 'layernorm', 'gelu', 'elementwise', 'attention', 'dino-loss', 'ema', 'adamw', 'vlad', 'lstm', 'augment']);
    expect(rep.peers).toBe(false);
    expect(['gpu-timestamp', 'wall']).toContain(rep.timing);
    expect(rep.peak.gflops).toBeGreaterThan(0);
    expect(rep.peak.gbps).toBeGreaterThan(0);
    expect(rep.rows.length).toBe(1);
    const row = rep.rows[0];
    expect(row.suite).toBe('vlad');
    expect(row.kernel).toBe('vlad_assign_forward wg16');
    for (const k of ['ms_median', 'ms_min', 'ms_max', 'spread', 'wall_ms_median', 'gbps', 'frac_of_peak', 'first_ms', 'peak_bytes', 'extra_bytes']) {
      expect(isNum(row[k]), `${k} = ${row[k]}`).toBe(true);
    }
    expect(row.ms_min).toBeLessThanOrEqual(row.ms_median);
    expect(row.ms_median).toBeLessThanOrEqual(row.ms_max);
    expect(row.spread).toBeGreaterThanOrEqual(0);
    expect(row.frac_of_peak).toBeCloseTo(row.gbps / rep.peak.gbps, 12);
    expect(row.first_ms).toBeGreaterThan(0);
    expect(row.peak_bytes).toBeGreaterThan(0);
    expect(Number.isInteger(row.buffers_created) && row.buffers_created >= 0).toBe(true);
    expect(row.buffers_created_steady).toBe(0); // the pool serves every later launch
    expect(Number.isInteger(row.pipelines_created)).toBe(true);
    expect(Number.isInteger(row.inner) && row.inner >= 1).toBe(true);
    expect(['gpu-timestamp', 'wall']).toContain(row.timing);
    // without --peers only our own baseline (the unfused composition) is there
    expect(Object.keys(row.peers)).toEqual(['unfused']);
    expect(row['ratio_vs_unfused']).toBeGreaterThan(0);
    expect(readdirSync(cacheDir)).toEqual([]); // nothing tuned, nothing written
  });

  it('bench attention: the planned fused row carries the paired ratio against the unfused composition', () => {
    const r = run(['bench', 'attention', '--filter', 'attention fwd v\\d B·H 6 N 65 ', '--repeat', '3', '--json']);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.rows.length).toBe(1);
    const row = rep.rows[0];
    expect(row.picked).toBe(true);
    const pr = row.paired_vs_unfused;
    expect(pr.rounds).toBe(3);
    for (const k of ['median', 'min', 'max', 'a_ms_median', 'b_ms_median']) expect(isNum(pr[k]) && pr[k] > 0, `${k} = ${pr[k]}`).toBe(true);
    expect(pr.min).toBeLessThanOrEqual(pr.median);
    expect(pr.median).toBeLessThanOrEqual(pr.max);
    expect(pr.timing).toBe(row.timing);
    // On a software adapter under Linux initNode lowers the JS thread's priority, and says so.
    if (rep.adapter.isSoftware && process.platform === 'linux') expect(rep.host.main_thread_nice).toBe(19);
  });

  it('bench --profile: GPU time per kernel of each row; the unfused baseline is six matmuls and two softmaxes, no copies', () => {
    const r = run(['bench', 'attention', '--filter', 'unfused fwd\\+bwd.*B·H 6 N 65 ', '--repeat', '1', '--profile', '--json']);
    expect(r.code, r.err).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.rows.length).toBe(1);
    const prof = rep.rows[0].profile as { kernel: string; dispatches: number; ms: number; share: number }[];
    const count = (re: RegExp) => prof.filter((k) => re.test(k.kernel)).reduce((n, k) => n + k.dispatches, 0);
    expect(count(/^matmul\//)).toBe(6);
    expect(count(/^softmax\/softmax_forward/)).toBe(1);
    expect(count(/^softmax\/softmax_backward/)).toBe(1);
    expect(count(/./)).toBe(8); // (B, H, N, Dh) -> (B·H, N, Dh) is a view: nothing is copied
    expect(prof.reduce((s, k) => s + k.share, 0)).toBeCloseTo(1, 9);
    for (const k of prof) expect(k.ms).toBeGreaterThanOrEqual(0);
    const t = run(['bench', 'attention', '--filter', 'attention fwd v\\d B·H 6 N 65 ', '--repeat', '1', '--profile-shapes']);
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^profile: attention fwd v\d B·H 6 N 65 Dh 64 \(GPU time per launch/m);
    expect(t.out).toMatch(/^\| attention\/attention_forward_v\d \[attention forward B 1 H 6 N 65 Dh 64[^|]*\| 1 +\|/m);
    expect(t.out).toMatch(/^\| sum of kernels +\| 1 +\|/m);
  });

  it('bench compare A.json B.json prints the table; --json the comparison', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-bench-cmp-'));
    const adapter = { description: 'test adapter', family: 'lavapipe' };
    const mk = (ms: number) => ({ adapter, commit: 'c', date: 'd', rows: [{ kernel: 'k', shape: 's', ms_median: ms, ms_min: ms, ms_max: ms, peers: {} }] });
    writeFileSync(join(dir, 'a.json'), JSON.stringify(mk(9)));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(mk(3)));
    const r = run(['bench', 'compare', join(dir, 'a.json'), join(dir, 'b.json')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\| k s\s+\| 9\.00 \| 3\.00 \| 3\.00x \| - +\| - +\| wall\s+\|$/m);
    const j = run(['bench', 'compare', join(dir, 'a.json'), join(dir, 'b.json'), '--json']);
    expect(JSON.parse(j.out).rows[0].ratio).toBe(3);
    const one = run(['bench', 'compare', join(dir, 'a.json')]);
    expect(one.code).toBe(2);
    expect(one.err).toMatch(/^medivlad: error: bench compare: needs two report files/m);
  });

  it('an unknown suite fails in one line naming the suites and groups', () => {
    const r = run(['bench', 'nosuch']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^medivlad: error: bench: unknown suite 'nosuch' \(suites: .*matmul.*; groups: kernels, all; or compare A\.json B\.json\)$/m);
  });
});
