// The .pth reader (src/models/zip.ts, pickle.ts, pth.ts): PyTorch-made fixtures
// (scripts/make-pth-fixtures.py) decoded bit for bit, DINO prefixes stripped with remapKeys,
// hostile files and hand-built pickles refused with a CheckpointError that names the global or
// the limit, and a mutation fuzz. CPU only: no GPU needed.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { mulberry32 } from './helpers/random.js';
import { CheckpointError, loadStateDict, remapKeys } from '../src/models/checkpoint.js';
import { parsePth, type ParsedPth, type PthOptions } from '../src/models/pth.js';
import { unpickle, PyTuple, type PickleOptions } from '../src/models/pickle.js';
import { crc32, openZip } from '../src/models/zip.js';

const DIR = join(import.meta.dirname, 'fixtures', 'pth');

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  f32_bits: number[];
  ints?: number[];
}
interface Expected {
  version: number;
  rebuild: string;
  files: Record<string, number>;
  tensors: Record<string, ExpectedTensor>;
  extra: Record<string, unknown>;
}

async function fixture(name: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(join(DIR, name)));
}

async function expectedFor(name: string): Promise<Expected> {
  const e = JSON.parse(await readFile(join(DIR, name), 'utf8')) as Expected;
  expect(e.version, `stale fixture: rebuild with ${e.rebuild}`).toBe(1);
  return e;
}

function checkTensors(parsed: ParsedPth, expected: Expected): void {
  expect([...parsed.tensors.keys()]).toEqual(Object.keys(expected.tensors));
  for (const [name, e] of Object.entries(expected.tensors)) {
    const t = parsed.tensors.get(name)!;
    expect(t.dtype, name).toBe(e.dtype);
    expect(t.shape, name).toEqual(e.shape);
    expect([...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)], name).toEqual(e.f32_bits);
    if (e.ints !== undefined) expect([...t.ints!], name).toEqual(e.ints);
  }
}

/** The CheckpointError parsePth throws (never RangeError / TypeError / …), within `ms`. */
async function pthError(bytes: Uint8Array, opts: PthOptions = {}, ms = 2000): Promise<CheckpointError> {
  const t0 = performance.now();
  try {
    await parsePth(bytes, opts);
  } catch (e) {
    expect(performance.now() - t0, 'hostile input must fail fast').toBeLessThan(ms);
    if (!(e instanceof CheckpointError)) throw new Error(`expected CheckpointError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected parsePth to throw');
}

function pickleError(bytes: Uint8Array, opts: PickleOptions = {}): CheckpointError {
  try {
    unpickle(bytes, opts);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw new Error(`expected CheckpointError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected unpickle to throw');
}

// ============ building test files by hand ============

/** Pickle bytes from parts: strings are opcodes / raw latin-1 text, arrays raw bytes. */
function pk(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (let i = 0; i < p.length; i++) out.push(p.charCodeAt(i));
    else out.push(...p);
  }
  return new Uint8Array(out);
}
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const uni = (s: string) => {
  const b = new TextEncoder().encode(s);
  return pk('X', u32(b.length), b);
};
const int = (n: number) => pk('J', u32(n));

type TensorSpec = { key?: string; type?: string; numel: number; offset?: number; size: number[]; stride: number[] };

/** The argument tuple (storage, offset, size, stride, False, OrderedDict()) of `_rebuild_tensor_v2`. */
function tensorArgs(t: TensorSpec): Uint8Array {
  const tuple = (xs: number[]) => pk('(', ...xs.map(int), 't');
  return pk(
    '(',
    pk('(', uni('storage'), `ctorch\n${t.type ?? 'FloatStorage'}\n`, uni(t.key ?? '0'), uni('cpu'), int(t.numel), 'tQ'),
    int(t.offset ?? 0), tuple(t.size), tuple(t.stride), '\x89ccollections\nOrderedDict\n)R', 't',
  );
}

/** `_rebuild_tensor_v2(…)` over a persistent storage id. */
const tensorOp = (t: TensorSpec) => pk('ctorch._utils\n_rebuild_tensor_v2\n', tensorArgs(t), 'R');

/** A stored zip with correct CRCs, as torch lays it out (the flags and alignment aside). */
function zipOf(entries: [string, Uint8Array][], opts: { method?: (name: string) => 0 | 8; flags?: number } = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const method = opts.method?.(name) ?? 0;
    const payload = method === 8 ? new Uint8Array(deflateRawSync(data)) : data;
    const nameB = new TextEncoder().encode(name);
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameB.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, opts.flags ?? 0, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, payload.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameB.length, true);
    local.set(nameB, 30);
    const cd = new Uint8Array(46 + nameB.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, opts.flags ?? 0, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, payload.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameB.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nameB, 46);
    chunks.push(local, payload);
    central.push(cd);
    offset += local.length + payload.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...chunks, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of all) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
/** A checkpoint {'w': tensor} over storage '0' holding `storage`. */
const pthWith = (tensor: Uint8Array, storage: Uint8Array, more: [string, Uint8Array][] = []) =>
  zipOf([['archive/data.pkl', pk('\x80\x02}', uni('w'), tensor, 's.')], ['archive/data/0', storage], ...more]);

// ============ fixtures made by PyTorch ============

const vitNames = (depth: number) => {
  const names = ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias'];
  for (let b = 0; b < depth; b++) {
    for (const n of ['norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias',
      'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias']) names.push(`blocks.${b}.${n}`);
  }
  return [...names, 'norm.weight', 'norm.bias'];
};

/** Shapes of scripts/make-pth-fixtures.py's TinyViT (D 4, patch 2, 5 tokens, MLP 8), by DINO's names. */
function vitShapes(depth: number): Map<string, number[]> {
  const d = 4;
  const shapes: Record<string, number[]> = {
    cls_token: [1, 1, d], pos_embed: [1, 5, d], 'patch_embed.proj.weight': [d, 3, 2, 2], 'patch_embed.proj.bias': [d],
    'norm.weight': [d], 'norm.bias': [d],
  };
  const block: Record<string, number[]> = {
    'norm1.weight': [d], 'norm1.bias': [d], 'attn.qkv.weight': [3 * d, d], 'attn.qkv.bias': [3 * d], 'attn.proj.weight': [d, d],
    'attn.proj.bias': [d], 'norm2.weight': [d], 'norm2.bias': [d], 'mlp.fc1.weight': [2 * d, d], 'mlp.fc1.bias': [2 * d],
    'mlp.fc2.weight': [d, 2 * d], 'mlp.fc2.bias': [d],
  };
  for (let b = 0; b < depth; b++) for (const [k, s] of Object.entries(block)) shapes[`blocks.${b}.${k}`] = s;
  return new Map(vitNames(depth).map((n) => [n, shapes[n]]));
}

describe('pth PyTorch fixtures (scripts/make-pth-fixtures.py)', () => {
  let tiny: Expected;
  let full: Expected;
  beforeAll(async () => {
    tiny = await expectedFor('tiny-vit.expected.json');
    full = await expectedFor('dino-full.expected.json');
  });

  for (const file of ['tiny-vit.pth', 'tiny-vit-proto4.pth', 'tiny-vit-deflate.pth', 'tiny-vit-zip64.pth']) {
    it(`${file}: every tensor bit-exact (non-contiguous, shared storage, f16, bf16, f64, int64)`, async () => {
      const bytes = await fixture(file);
      expect(bytes.length).toBe(tiny.files[file]);
      const parsed = await parsePth(bytes, { file });
      checkTensors(parsed, tiny);
      expect(Object.keys(parsed.extra)).toEqual([]);
    });
  }

  it('tiny-vit.pth loads into the ViT names with loadStateDict', async () => {
    const parsed = await parsePth(await fixture('tiny-vit.pth'));
    parsed.tensors.delete('extra_scalar');
    parsed.tensors.delete('extra_steps');
    const weights = loadStateDict(vitShapes(2), parsed.tensors);
    expect([...weights.keys()]).toEqual(vitNames(2));
    // The transposed tensor comes back row-major: element [r][c] of the (12, 4) weight.
    const qkv = parsed.tensors.get('blocks.0.attn.qkv.weight')!;
    expect(qkv.shape).toEqual([12, 4]);
  });

  it('dino-full.pth: student, teacher and center tensors; epoch, args, scaler in extra; optimizer skipped', async () => {
    const bytes = await fixture('dino-full.pth');
    expect(bytes.length).toBe(full.files['dino-full.pth']);
    const parsed = await parsePth(bytes, { file: 'dino-full.pth' });
    checkTensors(parsed, full);
    expect(parsed.tensors.has('teacher.backbone.cls_token')).toBe(true);
    expect(parsed.tensors.get('dino_loss.center')!.shape).toEqual([1, 5]);
    expect(parsed.tensors.get('teacher.head.last_layer.weight_g')!.shape).toEqual([5, 1]);
    const { optimizer, ...rest } = { ...parsed.extra };
    expect(optimizer).toMatch(/^skipped: optimizer state \(\d+ parameter states\)$/);
    const { optimizer: _, ...expectedRest } = full.extra;
    expect(rest).toEqual(expectedRest);
    expect(parsed.extra.epoch).toBe(7);
    expect((parsed.extra.args as Record<string, unknown>).global_crops_scale).toEqual([0.4, 1.0]);
    expect(Object.getPrototypeOf(parsed.extra.args)).toBe(null);
  });

  it('dino-full.pth: remapKeys strips the DDP / wrapper prefixes to DINO ViT names', async () => {
    const parsed = await parsePth(await fixture('dino-full.pth'));
    const pick = (prefix: string) => new Map([...parsed.tensors].filter(([k]) => k.startsWith(prefix)));
    const teacher = remapKeys(pick('teacher.backbone.'), { stripPrefixes: ['teacher.', 'backbone.'] });
    const student = remapKeys(pick('student.module.backbone.'), { stripPrefixes: ['student.', 'module.', 'backbone.'] });
    expect([...teacher.keys()]).toEqual(vitNames(1));
    expect([...student.keys()]).toEqual(vitNames(1));
    loadStateDict(vitShapes(1), teacher);
    loadStateDict(vitShapes(1), student);
    // The teacher started as a copy of the student; the optimizer step moved only the student.
    expect(teacher.get('pos_embed')!.data).not.toEqual(student.get('pos_embed')!.data);
    const head = remapKeys(pick('teacher.head.'), { stripPrefixes: ['teacher.'] });
    expect([...head.keys()]).toContain('head.last_layer.weight_v');
  });
});

// ============ hostile files ============

describe('pth hostile fixtures', () => {
  it('evil-os-system.pth: GLOBAL os.system is refused by name', async () => {
    const e = await pthError(await fixture('evil-os-system.pth'), { file: 'evil-os-system.pth' });
    expect(e.message).toMatch(/^checkpoint evil-os-system\.pth: pickle archive\/data\.pkl: byte 2 \(GLOBAL\): global os\.system is not allowed/);
  });

  it('evil-nested-list.pth: 100,000 nested lists stop at the depth limit, no stack overflow', async () => {
    const e = await pthError(await fixture('evil-nested-list.pth'));
    expect(e.message).toMatch(/"x": containers nest deeper than the limit of 100/);
  });

  it('evil-nested-marks.pth: 100,000 nested MARKs stop at the MARK limit', async () => {
    const e = await pthError(await fixture('evil-nested-marks.pth'));
    expect(e.message).toMatch(/MARKs nest deeper than the limit of 1000/);
  });

  it('evil-bomb.pth: an entry declared as 16 bytes that inflates to 16 MB stops at 16', async () => {
    const e = await pthError(await fixture('evil-bomb.pth'), {}, 1000);
    expect(e.message).toMatch(/entry "archive\/data\/0": inflates to more than its declared 16 bytes/);
  });

  it('bomb-ratio.pth: a 1000:1 entry is refused under a byte limit before inflating, loads without', async () => {
    const bytes = await fixture('bomb-ratio.pth');
    // The decoded tensor alone is over the limit: refused before the entry is touched.
    const e = await pthError(bytes, { maxBytes: 1 << 20 }, 200);
    expect(e.message).toMatch(/tensor "w": decoding F32 \(4194304\) needs 16777216 bytes, over the 1048576-byte limit/);
    // The tensor fits, but not the inflated entry as well: refused before inflating.
    const e2 = await pthError(bytes, { maxBytes: 20 << 20 }, 200);
    expect(e2.message).toMatch(/entry "archive\/data\/0": declares 16777216 uncompressed bytes, over the limit of 4194304/);
    const parsed = await parsePth(bytes);
    const w = parsed.tensors.get('w')!;
    expect(w.shape).toEqual([4 << 20]);
    expect(w.data.every((x) => x === 0)).toBe(true);
  });

  it('evil-truncated.pth: half a file is refused', async () => {
    const e = await pthError(await fixture('evil-truncated.pth'));
    expect(e.message).toMatch(/no end-of-central-directory record/);
  });
});

describe('pickle VM: globals, opcodes and limits', () => {
  const refuse: [string, Uint8Array, RegExp][] = [
    ['STACK_GLOBAL builtins.eval', pk('\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93', uni('1'), '\x85R.'), /global builtins\.eval is not allowed/],
    ['GLOBAL __builtin__.getattr', pk('\x80\x02c__builtin__\ngetattr\n.'), /global __builtin__\.getattr is not allowed/],
    ['torch.storage._load_from_bytes', pk('\x80\x02ctorch.storage\n_load_from_bytes\n.'), /global torch\.storage\._load_from_bytes is not allowed/],
    ['posix.system', pk('\x80\x02cposix\nsystem\n.'), /global posix\.system is not allowed/],
    ['a hostile global name is quoted', pk('\x80\x02cos\x01\nx\n.'), /printable ASCII/],
    ['calling a storage type', pk('\x80\x02ctorch\nFloatStorage\n)R.'), /global torch\.FloatStorage cannot be called/],
    ['instantiating a storage type', pk('\x80\x02ctorch\nFloatStorage\n)\x81.'), /cannot instantiate the global torch\.FloatStorage/],
    ['NEWOBJ with arguments', pk('\x80\x02cargparse\nNamespace\n', int(1), '\x85\x81.'), /takes no arguments/],
    ['INST', pk('\x80\x02(ios\nsystem\n.'), /INST builds arbitrary objects/],
    ['OBJ', pk('\x80\x02(o.'), /OBJ builds arbitrary objects/],
    ['EXT1', pk('\x80\x02\x82\x01.'), /extension registry/],
    ['NEXT_BUFFER', pk('\x80\x05\x97.'), /out-of-band buffers/],
    ['text INT', pk('I1\n.'), /protocol-0 text opcodes/],
    ['text PERSID', pk('P0\n.'), /text persistent ids/],
    ['unknown opcode', pk('\x80\x02\xff.'), /unknown opcode 0xff/],
    ['protocol 6', pk('\x80\x06N.'), /protocol 6 is not supported/],
    ['stack underflow', pk('\x80\x02.'), /stack underflow/],
    ['pop below a MARK', pk('\x80\x02N(a.'), /stack underflow/],
    ['missing memo entry', pk('\x80\x02h\x05.'), /memo has no entry 5/],
    ['no STOP', pk('\x80\x02N'), /without STOP/],
    ['str past the end', pk('\x80\x02X', u32(0xfffffff0), 'ab.'), /over the 16777216-byte limit/],
    ['BINBYTES8 of 2^60', pk('\x80\x04\x8e', [0, 0, 0, 0, 0, 0, 0, 0x10], '.'), /over the 16777216-byte limit/],
    ['BINUNICODE8 past 2^53', pk('\x80\x04\x8d', [1, 0, 0, 0, 0, 0, 0xf0, 0xff], '.'), /over the 16777216-byte limit/],
    ['LONG4 of 10^9 bytes', pk('\x80\x02\x8b', u32(1e9), '.'), /integer of 1000000000 bytes is over the limit of 64/],
    ['LONG4 negative length', pk('\x80\x02\x8b', u32(-5), '.'), /negative length/],
    ['FRAME past the end', pk('\x80\x04\x95', [0xff, 0xff, 0, 0, 0, 0, 0, 0], 'N.'), /frame of 65535 bytes runs past the end/],
    ['invalid UTF-8', pk('\x80\x02X', u32(1), [0xff], '.'), /not valid UTF-8/],
    ['APPEND to a dict', pk('\x80\x02}Na.'), /cannot append to a dict/],
    ['SETITEM on a list', pk('\x80\x02]NNs.'), /cannot set items on a list/],
    ['list as a dict key', pk('\x80\x02}]Ns.'), /dict key a list of 0 is not supported/],
    ['BUILD on a list', pk('\x80\x02]}b.'), /cannot BUILD a list/],
    ['persistent id that is not a storage', pk('\x80\x02', uni('x'), 'Q.'), /persistent id is the str "x"/],
    ['storage of an unknown type', pk('\x80\x02(', uni('storage'), 'ctorch\nTensor\n', uni('0'), uni('cpu'), int(1), 'tQ.'), /storage type is the global torch\.Tensor/],
    ['one storage, two types', pk('\x80\x02(', uni('storage'), 'ctorch\nFloatStorage\n', uni('0'), uni('cpu'), int(1), 'tQ(', uni('storage'), 'ctorch\nLongStorage\n', uni('0'), uni('cpu'), int(1), 'tQ.'), /declared twice/],
    ['tensor with a negative size', pk('\x80\x02', tensorOp({ numel: 4, size: [-1], stride: [1] }), '.'), /size holds the number -1/],
    ['tensor with mismatched stride', pk('\x80\x02', tensorOp({ numel: 4, size: [2, 2], stride: [1] }), '.'), /size has 2 dimensions but stride 1/],
    ['_rebuild_parameter of a non-tensor', pk('\x80\x02ctorch._utils\n_rebuild_parameter\n(N\x89ccollections\nOrderedDict\n)RtR.'), /data is None, expected a tensor/],
    ['_rebuild_from_type_v2 with another type', pk('\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(ctorch._utils\n_rebuild_tensor_v2\nccollections\nOrderedDict\n)}tR.'), /new_type is the global collections\.OrderedDict/],
  ];
  for (const [what, bytes, message] of refuse) {
    it(`refuses ${what}`, () => {
      const e = pickleError(bytes, { entry: 'x/data.pkl', file: 'f.pth' });
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/^checkpoint f\.pth: pickle x\/data\.pkl: byte \d+ \(/);
    });
  }

  it('enforces the stack, MARK and memo limits', () => {
    expect(pickleError(pk('\x80\x02', 'N'.repeat(11), '.'), { maxStack: 10 }).message).toMatch(/stack is over the limit of 10 values/);
    expect(pickleError(pk('\x80\x02', '('.repeat(2000)), {}).message).toMatch(/MARKs nest deeper than the limit of 1000/);
    expect(pickleError(pk('\x80\x04', 'N\x94'.repeat(6), '.'), { maxMemo: 5 }).message).toMatch(/memo is over the limit of 5 entries/);
    expect(pickleError(pk('\x80\x02', uni('abcdef'), '.'), { maxStringBytes: 5 }).message).toMatch(/length 6 is over the 5-byte limit/);
  });

  it('decodes ints, floats, strs, bytes, tuples, sets and memo references', () => {
    const v = unpickle(pk(
      '\x80\x02(', 'K\x07', 'M\xff\xff', int(-2), '\x8a\x01\xff', '\x8a\x09', [0, 0, 0, 0, 0, 0, 0, 0, 1], 'G', [0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
      uni('é'), 'U\x02ab', 'C\x02\x01\x02', 'c_codecs\nencode\n', uni('\u00ff'), uni('latin1'), '\x86R',
      'c__builtin__\nset\n]K\x01a\x85R', '\x88\x89N', 'q\x00h\x00', 't.',
    )) as PyTuple;
    expect(v).toBeInstanceOf(PyTuple);
    expect(v.items.length).toBe(15);
    const [a, b, c, d, e, f, g, h, i, j, set, t, fl, n, m1] = v.items;
    expect([a, b, c, d, e, f, g, h]).toEqual([7, 65535, -2, -1, 2n ** 64n, 1.5, 'é', 'ab']);
    expect([...(i as Uint8Array)]).toEqual([1, 2]);
    expect([...(j as Uint8Array)]).toEqual([255]);
    expect((set as { items: unknown[] }).items).toEqual([1]);
    expect([t, fl, n, m1]).toEqual([true, false, null, null]);
  });
});

// ============ tensors and archives built by hand ============

describe('pth: views, storages and archive structure', () => {
  it('decodes offset, strides and 7-argument _rebuild_tensor_v2 (newer torch metadata)', async () => {
    const seven = pk('ctorch._utils\n_rebuild_tensor_v2\n(', pk('(', uni('storage'), 'ctorch\nFloatStorage\n', uni('0'), uni('cpu'), int(6), 'tQ'),
      int(1), pk('(', int(2), int(2), 't'), pk('(', int(1), int(3), 't'), '\x89ccollections\nOrderedDict\n)RNtR');
    const p = await parsePth(pthWith(seven, f32Bytes([0, 1, 2, 3, 4, 5])));
    // offset 1, size (2, 2), stride (1, 3): [[s1, s4], [s2, s5]].
    expect([...p.tensors.get('w')!.data]).toEqual([1, 4, 2, 5]);
  });

  it('reads Parameters, tensor subclasses via _rebuild_from_type_v2, and Namespace BUILD states', async () => {
    const param = pk('ctorch._utils\n_rebuild_parameter\n(', tensorOp({ numel: 2, size: [2], stride: [1] }), '\x88ccollections\nOrderedDict\n)RtR');
    const typed = pk('ctorch._tensor\n_rebuild_from_type_v2\n(ctorch._utils\n_rebuild_tensor_v2\nctorch.nn.parameter\nParameter\n',
      tensorArgs({ numel: 2, offset: 1, size: [1], stride: [1] }), '}tR');
    // Namespace with BUILD's (dict, slots) form: (None, {'lr': 0.5}).
    const ns = pk('cargparse\nNamespace\n)\x81N}', uni('lr'), 'G', [0x3f, 0xe0, 0, 0, 0, 0, 0, 0], 's\x86b');
    const pkl = pk('\x80\x02}(', uni('p'), param, uni('t'), typed, uni('args'), ns, 'u.');
    const p = await parsePth(zipOf([['a/data.pkl', pkl], ['a/data/0', f32Bytes([1, 2])]]));
    expect([...p.tensors.get('p')!.data]).toEqual([1, 2]);
    expect([...p.tensors.get('t')!.data]).toEqual([2]);
    expect({ ...(p.extra.args as object) }).toEqual({ lr: 0.5 });
  });

  it('reads big-endian storages when <archive>/byteorder says "big"', async () => {
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -2, false);
    const bytes = pthWith(tensorOp({ numel: 2, size: [2], stride: [1] }), be, [['archive/byteorder', new TextEncoder().encode('big')]]);
    expect([...(await parsePth(bytes)).tensors.get('w')!.data]).toEqual([1.5, -2]);
  });

  it('keeps names like __proto__ as names (Map keys, null-prototype extra)', async () => {
    const pkl = pk('\x80\x02}(', uni('__proto__'), tensorOp({ numel: 1, size: [], stride: [] }), uni('constructor'), '}', uni('__proto__'), 'K\x01su.');
    const p = await parsePth(zipOf([['a/data.pkl', pkl], ['a/data/0', f32Bytes([3])]]));
    expect([...p.tensors.get('__proto__')!.data]).toEqual([3]);
    expect(p.extra['constructor.__proto__']).toBe(1);
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('refuses views outside their storage, expanded views and size mismatches, naming the tensor', async () => {
    const cases: [Uint8Array, Uint8Array, RegExp][] = [
      [tensorOp({ numel: 4, offset: 2, size: [3], stride: [1] }), f32Bytes([0, 1, 2, 3]), /tensor "w": view \(offset 2, size \(3\), stride \(1\)\) reaches element 4 of a 4-element storage/],
      [tensorOp({ numel: 4, size: [2, 2], stride: [3, 1] }), f32Bytes([0, 1, 2, 3]), /reaches element 4/],
      [tensorOp({ numel: 1, size: [1000000], stride: [0] }), f32Bytes([0]), /has 1000000 elements, more than its 1-element storage/],
      [tensorOp({ numel: 5, size: [4], stride: [1] }), f32Bytes([0, 1, 2, 3]), /declares 5 F32 elements \(20 bytes\) but archive\/data\/0 holds 16 bytes/],
      [tensorOp({ key: '7', numel: 4, size: [4], stride: [1] }), f32Bytes([0, 1, 2, 3]), /its storage "7" has no entry "archive\/data\/7"/],
    ];
    for (const [tensor, storage, message] of cases) expect((await pthError(pthWith(tensor, storage), { file: 'v.pth' })).message).toMatch(message);
  });

  it('refuses int64 values past 2^53, naming the tensor', async () => {
    const s = new Uint8Array(8);
    new DataView(s.buffer).setBigInt64(0, 2n ** 60n, true);
    const e = await pthError(pthWith(tensorOp({ type: 'LongStorage', numel: 1, size: [1], stride: [1] }), s));
    expect(e.message).toMatch(/tensor "w": I64 element 0 of its storage is outside ±2\^53/);
  });

  it('refuses cycles and exponential sharing while walking', async () => {
    const selfList = pk('\x80\x02}', uni('x'), ']q\x00h\x00as.');
    expect((await pthError(zipOf([['a/data.pkl', selfList]]))).message).toMatch(/"x": a value contains itself/);
    const selfDict = pk('\x80\x02}q\x00', uni('x'), 'h\x00s.');
    expect((await pthError(zipOf([['a/data.pkl', selfDict]]))).message).toMatch(/"x" contains itself/);
    // d_{i+1} = {'a': d_i, 'b': d_i}, 60 levels: 2^60 paths from a 1 KB pickle.
    let p = '\x80\x02}q\x00';
    for (let i = 1; i <= 60; i++) p += `}q${String.fromCharCode(i)}(Xa\x00\x00\x00ah${String.fromCharCode(i - 1)}Xb\x00\x00\x00bh${String.fromCharCode(i - 1)}u`;
    const dag = pk(p.replace(/Xa\x00\x00\x00a/g, 'X\x01\x00\x00\x00a').replace(/Xb\x00\x00\x00b/g, 'X\x01\x00\x00\x00b'), '.');
    expect((await pthError(zipOf([['a/data.pkl', dag]]))).message).toMatch(/more than 1000000 values to walk/);
  });

  it('refuses legacy, bare-pickle, TorchScript and multi-pickle files by name', async () => {
    const legacy = pk([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], '.');
    expect((await pthError(legacy)).message).toMatch(/legacy torch\.save format/);
    expect((await pthError(pk('\x80\x02}.'))).message).toMatch(/a bare pickle/);
    const ts = zipOf([['m/constants.pkl', pk('\x80\x02).')], ['m/code/m.py', new Uint8Array(1)]]);
    expect((await pthError(ts)).message).toMatch(/TorchScript/);
    const two = zipOf([['a/data.pkl', pk('\x80\x02}.')], ['b/data.pkl', pk('\x80\x02}.')]]);
    expect((await pthError(two)).message).toMatch(/2 data\.pkl entries/);
    expect((await pthError(zipOf([['a/data.pkl', pk('\x80\x02].')]]))).message).toMatch(/holds a list of 0, expected a dict/);
  });

  it('refuses corrupt or hostile zip structures', async () => {
    const good = pthWith(tensorOp({ numel: 2, size: [2], stride: [1] }), f32Bytes([1, 2]));
    expect((await parsePth(good)).tensors.get('w')!.data).toEqual(new Float32Array([1, 2]));
    const cdAt = new DataView(good.buffer).getUint32(good.length - 6, true);
    const mutate = (f: (b: Uint8Array, v: DataView) => void) => {
      const b = good.slice();
      f(b, new DataView(b.buffer));
      return b;
    };
    const dataAt = good.length - 22 - 2 * 46 - 'archive/data.pkl'.length - 'archive/data/0'.length - 8; // second payload
    const cases: [Uint8Array, RegExp][] = [
      [mutate((b) => (b[dataAt] ^= 1)), /entry "archive\/data\/0": CRC-32 is 0x[0-9a-f]{8} but the directory says/],
      [mutate((b, v) => v.setUint16(cdAt + 10, 12, true)), /compression method 12 is not supported/],
      [mutate((b, v) => v.setUint16(cdAt + 8, 1, true)), /is encrypted/],
      [mutate((b, v) => (v.setUint16(good.length - 14, 500, true), v.setUint16(good.length - 12, 500, true))), /cannot hold the 500 entries/],
      [mutate((b, v) => v.setUint16(good.length - 12, 500, true)), /multi-disk/],
      [mutate((b, v) => v.setUint32(cdAt + 42, 40, true)), /no local header at byte 40/],
      [mutate((b, v) => v.setUint32(cdAt + 42, 0xfffffff0, true)), /local header offset 4294967280 is outside/],
      [mutate((b, v) => v.setUint32(cdAt, 0, true)), /central directory entry 0: bad signature/],
      [mutate((b, v) => v.setUint32(good.length - 6, 0x7fffffff, true)), /central directory .* runs past the end/],
      [mutate((b, v) => v.setUint32(cdAt + 24, 1 << 30, true)), /entry "archive\/data\.pkl": is stored but its sizes differ/],
    ];
    for (const [bytes, message] of cases) expect((await pthError(bytes)).message).toMatch(message);

    const dup = zipOf([['a/data.pkl', pk('\x80\x02}.')], ['a/data.pkl', pk('\x80\x02}.')]]);
    expect((await pthError(dup)).message).toMatch(/appears twice/);
    // A second central record whose local header lies inside the first entry's data: the
    // overlapping-entries bomb (many records sharing one payload).
    const inner = zipOf([['a/b', new Uint8Array(64)]]);
    const innerLocal = inner.subarray(0, 30 + 3 + 64);
    const outer = zipOf([['a/data.pkl', pk('\x80\x02}.')], ['a/a', innerLocal]]);
    const ov = new DataView(outer.buffer);
    const cdStart = ov.getUint32(outer.length - 6, true);
    const cdLen = ov.getUint32(outer.length - 10, true);
    const lhoA = ov.getUint32(cdStart + 46 + 'a/data.pkl'.length + 42, true);
    const rec = inner.slice(30 + 3 + 64, 30 + 3 + 64 + 46 + 3); // inner's central record for 'a/b'
    new DataView(rec.buffer).setUint32(42, lhoA + 30 + 3, true); // points into a/a's payload
    const bomb = new Uint8Array(outer.length + rec.length);
    bomb.set(outer.subarray(0, cdStart + cdLen));
    bomb.set(rec, cdStart + cdLen);
    bomb.set(outer.subarray(cdStart + cdLen), cdStart + cdLen + rec.length);
    const bv = new DataView(bomb.buffer);
    bv.setUint16(bomb.length - 14, 3, true);
    bv.setUint16(bomb.length - 12, 3, true);
    bv.setUint32(bomb.length - 10, cdLen + rec.length, true);
    expect((await pthError(bomb)).message).toMatch(/entries "a\/a" and "a\/b" overlap/);
  });

  it('reads deflated entries and refuses bad deflate data and impossible ratios', async () => {
    const files: [string, Uint8Array][] = [['archive/data.pkl', pk('\x80\x02}', uni('w'), tensorOp({ numel: 3, size: [3], stride: [1] }), 's.')], ['archive/data/0', f32Bytes([1, 2, 3])]];
    const deflated = zipOf(files, { method: () => 8 });
    expect([...(await parsePth(deflated)).tensors.get('w')!.data]).toEqual([1, 2, 3]);
    const garbage = zipOf(files, { method: () => 8 });
    const cdAt = new DataView(garbage.buffer).getUint32(garbage.length - 6, true);
    const lho2 = new DataView(garbage.buffer).getUint32(cdAt + 46 + 'archive/data.pkl'.length + 42, true);
    garbage[lho2 + 30 + 'archive/data/0'.length] = 0xff; // invalid block type
    expect((await pthError(garbage)).message).toMatch(/entry "archive\/data\/0": invalid deflate data/);
    const liar = zipOf(files, { method: () => 8 });
    new DataView(liar.buffer).setUint32(cdAt + 24, 1 << 30, true); // data.pkl's uncompressed size
    expect((await pthError(liar)).message).toMatch(/declares 1073741824 bytes from \d+ deflated bytes, more than deflate can produce/);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const data = new TextEncoder().encode('The quick brown fox jumps over the lazy dog');
    expect(crc32(data)).toBe(0x414fa339);
    expect(crc32(data.subarray(7), crc32(data.subarray(0, 7)))).toBe(0x414fa339);
  });
});

// ============ fuzz ============

describe('pth mutation fuzz', () => {
  it('2000 byte flips / truncations of valid files and their pickles: load, or CheckpointError, fast', async () => {
    const bases = [await fixture('tiny-vit.pth'), await fixture('tiny-vit-proto4.pth')];
    // Each base's entries, to rebuild with correct CRCs after mutating the pickle: exercises the VM,
    // not just the CRC check.
    const entries = await Promise.all(bases.map(async (b) => {
      const z = openZip(b);
      return Promise.all([...z.entries.keys()].map(async (n) => [n, (await z.read(n)).slice()] as [string, Uint8Array]));
    }));
    const rnd = mulberry32(20240611);
    const pick = (n: number) => Math.floor(rnd() * n);
    let ok = 0;
    let refused = 0;
    let slowest = 0;
    const t0 = performance.now();
    for (let it = 0; it < 2000; it++) {
      const which = it % 2;
      let m: Uint8Array;
      const kind = pick(6);
      if (kind === 0) {
        m = bases[which].slice();
        for (let k = 1 + pick(4); k > 0; k--) m[pick(m.length)] = pick(256);
      } else if (kind === 1) {
        m = bases[which].slice(0, pick(bases[which].length));
      } else if (kind === 2) {
        // The directory and end records: the last ~40% of a torch file.
        m = bases[which].slice();
        const from = Math.floor(m.length * 0.6);
        for (let k = 1 + pick(3); k > 0; k--) m[from + pick(m.length - from)] = pick(256);
      } else {
        // Mutate data.pkl (flip / delete / duplicate / insert), then re-zip with valid CRCs.
        const files = entries[which].map(([n, d]) => [n, d] as [string, Uint8Array]);
        const i = files.findIndex(([n]) => n.endsWith('data.pkl'));
        let p = files[i][1].slice();
        const at = pick(p.length);
        const len = 1 + pick(8);
        if (kind === 3) for (let k = 1 + pick(3); k > 0; k--) p[pick(p.length)] = pick(256);
        else if (kind === 4) p = new Uint8Array([...p.subarray(0, at), ...p.subarray(Math.min(p.length, at + len))]);
        else {
          const ins = pick(2) === 0 ? p.subarray(pick(p.length), pick(p.length)) : new Uint8Array([pick(256)]);
          p = new Uint8Array([...p.subarray(0, at), ...ins, ...p.subarray(at)]);
        }
        files[i] = [files[i][0], p];
        m = zipOf(files);
      }
      const t1 = performance.now();
      try {
        const parsed = await parsePth(m);
        for (const [name, t] of parsed.tensors) expect(t.data.length, name).toBe(t.shape.reduce((a, b) => a * b, 1));
        ok++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`iteration ${it} (mutation ${kind}): ${String(e)}`);
        refused++;
      }
      slowest = Math.max(slowest, performance.now() - t1);
    }
    expect(ok).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(500);
    expect(slowest).toBeLessThan(1000);
    expect(performance.now() - t0).toBeLessThan(15_000);
  });
});
