// float64 references for shaders/elementwise.wgsl: plain loops, broadcasting by index.
export function erf(x: number): number {
  // Series for |x| < 3 (converges fast, error ~1e-16), continued fraction beyond.
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = x;
    let term = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(ax));
}

/** erfc for z >= 3 by Lentz's continued fraction. */
function erfcLarge(z: number): number {
  // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
  let f = z;
  for (let k = 60; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

export function erfc(x: number): number {
  if (x >= 3) return erfcLarge(x);
  if (x <= -3) return 2 - erfcLarge(-x);
  return 1 - erf(x);
}

export function gelu(x: number): number {
  return 0.5 * x * erfc(-x / Math.SQRT2);
}

export function unaryRef(op: string, x: number, alpha = 0, beta = 0): number {
  switch (op) {
    case 'neg': return -x;
    case 'exp': return Math.exp(x);
    case 'log': return Math.log(x);
    case 'tanh': return Math.tanh(x);
    case 'gelu': return gelu(x);
    case 'sqrt': return Math.sqrt(x);
    case 'rsqrt': return 1 / Math.sqrt(x);
    case 'abs': return Math.abs(x);
    case 'relu': return Math.max(x, 0);
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'recip': return 1 / x;
    case 'square': return x * x;
    case 'addScalar': return x + alpha;
    case 'mulScalar': return x * alpha;
    case 'powScalar': return Math.pow(x, alpha);
    case 'clamp': return Math.min(Math.max(x, alpha), beta);
    case 'copy': return x;
    default: throw new Error(`unaryRef: unknown op ${op}`);
  }
}

export function binaryRef(op: string, u: number, v: number, alpha = 1, beta = 1): number {
  switch (op) {
    case 'add': return u + v;
    case 'sub': return u - v;
    case 'mul': return u * v;
    case 'div': return u / v;
    case 'max': return Math.max(u, v);
    case 'min': return Math.min(u, v);
    case 'pow': return Math.pow(u, v);
    case 'lt': return u < v ? 1 : 0;
    case 'le': return u <= v ? 1 : 0;
    case 'gt': return u > v ? 1 : 0;
    case 'ge': return u >= v ? 1 : 0;
    case 'eq': return u === v ? 1 : 0;
    case 'ne': return u !== v ? 1 : 0;
    case 'axpby': return alpha * u + beta * v;
    // backward maps: u is the saved value, v the upstream gradient
    case 'geluBwd': return (0.5 * erfc(-u / Math.SQRT2) + (u * Math.exp(-0.5 * u * u)) / Math.sqrt(2 * Math.PI)) * v;
    case 'tanhBwd': return (1 - u * u) * v;
    case 'sigmoidBwd': return u * (1 - u) * v;
    case 'reluBwd': return u > 0 ? v : 0;
    default: throw new Error(`binaryRef: unknown op ${op}`);
  }
}

/** Broadcast binary op over dense row-major inputs of shapes sa, sb. */
export function binaryBroadcastRef(
  op: string, a: ArrayLike<number>, sa: number[], b: ArrayLike<number>, sb: number[], alpha = 1, beta = 1,
): { out: Float64Array; shape: number[] } {
  const n = Math.max(sa.length, sb.length);
  const pa = [...new Array(n - sa.length).fill(1), ...sa];
  const pb = [...new Array(n - sb.length).fill(1), ...sb];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const size = shape.reduce((x, y) => x * y, 1);
  const out = new Float64Array(size);
  const idx = new Array(n).fill(0);
  for (let k = 0; k < size; k++) {
    let ia = 0;
    let ib = 0;
    for (let i = 0; i < n; i++) {
      ia = ia * pa[i] + (pa[i] === 1 ? 0 : idx[i]);
      ib = ib * pb[i] + (pb[i] === 1 ? 0 : idx[i]);
    }
    out[k] = binaryRef(op, a[ia], b[ib], alpha, beta);
    for (let i = n - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return { out, shape };
}
