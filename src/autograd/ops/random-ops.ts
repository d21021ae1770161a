// Differentiable dropout and drop-path. The mask is regenerated from (seed, stream) in the
// backward pass instead of being stored: y = x * m / (1 - p) is linear in x, so the backward
// is the same launch applied to the gradient.
import type { Tensor } from '../tensor.js';
import { dropoutMask, dropPathMask } from '../../kernels/random.js';
import { contiguous } from '../view-ops.js';
import { needsGrad, record } from '../tape.js';
import { reshape } from './shape.js';

export interface RngKey {
  seed: number;
  stream: number;
}

function apply(kind: 'dropout' | 'dropPath', x: Tensor, p: number, key: RngKey): Tensor {
  const f = kind === 'dropout' ? dropoutMask : dropPathMask;
  const xc = contiguous(x);
  const y = f(xc, p, key.seed, key.stream);
  if (xc !== x) xc.dispose();
  if (!needsGrad(x)) return y;
  return record(kind, [x], y, [], (g) => {
    const gc = contiguous(g);
    const out = f(gc, p, key.seed, key.stream);
    if (gc !== g) gc.dispose();
    return [out];
  });
}

// p = 0 returns a new tensor object for x through the recorded reshape (a bare x.view() would
// carry no gradient edge).

/** Elementwise dropout (identity when p = 0). */
export function dropout(x: Tensor, p: number, key: RngKey): Tensor {
  if (p === 0) return reshape(x, x.shape);
  return apply('dropout', x, p, key);
}

/** Stochastic depth: drops whole samples (dim 0) of a residual branch. */
export function dropPath(x: Tensor, p: number, key: RngKey): Tensor {
  if (p === 0) return reshape(x, x.shape);
  return apply('dropPath', x, p, key);
}
