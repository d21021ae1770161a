// Weighted k-NN classification on frozen features (DINO's eval_knn, SPEC §6): cosine
// similarity of L2-normalised features, the top-k training neighbours vote with weight
// exp(sim / T), T = 0.07, and the class with the largest summed weight wins.
// k = 20 is what we report; sweeping k on the evaluation set is optimistic (SPEC §11).

export interface KnnResult {
  /** Top-1 accuracy on the test features. */
  accuracy: number;
  predictions: Int32Array;
  k: number;
}

function normalizeRows(f: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += f[i * d + j] ** 2;
    const r = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) out[i * d + j] = f[i * d + j] * r;
  }
  return out;
}

/**
 * train (nTrain, D) with labels, test (nTest, D) with labels; k is capped at nTrain.
 * Ties between classes go to the lower class index (argmax's first maximum).
 */
export function knnClassify(
  train: Float32Array, trainLabels: ArrayLike<number>, test: Float32Array, testLabels: ArrayLike<number>,
  d: number, opts: { k?: number; T?: number; classes?: number } = {},
): KnnResult {
  const nTrain = trainLabels.length;
  const nTest = testLabels.length;
  if (train.length !== nTrain * d || test.length !== nTest * d) throw new Error(`knn: features do not match ${nTrain}/${nTest} rows of ${d}`);
  if (nTrain === 0) throw new Error('knn: no training features');
  const k = Math.min(opts.k ?? 20, nTrain);
  const T = opts.T ?? 0.07;
  const C = opts.classes ?? Math.max(...Array.from(trainLabels), ...Array.from(testLabels)) + 1;
  const a = normalizeRows(train, nTrain, d);
  const b = normalizeRows(test, nTest, d);
  const predictions = new Int32Array(nTest);
  let correct = 0;
  const sims = new Float64Array(nTrain);
  const order = new Int32Array(nTrain);
  for (let i = 0; i < nTest; i++) {
    for (let j = 0; j < nTrain; j++) {
      let s = 0;
      for (let q = 0; q < d; q++) s += b[i * d + q] * a[j * d + q];
      sims[j] = s;
      order[j] = j;
    }
    order.sort((x, y) => sims[y] - sims[x] || x - y);
    const votes = new Float64Array(C);
    for (let r = 0; r < k; r++) votes[trainLabels[order[r]]] += Math.exp(sims[order[r]] / T);
    let best = 0;
    for (let c = 1; c < C; c++) if (votes[c] > votes[best]) best = c;
    predictions[i] = best;
    if (best === testLabels[i]) correct++;
  }
  return { accuracy: nTest ? correct / nTest : NaN, predictions, k };
}
