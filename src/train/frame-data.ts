// Labelled frames for the frame stage (SPEC §2, §3, §7 stage 2). MeDiVLAD scores ~2 labelled
// frames per video; our clips carry one label per clip, so a clip gives `perClip` frames at
// the centres of perClip equal segments of its time axis (1: the middle frame, as the DINO
// k-NN monitor uses), each with the clip's label. Frames of one clip, and of one patient,
// always fall on the same side of every split: folds are dealt by patient over clips
// (patientFolds), the validation split is carved by patient from the training fold
// (validationSplit), and only then are clips turned into frames.
//
// Platform-neutral: no Node built-ins.
import type { Clip } from '../data/clip.js';
import { patientFolds, validationSplit } from '../data/folds.js';
import type { FrameSource } from '../eval/features.js';

/** Frames with labels; frames are gray [0, 1] at one square size. */
export interface FrameSet {
  frames: Float32Array[];
  labels: number[];
  /** Where each frame came from: clip id, patient, index of the frame in its clip. */
  ids: string[];
  patients: string[];
  frameIndex: number[];
  size: number;
}

/** Frame indices of a T-frame clip: floor((j + 0.5)·T / n), j < n, distinct (n is capped at T). */
export function framePicks(T: number, n: number): number[] {
  if (!(T >= 1)) throw new RangeError(`framePicks: clip has ${T} frames`);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`framePicks: frames per clip ${n} must be a positive integer`);
  const k = Math.min(n, T);
  return Array.from({ length: k }, (_, j) => Math.floor(((j + 0.5) * T) / k));
}

/** The labelled frames of clips[indices] (unlabelled clips are an error: they belong to no fold). */
export function frameSet(clips: readonly Clip[], indices: readonly number[], perClip: number): FrameSet {
  const set: FrameSet = { frames: [], labels: [], ids: [], patients: [], frameIndex: [], size: 0 };
  for (const i of indices) {
    const c = clips[i];
    if (c.label === null) throw new Error(`frame set: clip ${c.id} has no label`);
    if (set.size === 0) set.size = c.size;
    if (c.size !== set.size) throw new Error(`frame set: clip ${c.id} is ${c.size} px, expected ${set.size} (all clips must share one size)`);
    for (const t of framePicks(c.frames.length, perClip)) {
      set.frames.push(c.frames[t]);
      set.labels.push(c.label);
      set.ids.push(c.id);
      set.patients.push(c.patient);
      set.frameIndex.push(t);
    }
  }
  return set;
}

export interface FrameSplits {
  /** Fitting set: the training fold minus the validation patients. */
  train: FrameSet;
  /** Model selection: patients held out of the training fold (may be empty). */
  val: FrameSet;
  /** The reported fold; never used for any choice. */
  test: FrameSet;
  /** Clip indices of each part. */
  clips: { train: number[]; val: number[]; test: number[] };
}

export interface SplitOptions {
  /** Which of the 2 patient-disjoint folds is the test fold (SPEC §2: 2 folds). */
  fold: number;
  /** Folds are built with this seed (keep it fixed across runs so stages agree). */
  foldSeed: number;
  /** Share of the training fold's patients held out for model selection. */
  valFraction: number;
  perClip: number;
}

/** Train / validation / test frames for one fold (patient-disjoint, validation inside the training fold). */
export function frameSplits(clips: readonly Clip[], o: SplitOptions): FrameSplits {
  const labelled = clips.filter((c) => c.label !== null).length;
  if (labelled === 0) throw new Error('frame stage: the data has no labelled clips');
  const split = patientFolds(clips, 2, o.foldSeed);
  const f = split.folds[o.fold];
  if (!f) throw new Error(`--fold ${o.fold}: there are 2 folds (0, 1)`);
  if (f.train.length === 0 || f.test.length === 0) throw new Error(`fold ${o.fold} has an empty side (${f.train.length} train, ${f.test.length} test clips)`);
  const { train, val } = validationSplit(clips, f.train, o.valFraction, o.foldSeed);
  return {
    train: frameSet(clips, train, o.perClip),
    val: frameSet(clips, val, o.perClip),
    test: frameSet(clips, f.test, o.perClip),
    clips: { train, val, test: f.test },
  };
}

/** Union of frame sets (the k-NN memory bank is the whole training fold: train + val). */
export function concatFrameSets(...sets: FrameSet[]): FrameSet {
  const size = sets.find((s) => s.frames.length > 0)?.size ?? 0;
  return {
    frames: sets.flatMap((s) => s.frames),
    labels: sets.flatMap((s) => s.labels),
    ids: sets.flatMap((s) => s.ids),
    patients: sets.flatMap((s) => s.patients),
    frameIndex: sets.flatMap((s) => s.frameIndex),
    size,
  };
}

/** Normalisation (SPEC §3: the paper's LUS mean/std by default) applied to every channel. */
export interface Normalization {
  mean: number;
  std: number;
}

/**
 * The frames of `set` (or of set.frames[order[k]]) as a model-ready FrameSource: each gray
 * frame normalised, (x - mean) / std, and repeated to C channels (SPEC §3 evaluation input:
 * resize, done at load time, then normalise).
 */
export function normalizedFrames(set: FrameSet, norm: Normalization, channels = 3, order?: readonly number[]): FrameSource {
  const hw = set.size * set.size;
  const inv = 1 / norm.std;
  return {
    length: order ? order.length : set.frames.length,
    size: set.size,
    channels,
    fill(start, n, out) {
      for (let b = 0; b < n; b++) {
        const f = set.frames[order ? order[start + b] : start + b];
        const o = b * channels * hw;
        for (let i = 0; i < hw; i++) out[o + i] = (f[i] - norm.mean) * inv;
        for (let c = 1; c < channels; c++) out.copyWithin(o + c * hw, o, o + hw);
      }
    },
  };
}

/** Raw gray frames set.frames[idx] repeated to C channels, (B, C, S, S) in [0, 1] (input of the GPU augmentation). */
export function rawBatch(set: FrameSet, idx: readonly number[], channels = 3): Float32Array {
  const hw = set.size * set.size;
  const out = new Float32Array(idx.length * channels * hw);
  idx.forEach((i, b) => {
    for (let c = 0; c < channels; c++) out.set(set.frames[i], (b * channels + c) * hw);
  });
  return out;
}

/** Class counts of a label list (3 classes). */
export function classCounts(labels: readonly number[], C = 3): number[] {
  const n = new Array<number>(C).fill(0);
  for (const y of labels) n[y]++;
  return n;
}
