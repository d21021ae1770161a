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
