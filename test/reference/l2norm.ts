// float64 reference for shaders/l2norm.wgsl: x dense (rows, D).

/** y = x / max(||x||, eps) per row, and the (unclamped) norm per row. */
export function l2normRef(x: ArrayLike<number>, rows: number, d: number, eps = 1e-12): { y: Float64Array; norm: Float64Array } {
  const y = new Float64Array(rows * d);
  const norm = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let q = 0;
    for (let j = 0; j < d; j++) q += x[r * d + j] ** 2;
    const n = Math.sqrt(q);
    for (let j = 0; j < d; j++) y[r * d + j] = x[r * d + j] / Math.max(n, eps);
    norm[r] = n;
  }
  return { y, norm };
}

/** dx of y = x / max(||x||, eps): (g - y (g · y)) / ||x|| per row where ||x|| > eps, else g / eps. */
export function l2normBackwardRef(x: ArrayLike<number>, g: ArrayLike<number>, rows: number, d: number, eps = 1e-12): Float64Array {
  const { y, norm } = l2normRef(x, rows, d, eps);
  const dx = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += g[r * d + j] * y[r * d + j];
    for (let j = 0; j < d; j++) {
      dx[r * d + j] = norm[r] > eps ? (g[r * d + j] - y[r * d + j] * s) / norm[r] : g[r * d + j] / eps;
    }
  }
  return dx;
}
