// Kill -9 during `medivlad pretrain`: the output folder keeps the last complete checkpoint and
// a consistent log, and `--resume` reproduces the uninterrupted run's loss curve exactly.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');
const ARGS = ['pretrain', '--epochs', '3', '--iters-per-epoch', '2', '--batch', '2', '--videos', '8', '--frames', '2', '--log-every', '1'];

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
}

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
});

describe('pretrain killed mid-run', () => {
  it('resumes from the last complete checkpoint and reproduces the uninterrupted loss curve', async () => {
    const base = mkdtempSync(join(tmpdir(), 'medivlad-kill-'));
    const full = join(base, 'full');
    const r = spawnSync(process.execPath, [bin, ...ARGS, '--out', full], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const want = losses(full);
    expect(want.length).toBe(6);

    // Same run, killed with SIGKILL as soon as the first epoch's checkpoint exists.
    const killed = join(base, 'killed');
    const child = spawn(process.execPath, [bin, ...ARGS, '--out', killed], { cwd: root, stdio: 'ignore' });
    const ckpt = join(killed, 'checkpoint.safetensors');
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (existsSync(ckpt)) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        } else if (Date.now() - t0 > 240_000) {
          clearInterval(poll);
          child.kill('SIGKILL');
          reject(new Error('no checkpoint within 240 s'));
        }
      }, 20);
    });
    await new Promise((res) => child.once('exit', res));
    // Only complete files under their final names (no temp files, a parseable checkpoint).
    expect(readdirSync(killed).filter((f) => f.includes('.tmp'))).toEqual([]);

    const resumed = spawnSync(process.execPath, [bin, ...ARGS, '--out', killed, '--resume'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    const at = Number(/resuming at iteration (\d+)/.exec(resumed.stderr)?.[1]);
    expect(at > 0 && at < 6, `killed mid-run (resumed at ${at} of 6)`).toBe(true);
    expect(losses(killed)).toEqual(want);
  });
});
