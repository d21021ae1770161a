// The CLI as a user runs it (the esbuild bundle behind bin/medivlad.js): one-line errors with
// a non-zero exit and no stack trace, `info --json` as one parseable object.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
});

describe('medivlad CLI', () => {
  it('unknown commands and flags: one line, exit 2, no stack trace (unless --verbose)', () => {
    for (const args of [['frobnicate'], ['info', '--no-such-flag'], []]) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.err.split('\n').filter((l) => l.startsWith('medivlad:'));
      expect(lines.length, r.err).toBe(1);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
    const v = run(['frobnicate', '--verbose']);
    expect(v.code).toBe(2);
    expect(v.err).toMatch(/\n\s+at /);
  });

  it('MEDIVLAD_PROFILE=FILE writes the GPU time per kernel of the whole run (Markdown, or JSON)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-prof-'));
    // A bench run that keeps no rows still measures the adapter's peak: its two kernels (and
    // the fill of the copy's source) run.
    const args = ['bench', 'softmax', '--filter', 'no such row', '--repeat', '1'];
    const md = join(dir, 'run.md');
    const r = run(args, { MEDIVLAD_PROFILE: md });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain(`GPU profile of 3 kernels written to ${md}`);
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^command: `medivlad bench softmax --filter no such row --repeat 1`$/m);
    expect(text).toMatch(/^\| peak\/peak_fma \| [1-9]\d* \| [\d.]+ \| [\d.]+% \| [\d.]+ \|$/m);
    expect(text).toMatch(/^\| peak\/peak_copy \| [1-9]\d* \|/m);
    const js = join(dir, 'run.json');
    const j = run(args, { MEDIVLAD_PROFILE: js, MEDIVLAD_PROFILE_SHAPES: '1' });
    expect(j.code, j.err).toBe(0);
    const p = JSON.parse(readFileSync(js, 'utf8'));
    expect([...new Set(p.kernels.map((k: { kernel: string }) => k.kernel.split(' ')[0]))].sort()).toEqual(['elementwise/fill', 'peak/peak_copy', 'peak/peak_fma']);
    expect(p.kernels.every((k: { kernel: string }) => k.kernel.includes(' ['))).toBe(true); // shapes
    for (const k of p.kernels) expect(k.dispatches > 0 && k.ms > 0).toBe(true);
    expect(p.wallS).toBeGreaterThan(0);
  });

  it('info --json prints exactly one JSON object describing the adapter', () => {
    const r = run(['info', '--json']);
    expect(r.code).toBe(0);
    const a = JSON.parse(r.out);
    expect(typeof a.description).toBe('string');
    expect(typeof a.isSoftware).toBe('boolean');
    expect(a.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
  });

  it('synth rejects out-of-range values and writes a manifest for valid ones', () => {
    const bad = run(['synth', '--out', join(tmpdir(), 'x'), '--videos', '-3']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^medivlad: error: .*videos/m);
    const dir = join(mkdtempSync(join(tmpdir(), 'medivlad-cli-')), 'out');
    const ok = run(['synth', '--out', dir, '--videos', '2', '--frames', '3', '--size', '32', '--seed', '1']);
    expect(ok.code, ok.err).toBe(0);
    const manifest = readFileSync(join(dir, 'manifest.csv'), 'utf8').trim().split('\n');
    expect(manifest.length).toBe(3); // header + 2 clips
  });
});
