// The autograd API: Tensor, scopes, the tape, and the differentiable ops.
import { binary, axpbyInPlace } from '../kernels/elementwise.js';
import { setTapeKernels } from './tape.js';
import { full } from './ops/shape.js';
import { contiguous } from './view-ops.js';

export { Tensor, Storage, numel, shapeStr, contiguousStrides } from './tensor.js';
export { scope, scopeAsync, keep } from './scope.js';
export { backward, noGrad, detach, isGradEnabled, needsGrad, record } from './tape.js';
export * from './ops/arith.js';
export * from './ops/activations.js';
export * from './ops/shape.js';
export * from './ops/random-ops.js';
export * from './ops/matmul-ops.js';
export * from './ops/attention.js';
export * from './ops/dino-loss.js';
export * from './ops/vlad.js';
export * from './ops/lstm.js';
export * from './ops/reduce-ops.js';
export * from './ops/softmax-ops.js';
export * from './ops/norm-ops.js';

setTapeKernels(
  (a, b) => binary('add', a, b),
  (shape) => full(shape, 1),
  (dst, g) => {
    const c = contiguous(g);
    axpbyInPlace(dst, c, 1, 1);
    if (c !== g) c.dispose();
  },
);
