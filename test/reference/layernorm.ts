// float64 reference for shaders/layernorm.wgsl: x dense (rows, D), w and b (D).

/** y = (x - mean) / sqrt(var + eps) * w + b per row; biased variance, as PyTorch. */
export function layernormRef(
  x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, rows: number, d: number, eps: number,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * d);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[r * d + j];
    const m = s / d;
    let q = 0;
    for (let j = 0; j < d; j++) q += (x[r * d + j] - m) ** 2;
    const rs = 1 / Math.sqrt(q / d + eps);
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - m) * rs * w[j] + b[j];
    mean[r] = m;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/**
 * Gradients of y = layernorm(x, w, b) for the upstream dy, PyTorch's formula:
 *   xhat = (x - mean) rstd, g = dy w,
 *   dx = rstd (g - mean_j g - xhat mean_j (g xhat)),  dw = Σ_rows dy xhat,  db = Σ_rows dy.
 */
export function layernormBackwardRef(
  x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, rows: number, d: number, eps: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { mean, rstd } = layernormRef(x, w, new Float64Array(d), rows, d, eps);
  const dx = new Float64Array(rows * d);
  const dw = new Float64Array(d);
  const db = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const xh = (x[r * d + j] - mean[r]) * rstd[r];
      const g = dy[r * d + j] * w[j];
      sg += g;
      sgx += g * xh;
      dw[j] += dy[r * d + j] * xh;
      db[j] += dy[r * d + j];
    }
    for (let j = 0; j < d; j++) {
      const xh = (x[r * d + j] - mean[r]) * rstd[r];
      dx[r * d + j] = rstd[r] * (dy[r * d + j] * w[j] - sg / d - (xh * sgx) / d);
    }
  }
  return { dx, dw, db };
}
