// Shape and view operations (forward). Views share storage and launch nothing; contiguous(),
// concat, stack and gather launch the copy kernels of shaders/elementwise.wgsl.
import { Tensor, contiguousStrides, numel, shapeStr } from './tensor.js';
import { unary } from '../kernels/elementwise.js';
import { copyInto, gather as gatherKernel } from '../kernels/copy.js';

function normDim(dim: number, ndim: number, what: string): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) throw new Error(`${what}: dim ${dim} out of range for rank ${ndim}`);
  return d;
}

/** Dense copy if needed; returns `x` itself (same object) when already contiguous. */
export function contiguous(x: Tensor): Tensor {
  x.assertAlive('contiguous');
  if (x.isContiguous) return x;
  return unary('copy', x);
}

let bindInPlace = true;

/** Tests and A/B timing: false makes bindable() copy every view with an offset, as before. */
export function setBindInPlace(on: boolean): void {
  bindInPlace = on;
}

/** Bytes of the binding of `t` from its first element: its data rounded up to 16 (vec4 arrays). */
const bindBytes = (t: Tensor) => Math.max(16, Math.ceil((t.size * 4) / 16) * 16);

/**
 * An operand for a kernel that binds it whole (bindingOf): `x` itself (same object) when it is
 * row-major and starts at a byte offset the device can bind at, with room for the rounded-up
 * binding, else a contiguous copy. Parameters qualify: ParameterStore lays every one out at a
 * 256-byte boundary of its bucket, so matmul and LayerNorm read weights in place instead of
 * copying each one per call (contiguous() copies any view with an offset).
 */
export function bindable(x: Tensor): Tensor {
  x.assertAlive('bindable');
  if (x.isContiguous) return x;
  if (!bindInPlace) return unary('copy', x);
  const byte = x.offset * 4;
  if (x.isRowMajor && byte % x.rt.limits.minStorageBufferOffsetAlignment === 0 && byte + bindBytes(x) <= x.buffer.size) return x;
  return unary('copy', x);
}

/** The binding of a tensor from bindable() (or any contiguous one): from its offset, 16-byte rounded size. */
export function bindingOf(t: Tensor): { buffer: GPUBuffer; offset: number; size: number } {
  return { buffer: t.buffer, offset: t.offset * 4, size: bindBytes(t) };
}

/** Always a new tensor object; a view when possible, a copy otherwise. -1 infers one dim. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.assertAlive('reshape');
  const s = [...shape];
  const neg = s.indexOf(-1);
  if (neg >= 0) {
    const rest = numel(s.filter((_, i) => i !== neg));
    if (rest === 0 || x.size % rest !== 0) throw new Error(`reshape: cannot infer -1 reshaping ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    s[neg] = x.size / rest;
  }
  if (numel(s) !== x.size) throw new Error(`reshape: ${shapeStr(x.shape)} (${x.size} elements) cannot become ${shapeStr(shape)}`);
  // Row-major at any offset (a parameter in its bucket, a slice of rows) reshapes as a view.
  if (x.isRowMajor) return x.view(s, contiguousStrides(s), x.offset);
  const c = unary('copy', x);
  const v = c.view(s, contiguousStrides(s), 0);
  c.dispose();
  return v;
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertAlive('permute');
  if (dims.length !== x.ndim) throw new Error(`permute: ${dims.length} dims given for rank ${x.ndim}`);
  const ds = dims.map((d) => normDim(d, x.ndim, 'permute'));
  if (new Set(ds).size !== ds.length) throw new Error(`permute: repeated dim in [${dims.join(',')}]`);
  return x.view(
    ds.map((d) => x.shape[d]),
    ds.map((d) => x.strides[d]),
    x.offset,
  );
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const a = normDim(d0, x.ndim, 'transpose');
  const b = normDim(d1, x.ndim, 'transpose');
  const dims = [...Array(x.ndim).keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** x[..., start:end, ...] along `dim` (a view). */
export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  x.assertAlive('slice');
  const d = normDim(dim, x.ndim, 'slice');
  const n = x.shape[d];
  const s = start < 0 ? start + n : start;
  const e = end < 0 ? end + n : Math.min(end, n);
  if (s < 0 || s > e || e > n) throw new Error(`slice: [${start}, ${end}) is out of range for dim ${d} of ${shapeStr(x.shape)}`);
  const shape = [...x.shape];
  shape[d] = e - s;
  return x.view(shape, x.strides, x.offset + s * x.strides[d]);
}

/** x.select(dim, i): removes the dim (a view). */
export function select(x: Tensor, dim: number, i: number): Tensor {
  const d = normDim(dim, x.ndim, 'select');
  const v = slice(x, d, i, i + 1);
  const out = v.view(
    v.shape.filter((_, k) => k !== d),
    v.strides.filter((_, k) => k !== d),
    v.offset,
  );
  v.dispose();
  return out;
}

/** Insert a size-1 dim (a view). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = dim < 0 ? dim + x.ndim + 1 : dim;
  if (d < 0 || d > x.ndim) throw new Error(`unsqueeze: dim ${dim} out of range for rank ${x.ndim}`);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d] * x.shape[d] : 1);
  return x.view(shape, strides, x.offset);
}

/** Broadcast view to a larger shape (stride 0 on expanded dims), like torch.expand. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (shape.length < x.ndim) throw new Error(`expand: ${shapeStr(x.shape)} to a lower rank ${shapeStr(shape)}`);
  const lead = shape.length - x.ndim;
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const xd = x.shape[i - lead];
    if (xd === d) return x.strides[i - lead];
    if (xd === 1) return 0;
    throw new Error(`expand: ${shapeStr(x.shape)} cannot expand to ${shapeStr(shape)}`);
  });
  return x.view(shape, strides, x.offset);
}

export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const first = xs[0];
  const d = normDim(dim, first.ndim, 'concat');
  let total = 0;
  for (const t of xs) {
    t.assertAlive('concat');
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new Error(`concat: ${shapeStr(t.shape)} does not match ${shapeStr(first.shape)} outside dim ${d}`);
    }
    total += t.shape[d];
  }
  const shape = [...first.shape];
  shape[d] = total;
  const out = Tensor.empty(shape, first.rt);
  let at = 0;
  for (const t of xs) {
    const win = slice(out, d, at, at + t.shape[d]);
    copyInto(t, win);
    win.dispose();
    at += t.shape[d];
  }
  return out;
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: no tensors');
  const ups = xs.map((t) => unsqueeze(t, dim));
  const out = concat(ups, dim);
  for (const u of ups) u.dispose();
  return out;
}

/** index_select along `dim` with host-side indices (e.g. frame selection). */
export function gather(x: Tensor, dim: number, indices: ArrayLike<number>): Tensor {
  const c = contiguous(x);
  const out = gatherKernel(c, dim, indices);
  if (c !== x) c.dispose();
  return out;
}
