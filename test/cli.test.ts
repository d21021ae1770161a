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

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
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
