// float64 references for shaders/dino-loss.wgsl, written the naive way: every (teacher, student)
// pair forms its own softmax and log-softmax, as DINO's DINOLoss.forward does.

export interface DinoRefShape {
  crops: number; // V student crops (2 global + locals)
  b: number; // batch B
  k: number; // logits per row K
  tauS: number;
  tauT: number;
  momentum: number;
}

function softmaxRow(x: ArrayLike<number>, base: number, k: number, shift: ArrayLike<number> | null, invT: number): Float64Array {
  const y = new Float64Array(k);
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, (x[base + j] - (shift ? shift[j] : 0)) * invT);
  let s = 0;
  for (let j = 0; j < k; j++) {
    y[j] = Math.exp((x[base + j] - (shift ? shift[j] : 0)) * invT - m);
    s += y[j];
  }
  for (let j = 0; j < k; j++) y[j] /= s;
  return y;
}

function logSoftmaxRow(x: ArrayLike<number>, base: number, k: number, invT: number): Float64Array {
  const y = new Float64Array(k);
  let m = -Infinity;
  for (let j = 0; j < k; j++) m = Math.max(m, x[base + j] * invT);
  let s = 0;
  for (let j = 0; j < k; j++) s += Math.exp(x[base + j] * invT - m);
  const lse = m + Math.log(s);
  for (let j = 0; j < k; j++) y[j] = x[base + j] * invT - lse;
  return y;
}

/** L = mean over pairs (t, v ≠ t) of mean over b of −Σ_k P_t log P_s. student (V·B, K), teacher (2·B, K). */
export function dinoLossRef(student: ArrayLike<number>, teacher: ArrayLike<number>, center: ArrayLike<number>, sh: DinoRefShape): number {
  const { crops: V, b: B, k: K } = sh;
  let total = 0;
  let pairs = 0;
  for (let t = 0; t < 2; t++) {
    for (let v = 0; v < V; v++) {
      if (v === t) continue;
      let term = 0;
      for (let bi = 0; bi < B; bi++) {
        const pt = softmaxRow(teacher, (t * B + bi) * K, K, center, 1 / sh.tauT);
        const ls = logSoftmaxRow(student, (v * B + bi) * K, K, 1 / sh.tauS);
        let ce = 0;
        for (let j = 0; j < K; j++) ce -= pt[j] * ls[j];
        term += ce;
      }
      total += term / B;
      pairs++;
    }
  }
  return total / pairs;
}

/** dL/dS = (w_v softmax(S_v / τs) − Σ_(t≠v) P_t) / (τs · B · n_pairs), (V·B, K). */
export function dinoLossBackwardRef(student: ArrayLike<number>, teacher: ArrayLike<number>, center: ArrayLike<number>, sh: DinoRefShape): Float64Array {
  const { crops: V, b: B, k: K } = sh;
  const nPairs = 2 * V - 2;
  const g = new Float64Array(V * B * K);
  for (let v = 0; v < V; v++) {
    for (let bi = 0; bi < B; bi++) {
      const row = v * B + bi;
      const q = softmaxRow(student, row * K, K, null, 1 / sh.tauS);
      for (let t = 0; t < 2; t++) {
        if (t === v) continue;
        const pt = softmaxRow(teacher, (t * B + bi) * K, K, center, 1 / sh.tauT);
        for (let j = 0; j < K; j++) g[row * K + j] += (q[j] - pt[j]) / (sh.tauS * B * nPairs);
      }
    }
  }
  return g;
}

/** c' = m c + (1 − m) · mean over all 2·B teacher rows (not the per-slot mean of SPEC §11). */
export function dinoCenterRef(teacher: ArrayLike<number>, center: ArrayLike<number>, sh: DinoRefShape): Float64Array {
  const { b: B, k: K } = sh;
  const c = new Float64Array(K);
  for (let j = 0; j < K; j++) {
    let s = 0;
    for (let r = 0; r < 2 * B; r++) s += teacher[r * K + j];
    c[j] = sh.momentum * center[j] + (1 - sh.momentum) * (s / (2 * B));
  }
  return c;
}
