// The `reproduce` report: results.json → report.md laid out like the paper's Table 2 (frame
// level: k-NN, linear probe, AUC, scratch vs DINO-pretrained) and Table 3 (video level: each
// aggregator's AUC, accuracy, F1), plus the plots (ROC curves per class, confusion matrices,
// training curves) as images. Platform-neutral: returns text and Image8s; the CLI writes them.
import { lineChart, heatmap, MUTED, type Series } from '../plot/index.js';
import { meanStd, rocCurvesOvr, confusionMatrix } from '../eval/metrics.js';
import type { Image8 } from '../data/png.js';

export const CLASS_NAMES = ['LUS 0', 'LUS 1-2', 'LUS 3'];

/** One fold's test predictions (labels and (N, C) probabilities). */
export interface FoldPredictions {
  fold: number;
  labels: number[];
  probs: number[][];
  accuracy: number;
  weightedF1: number;
  aucMacro: number;
  recall: number[];
}

export interface FrameRow {
  backbone: 'scratch' | 'dino' | 'dino-finetuned';
  folds: (FoldPredictions & { knn: number })[];
}

export interface VideoRow {
  aggregator: string;
  folds: (FoldPredictions & { bestEpoch: number; trainLoss: number[]; valAccuracy: (number | null)[] })[];
}

export interface ReproduceResults {
  format: 'medivlad-reproduce';
  command: string;
  preset: string;
  data: string;
  adapter: string;
  date: string;
  clips: { total: number; labelled: number; perClass: number[]; frames: number; size: number };
  seconds: Record<string, number>;
  dino: { steps: number; batch: number; knnRandomInit: number | null; knnFinal: number | null; knnPerEpoch: (number | null)[]; loss: number[]; config: unknown };
  frame: FrameRow[];
  /** How the frame rows were trained and tested (optional: older results files lack it). */
  frameSetup?: { testFramesPerClip: number; finetuneFramesPerClip: number; probe: FrameSetupConfig; finetune: FrameSetupConfig };
  video: VideoRow[];
}

/** The parts of a FrameConfig the report states. */
export interface FrameSetupConfig { epochs: number; batch: number; lr: number; cropScale: [number, number] }

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : 'n/a');
function pm(values: number[], scale = 100, digits = 1): string {
  const ok = values.filter(Number.isFinite);
  if (ok.length === 0) return 'n/a';
  const { mean, std } = meanStd(ok);
  const s = Number.isFinite(std) ? ` ± ${(scale * std).toFixed(digits)}` : '';
  return `${(scale * mean).toFixed(digits)}${s}`;
}

const AGG_LABEL: Record<string, string> = {
  dualvlad: 'DualVLAD (MeDiVLAD)',
  netvlad: 'NetVLAD',
  lstm: 'Bi-LSTM',
  max: 'max-score',
};

/** Pooled test predictions of all folds (each labelled clip is tested in exactly one fold). */
function pooled(folds: FoldPredictions[]): { labels: number[]; probs: Float32Array; C: number } {
  const labels = folds.flatMap((f) => f.labels);
  const rows = folds.flatMap((f) => f.probs);
  const C = rows[0]?.length ?? 3;
  return { labels, probs: Float32Array.from(rows.flat()), C };
}

export function reportMarkdown(r: ReproduceResults): string {
  const L: string[] = [];
  L.push(`# MeDiVLAD reproduction: preset \`${r.preset}\`, data \`${r.data}\``);
  L.push('');
  L.push(`- Command: \`${r.command}\``);
  L.push(`- Adapter: ${r.adapter}`);
  L.push(`- Date: ${r.date}; wall time ${Object.entries(r.seconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')}`);
  L.push(`- Clips: ${r.clips.total} (${r.clips.labelled} labelled; per class ${r.clips.perClass.join(' / ')}), up to ${r.clips.frames} frames each at ${r.clips.size} px`);
  L.push('- Protocol: 2 patient-disjoint folds; each fold is the test set once; model selection on patients held out of the training fold; mean ± sample std over the 2 folds.');
  L.push('');
  L.push('## DINO pretraining (stage 1)');
  L.push('');
  L.push(`${r.dino.steps} steps of batch ${r.dino.batch}. Teacher k-NN top-1 (k = 20, T = 0.07, the pretrain monitor's split): ` +
    `random init **${r.dino.knnRandomInit === null ? 'n/a' : pct(r.dino.knnRandomInit) + '%'}** → after pretraining **${r.dino.knnFinal === null ? 'n/a' : pct(r.dino.knnFinal) + '%'}** ` +
    `(after epoch ${r.dino.knnPerEpoch.flatMap((k, e) => (k === null ? [] : [`${e + 1}: ${pct(k)}`])).join(', ')}). Loss curve: ![DINO loss](dino-loss.png)`);
  L.push('');
  L.push('## Table 2: frame level (stage 2: linear probe on the frozen CLS feature; last row: fine-tuned)');
  L.push('');
  L.push('| backbone | k-NN top-1 (k = 20) % | accuracy % | macro AUC | weighted F1 % |');
  L.push('|---|---|---|---|---|');
  for (const row of r.frame) {
    const name = { scratch: 'scratch (same network at random init), linear probe', dino: 'DINO-pretrained, linear probe', 'dino-finetuned': 'DINO-pretrained, fine-tuned (feeds the video stage)' }[row.backbone];
    L.push(`| ${name} | ${pm(row.folds.map((f) => f.knn))} | ${pm(row.folds.map((f) => f.accuracy))} | ${pm(row.folds.map((f) => f.aucMacro), 1, 3)} | ${pm(row.folds.map((f) => f.weightedF1))} |`);
  }
  if (r.frameSetup) {
    const { probe, finetune } = r.frameSetup;
    L.push('');
    L.push(`Every row is validated and tested on ${r.frameSetup.testFramesPerClip} frames per clip. Probes: ${probe.epochs} epochs of batch ${probe.batch} on cached features, AdamW lr ${probe.lr}. ` +
      `Fine-tuning: ${finetune.epochs} epochs of batch ${finetune.batch} on ${r.frameSetup.finetuneFramesPerClip} frames per training clip, AdamW lr ${finetune.lr} cosine, hflip + RandomResizedCrop(${finetune.cropScale[0]}, ${finetune.cropScale[1]}).`);
  }
  L.push('');
  L.push('## Table 3: video level (stage 3, the fine-tuned DINO frame backbone, frozen)');
  L.push('');
  L.push('| aggregator | macro AUC | accuracy % | weighted F1 % | recall per class % (pooled) |');
  L.push('|---|---|---|---|---|');
  for (const row of r.video) {
    const p = pooled(row.folds);
    const cm = confusionMatrix(p.labels, argmax(p.probs, p.C), p.C);
    const rec = cm.map((rw, c) => pct(rw[c] / Math.max(1, rw.reduce((a, b) => a + b, 0)))).join(' / ');
    L.push(`| ${AGG_LABEL[row.aggregator] ?? row.aggregator} | ${pm(row.folds.map((f) => f.aucMacro), 1, 3)} | ${pm(row.folds.map((f) => f.accuracy))} | ${pm(row.folds.map((f) => f.weightedF1))} | ${rec} |`);
  }
  L.push('');
  const majority = (r.video[0]?.folds ?? []).map((f) => {
    const counts = new Map<number, number>();
    for (const y of f.labels) counts.set(y, (counts.get(y) ?? 0) + 1);
    return f.labels.length ? Math.max(...counts.values()) / f.labels.length : NaN;
  });
  L.push(`Chance accuracy is the majority share of the test clips (${majority.map((m, i) => `fold ${i}: ${pct(m)}%`).join(', ')}); AUC 0.5 is chance. Per fold:`);
  L.push('');
  L.push('| aggregator | fold | accuracy % | weighted F1 % | macro AUC | best epoch |');
  L.push('|---|---|---|---|---|---|');
  for (const row of r.video) for (const f of row.folds) L.push(`| ${row.aggregator} | ${f.fold} | ${pct(f.accuracy)} | ${pct(f.weightedF1)} | ${f.aucMacro.toFixed(3)} | ${f.bestEpoch} |`);
  L.push('');
  L.push('## Plots');
  L.push('');
  for (const row of r.video) {
    L.push(`- ${AGG_LABEL[row.aggregator] ?? row.aggregator}: ![ROC ${row.aggregator}](roc-${row.aggregator}.png) ![confusion ${row.aggregator}](confusion-${row.aggregator}.png)`);
  }
  L.push('- Video training curves (fold 0): ![video curves](video-curves.png)');
  L.push('');
  L.push('ROC curves and confusion matrices pool the test predictions of both folds.');
  L.push('');
  return `${L.join('\n')}\n`;
}

function argmax(probs: Float32Array, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < probs.length / C; i++) {
    let b = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c] > probs[i * C + b]) b = c;
    out.push(b);
  }
  return out;
}

export function rocPlot(row: VideoRow): Image8 {
  const p = pooled(row.folds);
  const curves = rocCurvesOvr(p.labels, p.probs, p.C);
  const series: Series[] = [{ name: 'chance', x: [0, 1], y: [0, 1], dash: [5, 4], color: MUTED }];
  curves.forEach((c, k) => {
    if (c) series.push({ name: `${CLASS_NAMES[k] ?? `class ${k}`}`, x: c.fpr, y: c.tpr });
  });
  return lineChart({
    title: `ROC, ${AGG_LABEL[row.aggregator] ?? row.aggregator} (one vs rest, both folds)`,
    xLabel: 'false positive rate', yLabel: 'true positive rate', xRange: [0, 1], yRange: [0, 1], legend: 'bottom-right', series,
    width: 560, height: 440,
  });
}

export function confusionPlot(row: VideoRow): Image8 {
  const p = pooled(row.folds);
  const cm = confusionMatrix(p.labels, argmax(p.probs, p.C), p.C);
  return heatmap({
    matrix: cm, rowLabels: CLASS_NAMES.slice(0, p.C), colLabels: CLASS_NAMES.slice(0, p.C),
    title: `${AGG_LABEL[row.aggregator] ?? row.aggregator}, both folds`,
  });
}

export function dinoLossPlot(loss: number[]): Image8 {
  return lineChart({ title: 'DINO loss', xLabel: 'step', yLabel: 'loss', series: [{ name: 'loss', y: loss }], width: 560, height: 360 });
}

export function videoCurvesPlot(rows: VideoRow[]): Image8 {
  const series: Series[] = [];
  for (const row of rows) {
    const f = row.folds[0];
    if (!f || f.trainLoss.length === 0) continue;
    series.push({ name: `${row.aggregator} loss`, y: f.trainLoss });
  }
  return lineChart({ title: 'video training loss per epoch (fold 0)', xLabel: 'epoch', yLabel: 'cross-entropy', series, legend: 'top-right', width: 560, height: 360 });
}
