// Evaluation metrics (src/eval/metrics.ts). /usr/bin/python3 has no sklearn here, so the checks
// are hand-derived cases (with the derivation beside them, ties included) and independent
// float64 references written below with other formulas: the AUC as the fraction of
// (positive, negative) pairs ordered right (ties 1/2) and as the trapezoidal area under the ROC
// points; F1 as the harmonic mean of precision and recall.
import { describe, it, expect } from 'vitest';
import { mulberry32 } from './helpers/random.js';
import {
  accuracy, confusionMatrix, perClassRecall, weightedF1, argmaxRows, binaryRocAuc, rocAucOvr, rocCurve,
  rocCurvesOvr, meanStd, classificationReport,
} from '../src/eval/metrics.js';

/** AUC = P(s_pos > s_neg) + ½ P(s_pos = s_neg) over all pairs. */
function pairwiseAuc(pos: boolean[], s: number[]): number {
  let num = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    if (!pos[i]) continue;
    for (let j = 0; j < s.length; j++) {
      if (pos[j]) continue;
      pairs++;
      num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0;
    }
  }
  return num / pairs;
}

function trapezoid(x: number[], y: number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return a;
}

/** Weighted F1 via precision and recall: F1 = 2PR / (P + R), 0 when P + R = 0 or undefined. */
function f1Reference(yt: number[], yp: number[], C: number): number {
  let total = 0;
  for (let c = 0; c < C; c++) {
    const tp = yt.filter((y, i) => y === c && yp[i] === c).length;
    const support = yt.filter((y) => y === c).length;
    const predicted = yp.filter((y) => y === c).length;
    const p = predicted ? tp / predicted : 0;
    const r = support ? tp / support : 0;
    total += support * (p + r > 0 ? (2 * p * r) / (p + r) : 0);
  }
  return total / yt.length;
}

/** Seeded labels and probability rows quantised to tenths, so that scores tie often. */
function randomCase(n: number, C: number, seed: number): { y: number[]; p: number[] } {
  const r = mulberry32(seed);
  const y = Array.from({ length: n }, () => Math.floor(r() * C));
  const p: number[] = [];
  for (let i = 0; i < n; i++) {
    const raw = Array.from({ length: C }, (_, c) => Math.round(10 * (r() + (c === y[i] ? 0.4 : 0))) / 10 + 0.05);
    const s = raw.reduce((a, b) => a + b, 0);
    p.push(...raw.map((v) => v / s));
  }
  return { y, p };
}

describe('label metrics', () => {
  // sklearn's f1_score documentation example: per class (TP, FP, FN) = (2, 1, 0), (0, 2, 2),
  // (0, 1, 2) → F1 = 4/5, 0, 0; weighted by supports (2, 2, 2): 1.6 / 6 = 0.2666…
  const yt = [0, 1, 2, 0, 1, 2];
  const yp = [0, 2, 1, 0, 0, 1];

  it('accuracy, confusion matrix (rows = true), recall and weighted F1 on a hand case', () => {
    expect(accuracy(yt, yp)).toBeCloseTo(2 / 6, 15);
    expect(confusionMatrix(yt, yp, 3)).toEqual([
      [2, 0, 0],
      [1, 0, 1],
      [0, 2, 0],
    ]);
    expect(perClassRecall(yt, yp, 3)).toEqual([1, 0, 0]);
    expect(weightedF1(yt, yp, 3)).toBeCloseTo(1.6 / 6, 15);
    // A class never seen (3 of 4): recall NaN; F1 weight 0. Class 1: TP 1, FP 0, FN 1 → F1 2/3.
    const y2 = [0, 1, 1, 2];
    const p2 = [0, 1, 3, 2];
    expect(perClassRecall(y2, p2, 4)).toEqual([1, 0.5, 1, NaN]);
    expect(weightedF1(y2, p2, 4)).toBeCloseTo((1 + 2 * (2 / 3) + 1) / 4, 15);
  });

  it('weighted F1 equals the precision/recall form on random labels (odd sizes, a rare class)', () => {
    for (const [n, C, seed] of [[97, 3, 1], [31, 5, 2], [7, 4, 3]] as const) {
      const r = mulberry32(seed);
      const y = Array.from({ length: n }, () => Math.min(C - 1, Math.floor(r() * (C - 0.5))));
      const p = y.map((v) => (r() < 0.6 ? v : Math.floor(r() * C)));
      expect(weightedF1(y, p, C)).toBeCloseTo(f1Reference(y, p, C), 14);
      expect(accuracy(y, p)).toBeCloseTo(y.filter((v, i) => v === p[i]).length / n, 15);
    }
  });

  it('argmax takes the first of tied maxima', () => {
    expect(Array.from(argmaxRows([0.2, 0.4, 0.4, 0.5, 0.1, 0.4], 3))).toEqual([1, 0]);
  });

  it('bad input is an error naming it', () => {
    expect(() => accuracy([0, 1], [0])).toThrow(/2 true labels but 1 predictions/);
    expect(() => confusionMatrix([0, 3], [0, 1], 3)).toThrow(/label 3 at index 1 is not a class in \[0, 3\)/);
    expect(() => weightedF1([], [], 3)).toThrow(/no samples/);
    expect(() => rocAucOvr([0, 1], [0.5, 0.5, NaN, 1], 2)).toThrow(/sample 1, class 0 is NaN/);
    expect(() => rocAucOvr([0, 1], [0.5, 0.5, 1], 2)).toThrow(/3 values, expected 2 samples × 2 classes/);
  });
});

describe('ROC-AUC', () => {
  it('binary hand cases: sklearn\'s documentation example and ties counted ½', () => {
    // Pairs (pos, neg): (0.35, 0.1) ✓, (0.35, 0.4) ✗, (0.8, ·) ✓✓ → 3/4.
    expect(binaryRocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
    // (0.5 vs 0.5) ½, (0.5 vs 0.1) 1, (0.9 vs ·) 1 + 1 → 3.5 / 4.
    expect(binaryRocAuc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.1])).toBe(0.875);
    // All scores equal: every pair is a tie → ½.
    expect(binaryRocAuc([1, 0, 0, 1, 0], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
    expect(binaryRocAuc([true, true], [0.1, 0.2])).toBeNaN();
  });

  it('one-vs-rest macro on a 3-class hand case with ties; a class with no positive is NaN', () => {
    // (p0, p1, p2) per sample and its label:
    const y = [0, 1, 2, 2, 1];
    const p = [0.6, 0.3, 0.1, 0.2, 0.5, 0.3, 0.2, 0.3, 0.5, 0.3, 0.3, 0.4, 0.6, 0.2, 0.2];
    // class 0: positive 0.6 vs 0.2, 0.2, 0.3, 0.6 (tie) → 3.5/4; class 1: 0.5 beats 0.3 ×3,
    // 0.2 beats none → 3/6; class 2: 0.5, 0.4 beat 0.1, 0.3, 0.2 → 6/6.
    const r = rocAucOvr(y, p, 3);
    expect(r.perClass).toEqual([0.875, 0.5, 1]);
    expect(r.macro).toBeCloseTo((0.875 + 0.5 + 1) / 3, 15);
    expect(r.definedClasses).toBe(3);
    // Without class 2 among the labels: its AUC is undefined and the mean is over 2 classes.
    const r2 = rocAucOvr([0, 1, 0, 1], [0.7, 0.2, 0.1, 0.4, 0.4, 0.2, 0.6, 0.3, 0.1, 0.7, 0.2, 0.1], 3);
    expect(r2.perClass[2]).toBeNaN();
    expect(r2.definedClasses).toBe(2);
    // class 0: 0.7, 0.6 vs 0.4, 0.7 → 1 + ½ + 1 + 0 = 2.5/4; class 1: 0.4, 0.2 vs 0.2, 0.3 → 1 + 1 + ½ + 0 = 2.5/4.
    expect(r2.perClass.slice(0, 2)).toEqual([0.625, 0.625]);
    expect(r2.macro).toBe(0.625);
    expect(rocAucOvr([1, 1], [0.2, 0.8, 0.5, 0.5], 2)).toEqual({ perClass: [NaN, NaN], macro: NaN, definedClasses: 0 });
  });

  it('equals the pairwise count and the area under its own ROC points on random tied scores', () => {
    for (const [n, C, seed] of [[97, 3, 11], [23, 5, 12], [8, 2, 13]] as const) {
      const { y, p } = randomCase(n, C, seed);
      const r = rocAucOvr(y, p, C);
      const curves = rocCurvesOvr(y, p, C, { dropIntermediate: false });
      const dropped = rocCurvesOvr(y, p, C);
      for (let c = 0; c < C; c++) {
        const pos = y.map((v) => v === c);
        const s = y.map((_, i) => p[i * C + c]);
        if (!pos.some(Boolean) || pos.every(Boolean)) {
          expect(r.perClass[c]).toBeNaN();
          expect(curves[c]).toBeNull();
          continue;
        }
        expect(r.perClass[c]).toBeCloseTo(pairwiseAuc(pos, s), 13);
        expect(trapezoid(curves[c]!.fpr, curves[c]!.tpr)).toBeCloseTo(r.perClass[c], 13);
        expect(trapezoid(dropped[c]!.fpr, dropped[c]!.tpr)).toBeCloseTo(r.perClass[c], 13);
        expect(dropped[c]!.fpr.length).toBeLessThanOrEqual(curves[c]!.fpr.length);
      }
      const defined = r.perClass.filter((v) => !Number.isNaN(v));
      expect(r.definedClasses).toBe(defined.length);
      expect(r.macro).toBeCloseTo(defined.reduce((a, b) => a + b, 0) / defined.length, 14);
    }
  });
});

describe('ROC curve points', () => {
  it('sklearn\'s documentation example: one point per distinct score, (0, 0) at +∞ first', () => {
    const c = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])!;
    expect(c.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(c.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
    expect(c.thresholds).toEqual([Infinity, 0.8, 0.4, 0.35, 0.1]);
  });

  it('tied scores make one point; dropIntermediate removes collinear points', () => {
    // Scores 0.9 (pos), 0.7 (pos, neg), 0.2 (neg): (tp, fp) after each distinct score:
    // (1, 0), (2, 1), (2, 2) → tpr 0, ½, 1, 1 and fpr 0, 0, ½, 1.
    const t = rocCurve([1, 1, 0, 0], [0.9, 0.7, 0.7, 0.2], { dropIntermediate: false })!;
    expect(t.tpr).toEqual([0, 0.5, 1, 1]);
    expect(t.fpr).toEqual([0, 0, 0.5, 1]);
    expect(t.thresholds).toEqual([Infinity, 0.9, 0.7, 0.2]);
    // Perfect separation: (tp, fp) = (1, 0), (2, 0), (2, 1), (2, 2). Second differences of
    // (fp; tp) at the inner points: (1; −1) keeps (2, 0), (0; 0) drops (2, 1); the ends stay.
    const full = rocCurve([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.2], { dropIntermediate: false })!;
    expect(full.fpr).toEqual([0, 0, 0, 0.5, 1]);
    const d = rocCurve([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.2])!;
    expect(d.fpr).toEqual([0, 0, 0, 1]);
    expect(d.tpr).toEqual([0, 0.5, 1, 1]);
    expect(d.thresholds).toEqual([Infinity, 0.9, 0.8, 0.2]);
    expect(rocCurve([0, 0], [0.1, 0.2])).toBeNull();
  });
});

describe('folds and the report', () => {
  it('mean ± sample std (n − 1)', () => {
    // The paper's two frame folds, 80.13 and 84.81: mean 82.47, std |a − b| / √2.
    const r = meanStd([80.13, 84.81]);
    expect(r.mean).toBeCloseTo(82.47, 12);
    expect(r.std).toBeCloseTo(4.68 / Math.SQRT2, 12);
    expect(meanStd([1, 2, 3, 4]).std).toBeCloseTo(Math.sqrt(5 / 3), 15);
    expect(meanStd([0.7])).toEqual({ mean: 0.7, std: NaN, n: 1 });
    expect(() => meanStd([])).toThrow(/no values/);
  });

  it('classificationReport combines the metrics on argmax predictions', () => {
    const { y, p } = randomCase(41, 3, 21);
    const rep = classificationReport(y, p, 3);
    const pred = Array.from(argmaxRows(p, 3));
    expect(Array.from(rep.predictions)).toEqual(pred);
    expect(rep.accuracy).toBe(accuracy(y, pred));
    expect(rep.weightedF1).toBeCloseTo(f1Reference(y, pred, 3), 14);
    expect(rep.confusion.flat().reduce((a, b) => a + b, 0)).toBe(41);
    expect(rep.auc).toEqual(rocAucOvr(y, p, 3));
    expect(rep.accuracy).toBeGreaterThan(0.5); // the labels' class got +0.4: the case is informative
  });
});
