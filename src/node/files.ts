// Node-only file helpers for checkpoints and run outputs: atomic writes (a crash or a full disk
// never leaves a half-written file under the final name), reads whose errors name the file,
// an early check that an output directory is writable (fail before hours of training, not
// after), and safetensors save/load on top of src/models/safetensors.ts.
import { mkdir, open, readFile, rename, unlink, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import {
  parseSafetensors,
  serializeSafetensors,
  type HostTensor,
  type ParsedSafetensors,
  type SafetensorsOptions,
} from '../models/safetensors.js';

function errCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An Error that keeps the system error code (ENOENT, EACCES, …) and the original as cause. */
function fileError(message: string, cause: unknown): Error {
  const err = new Error(message, { cause });
  const code = errCode(cause);
  if (code !== undefined) (err as Error & { code?: string }).code = code;
  return err;
}

/**
 * Write `bytes` to `path` atomically: write `<path>.tmp-<pid>-<random>` in the same directory
 * (same filesystem, so the rename is atomic), fsync it, rename it over `path`, then fsync the
 * directory so the rename itself survives a power loss. Readers see the old file or the new
 * one, never a mixture. On failure the temporary file is removed and the error names `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let created = false;
  try {
    // 'wx': never follow or clobber something already at the temporary name.
    const fh = await open(tmp, 'wx');
    created = true;
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    created = false;
  } catch (e) {
    if (created) await unlink(tmp).catch(() => undefined);
    throw fileError(`cannot write ${path}: ${errText(e)}`, e);
  }
  await fsyncDir(dir);
}

/** fsync a directory (makes a rename durable). Not possible on Windows; skipped there. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh;
  try {
    fh = await open(dir, 'r');
  } catch (e) {
    throw fileError(`wrote the file but cannot open its directory ${dir} to sync it: ${errText(e)}`, e);
  }
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems refuse fsync on directories; the data itself is already synced.
    const code = errCode(e);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EPERM') {
      throw fileError(`cannot sync directory ${dir}: ${errText(e)}`, e);
    }
  } finally {
    await fh.close();
  }
}

/** Read a whole file; `what` names it in errors ("checkpoint", "manifest", …). */
export async function readFileChecked(path: string, what: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    const code = errCode(e);
    const reason =
      code === 'ENOENT' ? 'no such file'
      : code === 'EISDIR' ? 'it is a directory, not a file'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'ENOTDIR' ? 'a parent of it is not a directory'
      : errText(e);
    throw fileError(`cannot read ${what} ${path}: ${reason}`, e);
  }
}

/**
 * Create `dir` (and parents) if needed and prove it is writable by creating and removing a
 * probe file. Call it before long work whose results go there.
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    const code = errCode(e);
    const reason =
      code === 'EEXIST' || code === 'ENOTDIR' ? 'it, or a parent of it, exists and is not a directory'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : errText(e);
    throw fileError(`cannot create output directory ${dir}: ${reason}`, e);
  }
  const st = await stat(dir);
  if (!st.isDirectory()) throw new Error(`output directory ${dir} exists and is not a directory`);
  const probe = join(dir, `.write-probe-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
  } catch (e) {
    const code = errCode(e);
    const reason = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'permission denied or read-only' : errText(e);
    throw fileError(`output directory ${dir} is not writable: ${reason}`, e);
  }
  await unlink(probe);
}

/** Serialize f32 tensors (sorted by name, 8-byte aligned data) and write them atomically. */
export async function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Read and validate a safetensors file; errors are CheckpointErrors naming `path`. */
export async function loadSafetensors(
  path: string,
  opts: Omit<SafetensorsOptions, 'file'> = {},
): Promise<ParsedSafetensors> {
  const bytes = await readFileChecked(path, 'checkpoint');
  return parseSafetensors(bytes, { ...opts, file: path });
}
