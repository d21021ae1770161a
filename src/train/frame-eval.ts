// Scoring the linear head on host features, in float64 (evaluation sets are small: at most a
// few hundred frames of F <= 1536 values; the GPU is busy with the backbone meanwhile):
//   z = W f + b  (C logits),  p = softmax(z),  prediction = argmax z (first maximum),
//   loss = mean over frames of -log p[y]  (F.cross_entropy on the logits; not MeDiVLAD's
//   double softmax, SPEC §6, which only changed its logged number).
//
// TODO(lead): accuracy here is a stop-gap; wire weightedF1 / macroAuc / confusion from
// src/eval/metrics.ts into FrameResult once that file lands (the per-frame probabilities and
// labels are already in the result and in frame-metrics.json).
//
// Platform-neutral: no Node built-ins.

export interface HeadScores {
  /** (N, C) logits and softmax probabilities, row-major. */
  logits: Float64Array;
  probs: Float64Array;
  predictions: Int32Array;
}

/** Scores of N feature rows (N, F) under the head W (C, F), b (C). */
export function headScores(features: Float32Array, F: number, w: Float32Array, b: Float32Array): HeadScores {
  const C = b.length;
  if (w.length !== C * F) throw new Error(`headScores: weight of ${w.length} values is not (${C}, ${F})`);
  if (features.length % F !== 0) throw new Error(`headScores: ${features.length} feature values are not rows of ${F}`);
  const N = features.length / F;
  const logits = new Float64Array(N * C);
  const probs = new Float64Array(N * C);
  const predictions = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let c = 0; c < C; c++) {
      let z = b[c];
      for (let k = 0; k < F; k++) z += w[c * F + k] * features[i * F + k];
      logits[i * C + c] = z;
      if (z > logits[i * C + best]) best = c;
    }
    predictions[i] = best;
    // softmax with the row max subtracted (exp overflows past ~709 in float64)
    const m = logits[i * C + best];
    let s = 0;
    for (let c = 0; c < C; c++) s += (probs[i * C + c] = Math.exp(logits[i * C + c] - m));
    for (let c = 0; c < C; c++) probs[i * C + c] /= s;
  }
  return { logits, probs, predictions };
}

/** Share of predictions equal to the labels (NaN for no frames). */
export function accuracy(predictions: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predictions.length !== labels.length) throw new Error(`accuracy: ${predictions.length} predictions for ${labels.length} labels`);
  let ok = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) ok++;
  return labels.length ? ok / labels.length : NaN;
}

/** Mean cross-entropy -log p[y] from logits (log-sum-exp form, exact for large logits). */
export function meanCrossEntropy(logits: Float64Array, labels: ArrayLike<number>, C: number): number {
  const N = labels.length;
  if (logits.length !== N * C) throw new Error(`meanCrossEntropy: ${logits.length} logits for ${N} rows of ${C}`);
  let total = 0;
  for (let i = 0; i < N; i++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[i * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[i * C + c] - m);
    total += m + Math.log(s) - logits[i * C + labels[i]];
  }
  return N ? total / N : NaN;
}

/** The last `D` columns of (N, F) rows: the final-norm CLS inside a last-n concatenation. */
export function lastColumns(features: Float32Array, F: number, D: number): Float32Array {
  if (D === F) return features;
  const N = features.length / F;
  const out = new Float32Array(N * D);
  for (let i = 0; i < N; i++) out.set(features.subarray(i * F + F - D, (i + 1) * F), i * D);
  return out;
}
