// Launchers for shaders/l2norm.wgsl: y = x / max(||x||, eps) over the last axis (F.normalize),
// optionally saving the norm per row for the backward.
import source from '../../shaders/l2norm.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import type { AdapterSummary } from './adapter-info.js';

type AdapterFamily = AdapterSummary['family'];

/** v1: thread per row. v2: workgroup per row with a tree. */
export type L2NormVersion = 1 | 2;
export const L2NORM_VERSIONS: readonly L2NormVersion[] = [1, 2];

export interface L2NormPlan {
  version: L2NormVersion;
  wg: number;
}

export interface L2NormOpts {
  /** Denominator floor (F.normalize's eps); default 1e-12. */
  eps?: number;
  /** Also return the norm per row (shape: x's leading dims), for the backward. */
  saveNorm?: boolean;
  /** Force a version (tests, benchmarks); default: planL2Norm. */
  version?: L2NormVersion;
  /** Force the workgroup size (a power of two in 1..256). */
  wg?: number;
}

export interface L2NormResult {
  y: Tensor;
  norm: Tensor;
}

const WG_V1 = 64;

/**
 * GPU: rows shorter than 32 take a thread each; longer ones a workgroup (64 threads, 256
 * past 4096). CPU adapters (lavapipe, SwiftShader): thread per row in workgroups of 8 (one
 * SIMD vector) when there are rows enough (>= 64), else a workgroup of 8 per row.
 */
export function planL2Norm(rows: number, d: number, family: AdapterFamily = 'gpu'): L2NormPlan {
  if (family !== 'gpu') return d < 32 || rows >= 64 ? { version: 1, wg: 8 } : { version: 2, wg: 8 };
  if (d < 32) return { version: 1, wg: WG_V1 };
  return { version: 2, wg: d > 4096 ? 256 : 64 };
}

export function l2normForward(x: Tensor, opts: L2NormOpts & { saveNorm: true }): L2NormResult;
export function l2normForward(x: Tensor, opts?: L2NormOpts): Tensor;
/** y = x / max(||x||_2, eps) over the last axis of x (any leading shape, any strides). */
export function l2normForward(x: Tensor, opts: L2NormOpts = {}): Tensor | L2NormResult {
  const what = 'l2normForward';
  x.assertAlive(what);
  if (x.ndim === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} is a scalar; normalize needs a last axis`);
  const eps = opts.eps ?? 1e-12;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${what}: eps must be finite and >= 0, got ${eps}`);
  const d = x.shape[x.ndim - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const save = opts.saveNorm === true;
  const y = Tensor.empty(x.shape, x.rt);
  // Without saveNorm the shader writes no norm, but the binding must be filled.
  const norm = Tensor.empty(save ? x.shape.slice(0, -1) : [1], x.rt);
  if (rows > 0) {
    const plan = planL2Norm(rows, d, x.rt.adapter.family);
    const version = opts.version ?? plan.version;
    if (!L2NORM_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${L2NORM_VERSIONS.join(', ')})`);
    const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : 64);
    if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
    const xc = contiguous(x);
    x.rt.dispatch({
      kernel: { name: 'l2norm', source, entry: `l2norm_forward_v${version}`, overrides: { WG: wg, SAVE_NORM: save ? 1 : 0 } },
      buffers: { x: xc.buffer, y: y.buffer, norm_out: norm.buffer },
      params: { rows, d, eps, _pad: 0 },
      workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows),
      shapes: `${what} x${shapeStr(x.shape)} v${version} wg ${wg}${save ? ' +norm' : ''}`,
    });
    if (xc !== x) xc.dispose();
  } else if (save && norm.size > 0) {
    throw new Error(`${what}: x ${shapeStr(x.shape)} has an empty last axis; its norms would be 0 but are not computed`);
  }
  if (save) return { y, norm };
  norm.dispose();
  return y;
}

// ---------------------------------------------------------------- backward

export interface L2NormBackwardOpts {
  /** The forward's eps; default 1e-12. */
  eps?: number;
  /** Force a version (tests, benchmarks); default: planL2Norm (the forward's picks hold). */
  version?: L2NormVersion;
  /** Force the workgroup size (a power of two in 1..256). */
  wg?: number;
}

/**
 * dx of y = x / max(||x||, eps) over the last axis, from the saved y and norm n (the forward
 * with saveNorm): (g - y (g · y)) / n where n > eps, g / eps where the clamp held.
 */
export function l2normBackward(y: Tensor, norm: Tensor, g: Tensor, opts: L2NormBackwardOpts = {}): Tensor {
  const what = 'l2normBackward';
  for (const t of [y, norm, g]) t.assertAlive(what);
  if (y.ndim === 0) throw new Error(`${what}: y ${shapeStr(y.shape)} is a scalar; normalize needs a last axis`);
  if (g.ndim !== y.ndim || g.shape.some((s, i) => s !== y.shape[i])) {
    throw new Error(`${what}: gradient ${g} ${shapeStr(g.shape)} does not match y ${shapeStr(y.shape)}`);
  }
  const eps = opts.eps ?? 1e-12;
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`${what}: eps must be finite and >= 0, got ${eps}`);
  const d = y.shape[y.ndim - 1];
  const rows = d === 0 ? 0 : y.size / d;
  if (rows > 0 && norm.size !== rows) throw new Error(`${what}: saved norm ${norm} ${shapeStr(norm.shape)} has ${norm.size} values for ${rows} rows`);
  const dx = Tensor.empty(y.shape, y.rt);
  if (rows === 0) return dx;
  const plan = planL2Norm(rows, d, y.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (!L2NORM_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${L2NORM_VERSIONS.join(', ')})`);
  const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : 64);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  const yc = contiguous(y);
  const gc = contiguous(g);
  const nc = contiguous(norm);
  y.rt.dispatch({
    kernel: { name: 'l2norm', source, entry: `l2norm_backward_v${version}`, overrides: { WG: wg } },
    buffers: { sy: yc.buffer, gy: gc.buffer, norm_in: nc.buffer, dx: dx.buffer },
    params: { rows, d, eps, _pad: 0 },
    workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows),
    shapes: `${what} y${shapeStr(y.shape)} v${version} wg ${wg}`,
  });
  for (const [c, t] of [[yc, y], [gc, g], [nc, norm]] as const) if (c !== t) c.dispose();
  return dx;
}
