// Launchers for shaders/layernorm.wgsl: LayerNorm over the last axis with weight and bias,
// optionally saving mean and rstd per row for the backward.
import source from '../../shaders/layernorm.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { bindable, bindingOf, contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import { fill } from './elementwise.js';
import { reduce } from './reduce.js';
import type { AdapterSummary } from './adapter-info.js';

type AdapterFamily = AdapterSummary['family'];

/** v1: thread per row. v2: workgroup per row, 3 passes. v3: workgroup per row, row in registers. */
export type LayerNormVersion = 1 | 2 | 3;
export const LAYERNORM_VERSIONS: readonly LayerNormVersion[] = [1, 2, 3];

/** Elements per thread that v3 keeps in registers (VPT in the shader). */
export const LAYERNORM_V3_VPT = 8;

export interface LayerNormPlan {
  version: LayerNormVersion;
  wg: number;
}

export interface LayerNormOpts {
  /** Also return mean and rstd per row (shape: x's leading dims), for the backward. */
  saveStats?: boolean;
  /** Force a version (tests, benchmarks); default: planLayerNorm. */
  version?: LayerNormVersion;
  /** Force the workgroup size (a power of two in 1..256; v3 needs D <= 8·wg). */
  wg?: number;
}

export interface LayerNormResult {
  y: Tensor;
  mean: Tensor;
  rstd: Tensor;
}

const WG_V1 = 64;

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * GPU: rows shorter than 32 take a thread each. Otherwise a workgroup per row: v3 (x read
 * once, from registers) with the smallest workgroup that holds the row at 8 elements per
 * thread (D = 384: 64 threads, 6 elements each), at least 32; v2 with 256 threads past
 * D = 2048.
 * CPU adapters (lavapipe, SwiftShader: a workgroup runs on one core, 8 lanes at a time, a
 * barrier is a coroutine switch, and private arrays live in memory): thread per row (v1) in
 * workgroups of 8 when there are rows enough (>= 64) to keep the cores busy, else v2 with 8
 * threads.
 */
export function planLayerNorm(rows: number, d: number, family: AdapterFamily = 'gpu'): LayerNormPlan {
  if (family !== 'gpu') return d < 32 || rows >= 64 ? { version: 1, wg: 8 } : { version: 2, wg: 8 };
  if (d < 32) return { version: 1, wg: WG_V1 };
  if (d <= LAYERNORM_V3_VPT * 256) return { version: 3, wg: Math.max(32, pow2AtLeast(ceilDiv(d, LAYERNORM_V3_VPT))) };
  return { version: 2, wg: 256 };
}

function checkParam(t: Tensor, name: string, d: number, x: Tensor): void {
  t.assertAlive('layernormForward');
  if (t.ndim !== 1 || t.shape[0] !== d) {
    throw new Error(
      `layernormForward: ${name} ${t} has shape ${shapeStr(t.shape)}, expected (${d}) to match the last dim of x ${shapeStr(x.shape)}`,
    );
  }
}

export function layernormForward(x: Tensor, w: Tensor, b: Tensor, eps: number, opts: LayerNormOpts & { saveStats: true }): LayerNormResult;
export function layernormForward(x: Tensor, w: Tensor, b: Tensor, eps?: number, opts?: LayerNormOpts): Tensor;
/** y = (x - mean) * rstd * w + b over the last axis of x (any leading shape, any strides). */
export function layernormForward(x: Tensor, w: Tensor, b: Tensor, eps = 1e-5, opts: LayerNormOpts = {}): Tensor | LayerNormResult {
  const what = 'layernormForward';
  x.assertAlive(what);
  if (x.ndim === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} is a scalar; LayerNorm needs a last axis`);
  const d = x.shape[x.ndim - 1];
  if (d === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} has an empty last axis`);
  checkParam(w, 'weight', d, x);
  checkParam(b, 'bias', d, x);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${what}: eps must be finite and >= 0, got ${eps}`);
  const rows = x.size / Math.max(d, 1);
  const save = opts.saveStats === true;
  const y = Tensor.empty(x.shape, x.rt);
  // Without saveStats the shader writes no stats, but its bindings must still be filled:
  // two distinct one-element scratch buffers (two writable bindings may not alias).
  const mean = Tensor.empty(save ? x.shape.slice(0, -1) : [1], x.rt);
  const rstd = Tensor.empty(save ? x.shape.slice(0, -1) : [1], x.rt);
  if (x.size > 0) {
    const plan = planLayerNorm(rows, d, x.rt.adapter.family);
    const version = opts.version ?? plan.version;
    if (!LAYERNORM_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${LAYERNORM_VERSIONS.join(', ')})`);
    const wg =
      opts.wg ??
      (version === plan.version ? plan.wg : version === 1 ? WG_V1 : version === 3 ? Math.max(32, pow2AtLeast(ceilDiv(d, LAYERNORM_V3_VPT))) : 256);
    if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
    if (version === 3 && d > LAYERNORM_V3_VPT * wg) {
      throw new Error(`${what}: v3 holds at most ${LAYERNORM_V3_VPT}·${wg} = ${LAYERNORM_V3_VPT * wg} elements per row; x ${shapeStr(x.shape)} has ${d}`);
    }
    const xc = contiguous(x);
    const wc = bindable(w); // parameters: bound in place in their bucket
    const bc = bindable(b);
    x.rt.dispatch({
      kernel: { name: 'layernorm', source, entry: `layernorm_forward_v${version}`, overrides: { WG: wg, SAVE_STATS: save ? 1 : 0 } },
      buffers: { x: xc.buffer, w: bindingOf(wc), b: bindingOf(bc), y: y.buffer, mean_out: mean.buffer, rstd_out: rstd.buffer },
      params: { rows, d, eps, _pad: 0 },
      workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows),
      shapes: `${what} x${shapeStr(x.shape)} w${shapeStr(w.shape)} b${shapeStr(b.shape)} v${version} wg ${wg}${save ? ' +stats' : ''}`,
    });
    for (const [c, t] of [[xc, x], [wc, w], [bc, b]] as const) if (c !== t) c.dispose();
  }
  if (save) return { y, mean, rstd };
  mean.dispose();
  rstd.dispose();
  return y;
}

// ---------------------------------------------------------------- backward

/** v1: thread per row. v2: workgroup per row. v3: workgroup per chunk of rows, dw/db fused. */
export type LayerNormBackwardVersion = 1 | 2 | 3;
export const LAYERNORM_BACKWARD_VERSIONS: readonly LayerNormBackwardVersion[] = [1, 2, 3];

export interface LayerNormBackwardPlan {
  version: LayerNormBackwardVersion;
  wg: number;
  /** Rows per chunk of the dw/db partial sums (pass 1). */
  chunkRows: number;
}

export interface LayerNormBackwardOpts {
  /** Force a version (tests, benchmarks); default: planLayerNormBackward. */
  version?: LayerNormBackwardVersion;
  /** Force the workgroup size (a power of two in 1..256; v3 needs D <= 8·wg). */
  wg?: number;
  /** Force the rows per chunk of the dw/db partial sums. */
  chunkRows?: number;
  /** Compute dw and db (default true); false skips pass 1 and 2 (x's gradient only). */
  needParams?: boolean;
}

export interface LayerNormBackwardResult {
  dx: Tensor;
  /** (D), null when needParams is false. */
  dw: Tensor | null;
  db: Tensor | null;
}

/**
 * GPU: v3 (one pass for dx, dw and db: x and dy read once) wherever its registers hold the row
 *   (D <= 2048), with the forward's workgroup size, and chunks of rows so that ~1536 workgroups
 *   run (about 12 per SM of a 132-SM card), at least 4 rows each: on the H200 1570 chunks beat
 *   785 and 508 by 10-40% at (50240, 384), and also won at (6280, 384). Rows shorter than 32
 *   take a thread each (v1), rows past 2048 a workgroup each (v2); both add the dwdb_v1 pass.
 * CPU adapters (lavapipe): thread per row (v1) in workgroups of 8 whenever rows are many
 *   (>= 64), as the forward; v3's per-row barriers cost 4x there. dwdb_v1 then runs 16 chunks
 *   (16·D threads, >= 16 rows each); the chunking barely moved the time.
 */
export function planLayerNormBackward(rows: number, d: number, family: AdapterFamily = 'gpu'): LayerNormBackwardPlan {
  if (family !== 'gpu') {
    const chunkRows = Math.max(16, ceilDiv(rows, 16));
    return d < 32 || rows >= 64 ? { version: 1, wg: 8, chunkRows } : { version: 2, wg: 8, chunkRows };
  }
  const chunkRows = Math.max(4, ceilDiv(rows, 1536));
  if (d < 32) return { version: 1, wg: WG_V1, chunkRows };
  if (d <= LAYERNORM_V3_VPT * 256) return { version: 3, wg: Math.max(32, pow2AtLeast(ceilDiv(d, LAYERNORM_V3_VPT))), chunkRows };
  return { version: 2, wg: 256, chunkRows };
}

/**
 * Gradients of y = layernorm(x, w, b) from dy and the forward's saved mean and rstd:
 * dx (x's shape), dw and db (D). x is the forward input (re-read, not saved normalised).
 */
export function layernormBackward(
  x: Tensor, w: Tensor, mean: Tensor, rstd: Tensor, dy: Tensor, opts: LayerNormBackwardOpts = {},
): LayerNormBackwardResult {
  const what = 'layernormBackward';
  for (const t of [x, w, mean, rstd, dy]) t.assertAlive(what);
  if (x.ndim === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} is a scalar; LayerNorm needs a last axis`);
  const d = x.shape[x.ndim - 1];
  if (d === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} has an empty last axis`);
  const rows = x.size / d;
  if (dy.ndim !== x.ndim || dy.shape.some((s, i) => s !== x.shape[i])) {
    throw new Error(`${what}: gradient ${dy} ${shapeStr(dy.shape)} does not match x ${shapeStr(x.shape)}`);
  }
  if (w.ndim !== 1 || w.shape[0] !== d) throw new Error(`${what}: weight ${w} ${shapeStr(w.shape)} must be (${d}) to match x ${shapeStr(x.shape)}`);
  for (const [t, n] of [[mean, 'mean'], [rstd, 'rstd']] as const) {
    if (t.size !== rows) throw new Error(`${what}: saved ${n} ${t} ${shapeStr(t.shape)} has ${t.size} values for ${rows} rows of x ${shapeStr(x.shape)}`);
  }
  const needParams = opts.needParams !== false;
  const plan = planLayerNormBackward(rows, d, x.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (!LAYERNORM_BACKWARD_VERSIONS.includes(version)) {
    throw new Error(`${what}: no version ${version} (have ${LAYERNORM_BACKWARD_VERSIONS.join(', ')})`);
  }
  const wg =
    opts.wg ??
    (version === plan.version ? plan.wg : version === 1 ? WG_V1 : version === 3 ? Math.max(32, pow2AtLeast(ceilDiv(d, LAYERNORM_V3_VPT))) : 256);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  if (version === 3 && d > LAYERNORM_V3_VPT * wg) {
    throw new Error(`${what}: v3 holds at most ${LAYERNORM_V3_VPT}·${wg} = ${LAYERNORM_V3_VPT * wg} elements per row; x ${shapeStr(x.shape)} has ${d}`);
  }
  if (opts.chunkRows !== undefined && !(Number.isInteger(opts.chunkRows) && opts.chunkRows >= 1)) {
    throw new Error(`${what}: chunkRows must be a positive integer, got ${opts.chunkRows}`);
  }
  const chunkRows = Math.min(opts.chunkRows ?? plan.chunkRows, Math.max(rows, 1));
  const chunks = ceilDiv(rows, chunkRows);

  const dx = Tensor.empty(x.shape, x.rt);
  if (rows === 0) {
    return needParams ? { dx, dw: fill(Tensor.empty([d], x.rt), 0), db: fill(Tensor.empty([d], x.rt), 0) } : { dx, dw: null, db: null };
  }
  const xc = contiguous(x);
  const wc = bindable(w);
  const dyc = contiguous(dy);
  const mc = contiguous(mean);
  const rc = contiguous(rstd);
  // part (chunks, 2, D): per chunk, row 0 the dw partial and row 1 the db partial. Without
  // needParams (v3 still binds it) a one-element scratch.
  const part = Tensor.empty(needParams ? [chunks, 2, d] : [1], x.rt);
  const shapes = `${what} x${shapeStr(x.shape)} v${version} wg ${wg} chunks ${chunks}x${chunkRows}`;
  const params = { rows, d, chunk_rows: chunkRows, n_chunks: chunks };
  const common = { x: xc.buffer, gy: dyc.buffer, mean_in: mc.buffer, rstd_in: rc.buffer };
  if (version === 3) {
    x.rt.dispatch({
      kernel: { name: 'layernorm', source, entry: 'layernorm_backward_v3', overrides: { WG: wg, DWDB: needParams ? 1 : 0 } },
      buffers: { ...common, w: bindingOf(wc), dx_out: dx.buffer, part: part.buffer },
      params, workgroups: grid1d(chunks), shapes,
    });
  } else {
    x.rt.dispatch({
      kernel: { name: 'layernorm', source, entry: `layernorm_backward_v${version}`, overrides: { WG: wg } },
      buffers: { ...common, w: bindingOf(wc), dx_out: dx.buffer },
      params, workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows), shapes,
    });
    if (needParams) {
      const wgp = version === 1 ? wg : WG_V1;
      x.rt.dispatch({
        kernel: { name: 'layernorm', source, entry: 'layernorm_backward_dwdb_v1', overrides: { WG: wgp } },
        buffers: { ...common, part: part.buffer },
        params, workgroups: grid1d(ceilDiv(chunks * d, wgp)), shapes: `${shapes} dwdb wg ${wgp}`,
      });
    }
  }
  for (const [c, t] of [[xc, x], [wc, w], [dyc, dy], [mc, mean], [rc, rstd]] as const) if (c !== t) c.dispose();
  if (!needParams) {
    part.dispose();
    return { dx, dw: null, db: null };
  }
  // Pass 2: column sums of part over the chunks, (2, D), in a fixed order (no atomics).
  const sums = chunks === 1 ? part.view([2, d], [d, 1], 0) : reduce('sum', part, 0);
  part.dispose();
  const dw = sums.view([d], [1], 0);
  const db = sums.view([d], [1], sums.offset + d);
  sums.dispose();
  return { dx, dw, db };
}
