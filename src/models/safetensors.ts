// safetensors: reader and writer of the Hugging Face safetensors format, platform-neutral
// (no Node built-ins; src/node/files.ts adds the file I/O).
//
// Layout of a file:
//   [0, 8)          N, the header length: unsigned 64-bit little-endian
//   [8, 8 + N)      header: UTF-8 JSON object
//                     { "<name>": { "dtype": "F32", "shape": [d0, …], "data_offsets": [begin, end] },
//                       "__metadata__": { "<key>": "<string>" } }      (metadata optional)
//   [8 + N, EOF)    data section: raw little-endian tensors, row-major; data_offsets are byte
//                   offsets relative to the start of this section, end exclusive
//
// These files come from the internet, so the reader trusts nothing: every header field is
// checked against the real byte length before anything is allocated from it (a header that
// claims 10 GB costs nothing), and every failure is a CheckpointError naming the tensor and the
// problem. Parsing is JSON.parse plus arithmetic: no code in the file is ever executed.
// Tensor names live in a Map and metadata in a null-prototype object, so a tensor named
// "__proto__" is just a name.
//
// Differences from the reference implementation (huggingface/safetensors, Rust):
//  - gaps between tensors and unused bytes after the last one are accepted (the reference
//    requires the tensors to tile the data section exactly); overlapping tensors are refused;
//  - writing is F32 only; reading converts F16 / BF16 / F64 to f32 and reads I64 / I32 as
//    numbers (exact in `ints`, rounded to f32 in `data`).
import { CheckpointError, formatShape } from './checkpoint.js';

/** The dtypes this reader decodes, with their element size in bytes. */
const DTYPE_BYTES = new Map<string, number>([
  ['F64', 8],
  ['F32', 4],
  ['F16', 2],
  ['BF16', 2],
  ['I64', 8],
  ['I32', 4],
]);

/** Valid in the format but not decoded here: named as "unsupported" rather than "unknown". */
const OTHER_FORMAT_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

/** The reference implementation's bound on the header (MAX_HEADER_SIZE). */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsOptions {
  /** Refuse headers longer than this. Default 100 MB, as the reference implementation. */
  maxHeaderBytes?: number;
  /** Named in error messages. */
  file?: string;
}

export interface TensorInfo {
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range [begin, end) relative to the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  /** `__metadata__`, as a null-prototype object. */
  metadata: Record<string, string>;
  /** Absolute byte offset of the data section: 8 + N. */
  dataStart: number;
}

export interface LoadedTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** Values as f32 (F16/BF16 exactly, F64 rounded, I64/I32 rounded above 2^24). */
  data: Float32Array;
  /** For I64 / I32 only: the exact integer values. */
  ints?: Float64Array;
}

export interface ParsedSafetensors {
  tensors: Map<string, LoadedTensor>;
  metadata: Record<string, string>;
}

/** A host-side f32 tensor, as the writer takes it. Row-major, data.length = product(shape). */
export interface HostTensor {
  shape: readonly number[];
  data: Float32Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Own property only: never something inherited from Object.prototype. */
function own(o: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// ============ reading ============

/**
 * Parse and validate the header only (no tensor data is touched or copied). Everything the
 * header declares is checked against the actual byte length.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, opts: SafetensorsOptions = {}): SafetensorsHeader {
  const file = opts.file;
  const fail = (problem: string, tensor?: string) => new CheckpointError(problem, { file, tensor });
  if (!(bytes instanceof Uint8Array)) throw fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) throw fail(`file is ${bytes.length} bytes, too short for the 8-byte header length (not a safetensors file?)`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Exact below 2^53; above that only "huge" matters, and the bound below catches it.
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  const maxHeader = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (n > maxHeader) {
    throw fail(`header length field says ${n} bytes, over the ${maxHeader}-byte limit (not a safetensors file, or corrupt)`);
  }
  if (n > bytes.length - 8) {
    throw fail(`header length field says ${n} bytes but only ${bytes.length - 8} follow it (truncated file?)`);
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch (e) {
    throw new CheckpointError('header is not valid UTF-8', { file }, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.slice(0, 200) : String(e);
    throw new CheckpointError(`header is not valid JSON (${why})`, { file }, { cause: e });
  }
  if (!isObject(json)) throw fail(`header is ${describe(json)}, expected a JSON object`);

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const tensors = new Map<string, TensorInfo>();
  const metadata: Record<string, string> = Object.create(null);

  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(entry)) throw fail(`__metadata__ is ${describe(entry)}, expected an object of strings`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw fail(`__metadata__ key ${JSON.stringify(k.slice(0, 100))} is ${describe(v)}, expected a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, checkEntry(name, entry, dataLen, fail));
  }

  // No two tensors may share a byte. Empty tensors occupy nothing and may sit anywhere.
  const ranges = [...tensors].filter(([, t]) => t.dataOffsets[1] > t.dataOffsets[0]);
  ranges.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  for (let i = 1; i < ranges.length; i++) {
    const [prevName, prev] = ranges[i - 1];
    const [name, t] = ranges[i];
    if (t.dataOffsets[0] < prev.dataOffsets[1]) {
      throw fail(
        `data_offsets [${t.dataOffsets.join(', ')}] overlap tensor ${JSON.stringify(prevName.slice(0, 200))} at [${prev.dataOffsets.join(', ')}]`,
        name,
      );
    }
  }
  return { tensors, metadata, dataStart };
}

function checkEntry(
  name: string,
  entry: unknown,
  dataLen: number,
  fail: (problem: string, tensor?: string) => CheckpointError,
): TensorInfo {
  if (!isObject(entry)) throw fail(`entry is ${describe(entry)}, expected {dtype, shape, data_offsets}`, name);

  const dtype = own(entry, 'dtype');
  if (typeof dtype !== 'string') throw fail(`dtype is ${describe(dtype)}, expected a string`, name);
  const size = DTYPE_BYTES.get(dtype);
  if (size === undefined) {
    const supported = [...DTYPE_BYTES.keys()].join(', ');
    const kind = OTHER_FORMAT_DTYPES.has(dtype) ? 'unsupported' : 'unknown';
    throw fail(`${kind} dtype ${JSON.stringify(dtype.slice(0, 40))} (supported: ${supported})`, name);
  }

  const shape = own(entry, 'shape');
  if (!Array.isArray(shape)) throw fail(`shape is ${describe(shape)}, expected an array of sizes`, name);
  let numel = 1;
  for (const d of shape) {
    if (!isCount(d)) throw fail(`shape [${shape.slice(0, 8).map((x) => describe(x)).join(', ')}] has ${describe(d)}, expected non-negative integers`, name);
    numel *= d;
  }
  // Rounded when huge, but then far above dataLen: the comparisons below stay exact where they matter.
  const nbytes = numel * size;

  const offsets = own(entry, 'data_offsets');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
    throw fail(`data_offsets is ${describe(offsets)}, expected [begin, end] with non-negative integers`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`data_offsets [${begin}, ${end}] have begin > end`, name);
  if (end > dataLen) {
    throw fail(`data_offsets [${begin}, ${end}] run past the data section (${dataLen} bytes; truncated file?)`, name);
  }
  if (end - begin !== nbytes) {
    throw fail(
      `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} shape ${formatShape(shape as number[])} needs ${nbytes}`,
      name,
    );
  }
  return { dtype: dtype as SafetensorsDType, shape: (shape as number[]).slice(), dataOffsets: [begin, end] };
}

/** Parse a whole safetensors file: header checks, then every tensor decoded to f32. */
export function parseSafetensors(bytes: Uint8Array, opts: SafetensorsOptions = {}): ParsedSafetensors {
  const header = parseSafetensorsHeader(bytes, opts);
  const tensors = new Map<string, LoadedTensor>();
  for (const [name, info] of header.tensors) {
    tensors.set(name, decodeTensor(bytes, header.dataStart, name, info, opts.file));
  }
  return { tensors, metadata: header.metadata };
}

/** Decode one tensor described by a validated header entry. */
export function decodeTensor(bytes: Uint8Array, dataStart: number, name: string, info: TensorInfo, file?: string): LoadedTensor {
  const at = bytes.byteOffset + dataStart + info.dataOffsets[0];
  const nbytes = info.dataOffsets[1] - info.dataOffsets[0];
  const size = DTYPE_BYTES.get(info.dtype) as number;
  const count = nbytes / size;
  const view = new DataView(bytes.buffer, at, nbytes);
  const data = new Float32Array(count);
  const shape = info.shape.slice();
  switch (info.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN_HOST) new Uint8Array(data.buffer).set(new Uint8Array(bytes.buffer, at, nbytes));
      else for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
      return { dtype: 'F32', shape, data };
    case 'F64':
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
      return { dtype: 'F64', shape, data };
    case 'F16': {
      const table = f16Table();
      for (let i = 0; i < count; i++) data[i] = table[view.getUint16(2 * i, true)];
      return { dtype: 'F16', shape, data };
    }
    case 'BF16': {
      // bf16 is the top half of an f32: shift the 16 bits up.
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return { dtype: 'BF16', shape, data };
    }
    case 'I32': {
      const ints = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = ints[i] = view.getInt32(4 * i, true);
      return { dtype: 'I32', shape, data, ints };
    }
    case 'I64': {
      const ints = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const lo = view.getUint32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        // |value| < 2^53 exactly when hi is in [-2^21, 2^21).
        if (hi < -(2 ** 21) || hi >= 2 ** 21) {
          throw new CheckpointError(`I64 element ${i} is outside ±2^53 and cannot be represented exactly`, { file, tensor: name });
        }
        data[i] = ints[i] = hi * 2 ** 32 + lo;
      }
      return { dtype: 'I64', shape, data, ints };
    }
  }
}

let f16Cache: Float32Array | null = null;

/** All 65536 half-precision values as f32 (256 KB, built once): decoding is one lookup. */
export function f16Table(): Float32Array {
  if (f16Cache !== null) return f16Cache;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24; // zero and subnormals
    else if (exp === 31) t[h] = mant === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Cache = t;
  return t;
}

// ============ writing ============

/** Compare by UTF-8 bytes (= code points), the order the reference implementation sorts by. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const d = (x.value.codePointAt(0) as number) - (y.value.codePointAt(0) as number);
    if (d !== 0) return d;
  }
}

/**
 * Serialize f32 tensors: sorted by name, header padded with spaces so the data section starts
 * at a multiple of 8 (as the reference implementation), metadata first when given.
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const entries: [string, HostTensor][] =
    tensors instanceof Map ? [...(tensors as ReadonlyMap<string, HostTensor>)] : Object.entries(tensors as Record<string, HostTensor>);
  entries.sort((a, b) => compareCodePoints(a[0], b[0]));

  // The header is written as text, not via an object: JS objects put integer-like keys ("0")
  // first, which would break the sorted order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    if (keys.length > 0) {
      const kv = keys.map((k) => {
        const v = metadata[k];
        if (typeof v !== 'string') throw new CheckpointError(`metadata ${JSON.stringify(k)} is ${describe(v)}, expected a string`);
        return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      });
      parts.push(`"__metadata__":{${kv.join(',')}}`);
    }
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new CheckpointError('"__metadata__" is reserved and cannot name a tensor');
    if (t === null || typeof t !== 'object' || !Array.isArray(t.shape)) throw new CheckpointError('expected {shape, data}', { tensor: name });
    let numel = 1;
    for (const d of t.shape) {
      if (!isCount(d)) throw new CheckpointError(`invalid shape ${formatShape(t.shape)}`, { tensor: name });
      numel *= d;
    }
    if (!(t.data instanceof Float32Array)) throw new CheckpointError(`data must be a Float32Array, got ${describe(t.data)}`, { tensor: name });
    if (t.data.length !== numel) {
      throw new CheckpointError(`${t.data.length} values do not fill shape ${formatShape(t.shape)} (${numel} elements)`, { tensor: name });
    }
    const end = offset + 4 * numel;
    parts.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const headerText = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(headerText.length / 8) * 8;
  const dataStart = 8 + padded;

  const out = new Uint8Array(dataStart + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(headerText, 8);
  out.fill(0x20, 8 + headerText.length, dataStart); // spaces: still valid JSON
  let pos = dataStart;
  for (const [, t] of entries) {
    if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    else for (let i = 0; i < t.data.length; i++) view.setFloat32(pos + 4 * i, t.data[i], true);
    pos += t.data.byteLength;
  }
  return out;
}
