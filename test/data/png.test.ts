import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { decodePng, encodePng, deflate, PngError, type Image8 } from '../../src/data/png';
import { Rng } from '../../src/data/rng';
import { HAVE_FFMPEG, HAVE_POCUS, POCUS_DIR, ffmpeg, ffmpegGray, tempDir } from './helpers';

function randomImage(w: number, h: number, channels: 1 | 2 | 3 | 4, seed: number): Image8 {
  const rng = new Rng(seed);
  const data = new Uint8Array(w * h * channels);
  // smooth gradients plus noise, so every row filter wins somewhere
  for (let i = 0; i < data.length; i++) data[i] = ((i % 7) * 13 + Math.floor(i / (w * channels)) * 3 + (rng.int(4) === 0 ? rng.int(256) : 0)) & 0xff;
  return { width: w, height: h, channels, data };
}

// Build a PNG by hand from already-filtered scanlines, to test decoder paths our encoder
// never writes (low bit depths, palette, 16 bit, Adam7).
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}
async function handPng(w: number, h: number, depth: number, ctype: number, interlace: number, raw: Uint8Array,
  extra: Uint8Array[] = []): Promise<Uint8Array> {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([depth, ctype, 0, 0, interlace], 8);
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), ...extra, chunk('IDAT', await deflate(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('png codec', () => {
  it('round-trips 8-bit gray, gray+alpha, RGB and RGBA at odd sizes', async () => {
    for (const [ch, w, h] of [[1, 17, 13], [2, 5, 9], [3, 31, 7], [4, 1, 1], [1, 112, 112]] as const) {
      const img = randomImage(w, h, ch, w * 100 + h);
      const png = await encodePng(img);
      const back = await decodePng(png);
      expect([back.width, back.height, back.channels]).toEqual([w, h, ch]);
      expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
    }
  });

  it('decodes 1/2/4-bit gray, a palette with transparency, 16-bit gray and Adam7 interlace', async () => {
    // 2-bit gray, 5 pixels wide: values 0,1,2,3,2 -> 0,85,170,255,170; filter 0
    const g2 = await decodePng(await handPng(5, 1, 2, 0, 0, new Uint8Array([0, 0b00011011, 0b10000000])));
    expect([...g2.data]).toEqual([0, 85, 170, 255, 170]);
    // 1-bit gray 9 px: 101100111 ; 4-bit gray 3 px: 0x0, 0xf, 0x8
    const g1 = await decodePng(await handPng(9, 1, 1, 0, 0, new Uint8Array([0, 0b10110011, 0b10000000])));
    expect([...g1.data]).toEqual([255, 0, 255, 255, 0, 0, 255, 255, 255]);
    const g4 = await decodePng(await handPng(3, 1, 4, 0, 0, new Uint8Array([0, 0x0f, 0x80])));
    expect([...g4.data]).toEqual([0, 255, 136]);
    // palette, 2 bits per index, with tRNS for index 0
    const plte = chunk('PLTE', new Uint8Array([10, 20, 30, 200, 100, 50, 0, 0, 255]));
    const trns = chunk('tRNS', new Uint8Array([7]));
    const pal = await decodePng(await handPng(3, 1, 2, 3, 0, new Uint8Array([0, 0b00011000]), [plte, trns]));
    expect(pal.channels).toBe(4);
    expect([...pal.data]).toEqual([10, 20, 30, 7, 200, 100, 50, 255, 0, 0, 255, 255]);
    // 16-bit gray is rounded to 8 bits: v / 257
    const g16 = await decodePng(await handPng(2, 1, 16, 0, 0, new Uint8Array([0, 0x12, 0x34, 0xfe, 0x7f])));
    expect([...g16.data]).toEqual([Math.round(0x1234 / 257), Math.round(0xfe7f / 257)]);
    // Adam7: an 8-bit gray 5x5 image with pixel value = 10 * y + x, split into the 7 passes
    const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
    const raw: number[] = [];
    for (const [x0, y0, dx, dy] of passes)
      for (let y = y0; y < 5; y += dy) {
        const row: number[] = [];
        for (let x = x0; x < 5; x += dx) row.push(10 * y + x);
        if (row.length > 0) raw.push(0, ...row);
      }
    const il = await decodePng(await handPng(5, 5, 8, 0, 1, new Uint8Array(raw)));
    expect([...il.data]).toEqual(Array.from({ length: 25 }, (_, i) => 10 * Math.floor(i / 5) + (i % 5)));
  });

  it('undoes all five row filters (Sub, Up, Average, Paeth on RGB)', async () => {
    // 2x2 RGB, rows filtered by hand: row 0 Sub, row 1 Paeth; then Up and Average variants
    const px = [[10, 20, 30, 40, 50, 60], [70, 80, 90, 100, 110, 120]];
    const sub = [1, ...px[0].map((v, i) => (i >= 3 ? v - px[0][i - 3] : v) & 0xff)];
    const paethRow = [4, ...px[1].map((v, i) => {
      const a = i >= 3 ? px[1][i - 3] : 0, b = px[0][i], c = i >= 3 ? px[0][i - 3] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      return (v - (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 0xff;
    })];
    const up = [2, ...px[1].map((v, i) => (v - px[0][i]) & 0xff)];
    const avg = [3, ...px[1].map((v, i) => (v - (((i >= 3 ? px[1][i - 3] : 0) + px[0][i]) >> 1)) & 0xff)];
    for (const second of [paethRow, up, avg]) {
      const img = await decodePng(await handPng(2, 2, 8, 2, 0, new Uint8Array([...sub, ...second])));
      expect([...img.data]).toEqual([...px[0], ...px[1]]);
    }
  });

  it('rejects a bad signature, a flipped byte (CRC) and a truncated file with PngError', async () => {
    const png = await encodePng(randomImage(8, 8, 1, 1));
    await expect(decodePng(new Uint8Array([1, 2, 3]))).rejects.toThrow(/signature/);
    const bad = png.slice();
    bad[40] ^= 0xff;
    await expect(decodePng(bad)).rejects.toThrow(PngError);
    await expect(decodePng(png.slice(0, png.length - 20))).rejects.toThrow(/truncated|IEND|CRC/);
  });

  it.skipIf(!HAVE_FFMPEG)('agrees with ffmpeg on PNGs ffmpeg writes (gray, rgb24, pal8, gray16)', async () => {
    const { dir, cleanup } = tempDir('png');
    try {
      const src = path.join(dir, 'src.png');
      const img = randomImage(23, 19, 3, 7);
      writeFileSync(src, await encodePng(img));
      for (const fmt of ['gray', 'rgb24', 'pal8', 'gray16be', 'rgba']) {
        const f = path.join(dir, `${fmt}.png`);
        ffmpeg(['-i', src, '-pix_fmt', fmt, f]);
        const ours = await decodePng(new Uint8Array(readFileSync(f)));
        const ref = ffmpegGray(f);
        // ffmpeg's swscale rounds its colour->gray and 16->8 bit conversions its own way:
        // exact for 8-bit gray, within 1 level for 16-bit, within 2 for colour
        const gray = ours.channels <= 2 ? ours.data.filter((_, i) => i % ours.channels === 0)
          : Uint8Array.from({ length: 23 * 19 }, (_, i) => Math.round(0.299 * ours.data[i * ours.channels] + 0.587 * ours.data[i * ours.channels + 1] + 0.114 * ours.data[i * ours.channels + 2]));
        let maxErr = 0;
        for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(gray[i] - ref[i]));
        expect(maxErr, fmt).toBeLessThanOrEqual(fmt === 'gray' ? 0 : fmt === 'gray16be' ? 1 : 2);
      }
    } finally {
      cleanup();
    }
  });

  it.skipIf(!HAVE_FFMPEG || !HAVE_POCUS)('decodes pocus-lus frames exactly as ffmpeg does', async () => {
    const dirs = readdirSync(path.join(POCUS_DIR, 'frames112')).slice(0, 3);
    for (const d of dirs) {
      const f = path.join(POCUS_DIR, 'frames112', d, 'f00.png');
      const ours = await decodePng(new Uint8Array(readFileSync(f)));
      expect(Buffer.from(ours.data).equals(Buffer.from(ffmpegGray(f)))).toBe(true);
    }
  });
});
