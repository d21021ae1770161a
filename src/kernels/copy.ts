// Launchers for the copy entries of shaders/elementwise.wgsl: strided copies (contiguous(),
// concat, stack, slice assignment) and gather (index_select).
import source from '../../shaders/elementwise.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 256;
const MAX_RANK = 8;

function pad8(v: readonly number[], fill: number): number[] {
  if (v.length > MAX_RANK) throw new Error(`copy: rank ${v.length} exceeds ${MAX_RANK}`);
  return [...new Array<number>(MAX_RANK - v.length).fill(fill), ...v];
}

/**
 * Copy the view `src` into the window of `dst` described by (shape of src, dstStrides,
 * dstOffset). Used with a dst view's own strides/offset: copyInto(part, outSlice).
 */
export function copyInto(src: Tensor, dst: Tensor): void {
  src.assertAlive('copyInto');
  dst.assertAlive('copyInto');
  if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
    throw new Error(`copyInto: source ${shapeStr(src.shape)} and destination ${shapeStr(dst.shape)} differ`);
  }
  const n = src.size;
  if (n === 0) return;
  const shape = pad8(src.shape, 1);
  const sa = pad8(src.strides, 0);
  const sb = pad8(dst.strides, 0);
  src.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: 'copy_strided', overrides: { WG } },
    buffers: { a: src.buffer, y: dst.buffer },
    params: {
      n, a_off: src.offset, b_off: dst.offset, _pad: 0, alpha: 0, beta: 0, _pad1: 0, _pad2: 0,
      shape_lo: shape.slice(0, 4), shape_hi: shape.slice(4), as_lo: sa.slice(0, 4), as_hi: sa.slice(4),
      bs_lo: sb.slice(0, 4), bs_hi: sb.slice(4),
    },
    workgroups: grid1d(ceilDiv(n, WG)),
    shapes: `src${shapeStr(src.shape)} dst${shapeStr(dst.shape)}`,
  });
}

/**
 * One launch of the index kernels: `entry` reads `src` (dense) and writes `out` (dense), with
 * the indices as u32 bit patterns in an f32 buffer (the shader bitcasts them back) and the
 * (outer, n_idx, inner, dim size) geometry of the indexed dim `d` of `xShape`.
 */
function indexLaunch(entry: 'gather' | 'gather_backward', src: Tensor, out: Tensor, xShape: readonly number[], d: number, idx: Uint32Array, shapes: string): Tensor {
  const n = out.size;
  if (n === 0) return out;
  const outer = xShape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = xShape.slice(d + 1).reduce((a, b) => a * b, 1);
  const it = Tensor.fromArray(new Float32Array(idx.buffer), [idx.length], src.rt);
  src.rt.dispatch({
    kernel: { name: 'elementwise', source, entry, overrides: { WG } },
    buffers: { b: it.buffer, a: src.buffer, y: out.buffer },
    params: {
      n, a_off: 0, b_off: 0, _pad: 0, alpha: 0, beta: 0, _pad1: 0, _pad2: 0,
      shape_lo: [outer, idx.length, inner, xShape[d]], shape_hi: [0, 0, 0, 0], as_lo: [0, 0, 0, 0], as_hi: [0, 0, 0, 0],
      bs_lo: [0, 0, 0, 0], bs_hi: [0, 0, 0, 0],
    },
    workgroups: grid1d(ceilDiv(n, WG)),
    shapes,
  });
  it.dispose();
  return out;
}

/** index_select: out = x.index_select(dim, indices). x must be contiguous. */
export function gather(x: Tensor, dim: number, indices: ArrayLike<number>): Tensor {
  x.assertAlive('gather');
  if (!x.isContiguous) throw new Error(`gather: ${x} must be contiguous`);
  const d = dim < 0 ? dim + x.ndim : dim;
  if (d < 0 || d >= x.ndim) throw new Error(`gather: dim ${dim} out of range for ${shapeStr(x.shape)}`);
  const size = x.shape[d];
  const idx = new Uint32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (!Number.isInteger(v) || v < 0 || v >= size) {
      throw new Error(`gather: index ${v} at position ${i} is out of range 0..${size - 1} for dim ${d} of ${shapeStr(x.shape)}`);
    }
    idx[i] = v;
  }
  const outShape = [...x.shape];
  outShape[d] = idx.length;
  return indexLaunch('gather', x, Tensor.empty(outShape, x.rt), x.shape, d, idx, `x${shapeStr(x.shape)} dim ${d} n_idx ${idx.length}`);
}

/** Backward of gather: dx (x's shape) with dx[.., d, ..] = sum of g rows whose index is d. */
export function gatherBackward(g: Tensor, xShape: readonly number[], dim: number, indices: ArrayLike<number>): Tensor {
  g.assertAlive('gatherBackward');
  if (!g.isContiguous) throw new Error(`gatherBackward: ${g} must be contiguous`);
  const d = dim < 0 ? dim + xShape.length : dim;
  const idx = Uint32Array.from(indices as ArrayLike<number>);
  return indexLaunch('gather_backward', g, Tensor.empty(xShape, g.rt), xShape, d, idx, `g${shapeStr(g.shape)} x${shapeStr(xShape)} dim ${d}`);
}
