// float64 references for shaders/vlad.wgsl (SPEC §4): plain loops, one function per pass.
// F = B·S frames; r is cluster-major (k·D + j); eps = 1e-12 as F.normalize.

const EPS = 1e-12;

export interface VladRefShape {
  B: number;
  S: number;
  K: number;
  D: number;
}

/** a (F, K) = softmax_k(w x̂ + bias), r (F, K·D) = a_k (x̂ − c_k), x̂ = x / max(‖x‖, ε). */
export function vladAssignRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, c: ArrayLike<number>, sh: VladRefShape) {
  const { B, S, K, D } = sh;
  const F = B * S;
  const a = new Float64Array(F * K);
  const r = new Float64Array(F * K * D);
  for (let f = 0; f < F; f++) {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[f * D + j] ** 2;
    const n = Math.max(Math.sqrt(ss), EPS);
    const xh = new Float64Array(D);
    for (let j = 0; j < D; j++) xh[j] = x[f * D + j] / n;
    const l = new Float64Array(K);
    let m = -Infinity;
    for (let k = 0; k < K; k++) {
      l[k] = bias[k];
      for (let j = 0; j < D; j++) l[k] += w[k * D + j] * xh[j];
      m = Math.max(m, l[k]);
    }
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(l[k] - m);
    for (let k = 0; k < K; k++) {
      a[f * K + k] = Math.exp(l[k] - m) / s;
      for (let j = 0; j < D; j++) r[(f * K + k) * D + j] = a[f * K + k] * (xh[j] - c[k * D + j]);
    }
  }
  return { a, r };
}

/** Gradients of Σ dr·r + Σ da·a w.r.t. x (F, D), w (K, D), bias (K), c (K, D). */
export function vladAssignBackwardRef(
  x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number>, c: ArrayLike<number>,
  dr: ArrayLike<number>, da: ArrayLike<number>, sh: VladRefShape,
) {
  const { B, S, K, D } = sh;
  const F = B * S;
  const { a } = vladAssignRef(x, w, bias, c, sh);
  const dx = new Float64Array(F * D);
  const dw = new Float64Array(K * D);
  const db = new Float64Array(K);
  const dc = new Float64Array(K * D);
  for (let f = 0; f < F; f++) {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[f * D + j] ** 2;
    const norm = Math.sqrt(ss);
    const n = Math.max(norm, EPS);
    const xh = new Float64Array(D);
    for (let j = 0; j < D; j++) xh[j] = x[f * D + j] / n;
    // through r_kj = a_k (x̂_j − c_kj): to a_k, x̂_j and c_kj
    const ga = new Float64Array(K);
    const dxh = new Float64Array(D);
    for (let k = 0; k < K; k++) {
      ga[k] = da[f * K + k];
      for (let j = 0; j < D; j++) {
        const g = dr[(f * K + k) * D + j];
        ga[k] += g * (xh[j] - c[k * D + j]);
        dxh[j] += a[f * K + k] * g;
        dc[k * D + j] -= a[f * K + k] * g;
      }
    }
    // softmax over K
    let ag = 0;
    for (let k = 0; k < K; k++) ag += a[f * K + k] * ga[k];
    for (let k = 0; k < K; k++) {
      const dl = a[f * K + k] * (ga[k] - ag);
      db[k] += dl;
      for (let j = 0; j < D; j++) {
        dw[k * D + j] += dl * xh[j];
        dxh[j] += dl * w[k * D + j];
      }
    }
    // x̂ = x / max(‖x‖, ε)
    let dot = 0;
    for (let j = 0; j < D; j++) dot += xh[j] * dxh[j];
    for (let j = 0; j < D; j++) dx[f * D + j] = norm > EPS ? (dxh[j] - xh[j] * dot) / n : dxh[j] / EPS;
  }
  return { dx, dw, db, dc };
}

/** y (B, K·D) = global-L2(intra-L2(Σ_i β_i r_i)); beta null: β ≡ 1 (NetVLAD). */
export function vladAggregateRef(r: ArrayLike<number>, beta: ArrayLike<number> | null, sh: VladRefShape): Float64Array {
  const { B, S, K, D } = sh;
  const KD = K * D;
  const y = new Float64Array(B * KD);
  for (let b = 0; b < B; b++) {
    for (let q = 0; q < KD; q++) {
      let v = 0;
      for (let i = 0; i < S; i++) v += (beta ? beta[b * S + i] : 1) * r[(b * S + i) * KD + q];
      y[b * KD + q] = v;
    }
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let j = 0; j < D; j++) ss += y[b * KD + k * D + j] ** 2;
      const n = Math.max(Math.sqrt(ss), EPS);
      for (let j = 0; j < D; j++) y[b * KD + k * D + j] /= n;
    }
    let ss = 0;
    for (let q = 0; q < KD; q++) ss += y[b * KD + q] ** 2;
    const g = Math.max(Math.sqrt(ss), EPS);
    for (let q = 0; q < KD; q++) y[b * KD + q] /= g;
  }
  return y;
}

/** Backward of x → x / max(‖x‖, ε) for one vector, given dy. */
function normalizeBackward(xv: Float64Array, dyv: Float64Array): Float64Array {
  let ss = 0;
  for (const v of xv) ss += v * v;
  const norm = Math.sqrt(ss);
  const n = Math.max(norm, EPS);
  const out = new Float64Array(xv.length);
  if (!(norm > EPS)) {
    for (let j = 0; j < xv.length; j++) out[j] = dyv[j] / EPS;
    return out;
  }
  let dot = 0;
  for (let j = 0; j < xv.length; j++) dot += (xv[j] / n) * dyv[j];
  for (let j = 0; j < xv.length; j++) out[j] = (dyv[j] - (xv[j] / n) * dot) / n;
  return out;
}

/** dr (B·S, K·D) and dbeta (B·S) of Σ dy·y. */
export function vladAggregateBackwardRef(r: ArrayLike<number>, beta: ArrayLike<number> | null, dy: ArrayLike<number>, sh: VladRefShape) {
  const { B, S, K, D } = sh;
  const KD = K * D;
  const dr = new Float64Array(B * S * KD);
  const dbeta = new Float64Array(B * S);
  for (let b = 0; b < B; b++) {
    const v = new Float64Array(KD);
    for (let q = 0; q < KD; q++) for (let i = 0; i < S; i++) v[q] += (beta ? beta[b * S + i] : 1) * r[(b * S + i) * KD + q];
    const u = new Float64Array(KD);
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let j = 0; j < D; j++) ss += v[k * D + j] ** 2;
      const n = Math.max(Math.sqrt(ss), EPS);
      for (let j = 0; j < D; j++) u[k * D + j] = v[k * D + j] / n;
    }
    const du = normalizeBackward(u, Float64Array.from({ length: KD }, (_, q) => dy[b * KD + q]));
    const dv = new Float64Array(KD);
    for (let k = 0; k < K; k++) {
      const g = normalizeBackward(v.slice(k * D, (k + 1) * D), du.slice(k * D, (k + 1) * D));
      dv.set(g, k * D);
    }
    for (let i = 0; i < S; i++) {
      const f = b * S + i;
      let t = 0;
      for (let q = 0; q < KD; q++) {
        dr[f * KD + q] = (beta ? beta[f] : 1) * dv[q];
        t += r[f * KD + q] * dv[q];
      }
      dbeta[f] = t;
    }
  }
  return { dr, dbeta };
}
