// Colours for charts: a categorical palette (distinct hues of similar weight, readable on
// white), greys for frames and grids, and a white-to-blue ramp for heatmaps.
import type { Rgb } from './canvas.js';

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
/** Axes, tick labels, titles. */
export const INK: Rgb = [40, 40, 40];
/** Grid lines. */
export const GRID: Rgb = [225, 225, 225];
/** Reference lines (chance diagonal). */
export const MUTED: Rgb = [150, 150, 150];

export const PALETTE: readonly Rgb[] = [
  [33, 102, 172], // blue
  [214, 96, 37], // orange
  [45, 150, 70], // green
  [200, 40, 60], // red
  [120, 80, 170], // purple
  [140, 90, 60], // brown
  [210, 90, 170], // pink
  [20, 160, 170], // teal
];

/** The i-th palette colour (cycles). */
export function seriesColor(i: number): Rgb {
  return PALETTE[i % PALETTE.length];
}

/** t in [0, 1] -> white .. deep blue (linear in RGB; t is clamped, NaN gives light grey). */
export function ramp(t: number): Rgb {
  if (Number.isNaN(t)) return [235, 235, 235];
  const u = Math.min(1, Math.max(0, t));
  const to: Rgb = [8, 48, 107];
  return [0, 1, 2].map((k) => Math.round(255 + (to[k] - 255) * u)) as unknown as Rgb;
}

/** Relative luminance in [0, 1] (Rec. 709 weights on the 8-bit values): picks black or white text. */
export function luminance(c: Rgb): number {
  return (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
}
