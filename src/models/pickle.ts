// pickle: an interpreter for the Python pickles inside torch.save checkpoints (src/models/pth.ts),
// platform-neutral. It never evaluates anything.
//
// A pickle is a program for a stack machine: opcodes push values, build containers, and —
// the dangerous part — name Python globals (GLOBAL, STACK_GLOBAL) and call them (REDUCE,
// NEWOBJ, BUILD). Python's unpickler imports and calls whatever the file names, which is how a
// `.pth` runs `os.system`. This VM instead knows a fixed allow-list of the globals a state dict
// needs and what each one *means* as data: `_rebuild_tensor_v2(storage, offset, size, stride, …)`
// becomes a TorchTensor record, `OrderedDict()` a Map, `argparse.Namespace` an inert PyObject
// whose attributes are plain values. Naming any other global fails at once, before anything is
// called: "global os.system is not allowed".
//
// Supported: protocols 2–5 (what torch.save writes is 2; 4 and 5 add FRAME, MEMOIZE,
// STACK_GLOBAL, SHORT_BINUNICODE, the 8-byte lengths, sets). Refused: protocol-0 text opcodes,
// INST/OBJ, the extension registry (EXT1/2/4), out-of-band buffers (protocol 5), text PERSID.
//
// Bounded: the VM is a loop (no recursion, whatever the nesting); every length is checked
// against the bytes that remain before anything is allocated from it; the stack, the MARK
// nesting, the memo and string lengths have limits (PickleOptions). Values it returns can still
// be deeply nested or cyclic (APPEND into a memoized list): walkers must be iterative and
// bounded too (pth.ts is).
//
// Longer than the house's ~400 lines on purpose: the allow-list and the opcode switch are what a
// security review reads, and they read best side by side in one file.
import { CheckpointError } from './checkpoint.js';

// ============ values ============

/** Python dict / OrderedDict: insertion-ordered, keys restricted to hashable primitives. */
export type PyDict = Map<PyKey, unknown>;
export type PyKey = string | number | bigint | boolean | null;

/** Python tuple (lists are JS arrays). */
export class PyTuple {
  constructor(readonly items: readonly unknown[]) {}
}

export class PySet {
  readonly items: unknown[] = [];
  constructor(readonly frozen: boolean) {}
}

/** A global that passed the allow-list. Inert: it is data until an opcode applies it. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of an allowed class (argparse.Namespace): a record of attributes, nothing more. */
export class PyObject {
  readonly attrs = new Map<string, unknown>();
  constructor(readonly className: string) {}
}

/** Element types, named as in safetensors. */
export type TorchDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<TorchDType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** torch.<X>Storage → element type. */
const STORAGE_TYPES: Readonly<Record<string, TorchDType>> = {
  FloatStorage: 'F32', DoubleStorage: 'F64', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

/** A storage named by a persistent id: its bytes are the archive entry `data/<key>`. */
export class TorchStorage {
  constructor(
    readonly dtype: TorchDType,
    readonly key: string,
    readonly location: string,
    /** Elements, as the persistent id declares them. */
    readonly numel: number,
  ) {}
}

/** A strided view of a storage, as `_rebuild_tensor_v2` describes it. Not yet checked against the storage. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}
}

// ============ the allow-list ============

type Fail = (problem: string) => CheckpointError;
type Handler = (args: readonly unknown[], fail: Fail) => unknown;

const MAX_DIMS = 64;

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function counts(v: unknown, what: string, fail: Fail): number[] {
  if (!(v instanceof PyTuple)) throw fail(`${what} is ${describe(v)}, expected a tuple of sizes`);
  if (v.items.length > MAX_DIMS) throw fail(`${what} has ${v.items.length} dimensions, over the limit of ${MAX_DIMS}`);
  for (const d of v.items) if (!isCount(d)) throw fail(`${what} holds ${describe(d)}, expected non-negative integers`);
  return v.items.slice() as number[];
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: readonly unknown[], fail: Fail, v1 = false): TorchTensor {
  const n = args.length;
  if (v1 ? n !== 4 : n !== 6 && n !== 7) throw fail(`takes ${v1 ? '4' : '6 or 7'} arguments, got ${n}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof TorchStorage)) throw fail(`storage is ${describe(storage)}, expected a persistent storage reference`);
  if (!isCount(offset)) throw fail(`storage_offset is ${describe(offset)}, expected a non-negative integer`);
  const shape = counts(size, 'size', fail);
  const strides = counts(stride, 'stride', fail);
  if (strides.length !== shape.length) throw fail(`size has ${shape.length} dimensions but stride ${strides.length}`);
  const requiresGrad = v1 ? false : args[4];
  if (typeof requiresGrad !== 'boolean') throw fail(`requires_grad is ${describe(requiresGrad)}, expected a bool`);
  return new TorchTensor(storage, offset, shape, strides, requiresGrad);
}

function tensorArg(v: unknown, fail: Fail): TorchTensor {
  if (!(v instanceof TorchTensor)) throw fail(`data is ${describe(v)}, expected a tensor`);
  return v;
}

function latin1(s: unknown, fail: Fail): Uint8Array {
  if (typeof s !== 'string') throw fail(`expected a str, got ${describe(s)}`);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw fail('str has characters outside latin-1');
    out[i] = c;
  }
  return out;
}

function setOf(args: readonly unknown[], frozen: boolean, fail: Fail): PySet {
  const s = new PySet(frozen);
  if (args.length === 0) return s;
  const items = args[0];
  if (args.length !== 1 || !Array.isArray(items)) throw fail('expected one list argument');
  for (const v of items) s.items.push(v);
  return s;
}

/** Globals that REDUCE may apply, and what each means as data. */
const CALLABLES: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['torch._utils._rebuild_tensor_v2', (a, fail) => rebuildTensor(a, fail)],
  ['torch._utils._rebuild_tensor', (a, fail) => rebuildTensor(a, fail, true)],
  // Parameters are tensors here; requires_grad, hooks and Python attributes (state) are dropped.
  ['torch._utils._rebuild_parameter', (a, fail) => {
    if (a.length !== 3) throw fail(`takes 3 arguments, got ${a.length}`);
    return tensorArg(a[0], fail);
  }],
  ['torch._utils._rebuild_parameter_with_state', (a, fail) => {
    if (a.length !== 4) throw fail(`takes 4 arguments, got ${a.length}`);
    return tensorArg(a[0], fail);
  }],
  // Tensor subclasses: (func, new_type, args, state). Only plain Tensor / Parameter, and func
  // must itself be an allowed rebuild function.
  ['torch._tensor._rebuild_from_type_v2', (a, fail) => {
    if (a.length !== 4) throw fail(`takes 4 arguments, got ${a.length}`);
    const [func, type, inner] = a;
    if (!(type instanceof PyGlobal) || !TENSOR_TYPES.has(type.path)) throw fail(`new_type is ${describe(type)}, expected torch.Tensor or torch.nn.parameter.Parameter`);
    if (!(func instanceof PyGlobal) || !func.path.startsWith('torch._utils._rebuild_')) throw fail(`func is ${describe(func)}, expected a torch._utils rebuild function`);
    if (!(inner instanceof PyTuple)) throw fail(`args is ${describe(inner)}, expected a tuple`);
    return apply(func, inner.items, fail);
  }],
  ['collections.OrderedDict', (a, fail) => {
    const d: PyDict = new Map();
    if (a.length === 0) return d;
    if (a.length !== 1 || !Array.isArray(a[0])) throw fail('expected no arguments or one list of pairs');
    for (const pair of a[0] as unknown[]) {
      const kv = pair instanceof PyTuple ? pair.items : Array.isArray(pair) ? pair : null;
      if (kv === null || kv.length !== 2) throw fail(`expected (key, value) pairs, got ${describe(pair)}`);
      d.set(hashable(kv[0], fail), kv[1]);
    }
    return d;
  }],
  // Protocol 2 writes bytes as _codecs.encode(latin-1 str, 'latin1') and b'' as bytes().
  ['_codecs.encode', (a, fail) => {
    if (a.length !== 2 || (a[1] !== 'latin1' && a[1] !== 'latin-1')) throw fail("expected (str, 'latin1')");
    return latin1(a[0], fail);
  }],
  ['builtins.bytes', (a, fail) => {
    if (a.length !== 0) throw fail('expected no arguments');
    return new Uint8Array(0);
  }],
  ['builtins.bytearray', (a, fail) => {
    if (a.length === 0) return new Uint8Array(0);
    if (a.length !== 2 || (a[1] !== 'latin1' && a[1] !== 'latin-1')) throw fail("expected (str, 'latin-1')");
    return latin1(a[0], fail);
  }],
  ['builtins.set', (a, fail) => setOf(a, false, fail)],
  ['builtins.frozenset', (a, fail) => setOf(a, true, fail)],
]);

/** Classes NEWOBJ may instantiate (with no arguments): as inert records. */
const CLASSES: ReadonlyMap<string, () => unknown> = new Map<string, () => unknown>([
  ['argparse.Namespace', () => new PyObject('argparse.Namespace')],
  ['collections.OrderedDict', () => new Map()],
]);

/** Globals allowed only as data: storage types in persistent ids, tensor types in _rebuild_from_type_v2. */
const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);
const MARKERS = new Set([...Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`), ...TENSOR_TYPES]);

/** Every global a pickle may name. Everything else is refused where it is named. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([...CALLABLES.keys(), ...CLASSES.keys(), ...MARKERS]);

/** Python 2 module names that protocol ≤ 2 pickles use for Python 3's (fix_imports). */
const MODULE_ALIASES: Readonly<Record<string, string>> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

function apply(callable: unknown, args: readonly unknown[], fail: Fail): unknown {
  if (!(callable instanceof PyGlobal)) throw fail(`cannot call ${describe(callable)}`);
  const handler = CALLABLES.get(callable.path);
  if (handler === undefined) throw fail(`global ${callable.path} cannot be called`);
  return handler(args, (problem) => fail(`${callable.path}: ${problem}`));
}

function hashable(k: unknown, fail: Fail): PyKey {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  throw fail(`dict key ${describe(k)} is not supported (only str, int, float, bool, None)`);
}

/** A value for error messages: its type, and a short preview of strings and numbers. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return `the str ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `the number ${String(v).slice(0, 40)}`;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof PySet) return 'a set';
  if (v instanceof Uint8Array) return `bytes of length ${v.length}`;
  if (v instanceof PyGlobal) return `the global ${v.path}`;
  if (v instanceof PyObject) return `a ${v.className}`;
  if (v instanceof TorchStorage) return 'a storage';
  if (v instanceof TorchTensor) return 'a tensor';
  return typeof v;
}

/** A global's name for a message: plain when it looks like one, quoted and cut when hostile. */
function showGlobal(module: string, name: string): string {
  const path = `${module}.${name}`;
  return /^[\w.]{1,200}$/.test(path) ? path : JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
}

// ============ the VM ============

export interface PickleOptions {
  /** Named in error messages. */
  file?: string;
  /** The archive entry the pickle came from, named in error messages. */
  entry?: string;
  /** Most values on the stack. Default 1,000,000. */
  maxStack?: number;
  /** Deepest MARK nesting. Default 1000 (torch pickles nest 3 or 4 deep). */
  maxMarks?: number;
  /** Most memo entries. Default 1,000,000. */
  maxMemo?: number;
  /** Longest str / bytes. Default 16 MiB. */
  maxStringBytes?: number;
}

/** Opcode names for messages and the refusal table. */
const OPNAMES: Readonly<Record<number, string>> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const TEXT_OPCODES = 'protocol-0 text opcodes are not supported (torch.save writes protocol 2)';
const NEW_OBJECTS = 'builds arbitrary objects and is never allowed';
const REFUSED: Readonly<Record<number, string>> = {
  0x46: TEXT_OPCODES, 0x49: TEXT_OPCODES, 0x4c: TEXT_OPCODES, 0x53: TEXT_OPCODES, 0x56: TEXT_OPCODES, 0x67: TEXT_OPCODES, 0x70: TEXT_OPCODES,
  0x50: 'text persistent ids are not supported (torch.save writes BINPERSID)',
  0x69: `INST ${NEW_OBJECTS}`,
  0x6f: `OBJ ${NEW_OBJECTS}`,
  0x82: 'the extension registry is not supported', 0x83: 'the extension registry is not supported', 0x84: 'the extension registry is not supported',
  0x97: 'out-of-band buffers are not supported', 0x98: 'out-of-band buffers are not supported',
};

const MAX_LONG_BYTES = 64;
const MAX_GLOBAL_LINE = 256;

/**
 * Run a pickle and return the value STOP leaves. Persistent ids must be torch storages
 * ('storage', torch.<X>Storage, key, location, numel); tensors come back as TorchTensor
 * records that say where their data is (nothing is read from storages here).
 */
export function unpickle(bytes: Uint8Array, opts: PickleOptions = {}): unknown {
  const maxStack = opts.maxStack ?? 1_000_000;
  const maxMarks = opts.maxMarks ?? 1000;
  const maxMemo = opts.maxMemo ?? 1_000_000;
  const maxString = opts.maxStringBytes ?? 16 << 20;
  const where = opts.entry !== undefined ? `pickle ${opts.entry}` : 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const n = bytes.length;

  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const storages = new Map<string, TorchStorage>();
  let pos = 0;
  let opAt = 0;
  let op = 0;

  const fail = (problem: string, cause?: unknown): CheckpointError =>
    new CheckpointError(
      `${where}: byte ${opAt} (${OPNAMES[op] ?? `0x${op.toString(16).padStart(2, '0')}`}): ${problem}`,
      { file: opts.file },
      cause === undefined ? undefined : { cause },
    );

  const need = (k: number): number => {
    if (!(k <= n - pos)) throw fail(`needs ${k} more bytes but only ${n - pos} remain (truncated?)`);
    const at = pos;
    pos += k;
    return at;
  };
  /** A length field, checked against the limit and the bytes that remain before any allocation. */
  const length = (len: number): number => {
    if (len > maxString) throw fail(`length ${len} is over the ${maxString}-byte limit for a str or bytes`);
    if (len > n - pos) throw fail(`length ${len} runs past the end (${n - pos} bytes remain; truncated?)`);
    return len;
  };
  const u64 = (at: number): number => {
    const v = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
    return v <= Number.MAX_SAFE_INTEGER ? v : Infinity;
  };
  const text = (len: number): string => {
    const at = need(length(len));
    try {
      return utf8.decode(bytes.subarray(at, at + len));
    } catch (e) {
      throw fail('str is not valid UTF-8', e);
    }
  };
  const raw = (len: number): Uint8Array => {
    const at = need(length(len));
    return bytes.slice(at, at + len);
  };
  const line = (): string => {
    const nl = bytes.subarray(pos, pos + MAX_GLOBAL_LINE + 1).indexOf(0x0a);
    const end = nl < 0 ? -1 : pos + nl;
    if (end < 0) throw fail(`expected a newline-terminated name of at most ${MAX_GLOBAL_LINE} bytes`);
    let s = '';
    for (let i = pos; i < end; i++) {
      const c = bytes[i];
      if (c < 0x20 || c > 0x7e) throw fail('global names must be printable ASCII');
      s += String.fromCharCode(c);
    }
    pos = end + 1;
    return s;
  };

  const push = (v: unknown): void => {
    if (stack.length >= maxStack) throw fail(`stack is over the limit of ${maxStack} values`);
    stack.push(v);
  };
  const base = (): number => (marks.length > 0 ? marks[marks.length - 1] : 0);
  const pop = (): unknown => {
    if (stack.length <= base()) throw fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length <= base()) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw fail('no MARK to pop to');
    return stack.splice(m);
  };
  const put = (index: number): void => {
    if (!memo.has(index) && memo.size >= maxMemo) throw fail(`memo is over the limit of ${maxMemo} entries`);
    memo.set(index, top());
  };
  const get = (index: number): void => {
    if (!memo.has(index)) throw fail(`memo has no entry ${index}`);
    push(memo.get(index));
  };
  const int = (v: number | bigint): number | bigint => (typeof v === 'bigint' && v >= -(2n ** 53n) + 1n && v <= 2n ** 53n - 1n ? Number(v) : v);
  const long = (len: number): number | bigint => {
    if (len > MAX_LONG_BYTES) throw fail(`integer of ${len} bytes is over the limit of ${MAX_LONG_BYTES}`);
    const at = need(len);
    if (len === 0) return 0;
    let v = 0n;
    for (let i = len - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + len - 1] & 0x80) v -= 1n << BigInt(8 * len); // two's complement
    return int(v);
  };
  const global = (module: string, name: string): PyGlobal => {
    const mod = MODULE_ALIASES[module] ?? module;
    const path = `${mod}.${name}`;
    if (!ALLOWED_GLOBALS.has(path)) {
      throw fail(`global ${showGlobal(module, name)} is not allowed: a checkpoint may only name the globals of a state dict (docs/security.md)`);
    }
    return new PyGlobal(mod, name);
  };
  const persistent = (pid: unknown): TorchStorage => {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (items === null || items.length !== 5 || items[0] !== 'storage') {
      throw fail(`persistent id is ${describe(pid)}, expected ('storage', type, key, location, numel)`);
    }
    const [, type, key, location, numel] = items;
    const dtype = type instanceof PyGlobal && type.module === 'torch' ? STORAGE_TYPES[type.name] : undefined;
    if (dtype === undefined) throw fail(`storage type is ${describe(type)}, expected a torch.<X>Storage`);
    if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw fail(`storage key is ${describe(key)}, expected a short str`);
    if (typeof location !== 'string') throw fail(`storage location is ${describe(location)}, expected a str`);
    if (!isCount(numel)) throw fail(`storage size is ${describe(numel)}, expected a non-negative integer`);
    const seen = storages.get(key);
    if (seen !== undefined) {
      if (seen.dtype !== dtype || seen.numel !== numel) throw fail(`storage ${JSON.stringify(key)} is declared twice with different types or sizes`);
      return seen;
    }
    const s = new TorchStorage(dtype, key, location, numel);
    storages.set(key, s);
    return s;
  };
  const setItems = (target: unknown, items: readonly unknown[]): void => {
    if (!(target instanceof Map)) throw fail(`cannot set items on ${describe(target)}`);
    for (let i = 0; i < items.length; i += 2) target.set(hashable(items[i], fail), items[i + 1]);
  };
  const build = (target: unknown, state: unknown): void => {
    if (target instanceof PyObject) {
      let attrs = state;
      if (state instanceof PyTuple && state.items.length === 2) {
        const [dict, slots] = state.items;
        for (const part of [dict, slots]) {
          if (part !== null && !(part instanceof Map)) throw fail(`BUILD state part is ${describe(part)}, expected a dict or None`);
          if (part instanceof Map) build(target, part);
        }
        return;
      }
      if (!(attrs instanceof Map)) throw fail(`BUILD state for ${target.className} is ${describe(attrs)}, expected a dict`);
      for (const [k, v] of attrs) {
        if (typeof k !== 'string') throw fail(`attribute name ${describe(k)} is not a str`);
        target.attrs.set(k, v);
      }
      return;
    }
    // A state dict's `_metadata` (per-module versions) arrives as BUILD on the OrderedDict: dropped.
    if (target instanceof Map) return;
    throw fail(`cannot BUILD ${describe(target)}`);
  };

  for (;;) {
    if (pos >= n) throw fail('reached the end without STOP (truncated?)');
    opAt = pos;
    op = bytes[pos++];
    const refused = REFUSED[op];
    if (refused !== undefined) throw fail(refused);
    switch (op) {
      case 0x80: { // PROTO
        const p = bytes[need(1)];
        if (p > 5) throw fail(`protocol ${p} is not supported (2 to 5)`);
        break;
      }
      case 0x95: { // FRAME: a length prefix for buffered reading; the VM has every byte already.
        const len = u64(need(8));
        if (len > n - pos) throw fail(`frame of ${len} bytes runs past the end (truncated?)`);
        break;
      }
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        if (marks.length >= maxMarks) throw fail(`MARKs nest deeper than the limit of ${maxMarks}`);
        marks.push(stack.length);
        break;
      case 0x30: // POP: the top value, or the top MARK when none sits above it
        if (stack.length > base()) stack.pop();
        else if (marks.length > 0) marks.pop();
        else throw fail('stack underflow');
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: push(bytes[need(1)]); break; // BININT1
      case 0x4d: push(view.getUint16(need(2), true)); break; // BININT2
      case 0x8a: push(long(bytes[need(1)])); break; // LONG1
      case 0x8b: { // LONG4
        const len = view.getInt32(need(4), true);
        if (len < 0) throw fail(`negative length ${len}`);
        push(long(len));
        break;
      }
      case 0x47: push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x58: push(text(view.getUint32(need(4), true))); break; // BINUNICODE
      case 0x8c: push(text(bytes[need(1)])); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64(need(8)))); break; // BINUNICODE8
      case 0x54: { // BINSTRING (Python 2 str; decoded as UTF-8, as torch.load does)
        const len = view.getInt32(need(4), true);
        if (len < 0) throw fail(`negative length ${len}`);
        push(text(len));
        break;
      }
      case 0x55: push(text(bytes[need(1)])); break; // SHORT_BINSTRING
      case 0x42: push(raw(view.getUint32(need(4), true))); break; // BINBYTES
      case 0x43: push(raw(bytes[need(1)])); break; // SHORT_BINBYTES
      case 0x8e: push(raw(u64(need(8)))); break; // BINBYTES8
      case 0x96: push(raw(u64(need(8)))); break; // BYTEARRAY8
      case 0x29: push(new PyTuple([])); break; // EMPTY_TUPLE
      case 0x74: push(new PyTuple(popMark())); break; // TUPLE
      case 0x85: push(new PyTuple([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2 !== 0) throw fail('odd number of items for a dict');
        const d: PyDict = new Map();
        setItems(d, items);
        push(d);
        break;
      }
      case 0x8f: push(new PySet(false)); break; // EMPTY_SET
      case 0x91: { // FROZENSET
        const s = new PySet(true);
        for (const v of popMark()) s.items.push(v); // a loop: spreading 10^5 arguments overflows the call stack
        push(s);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet) || s.frozen) throw fail(`cannot add items to ${describe(s)}`);
        for (const v of items) s.items.push(v);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) throw fail(`cannot append to ${describe(list)}`);
        list.push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw fail(`cannot append to ${describe(list)}`);
        for (const v of items) list.push(v);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2 !== 0) throw fail('odd number of items for a dict');
        setItems(top(), items);
        break;
      }
      case 0x68: get(bytes[need(1)]); break; // BINGET
      case 0x6a: get(view.getUint32(need(4), true)); break; // LONG_BINGET
      case 0x71: put(bytes[need(1)]); break; // BINPUT
      case 0x72: put(view.getUint32(need(4), true)); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = line();
        push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('expected module and name strs');
        if (module.length > MAX_GLOBAL_LINE || name.length > MAX_GLOBAL_LINE) throw fail('global name is too long');
        push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop();
        if (!(args instanceof PyTuple)) throw fail(`arguments are ${describe(args)}, expected a tuple`);
        push(apply(callable, args.items, fail));
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        if (op === 0x92) {
          const kwargs = pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0) throw fail('keyword arguments are not supported');
        }
        const args = pop();
        const cls = pop();
        const make = cls instanceof PyGlobal ? CLASSES.get(cls.path) : undefined;
        if (make === undefined) throw fail(`cannot instantiate ${describe(cls)}`);
        if (!(args instanceof PyTuple) || args.items.length > 0) throw fail(`${(cls as PyGlobal).path} takes no arguments here`);
        push(make());
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x51: push(persistent(pop())); break; // BINPERSID
      default:
        throw fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or corrupt)`);
    }
  }
}
