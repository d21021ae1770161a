// Differentiable matmul and linear layers on the fused matmul kernel (src/kernels/matmul.ts).
//
// C = op(A) op(B), op = identity or transpose as stored. Backward, with the transposes folded
// into the kernel's flags instead of materialised:
//   d op(A) = dC op(B)^T          d op(B) = op(A)^T dC
//   transA: dA (stored K x M) = op(B) dC^T       transB: dB (stored N x K) = dC^T op(A)
// A batch-broadcast operand (one matrix for every batch) gets its gradient summed over batches.
//
// linear(x, W, b) = x W^T + b with W stored [out, in] (PyTorch). With grad, the GELU epilogue
// is not fused: the pre-activation z is kept for gelu'(z); without grad (inference, teacher)
// bias, GELU and residual all run in the matmul's epilogue.
import { Tensor, shapeStr } from '../tensor.js';
import { matmul as matmulKernel } from '../../kernels/matmul.js';
import { gelu as geluRecorded } from './activations.js';
import { add as addRecorded } from './arith.js';
import { reshape as reshapeRecorded } from './shape.js';
import { reduce } from '../../kernels/reduce.js';
import { contiguous, reshape } from '../view-ops.js';
import { needsGrad, record } from '../tape.js';

export interface MatmulFlags {
  transA?: boolean;
  transB?: boolean;
  /** Scale of the product (attention scores). */
  alpha?: number;
}

function isBroadcast(t: Tensor, other: Tensor): boolean {
  return t.ndim === 2 && other.ndim > 2 && other.shape.slice(0, -2).reduce((a, b) => a * b, 1) > 1;
}

/** Sum a batched gradient down to the (2-D) shape of a broadcast operand. */
function unbatch(g: Tensor, shape: readonly number[]): Tensor {
  if (g.ndim === shape.length) return g;
  const flat = reshape(g, [-1, ...g.shape.slice(-2)]);
  const s = reduce('sum', flat, 0);
  flat.dispose();
  g.dispose();
  return s;
}

export function matmul(a: Tensor, b: Tensor, flags: MatmulFlags = {}): Tensor {
  const transA = !!flags.transA;
  const transB = !!flags.transB;
  const alpha = flags.alpha ?? 1;
  const y = matmulKernel(a, b, { transA, transB, alpha });
  if (!needsGrad(a, b)) return y;
  const sa = a.view();
  const sb = b.view();
  return record('matmul', [a, b], y, [sa, sb], (g, needs) => {
    const gc = contiguous(g);
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = transA ? matmulKernel(sb, gc, { transA: transB, transB: true, alpha }) : matmulKernel(gc, sb, { transB: !transB, alpha });
      if (isBroadcast(a, b)) da = unbatch(da, a.shape);
    }
    if (needs[1]) {
      db = transB ? matmulKernel(gc, sa, { transA: true, transB: transA, alpha }) : matmulKernel(sa, gc, { transA: !transA, alpha });
      if (isBroadcast(b, a)) db = unbatch(db, b.shape);
    }
    if (gc !== g) gc.dispose();
    return [da, db];
  });
}

export interface LinearOpts {
  /** Apply exact GELU after the bias. */
  gelu?: boolean;
  /** Added after the activation (same shape as the output): a residual connection. */
  residual?: Tensor | null;
}

/**
 * y = [gelu](x W^T + b) [+ residual], x (..., in), W (out, in), b (out) or null.
 * The leading dims of x are flattened into the GEMM's M.
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null, opts: LinearOpts = {}): Tensor {
  const K = x.shape[x.ndim - 1];
  if (w.ndim !== 2 || w.shape[1] !== K) throw new Error(`linear: weight ${w} ${shapeStr(w.shape)} does not take inputs ${shapeStr(x.shape)}`);
  const N = w.shape[0];
  const lead = x.shape.slice(0, -1);
  const x2 = reshape(x, [-1, K]);
  const grad = needsGrad(x, w, b, opts.residual ?? null);
  // The residual's reshape is recorded when grad flows, so its gradient reaches the input.
  const res2 = opts.residual ? (grad ? reshapeRecorded(opts.residual, [-1, N]) : reshape(opts.residual, [-1, N])) : null;
  if (!grad) {
    const y = matmulKernel(x2, w, { transB: true, bias: b, gelu: !!opts.gelu, residual: res2 });
    x2.dispose();
    res2?.dispose();
    const out = reshape(y, [...lead, N]);
    y.dispose();
    return out;
  }
  // Pre-activation z = x W^T + b (fused bias); GELU and residual as separate recorded ops so
  // their backward rules apply.
  const z = matmulKernel(x2, w, { transB: true, bias: b });
  const sx = x2.view();
  const sw = w.view();
  const zr = record('linear', [x, w, b], z, [sx, sw], (g, needs) => {
    const gc = contiguous(g);
    const dx = needs[0] ? reshape(matmulKernel(gc, sw), x.shape) : null; // (M,N)@(N,K)
    const dw = needs[1] ? matmulKernel(gc, sx, { transA: true }) : null; // (N,M)@(M,K)
    const db = needs[2] ? reduce('sum', gc, 0) : null;
    if (gc !== g) gc.dispose();
    return [dx, dw, db];
  });
  x2.dispose();
  let y = zr;
  if (opts.gelu) {
    y = geluRecorded(zr);
    zr.dispose();
  }
  if (res2) {
    const s = addRecorded(y, res2);
    y.dispose();
    y = s;
    res2.dispose();
  }
  const out = reshapeRecorded(y, [...lead, N]);
  y.dispose();
  return out;
}
