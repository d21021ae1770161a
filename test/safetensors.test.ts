// Checkpoint I/O: the safetensors reader/writer (round trip, exact byte layout, a PyTorch-made
// fixture, hostile files, mutation fuzz), loadStateDict / remapKeys, and the atomic file
// helpers. CPU only: no GPU needed.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32, randomArray } from './helpers/random.js';
import {
  parseSafetensors,
  parseSafetensorsHeader,
  serializeSafetensors,
  type HostTensor,
} from '../src/models/safetensors.js';
import { CheckpointError, loadStateDict, remapKeys, StateDictMismatchError } from '../src/models/checkpoint.js';
import {
  ensureWritableDir,
  loadSafetensors,
  readFileChecked,
  saveSafetensors,
  writeFileAtomic,
} from '../src/node/files.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A file built by hand: length field (default: the header's length), header text, data bytes. */
function rawFile(header: unknown, data: Uint8Array | number = 0, lengthField?: bigint): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(bytes, 8 + text.length);
  return out;
}

function headerText(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
}

/** The error parse throws, asserting it is a CheckpointError (not RangeError / SyntaxError / TypeError). */
function parseError(bytes: Uint8Array, file?: string): CheckpointError {
  const t0 = performance.now();
  try {
    parseSafetensors(bytes, { file });
  } catch (e) {
    expect(performance.now() - t0, 'hostile input must fail fast').toBeLessThan(500);
    if (!(e instanceof CheckpointError)) throw new Error(`expected CheckpointError, got ${String(e)}`);
    return e;
  }
  throw new Error('expected parseSafetensors to throw');
}

const F32 = (shape: number[], begin: number, end?: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end ?? begin + 4 * numel(shape)],
});

describe('safetensors round trip', () => {
  it('random tensors (scalar, empty, odd sizes, dotted names) and metadata survive bit-exactly', () => {
    const shapes: Record<string, number[]> = {
      'blocks.0.attn.qkv.weight': [13, 7],
      'blocks.0.attn.qkv.bias': [13],
      'blocks.11.mlp.fc2.weight': [3, 5, 7],
      scalar: [],
      empty: [0],
      'empty.2d': [4, 0],
      '0': [1],
      '10': [2],
      'ünïcode.名前': [3],
    };
    const tensors = new Map<string, HostTensor>();
    let seed = 1;
    for (const [name, shape] of Object.entries(shapes)) tensors.set(name, { shape, data: randomArray(numel(shape), seed++) });
    // Special values travel unchanged, NaN payload included (bytes are copied, not converted).
    const special = new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e-45, 3.4028234663852886e38]);
    new Uint32Array(special.buffer)[4] = 0x7fc01234;
    tensors.set('special', { shape: [7], data: special });
    const metadata = { format: 'pt', epoch: '3', note: 'quotes " and \\ and\nnewline' };

    const bytes = serializeSafetensors(tensors, metadata);
    const back = parseSafetensors(bytes);
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const b = back.tensors.get(name)!;
      expect(b.dtype).toBe('F32');
      expect(b.shape, name).toEqual(t.shape);
      expect(new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length)).toEqual(
        new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length),
      );
    }
    expect({ ...back.metadata }).toEqual(metadata);
    expect(Object.getPrototypeOf(back.metadata)).toBe(null);
  });

  it('accepts a plain record and subarray views; output does not alias the input', () => {
    const big = randomArray(20, 5);
    const bytes = serializeSafetensors({ a: { shape: [2, 3], data: big.subarray(4, 10) } });
    const back = parseSafetensors(bytes);
    expect(Array.from(back.tensors.get('a')!.data)).toEqual(Array.from(big.subarray(4, 10)));
    bytes.fill(0);
    expect(Array.from(back.tensors.get('a')!.data)).toEqual(Array.from(big.subarray(4, 10)));
  });

  it('parses a view at an odd byteOffset inside a larger buffer', () => {
    const bytes = serializeSafetensors({ w: { shape: [5], data: randomArray(5, 21) } });
    const host = new Uint8Array(bytes.length + 10);
    host.set(bytes, 3);
    const back = parseSafetensors(host.subarray(3, 3 + bytes.length));
    expect(Array.from(back.tensors.get('w')!.data)).toEqual(Array.from(randomArray(5, 21)));
  });

  it('reads F32 data at an unaligned offset and with gaps between tensors', () => {
    const data = new Uint8Array(3 + 8 + 5 + 4);
    const dv = new DataView(data.buffer);
    dv.setFloat32(3, 1.5, true);
    dv.setFloat32(7, -2.25, true);
    dv.setFloat32(16, 7, true);
    const f = rawFile({ a: F32([2], 3), b: F32([1], 16) }, data);
    const back = parseSafetensors(f);
    expect(Array.from(back.tensors.get('a')!.data)).toEqual([1.5, -2.25]);
    expect(Array.from(back.tensors.get('b')!.data)).toEqual([7]);
  });

  it('writer refuses bad input with CheckpointError', () => {
    const bad: [string, HostTensor][] = [
      ['len', { shape: [2, 2], data: new Float32Array(3) }],
      ['neg', { shape: [-1], data: new Float32Array(0) }],
      ['frac', { shape: [1.5], data: new Float32Array(1) }],
      ['f64', { shape: [1], data: new Float64Array(1) as unknown as Float32Array }],
      ['__metadata__', { shape: [1], data: new Float32Array(1) }],
    ];
    for (const [name, t] of bad) {
      expect(() => serializeSafetensors(new Map([[name, t]])), name).toThrow(CheckpointError);
    }
    expect(() => serializeSafetensors({}, { k: 5 as unknown as string })).toThrow(CheckpointError);
  });
});

describe('safetensors byte layout', () => {
  it('length field, space padding to 8, sorted names, contiguous offsets, metadata first', () => {
    const tensors = new Map<string, HostTensor>([
      ['b', { shape: [3], data: new Float32Array([1, 2, 3]) }],
      ['a.x', { shape: [2, 1], data: new Float32Array([4, 5]) }],
      ['a', { shape: [], data: new Float32Array([6]) }],
      ['Z', { shape: [0], data: new Float32Array(0) }],
    ]);
    const bytes = serializeSafetensors(tensors, { format: 'pt' });
    const dv = new DataView(bytes.buffer);
    const n = dv.getUint32(0, true);
    expect(dv.getUint32(4, true)).toBe(0);
    expect(n % 8).toBe(0);
    expect((8 + n) % 8).toBe(0);
    const text = headerText(bytes);
    const trimmed = text.trimEnd();
    expect(n - trimmed.length).toBeLessThan(8);
    expect(text.slice(trimmed.length)).toMatch(/^ *$/);
    expect(trimmed).toBe(
      '{"__metadata__":{"format":"pt"},' +
        '"Z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' +
        '"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
        '"a.x":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]},' +
        '"b":{"dtype":"F32","shape":[3],"data_offsets":[12,24]}}',
    );
    expect(bytes.length).toBe(8 + n + 24);
    const data = new DataView(bytes.buffer, 8 + n);
    expect([0, 1, 2, 3, 4, 5].map((i) => data.getFloat32(4 * i, true))).toEqual([6, 4, 5, 1, 2, 3]);
    const h = parseSafetensorsHeader(bytes);
    expect(h.dataStart).toBe(8 + n);
    expect(h.tensors.get('a.x')!.dataOffsets).toEqual([4, 12]);
  });

  it('an empty state dict is a valid file ("{}" padded to 8)', () => {
    const bytes = serializeSafetensors(new Map());
    expect(bytes.length).toBe(16);
    expect(headerText(bytes)).toBe('{}      ');
    expect(parseSafetensors(bytes).tensors.size).toBe(0);
  });
});

describe('safetensors PyTorch fixture (scripts/make-safetensors-fixture.py)', () => {
  interface Expected {
    version: number;
    rebuild: string;
    file_bytes: number;
    header_bytes: number;
    metadata: Record<string, string>;
    order: string[];
    tensors: Record<string, { dtype: string; shape: number[]; f32_bits: number[]; ints?: number[] }>;
  }
  let expected: Expected;
  let bytes: Uint8Array;
  beforeAll(async () => {
    expected = JSON.parse(await readFile(join(FIXTURES, 'tiny.expected.json'), 'utf8'));
    bytes = new Uint8Array(await readFile(join(FIXTURES, 'tiny.safetensors')));
  });

  it('matches the values PyTorch wrote, bit for bit (F32, F16, BF16, F64 -> f32; I64, I32 exact)', () => {
    expect(expected.version, `stale fixture: rebuild with ${expected.rebuild}`).toBe(1);
    expect(bytes.length).toBe(expected.file_bytes);
    const parsed = parseSafetensors(bytes);
    expect({ ...parsed.metadata }).toEqual(expected.metadata);
    expect([...parsed.tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    const dtypes = new Set<string>();
    for (const [name, e] of Object.entries(expected.tensors)) {
      const t = parsed.tensors.get(name)!;
      dtypes.add(t.dtype);
      expect(t.dtype, name).toBe(e.dtype);
      expect(t.shape, name).toEqual(e.shape);
      expect(t.data.length, name).toBe(e.f32_bits.length);
      const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
      for (let i = 0; i < e.f32_bits.length; i++) {
        if (Number.isNaN(t.data[i])) {
          const eb = e.f32_bits[i];
          expect((eb & 0x7f800000) === 0x7f800000 && (eb & 0x7fffff) !== 0, `${name}[${i}] NaN`).toBe(true);
        } else {
          expect(bits[i], `${name}[${i}]`).toBe(e.f32_bits[i]);
        }
      }
      if (e.ints !== undefined) expect(Array.from(t.ints!), name).toEqual(e.ints);
    }
    expect([...dtypes].sort()).toEqual(['BF16', 'F16', 'F32', 'F64', 'I32', 'I64']);
    expect(parsed.tensors.get('index')!.ints![2]).toBe(2 ** 40 + 3);
  });

  it('follows the writer conventions we copy (8-aligned data start)', () => {
    const h = parseSafetensorsHeader(bytes);
    expect(h.dataStart).toBe(8 + expected.header_bytes);
    expect(h.dataStart % 8).toBe(0);
  });

  it('an f32-only subset written by our writer is byte-identical to the same layout by hand', () => {
    // Our writer sorts by name only; the F32 tensors of the fixture, all 4 bytes, share that order.
    const parsed = parseSafetensors(bytes);
    const f32 = new Map([...parsed.tensors].filter(([, t]) => t.dtype === 'F32'));
    const ours = parseSafetensors(serializeSafetensors(f32));
    for (const [name, t] of f32) expect(Array.from(ours.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
  });
});

describe('safetensors hostile inputs throw CheckpointError, fast', () => {
  const good = () => serializeSafetensors({ w: { shape: [2, 3], data: randomArray(6, 9) } }, { format: 'pt' });

  it('truncated files', () => {
    const g = good();
    for (const len of [0, 1, 7, 8, 9, 20, g.length - 1]) {
      const e = parseError(g.subarray(0, len), 'x.safetensors');
      expect(e.message).toContain('x.safetensors');
    }
    expect(parseError(g.subarray(0, 5)).message).toMatch(/too short/);
    expect(parseError(g.subarray(0, g.length - 1)).message).toMatch(/tensor "w".*past the data section/);
  });

  it('header length beyond the file, and 10 GB in the 8-byte field', () => {
    expect(parseError(rawFile('{}', 0, 100n)).message).toMatch(/says 100 bytes but only 2 follow/);
    expect(parseError(rawFile('{}', 0, 10_000_000_000n)).message).toMatch(/over the 100000000-byte limit/);
    expect(parseError(rawFile('{}', 0, 0xffffffffffffffffn)).message).toMatch(/limit/);
    expect(() => parseSafetensors(rawFile('{}'), { maxHeaderBytes: 1 })).toThrow(CheckpointError);
  });

  it('non-JSON, non-UTF-8, and non-object headers', () => {
    expect(parseError(rawFile('{"a": ')).message).toMatch(/not valid JSON/);
    expect(parseError(rawFile('')).message).toMatch(/not valid JSON/);
    const badUtf8 = rawFile('{"a":1}');
    badUtf8[10] = 0xff;
    expect(parseError(badUtf8).message).toMatch(/UTF-8/);
    expect(parseError(rawFile([F32([1], 0)], 4)).message).toMatch(/an array, expected a JSON object/);
    expect(parseError(rawFile('null')).message).toMatch(/null/);
    expect(parseError(rawFile('"str"')).message).toMatch(/string/);
    expect(parseError(rawFile('5')).message).toMatch(/number/);
    expect(parseError(rawFile('['.repeat(100_000))).message).toMatch(/JSON/);
  });

  it('bad entries: dtype, shape, offsets', () => {
    const cases: [unknown, RegExp][] = [
      [{ t: 'x' }, /tensor "t": entry is the string/],
      [{ t: { ...F32([1], 0), dtype: 'F8' } }, /unknown dtype "F8"/],
      [{ t: { ...F32([1], 0), dtype: 'U8' } }, /unsupported dtype "U8"/],
      [{ t: { ...F32([1], 0), dtype: 'constructor' } }, /unknown dtype "constructor"/],
      [{ t: { ...F32([1], 0), dtype: 4 } }, /dtype is number/],
      [{ t: { shape: [1], data_offsets: [0, 4] } }, /dtype is undefined/],
      [{ t: F32([-1], 0, 4) }, /non-negative integers/],
      [{ t: F32([1.5], 0, 4) }, /non-negative integers/],
      [{ t: F32([1e300], 0, 4) }, /non-negative integers/],
      [{ t: F32([2 ** 53], 0, 4) }, /non-negative integers/],
      [{ t: F32([2 ** 26, 2 ** 26, 2 ** 26], 0, 4) }, /needs/],
      [{ t: F32(['2' as unknown as number], 0, 4) }, /non-negative integers/],
      [{ t: { dtype: 'F32', shape: 3, data_offsets: [0, 4] } }, /shape is number/],
      [{ t: F32([1], 0, 400) }, /past the data section/],
      [{ t: F32([1], 2 ** 60, 2 ** 60 + 4) }, /non-negative integers|past the data section/],
      [{ t: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, /begin > end/],
      [{ t: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, /data_offsets/],
      [{ t: { dtype: 'F32', shape: [1], data_offsets: [0] } }, /data_offsets/],
      [{ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, /data_offsets/],
      [{ t: { dtype: 'F32', shape: [1], data_offsets: null } }, /data_offsets/],
      [{ t: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, /hold 12 bytes but F32 shape \(2,2\) needs 16/],
      [{ t: { dtype: 'F16', shape: [3], data_offsets: [0, 12] } }, /needs 6/],
      [{ a: F32([2], 0), b: F32([2], 4) }, /tensor "b".*overlap tensor "a"/],
      [{ a: F32([4], 0), b: F32([1], 4) }, /overlap/],
      [{ __metadata__: [] }, /__metadata__ is an array/],
      [{ __metadata__: { k: 1 } }, /__metadata__ key "k" is number/],
    ];
    for (const [header, re] of cases) {
      const e = parseError(rawFile(header, 16), 'bad.safetensors');
      expect(e.message, JSON.stringify(header)).toMatch(re);
      expect(e.message).toMatch(/^checkpoint bad\.safetensors: /);
    }
    expect(parseError(rawFile({ 'blocks.0.w': F32([3], 0) }, 4)).tensor).toBe('blocks.0.w');
  });

  it('I64 values beyond 2^53 are refused rather than rounded', () => {
    const data = new Uint8Array(8);
    new DataView(data.buffer).setBigInt64(0, 2n ** 60n, true);
    expect(parseError(rawFile({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data)).message).toMatch(/2\^53/);
    new DataView(data.buffer).setBigInt64(0, -(2n ** 52n), true);
    const ok = parseSafetensors(rawFile({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, data));
    expect(ok.tensors.get('i')!.ints![0]).toBe(-(2 ** 52));
  });

  it('"__proto__" is just a name: no prototype pollution, junk under it still refused', () => {
    const f = rawFile(`{"__proto__":${JSON.stringify(F32([1], 0))},"__metadata__":{"__proto__":"x","constructor":"y"}}`, 4);
    const p = parseSafetensors(f);
    expect(p.tensors.get('__proto__')!.shape).toEqual([1]);
    expect(p.metadata['__proto__']).toBe('x');
    expect(p.metadata['constructor']).toBe('y');
    expect(({} as Record<string, unknown>)['dtype']).toBeUndefined();

    const e = parseError(rawFile('{"__proto__":{"polluted":true}}', 4));
    expect(e.message).toMatch(/tensor "__proto__": dtype is undefined/);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();

    const rt = parseSafetensors(serializeSafetensors(new Map([['__proto__', { shape: [1], data: new Float32Array([3]) }]])));
    expect(Array.from(rt.tensors.get('__proto__')!.data)).toEqual([3]);
  });

  it('huge names are cut in messages', () => {
    const name = 'n'.repeat(100_000);
    const e = parseError(rawFile({ [name]: { dtype: 'X', shape: [], data_offsets: [0, 4] } }, 4));
    expect(e.message.length).toBeLessThan(600);
    expect(e.tensor).toBe(name);
  });
});

describe('safetensors mutation fuzz', () => {
  it('2000 random byte flips / truncations / digit edits: parse succeeds consistently or throws CheckpointError', async () => {
    const fixture = new Uint8Array(await readFile(join(FIXTURES, 'tiny.safetensors')));
    const ours = serializeSafetensors(
      { 'a.w': { shape: [3, 2], data: randomArray(6, 3) }, b: { shape: [], data: randomArray(1, 4) }, c: { shape: [0], data: new Float32Array(0) } },
      { k: 'v' },
    );
    const rnd = mulberry32(20240607);
    const pick = (n: number) => Math.floor(rnd() * n);
    let ok = 0;
    let refused = 0;
    const t0 = performance.now();
    for (let it = 0; it < 2000; it++) {
      const base = it % 2 === 0 ? fixture : ours;
      let m = base.slice();
      const kind = pick(5);
      if (kind === 0) {
        for (let k = 1 + pick(4); k > 0; k--) m[pick(m.length)] = pick(256);
      } else if (kind === 1) {
        m = m.slice(0, pick(m.length));
      } else if (kind === 2) {
        m[pick(8)] = pick(256); // header length field
      } else if (kind === 3) {
        // Change one digit of the header: shapes and offsets go subtly wrong while JSON stays valid.
        const n = Number(new DataView(m.buffer).getBigUint64(0, true));
        const digits: number[] = [];
        for (let i = 8; i < 8 + n; i++) if (m[i] >= 0x30 && m[i] <= 0x39) digits.push(i);
        m[digits[pick(digits.length)]] = 0x30 + pick(10);
      } else {
        // Replace a header byte with a JSON-significant character.
        const chars = '{}[]",:-.e 0';
        m[8 + pick(40)] = chars.charCodeAt(pick(chars.length));
      }
      try {
        const p = parseSafetensors(m);
        for (const [name, t] of p.tensors) expect(t.data.length, name).toBe(numel(t.shape));
        ok++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`iteration ${it} (mutation ${kind}): ${String(e)}`);
        refused++;
      }
    }
    expect(ok).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(500);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

describe('loadStateDict and remapKeys', () => {
  const expected = new Map<string, number[]>([
    ['cls_token', [1, 1, 384]],
    ['pos_embed', [1, 785, 384]],
    ['blocks.0.attn.qkv.weight', [1152, 384]],
  ]);
  const t = (shape: number[]): HostTensor => ({ shape, data: new Float32Array(numel(shape)) });

  it('returns the data when names and shapes match', () => {
    const found = new Map([...expected].map(([k, s]) => [k, t(s)] as const));
    const out = loadStateDict(expected, found);
    expect([...out.keys()]).toEqual([...expected.keys()]);
    expect(out.get('pos_embed')).toBe(found.get('pos_embed')!.data);
  });

  it('reports missing, unexpected and mis-shaped tensors in one error', () => {
    const found = new Map([
      ['cls_token', t([1, 1, 384])],
      ['pos_embed', t([1, 65, 384])],
      ['head.weight', t([3, 384])],
    ]);
    let err: unknown;
    try {
      loadStateDict(expected, found, { file: 'run/ckpt.safetensors' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictMismatchError);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toBe(
      'checkpoint run/ckpt.safetensors does not match the model: missing: blocks.0.attn.qkv.weight; ' +
        'unexpected: head.weight; wrong shape: pos_embed expected (1,785,384) found (1,65,384)',
    );
    const m = err as StateDictMismatchError;
    expect(m.file).toBe('run/ckpt.safetensors');
    expect(m.missing).toEqual(['blocks.0.attn.qkv.weight']);
    expect(m.unexpected).toEqual(['head.weight']);

    // Not strict: extra tensors are fine, the rest still reported.
    expect(() => loadStateDict(expected, found, { strict: false })).toThrow(
      /^checkpoint does not match the model: missing: blocks\.0\.attn\.qkv\.weight; wrong shape: pos_embed/,
    );
    const extraOnly = new Map([...expected].map(([k, s]) => [k, t(s)] as const));
    extraOnly.set('head.weight', t([3, 384]));
    expect(loadStateDict(expected, extraOnly, { strict: false }).size).toBe(3);
  });

  it('a wrapper prefix gets a hint, and remapKeys strips it (DINO: module. / backbone. / teacher.)', () => {
    const wrapped = new Map([...expected].map(([k, s]) => [`module.backbone.${k}`, t(s)] as const));
    expect(() => loadStateDict(expected, wrapped)).toThrow(/hint: 3 checkpoint names are model names prefixed with "module\.backbone\."/);
    const fixed = remapKeys(wrapped, { stripPrefixes: ['backbone.', 'module.'] });
    expect(loadStateDict(expected, fixed).size).toBe(3);

    const sequential = remapKeys(fixed, { stripPrefixes: [], addPrefix: '0.' });
    expect([...sequential.keys()]).toEqual(['0.cls_token', '0.pos_embed', '0.blocks.0.attn.qkv.weight']);
    expect(() => loadStateDict(new Map([...expected].map(([k, s]) => [`0.${k}`, s] as const)), fixed)).toThrow(
      /addPrefix: "0\."/,
    );
    // Only leading prefixes are stripped; a prefix in the middle of a name stays.
    expect([...remapKeys(new Map([['teacher.head.module.x', 1]]), { stripPrefixes: ['teacher.', 'module.'] }).keys()]).toEqual([
      'head.module.x',
    ]);
  });

  it('remapKeys refuses two keys that collide', () => {
    const m = new Map([
      ['module.w', 1],
      ['w', 2],
    ]);
    expect(() => remapKeys(m, { stripPrefixes: ['module.'], file: 'f.safetensors' })).toThrow(
      /checkpoint f\.safetensors: keys "module\.w" and "w" both become "w"/,
    );
  });
});

describe('node file helpers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'medivlad-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const tmpLeft = async (d: string) => (await readdir(d)).filter((f) => f.includes('.tmp-') || f.includes('.write-probe-'));

  it('saveSafetensors / loadSafetensors round trip; errors name the file', async () => {
    const path = join(dir, 'ckpt.safetensors');
    const w = randomArray(35, 11);
    await saveSafetensors(path, { w: { shape: [5, 7], data: w } }, { epoch: '1' });
    const back = await loadSafetensors(path);
    expect(Array.from(back.tensors.get('w')!.data)).toEqual(Array.from(w));
    expect(back.metadata.epoch).toBe('1');

    const bad = join(dir, 'bad.safetensors');
    await writeFile(bad, new Uint8Array([1, 2, 3]));
    await expect(loadSafetensors(bad)).rejects.toThrow(new RegExp(`^checkpoint ${bad}: file is 3 bytes`));
    await expect(loadSafetensors(bad)).rejects.toBeInstanceOf(CheckpointError);
    await expect(readFileChecked(join(dir, 'nope.safetensors'), 'checkpoint')).rejects.toThrow(
      /cannot read checkpoint .*nope\.safetensors: no such file/,
    );
    await expect(readFileChecked(dir, 'manifest')).rejects.toThrow(/cannot read manifest .*: it is a directory/);
  });

  it('writeFileAtomic: the final name never holds a partial file (old or new, whole)', async () => {
    const path = join(dir, 'big.bin');
    const old = new Uint8Array(1000).fill(7);
    await writeFileAtomic(path, old);
    const big = new Uint8Array(48 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    let done = false;
    const writing = writeFileAtomic(path, big).finally(() => {
      done = true;
    });
    const sizes = new Set<number>();
    let polls = 0;
    while (!done) {
      const st = await stat(path);
      sizes.add(st.size);
      polls++;
      await new Promise((r) => setImmediate(r));
    }
    await writing;
    for (const s of sizes) expect([old.length, big.length]).toContain(s);
    expect(polls).toBeGreaterThan(1);
    expect((await stat(path)).size).toBe(big.length);
    expect(await tmpLeft(dir)).toEqual([]);
  });

  it('writeFileAtomic: an unwritable target gives a clear error and leaves no temp files', async () => {
    // Running as root makes chmod-based tests meaningless; a path under a regular file and a
    // target that is a directory fail for everyone (the second only at the rename, after the
    // temporary file was written).
    const notADir = join(dir, 'plain-file');
    await writeFile(notADir, 'x');
    await expect(writeFileAtomic(join(notADir, 'ckpt.safetensors'), new Uint8Array(8))).rejects.toThrow(
      /cannot write .*plain-file\/ckpt\.safetensors: /,
    );
    const targetDir = join(dir, 'target-is-dir');
    await mkdir(targetDir);
    await writeFile(join(targetDir, 'inside'), 'x');
    const err = await writeFileAtomic(targetDir, new Uint8Array(1 << 16)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/cannot write .*target-is-dir: /);
    expect((err as Error & { code?: string }).code).toMatch(/^E/);
    expect(await tmpLeft(dir)).toEqual([]);
  });

  it('ensureWritableDir creates nested directories, leaves no probe, and refuses a file', async () => {
    const nested = join(dir, 'runs', 'a', 'b');
    await ensureWritableDir(nested);
    expect((await stat(nested)).isDirectory()).toBe(true);
    expect(await readdir(nested)).toEqual([]);
    await ensureWritableDir(nested); // idempotent
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    await expect(ensureWritableDir(file)).rejects.toThrow(/cannot create output directory .*a-file: .*not a directory/);
    await expect(ensureWritableDir(join(file, 'sub'))).rejects.toThrow(/cannot create output directory/);
  });
});
