// Heatmaps with a number in every cell: confusion matrices (rows = true class, columns =
// predicted), or any small matrix. Cell colour is a white-to-blue ramp over `range`; the
// number is drawn in black or white, whichever contrasts with its cell.
//
//   heatmap({ title: 'confusion (fold 1)', matrix: [[50, 3, 1], [4, 41, 6], [0, 5, 30]],
//     rowLabels: ['0', '1-2', '3'], colLabels: ['0', '1-2', '3'] })
import type { Image8 } from '../data/png.js';
import { Canvas, type Rect } from './canvas.js';
import { textWidth, GLYPH_H } from './font.js';
import { ramp, luminance, INK, WHITE, BLACK } from './colors.js';

export interface HeatmapOptions {
  /** rows × cols values (non-finite: a grey cell with no number). */
  matrix: number[][];
  rowLabels?: string[];
  colLabels?: string[];
  /** Axis titles (defaults suit a confusion matrix). */
  rowTitle?: string;
  colTitle?: string;
  title?: string;
  /** Colour range (default [min(0, min), max]). */
  range?: [number, number];
  /** Cell text (default: integers as they are, other values with 2 decimals). */
  format?: (v: number, row: number, col: number) => string;
  /** Cell side in pixels (default 56). */
  cellSize?: number;
}

const PAD = 8;

/** Where heatmap draws the grid (exported for tests and callers). */
export interface HeatmapLayout {
  width: number;
  height: number;
  grid: Rect;
  cell: number;
}

function defaultFormat(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

function check(o: HeatmapOptions): { rows: number; cols: number } {
  const rows = o.matrix.length;
  const cols = rows ? o.matrix[0].length : 0;
  if (rows === 0 || cols === 0) throw new Error('heatmap: empty matrix');
  o.matrix.forEach((r, i) => {
    if (r.length !== cols) throw new Error(`heatmap: row ${i} has ${r.length} values, row 0 has ${cols}`);
  });
  if (o.rowLabels && o.rowLabels.length !== rows) throw new Error(`heatmap: ${o.rowLabels.length} row labels for ${rows} rows`);
  if (o.colLabels && o.colLabels.length !== cols) throw new Error(`heatmap: ${o.colLabels.length} column labels for ${cols} columns`);
  return { rows, cols };
}

export function heatmapLayout(o: HeatmapOptions): HeatmapLayout {
  const { rows, cols } = check(o);
  const cell = o.cellSize ?? 56;
  const rowTitle = o.rowTitle ?? 'true';
  const colTitle = o.colTitle ?? 'predicted';
  const top = o.title ? PAD + 2 * GLYPH_H + 10 : PAD;
  const left = PAD + (rowTitle ? GLYPH_H + 8 : 0) + Math.max(0, ...(o.rowLabels ?? []).map((l) => textWidth(l))) + 6;
  const bottom = 6 + GLYPH_H + (colTitle ? 8 + GLYPH_H : 0) + PAD;
  const gridW = cols * cell;
  const width = Math.max(left + gridW + PAD, o.title ? textWidth(o.title, 2) + 2 * PAD : 0);
  return { width, height: top + rows * cell + bottom, grid: { x: left, y: top, w: gridW, h: rows * cell }, cell };
}

export function heatmap(o: HeatmapOptions): Image8 {
  const { rows, cols } = check(o);
  const L = heatmapLayout(o);
  const c = new Canvas(L.width, L.height, WHITE);
  const flat = o.matrix.flat().filter(Number.isFinite);
  const [lo, hi] = o.range ?? [Math.min(0, ...flat), Math.max(...flat, 1e-12)];
  const fmt = o.format ?? defaultFormat;
  const texts = o.matrix.map((r, i) => r.map((v, j) => (Number.isFinite(v) ? fmt(v, i, j) : '')));
  // Numbers at twice the font size when every one fits its cell.
  const longest = Math.max(...texts.flat().map((t) => textWidth(t)));
  const scale = 2 * longest <= L.cell - 8 && 2 * GLYPH_H <= L.cell - 8 ? 2 : 1;

  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = o.matrix[i][j];
      const bg = ramp(Number.isFinite(v) ? (v - lo) / (hi - lo || 1) : NaN);
      const x = L.grid.x + j * L.cell;
      const y = L.grid.y + i * L.cell;
      c.fillRect(x, y, L.cell, L.cell, bg);
      if (texts[i][j]) c.text(x + L.cell / 2, y + L.cell / 2, texts[i][j], luminance(bg) < 0.5 ? WHITE : BLACK, { scale, align: 'center', baseline: 'middle' });
    }
  }
  c.strokeRect(L.grid.x, L.grid.y, L.grid.w, L.grid.h, INK);

  const rowTitle = o.rowTitle ?? 'true';
  const colTitle = o.colTitle ?? 'predicted';
  o.rowLabels?.forEach((l, i) => c.text(L.grid.x - 6, L.grid.y + (i + 0.5) * L.cell, l, INK, { align: 'right', baseline: 'middle' }));
  o.colLabels?.forEach((l, j) => c.text(L.grid.x + (j + 0.5) * L.cell, L.grid.y + L.grid.h + 6, l, INK, { align: 'center' }));
  if (rowTitle) c.text(PAD, L.grid.y + L.grid.h / 2, rowTitle, INK, { vertical: true, align: 'center' });
  if (colTitle) c.text(L.grid.x + L.grid.w / 2, L.height - PAD, colTitle, INK, { align: 'center', baseline: 'bottom' });
  if (o.title) c.text(L.width / 2, PAD, o.title, INK, { scale: 2, align: 'center' });
  return c.toImage();
}
