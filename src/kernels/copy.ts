// Launchers for the copy entries of shaders/elementwise.wgsl: strided copies (contiguous(),
// concat, stack, slice assignment) and gather (index_select).
import source from '../../shaders/elementwise.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';
import { baseParams, stridedLaunch } from './strided.js';

const WG = 256;

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
  const l = stridedLaunch('copy_strided', WG, src.shape, src.strides, src.offset, dst.strides, dst.offset);
  src.rt.dispatch({
    kernel: { name: 'elementwise', source, entry: l.entry, overrides: l.overrides },
    buffers: { a: src.buffer, y: dst.buffer },
    params: l.params,
    workgroups: l.workgroups,
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
      ...baseParams(), n,
      shape_lo: [outer, idx.length, inner, xShape[d]],
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
