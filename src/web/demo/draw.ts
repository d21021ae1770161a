// Canvas drawing for the demo: gray frames, the filmstrip with the critical frame marked, the
// β bar chart, and the CLS attention heatmap over a frame (nearest-upsampled patches, as DINO
// draws them). Plain 2D canvas; no library.
import type { AttentionHeatmap } from '../index.js';

const ACCENT = '#ff8c1a';
const AXIS = '#8a94a6';

/** A gray [0, 1] frame (size × size) as a canvas of that size. */
export function frameCanvas(frame: Float32Array, size: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const img = new ImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = Math.max(0, Math.min(255, Math.round(frame[i] * 255)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  c.getContext('2d')!.putImageData(img, 0, 0);
  return c;
}

function context(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

/** The S sampled frames side by side (two rows when many), the critical one framed in orange. */
export function drawFilmstrip(canvas: HTMLCanvasElement, frames: Float32Array[], size: number, critical: number | null): void {
  const tile = 72;
  const gap = 6;
  const perRow = Math.min(frames.length, 8);
  const rows = Math.ceil(frames.length / perRow);
  const ctx = context(canvas, perRow * (tile + gap) + gap, rows * (tile + gap + 14) + gap);
  ctx.font = '11px sans-serif';
  frames.forEach((f, i) => {
    const x = gap + (i % perRow) * (tile + gap);
    const y = gap + Math.floor(i / perRow) * (tile + gap + 14);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(frameCanvas(f, size), x, y, tile, tile);
    ctx.fillStyle = i === critical ? ACCENT : AXIS;
    ctx.fillText(i === critical ? `#${i} critical` : `#${i}`, x, y + tile + 12);
    if (i === critical) {
      ctx.strokeStyle = ACCENT;
      ctx.lineWidth = 4;
      ctx.strokeRect(x - 2, y - 2, tile + 4, tile + 4);
    }
  });
}

/** β per frame as bars; the critical frame's bar in orange, uniform 1/S as a dashed line. */
export function drawBeta(canvas: HTMLCanvasElement, beta: readonly number[], critical: number | null): void {
  const W = 560;
  const H = 170;
  const pad = { l: 40, r: 10, t: 10, b: 24 };
  const ctx = context(canvas, W, H);
  const top = Math.max(...beta, 1 / beta.length) * 1.1;
  const bw = (W - pad.l - pad.r) / beta.length;
  const yOf = (v: number) => H - pad.b - (v / top) * (H - pad.t - pad.b);
  ctx.font = '11px sans-serif';
  ctx.fillStyle = AXIS;
  ctx.strokeStyle = AXIS;
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t);
  ctx.lineTo(pad.l, H - pad.b);
  ctx.lineTo(W - pad.r, H - pad.b);
  ctx.stroke();
  ctx.fillText(top.toFixed(2), 4, pad.t + 8);
  ctx.fillText('0', 28, H - pad.b);
  beta.forEach((b, i) => {
    ctx.fillStyle = i === critical ? ACCENT : '#4f7cff';
    ctx.fillRect(pad.l + i * bw + 2, yOf(b), bw - 4, H - pad.b - yOf(b));
    ctx.fillStyle = AXIS;
    ctx.fillText(String(i), pad.l + i * bw + bw / 2 - 4, H - 8);
  });
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(pad.l, yOf(1 / beta.length));
  ctx.lineTo(W - pad.r, yOf(1 / beta.length));
  ctx.stroke();
  ctx.setLineDash([]);
}

/** Heat colour ramp (black → red → yellow → white) for t in [0, 1]. */
function heat(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.max(0, Math.min(1, x)));
  return [c(3 * t), c(3 * t - 1), c(3 * t - 2)];
}

/**
 * The frame with its thresholded CLS attention on top: each patch of the g × g grid is one
 * block (nearest upsampling); patches in the 60%-mass set are coloured by where their value
 * sits between the smallest and the largest kept value (so an untrained model's nearly
 * uniform attention still shows its structure); the others stay clear.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, frame: Float32Array, size: number, map: AttentionHeatmap): void {
  const W = 320;
  const ctx = context(canvas, W, W);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(frameCanvas(frame, size), 0, 0, W, W);
  const g = map.grid;
  const kept = Array.from(map.thresholded).filter((v) => v > 0);
  if (kept.length === 0) return;
  const lo = Math.min(...kept);
  const span = Math.max(...kept) - lo || 1;
  const cell = W / g;
  for (let p = 0; p < g * g; p++) {
    if (!(map.thresholded[p] > 0)) continue;
    const v = (map.thresholded[p] - lo) / span;
    const [r, gg, b] = heat(0.3 + 0.7 * v);
    ctx.fillStyle = `rgba(${r}, ${gg}, ${b}, ${0.2 + 0.5 * v})`;
    ctx.fillRect((p % g) * cell, Math.floor(p / g) * cell, Math.ceil(cell), Math.ceil(cell));
  }
}
