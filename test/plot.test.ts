// The plotting library (src/plot), checked pixel by pixel: glyphs land where their bitmaps
// say, lines hit the pixels of the ideal line, axes map data ranges to the pixels the frame
// draws, bars and heatmap cells have the heights and colours of their values, and the whole
// library bundles for the browser.
import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import {
  Canvas, glyph, textWidth, fontCharacters, GLYPH_W, GLYPH_H, ADVANCE,
  niceStep, niceRange, linearTicks, logRange, formatTick, makeAxis,
  lineChart, lineChartLayout, barChart, heatmap, heatmapLayout, ramp, seriesColor, INK, type Rgb,
} from '../src/plot/index.js';
import { encodePng, decodePng, type Image8 } from '../src/data/png.js';

const RED: Rgb = [255, 0, 0];
const px = (img: Image8, x: number, y: number): Rgb => {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
};
const same = (a: Rgb, b: Rgb) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
/** Every pixel of colour c, as "x,y" strings. */
function pixelsOf(img: Image8, c: Rgb): Set<string> {
  const out = new Set<string>();
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (same(px(img, x, y), c)) out.add(`${x},${y}`);
  return out;
}
const bit = (ch: string, r: number, col: number) => (glyph(ch)[r] >> (GLYPH_W - 1 - col)) & 1;

describe('font', () => {
  it('has distinct, non-empty 5×7 glyphs for digits, letters and chart punctuation', () => {
    const chars = fontCharacters();
    for (const ch of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,-+%:()[]/=_×') expect(chars).toContain(ch);
    const seen = new Map<string, string>();
    for (const ch of chars) {
      const rows = glyph(ch);
      expect(rows.length).toBe(GLYPH_H);
      for (const r of rows) expect(r >= 0 && r < 1 << GLYPH_W).toBe(true);
      const key = rows.join(',');
      if (ch !== ' ') expect(rows.some((r) => r !== 0), `glyph '${ch}' is empty`).toBe(true);
      expect(seen.get(key), `'${ch}' draws the same as '${seen.get(key)}'`).toBeUndefined();
      seen.set(key, ch);
    }
    // Unknown characters draw a hollow box, not nothing.
    expect(glyph('\u2603')).toEqual([31, 17, 17, 17, 17, 17, 31]);
    expect(textWidth('')).toBe(0);
    expect(textWidth('AUC 0.87', 2)).toBe((8 * ADVANCE - 1) * 2);
  });

  it('text puts each glyph bit at its pixel, at scale 1 and 2, horizontal and vertical', () => {
    const text = 'Ag%5';
    for (const scale of [1, 2]) {
      const c = new Canvas(60, 30);
      c.text(3, 4, text, RED, { scale });
      const want = new Set<string>();
      [...text].forEach((ch, k) => {
        for (let r = 0; r < GLYPH_H; r++) {
          for (let col = 0; col < GLYPH_W; col++) {
            if (!bit(ch, r, col)) continue;
            for (let a = 0; a < scale; a++) for (let b = 0; b < scale; b++) want.add(`${3 + (k * ADVANCE + col) * scale + a},${4 + r * scale + b}`);
          }
        }
      });
      expect(pixelsOf(c.toImage(), RED)).toEqual(want);
    }
    // Vertical (reads bottom to top): glyph row r becomes column x + r, glyph column col
    // becomes row y - 1 - col (the text starts at y and goes up).
    const v = new Canvas(20, 40);
    v.text(5, 35, 'Ab', RED, { vertical: true });
    const want = new Set<string>();
    [...'Ab'].forEach((ch, k) => {
      for (let r = 0; r < GLYPH_H; r++) for (let col = 0; col < GLYPH_W; col++) if (bit(ch, r, col)) want.add(`${5 + r},${35 - 1 - (k * ADVANCE + col)}`);
    });
    expect(pixelsOf(v.toImage(), RED)).toEqual(want);
  });

  it('align and baseline move the text box by its width and height', () => {
    const bbox = (align: 'left' | 'center' | 'right', baseline: 'top' | 'middle' | 'bottom') => {
      const c = new Canvas(100, 40);
      c.text(50, 20, 'HH', RED, { align, baseline });
      const xs = [...pixelsOf(c.toImage(), RED)].map((p) => p.split(',').map(Number));
      return [Math.min(...xs.map((p) => p[0])), Math.min(...xs.map((p) => p[1])), Math.max(...xs.map((p) => p[0])), Math.max(...xs.map((p) => p[1]))];
    };
    // 'HH' is 11 px wide (both H have ink in their first and last columns) and 7 px tall.
    expect(bbox('left', 'top')).toEqual([50, 20, 60, 26]);
    expect(bbox('right', 'bottom')).toEqual([39, 13, 49, 19]);
    expect(bbox('center', 'middle')).toEqual([45, 17, 55, 23]); // round(50 - 5.5), round(20 - 3.5)
  });
});

describe('canvas lines', () => {
  it('a line of any slope hits one pixel per step along its major axis, each within half a pixel of the ideal line', () => {
    for (const [x0, y0, x1, y1] of [[2, 3, 37, 14], [30, 2, 5, 27], [4, 30, 9, 1], [1, 1, 28, 28], [3, 9, 33, 9], [7, 2, 7, 25]]) {
      const c = new Canvas(40, 32);
      c.line(x0, y0, x1, y1, RED);
      const pts = [...pixelsOf(c.toImage(), RED)].map((p) => p.split(',').map(Number));
      const steep = Math.abs(y1 - y0) > Math.abs(x1 - x0);
      const major = steep ? 1 : 0;
      const n = Math.abs(steep ? y1 - y0 : x1 - x0) + 1;
      expect(pts.length).toBe(n);
      expect(new Set(pts.map((p) => p[major])).size).toBe(n); // one pixel per major coordinate
      for (const [x, y] of pts) {
        const ideal = steep ? x0 + ((y - y0) * (x1 - x0)) / (y1 - y0) : y0 + ((x - x0) * (y1 - y0)) / (x1 - x0);
        expect(Math.abs((steep ? x : y) - ideal)).toBeLessThanOrEqual(0.5 + 1e-9);
      }
      expect(same(c.get(x0, y0), RED) && same(c.get(x1, y1), RED)).toBe(true);
    }
  });

  it('width, dashes and the clip rectangle', () => {
    const c = new Canvas(30, 20);
    c.line(2, 10, 27, 10, RED, { width: 3 });
    expect(pixelsOf(c.toImage(), RED).size).toBe(28 * 3); // the 3×3 brush: columns 1..28, rows 9..11
    for (const y of [9, 10, 11]) expect(same(c.get(15, y), RED)).toBe(true);
    const d = new Canvas(30, 5);
    d.line(0, 2, 29, 2, RED, { dash: [4, 3] });
    const on = [...Array(30).keys()].map((x) => (same(d.get(x, 2), RED) ? 1 : 0)).join('');
    expect(on).toBe('111100011110001111000111100011');
    const k = new Canvas(30, 30);
    k.clip({ x: 10, y: 10, w: 5, h: 5 });
    k.line(0, 0, 29, 29, RED);
    expect([...pixelsOf(k.toImage(), RED)].sort()).toEqual(['10,10', '11,11', '12,12', '13,13', '14,14']);
  });

  it('polyline leaves a gap at non-finite points and dots isolated ones', () => {
    const c = new Canvas(40, 10);
    c.polyline([1, 10, 20, 30, 38], [5, 5, NaN, 5, NaN], RED);
    const row = [...Array(40).keys()].map((x) => (same(c.get(x, 5), RED) ? 1 : 0));
    expect(row.slice(1, 11).every(Boolean)).toBe(true);
    expect(row.slice(11, 30).some(Boolean)).toBe(false);
    expect(row[30]).toBe(1);
    expect(row.slice(31).some(Boolean)).toBe(false);
  });
});

describe('scales', () => {
  it('nice steps, ticks and ranges', () => {
    expect([niceStep(1, 5), niceStep(1, 6), niceStep(7.3, 6), niceStep(0.0042, 4), niceStep(950, 6)]).toEqual([0.2, 0.2, 2, 0.002, 200]);
    expect(linearTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(linearTicks(-0.35, 0.71, 5)).toEqual([0, 0.5]); // 1.06 / 5 > 0.2: step 0.5
    expect(linearTicks(-0.35, 0.71, 6)).toEqual([-0.2, 0, 0.2, 0.4, 0.6]);
    expect(niceRange(0.13, 0.87)).toEqual([0, 1]);
    expect(niceRange(3.2, 5.9)).toEqual([3, 6]);
    expect(niceRange(2, 2)).toEqual([1.8, 2.2]);
    expect(logRange(0.003, 42)).toEqual([0.001, 100]);
    expect([formatTick(0.30000000000000004, 0.1), formatTick(40, 20), formatTick(2e-5, 1e-5), formatTick(2500000, 5e5), formatTick(-0.5, 0.25)]).toEqual(['0.3', '40', '2e-5', '2.5e6', '-0.50']);
  });

  it('axes map their ends to the given pixels, linearly or by log10', () => {
    const a = makeAxis(-2, 6, 100, 20);
    expect([a.toPixel(-2), a.toPixel(6), a.toPixel(2)]).toEqual([100, 20, 60]);
    const l = makeAxis(0.01, 100, 0, 400, { log: true });
    expect(l.ticks).toEqual([0.01, 0.1, 1, 10, 100]);
    expect(l.toPixel(1)).toBeCloseTo(200, 9);
    expect(l.toPixel(10)).toBeCloseTo(300, 9);
    expect(Number.isNaN(l.toPixel(0))).toBe(true);
  });
});

describe('line chart', () => {
  const opts = {
    width: 320, height: 240, title: 'Loss', xLabel: 'iteration', yLabel: 'value', xRange: [0, 1] as [number, number], yRange: [0, 1] as [number, number],
    legend: 'none' as const,
  };

  it('the frame is drawn where the layout says and data values land on their pixels', () => {
    const img = lineChart({ ...opts, series: [{ name: 'flat', x: [0, 1], y: [0.25, 0.25], color: RED, width: 1 }] });
    const { plot, x, y } = lineChartLayout({ ...opts, series: [{ name: 'flat', x: [0, 1], y: [0.25, 0.25] }] });
    // The plot box: INK along its top and left edges.
    for (let i = 1; i < plot.w - 1; i++) expect(px(img, plot.x + i, plot.y)).toEqual(INK);
    for (let j = 1; j < plot.h - 1; j++) expect(px(img, plot.x, plot.y + j)).toEqual(INK);
    // y = 0 is the bottom row of the box, 1 the top; 0.25 is 3/4 of the way down.
    expect(y.toPixel(0)).toBe(plot.y + plot.h - 1);
    expect(y.toPixel(1)).toBe(plot.y);
    const row = Math.round(plot.y + 0.75 * (plot.h - 1));
    const red = [...pixelsOf(img, RED)].map((p) => p.split(',').map(Number));
    expect(new Set(red.map((p) => p[1]))).toEqual(new Set([row]));
    expect(red.length).toBe(plot.w - 2); // the whole width inside the box (the box covers both ends)
    expect(x.toPixel(0.5)).toBeCloseTo(plot.x + (plot.w - 1) / 2, 9);
  });

  it('a diagonal passes through the pixels of its data points; a NaN leaves a gap', () => {
    const series = [{ name: 'd', x: [0, 0.2, 0.5, 0.6, 1], y: [0, 0.2, 0.5, NaN, 1], color: RED, width: 1 }];
    const img = lineChart({ ...opts, series });
    const { x, y } = lineChartLayout({ ...opts, series });
    for (const v of [0.1, 0.2, 0.35, 0.5]) {
      const cx = Math.round(x.toPixel(v));
      const cy = y.toPixel(v);
      const hit = [-1, 0, 1].some((d) => same(px(img, cx, Math.round(cy) + d), RED));
      expect(hit, `no line pixel near (${v}, ${v})`).toBe(true);
    }
    // 0.5 -> NaN -> 1: nothing drawn strictly between x(0.5) and x(1).
    const gap = [...pixelsOf(img, RED)].map((p) => Number(p.split(',')[0])).filter((px0) => px0 > x.toPixel(0.5) + 1 && px0 < x.toPixel(1) - 1);
    expect(gap).toEqual([]);
  });

  it('tick labels are drawn beside their ticks, and default ranges cover the data', () => {
    const img = lineChart({ width: 300, height: 200, legend: 'none', series: [{ name: 'a', y: [3.2, 4.1, 5.9] }] });
    const { plot, x, y } = lineChartLayout({ width: 300, height: 200, series: [{ name: 'a', y: [3.2, 4.1, 5.9] }] });
    expect([y.lo, y.hi, x.lo, x.hi]).toEqual([3, 6, 0, 2]);
    for (const t of y.ticks) {
      const ty = Math.round(y.toPixel(t));
      let ink = 0;
      for (let xx = 0; xx < plot.x - 5; xx++) for (let dy = -3; dy <= 3; dy++) if (same(px(img, xx, ty + dy), INK)) ink++;
      expect(ink, `label of tick ${t}`).toBeGreaterThan(5);
    }
    // The series colour appears only inside the plot box.
    for (const p of pixelsOf(img, seriesColor(0))) {
      const [a, b] = p.split(',').map(Number);
      expect(a > plot.x && a < plot.x + plot.w - 1 && b > plot.y && b < plot.y + plot.h - 1).toBe(true);
    }
  });

  it('encodes to a PNG that decodes to the same pixels', async () => {
    const img = lineChart({ ...opts, series: [{ name: 'a', y: [0.1, 0.9, 0.4] }] });
    const back = await decodePng(await encodePng(img));
    expect([back.width, back.height, back.channels]).toEqual([320, 240, 3]);
    expect(Buffer.from(back.data).equals(Buffer.from(img.data))).toBe(true);
  });
});

describe('bar chart and heatmap', () => {
  it('bar heights are proportional to the values, from the zero line', () => {
    const img = barChart({ width: 300, height: 220, categories: ['a', 'b', 'c'], yRange: [0, 1], series: [{ name: 's', values: [1, 0.5, 0.25], color: RED }] });
    const heights: number[] = [];
    const columns: number[] = [];
    for (let xx = 0; xx < img.width; xx++) {
      let n = 0;
      for (let yy = 0; yy < img.height; yy++) if (same(px(img, xx, yy), RED)) n++;
      if (n > 0) columns.push(n);
    }
    for (const n of columns) if (!heights.includes(n)) heights.push(n);
    expect(heights.length).toBe(3);
    const [h1, h2, h4] = heights;
    expect(Math.abs(h2 - h1 / 2)).toBeLessThanOrEqual(1);
    expect(Math.abs(h4 - h1 / 4)).toBeLessThanOrEqual(1);
    expect(columns.length).toBeGreaterThan(3 * 40); // three wide bars
  });

  it('heatmap cells take the ramp colour of their value, with a contrasting number', () => {
    const m = [[50, 3, 1], [4, 41, 6], [0, 5, 30]];
    const img = heatmap({ matrix: m, rowLabels: ['0', '1-2', '3'], colLabels: ['0', '1-2', '3'], title: 'Confusion' });
    const L = heatmapLayout({ matrix: m, rowLabels: ['0', '1-2', '3'], colLabels: ['0', '1-2', '3'], title: 'Confusion' });
    expect([img.width, img.height]).toEqual([L.width, L.height]);
    m.forEach((r, i) =>
      r.forEach((v, j) => {
        const x0 = L.grid.x + j * L.cell;
        const y0 = L.grid.y + i * L.cell;
        const bg = ramp(v / 50);
        expect(px(img, x0 + 3, y0 + 3)).toEqual(bg); // a corner: background only
        // The number: pixels of another colour near the centre (white on dark, black on light).
        let ink = 0;
        for (let dy = -8; dy <= 8; dy++) for (let dx = -12; dx <= 12; dx++) if (!same(px(img, x0 + L.cell / 2 + dx, y0 + L.cell / 2 + dy), bg)) ink++;
        expect(ink, `cell ${i},${j}`).toBeGreaterThan(10);
      }),
    );
    expect(px(img, L.grid.x + L.cell / 2 - 20, L.grid.y + L.cell / 2)).toEqual(ramp(1));
    expect(() => heatmap({ matrix: [[1, 2], [3]] })).toThrow('heatmap: row 1 has 1 values, row 0 has 2');
  });
});

describe('browser safety', () => {
  it('src/plot bundles for the browser with no Node built-in', async () => {
    const r = await build({
      entryPoints: [fileURLToPath(new URL('../src/plot/index.ts', import.meta.url))],
      bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent', metafile: true,
    }).catch((e: { errors?: { text: string }[] }) => ({ failed: (e.errors ?? []).map((x) => x.text).join('\n') }));
    expect('failed' in r ? r.failed : '').toBe('');
    if (!('failed' in r)) expect(Object.keys(r.metafile!.inputs).every((p) => p.startsWith('src/plot/') || p === 'src/data/png.ts')).toBe(true);
  });
});
