// Launchers for shaders/softmax.wgsl: softmax(x / T) and log-softmax(x / T) over the last axis.
// Forward saves nothing but its output (the backward needs only y).
import source from '../../shaders/softmax.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import type { AdapterSummary } from './adapter-info.js';

type AdapterFamily = AdapterSummary['family'];

/** v1: thread per row. v2: workgroup per row, 3 passes. v3: workgroup per row, online max+sum. */
export type SoftmaxVersion = 1 | 2 | 3;
export const SOFTMAX_VERSIONS: readonly SoftmaxVersion[] = [1, 2, 3];

export interface SoftmaxPlan {
  version: SoftmaxVersion;
  /** Threads per workgroup (a power of two for v2, v3). */
  wg: number;
}

export interface SoftmaxOpts {
  /** y = softmax(x / temperature); default 1. Must be positive. */
  temperature?: number;
  /** Force a version (tests, benchmarks); default: planSoftmax. */
  version?: SoftmaxVersion;
  /** Force the workgroup size (a power of two in 1..256). */
  wg?: number;
}

const WG_V1 = 64;

/**
 * GPU: rows shorter than 32 (K = 3 clusters, S = 15 frames) take a thread each, since a
 * workgroup per row would idle most of its threads; longer rows take a workgroup each, online
 * (v3): 64 threads up to 1024 elements (attention rows of 785: 12 per thread, so the tree's 6
 * barriers stay cheap), 256 beyond (DINO-head rows of 65536).
 * CPU adapters (lavapipe, SwiftShader) run a workgroup on one core, 8 lanes at a time, and a
 * barrier switches between coroutines: thread per row (v1) in workgroups of 8, one SIMD
 * vector, whenever there are rows enough (>= 128) to keep the cores busy; otherwise v3 with 64
 * threads (measured on lavapipe, 2 cores: see the shader's table).
 */
export function planSoftmax(rows: number, d: number, family: AdapterFamily = 'gpu'): SoftmaxPlan {
  if (family !== 'gpu') return d < 32 || rows >= 128 ? { version: 1, wg: 8 } : { version: 3, wg: 64 };
  if (d < 32) return { version: 1, wg: WG_V1 };
  return { version: 3, wg: d <= 1024 ? 64 : 256 };
}

function launch(x: Tensor, log: boolean, opts: SoftmaxOpts, what: string): Tensor {
  x.assertAlive(what);
  if (x.ndim === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} is a scalar; softmax needs at least one axis`);
  const t = opts.temperature ?? 1;
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`${what}: temperature must be positive and finite, got ${t}`);
  const d = x.shape[x.ndim - 1];
  const rows = x.size / Math.max(d, 1);
  const y = Tensor.empty(x.shape, x.rt);
  if (x.size === 0) return y;
  const plan = planSoftmax(rows, d, x.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (!SOFTMAX_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${SOFTMAX_VERSIONS.join(', ')})`);
  const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : 256);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  const xc = contiguous(x);
  x.rt.dispatch({
    kernel: { name: 'softmax', source, entry: `softmax_forward_v${version}`, overrides: { WG: wg, LOG: log ? 1 : 0 } },
    buffers: { x: xc.buffer, y: y.buffer },
    params: { rows, d, inv_t: 1 / t, _pad: 0 },
    workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows),
    shapes: `${what} x${shapeStr(x.shape)} T ${t} v${version} wg ${wg}`,
  });
  if (xc !== x) xc.dispose();
  return y;
}

/** y = softmax(x / T) over the last axis (any leading shape, any strides). */
export function softmaxForward(x: Tensor, opts: SoftmaxOpts = {}): Tensor {
  return launch(x, false, opts, 'softmax');
}

/** y = log_softmax(x / T) over the last axis. */
export function logSoftmaxForward(x: Tensor, opts: SoftmaxOpts = {}): Tensor {
  return launch(x, true, opts, 'logSoftmax');
}

// ---------------------------------------------------------------- backward

/** v1: thread per row. v2: workgroup per row with one tree. */
export type SoftmaxBackwardVersion = 1 | 2;
export const SOFTMAX_BACKWARD_VERSIONS: readonly SoftmaxBackwardVersion[] = [1, 2];

export interface SoftmaxBackwardOpts {
  /** The temperature of the forward; default 1. */
  temperature?: number;
  /** Force a version (tests, benchmarks); default: planSoftmaxBackward. */
  version?: SoftmaxBackwardVersion;
  /** Force the workgroup size (a power of two in 1..256). */
  wg?: number;
}

/**
 * The forward's reasoning holds (one row scalar, then a write): GPU thread per row for
 * d < 32, else a workgroup per row (64 threads up to 1024 wide, 256 beyond). CPU adapters:
 * thread per row in workgroups of 8 when rows are many (>= 128) or short, else a workgroup
 * per row.
 */
export function planSoftmaxBackward(rows: number, d: number, family: AdapterFamily = 'gpu'): { version: SoftmaxBackwardVersion; wg: number } {
  if (family !== 'gpu') return d < 32 || rows >= 128 ? { version: 1, wg: 8 } : { version: 2, wg: 8 };
  if (d < 32) return { version: 1, wg: WG_V1 };
  return { version: 2, wg: d <= 1024 ? 64 : 256 };
}

function checkSame(a: Tensor, b: Tensor, what: string): void {
  if (a.ndim !== b.ndim || a.shape.some((s, i) => s !== b.shape[i])) {
    throw new Error(`${what}: saved output ${a} ${shapeStr(a.shape)} and gradient ${b} ${shapeStr(b.shape)} differ in shape`);
  }
}

function launchBackward(y: Tensor, g: Tensor, log: boolean, opts: SoftmaxBackwardOpts, what: string): Tensor {
  y.assertAlive(what);
  g.assertAlive(what);
  checkSame(y, g, what);
  if (y.ndim === 0) throw new Error(`${what}: y ${shapeStr(y.shape)} is a scalar; softmax needs at least one axis`);
  const t = opts.temperature ?? 1;
  if (!(t > 0) || !Number.isFinite(t)) throw new Error(`${what}: temperature must be positive and finite, got ${t}`);
  const d = y.shape[y.ndim - 1];
  const rows = y.size / Math.max(d, 1);
  const dx = Tensor.empty(y.shape, y.rt);
  if (y.size === 0) return dx;
  const plan = planSoftmaxBackward(rows, d, y.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (!SOFTMAX_BACKWARD_VERSIONS.includes(version)) {
    throw new Error(`${what}: no version ${version} (have ${SOFTMAX_BACKWARD_VERSIONS.join(', ')})`);
  }
  const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : 64);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  const yc = contiguous(y);
  const gc = contiguous(g);
  y.rt.dispatch({
    kernel: { name: 'softmax', source, entry: `softmax_backward_v${version}`, overrides: { WG: wg, LOG: log ? 1 : 0 } },
    buffers: { sy: yc.buffer, gy: gc.buffer, dx: dx.buffer },
    params: { rows, d, inv_t: 1 / t, _pad: 0 },
    workgroups: version === 1 ? grid1d(ceilDiv(rows, wg)) : grid1d(rows),
    shapes: `${what} y${shapeStr(y.shape)} T ${t} v${version} wg ${wg}`,
  });
  if (yc !== y) yc.dispose();
  if (gc !== g) gc.dispose();
  return dx;
}

/** dx = y ⊙ (g - Σ_j g_j y_j) / T over the last axis, from the saved y = softmax(x / T). */
export function softmaxBackward(y: Tensor, g: Tensor, opts: SoftmaxBackwardOpts = {}): Tensor {
  return launchBackward(y, g, false, opts, 'softmaxBackward');
}

/** dx = (g - exp(y) Σ_j g_j) / T over the last axis, from the saved y = log_softmax(x / T). */
export function logSoftmaxBackward(y: Tensor, g: Tensor, opts: SoftmaxBackwardOpts = {}): Tensor {
  return launchBackward(y, g, true, opts, 'logSoftmaxBackward');
}

// ---------------------------------------------------------------- nll

const WG_NLL = 64;

function checkRows(labels: Tensor, coef: Tensor, b: number, of: string, what: string): void {
  for (const [t, n] of [[labels, 'labels'], [coef, 'coefficients']] as const) {
    t.assertAlive(what);
    if (t.ndim !== 1 || t.shape[0] !== b || !t.isContiguous) {
      throw new Error(`${what}: ${n} ${t} ${shapeStr(t.shape)} must be dense (${b}) to match ${of}`);
    }
  }
}

/**
 * l_i = -coef_i logp[i, labels_i] per row: the negative log-likelihood of each row's label.
 * labels: (B) class indices as f32 (the caller checks they lie in [0, C)); coef: (B).
 */
export function nllForward(logp: Tensor, labels: Tensor, coef: Tensor): Tensor {
  const what = 'nllForward';
  logp.assertAlive(what);
  if (logp.ndim !== 2) throw new Error(`${what}: log-probabilities ${logp} ${shapeStr(logp.shape)} must be (B, C)`);
  const [b, c] = logp.shape;
  checkRows(labels, coef, b, `log-probabilities ${shapeStr(logp.shape)}`, what);
  const out = Tensor.empty([b], logp.rt);
  if (b === 0) return out;
  if (c === 0) throw new Error(`${what}: log-probabilities ${shapeStr(logp.shape)} have no classes`);
  const lc = contiguous(logp);
  logp.rt.dispatch({
    kernel: { name: 'softmax', source, entry: 'nll_forward_v1', overrides: { WG: WG_NLL } },
    buffers: { x: lc.buffer, labels: labels.buffer, coef: coef.buffer, nll: out.buffer },
    params: { rows: b, d: c, inv_t: 1, _pad: 0 },
    workgroups: grid1d(ceilDiv(b, WG_NLL)),
    shapes: `${what} logp${shapeStr(logp.shape)}`,
  });
  if (lc !== logp) lc.dispose();
  return out;
}

/** dlogp (B, C) = -coef_i g_i at (i, labels_i), 0 elsewhere; g (B) is the gradient of the losses. */
export function nllBackward(g: Tensor, labels: Tensor, coef: Tensor, classes: number): Tensor {
  const what = 'nllBackward';
  g.assertAlive(what);
  if (g.ndim !== 1) throw new Error(`${what}: gradient ${g} ${shapeStr(g.shape)} must be (B)`);
  const b = g.shape[0];
  const c = classes;
  checkRows(labels, coef, b, `gradient ${shapeStr(g.shape)}`, what);
  const dx = Tensor.empty([b, c], g.rt);
  if (b * c === 0) return dx;
  const gc = contiguous(g);
  g.rt.dispatch({
    kernel: { name: 'softmax', source, entry: 'nll_backward_v1', overrides: { WG: 256 } },
    buffers: { gy: gc.buffer, labels: labels.buffer, coef: coef.buffer, dx: dx.buffer },
    params: { rows: b, d: c, inv_t: 1, _pad: 0 },
    workgroups: grid1d(ceilDiv(b * c, 256)),
    shapes: `${what} dlogp(${b},${c})`,
  });
  if (gc !== g) gc.dispose();
  return dx;
}
