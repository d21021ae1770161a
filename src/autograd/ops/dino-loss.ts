// Differentiable DINO loss. The fused kernel (src/kernels/dino-loss.ts) computes dL/dS in the
// forward pass, since it needs the same row statistics; the node saves it, and backward only
// scales it by the upstream scalar. The teacher and the center get no gradient (DINO detaches
// the teacher); the new center is a plain tensor for the caller to keep.
import { Tensor } from '../tensor.js';
import { binary } from '../../kernels/elementwise.js';
import { dinoLoss, type DinoLossOpts } from '../../kernels/dino-loss.js';
import { needsGrad, record } from '../tape.js';

export interface DinoLossOutput {
  /** Scalar loss, recorded on the tape when the student requires grad. */
  loss: Tensor;
  /** (K) center after the EMA step (no history). */
  newCenter: Tensor;
}

/** student (V·B, K), teacher (2·B, K) detached, center (K). Saves dL/dS: (V·B, K) floats. */
export function dinoLossOp(student: Tensor, teacher: Tensor, center: Tensor, opts: Omit<DinoLossOpts, 'grad'>): DinoLossOutput {
  const want = needsGrad(student);
  const r = dinoLoss(student, teacher, center, { ...opts, grad: want });
  if (!want) return { loss: r.loss, newCenter: r.newCenter };
  const saved = r.gradStudent!;
  // dL_total/dS = dL_total/dL · dL/dS: the upstream gradient is a scalar, broadcast over dS.
  const loss = record('dinoLoss', [student], r.loss, [saved], (g) => [binary('mul', saved, g)]);
  return { loss, newCenter: r.newCenter };
}
