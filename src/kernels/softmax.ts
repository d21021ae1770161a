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
