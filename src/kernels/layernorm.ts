// Launchers for shaders/layernorm.wgsl: LayerNorm over the last axis with weight and bias,
// optionally saving mean and rstd per row for the backward.
import source from '../../shaders/layernorm.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
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
    const wc = contiguous(w);
    const bc = contiguous(b);
    x.rt.dispatch({
      kernel: { name: 'layernorm', source, entry: `layernorm_forward_v${version}`, overrides: { WG: wg, SAVE_STATS: save ? 1 : 0 } },
      buffers: { x: xc.buffer, w: wc.buffer, b: bc.buffer, y: y.buffer, mean_out: mean.buffer, rstd_out: rstd.buffer },
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
