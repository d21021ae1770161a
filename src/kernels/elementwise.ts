// Launchers for shaders/elementwise.wgsl: unary and binary maps with broadcasting and strides.
import source from '../../shaders/elementwise.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';
import { baseParams, broadcastStrides, pad8, stridedLaunch } from './strided.js';

export const UNARY_OPS = {
  neg: 0, exp: 1, log: 2, tanh: 3, gelu: 4, sqrt: 5, rsqrt: 6, abs: 7, relu: 8, sigmoid: 9,
  recip: 10, square: 11, addScalar: 12, mulScalar: 13, powScalar: 14, clamp: 15, copy: 16,
} as const;
export type UnaryOp = keyof typeof UNARY_OPS;

export const BINARY_OPS = {
  add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6, lt: 7, le: 8, gt: 9, ge: 10, eq: 11, ne: 12, axpby: 13,
  // backward maps: (saved value, upstream gradient)
  geluBwd: 14, tanhBwd: 15, sigmoidBwd: 16, reluBwd: 17,
} as const;
export type BinaryOp = keyof typeof BINARY_OPS;

const WG = 256;

/** NumPy broadcasting of two shapes; throws naming both shapes when they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[], what = 'broadcast'): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${what}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function unary(op: UnaryOp, x: Tensor, alpha = 0, beta = 0, out?: Tensor): Tensor {
  x.assertAlive(`unary ${op}`);
  const y = out ?? Tensor.empty(x.shape, x.rt);
  if (out && (!out.isContiguous || !sameShape(out.shape, x.shape))) {
    throw new Error(`unary ${op}: out ${out} must be contiguous with shape ${shapeStr(x.shape)}`);
  }
  const n = x.size;
  if (n === 0) return y;
  const contig = x.isRowMajor; // any offset: the contig entries index from a_off
  if (contig) {
    x.rt.dispatch({
      kernel: { name: 'elementwise', source, entry: 'unary_contig', overrides: { OP: UNARY_OPS[op], WG } },
      buffers: { a: x.buffer, y: y.buffer },
      params: { ...baseParams(), n, a_off: x.offset, alpha, beta },
      workgroups: grid1d(ceilDiv(ceilDiv(n, 4), WG)),
      shapes: `x${shapeStr(x.shape)}`,
    });
    return y;
  }
  const l = stridedLaunch('unary_strided', WG, x.shape, broadcastStrides(x, x.shape), x.offset, x.shape.map(() => 0), 0);
  x.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: l.entry, overrides: { ...l.overrides, OP: UNARY_OPS[op] } },
    buffers: { a: x.buffer, y: y.buffer },
    params: { ...l.params, alpha, beta },
    workgroups: l.workgroups,
    shapes: `x${shapeStr(x.shape)}`,
  });
  return y;
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor, alpha = 1, beta = 1, out?: Tensor): Tensor {
  a.assertAlive(`binary ${op}`);
  b.assertAlive(`binary ${op}`);
  if (a.rt !== b.rt) throw new Error(`binary ${op}: ${a} and ${b} live on different devices`);
  const shape = broadcastShapes(a.shape, b.shape, `binary ${op}`);
  const y = out ?? Tensor.empty(shape, a.rt);
  if (out && (!out.isContiguous || !sameShape(out.shape, shape))) {
    throw new Error(`binary ${op}: out ${out} must be contiguous with shape ${shapeStr(shape)}`);
  }
  const n = y.size;
  if (n === 0) return y;
  const contig = a.isRowMajor && b.isRowMajor && sameShape(a.shape, shape) && sameShape(b.shape, shape);
  const shapes = `a${shapeStr(a.shape)} b${shapeStr(b.shape)}`;
  if (contig) {
    a.rt.dispatch({
      kernel: { name: 'elementwise', source, entry: 'binary_contig', overrides: { OP: BINARY_OPS[op], WG } },
      buffers: { a: a.buffer, b: b.buffer, y: y.buffer },
      params: { ...baseParams(), n, a_off: a.offset, b_off: b.offset, alpha, beta },
      workgroups: grid1d(ceilDiv(ceilDiv(n, 4), WG)),
      shapes,
    });
    return y;
  }
  const l = stridedLaunch('binary_strided', WG, shape, broadcastStrides(a, shape), a.offset, broadcastStrides(b, shape), b.offset);
  a.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: l.entry, overrides: { ...l.overrides, OP: BINARY_OPS[op] } },
    buffers: { a: a.buffer, b: b.buffer, y: y.buffer },
    params: { ...l.params, alpha, beta },
    workgroups: l.workgroups,
    shapes,
  });
  return y;
}

function denseWindow(t: Tensor, what: string): void {
  // Dense row-major with any offset (a view into a flat buffer, e.g. one parameter's gradient).
  let acc = 1;
  for (let i = t.ndim - 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.strides[i] !== acc) throw new Error(`${what}: ${t} must be dense (row-major, any offset)`);
    acc *= t.shape[i];
  }
}

/** y[:] = value, in place (y dense, any offset). */
export function fill(y: Tensor, value: number): Tensor {
  y.assertAlive('fill');
  denseWindow(y, 'fill');
  const n = y.size;
  if (n === 0) return y;
  y.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: 'fill', overrides: { WG } },
    buffers: { y: y.buffer },
    params: { ...baseParams(), n, b_off: y.offset, alpha: value },
    workgroups: grid1d(ceilDiv(ceilDiv(n, 4), WG)), // 4 elements per thread
    shapes: `y${shapeStr(y.shape)}`,
  });
  return y;
}

/** In place y = beta * y + alpha * a (both dense, same size; any offsets). y and a must not alias. */
export function axpbyInPlace(y: Tensor, a: Tensor, alpha: number, beta: number): Tensor {
  y.assertAlive('axpbyInPlace');
  a.assertAlive('axpbyInPlace');
  denseWindow(y, 'axpbyInPlace');
  denseWindow(a, 'axpbyInPlace');
  if (y.size !== a.size) throw new Error(`axpbyInPlace: ${y} and ${a} differ in size`);
  if (y.storage === a.storage) throw new Error(`axpbyInPlace: ${y} and ${a} share storage`);
  const n = y.size;
  if (n === 0) return y;
  y.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: 'axpby_inplace', overrides: { WG } },
    buffers: { a: a.buffer, y: y.buffer },
    params: { ...baseParams(), n, a_off: a.offset, b_off: y.offset, alpha, beta },
    workgroups: grid1d(ceilDiv(ceilDiv(n, 4), WG)), // 4 elements per thread
    shapes: `y${shapeStr(y.shape)} a${shapeStr(a.shape)}`,
  });
  return y;
}

/** Sum g (dense) over broadcast dims down to `shape` (the gradient of a broadcast input). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  g.assertAlive('sumTo');
  if (!g.isContiguous) throw new Error(`sumTo: ${g} must be contiguous`);
  if (shape.length > g.ndim) throw new Error(`sumTo: ${shapeStr(shape)} has higher rank than ${g}`);
  const lead = g.ndim - shape.length;
  const target = [...new Array<number>(lead).fill(1), ...shape];
  target.forEach((t, i) => {
    if (t !== 1 && t !== g.shape[i]) throw new Error(`sumTo: ${g} cannot be summed to ${shapeStr(shape)}`);
  });
  const out = Tensor.empty(shape, g.rt);
  const n = out.size;
  if (n === 0) return out;
  const pt = pad8(target, 1, 'sumTo');
  const pf = pad8(g.shape, 1, 'sumTo');
  const st = pad8(g.strides, 0, 'sumTo');
  g.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: 'sum_to', overrides: { WG } },
    buffers: { a: g.buffer, y: out.buffer },
    params: {
      ...baseParams(), n,
      shape_lo: pt.slice(0, 4), shape_hi: pt.slice(4), as_lo: st.slice(0, 4), as_hi: st.slice(4),
      bs_lo: pf.slice(0, 4), bs_hi: pf.slice(4),
    },
    workgroups: grid1d(ceilDiv(n, WG)),
    shapes: `g${shapeStr(g.shape)} to ${shapeStr(shape)}`,
  });
  return out;
}
