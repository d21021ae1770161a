// float64 reference for shaders/matmul.wgsl: plain loops over dense row-major inputs.
// y[b, m, n] = e(alpha * sum_k A[b, m, k] B[b, k, n]), e = (+ bias[n]) (-> gelu) (+ res[b, m, n]).
import { gelu } from './elementwise.js';

export interface MatmulRefOpts {
  transA?: boolean; // a stored (batch, K, M)
  transB?: boolean; // b stored (batch, N, K)
  bias?: ArrayLike<number>; // (N)
  gelu?: boolean;
  residual?: ArrayLike<number>; // (batch, M, N)
  alpha?: number;
}

/**
 * a: (aBatch, M, K) dense (or (aBatch, K, M) with transA); b likewise. aBatch and bBatch are
 * equal, or one of them is 1 (that operand is shared by every batch).
 */
export function matmulRef(
  a: ArrayLike<number>, aBatch: number,
  b: ArrayLike<number>, bBatch: number,
  M: number, N: number, K: number,
  opts: MatmulRefOpts = {},
): Float64Array {
  const batch = Math.max(aBatch, bBatch);
  const alpha = opts.alpha ?? 1;
  const y = new Float64Array(batch * M * N);
  for (let bt = 0; bt < batch; bt++) {
    const ao = (aBatch === 1 ? 0 : bt) * M * K;
    const bo = (bBatch === 1 ? 0 : bt) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = opts.transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = opts.transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        let x = alpha * s;
        if (opts.bias) x += opts.bias[n];
        if (opts.gelu) x = gelu(x);
        const at = (bt * M + m) * N + n;
        if (opts.residual) x += opts.residual[at];
        y[at] = x;
      }
    }
  }
  return y;
}
