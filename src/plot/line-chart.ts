// Line charts: training curves, ROC curves, soak-benchmark memory traces. Several series on
// shared axes, a linear or log10 y axis, gaps at non-finite points (a NaN loss shows as a
// break, not as a dive to zero), dashed reference lines, a legend and a title.
//
//   lineChart({ title: 'ROC', xLabel: 'false positive rate', yLabel: 'true positive rate',
//     xRange: [0, 1], yRange: [0, 1], legend: 'bottom-right',
//     series: [{ name: 'chance', x: [0, 1], y: [0, 1], dash: [5, 4], color: MUTED },
//              { name: 'AUC 0.87', x: fpr, y: tpr }] })            -> Image8 for encodePng
import type { Image8 } from '../data/png.js';
import type { Rect, Rgb } from './canvas.js';
import { makeAxis, niceRange, logRange, type Axis } from './scale.js';
import { layoutFrame, drawXAxis, drawYAxis, drawPlotBox, drawLegend, type FrameOptions, type LegendPosition } from './frame.js';
import { seriesColor } from './colors.js';

export interface Series {
  name: string;
  /** x values (default 0, 1, 2, …). */
  x?: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: Rgb;
  /** Line width in pixels (default 2). */
  width?: number;
  /** On/off dash lengths in pixels, e.g. [5, 4]. */
  dash?: readonly [number, number];
}

export interface LineChartOptions extends FrameOptions {
  series: Series[];
  /** Axis ranges; default: x spans the data exactly, y is the data range widened to nice ticks. */
  xRange?: [number, number];
  yRange?: [number, number];
  /** log10 y axis (losses over orders of magnitude); non-positive values become gaps. */
  yLog?: boolean;
  legend?: LegendPosition;
}

/** The layout and axes lineChart draws with (exported so tests and callers can map data to pixels). */
export interface LineChartLayout {
  plot: Rect;
  x: Axis;
  y: Axis;
}

function xsOf(s: Series): ArrayLike<number> {
  if (s.x && s.x.length !== s.y.length) throw new Error(`lineChart: series '${s.name}' has ${s.x.length} x and ${s.y.length} y values`);
  return s.x ?? Float64Array.from({ length: s.y.length }, (_, i) => i);
}

function extent(values: ArrayLike<number>[], keep: (v: number) => boolean): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const vs of values) {
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      if (Number.isFinite(v) && keep(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}

function ranges(o: LineChartOptions): { x: [number, number]; y: [number, number] } {
  let x = o.xRange ?? extent(o.series.map(xsOf), () => true);
  if (!Number.isFinite(x[0])) x = [0, 1];
  if (x[0] === x[1]) x = [x[0] - 0.5, x[1] + 0.5];
  let y: [number, number];
  if (o.yRange) y = o.yRange;
  else if (o.yLog) {
    const [lo, hi] = extent(o.series.map((s) => s.y), (v) => v > 0);
    y = Number.isFinite(lo) ? logRange(lo, hi) : [1, 10];
  } else {
    const [lo, hi] = extent(o.series.map((s) => s.y), () => true);
    y = niceRange(lo, hi);
  }
  return { x, y };
}

/** Where lineChart puts the plot and how it maps data to pixels, without drawing. */
export function lineChartLayout(o: LineChartOptions): LineChartLayout {
  return build(o).layout;
}

function build(o: LineChartOptions) {
  const r = ranges(o);
  // Tick labels size the margins, so make the axes once to get them, then with real pixels.
  const y0 = makeAxis(r.y[0], r.y[1], 1, 0, { log: o.yLog });
  const x0 = makeAxis(r.x[0], r.x[1], 0, 1);
  const { canvas, plot } = layoutFrame(o, y0.labels, x0.labels[x0.labels.length - 1] ?? '');
  const x = makeAxis(r.x[0], r.x[1], plot.x, plot.x + plot.w - 1);
  const y = makeAxis(r.y[0], r.y[1], plot.y + plot.h - 1, plot.y, { log: o.yLog });
  return { canvas, layout: { plot, x, y } };
}

export function lineChart(o: LineChartOptions): Image8 {
  if (o.series.length === 0) throw new Error('lineChart: no series');
  const { canvas, layout } = build(o);
  const { plot, x, y } = layout;
  drawYAxis(canvas, plot, y);
  drawXAxis(canvas, plot, x);
  canvas.clip(plot);
  o.series.forEach((s, i) => {
    const xs = xsOf(s);
    const px = Float64Array.from({ length: s.y.length }, (_, k) => x.toPixel(xs[k]));
    const py = Float64Array.from({ length: s.y.length }, (_, k) => y.toPixel(s.y[k]));
    canvas.polyline(px, py, s.color ?? seriesColor(i), { width: s.width ?? 2, dash: s.dash });
  });
  canvas.clip(null);
  drawPlotBox(canvas, plot);
  drawLegend(
    canvas,
    plot,
    o.series.map((s, i) => ({ name: s.name, color: s.color ?? seriesColor(i), dash: s.dash })),
    o.legend ?? 'top-right',
  );
  return canvas.toImage();
}
