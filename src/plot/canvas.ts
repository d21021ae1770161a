// A small RGB raster for charts: pixels, rectangles, lines (Bresenham, square brush, dashes)
// and text in the built-in 5×7 font, with an optional clip rectangle. No anti-aliasing, so
// every drawn pixel is exactly the colour asked for (tests check pixels). toImage() gives the
// Image8 that src/data/png.ts encodePng writes. Browser-safe: no Node built-ins.
import type { Image8 } from '../data/png.js';
import { glyph, textWidth, ADVANCE, GLYPH_H, GLYPH_W } from './font.js';

export type Rgb = readonly [number, number, number];

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LineStyle {
  /** Brush side in pixels (default 1). */
  width?: number;
  /** On/off run lengths in pixels along the line, e.g. [6, 4]. */
  dash?: readonly [number, number];
}

export interface TextStyle {
  /** Integer magnification of the 5×7 glyphs (default 1). */
  scale?: number;
  /** Horizontal anchor: x is the left edge, the centre or the right edge of the text. */
  align?: 'left' | 'center' | 'right';
  /** Vertical anchor: y is the top, the middle or the bottom of the glyph cell. */
  baseline?: 'top' | 'middle' | 'bottom';
  /** Rotate 90° counter-clockwise (reads bottom to top, for y-axis titles). */
  vertical?: boolean;
}

export class Canvas {
  readonly data: Uint8Array; // (height, width, 3)
  private clipRect: Rect | null = null;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new Error(`Canvas: size must be positive integers, got ${width}×${height}`);
    }
    this.data = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  /** Restrict drawing to `r` (null: the whole canvas). */
  clip(r: Rect | null): void {
    this.clipRect = r;
  }

  private inside(x: number, y: number): boolean {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return false;
    const c = this.clipRect;
    return !c || (x >= c.x && y >= c.y && x < c.x + c.w && y < c.y + c.h);
  }

  /** Set one pixel (integer coordinates; outside the canvas or clip: ignored). */
  set(x: number, y: number, c: Rgb): void {
    if (!this.inside(x, y)) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }

  get(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 3;
    return [this.data[i], this.data[i + 1], this.data[i + 2]];
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x0 = Math.round(x);
    const y0 = Math.round(y);
    const x1 = Math.round(x + w);
    const y1 = Math.round(y + h);
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.set(xx, yy, c);
  }

  /** A 1-pixel outline whose outer edge is the rectangle (x, y, w, h). */
  strokeRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x0 = Math.round(x);
    const y0 = Math.round(y);
    const x1 = Math.round(x + w) - 1;
    const y1 = Math.round(y + h) - 1;
    this.line(x0, y0, x1, y0, c);
    this.line(x0, y1, x1, y1, c);
    this.line(x0, y0, x0, y1, c);
    this.line(x1, y0, x1, y1, c);
  }

  /**
   * A line between pixel centres (rounded), Bresenham: each step moves one pixel along the
   * major axis, so every pixel of the ideal line's major-axis span is hit exactly once. The
   * brush is a width×width square centred on each pixel.
   */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, style: LineStyle = {}): void {
    if (![x0, y0, x1, y1].every(Number.isFinite)) return;
    let x = Math.round(x0);
    let y = Math.round(y0);
    const xe = Math.round(x1);
    const ye = Math.round(y1);
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    const w = Math.max(1, Math.round(style.width ?? 1));
    const lo = -Math.floor((w - 1) / 2);
    const [on, off] = style.dash ?? [1, 0];
    let err = dx + dy;
    for (let n = 0; ; n++) {
      if (off === 0 || n % (on + off) < on) {
        for (let by = 0; by < w; by++) for (let bx = 0; bx < w; bx++) this.set(x + lo + bx, y + lo + by, c);
      }
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  /** Connect consecutive finite points; a non-finite point breaks the line (a gap). */
  polyline(xs: ArrayLike<number>, ys: ArrayLike<number>, c: Rgb, style: LineStyle = {}): void {
    const ok = (i: number) => i < xs.length && Number.isFinite(xs[i]) && Number.isFinite(ys[i]);
    for (let i = 0; i < xs.length; i++) {
      if (!ok(i)) continue;
      if (ok(i - 1)) this.line(xs[i - 1], ys[i - 1], xs[i], ys[i], c, style);
      else if (!ok(i + 1)) this.line(xs[i], ys[i], xs[i], ys[i], c, style); // an isolated point: a dot
    }
  }

  /** Draw `text`; returns its width in pixels. */
  text(x: number, y: number, text: string, c: Rgb, style: TextStyle = {}): number {
    const s = Math.max(1, Math.round(style.scale ?? 1));
    const len = textWidth(text, s);
    const along = style.align === 'center' ? -len / 2 : style.align === 'right' ? -len : 0;
    const hgt = GLYPH_H * s;
    const across = style.baseline === 'middle' ? -hgt / 2 : style.baseline === 'bottom' ? -hgt : 0;
    // Horizontal text: u runs right, v down. Vertical (CCW): u runs up, v runs right.
    const ox = Math.round(style.vertical ? x + across : x + along);
    const oy = Math.round(style.vertical ? y - along : y + across);
    let u = 0;
    for (const ch of text) {
      const rows = glyph(ch);
      for (let r = 0; r < GLYPH_H; r++) {
        for (let col = 0; col < GLYPH_W; col++) {
          if (!((rows[r] >> (GLYPH_W - 1 - col)) & 1)) continue;
          for (let a = 0; a < s; a++) {
            for (let b = 0; b < s; b++) {
              const uu = u + col * s + a;
              const vv = r * s + b;
              if (style.vertical) this.set(ox + vv, oy - 1 - uu, c);
              else this.set(ox + uu, oy + vv, c);
            }
          }
        }
      }
      u += ADVANCE * s;
    }
    return len;
  }

  toImage(): Image8 {
    return { width: this.width, height: this.height, channels: 3, data: this.data };
  }
}
