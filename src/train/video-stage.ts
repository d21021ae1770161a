// Stage 3 for one fold, shared by `train-video` and `reproduce`: split the clips by patient,
// extract the frozen frame backbone's features once (clean + augmented views of the training
// clips), then train and test each requested aggregator on those cached features.
import type { Clip } from '../data/clip.js';
import { patientFolds, validationSplit } from '../data/folds.js';
import { createVideoModel, type AggregatorKind, type VideoClassifier } from '../models/video-models.js';
import type { FrameModel } from './frame-model.js';
import type { Normalization } from './frame-data.js';
import { computeClipFeatures, subsetFeatures, type ClipFeatures } from './video-data.js';
import { VideoTrainer, type VideoConfig, type VideoResult } from './video.js';
import { MediVLAD, type VideoArch } from './video-checkpoint.js';

export interface VideoStageOptions {
  aggregators: readonly AggregatorKind[];
  /** Test fold (0 or 1) of the 2 patient-disjoint folds, built with foldSeed. */
  fold: number;
  foldSeed: number;
  valFraction: number;
  /** Feature views of the training clips: 1 clean + (views - 1) augmented (SPEC §3). */
  views: number;
  cfg: VideoConfig;
  clusters: number;
  norm: Normalization;
  progress?: (line: string) => void;
}

export interface VideoStageRun {
  kind: AggregatorKind;
  result: VideoResult;
  /** The trained model as a full MeDiVLAD (frame backbone + aggregator) for saving. */
  full: MediVLAD;
  trainer: VideoTrainer;
}

export interface VideoStageResult {
  clips: { train: number[]; val: number[]; test: number[] };
  runs: VideoStageRun[];
  featureSeconds: number;
  dispose(): void;
}

/** Train/validation/test clip indices of one fold (validation = patients held out of the training fold). */
export function videoSplits(clips: readonly Clip[], fold: number, foldSeed: number, valFraction: number): { train: number[]; val: number[]; test: number[] } {
  if (!clips.some((c) => c.label !== null)) throw new Error('video stage: the data has no labelled clips');
  const f = patientFolds(clips, 2, foldSeed).folds[fold];
  if (!f) throw new Error(`fold ${fold}: there are 2 folds (0, 1)`);
  if (f.train.length === 0 || f.test.length === 0) throw new Error(`fold ${fold} has an empty side (${f.train.length} train, ${f.test.length} test clips)`);
  const { train, val } = validationSplit(clips, f.train, valFraction, foldSeed);
  return { train, val, test: f.test };
}

export async function runVideoStage(frame: FrameModel, clips: readonly Clip[], o: VideoStageOptions): Promise<VideoStageResult> {
  const say = o.progress ?? (() => {});
  const split = videoSplits(clips, o.fold, o.foldSeed, o.valFraction);
  const t0 = performance.now();
  const pick = (idx: number[]) => idx.map((i) => clips[i]);
  const train: ClipFeatures = await computeClipFeatures(frame.vit, pick(split.train), { norm: o.norm, views: o.views, seed: o.cfg.seed });
  const evalSet = await computeClipFeatures(frame.vit, pick([...split.val, ...split.test]), { norm: o.norm, views: 1 });
  const nv = split.val.length;
  const val = subsetFeatures(evalSet, Array.from({ length: nv }, (_, i) => i));
  const test = subsetFeatures(evalSet, Array.from({ length: split.test.length }, (_, i) => nv + i));
  const featureSeconds = (performance.now() - t0) / 1000;
  say(`fold ${o.fold}: features of ${split.train.length} train (×${o.views} views) / ${nv} val / ${split.test.length} test clips in ${featureSeconds.toFixed(1)} s`);
  const head = await frame.headWeights();
  const runs: VideoStageRun[] = [];
  const D = frame.vit.cfg.embedDim;
  try {
    for (const kind of o.aggregators) {
      if (kind === 'max' && frame.featureDim !== D) throw new Error(`max-score needs a frame head on the last CLS (${D}), this one takes ${frame.featureDim} features`);
      const model: VideoClassifier = createVideoModel({ kind, dim: D, clusters: o.clusters, classes: frame.arch.classes, seed: o.cfg.seed });
      const trainer = new VideoTrainer(model, o.cfg, { train, val, test }, { progress: (l) => say(`${kind} fold ${o.fold}: ${l}`), frameHead: head });
      const result = await trainer.run();
      const arch: VideoArch = {
        vit: frame.arch.vit,
        ...(frame.arch.preset ? { preset: frame.arch.preset } : {}),
        video: model.config,
        frames: o.cfg.frames,
        mean: o.norm.mean,
        std: o.norm.std,
      };
      const full = new MediVLAD(arch, { vit: frame.vit, vitStore: frame.vitStore, video: model, videoStore: trainer.store });
      runs.push({ kind, result, full, trainer });
      const r = result.test.report;
      say(`${kind} fold ${o.fold}: test accuracy ${(100 * r.accuracy).toFixed(1)}%, weighted F1 ${(100 * r.weightedF1).toFixed(1)}%, macro AUC ${r.auc.macro.toFixed(3)}`);
    }
  } catch (e) {
    for (const r of runs) r.trainer.dispose();
    throw e;
  }
  return { clips: split, runs, featureSeconds, dispose: () => runs.forEach((r) => r.trainer.dispose()) };
}
