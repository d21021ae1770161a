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
