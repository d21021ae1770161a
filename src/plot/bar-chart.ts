// Grouped bar charts: per-class F1 of several models, images/s per adapter, etc. One group per
// category, one bar per series inside it; the y axis always includes 0 (bars start there).
//
//   barChart({ title: 'F1 per class', categories: ['0', '1-2', '3'],
//     series: [{ name: 'DualVLAD', values: [0.8, 0.6, 0.7] }, { name: 'max-score', values: [...] }] })
import type { Image8 } from '../data/png.js';
import type { Rgb } from './canvas.js';
import { makeAxis, niceRange } from './scale.js';
import { layoutFrame, drawYAxis, drawPlotBox, drawLegend, drawCategoryLabels, type FrameOptions, type LegendPosition } from './frame.js';
import { seriesColor, INK } from './colors.js';

export interface BarSeries {
  name: string;
  /** One value per category (non-finite: no bar). */
  values: ArrayLike<number>;
  color?: Rgb;
}

export interface BarChartOptions extends FrameOptions {
  categories: string[];
  series: BarSeries[];
  yRange?: [number, number];
  /** Print each value above (or below, if negative) its bar with this many decimals. */
  valueDecimals?: number;
  legend?: LegendPosition;
}

/** Share of a category slot the bars of a group fill (the rest separates groups). */
const GROUP_FILL = 0.8;

export function barChart(o: BarChartOptions): Image8 {
  if (o.series.length === 0 || o.categories.length === 0) throw new Error('barChart: no series or no categories');
  for (const s of o.series) {
    if (s.values.length !== o.categories.length) {
      throw new Error(`barChart: series '${s.name}' has ${s.values.length} values for ${o.categories.length} categories`);
    }
  }
  let lo = 0;
  let hi = 0;
  for (const s of o.series) {
    for (let i = 0; i < s.values.length; i++) {
      if (Number.isFinite(s.values[i])) {
        lo = Math.min(lo, s.values[i]);
        hi = Math.max(hi, s.values[i]);
      }
    }
  }
  const [y0, y1] = o.yRange ?? niceRange(lo, hi === lo ? lo + 1 : hi);
  const probe = makeAxis(y0, y1, 1, 0);
  const { canvas, plot } = layoutFrame(o, probe.labels, o.categories[o.categories.length - 1]);
  const y = makeAxis(y0, y1, plot.y + plot.h - 1, plot.y);
  drawYAxis(canvas, plot, y);

  const slot = plot.w / o.categories.length;
  const barW = (slot * GROUP_FILL) / o.series.length;
  const base = Math.round(y.toPixel(Math.min(Math.max(0, y0), y1)));
  const centres = o.categories.map((_, c) => plot.x + slot * (c + 0.5));
  canvas.clip(plot);
  o.series.forEach((s, k) => {
    const color = s.color ?? seriesColor(k);
    for (let c = 0; c < o.categories.length; c++) {
      const v = s.values[c];
      if (!Number.isFinite(v)) continue;
      const left = Math.round(centres[c] - (slot * GROUP_FILL) / 2 + k * barW);
      const right = Math.round(centres[c] - (slot * GROUP_FILL) / 2 + (k + 1) * barW) - 1; // 1 px gap between bars
      const top = Math.round(y.toPixel(v));
      const [ya, yb] = top <= base ? [top, base] : [base, top];
      canvas.fillRect(left, ya, Math.max(1, right - left), yb - ya + 1, color);
      if (o.valueDecimals !== undefined) {
        const label = v.toFixed(o.valueDecimals);
        canvas.text((left + right) / 2, v >= 0 ? ya - 3 : yb + 3, label, INK, { align: 'center', baseline: v >= 0 ? 'bottom' : 'top' });
      }
    }
  });
  canvas.clip(null);
  drawCategoryLabels(canvas, plot, centres, o.categories);
  drawPlotBox(canvas, plot);
  if (o.series.length > 1 || o.legend) {
    drawLegend(canvas, plot, o.series.map((s, k) => ({ name: s.name, color: s.color ?? seriesColor(k), swatch: true })), o.legend ?? 'top-right');
  }
  return canvas.toImage();
}
