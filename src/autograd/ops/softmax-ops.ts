// Differentiable softmax, log-softmax and cross-entropy (kernels: src/kernels/softmax.ts).
//   softmax(x, dim, T)      y = softmax(x / T)    dx = y ⊙ (g - Σ g y) / T        saves y
//   logSoftmax(x, dim, T)   y = log_softmax(x/T)  dx = (g - exp(y) Σ g) / T       saves y
//   nll(logp, labels)       l_i = -c_i logp[i, y_i], then the mean or sum over the batch
//   crossEntropy(logits, labels) = nll(logSoftmax(logits), labels): F.cross_entropy
// Any axis: the kernels work on the last one, so another axis is transposed there as a view
// (the kernel makes it dense) and the result is transposed back as a view.
import { Tensor, shapeStr } from '../tensor.js';
import { needsGrad, record } from '../tape.js';
import * as V from '../view-ops.js';
import {
  softmaxForward, logSoftmaxForward, softmaxBackward, logSoftmaxBackward, nllForward, nllBackward,
  type SoftmaxOpts, type SoftmaxBackwardOpts,
} from '../../kernels/softmax.js';
import { sum } from './reduce-ops.js';

/** Kernel choices for tests and benchmarks: the forward's and the backward's. */
export interface SoftmaxKernelOpts {
  fwd?: Omit<SoftmaxOpts, 'temperature'>;
  bwd?: Omit<SoftmaxBackwardOpts, 'temperature'>;
}

function along(log: boolean, x: Tensor, dim: number, temperature: number, k: SoftmaxKernelOpts): Tensor {
  const what = log ? 'logSoftmax' : 'softmax';
  x.assertAlive(what);
  if (x.ndim === 0) throw new Error(`${what}: x ${shapeStr(x.shape)} is a scalar; softmax needs at least one axis`);
  const d = dim < 0 ? dim + x.ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= x.ndim) throw new Error(`${what}: dim ${dim} is out of range for x ${shapeStr(x.shape)}`);
  const last = d === x.ndim - 1;
  const xt = last ? x : V.transpose(x, d, -1);
  const yt = (log ? logSoftmaxForward : softmaxForward)(xt, { ...k.fwd, temperature }); // dense, axis last
  if (xt !== x) xt.dispose();
  const y = last ? yt : V.transpose(yt, d, -1);
  if (y !== yt) yt.dispose(); // the view keeps the storage
  if (!needsGrad(x)) return y;
  const saved = [last ? y.view() : V.transpose(y, d, -1)]; // y with the axis last, dense
  const bwd = log ? logSoftmaxBackward : softmaxBackward;
  return record(what, [x], y, saved, (g) => {
    const gt = last ? g : V.transpose(g, d, -1);
    const dxt = bwd(saved[0], gt, { ...k.bwd, temperature });
    if (gt !== g) gt.dispose();
    if (last) return [dxt];
    const dx = V.transpose(dxt, d, -1);
    dxt.dispose();
    return [dx];
  });
}

/** softmax(x / temperature) along `dim` (default: the last). */
export function softmax(x: Tensor, dim = -1, temperature = 1, k: SoftmaxKernelOpts = {}): Tensor {
  return along(false, x, dim, temperature, k);
}

/** log_softmax(x / temperature) along `dim` (default: the last). */
export function logSoftmax(x: Tensor, dim = -1, temperature = 1, k: SoftmaxKernelOpts = {}): Tensor {
  return along(true, x, dim, temperature, k);
}

export interface NllOpts {
  /** 'mean' (default): Σ_i c_i / Σ_i w[y_i], as PyTorch; 'sum'; 'none': the (B) losses. */
  reduction?: 'mean' | 'sum' | 'none';
  /** Per-class weights w (C), as F.cross_entropy's `weight`. */
  weight?: ArrayLike<number>;
}

/**
 * F.nll_loss(logp, labels): -logp[i, y_i] weighted by w[y_i], averaged (by Σ w[y_i]) or
 * summed over the batch. logp (B, C) are log-probabilities; labels are host class indices.
 */
export function nll(logp: Tensor, labels: ArrayLike<number>, opts: NllOpts = {}): Tensor {
  const what = 'nll';
  logp.assertAlive(what);
  if (logp.ndim !== 2) throw new Error(`${what}: log-probabilities ${logp} ${shapeStr(logp.shape)} must be (B, C)`);
  const [b, c] = logp.shape;
  const reduction = opts.reduction ?? 'mean';
  if (!['mean', 'sum', 'none'].includes(reduction)) throw new Error(`${what}: unknown reduction '${reduction}'`);
  if (labels.length !== b) throw new Error(`${what}: ${labels.length} labels for ${b} rows of ${logp} ${shapeStr(logp.shape)}`);
  const w = opts.weight;
  if (w && w.length !== c) throw new Error(`${what}: ${w.length} class weights for ${c} classes`);
  const lab = new Float32Array(b);
  const coef = new Float32Array(b);
  let total = 0;
  for (let i = 0; i < b; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= c) throw new Error(`${what}: label ${y} of row ${i} is not a class index in [0, ${c})`);
    lab[i] = y;
    coef[i] = w ? w[y] : 1;
    total += coef[i];
  }
  // The mean divides by Σ w[y_i] (B without weights); folded into the coefficients.
  if (reduction === 'mean') for (let i = 0; i < b; i++) coef[i] = coef[i] / total;
  const labT = Tensor.fromArray(lab, [b], logp.rt);
  const coefT = Tensor.fromArray(coef, [b], logp.rt);
  const l = nllForward(logp, labT, coefT); // (B)
  let perRow = l;
  if (needsGrad(logp)) {
    perRow = record('nll', [logp], l, [labT, coefT], (g) => [nllBackward(g, labT, coefT, c)]);
  } else {
    labT.dispose();
    coefT.dispose();
  }
  if (reduction === 'none') return perRow;
  const out = sum(perRow);
  perRow.dispose();
  return out;
}

/**
 * F.cross_entropy(logits, labels, weight, reduction): log-softmax over the classes, then the
 * negative log-likelihood of each row's label. logits (B, C); returns a scalar (shape []),
 * or (B) losses with reduction 'none'.
 */
export function crossEntropy(logits: Tensor, labels: ArrayLike<number>, opts: NllOpts & { kernels?: SoftmaxKernelOpts } = {}): Tensor {
  if (logits.ndim !== 2) throw new Error(`crossEntropy: logits ${logits} ${shapeStr(logits.shape)} must be (B, C)`);
  const logp = logSoftmax(logits, -1, 1, opts.kernels);
  const out = nll(logp, labels, opts);
  logp.dispose(); // the graph holds what backward needs
  return out;
}
