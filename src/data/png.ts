// A small PNG codec (ISO/IEC 15948) for the data pipeline: frames on disk are PNG.
// Decode: colour types 0 (gray), 2 (RGB), 3 (palette), 4 (gray+alpha), 6 (RGBA); bit depths
// 1, 2, 4, 8, 16 (16-bit samples rounded to 8 bits); all five row filters; Adam7 interlace;
// CRC of every chunk is checked so a truncated or corrupt file fails loudly.
// Encode: 8-bit gray / gray+alpha / RGB / RGBA, one adaptive filter per row (the usual
// "smallest sum of |signed bytes|" heuristic), a single IDAT.
// zlib comes from the web-standard CompressionStream / DecompressionStream ('deflate' is the
// zlib wrapper PNG uses), present in browsers and in Node >= 18, so this file imports nothing.

/** An 8-bit image, interleaved channels, rows top to bottom. */
export interface Image8 {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4; // gray, gray+alpha, RGB, RGBA
  data: Uint8Array; // (height, width, channels)
}

export class PngError extends Error {
  override name = 'PngError';
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

// ---------------------------------------------------------------- zlib via web streams

async function pipeBytes(data: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const writer = (stream.writable as WritableStream<Uint8Array>).getWriter();
  // Write and close without awaiting first: the readable side must be drained concurrently.
  const done = writer.write(data).then(() => writer.close());
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = (stream.readable as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    chunks.push(value);
    total += value.length;
  }
  await done;
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** zlib-wrapped inflate (RFC 1950/1951). */
export async function inflate(data: Uint8Array): Promise<Uint8Array> {
  try {
    return await pipeBytes(data, new DecompressionStream('deflate'));
  } catch (e) {
    throw new PngError(`zlib data is corrupt (${(e as Error).message})`);
  }
}

/** zlib-wrapped deflate. */
export function deflate(data: Uint8Array): Promise<Uint8Array> {
  return pipeBytes(data, new CompressionStream('deflate'));
}

// ---------------------------------------------------------------- CRC-32 (chunk checksums)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  return true;
}

// ---------------------------------------------------------------- decode

const CHANNELS_OF_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [
  // x0, y0, dx, dy
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

/** A zlib inflater; the platform may supply a faster one than DecompressionStream. */
export type Inflate = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/**
 * Decode a PNG file to 8-bit samples (palette expanded to RGB or RGBA). `inflateFn` replaces
 * the web-stream inflater (Node's zlib.inflateSync is ~10x faster per small frame).
 */
export async function decodePng(bytes: Uint8Array, inflateFn: Inflate = inflate): Promise<Image8> {
  if (!isPng(bytes)) throw new PngError('not a PNG file (bad signature)');
  let o = 8;
  let width = 0, height = 0, depth = 0, ctype = -1, interlace = 0;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatLen = 0;
  let sawEnd = false;
  while (o < bytes.length) {
    if (o + 12 > bytes.length) throw new PngError('truncated chunk header');
    const len = readU32(bytes, o);
    const type = String.fromCharCode(bytes[o + 4], bytes[o + 5], bytes[o + 6], bytes[o + 7]);
    const body = o + 8;
    if (body + len + 4 > bytes.length) throw new PngError(`truncated ${type} chunk`);
    if (crc32(bytes, o + 4, body + len) !== readU32(bytes, body + len))
      throw new PngError(`CRC mismatch in ${type} chunk`);
    const data = bytes.subarray(body, body + len);
    if (type === 'IHDR') {
      width = readU32(data, 0);
      height = readU32(data, 4);
      depth = data[8];
      ctype = data[9];
      interlace = data[12];
      if (!(ctype in CHANNELS_OF_TYPE)) throw new PngError(`unknown colour type ${ctype}`);
      if (![1, 2, 4, 8, 16].includes(depth)) throw new PngError(`bad bit depth ${depth}`);
      if (width === 0 || height === 0) throw new PngError('zero-sized image');
    } else if (type === 'PLTE') palette = data.slice();
    else if (type === 'tRNS') trns = data.slice();
    else if (type === 'IDAT') {
      idat.push(data);
      idatLen += len;
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    o = body + len + 4;
  }
  if (ctype < 0) throw new PngError('missing IHDR chunk');
  if (idatLen === 0) throw new PngError('missing IDAT chunk');
  if (!sawEnd) throw new PngError('missing IEND chunk (truncated file)');
  if (ctype === 3 && !palette) throw new PngError('palette image without PLTE chunk');
  const z = new Uint8Array(idatLen);
  let zo = 0;
  for (const d of idat) {
    z.set(d, zo);
    zo += d.length;
  }
  let raw: Uint8Array;
  try {
    raw = await inflateFn(z);
  } catch (e) {
    if (e instanceof PngError) throw e;
    throw new PngError(`zlib data is corrupt (${(e as Error).message})`);
  }

  const nIn = CHANNELS_OF_TYPE[ctype];
  const bitsPerPixel = nIn * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3); // filter byte distance
  const samples = new Uint8Array(width * height * nIn); // 8-bit samples before palette expansion
  let ro = 0;
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * bitsPerPixel) / 8);
    let prev = new Uint8Array(stride);
    let cur = new Uint8Array(stride);
    for (let y = 0; y < ph; y++) {
      if (ro + 1 + stride > raw.length) throw new PngError('image data is shorter than the header says');
      unfilter(raw[ro], raw.subarray(ro + 1, ro + 1 + stride), prev, cur, bpp);
      ro += 1 + stride;
      unpackRow(cur, pw, nIn, depth, ctype, samples, (y0 + y * dy) * width, x0, dx);
      const t = prev;
      prev = cur;
      cur = t;
    }
  }
  return expand(samples, width, height, ctype, nIn, palette, trns);
}

function unfilter(ft: number, src: Uint8Array, prev: Uint8Array, out: Uint8Array, bpp: number): void {
  const n = src.length;
  switch (ft) {
    case 0:
      out.set(src);
      break;
    case 1:
      for (let i = 0; i < n; i++) out[i] = (src[i] + (i >= bpp ? out[i - bpp] : 0)) & 0xff;
      break;
    case 2:
      for (let i = 0; i < n; i++) out[i] = (src[i] + prev[i]) & 0xff;
      break;
    case 3:
      for (let i = 0; i < n; i++) out[i] = (src[i] + (((i >= bpp ? out[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
      break;
    case 4:
      for (let i = 0; i < n; i++) {
        const a = i >= bpp ? out[i - bpp] : 0;
        const c = i >= bpp ? prev[i - bpp] : 0;
        out[i] = (src[i] + paeth(a, prev[i], c)) & 0xff;
      }
      break;
    default:
      throw new PngError(`unknown row filter ${ft}`);
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Unpack one row of (sub-)image pixels into 8-bit samples at out[base + (x0 + i*dx) * n]. */
function unpackRow(row: Uint8Array, pw: number, n: number, depth: number, ctype: number,
  out: Uint8Array, base: number, x0: number, dx: number): void {
  if (depth === 8) {
    for (let i = 0; i < pw; i++) {
      const d = (base + x0 + i * dx) * n;
      for (let c = 0; c < n; c++) out[d + c] = row[i * n + c];
    }
  } else if (depth === 16) {
    for (let i = 0; i < pw; i++) {
      const d = (base + x0 + i * dx) * n;
      for (let c = 0; c < n; c++) {
        const v = (row[(i * n + c) * 2] << 8) | row[(i * n + c) * 2 + 1];
        out[d + c] = Math.round(v / 257); // 65535 -> 255, rounded like ffmpeg and PIL
      }
    }
  } else {
    // 1, 2, 4 bits: gray or palette only (n = 1); gray is scaled to 0..255, indices are not.
    const max = (1 << depth) - 1;
    const scale = ctype === 3 ? 1 : 255 / max;
    const perByte = 8 / depth;
    for (let i = 0; i < pw; i++) {
      const byte = row[Math.floor(i / perByte)];
      const shift = 8 - depth * ((i % perByte) + 1);
      out[base + x0 + i * dx] = Math.round(((byte >> shift) & max) * scale);
    }
  }
}

function expand(s: Uint8Array, width: number, height: number, ctype: number, n: number,
  palette: Uint8Array | null, trns: Uint8Array | null): Image8 {
  if (ctype !== 3) return { width, height, channels: n as 1 | 2 | 3 | 4, data: s };
  const pal = palette as Uint8Array;
  const nColors = pal.length / 3;
  const alpha = trns !== null;
  const ch = alpha ? 4 : 3;
  const out = new Uint8Array(width * height * ch);
  for (let i = 0; i < width * height; i++) {
    const k = s[i];
    if (k >= nColors) throw new PngError(`palette index ${k} out of range (${nColors} colours)`);
    out[i * ch] = pal[k * 3];
    out[i * ch + 1] = pal[k * 3 + 1];
    out[i * ch + 2] = pal[k * 3 + 2];
    if (alpha) out[i * ch + 3] = k < (trns as Uint8Array).length ? (trns as Uint8Array)[k] : 255;
  }
  return { width, height, channels: ch, data: out };
}

// ---------------------------------------------------------------- encode

const TYPE_OF_CHANNELS = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

/** Encode an 8-bit image as PNG. */
export async function encodePng(img: Image8): Promise<Uint8Array> {
  const { width, height, channels, data } = img;
  if (data.length !== width * height * channels)
    throw new PngError(`encodePng: data length ${data.length} != ${width}x${height}x${channels}`);
  const stride = width * channels;
  const filtered = new Uint8Array(height * (stride + 1));
  const cand = new Uint8Array(stride);
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const cur = data.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? data.subarray((y - 1) * stride, y * stride) : zero;
    let best = Infinity;
    const dst = filtered.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let ft = 0; ft < 5; ft++) {
      let cost = 0;
      for (let i = 0; i < stride; i++) {
        const a = i >= channels ? cur[i - channels] : 0;
        const c = i >= channels ? prev[i - channels] : 0;
        const p = ft === 0 ? 0 : ft === 1 ? a : ft === 2 ? prev[i] : ft === 3 ? (a + prev[i]) >> 1 : paeth(a, prev[i], c);
        const v = (cur[i] - p) & 0xff;
        cand[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best) {
        best = cost;
        filtered[y * (stride + 1)] = ft;
        dst.set(cand);
      }
    }
  }
  const idat = await deflate(filtered);
  const ihdr = new Uint8Array(13);
  writeU32(ihdr, 0, width);
  writeU32(ihdr, 4, height);
  ihdr[8] = 8;
  ihdr[9] = TYPE_OF_CHANNELS[channels];
  const parts = [new Uint8Array(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const c = new Uint8Array(12 + body.length);
  writeU32(c, 0, body.length);
  for (let i = 0; i < 4; i++) c[4 + i] = type.charCodeAt(i);
  c.set(body, 8);
  writeU32(c, 8 + body.length, crc32(c, 4, 8 + body.length));
  return c;
}
