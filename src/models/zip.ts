// zip: a minimal reader of zip archives held in memory, enough for torch.save's checkpoints
// (src/models/pth.ts). Platform-neutral: no Node built-ins; deflate goes through the web-standard
// DecompressionStream('deflate-raw'), present in browsers and in Node ≥ 18.
//
// Layout (APPNOTE.TXT), read from the end:
//   … [local header 30 B + name + extra][data] (+ data descriptor) … per entry
//   [central directory: 46 B + name + extra + comment, per entry]
//   [zip64 end of central directory record, 56 B]   (optional: torch writes it always)
//   [zip64 end of central directory locator, 20 B]  (optional)
//   [end of central directory record, 22 B + comment]
// torch.save stores every entry (method 0) with bit 3 set (sizes and CRC in a data descriptor
// after the data, zeros in the local header) and pads the local extra field so each data
// section starts at a multiple of 64. Sizes and CRCs are therefore taken from the central
// directory, which is authoritative; local headers only give the data offset.
//
// These files come from the internet, so every offset and length is checked against the
// buffer before use, and the reader bounds what it will do: at most `maxEntries` entries,
// names of at most `maxNameBytes`, no two entries sharing bytes (the overlapping-entries zip
// bomb), no more inflated output than an entry declares, than deflate can produce from its
// input (1032:1), or than the caller's byte limit. Every entry read is CRC-32 checked. Every
// failure is a CheckpointError naming the file, the entry and the problem.
import { CheckpointError, quoteName } from './checkpoint.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const EOCD_BYTES = 22;
const LOCATOR64_BYTES = 20;
const EOCD64_BYTES = 56;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const ZIP64_EXTRA_ID = 0x0001;
/** Deflate's best case is ~1032 output bytes per input byte; a declared size above this bound is a lie. */
const MAX_DEFLATE_RATIO = 1032;
const INFLATE_CHUNK = 1 << 16;

export interface ZipOptions {
  /** Named in error messages. */
  file?: string;
  /** Refuse archives with more entries. Default 1,000,000 (a DINO full checkpoint has ~700). */
  maxEntries?: number;
  /** Refuse entry names longer than this many bytes. Default 1024. */
  maxNameBytes?: number;
}

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: 0 | 8;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  /** Where the local header starts. */
  localHeaderOffset: number;
  /** Where the (compressed) data starts, from the local header's own name and extra lengths. */
  dataOffset: number;
}

export interface ZipArchive {
  /** Entries by name, in central-directory order. */
  entries: Map<string, ZipEntry>;
  /**
   * The uncompressed bytes of one entry, CRC-checked. A stored entry is a view into the
   * archive's buffer (no copy); a deflated one is inflated, refusing output past
   * `maxBytes` (default: the declared size; always at most the declared size).
   */
  read(name: string, maxBytes?: number): Promise<Uint8Array>;
}

// ============ CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) ============

let crcTables: Uint32Array[] | null = null;

/** Slicing-by-4 tables: 4 KB, built once. Byte-at-a-time would need 8 steps per 4 bytes' work. */
function tables(): Uint32Array[] {
  if (crcTables !== null) return crcTables;
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  const ts = [t0, new Uint32Array(256), new Uint32Array(256), new Uint32Array(256)];
  for (let n = 0; n < 256; n++) {
    let c = t0[n];
    for (let k = 1; k < 4; k++) {
      c = t0[c & 0xff] ^ (c >>> 8);
      ts[k][n] = c >>> 0;
    }
  }
  crcTables = ts;
  return ts;
}

/** CRC-32 of `bytes`, continuing from `crc` (the value of the bytes before; 0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3] = tables();
  let c = ~crc >>> 0;
  const n = bytes.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = t3[c & 0xff] ^ t2[(c >>> 8) & 0xff] ^ t1[(c >>> 16) & 0xff] ^ t0[c >>> 24];
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ============ reading the directory ============

/** Little-endian reads that fail as CheckpointError, never RangeError, outside the buffer. */
class Reader {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    private readonly fail: (problem: string) => CheckpointError,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  check(at: number, n: number, what: string): void {
    if (!(at >= 0 && n >= 0 && at + n <= this.bytes.length)) {
      throw this.fail(`${what} at byte ${at} (${n} bytes) runs past the end of the ${this.bytes.length}-byte file (truncated?)`);
    }
  }
  u16(at: number): number {
    return this.view.getUint16(at, true);
  }
  u32(at: number): number {
    return this.view.getUint32(at, true);
  }
  /** u64 as a number; values past 2^53 cannot be valid offsets here, so they become Infinity. */
  u64(at: number): number {
    const v = this.view.getUint32(at, true) + this.view.getUint32(at + 4, true) * 2 ** 32;
    return v <= Number.MAX_SAFE_INTEGER ? v : Infinity;
  }
}

interface Directory {
  count: number;
  size: number;
  offset: number;
}

/** Find the end records and return where the central directory is. */
function findDirectory(r: Reader, fail: (p: string) => CheckpointError): Directory {
  const n = r.bytes.length;
  if (n < EOCD_BYTES) throw fail(`file is ${n} bytes, too short for a zip archive`);
  // The EOCD is the last 22 bytes plus a comment of up to 65535: scan backwards for its signature
  // whose comment length fits the file.
  let eocd = -1;
  for (let at = n - EOCD_BYTES; at >= Math.max(0, n - EOCD_BYTES - 0xffff); at--) {
    if (r.u32(at) === SIG_EOCD && at + EOCD_BYTES + r.u16(at + 20) <= n) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw fail('no end-of-central-directory record: not a zip archive, or truncated');
  const disk = r.u16(eocd + 4);
  const cdDisk = r.u16(eocd + 6);
  const diskCount = r.u16(eocd + 8);
  let count = r.u16(eocd + 10);
  let size = r.u32(eocd + 12);
  let offset = r.u32(eocd + 16);
  if (disk !== 0 || cdDisk !== 0 || diskCount !== count) throw fail('multi-disk (spanned) zip archives are not supported');

  const loc = eocd - LOCATOR64_BYTES;
  if (loc >= 0 && r.u32(loc) === SIG_LOCATOR64) {
    const at = r.u64(loc + 8);
    if (r.u32(loc + 4) !== 0 || r.u32(loc + 16) !== 1) throw fail('multi-disk (spanned) zip64 archives are not supported');
    if (!(at + EOCD64_BYTES <= loc)) throw fail(`zip64 end record offset ${at} is outside the file`);
    if (r.u32(at) !== SIG_EOCD64) throw fail(`no zip64 end record at byte ${at}, where the zip64 locator points`);
    if (r.u32(at + 16) !== 0 || r.u32(at + 20) !== 0) throw fail('multi-disk (spanned) zip64 archives are not supported');
    const count64 = r.u64(at + 32);
    const size64 = r.u64(at + 40);
    const offset64 = r.u64(at + 48);
    if (r.u64(at + 24) !== count64) throw fail('multi-disk (spanned) zip64 archives are not supported');
    // A field the classic record could hold must agree with the zip64 one: two different
    // directories in one file are a parser-confusion trick, not something torch writes.
    if ((count !== 0xffff && count !== count64) || (size !== 0xffffffff && size !== size64) || (offset !== 0xffffffff && offset !== offset64)) {
      throw fail('the zip64 end record disagrees with the end-of-central-directory record');
    }
    count = count64;
    size = size64;
    offset = offset64;
  }
  if (!(offset + size <= n)) throw fail(`central directory [${offset}, +${size}) runs past the end of the ${n}-byte file (truncated?)`);
  return { count, size, offset };
}

/** The zip64 extended-information extra field: 8-byte values for the fields saturated in the record. */
function zip64Extra(
  r: Reader,
  at: number,
  len: number,
  want: { usize: boolean; csize: boolean; offset: boolean },
  fail: (p: string) => CheckpointError,
): { usize?: number; csize?: number; offset?: number } {
  const end = at + len;
  while (at + 4 <= end) {
    const id = r.u16(at);
    const size = r.u16(at + 2);
    const body = at + 4;
    if (body + size > end) throw fail('an extra field runs past its entry');
    if (id === ZIP64_EXTRA_ID) {
      const out: { usize?: number; csize?: number; offset?: number } = {};
      let p = body;
      const take = (): number => {
        if (p + 8 > body + size) throw fail('the zip64 extra field is too short for the fields it must hold');
        const v = r.u64(p);
        p += 8;
        return v;
      };
      if (want.usize) out.usize = take();
      if (want.csize) out.csize = take();
      if (want.offset) out.offset = take();
      return out;
    }
    at = body + size;
  }
  if (want.usize || want.csize || want.offset) throw fail('sizes or offset are 0xFFFFFFFF but there is no zip64 extra field');
  return {};
}

/** Parse the directory and every local header. Synchronous; reads no entry data. */
export function openZip(bytes: Uint8Array, opts: ZipOptions = {}): ZipArchive {
  const file = opts.file;
  const fail = (problem: string) => new CheckpointError(problem, { file });
  if (!(bytes instanceof Uint8Array)) throw fail('expected the file as a Uint8Array');
  const maxEntries = opts.maxEntries ?? 1_000_000;
  const maxNameBytes = opts.maxNameBytes ?? 1024;
  const r = new Reader(bytes, fail);
  const dir = findDirectory(r, fail);
  if (dir.count > maxEntries) throw fail(`the archive lists ${dir.count} entries, over the limit of ${maxEntries}`);
  // Each central record takes ≥ 46 bytes: a count the directory cannot hold is a lie.
  if (dir.count * CENTRAL_BYTES > dir.size) throw fail(`the central directory (${dir.size} bytes) cannot hold the ${dir.count} entries it claims`);

  const decoder = new TextDecoder('utf-8', { fatal: true });
  const entries = new Map<string, ZipEntry>();
  let at = dir.offset;
  const cdEnd = dir.offset + dir.size;
  for (let i = 0; i < dir.count; i++) {
    const entryFail = (problem: string) => fail(`central directory entry ${i}: ${problem}`);
    if (at + CENTRAL_BYTES > cdEnd) throw entryFail('runs past the end of the central directory');
    if (r.u32(at) !== SIG_CENTRAL) throw entryFail(`bad signature at byte ${at}`);
    const flags = r.u16(at + 8);
    const method = r.u16(at + 10);
    const crc = r.u32(at + 16);
    let csize = r.u32(at + 20);
    let usize = r.u32(at + 24);
    const nameLen = r.u16(at + 28);
    const extraLen = r.u16(at + 30);
    const commentLen = r.u16(at + 32);
    const diskStart = r.u16(at + 34);
    let lho = r.u32(at + 42);
    const recordEnd = at + CENTRAL_BYTES + nameLen + extraLen + commentLen;
    if (recordEnd > cdEnd) throw entryFail('name, extra field or comment runs past the end of the central directory');
    if (nameLen > maxNameBytes) throw entryFail(`name is ${nameLen} bytes, over the limit of ${maxNameBytes}`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLen));
    } catch (e) {
      throw new CheckpointError(`central directory entry ${i}: name is not valid UTF-8`, { file }, { cause: e });
    }
    const nameFail = (problem: string) => fail(`entry ${quoteName(name)}: ${problem}`);
    const z64 = zip64Extra(
      r,
      at + CENTRAL_BYTES + nameLen,
      extraLen,
      { usize: usize === 0xffffffff, csize: csize === 0xffffffff, offset: lho === 0xffffffff },
      nameFail,
    );
    usize = z64.usize ?? usize;
    csize = z64.csize ?? csize;
    lho = z64.offset ?? lho;
    if (diskStart !== 0 && diskStart !== 0xffff) throw nameFail('multi-disk (spanned) zip archives are not supported');
    if (flags & 0x0001) throw nameFail('is encrypted');
    if (method !== 0 && method !== 8) throw nameFail(`compression method ${method} is not supported (only 0, stored, and 8, deflate)`);
    if (method === 0 && csize !== usize) throw nameFail(`is stored but its sizes differ (${csize} compressed, ${usize} uncompressed)`);
    if (entries.has(name)) throw nameFail('appears twice in the central directory');

    // The local header: its own name and extra lengths give where the data starts.
    if (!(lho + LOCAL_BYTES <= dir.offset)) throw nameFail(`local header offset ${lho} is outside the entries' area [0, ${dir.offset})`);
    if (r.u32(lho) !== SIG_LOCAL) throw nameFail(`no local header at byte ${lho}`);
    const localMethod = r.u16(lho + 8);
    const localNameLen = r.u16(lho + 26);
    const localExtraLen = r.u16(lho + 28);
    if (localMethod !== method) throw nameFail(`local header says method ${localMethod}, central directory ${method}`);
    if (localNameLen !== nameLen) throw nameFail('local header name differs from the central directory');
    const dataOffset = lho + LOCAL_BYTES + localNameLen + localExtraLen;
    r.check(lho, LOCAL_BYTES + localNameLen, `entry ${quoteName(name)} local header`);
    for (let k = 0; k < nameLen; k++) {
      if (bytes[lho + LOCAL_BYTES + k] !== bytes[at + CENTRAL_BYTES + k]) throw nameFail('local header name differs from the central directory');
    }
    if (!(dataOffset + csize <= dir.offset)) {
      throw nameFail(`data [${dataOffset}, +${csize}) runs past the entries' area [0, ${dir.offset}) (truncated?)`);
    }
    entries.set(name, { name, method: method as 0 | 8, crc32: crc, compressedSize: csize, uncompressedSize: usize, localHeaderOffset: lho, dataOffset });
    at = recordEnd;
  }

  // No two entries may share bytes: overlapping entries let a small file expand to many copies of
  // the same data (the "non-recursive zip bomb"). torch never writes them.
  const sorted = [...entries.values()].sort((a, b) => a.localHeaderOffset - b.localHeaderOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].localHeaderOffset < prev.dataOffset + prev.compressedSize) {
      throw fail(`entries ${quoteName(prev.name)} and ${quoteName(sorted[i].name)} overlap`);
    }
  }

  return {
    entries,
    read: (name: string, maxBytes?: number) => {
      const entry = entries.get(name);
      if (entry === undefined) return Promise.reject(fail(`no entry ${quoteName(name)} in the archive`));
      return readEntry(bytes, entry, maxBytes ?? entry.uncompressedSize, file);
    },
  };
}

// ============ reading an entry ============

async function readEntry(bytes: Uint8Array, entry: ZipEntry, maxBytes: number, file?: string): Promise<Uint8Array> {
  const fail = (problem: string, cause?: unknown) =>
    new CheckpointError(`entry ${quoteName(entry.name)}: ${problem}`, { file }, cause === undefined ? undefined : { cause });
  const usize = entry.uncompressedSize;
  if (usize > maxBytes) throw fail(`declares ${usize} uncompressed bytes, over the limit of ${maxBytes}`);
  const input = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    out = input;
  } else {
    if (usize > input.length * MAX_DEFLATE_RATIO + 64) {
      throw fail(`declares ${usize} bytes from ${input.length} deflated bytes, more than deflate can produce`);
    }
    out = await inflateRaw(input, usize, fail);
  }
  const crc = crc32(out);
  if (crc !== entry.crc32) {
    throw fail(`CRC-32 is ${hex(crc)} but the directory says ${hex(entry.crc32)} (corrupt file)`);
  }
  return out;
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

/**
 * Inflate raw deflate data into exactly `size` bytes. The output buffer is allocated from the
 * declared size (already bounded by the caller's limit and the deflate ratio), and inflation
 * stops as soon as the stream produces more: a lying size cannot make it run on.
 */
async function inflateRaw(
  input: Uint8Array,
  size: number,
  fail: (problem: string, cause?: unknown) => CheckpointError,
): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') throw fail('is deflated, and this platform has no DecompressionStream');
  const stream = new DecompressionStream('deflate-raw');
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  // Feed in chunks so the transform's backpressure applies: a small input never has to be
  // decompressed all at once before the reader can stop it.
  const feeding = (async () => {
    for (let i = 0; i < input.length; i += INFLATE_CHUNK) {
      await writer.ready;
      const chunk = input.subarray(i, i + INFLATE_CHUNK);
      // A view of a SharedArrayBuffer is copied: streams take ArrayBuffer-backed chunks only.
      await writer.write(chunk.buffer instanceof ArrayBuffer ? (chunk as Uint8Array<ArrayBuffer>) : chunk.slice());
    }
    await writer.close();
  })();
  feeding.catch(() => {}); // its failures surface through the reader; never unhandled

  const out = new Uint8Array(size);
  let filled = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > size) throw fail(`inflates to more than its declared ${size} bytes (zip bomb?)`);
      out.set(value, filled);
      filled += value.length;
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    if (e instanceof CheckpointError) throw e;
    const why = e instanceof Error ? e.message.slice(0, 200) : String(e).slice(0, 200);
    throw fail(`invalid deflate data (${why})`, e);
  }
  if (filled !== size) throw fail(`inflates to ${filled} bytes but declares ${size}`);
  return out;
}
