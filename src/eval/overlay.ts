// A frame with its CLS attention heatmap on top (SPEC §9 "Attention maps", as DINO's
// video_generation draws them), as an RGB Image8 for src/data/png.ts encodePng:
//
//   +--------------------------+
//   | title lines              |   light text on a dark strip (the plot library's 5×7 font)
//   +--------------------------+
//   |                          |
//   |  gray frame, ×k nearest  |   k = the smallest integer making the side ≥ 256 px
//   |  + heat colour where the |   pixel = (1 − a)·gray + a·colour(w), w = heat / max heat,
//   |    thresholded map > 0   |   a = alpha·(0.5 + 0.5·w); patches outside the θ-mass set
//   |                          |   (heat 0) keep the plain frame
//   +--------------------------+
//   | legend: what the colours mean, low [colour bar] high |
//   +--------------------------+
//
// The heatmap is on the patch grid (g × g, patch = size / g pixels), so it is upsampled by
// nearest neighbour, like DINO's ×8 `nearest` interpolation. Browser-safe: no Node built-ins.
import type { Image8 } from '../data/png.js';
import { Canvas, type Rect, type Rgb } from '../plot/canvas.js';
import { textWidth, GLYPH_H } from '../plot/font.js';

export interface OverlayOptions {
  /** Integer upscale of the frame; default: the smallest making its side ≥ 256 px. */
  scale?: number;
  /** Opacity of the heat colour at the strongest patch (default 0.6). */
  alpha?: number;
  /** Lines above the image (cut to the image width). */
  title?: readonly string[];
  /** Legend lines under the image: a caption, then the colour bar (default caption below). */
  legend?: string | null;
}

export const DEFAULT_LEGEND = 'CLS attention, head mean, top 60% of mass';

const PAD = 4;
const LINE = GLYPH_H + 4;
const STRIP: Rgb = [24, 24, 24];
const TEXT: Rgb = [235, 235, 235];

/** Where attentionOverlay puts things (exported so callers and tests can find the frame). */
export interface OverlayLayout {
  width: number;
  height: number;
  scale: number;
  /** The upscaled frame. */
  image: Rect;
}

export function overlayLayout(size: number, opts: OverlayOptions = {}): OverlayLayout {
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`overlay: frame side ${size} must be a positive integer`);
  const scale = opts.scale ?? Math.max(1, Math.ceil(256 / size));
  if (!(Number.isInteger(scale) && scale >= 1)) throw new RangeError(`overlay: scale ${scale} must be an integer >= 1`);
  const side = size * scale;
  const titleH = opts.title?.length ? opts.title.length * LINE + PAD : 0;
  const legendH = opts.legend === null ? 0 : 2 * LINE + 2 * PAD;
  return { width: side, height: titleH + side + legendH, scale, image: { x: 0, y: titleH, w: side, h: side } };
}

/** Heat colour for w in [0, 1]: dark red → orange → yellow (a "hot" ramp, readable on gray). */
export function heatColor(w: number): Rgb {
  const t = Math.min(1, Math.max(0, w));
  if (t < 0.5) {
    const u = t / 0.5;
    return [Math.round(180 + 75 * u), Math.round(128 * u), 0];
  }
  const u = (t - 0.5) / 0.5;
  return [255, Math.round(128 + 127 * u), 0];
}

/** `s` cut (with "..") to fit `width` pixels of the 5×7 font. */
function fit(s: string, width: number): string {
  if (textWidth(s) <= width) return s;
  let n = s.length;
  while (n > 0 && textWidth(`${s.slice(0, n)}..`) > width) n--;
  return `${s.slice(0, n)}..`;
}

/**
 * frame: gray [0, 1] (size·size, row-major); heat: (g·g) non-negative patch weights (e.g.
 * clsAttentionHeatmap(...).thresholded), g dividing size.
 */
export function attentionOverlay(frame: Float32Array, size: number, heat: ArrayLike<number>, grid: number, opts: OverlayOptions = {}): Image8 {
  if (frame.length !== size * size) throw new RangeError(`overlay: frame has ${frame.length} values, expected ${size}×${size}`);
  if (!(Number.isInteger(grid) && grid >= 1 && size % grid === 0)) throw new RangeError(`overlay: patch grid ${grid} does not divide the frame side ${size}`);
  if (heat.length !== grid * grid) throw new RangeError(`overlay: heatmap has ${heat.length} values, expected ${grid}×${grid}`);
  const alpha = opts.alpha ?? 0.6;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlay: alpha ${alpha} is not in [0, 1]`);
  let max = 0;
  for (let i = 0; i < heat.length; i++) {
    if (!(heat[i] >= 0)) throw new RangeError(`overlay: heat ${i} is ${heat[i]}, weights must be >= 0`);
    max = Math.max(max, heat[i]);
  }
  const L = overlayLayout(size, opts);
  const c = new Canvas(L.width, L.height, STRIP);
  const patch = size / grid;
  for (let y = 0; y < L.image.h; y++) {
    const sy = Math.floor(y / L.scale);
    for (let x = 0; x < L.image.w; x++) {
      const sx = Math.floor(x / L.scale);
      const g = Math.round(255 * Math.min(1, Math.max(0, frame[sy * size + sx])));
      const h = heat[Math.floor(sy / patch) * grid + Math.floor(sx / patch)];
      if (max > 0 && h > 0) {
        const w = h / max;
        const a = alpha * (0.5 + 0.5 * w);
        const col = heatColor(w);
        c.set(L.image.x + x, L.image.y + y, [0, 1, 2].map((k) => Math.round((1 - a) * g + a * col[k])) as unknown as Rgb);
      } else c.set(L.image.x + x, L.image.y + y, [g, g, g]);
    }
  }
  opts.title?.forEach((line, i) => c.text(PAD, PAD + i * LINE, fit(line, L.width - 2 * PAD), TEXT));
  if (opts.legend !== null) {
    const top = L.image.y + L.image.h + PAD;
    c.text(PAD, top, fit(opts.legend ?? DEFAULT_LEGEND, L.width - 2 * PAD), TEXT);
    const y = top + LINE;
    const lo = c.text(PAD, y, 'low', TEXT);
    const hiW = textWidth('high');
    const x0 = PAD + lo + 6;
    const x1 = L.width - PAD - hiW - 6;
    for (let x = x0; x < x1; x++) c.fillRect(x, y, 1, GLYPH_H, heatColor((x - x0) / Math.max(1, x1 - x0 - 1)));
    c.text(L.width - PAD, y, 'high', TEXT, { align: 'right' });
  }
  return c.toImage();
}
