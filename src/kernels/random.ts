// Launchers for shaders/random.wgsl (counter-based RNG, dropout, drop-path) and the same
// generator on the host, bit-exact, for tests and for host-side decisions that must agree
// with the GPU.
import source from '../../shaders/random.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 256;

export function hash32(v: number): number {
  let h = v >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The GPU's uniform01(i) for (seed, stream), computed on the host. */
export function hostUniform(seed: number, stream: number, i: number): number {
  const key = hash32((seed ^ Math.imul(stream, 0x9e3779b9)) >>> 0);
  return Math.fround((hash32((key + i) >>> 0) >>> 8) * (1 / 16777216));
}

function launch(entry: string, x: Tensor | null, y: Tensor, n: number, params: { row?: number; seed: number; stream: number; p?: number; lo?: number; hi?: number }): void {
  y.rt.dispatch({
    kernel: { name: 'random', source, entry, overrides: { WG } },
    buffers: x ? { x: x.buffer, y: y.buffer } : { y: y.buffer },
    params: {
      n, row: params.row ?? 1, seed: params.seed >>> 0, stream: params.stream >>> 0,
      p: params.p ?? 0, lo: params.lo ?? 0, hi: params.hi ?? 1, _pad: 0,
    },
    workgroups: grid1d(ceilDiv(n, WG)),
    shapes: `${entry} ${shapeStr(y.shape)}`,
  });
}

export function uniformFill(shape: readonly number[], seed: number, stream: number, lo = 0, hi = 1): Tensor {
  const y = Tensor.empty(shape);
  if (y.size) launch('uniform_fill', null, y, y.size, { seed, stream, lo, hi });
  return y;
}

function dense(x: Tensor, what: string): void {
  if (!x.isContiguous) throw new Error(`${what}: ${x} must be contiguous`);
}

/** y = x * mask / (1 - p), mask_i = [u_i >= p]. Calling it on the gradient gives the backward. */
export function dropoutMask(x: Tensor, p: number, seed: number, stream: number): Tensor {
  dense(x, 'dropout');
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p = ${p} must be in [0, 1)`);
  const y = Tensor.empty(x.shape, x.rt);
  if (y.size) launch('dropout', x, y, y.size, { seed, stream, p });
  return y;
}

/** Per-sample (dim 0) keep mask scaled by 1/(1 - p): stochastic depth. Linear, so also its backward. */
export function dropPathMask(x: Tensor, p: number, seed: number, stream: number): Tensor {
  dense(x, 'dropPath');
  if (!(p >= 0 && p < 1)) throw new Error(`dropPath: p = ${p} must be in [0, 1)`);
  const y = Tensor.empty(x.shape, x.rt);
  const row = x.ndim ? x.size / x.shape[0] : 1;
  if (y.size) launch('drop_path', x, y, y.size, { seed, stream, p, row });
  return y;
}
