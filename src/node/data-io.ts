// Node side of the data pipeline: the DataFs platform interface on node:fs, ffmpeg for JPEG
// and video decoding, and atomic writes (temp + rename) for everything the CLI produces.

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import type { DataFs, GrayFrames } from '../data/source.js';

/** Raised when a video or JPEG needs ffmpeg and it is not installed. */
export class FfmpegMissingError extends Error {
  override name = 'FfmpegMissingError';
}

const ffmpegOk = new Map<string, Promise<boolean>>();

/** Whether `ffmpeg` (or $MEDIVLAD_FFMPEG) runs. Checked once per binary per process. */
export function haveFfmpeg(): Promise<boolean> {
  const bin = ffmpegBin();
  let ok = ffmpegOk.get(bin);
  if (!ok) {
    ok = new Promise((resolve) => {
      const p = spawn(bin, ['-version'], { stdio: 'ignore' });
      p.on('error', () => resolve(false));
      p.on('close', (code) => resolve(code === 0));
    });
    ffmpegOk.set(bin, ok);
  }
  return ok;
}

function ffmpegBin(): string {
  return process.env.MEDIVLAD_FFMPEG || 'ffmpeg';
}

/**
 * Decode an image or video with ffmpeg to 8-bit gray frames. ffmpeg writes a stream of
 * binary PGM images ("P5 W H 255\n" + W*H bytes) to stdout, which carries the size with
 * every frame, so no ffprobe call is needed.
 */
export async function decodeWithFfmpeg(file: string): Promise<GrayFrames> {
  if (!(await haveFfmpeg()))
    throw new FfmpegMissingError(`ffmpeg is not installed: it is needed to decode ${file} (JPEG and video files). ` +
      'Install it (apt-get install ffmpeg, brew install ffmpeg) or set MEDIVLAD_FFMPEG, or convert the clip to PNG frames.');
  const args = ['-v', 'error', '-nostdin', '-i', file, '-f', 'image2pipe', '-vcodec', 'pgm', '-pix_fmt', 'gray', '-'];
  const { code, stdout, stderr } = await run(ffmpegBin(), args);
  if (code !== 0) {
    const msg = stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${code}`;
    throw new Error(`ffmpeg could not decode ${file}: ${msg}`);
  }
  return parsePgmStream(stdout, file);
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: new Uint8Array(Buffer.concat(out)), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Split concatenated binary PGM (P5, maxval 255) images. */
export function parsePgmStream(b: Uint8Array, file: string): GrayFrames {
  const frames: Uint8Array[] = [];
  let width = 0, height = 0, o = 0;
  const token = (): string => {
    for (;;) {
      while (o < b.length && /\s/.test(String.fromCharCode(b[o]))) o++;
      if (b[o] === 0x23) while (o < b.length && b[o] !== 0x0a) o++; // comment
      else break;
    }
    const s = o;
    while (o < b.length && !/\s/.test(String.fromCharCode(b[o]))) o++;
    return String.fromCharCode(...b.subarray(s, o));
  };
  while (o < b.length) {
    if (token() !== 'P5') throw new Error(`ffmpeg output for ${file} is not a PGM stream`);
    const w = Number(token()), h = Number(token()), max = Number(token());
    o++; // the single whitespace byte after maxval
    if (max !== 255) throw new Error(`ffmpeg gave ${max}-valued PGM for ${file}, expected 8-bit`);
    if (frames.length > 0 && (w !== width || h !== height)) throw new Error(`${file}: frame size changes mid-stream`);
    width = w;
    height = h;
    if (o + w * h > b.length) throw new Error(`${file}: truncated frame ${frames.length}`);
    frames.push(b.slice(o, o + w * h));
    o += w * h;
  }
  return { width, height, frames };
}

/** DataFs on the local file system (paths are OS paths). */
export const nodeDataFs: DataFs = {
  readText: (p) => fsp.readFile(p, 'utf8'),
  readBytes: async (p) => new Uint8Array(await fsp.readFile(p)),
  async kind(p) {
    try {
      const s = await fsp.stat(p);
      return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : null;
    } catch {
      return null;
    }
  },
  list: (d) => fsp.readdir(d),
  join: (...parts) => path.join(...parts),
  dirname: (p) => path.dirname(p),
  decodeMedia: decodeWithFfmpeg,
  // zlib's synchronous inflate: ~0.04 ms per 112 px frame against ~0.35 ms for DecompressionStream
  inflate: (data) => new Uint8Array(inflateSync(data)),
};

// ---------------------------------------------------------------- atomic outputs

/** Write a file atomically: a temp file beside it, then rename (readers never see half a file). */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Fill a directory atomically: `fill` writes into DIR.tmp-<pid>, which is renamed to DIR only
 * when it returns. A failure removes the temp folder and leaves DIR as it was. An existing
 * DIR is an error unless `overwrite`, in which case it is replaced (moved aside, then removed).
 */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void>, overwrite = false): Promise<void> {
  const abs = path.resolve(dir);
  const exists = await nodeDataFs.kind(abs);
  if (exists !== null && !overwrite) throw new Error(`${dir} already exists (use --force to replace it)`);
  await fsp.mkdir(path.dirname(abs), { recursive: true });
  const tmp = `${abs}.tmp-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp);
  try {
    await fill(tmp);
    if (exists !== null) {
      const old = `${abs}.old-${process.pid}`;
      await fsp.rename(abs, old);
      await fsp.rename(tmp, abs);
      await fsp.rm(old, { recursive: true, force: true });
    } else await fsp.rename(tmp, abs);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
