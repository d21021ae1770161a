// pth: reader of PyTorch checkpoints written by torch.save (zip format, PyTorch ≥ 1.6, e.g. DINO's
// dino_deitsmall8_pretrain.pth from 1.7.1), platform-neutral (no Node built-ins).
//
// A torch.save file is a zip archive (src/models/zip.ts) with one top-level folder:
//   <archive>/data.pkl     the pickled object (src/models/pickle.ts); tensors in it are
//                          _rebuild_tensor_v2(storage, offset, size, stride, …) whose storage is a
//                          persistent id ('storage', torch.FloatStorage, key, location, numel)
//   <archive>/data/<key>   each storage's raw bytes, little-endian unless <archive>/byteorder says
//                          "big"; several tensors may view one storage
//   <archive>/version      and, in newer versions, byteorder, .data/serialization_id, …
//
// parsePth unpickles data.pkl without executing anything (the allow-list in pickle.ts), then
// walks the result: dicts are flattened with dotted names (DINO's full checkpoint gives
// `teacher.backbone.cls_token`), tensors are decoded to f32, other leaves (epoch, the
// argparse.Namespace `args`, fp16 scaler numbers) go to `extra`, and optimizer state dicts are
// skipped with a note. Every view is checked against its storage before any element is read,
// and everything the reader produces (inflated entries, decoded tensors) counts against one
// byte budget, `maxBytes`. Every failure is a CheckpointError naming the file, the tensor and
// the problem.
import { CheckpointError, formatShape } from './checkpoint.js';
import { DTYPE_BYTES, PyGlobal, PyObject, PySet, PyTuple, TorchStorage, TorchTensor, describe, unpickle, type PickleOptions, type TorchDType } from './pickle.js';
import { openZip, type ZipArchive } from './zip.js';
import { f16Table } from './safetensors.js';

export interface PthTensor {
  dtype: TorchDType;
  /** Row-major, as torch's `size()`; the data is made contiguous whatever the saved strides. */
  shape: number[];
  /** Values as f32 (F16 / BF16 exactly, F64 rounded, integers rounded above 2^24). */
  data: Float32Array;
  /** For integer and bool dtypes: the exact values. */
  ints?: Float64Array;
}

export interface ParsedPth {
  /** Every tensor under its dotted path, in the file's order. */
  tensors: Map<string, PthTensor>;
  /**
   * Non-tensor leaves under their dotted paths (null-prototype object): numbers, strings, bools,
   * null, bigints past 2^53, Uint8Array for bytes, arrays for lists / tuples / sets, plain
   * objects for dicts and argparse.Namespace; "skipped: optimizer state (…)" notes.
   */
  extra: Record<string, unknown>;
}

export interface PthOptions {
  /** Named in error messages. */
  file?: string;
  /**
   * The most bytes the reader will produce: inflated zip entries plus decoded tensors (4 bytes
   * per element, +8 for integer dtypes). Default 4 GiB. Stored entries are read in place and
   * cost nothing.
   */
  maxBytes?: number;
  /** Deepest nesting of containers walked. Default 100 (a DINO checkpoint nests 3 deep). */
  maxDepth?: number;
  /** Most containers and values visited while walking. Default 1,000,000 (DINO's full checkpoint: ~1,000). */
  maxNodes?: number;
  /** Limits of the pickle VM (stack, MARK nesting, memo, string length). */
  pickle?: Omit<PickleOptions, 'file' | 'entry'>;
}

export const DEFAULT_MAX_BYTES = 4 * 2 ** 30;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The start of torch's legacy (pre-1.6, or _use_new_zipfile_serialization=False) files: PROTO 2, LONG1 magic. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** Read a torch.save checkpoint: tensors by dotted name, and the other values in `extra`. */
export async function parsePth(bytes: Uint8Array, opts: PthOptions = {}): Promise<ParsedPth> {
  const file = opts.file;
  const fail = (problem: string, tensor?: string) => new CheckpointError(problem, { file, tensor });
  if (!(bytes instanceof Uint8Array)) throw fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  sniff(bytes, fail);
  let budget = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const spend = (n: number, what: string, tensor?: string): void => {
    if (n > budget) throw fail(`${what} needs ${n} bytes, over the ${opts.maxBytes ?? DEFAULT_MAX_BYTES}-byte limit (maxBytes) with ${budget} left`, tensor);
    budget -= n;
  };

  const zip = openZip(bytes, { file });
  const prefix = archivePrefix(zip, fail);
  const read = async (name: string): Promise<Uint8Array> => {
    const entry = zip.entries.get(name);
    if (entry === undefined) throw fail(`no entry ${JSON.stringify(name)} in the archive`);
    // Stored entries are views of the file (free); inflating one spends its size.
    const out = await zip.read(name, entry.method === 0 ? Infinity : budget);
    if (entry.method !== 0) spend(out.length, `entry ${JSON.stringify(name)}`);
    return out;
  };

  let littleEndian = true;
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder !== undefined) {
    if (byteorder.uncompressedSize > 16) throw fail(`${prefix}byteorder is ${byteorder.uncompressedSize} bytes, expected "little" or "big"`);
    const order = new TextDecoder().decode(await read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw fail(`${prefix}byteorder says ${JSON.stringify(order)}, expected "little" or "big"`);
    littleEndian = order === 'little';
  }

  const pklName = `${prefix}data.pkl`;
  const root = unpickle(await read(pklName), { ...opts.pickle, file, entry: pklName });
  const { refs, extra } = walk(root, opts.maxDepth ?? 100, opts.maxNodes ?? 1_000_000, fail);

  // ============ tensors: check each view against its storage, then decode ============
  const storages = new Map<string, Promise<Uint8Array>>();
  const tensors = new Map<string, PthTensor>();
  for (const [name, t] of refs) {
    const s = t.storage;
    const size = DTYPE_BYTES[s.dtype];
    const entryName = `${prefix}data/${s.key}`;
    const entry = zip.entries.get(entryName);
    if (entry === undefined) throw fail(`its storage ${JSON.stringify(s.key)} has no entry ${JSON.stringify(entryName)} in the archive`, name);
    if (entry.uncompressedSize !== s.numel * size) {
      throw fail(`its storage ${JSON.stringify(s.key)} declares ${s.numel} ${s.dtype} elements (${s.numel * size} bytes) but ${entryName} holds ${entry.uncompressedSize} bytes`, name);
    }
    // The output budget is checked before the storage is read (or inflated).
    const numel = checkView(t, (problem) => fail(problem, name));
    spend(numel * (isInt(s.dtype) ? 12 : 4), `decoding ${s.dtype} ${formatShape(t.shape)}`, name);
    let data = storages.get(s.key);
    if (data === undefined) {
      data = read(entryName);
      storages.set(s.key, data);
    }
    tensors.set(name, decode(t, numel, await data, littleEndian, (problem) => fail(problem, name)));
  }
  return { tensors, extra };
}

/** Refuse, by name, the formats that are not torch.save zip archives but are often mistaken for them. */
function sniff(bytes: Uint8Array, fail: (problem: string) => CheckpointError): void {
  const resave = 'not supported: load it with trusted Python and re-save with torch.save (PyTorch ≥ 1.6), or convert it to safetensors';
  if (bytes.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => bytes[i] === b)) {
    throw fail(`legacy torch.save format (PyTorch < 1.6 or _use_new_zipfile_serialization=False) is ${resave}`);
  }
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw fail(`the tar-based torch.save format (PyTorch ≤ 0.3) is ${resave}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw fail(`a bare pickle (not a zip archive) is ${resave}`);
  }
}

/** The archive folder ("archive/", or the saved file's stem) holding data.pkl: exactly one. */
function archivePrefix(zip: ZipArchive, fail: (problem: string) => CheckpointError): string {
  const found: string[] = [];
  let torchscript = false;
  for (const name of zip.entries.keys()) {
    const m = /^([^/]*\/)?data\.pkl$/.exec(name);
    if (m !== null) found.push(m[1] ?? '');
    if (/^([^/]*\/)?(constants\.pkl|code\/)/.test(name)) torchscript = true;
  }
  if (found.length === 1) return found[0];
  if (found.length > 1) throw fail(`the archive has ${found.length} data.pkl entries, expected one`);
  if (torchscript) throw fail('a TorchScript archive (torch.jit.save) is not a torch.save checkpoint and is not supported');
  throw fail('the archive has no data.pkl: not a torch.save checkpoint');
}

// ============ walking the unpickled object ============

type Fail = (problem: string, tensor?: string) => CheckpointError;

/** Python's str() of a dict key, as a path component. */
function keyName(k: unknown): string {
  if (k === null) return 'None';
  if (k === true) return 'True';
  if (k === false) return 'False';
  return String(k);
}

function isOptimizerState(d: Map<unknown, unknown>): boolean {
  return d.has('state') && d.has('param_groups');
}

/**
 * Flatten dicts into dotted names: tensors to `refs`, other leaves to `extra`. Iterative, with
 * the containers on the current path tracked (a cycle is refused, never followed), the depth and
 * the number of visits bounded (a DAG of shared dicts cannot blow up exponentially).
 */
function walk(root: unknown, maxDepth: number, maxNodes: number, fail: Fail): { refs: [string, TorchTensor][]; extra: Record<string, unknown> } {
  if (!(root instanceof Map)) throw fail(`the checkpoint holds ${describe(root)}, expected a dict (a state dict or a dict of them)`);
  const refs: [string, TorchTensor][] = [];
  const extra: Record<string, unknown> = Object.create(null);
  const used = new Set<string>();
  const claim = (path: string): void => {
    if (used.has(path)) throw fail(`two entries flatten to the same name ${JSON.stringify(path.slice(0, 200))}`);
    used.add(path);
  };
  const counter = { visits: 0 };
  const onPath = new Set<unknown>();
  type Task = { exit: false; value: unknown; path: string; depth: number } | { exit: true; value: unknown };
  const tasks: Task[] = [{ exit: false, value: root, path: '', depth: 0 }];
  const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

  while (tasks.length > 0) {
    const task = tasks.pop() as Task;
    if (task.exit) {
      onPath.delete(task.value);
      continue;
    }
    const { value, path, depth } = task;
    if (++counter.visits > maxNodes) throw fail(`the checkpoint has more than ${maxNodes} values to walk (shared containers?)`);
    if (value instanceof TorchTensor) {
      claim(path);
      refs.push([path, value]);
      continue;
    }
    let children: [string, unknown][] | null = null;
    if (value instanceof Map) {
      if (path !== '' && isOptimizerState(value)) {
        claim(path);
        const state = value.get('state');
        extra[path] = `skipped: optimizer state (${state instanceof Map ? state.size : 0} parameter states)`;
        continue;
      }
      children = [...value].map(([k, v]) => [keyName(k), v]);
    } else if (Array.isArray(value) || value instanceof PyTuple) {
      // A list that holds tensors or dicts is walked with index names; other lists are values.
      const items = Array.isArray(value) ? value : value.items;
      if (items.some((v) => v instanceof TorchTensor || v instanceof Map)) children = items.map((v, i) => [String(i), v]);
    }
    if (children === null) {
      claim(path);
      extra[path] = plain(value, path, depth, maxDepth, counter, maxNodes, fail);
      continue;
    }
    const here = () => (path === '' ? 'the top-level dict' : JSON.stringify(path.slice(0, 200)));
    if (depth >= maxDepth) throw fail(`${here()}: containers nest deeper than the limit of ${maxDepth}`);
    if (onPath.has(value)) throw fail(`${here()} contains itself (a reference cycle)`);
    onPath.add(value);
    tasks.push({ exit: true, value });
    for (let i = children.length - 1; i >= 0; i--) {
      const [k, v] = children[i];
      tasks.push({ exit: false, value: v, path: join(path, k), depth: depth + 1 });
    }
  }
  return { refs, extra };
}

/**
 * A pickled value as plain data for `extra`: iterative and bounded like `walk`. A container
 * reached twice is converted once and shared; one that contains itself is refused.
 */
function plain(
  root: unknown,
  path: string,
  depth0: number,
  maxDepth: number,
  counter: { visits: number },
  maxNodes: number,
  fail: Fail,
): unknown {
  const here = JSON.stringify(path.slice(0, 200));
  const done = new Map<unknown, unknown>();
  const onPath = new Set<unknown>();
  let result: unknown;
  type Task = { exit: false; value: unknown; depth: number; set: (v: unknown) => void } | { exit: true; value: unknown; out: unknown };
  const tasks: Task[] = [{ exit: false, value: root, depth: depth0, set: (v) => (result = v) }];
  while (tasks.length > 0) {
    const task = tasks.pop() as Task;
    if (task.exit) {
      onPath.delete(task.value);
      done.set(task.value, task.out);
      continue;
    }
    const { value, depth, set } = task;
    if (++counter.visits > maxNodes) throw fail(`the checkpoint has more than ${maxNodes} values to walk (shared containers?)`);
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) {
      set(value);
      continue;
    }
    if (value instanceof TorchTensor) {
      set(`tensor ${value.storage.dtype} ${formatShape(value.shape)} (not loaded)`);
      continue;
    }
    if (value instanceof PyGlobal) {
      set(`global ${value.path}`);
      continue;
    }
    if (value instanceof TorchStorage) {
      set(`storage ${value.dtype} (not loaded)`);
      continue;
    }
    if (onPath.has(value)) throw fail(`${here}: a value contains itself (a reference cycle)`);
    if (done.has(value)) {
      set(done.get(value));
      continue;
    }
    if (depth >= maxDepth) throw fail(`${here}: containers nest deeper than the limit of ${maxDepth}`);
    let out: unknown;
    const children: [(v: unknown) => void, unknown][] = [];
    if (Array.isArray(value) || value instanceof PyTuple || value instanceof PySet) {
      const items: readonly unknown[] = Array.isArray(value) ? value : value.items;
      const arr: unknown[] = new Array(items.length);
      items.forEach((v, i) => children.push([(x) => (arr[i] = x), v]));
      out = arr;
    } else if (value instanceof Map || value instanceof PyObject) {
      const obj: Record<string, unknown> = Object.create(null);
      const entries: Iterable<[unknown, unknown]> = value instanceof Map ? value : value.attrs;
      for (const [k, v] of entries) {
        const key = keyName(k);
        children.push([(x) => (obj[key] = x), v]);
      }
      out = obj;
    } else {
      throw fail(`${here}: cannot represent ${describe(value)}`);
    }
    set(out);
    onPath.add(value);
    tasks.push({ exit: true, value, out });
    for (let i = children.length - 1; i >= 0; i--) tasks.push({ exit: false, value: children[i][1], depth: depth + 1, set: children[i][0] });
  }
  return result;
}

// ============ decoding ============

function isInt(dtype: TorchDType): boolean {
  return dtype !== 'F32' && dtype !== 'F64' && dtype !== 'F16' && dtype !== 'BF16';
}

/**
 * Check a strided view against its storage and return its element count. The view must stay
 * inside the storage and may not hold more elements than the storage (stride-0 "expanded"
 * views could otherwise turn a 4-byte storage into gigabytes of output).
 */
function checkView(t: TorchTensor, fail: (problem: string) => CheckpointError): number {
  let numel = 1;
  for (const d of t.shape) numel *= d;
  const view = `view (offset ${t.offset}, size ${formatShape(t.shape)}, stride ${formatShape(t.stride)})`;
  if (numel === 0) return 0;
  if (numel > t.storage.numel) throw fail(`${view} has ${numel} elements, more than its ${t.storage.numel}-element storage (expanded view: save .contiguous())`);
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i] - 1) * t.stride[i];
  if (!(last < t.storage.numel)) throw fail(`${view} reaches element ${last} of a ${t.storage.numel}-element storage`);
  return numel;
}

/** Element reader for a storage: index → value (exact for integers within ±2^53). */
function elementReader(dtype: TorchDType, bytes: Uint8Array, le: boolean, fail: (i: number) => CheckpointError): (i: number) => number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': return (i) => v.getFloat32(4 * i, le);
    case 'F64': return (i) => v.getFloat64(8 * i, le);
    case 'F16': {
      const table = f16Table();
      return (i) => table[v.getUint16(2 * i, le)];
    }
    case 'BF16': {
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      return (i) => {
        u[0] = v.getUint16(2 * i, le) << 16; // bf16 is the top half of an f32
        return f[0];
      };
    }
    case 'I64': return (i) => {
      const lo = v.getUint32(8 * i + (le ? 0 : 4), le);
      const hi = v.getInt32(8 * i + (le ? 4 : 0), le);
      // |value| < 2^53 exactly when hi is in [-2^21, 2^21).
      if (hi < -(2 ** 21) || hi >= 2 ** 21) throw fail(i);
      return hi * 2 ** 32 + lo;
    };
    case 'I32': return (i) => v.getInt32(4 * i, le);
    case 'I16': return (i) => v.getInt16(2 * i, le);
    case 'I8': return (i) => v.getInt8(i);
    case 'U8': return (i) => v.getUint8(i);
    case 'BOOL': return (i) => (v.getUint8(i) !== 0 ? 1 : 0);
  }
}

/** Gather a (checked) strided view into a contiguous row-major array. */
function decode(t: TorchTensor, numel: number, storage: Uint8Array, le: boolean, fail: (problem: string) => CheckpointError): PthTensor {
  const dtype = t.storage.dtype;
  const shape = t.shape.slice();
  const data = new Float32Array(numel);
  const ints = isInt(dtype) ? new Float64Array(numel) : undefined;
  if (numel === 0) return ints ? { dtype, shape, data, ints } : { dtype, shape, data };

  // Contiguous when each stride is the product of the sizes after it (size-1 dims excepted).
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && t.stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous && dtype === 'F32' && le === LITTLE_ENDIAN_HOST) {
    new Uint8Array(data.buffer).set(storage.subarray(4 * t.offset, 4 * (t.offset + numel)));
    return { dtype, shape, data };
  }
  const at = elementReader(dtype, storage, le, (i) => fail(`I64 element ${i} of its storage is outside ±2^53 and cannot be represented exactly`));
  const store = ints
    ? (i: number, x: number) => {
        data[i] = x;
        ints[i] = x;
      }
    : (i: number, x: number) => {
        data[i] = x;
      };
  if (contiguous) {
    for (let i = 0; i < numel; i++) store(i, at(t.offset + i));
  } else {
    // Odometer over the multi-index; `src` follows it through the strides.
    const dims = shape.length;
    const idx = new Array<number>(dims).fill(0);
    let src = t.offset;
    for (let i = 0; i < numel; i++) {
      store(i, at(src));
      for (let d = dims - 1; d >= 0; d--) {
        idx[d]++;
        src += t.stride[d];
        if (idx[d] < shape[d]) break;
        src -= t.stride[d] * shape[d];
        idx[d] = 0;
      }
    }
  }
  return ints ? { dtype, shape, data, ints } : { dtype, shape, data };
}
