// Node-only file helpers for checkpoints and run outputs: atomic writes (a crash or a full disk
// never leaves a half-written file under the final name, nor a temporary file beside it),
// reads whose errors name the file, an early check that an output directory is writable and
// has room for what will be written (fail before hours of training, not after), and
// safetensors save/load on top of src/models/safetensors.ts.
import { mkdir, open, readFile, rename, unlink, stat, statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
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

/** Why a write failed, in words, for the codes a full or failing disk produces. */
function writeReason(e: unknown): string {
  const code = errCode(e);
  switch (code) {
    case 'ENOSPC': return 'no space left on the device (ENOSPC)';
    case 'EDQUOT': return 'disk quota exceeded (EDQUOT)';
    case 'EIO': return 'input/output error from the disk (EIO)';
    case 'EROFS': return 'the filesystem is read-only (EROFS)';
    case 'EACCES': case 'EPERM': return `permission denied (${code})`;
    case 'EFBIG': return 'file too large for the filesystem (EFBIG)';
    default: return errText(e);
  }
}

/** An Error that keeps the system error code (ENOENT, EACCES, …) and the original as cause. */
function fileError(message: string, cause: unknown): Error {
  const err = new Error(message, { cause });
  const code = errCode(cause);
  if (code !== undefined) (err as Error & { code?: string }).code = code;
  return err;
}

/**
 * The file operations writeFileAtomic uses. Tests substitute failing ones (a disk that fills
 * up or returns EIO half-way through a write) instead of filling a real disk.
 */
export interface AtomicWriteIo {
  open: typeof open;
  rename: typeof rename;
  unlink: typeof unlink;
}

const nodeIo: AtomicWriteIo = { open, rename, unlink };

/**
 * Fault injection (tests, and `MEDIVLAD_TEST_FAULT` in pretrain): file operations whose writes
 * put the first `afterBytes` bytes on disk and then fail with `code` (ENOSPC: the disk filled
 * up; EIO: the disk failed), as a real full disk does part-way through a write.
 */
export function failingWriteIo(code: 'ENOSPC' | 'EIO' | 'EDQUOT', afterBytes: number): AtomicWriteIo {
  const failOpen = async (...args: Parameters<typeof open>) => {
    const fh = await open(...args);
    const handle = {
      writeFile: async (data: Uint8Array) => {
        await fh.write(data.subarray(0, Math.min(afterBytes, data.length)));
        throw Object.assign(new Error(`${code}: injected failure, write`), { code, syscall: 'write' });
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
    return handle as unknown as Awaited<ReturnType<typeof open>>;
  };
  return { open: failOpen as typeof open, rename, unlink };
}

/**
 * Write `bytes` to `path` atomically: write `<path>.tmp-<pid>-<random>` in the same directory
 * (same filesystem, so the rename is atomic), fsync it, rename it over `path`, then fsync the
 * directory so the rename itself survives a power loss. Readers see the old file or the new
 * one, never a mixture. On failure (a full disk, an I/O error) the temporary file is removed,
 * the file at `path` is left as it was, and the error names `path` and the reason.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array, io: AtomicWriteIo = nodeIo): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let created = false;
  try {
    // 'wx': never follow or clobber something already at the temporary name.
    const fh = await io.open(tmp, 'wx');
    created = true;
    let failed: unknown = null;
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } catch (e) {
      failed = e;
    }
    // A failed close after a failed write must not hide the write's reason.
    await fh.close().catch((e: unknown) => (failed ??= e));
    if (failed !== null) throw failed;
    await io.rename(tmp, path);
    created = false;
  } catch (e) {
    let left = '';
    if (created) {
      await io.unlink(tmp).catch((u: unknown) => (left = `; the temporary file ${tmp} could not be removed (${writeReason(u)})`));
    }
    const kept = existsSync(path) ? `; the previous ${basename(path)} is unchanged` : '';
    throw fileError(`cannot write ${path}: ${writeReason(e)}${kept}${left}`, e);
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

/** Bytes as "1.5 GB" / "640 kB" (powers of 1000, as df -H and file managers show). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

/**
 * Refuse to start when the filesystem holding `dir` has less than `bytes` available to this
 * user (statfs: f_bavail blocks of f_bsize bytes). `what` says what will be written there.
 * The caller sizes `bytes`, with the margin it needs (an atomic rewrite of a file needs room
 * for the new copy while the old one still exists).
 */
export async function ensureFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  let free: number;
  try {
    const st = await statfs(dir);
    free = Number(st.bavail) * Number(st.bsize);
  } catch (e) {
    throw fileError(`cannot check the free space of ${dir}: ${errText(e)}`, e);
  }
  if (free < bytes) {
    throw new Error(
      `not enough free space in ${dir} for ${what}: needs about ${formatBytes(bytes)}, ${formatBytes(free)} available; ` +
        'free some space or choose another output directory',
    );
  }
}

/**
 * The preflight for a command that writes results: `dir` exists (created if needed), is
 * writable, and has room for about `bytes` (see ensureFreeSpace). Call it before long work.
 */
export async function preflightOutputDir(dir: string, bytes: number, what: string): Promise<void> {
  await ensureWritableDir(dir);
  await ensureFreeSpace(dir, bytes, what);
}

/** Serialize f32 tensors (sorted by name, 8-byte aligned data) and write them atomically. */
export async function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata?: Readonly<Record<string, string>>,
  io: AtomicWriteIo = nodeIo,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata), io);
}

/** Read and validate a safetensors file; errors are CheckpointErrors naming `path`. */
export async function loadSafetensors(
  path: string,
  opts: Omit<SafetensorsOptions, 'file'> = {},
): Promise<ParsedSafetensors> {
  const bytes = await readFileChecked(path, 'checkpoint');
  return parseSafetensors(bytes, { ...opts, file: path });
}
