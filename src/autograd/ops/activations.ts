// Differentiable unary maps. Each backward is one elementwise launch of a saved value (x or y)
// with the upstream gradient.
import { Tensor } from '../tensor.js';
import { binary, unary } from '../../kernels/elementwise.js';
import { needsGrad, record } from '../tape.js';

export function exp(x: Tensor): Tensor {
  const y = unary('exp', x);
  if (!needsGrad(x)) return y;
  const sy = y.view();
  return record('exp', [x], y, [sy], (g) => [binary('mul', g, sy)]); // d e^x = e^x
}

export function log(x: Tensor): Tensor {
  const y = unary('log', x);
  if (!needsGrad(x)) return y;
  const sx = x.view();
  return record('log', [x], y, [sx], (g) => [binary('div', g, sx)]); // d log x = 1/x
}

export function tanh(x: Tensor): Tensor {
  const y = unary('tanh', x);
  if (!needsGrad(x)) return y;
  const sy = y.view();
  return record('tanh', [x], y, [sy], (g) => [binary('tanhBwd', sy, g)]); // 1 - y^2
}

/** GELU, exact erf form (PyTorch's default nn.GELU()). */
export function gelu(x: Tensor): Tensor {
  const y = unary('gelu', x);
  if (!needsGrad(x)) return y;
  const sx = x.view();
  return record('gelu', [x], y, [sx], (g) => [binary('geluBwd', sx, g)]); // Phi(x) + x phi(x)
}

export function sigmoid(x: Tensor): Tensor {
  const y = unary('sigmoid', x);
  if (!needsGrad(x)) return y;
  const sy = y.view();
  return record('sigmoid', [x], y, [sy], (g) => [binary('sigmoidBwd', sy, g)]); // y (1 - y)
}

export function relu(x: Tensor): Tensor {
  const y = unary('relu', x);
  if (!needsGrad(x)) return y;
  const sx = x.view();
  return record('relu', [x], y, [sx], (g) => [binary('reluBwd', sx, g)]); // [x > 0]
}

export function sqrt(x: Tensor): Tensor {
  const y = unary('sqrt', x);
  if (!needsGrad(x)) return y;
  const sy = y.view();
  return record('sqrt', [x], y, [sy], (g) => {
    const t = binary('div', g, sy); // 1 / (2 sqrt x)
    const out = unary('mulScalar', t, 0.5);
    t.dispose();
    return [out];
  });
}

export function rsqrt(x: Tensor): Tensor {
  const y = unary('rsqrt', x);
  if (!needsGrad(x)) return y;
  const sy = y.view();
  return record('rsqrt', [x], y, [sy], (g) => {
    const y3 = unary('powScalar', sy, 3); // d x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
    const t = binary('mul', g, y3);
    const out = unary('mulScalar', t, -0.5);
    y3.dispose();
    t.dispose();
    return [out];
  });
}

export function square(x: Tensor): Tensor {
  const y = unary('square', x);
  if (!needsGrad(x)) return y;
  const sx = x.view();
  return record('square', [x], y, [sx], (g) => {
    const t = binary('mul', g, sx);
    const out = unary('mulScalar', t, 2);
    t.dispose();
    return [out];
  });
}
