// Differentiable VLAD pieces. The model composes DualVLAD as
//   { a, r } = vladAssignResidual(x, w, bias, c)          // fused kernel (a)
//   e = linear(tanh(linear(r, V)), u) / 1.2;  beta = softmax over S   // engine ops
//   y = vladAggregate(r, beta, K)                          // fused kernel (b); beta null: NetVLAD
// Backward rules use the family's own backward kernels (c).
import { Tensor } from '../tensor.js';
import { contiguous as contiguousCopy } from '../view-ops.js';
import {
  vladAssignForward, vladAssignBackward, vladAggregateForward, vladAggregateBackward, type VladOpts,
} from '../../kernels/vlad.js';
import { needsGrad, record } from '../tape.js';
import { reshape, slice } from './shape.js';

/** A tensor the node may own: a view of x when x is dense, else a dense copy. */
function savedDense(x: Tensor): Tensor {
  const c = contiguousCopy(x);
  return c === x ? x.view() : c;
}

/**
 * x (B, S, D) frame features, w (K, D), bias (K), c (K, D) → a (B, S, K) soft-assignment and
 * r (B, S, K·D) residuals (cluster-major). One node for both: its output is the packed [r | a]
 * buffer and a, r are differentiable slices of it (a is a small dense copy, r a view).
 * Saves x, w, c and the packed output (for a).
 */
export function vladAssignResidual(x: Tensor, w: Tensor, bias: Tensor, c: Tensor, opts: VladOpts = {}): { a: Tensor; r: Tensor } {
  const fwd = vladAssignForward(x, w, bias, c, opts);
  fwd.a.dispose();
  fwd.r.dispose();
  const { B, S, K, D } = fwd.shape;
  const nR = B * S * K * D;
  let ar = fwd.ar;
  if (needsGrad(x, w, bias, c)) {
    const saved = [savedDense(x), savedDense(w), savedDense(c), ar.view()];
    const [sx, sw, sc, sar] = saved;
    ar = record('vladAssignResidual', [x, w, bias, c], ar, saved, (g, needs) => {
      const gc = contiguousCopy(g);
      const gr = vladAssignBackward(sx, sw, sc, sar, { packed: gc }, fwd.shape, opts);
      if (gc !== g) gc.dispose();
      const out = [gr.dx, gr.dw, gr.dbias, gr.dc];
      return out.map((t, i) => {
        if (needs[i]) return t;
        t.dispose();
        return null;
      });
    });
  }
  const rs = slice(ar, 0, 0, nR);
  const as = slice(ar, 0, nR, nR + B * S * K);
  const r = reshape(rs, [B, S, K * D]);
  const a = reshape(as, [B, S, K]);
  for (const t of [ar, rs, as]) t.dispose();
  return { a, r };
}

/**
 * y = global-L2(intra-L2(Σ_i β_i r_i)) (B, K·D) from r (B, S, K·D) and beta (B, S); beta null
 * is NetVLAD's plain sum over frames. Saves r, beta, y and the norms (B, K + 1).
 */
export function vladAggregate(r: Tensor, beta: Tensor | null, k: number, opts: VladOpts = {}): Tensor {
  const { y, norms } = vladAggregateForward(r, beta, k, opts);
  if (!needsGrad(r, beta)) {
    norms.dispose();
    return y;
  }
  const sr = savedDense(r);
  const sb = beta ? savedDense(beta) : null;
  const sy = y.view();
  const saved = [sr, sy, norms, ...(sb ? [sb] : [])];
  return record('vladAggregate', [r, beta], y, saved, (g, needs) => {
    const { dr, dbeta } = vladAggregateBackward(sr, sb, sy, norms, g, k, opts);
    if (!needs[0]) dr.dispose();
    if (dbeta && !needs[1]) dbeta.dispose();
    return [needs[0] ? dr : null, needs[1] ? dbeta : null];
  });
}
