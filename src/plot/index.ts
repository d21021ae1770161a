// Charts as pixels, browser-safe: every function returns an Image8 (RGB) for
// src/data/png.ts encodePng. Used for ROC curves, confusion matrices, training curves and
// the soak benchmark (bench/soak.ts).
export { Canvas, type Rgb, type Rect, type LineStyle, type TextStyle } from './canvas.js';
export { glyph, textWidth, fontCharacters, GLYPH_W, GLYPH_H, ADVANCE } from './font.js';
export { makeAxis, niceStep, niceRange, linearTicks, logRange, formatTick, type Axis } from './scale.js';
export { PALETTE, seriesColor, ramp, luminance, WHITE, BLACK, INK, GRID, MUTED } from './colors.js';
export { lineChart, lineChartLayout, type Series, type LineChartOptions, type LineChartLayout } from './line-chart.js';
export { barChart, type BarSeries, type BarChartOptions } from './bar-chart.js';
export { heatmap, heatmapLayout, type HeatmapOptions, type HeatmapLayout } from './heatmap.js';
export type { LegendPosition } from './frame.js';
