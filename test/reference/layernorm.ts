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
