// The frame shared by line and bar charts: margins sized from the labels, title, axis
// titles, the plot box, grid lines, ticks and tick labels, and a legend box.
//
//   +--------------------------------------+
//   |               title                  |
//   | y  1.0 -+----------------------+      |
//   | l       |   plot (data area)   |      |
//   | a  0.5 -+                      |      |
//   | b       |                      |      |
//   |    0.0 -+----------------------+      |
//   |         0      50      100            |
//   |              x label                 |
//   +--------------------------------------+
import { Canvas, type Rect, type Rgb } from './canvas.js';
import { textWidth, GLYPH_H } from './font.js';
import { INK, GRID, WHITE } from './colors.js';
import type { Axis } from './scale.js';

export interface FrameOptions {
  /** Image size in pixels (default 640 × 400). */
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
}

const PAD = 8;
const TICK = 4;
const TITLE_SCALE = 2;

/**
 * A blank canvas and the plot rectangle left after the margins. `yTickLabels` and
 * `lastXTickLabel` are the widest labels the axes will draw (they size the margins).
 */
export function layoutFrame(opts: FrameOptions, yTickLabels: string[], lastXTickLabel = ''): { canvas: Canvas; plot: Rect } {
  const W = opts.width ?? 640;
  const H = opts.height ?? 400;
  const canvas = new Canvas(W, H, WHITE);
  const top = opts.title ? PAD + GLYPH_H * TITLE_SCALE + 10 : PAD + 4;
  const left = PAD + (opts.yLabel ? GLYPH_H + 8 : 0) + Math.max(0, ...yTickLabels.map((l) => textWidth(l))) + 3 + TICK;
  const bottom = PAD + TICK + 3 + GLYPH_H + (opts.xLabel ? 8 + GLYPH_H : 0);
  const right = PAD + Math.ceil(textWidth(lastXTickLabel) / 2);
  const plot = { x: left, y: top, w: W - left - right, h: H - top - bottom };
  if (plot.w < 20 || plot.h < 20) throw new Error(`chart: ${W}×${H} px leaves no room for the plot (labels take the space)`);
  if (opts.title) canvas.text(W / 2, PAD, opts.title, INK, { scale: TITLE_SCALE, align: 'center' });
  if (opts.xLabel) canvas.text(plot.x + plot.w / 2, H - PAD, opts.xLabel, INK, { align: 'center', baseline: 'bottom' });
  if (opts.yLabel) canvas.text(PAD, plot.y + plot.h / 2, opts.yLabel, INK, { vertical: true, align: 'center' });
  return { canvas, plot };
}

/** Horizontal grid lines, tick marks and labels of a y axis at the plot's left edge. */
export function drawYAxis(c: Canvas, plot: Rect, axis: Axis, grid = true): void {
  axis.ticks.forEach((t, i) => {
    const y = Math.round(axis.toPixel(t));
    if (grid) c.line(plot.x + 1, y, plot.x + plot.w - 2, y, GRID);
    c.line(plot.x - TICK, y, plot.x - 1, y, INK);
    c.text(plot.x - TICK - 3, y, axis.labels[i], INK, { align: 'right', baseline: 'middle' });
  });
}

/** Vertical grid lines, tick marks and labels of a numeric x axis under the plot. */
export function drawXAxis(c: Canvas, plot: Rect, axis: Axis, grid = true): void {
  const yb = plot.y + plot.h;
  axis.ticks.forEach((t, i) => {
    const x = Math.round(axis.toPixel(t));
    if (grid) c.line(x, plot.y + 1, x, yb - 2, GRID);
    c.line(x, yb, x, yb + TICK - 1, INK);
    c.text(x, yb + TICK + 3, axis.labels[i], INK, { align: 'center' });
  });
}

/** Category labels centred under given x positions (bar charts). */
export function drawCategoryLabels(c: Canvas, plot: Rect, xs: number[], labels: string[]): void {
  const yb = plot.y + plot.h;
  xs.forEach((x, i) => c.text(x, yb + TICK + 3, labels[i], INK, { align: 'center' }));
}

/** The plot's outline, drawn last so that data never covers the axes. */
export function drawPlotBox(c: Canvas, plot: Rect): void {
  c.strokeRect(plot.x, plot.y, plot.w, plot.h, INK);
}

export interface LegendEntry {
  name: string;
  color: Rgb;
  dash?: readonly [number, number];
  /** A filled swatch (bars) instead of a line sample. */
  swatch?: boolean;
}

export type LegendPosition = 'top-right' | 'top-left' | 'bottom-right' | 'bottom-left' | 'none';

/** A white box inside the plot corner with a sample and the name of each entry. */
export function drawLegend(c: Canvas, plot: Rect, entries: LegendEntry[], pos: LegendPosition = 'top-right'): void {
  if (pos === 'none' || entries.length === 0) return;
  const row = GLYPH_H + 5;
  const w = 6 + 16 + 5 + Math.max(...entries.map((e) => textWidth(e.name))) + 6;
  const h = entries.length * row + 6;
  const x = pos.endsWith('right') ? plot.x + plot.w - w - 6 : plot.x + 6;
  const y = pos.startsWith('top') ? plot.y + 6 : plot.y + plot.h - h - 6;
  c.fillRect(x, y, w, h, WHITE);
  c.strokeRect(x, y, w, h, GRID);
  entries.forEach((e, i) => {
    const cy = y + 4 + i * row + Math.floor(GLYPH_H / 2);
    if (e.swatch) c.fillRect(x + 6, cy - 3, 16, 7, e.color);
    else c.line(x + 6, cy, x + 21, cy, e.color, { width: 2, dash: e.dash });
    c.text(x + 27, cy, e.name, INK, { baseline: 'middle' });
  });
}
