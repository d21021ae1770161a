// Shared helpers for the data tests: temp folders, ffmpeg presence, the pocus-lus location.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `medivlad-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const HAVE_FFMPEG = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

/** Run ffmpeg (quiet), throwing with its stderr on failure. */
export function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-nostdin', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
}

/** Raw 8-bit gray pixels of an image as ffmpeg decodes it. */
export function ffmpegGray(file: string): Uint8Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'gray', '-']);
  if (r.status !== 0) throw new Error(`ffmpeg could not read ${file}: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

export const POCUS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data/pocus-lus');
export const HAVE_POCUS = existsSync(path.join(POCUS_DIR, 'manifest.csv'));
