// Differentiable shape ops. Forward: the views / copies of view-ops.ts. Backward: the inverse
// view, or a scatter of the gradient into zeros (slice/select), or gather's index-add.
import { Tensor } from '../tensor.js';
import * as V from '../view-ops.js';
import { fill, sumTo } from '../../kernels/elementwise.js';
import { copyInto, gatherBackward } from '../../kernels/copy.js';
import { needsGrad, record } from '../tape.js';

export function zeros(shape: readonly number[], like?: Tensor): Tensor {
  const t = Tensor.empty(shape, like?.rt);
  return fill(t, 0);
}

export function full(shape: readonly number[], value: number, like?: Tensor): Tensor {
  return fill(Tensor.empty(shape, like?.rt), value);
}

export function contiguous(x: Tensor): Tensor {
  const y = V.contiguous(x);
  if (y === x || !needsGrad(x)) return y;
  return record('contiguous', [x], y, [], (g) => [g.view()]);
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = V.reshape(x, shape);
  if (!needsGrad(x)) return y;
  return record('reshape', [x], y, [], (g) => [V.reshape(g, x.shape)]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const y = V.permute(x, dims);
  if (!needsGrad(x)) return y;
  const nd = x.ndim;
  const inv = new Array<number>(nd);
  dims.forEach((d, i) => (inv[d < 0 ? d + nd : d] = i));
  return record('permute', [x], y, [], (g) => [V.permute(g, inv)]);
}

export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const a = d0 < 0 ? d0 + x.ndim : d0;
  const b = d1 < 0 ? d1 + x.ndim : d1;
  const dims = [...Array(x.ndim).keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

function scatterInto(g: Tensor, xShape: readonly number[], window: (z: Tensor) => Tensor): Tensor {
  const z = zeros(xShape, g);
  const w = window(z);
  copyInto(g, w);
  w.dispose();
  return z;
}

export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  const y = V.slice(x, dim, start, end);
  if (!needsGrad(x)) return y;
  return record('slice', [x], y, [], (g) => [scatterInto(g, x.shape, (z) => V.slice(z, dim, start, end))]);
}

export function select(x: Tensor, dim: number, i: number): Tensor {
  const y = V.select(x, dim, i);
  if (!needsGrad(x)) return y;
  const d = dim < 0 ? dim + x.ndim : dim;
  const k = i < 0 ? i + x.shape[d] : i;
  return record('select', [x], y, [], (g) => {
    const gu = V.unsqueeze(g, d);
    const out = scatterInto(gu, x.shape, (z) => V.slice(z, d, k, k + 1));
    gu.dispose();
    return [out];
  });
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const y = V.unsqueeze(x, dim);
  if (!needsGrad(x)) return y;
  return record('unsqueeze', [x], y, [], (g) => [V.reshape(V.contiguous(g), x.shape)]);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const y = V.expand(x, shape);
  if (!needsGrad(x)) return y;
  return record('expand', [x], y, [], (g) => {
    const c = V.contiguous(g);
    const out = sumTo(c, x.shape);
    if (c !== g) c.dispose();
    return [out];
  });
}

export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  const y = V.concat(xs, dim);
  if (!needsGrad(...xs)) return y;
  const d = dim < 0 ? dim + xs[0].ndim : dim;
  const starts: number[] = [];
  let at = 0;
  for (const t of xs) {
    starts.push(at);
    at += t.shape[d];
  }
  return record('concat', [...xs], y, [], (g, needs) =>
    xs.map((t, i) => (needs[i] ? V.slice(g, d, starts[i], starts[i] + t.shape[d]) : null)),
  );
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  const ups = xs.map((t) => unsqueeze(t, dim));
  const out = concat(ups, dim);
  for (const u of ups) u.dispose();
  return out;
}

export function gather(x: Tensor, dim: number, indices: ArrayLike<number>): Tensor {
  const y = V.gather(x, dim, indices);
  if (!needsGrad(x)) return y;
  const idx = Array.from(indices);
  return record('gather', [x], y, [], (g) => {
    const c = V.contiguous(g);
    const out = gatherBackward(c, x.shape, dim, idx);
    if (c !== g) c.dispose();
    return [out];
  });
}

