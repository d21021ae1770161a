// Differentiable LayerNorm and L2-normalisation over the last axis (kernels:
// src/kernels/layernorm.ts, l2norm.ts).
//   layerNorm(x, w, b, eps)  y = (x - mean) rstd w + b      saves x, w, mean and rstd (rows):
//                            dx, dw, db from one backward launch (+ the column-sum pass)
//   l2Normalize(x, eps)      y = x / max(||x||, eps)          saves y and ||x|| (rows)
import { Tensor, shapeStr } from '../tensor.js';
import { needsGrad, record } from '../tape.js';
import { fill } from '../../kernels/elementwise.js';
import { layernormForward, layernormBackward, type LayerNormOpts, type LayerNormBackwardOpts } from '../../kernels/layernorm.js';
import { l2normForward, l2normBackward, type L2NormBackwardOpts, type L2NormOpts } from '../../kernels/l2norm.js';

/** Kernel choices for tests and benchmarks: the forward's and the backward's. */
export interface LayerNormKernelOpts {
  fwd?: Omit<LayerNormOpts, 'saveStats'>;
  bwd?: Omit<LayerNormBackwardOpts, 'needParams'>;
}

/**
 * PyTorch's LayerNorm over the last axis. weight and bias may be null (elementwise_affine =
 * False, or only one of them): the kernel then reads ones / zeros, and no gradient is made.
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5, k: LayerNormKernelOpts = {}): Tensor {
  x.assertAlive('layerNorm');
  if (x.ndim === 0) throw new Error(`layerNorm: x ${shapeStr(x.shape)} is a scalar; LayerNorm needs a last axis`);
  const d = x.shape[x.ndim - 1];
  const w = weight ?? fill(Tensor.empty([d], x.rt), 1);
  const b = bias ?? fill(Tensor.empty([d], x.rt), 0);
  const track = needsGrad(x, weight, bias);
  const r = layernormForward(x, w, b, eps, { ...k.fwd, saveStats: true });
  if (b !== bias) b.dispose();
  if (!track) {
    if (w !== weight) w.dispose();
    r.mean.dispose();
    r.rstd.dispose();
    return r.y;
  }
  // Saved: views of x and w (the node owns them), the row statistics (owned outright).
  const sx = x.view();
  const sw = w === weight ? w.view() : w;
  return record('layerNorm', [x, weight, bias], r.y, [sx, sw, r.mean, r.rstd], (g, needs) => {
    const res = layernormBackward(sx, sw, r.mean, r.rstd, g, { ...k.bwd, needParams: needs[1] || needs[2] });
    if (!needs[0]) res.dx.dispose();
    if (!needs[1]) res.dw?.dispose();
    if (!needs[2]) res.db?.dispose();
    return [needs[0] ? res.dx : null, needs[1] ? res.dw : null, needs[2] ? res.db : null];
  });
}

/** Kernel choices for tests and benchmarks: the forward's and the backward's. */
export interface L2NormKernelOpts {
  fwd?: Omit<L2NormOpts, 'eps' | 'saveNorm'>;
  bwd?: Omit<L2NormBackwardOpts, 'eps'>;
}

/** F.normalize(x, p = 2, dim = -1, eps): x / max(||x||, eps) over the last axis. */
export function l2Normalize(x: Tensor, eps = 1e-12, k: L2NormKernelOpts = {}): Tensor {
  const r = l2normForward(x, { ...k.fwd, eps, saveNorm: true });
  if (!needsGrad(x)) {
    r.norm.dispose();
    return r.y;
  }
  const sy = r.y.view();
  return record('l2Normalize', [x], r.y, [sy, r.norm], (g) => [l2normBackward(sy, r.norm, g, { ...k.bwd, eps })]);
}
