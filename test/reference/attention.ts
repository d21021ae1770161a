// float64 references for shaders/attention.wgsl. Heads are dense (BH, N, Dh) arrays, BH = B·H.
// Plain loops, the N×N matrices stored: softmax(s Q K^T) V and its analytic backward.

/** P = softmax_rows(s Q K^T) (BH, N, N), max subtracted first. */
export function attentionProbsRef(q: ArrayLike<number>, k: ArrayLike<number>, bh: number, n: number, d: number, scale: number): Float64Array {
  const P = new Float64Array(bh * n * n);
  const s = new Float64Array(n);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < n; i++) {
      let m = -Infinity;
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(h * n + i) * d + c] * k[(h * n + j) * d + c];
        s[j] = scale * dot;
        m = Math.max(m, s[j]);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += Math.exp(s[j] - m);
      for (let j = 0; j < n; j++) P[(h * n + i) * n + j] = Math.exp(s[j] - m) / sum;
    }
  }
  return P;
}

/** O = P V (BH, N, Dh) and L_i = log Σ_j exp(s q_i·k_j) (BH, N). */
export function attentionForwardRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, bh: number, n: number, d: number, scale: number,
): { o: Float64Array; lse: Float64Array } {
  const P = attentionProbsRef(q, k, bh, n, d, scale);
  const o = new Float64Array(bh * n * d);
  const lse = new Float64Array(bh * n);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += P[(h * n + i) * n + j] * v[(h * n + j) * d + c];
        o[(h * n + i) * d + c] = acc;
      }
      // L from its definition (not from the kernel's running max and sum).
      let m = -Infinity;
      const s: number[] = [];
      for (let j = 0; j < n; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[(h * n + i) * d + c] * k[(h * n + j) * d + c];
        s.push(scale * dot);
        m = Math.max(m, scale * dot);
      }
      lse[h * n + i] = m + Math.log(s.reduce((a, x) => a + Math.exp(x - m), 0));
    }
  }
  return { o, lse };
}

/**
 * Analytic backward: dV = P^T dO, dP = dO V^T, dS_ij = P_ij (dP_ij - Σ_k P_ik dP_ik),
 * dQ = s dS K, dK = s dS^T Q. (The kernels use Σ_k P_ik dP_ik = dO_i · O_i instead.)
 */
export function attentionBackwardRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dO: ArrayLike<number>,
  bh: number, n: number, d: number, scale: number,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const P = attentionProbsRef(q, k, bh, n, d, scale);
  const dq = new Float64Array(bh * n * d);
  const dk = new Float64Array(bh * n * d);
  const dv = new Float64Array(bh * n * d);
  const dP = new Float64Array(n);
  const dS = new Float64Array(n);
  for (let h = 0; h < bh; h++) {
    for (let i = 0; i < n; i++) {
      const pi = (h * n + i) * n;
      let rowDot = 0;
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let c = 0; c < d; c++) acc += dO[(h * n + i) * d + c] * v[(h * n + j) * d + c];
        dP[j] = acc;
        rowDot += P[pi + j] * acc;
      }
      for (let j = 0; j < n; j++) dS[j] = P[pi + j] * (dP[j] - rowDot);
      for (let j = 0; j < n; j++) {
        for (let c = 0; c < d; c++) {
          dv[(h * n + j) * d + c] += P[pi + j] * dO[(h * n + i) * d + c];
          dk[(h * n + j) * d + c] += scale * dS[j] * q[(h * n + i) * d + c];
          dq[(h * n + i) * d + c] += scale * dS[j] * k[(h * n + j) * d + c];
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** Split the packed qkv (B, N, 3·H·Dh) into dense q, k, v heads (B·H, N, Dh). */
export function unpackQkvRef(qkv: ArrayLike<number>, B: number, N: number, H: number, d: number): [Float64Array, Float64Array, Float64Array] {
  const out: [Float64Array, Float64Array, Float64Array] = [0, 1, 2].map(() => new Float64Array(B * H * N * d)) as never;
  for (let b = 0; b < B; b++)
    for (let i = 0; i < N; i++)
      for (let part = 0; part < 3; part++)
        for (let h = 0; h < H; h++)
          for (let c = 0; c < d; c++) out[part][((b * H + h) * N + i) * d + c] = qkv[(b * N + i) * 3 * H * d + part * H * d + h * d + c];
  return out;
}

/** Heads (B·H, N, Dh) to token-major (B, N, H·Dh). */
export function headsToTokensRef(x: ArrayLike<number>, B: number, N: number, H: number, d: number): Float64Array {
  const y = new Float64Array(B * N * H * d);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < N; i++)
        for (let c = 0; c < d; c++) y[(b * N + i) * H * d + h * d + c] = x[((b * H + h) * N + i) * d + c];
  return y;
}

/** Token-major (B, N, H·Dh) to heads (B·H, N, Dh). */
export function tokensToHeadsRef(x: ArrayLike<number>, B: number, N: number, H: number, d: number): Float64Array {
  const y = new Float64Array(B * N * H * d);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < N; i++)
        for (let c = 0; c < d; c++) y[((b * H + h) * N + i) * d + c] = x[(b * N + i) * H * d + h * d + c];
  return y;
}

/** Pack dense dq, dk, dv heads back into (B, N, 3·H·Dh). */
export function packQkvRef(parts: ArrayLike<number>[], B: number, N: number, H: number, d: number): Float64Array {
  const y = new Float64Array(B * N * 3 * H * d);
  parts.forEach((x, part) => {
    const t = headsToTokensRef(x, B, N, H, d);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < N; i++)
        for (let e = 0; e < H * d; e++) y[(b * N + i) * 3 * H * d + part * H * d + e] = t[(b * N + i) * H * d + e];
  });
  return y;
}
