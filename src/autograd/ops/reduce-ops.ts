// Differentiable reductions (kernels: src/kernels/reduce.ts). The backward broadcasts the
// gradient back over the reduced axis (reduce.wgsl's backward entries):
//   sum(x, dim?)    dx = g                      saves nothing
//   mean(x, dim?)   dx = g / R                  saves nothing
//   max / min(x, dim)  dx = g at the first arg-extremum (torch's max(dim)), 0 elsewhere;
//                   saves the indices (outer, inner) as f32, found by one more forward pass
//                   (argmax, of -x for min), not x itself
//   norm(x, dim?)   dx = g x / ||x|| (0 where ||x|| = 0, as torch)   saves x and the norms
// Without dim the reduction runs over every element (a scalar; all ones with keepdim).
import { Tensor } from '../tensor.js';
import { needsGrad, record } from '../tape.js';
import { unary } from '../../kernels/elementwise.js';
import {
  reduce, reduceAll, reduceBackward, type ReduceOpts, type ReduceBackwardOpts, type ReduceBackwardOp,
} from '../../kernels/reduce.js';

/** Kernel choices for tests and benchmarks: the forward's and the backward's. */
export interface ReduceKernelOpts {
  fwd?: Omit<ReduceOpts, 'keepdim'>;
  bwd?: ReduceBackwardOpts;
}

function run(op: 'sum' | 'mean' | 'l2', x: Tensor, dim: number | undefined, keepdim: boolean, k: ReduceKernelOpts): Tensor {
  const o = { ...k.fwd, keepdim };
  return dim === undefined ? reduceAll(op, x, o) : reduce(op, x, dim, o);
}

function dimOrNull(dim: number | undefined): number | null {
  return dim === undefined ? null : dim;
}

/** Σ over axis `dim` (every element when dim is undefined). */
export function sum(x: Tensor, dim?: number, keepdim = false, k: ReduceKernelOpts = {}): Tensor {
  const y = run('sum', x, dim, keepdim, k);
  if (!needsGrad(x)) return y;
  const xs = [...x.shape];
  return record('sum', [x], y, [], (g) => [reduceBackward('sum', g, xs, dimOrNull(dim), {}, k.bwd)]);
}

/** Mean over axis `dim` (every element when dim is undefined). */
export function mean(x: Tensor, dim?: number, keepdim = false, k: ReduceKernelOpts = {}): Tensor {
  const y = run('mean', x, dim, keepdim, k);
  if (!needsGrad(x)) return y;
  const xs = [...x.shape];
  return record('mean', [x], y, [], (g) => [reduceBackward('mean', g, xs, dimOrNull(dim), {}, k.bwd)]);
}

/** Euclidean norm over axis `dim` (every element when dim is undefined): torch.linalg.vector_norm. */
export function norm(x: Tensor, dim?: number, keepdim = false, k: ReduceKernelOpts = {}): Tensor {
  const y = run('l2', x, dim, keepdim, k);
  if (!needsGrad(x)) return y;
  const xs = [...x.shape];
  const saved = [x.view(), y.view()];
  return record('norm', [x], y, saved, (g) => [reduceBackward('l2', g, xs, dimOrNull(dim), { x: saved[0], aux: saved[1] }, k.bwd)]);
}

function extremum(op: 'max' | 'min', x: Tensor, dim: number, keepdim: boolean, k: ReduceKernelOpts): Tensor {
  const y = reduce(op, x, dim, { ...k.fwd, keepdim });
  if (!needsGrad(x)) return y;
  // The first arg-extremum: argmax keeps the lowest index on ties, and -x is exact.
  const src = op === 'max' ? x : unary('neg', x);
  const idx = reduce('argmax', src, dim, { ...k.fwd, keepdim });
  if (src !== x) src.dispose();
  const xs = [...x.shape];
  return record(op, [x], y, [idx], (g) => [reduceBackward(op as ReduceBackwardOp, g, xs, dim, { aux: idx }, k.bwd)]);
}

/** Values of the max over axis `dim` (torch.max(x, dim).values); the gradient goes to the first maximum. */
export function max(x: Tensor, dim: number, keepdim = false, k: ReduceKernelOpts = {}): Tensor {
  return extremum('max', x, dim, keepdim, k);
}

/** Values of the min over axis `dim`; the gradient goes to the first minimum. */
export function min(x: Tensor, dim: number, keepdim = false, k: ReduceKernelOpts = {}): Tensor {
  return extremum('min', x, dim, keepdim, k);
}
