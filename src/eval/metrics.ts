// Classification metrics of the MeDiVLAD evaluation (SPEC §6), plain float64 loops on host
// arrays (browser-safe). Conventions, as sklearn's:
//   labels           integer class indices in [0, C); probabilities row-major (N, C)
//   confusion        cm[t][p] = #samples of true class t predicted p (rows = true)
//   recall_c         TP_c / support_c (NaN for a class with no sample, where sklearn warns and says 0)
//   weighted F1      Σ_c support_c F1_c / N,  F1_c = 2TP / (2TP + FP + FN)  (0 when TP = 0, as
//                    sklearn's zero_division default)
//   ROC-AUC (OvR)    per class c: the binary AUC of "y = c" scored by p_c; macro = the mean over the
//                    classes where it is defined. sklearn's roc_auc_score(label_binarize(y), p) is
//                    that mean, and raises when a class has no positive or no negative sample; here
//                    that class is NaN and `definedClasses` says how many entered the mean.
//   binary AUC       Mann-Whitney: (Σ ranks of positives − P(P+1)/2) / (P·N) with average ranks
//                    over tied scores, i.e. a tied (positive, negative) pair counts 1/2. This is the
//                    trapezoidal area under sklearn's ROC curve, whose points jump over tied scores.
//   mean ± std       over folds, the sample std (n − 1), NaN for one fold.

function checkLabels(y: ArrayLike<number>, classes: number, what: string): void {
  if (!Number.isInteger(classes) || classes < 1) throw new Error(`${what}: classes ${classes} must be an integer >= 1`);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new Error(`${what}: label ${v} at index ${i} is not a class in [0, ${classes})`);
  }
}

function checkPair(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, what: string): void {
  if (yTrue.length !== yPred.length) throw new Error(`${what}: ${yTrue.length} true labels but ${yPred.length} predictions`);
  if (yTrue.length === 0) throw new Error(`${what}: no samples`);
}

function checkProbs(yTrue: ArrayLike<number>, probs: ArrayLike<number>, classes: number, what: string): void {
  if (yTrue.length === 0) throw new Error(`${what}: no samples`);
  if (probs.length !== yTrue.length * classes) {
    throw new Error(`${what}: probabilities hold ${probs.length} values, expected ${yTrue.length} samples × ${classes} classes`);
  }
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i])) throw new Error(`${what}: probability of sample ${Math.floor(i / classes)}, class ${i % classes} is ${probs[i]}`);
  }
  checkLabels(yTrue, classes, what);
}

/** Fraction of predictions equal to the true label. */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkPair(yTrue, yPred, 'accuracy');
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

/** C×C counts, rows = true class, columns = predicted class. */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: number): number[][] {
  checkPair(yTrue, yPred, 'confusionMatrix');
  checkLabels(yTrue, classes, 'confusionMatrix (true)');
  checkLabels(yPred, classes, 'confusionMatrix (predicted)');
  const cm = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < yTrue.length; i++) cm[yTrue[i]][yPred[i]]++;
  return cm;
}

/** Recall of each class: TP / support; NaN for a class with no true sample. */
export function perClassRecall(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: number): number[] {
  const cm = confusionMatrix(yTrue, yPred, classes);
  return cm.map((row, c) => {
    const support = row.reduce((s, v) => s + v, 0);
    return support === 0 ? NaN : row[c] / support;
  });
}

/** sklearn's f1_score(average='weighted'): per-class F1 weighted by the true-class support. */
export function weightedF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: number): number {
  const cm = confusionMatrix(yTrue, yPred, classes);
  let total = 0;
  for (let c = 0; c < classes; c++) {
    const tp = cm[c][c];
    let support = 0;
    let predicted = 0;
    for (let k = 0; k < classes; k++) {
      support += cm[c][k];
      predicted += cm[k][c];
    }
    const fn = support - tp;
    const fp = predicted - tp;
    const f1 = 2 * tp + fp + fn === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
    total += support * f1;
  }
  return total / yTrue.length;
}

/** Predicted class per row of (N, C) scores: the first maximum. */
export function argmaxRows(probs: ArrayLike<number>, classes: number): Int32Array {
  if (!Number.isInteger(classes) || classes < 1 || probs.length % classes !== 0) {
    throw new Error(`argmaxRows: ${probs.length} values are not rows of ${classes} classes`);
  }
  const n = probs.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c] > probs[i * classes + best]) best = c;
    out[i] = best;
  }
  return out;
}

function checkBinary(positive: ArrayLike<number | boolean>, scores: ArrayLike<number>, what: string): void {
  if (positive.length !== scores.length) throw new Error(`${what}: ${positive.length} labels but ${scores.length} scores`);
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new Error(`${what}: score ${i} is ${scores[i]}`);
  }
}

/** Binary ROC-AUC of scores for positive (truthy) vs negative samples; NaN without both kinds. */
export function binaryRocAuc(positive: ArrayLike<number | boolean>, scores: ArrayLike<number>): number {
  checkBinary(positive, scores, 'binaryRocAuc');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1; // average 1-based rank of the tied run i..j
    for (let k = i; k <= j; k++) {
      if (positive[order[k]]) {
        nPos++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export interface RocAuc {
  /** One-vs-rest AUC of each class (NaN where the class has no positive or no negative sample). */
  perClass: number[];
  /** Mean of the defined per-class AUCs (NaN when none is defined). */
  macro: number;
  /** How many classes entered the mean. */
  definedClasses: number;
}

/** Macro one-vs-rest ROC-AUC from (N, C) probabilities, as SPEC §6's roc_auc_score. */
export function rocAucOvr(yTrue: ArrayLike<number>, probs: ArrayLike<number>, classes: number): RocAuc {
  checkProbs(yTrue, probs, classes, 'rocAucOvr');
  const n = yTrue.length;
  const perClass: number[] = [];
  for (let c = 0; c < classes; c++) {
    const pos = Array.from({ length: n }, (_, i) => yTrue[i] === c);
    const sc = Array.from({ length: n }, (_, i) => probs[i * classes + c]);
    perClass.push(binaryRocAuc(pos, sc));
  }
  const defined = perClass.filter((v) => !Number.isNaN(v));
  const macro = defined.length ? defined.reduce((s, v) => s + v, 0) / defined.length : NaN;
  return { perClass, macro, definedClasses: defined.length };
}

export interface RocCurve {
  /** False / true positive rates, from (0, 0) to (1, 1). */
  fpr: number[];
  tpr: number[];
  /** Score threshold of each point (score >= threshold is called positive); the first is +Infinity. */
  thresholds: number[];
}

/**
 * sklearn's roc_curve: one point per distinct score (descending), then (0, 0) at threshold
 * +Infinity in front. dropIntermediate (sklearn's default) removes the points where neither the
 * false- nor the true-positive count changes slope (collinear points: the plot is the same).
 * null when the samples are all positive or all negative (a rate would divide by zero).
 */
export function rocCurve(positive: ArrayLike<number | boolean>, scores: ArrayLike<number>, opts: { dropIntermediate?: boolean } = {}): RocCurve | null {
  checkBinary(positive, scores, 'rocCurve');
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let tps: number[] = [];
  let fps: number[] = [];
  let thr: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; i++) {
    if (positive[order[i]]) tp++;
    else fp++;
    // A point at the end of each run of equal scores.
    if (i + 1 === n || scores[order[i + 1]] !== scores[order[i]]) {
      tps.push(tp);
      fps.push(fp);
      thr.push(scores[order[i]]);
    }
  }
  if (tp === 0 || fp === 0) return null;
  if ((opts.dropIntermediate ?? true) && tps.length > 2) {
    // Keep the ends and every point where the second difference of fps or tps is non-zero.
    const keep = tps.map((_, i) => i === 0 || i === tps.length - 1 || fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0);
    tps = tps.filter((_, i) => keep[i]);
    fps = fps.filter((_, i) => keep[i]);
    thr = thr.filter((_, i) => keep[i]);
  }
  return {
    fpr: [0, ...fps.map((v) => v / fp)],
    tpr: [0, ...tps.map((v) => v / tp)],
    thresholds: [Infinity, ...thr],
  };
}

/** One-vs-rest ROC curve of each class from (N, C) probabilities (null where undefined). */
export function rocCurvesOvr(yTrue: ArrayLike<number>, probs: ArrayLike<number>, classes: number, opts: { dropIntermediate?: boolean } = {}): (RocCurve | null)[] {
  checkProbs(yTrue, probs, classes, 'rocCurvesOvr');
  const n = yTrue.length;
  return Array.from({ length: classes }, (_, c) =>
    rocCurve(
      Array.from({ length: n }, (_, i) => yTrue[i] === c),
      Array.from({ length: n }, (_, i) => probs[i * classes + c]),
      opts,
    ),
  );
}

/** Mean and sample standard deviation (n − 1) of per-fold values; std is NaN for one value. */
export function meanStd(values: ArrayLike<number>): { mean: number; std: number; n: number } {
  const n = values.length;
  if (n === 0) throw new Error('meanStd: no values');
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  if (n < 2) return { mean, std: NaN, n };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

export interface ClassificationReport {
  n: number;
  accuracy: number;
  weightedF1: number;
  /** Rows = true class. */
  confusion: number[][];
  recall: number[];
  auc: RocAuc;
  predictions: Int32Array;
}

/** Every metric of SPEC §6 from (N, C) probabilities; predictions are the row argmax. */
export function classificationReport(yTrue: ArrayLike<number>, probs: ArrayLike<number>, classes: number): ClassificationReport {
  checkProbs(yTrue, probs, classes, 'classificationReport');
  const predictions = argmaxRows(probs, classes);
  return {
    n: yTrue.length,
    accuracy: accuracy(yTrue, predictions),
    weightedF1: weightedF1(yTrue, predictions, classes),
    confusion: confusionMatrix(yTrue, predictions, classes),
    recall: perClassRecall(yTrue, predictions, classes),
    auc: rocAucOvr(yTrue, probs, classes),
    predictions,
  };
}
