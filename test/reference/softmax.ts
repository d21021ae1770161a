// float64 references for shaders/softmax.wgsl: rows of x dense (rows, d).

/** y = softmax(x / t) over each row, max subtracted first. */
export function softmaxRef(x: ArrayLike<number>, rows: number, d: number, t = 1): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < d; j++) m = Math.max(m, x[r * d + j] / t);
    let s = 0;
    for (let j = 0; j < d; j++) s += Math.exp(x[r * d + j] / t - m);
    for (let j = 0; j < d; j++) y[r * d + j] = Math.exp(x[r * d + j] / t - m) / s;
  }
  return y;
}

/** y = log_softmax(x / t) over each row. */
export function logSoftmaxRef(x: ArrayLike<number>, rows: number, d: number, t = 1): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < d; j++) m = Math.max(m, x[r * d + j] / t);
    let s = 0;
    for (let j = 0; j < d; j++) s += Math.exp(x[r * d + j] / t - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] / t - lse;
  }
  return y;
}

/** dx of y = softmax(x / t) for the upstream gradient g: y ⊙ (g - Σ_j g_j y_j) / t per row. */
export function softmaxBackwardRef(x: ArrayLike<number>, g: ArrayLike<number>, rows: number, d: number, t = 1): Float64Array {
  const y = softmaxRef(x, rows, d, t);
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += g[r * d + j] * y[r * d + j];
    for (let j = 0; j < d; j++) dx[r * d + j] = (y[r * d + j] * (g[r * d + j] - s)) / t;
  }
  return dx;
}

/** dx of y = log_softmax(x / t): (g - softmax(x / t) Σ_j g_j) / t per row. */
export function logSoftmaxBackwardRef(x: ArrayLike<number>, g: ArrayLike<number>, rows: number, d: number, t = 1): Float64Array {
  const p = softmaxRef(x, rows, d, t);
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += g[r * d + j];
    for (let j = 0; j < d; j++) dx[r * d + j] = (g[r * d + j] - p[r * d + j] * s) / t;
  }
  return dx;
}

export interface CrossEntropyRefOpts {
  reduction?: 'mean' | 'sum' | 'none';
  weight?: ArrayLike<number>;
}

/** Per-row factor c_i of F.cross_entropy: w[y_i], divided by Σ_i w[y_i] for the mean. */
function ceCoef(labels: ArrayLike<number>, b: number, opts: CrossEntropyRefOpts): Float64Array {
  const c = new Float64Array(b);
  let total = 0;
  for (let i = 0; i < b; i++) {
    c[i] = opts.weight ? opts.weight[labels[i]] : 1;
    total += c[i];
  }
  if ((opts.reduction ?? 'mean') === 'mean') for (let i = 0; i < b; i++) c[i] /= total;
  return c;
}

/** F.cross_entropy(logits (B, C), labels): one value, or B with reduction 'none'. */
export function crossEntropyRef(logits: ArrayLike<number>, labels: ArrayLike<number>, b: number, c: number, opts: CrossEntropyRefOpts = {}): Float64Array {
  const lp = logSoftmaxRef(logits, b, c);
  const coef = ceCoef(labels, b, opts);
  const per = new Float64Array(b);
  for (let i = 0; i < b; i++) per[i] = -coef[i] * lp[i * c + labels[i]];
  if (opts.reduction === 'none') return per;
  let s = 0;
  for (let i = 0; i < b; i++) s += per[i];
  return Float64Array.of(s);
}

/** d logits = c_i g_i (softmax(logits)_ij - [j = y_i]); g has 1 value, or B with 'none'. */
export function crossEntropyBackwardRef(
  logits: ArrayLike<number>, labels: ArrayLike<number>, g: ArrayLike<number>, b: number, c: number, opts: CrossEntropyRefOpts = {},
): Float64Array {
  const p = softmaxRef(logits, b, c);
  const coef = ceCoef(labels, b, opts);
  const dx = new Float64Array(b * c);
  for (let i = 0; i < b; i++) {
    const gi = opts.reduction === 'none' ? g[i] : g[0];
    for (let j = 0; j < c; j++) dx[i * c + j] = coef[i] * gi * (p[i * c + j] - (j === labels[i] ? 1 : 0));
  }
  return dx;
}
