// Launchers for shaders/reduce.wgsl: sum, mean, max, min, argmax and L2 norm along one axis of
// any rank (keepdim like torch), and the full reduction to a scalar (losses).
//
// Any axis: the input is made contiguous and seen as (outer, R, inner). The plan (version and
// split) is chosen from that shape by planReduce(); opts.version / opts.chunks force one, so
// the tests reach every path the planner can pick.
import source from '../../shaders/reduce.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import type { AdapterSummary } from './adapter-info.js';

type AdapterFamily = AdapterSummary['family'];

export const REDUCE_OPS = { sum: 0, mean: 1, max: 2, min: 3, argmax: 4, l2: 5 } as const;
export type ReduceOp = keyof typeof REDUCE_OPS;

/** v1: thread per output (short axes, columns). v2: workgroup per output with a tree (long rows). */
export type ReduceVersion = 1 | 2;

export interface ReducePlan {
  version: ReduceVersion;
  /** Chunks the axis is cut into (1: one pass; > 1: partial pairs, then a second pass). */
  chunks: number;
  /** Threads per workgroup (a power of two). */
  wg: number;
}

export interface ReduceOpts {
  /** Keep the reduced axis as size 1 (torch's keepdim). */
  keepdim?: boolean;
  /** Force a version (tests, benchmarks); default: planReduce. */
  version?: ReduceVersion;
  /** Force the number of chunks of the split path (1: no split). */
  chunks?: number;
  /** Force the workgroup size (a power of two, 1..256). */
  wg?: number;
}

const WG_V1 = 64;
const WG_V2 = 256;
/** argmax returns indices as f32: exact only below 2^24. */
const MAX_ARGMAX_LEN = 1 << 24;

/**
 * Shape-driven choice (measured on an H200 and on lavapipe; see the shader's table).
 * GPU: axes shorter than 128 (inner = 1) or 256 (inner > 1) take a thread per output: the
 *   serial loop is short, and for inner > 1 neighbouring threads read neighbouring columns.
 *   Longer axes take a workgroup per output (v2), also for columns: 256 threads striding down
 *   a column keep far more loads in flight than one thread per column, whose serial chain is
 *   latency bound (bias gradients (37680, 785) over rows: 0.21 ms v2 vs 0.81 ms v1 split).
 *   With fewer than 264 outputs (2 per SM on 132 SMs) and an axis >= 8192 (the full reduction,
 *   DINO-head rows of 65536), the axis is cut into chunks of >= 4096 so that ~1024
 *   workgroups run; a second pass reduces the chunks.
 * CPU adapters (lavapipe, SwiftShader: a workgroup runs on one core, 8 lanes at a time, and a
 *   barrier is a coroutine switch): thread per output in workgroups of 8 whenever there are
 *   outputs enough (>= 64); otherwise the axis is cut into chunks of >= 8192 so that about 64
 *   threads run, and the chunks are reduced thread per output as well.
 */
export function planReduce(outer: number, r: number, inner: number, family: AdapterFamily = 'gpu'): ReducePlan {
  const outputs = outer * inner;
  if (family !== 'gpu') {
    const chunks = outputs >= 64 || r < 16384 ? 1 : Math.max(1, Math.min(Math.floor(r / 8192), Math.ceil(64 / outputs)));
    return { version: 1, chunks, wg: 8 };
  }
  if (r < (inner === 1 ? 128 : 256)) return { version: 1, chunks: 1, wg: WG_V1 };
  const chunks = outputs < 264 && r >= 8192 ? Math.max(1, Math.min(Math.floor(r / 4096), Math.ceil(1024 / outputs))) : 1;
  return { version: 2, chunks, wg: WG_V2 };
}

function normAxis(dim: number, ndim: number, what: string, x: Tensor): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) {
    throw new Error(`${what}: dim ${dim} is out of range for x ${shapeStr(x.shape)} (rank ${ndim})`);
  }
  return d;
}

/** Reduce the dense x viewed as (outer, R, inner) into the dense `out` (outer, inner). */
function launch(op: ReduceOp, x: Tensor, outer: number, r: number, inner: number, out: Tensor, opts: ReduceOpts, what: string): void {
  const plan = planReduce(outer, r, inner, x.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (version !== 1 && version !== 2) throw new Error(`${what}: no version ${String(version)} (have 1, 2)`);
  const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : WG_V2);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  const requested = Math.max(1, Math.min(opts.chunks ?? (opts.version !== undefined ? 1 : plan.chunks), Math.max(1, r)));
  const chunk = ceilDiv(Math.max(r, 1), requested);
  const chunks = Math.max(1, ceilDiv(r, chunk));
  const entry = version === 1 ? 'reduce_forward_v1' : 'reduce_forward_v2';
  const groups = (threads: number) => (version === 1 ? grid1d(ceilDiv(threads, wg)) : grid1d(threads));
  const shapes = `${what} x(${outer},${r},${inner}) v${version} chunks ${chunks} wg ${wg}`;
  const kernel = (pairsIn: boolean, pairsOut: boolean) => ({
    name: 'reduce', source, entry,
    overrides: { OP: REDUCE_OPS[op], WG: wg, PAIRS_IN: pairsIn ? 1 : 0, PAIRS_OUT: pairsOut ? 1 : 0 },
  });
  if (chunks === 1) {
    x.rt.dispatch({
      kernel: kernel(false, false), buffers: { x: x.buffer, y: out.buffer },
      params: { outer, r_len: r, inner, n_chunks: 1, chunk: Math.max(r, 1), count: r, _pad0: 0, _pad1: 0 },
      workgroups: groups(outer * inner), shapes,
    });
    return;
  }
  // Pass 1: one accumulator pair per (outer, chunk, inner); pass 2 reduces the chunk axis.
  const part = Tensor.empty([outer, chunks, inner, 2], x.rt);
  x.rt.dispatch({
    kernel: kernel(false, true), buffers: { x: x.buffer, y: part.buffer },
    params: { outer, r_len: r, inner, n_chunks: chunks, chunk, count: r, _pad0: 0, _pad1: 0 },
    workgroups: groups(outer * chunks * inner), shapes: `${shapes} pass 1`,
  });
  x.rt.dispatch({
    kernel: kernel(true, false), buffers: { x: part.buffer, y: out.buffer },
    params: { outer, r_len: chunks, inner, n_chunks: 1, chunk: chunks, count: r, _pad0: 0, _pad1: 0 },
    workgroups: groups(outer * inner), shapes: `${shapes} pass 2`,
  });
  part.dispose(); // back to the pool; later work is ordered after pass 2 in the stream
}

function checkLength(op: ReduceOp, r: number, what: string, x: Tensor): void {
  if (r === 0 && (op === 'max' || op === 'min' || op === 'argmax')) {
    throw new Error(`${what}: cannot take ${op} over an empty axis of x ${shapeStr(x.shape)}`);
  }
  if (op === 'argmax' && r > MAX_ARGMAX_LEN) {
    throw new Error(`${what}: axis of length ${r} in x ${shapeStr(x.shape)} exceeds 2^24, where f32 indices stop being exact`);
  }
}

/** op over axis `dim` of x (any rank, any strides). argmax returns f32 indices. */
export function reduce(op: ReduceOp, x: Tensor, dim: number, opts: ReduceOpts = {}): Tensor {
  const what = `reduce ${op}`;
  x.assertAlive(what);
  if (!(op in REDUCE_OPS)) throw new Error(`reduce: unknown op '${op}'`);
  const d = normAxis(dim, x.ndim, what, x);
  const r = x.shape[d];
  checkLength(op, r, what, x);
  const outer = x.shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(d + 1).reduce((a, b) => a * b, 1);
  const shape = opts.keepdim ? x.shape.map((s, i) => (i === d ? 1 : s)) : x.shape.filter((_, i) => i !== d);
  const out = Tensor.empty(shape, x.rt);
  if (outer * inner === 0) return out;
  const xc = contiguous(x);
  launch(op, xc, outer, r, inner, out, opts, what);
  if (xc !== x) xc.dispose();
  return out;
}

export type FullReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'l2';

/** op over every element: a scalar tensor (shape [], or all ones with keepdim). */
export function reduceAll(op: FullReduceOp, x: Tensor, opts: ReduceOpts = {}): Tensor {
  const what = `reduceAll ${op}`;
  x.assertAlive(what);
  if (!(op in REDUCE_OPS) || op === ('argmax' as string)) throw new Error(`reduceAll: unsupported op '${op}'`);
  const n = x.size;
  checkLength(op, n, what, x);
  const out = Tensor.empty(opts.keepdim ? x.shape.map(() => 1) : [], x.rt);
  const xc = contiguous(x);
  launch(op, xc, 1, n, 1, out, opts, what);
  if (xc !== x) xc.dispose();
  return out;
}

// ---------------------------------------------------------------- backward

export type ReduceBackwardOp = 'sum' | 'mean' | 'max' | 'min' | 'l2';

/** v1: thread per output, serial over the axis. v2: thread per input element. */
export type ReduceBackwardVersion = 1 | 2;
export const REDUCE_BACKWARD_VERSIONS: readonly ReduceBackwardVersion[] = [1, 2];

export interface ReduceBackwardOpts {
  /** Force a version (tests, benchmarks); default: planReduceBackward. */
  version?: ReduceBackwardVersion;
  /** Force the workgroup size (a power of two in 1..256). */
  wg?: number;
}

/**
 * GPU: thread per input element (v2) always: every write is coalesced whatever the axis, and
 * the grid is as large as the input. CPU adapters: thread per output (v1) in workgroups of 8,
 * always: on lavapipe v2 ran 10-40x slower (per-element index arithmetic and ~9k workgroups
 * per million elements), and v1 won even with a single output, a one-thread serial fill.
 */
export function planReduceBackward(outer: number, r: number, inner: number, family: AdapterFamily = 'gpu'): { version: ReduceBackwardVersion; wg: number } {
  return family !== 'gpu' ? { version: 1, wg: 8 } : { version: 2, wg: WG_V2 };
}

/**
 * dx (x's shape, dense) of y = op over axis `dim` of x (dim null: over every element), from
 * the gradient g of y (y's shape, with or without keepdim: only its size matters). `aux` is
 * what the rule needs besides g: for l2 the forward output y (the norms) and `x`; for max and
 * min the first arg-extremum of each output as f32 (reduce('argmax', x), or of -x for min).
 */
export function reduceBackward(
  op: ReduceBackwardOp, g: Tensor, xShape: readonly number[], dim: number | null,
  saved: { x?: Tensor; aux?: Tensor } = {}, opts: ReduceBackwardOpts = {},
): Tensor {
  const what = `reduceBackward ${op}`;
  g.assertAlive(what);
  if (!['sum', 'mean', 'max', 'min', 'l2'].includes(op)) throw new Error(`reduceBackward: unsupported op '${op}'`);
  const n = xShape.reduce((a, b) => a * b, 1);
  let outer = 1;
  let r = n;
  let inner = 1;
  if (dim !== null) {
    const d = dim < 0 ? dim + xShape.length : dim;
    if (!Number.isInteger(d) || d < 0 || d >= xShape.length) throw new Error(`${what}: dim ${dim} is out of range for x ${shapeStr(xShape)}`);
    outer = xShape.slice(0, d).reduce((a, b) => a * b, 1);
    r = xShape[d];
    inner = xShape.slice(d + 1).reduce((a, b) => a * b, 1);
  }
  if (g.size !== outer * inner) throw new Error(`${what}: gradient ${g} ${shapeStr(g.shape)} does not fit the reduction of x ${shapeStr(xShape)} over dim ${dim}`);
  const needAux = op !== 'sum' && op !== 'mean';
  if (needAux && (!saved.aux || saved.aux.size !== outer * inner)) throw new Error(`${what}: needs the saved ${op === 'l2' ? 'norms' : 'arg-extrema'} (${outer * inner} values)`);
  if (op === 'l2' && (!saved.x || saved.x.size !== n)) throw new Error(`${what}: needs the saved input x ${shapeStr(xShape)}`);
  const dx = Tensor.empty(xShape, g.rt);
  if (n === 0) return dx;
  const plan = planReduceBackward(outer, r, inner, g.rt.adapter.family);
  const version = opts.version ?? plan.version;
  if (!REDUCE_BACKWARD_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${REDUCE_BACKWARD_VERSIONS.join(', ')})`);
  const wg = opts.wg ?? (version === plan.version ? plan.wg : version === 1 ? WG_V1 : WG_V2);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  const gc = contiguous(g);
  const ac = saved.aux ? contiguous(saved.aux) : gc;
  const xc = saved.x && op === 'l2' ? contiguous(saved.x) : gc;
  // sum and mean read neither x nor aux, but the entry binds them: g's buffer stands in
  // (read-only bindings may alias).
  g.rt.dispatch({
    kernel: { name: 'reduce', source, entry: `reduce_backward_v${version}`, overrides: { OP: REDUCE_OPS[op], WG: wg } },
    buffers: { x: xc.buffer, gy: gc.buffer, aux: ac.buffer, dx: dx.buffer },
    params: { outer, r_len: r, inner, n_chunks: 1, chunk: r, count: r, _pad0: 0, _pad1: 0 },
    workgroups: grid1d(ceilDiv(version === 1 ? outer * inner : n, wg)),
    shapes: `${what} x(${outer},${r},${inner}) v${version} wg ${wg}`,
  });
  if (ac !== gc && ac !== saved.aux) ac.dispose();
  if (xc !== gc && xc !== saved.x) xc.dispose();
  if (gc !== g) gc.dispose();
  return dx;
}
