// The Node side of MeDiVLAD video checkpoints (src/train/video-checkpoint.ts) and the
// evaluation input of the video commands (`score`, `eval`):
//   loadVideoModel(file)       a .safetensors video checkpoint -> the model on the GPU; any other
//                              file (a frame checkpoint, a DINO .pth) fails in one line saying a
//                              video checkpoint is expected and what the file holds
//   saveVideoModel(file, m)    Embedding.* + vlad.*|lstm.* + dense.0.* with the arch metadata, atomic
//   evalClipFeatures(...)      per-frame CLS features of the frames SPEC §3's evaluation sampling
//                              uses, floor(linspace(0, T − 1, S)), and which source frame each
//                              of the S slots holds
import * as path from 'node:path';
import { loadSafetensors, readFileChecked, saveSafetensors } from '../node/files.js';
import { parsePth } from '../models/pth.js';
import { CheckpointError } from '../models/checkpoint.js';
import { evalIndices } from '../data/preprocess.js';
import type { Clip } from '../data/clip.js';
import { MediVLAD, mediVladFromCheckpoint, parseVideoCheckpoint, type ParsedVideoCheckpoint } from '../train/video-checkpoint.js';
import { computeClipFeatures, sampleClip, type ClipFeatures } from '../train/video-data.js';

/** Read a MeDiVLAD video checkpoint and rebuild its model (ViT + aggregator) on the GPU. */
export async function loadVideoModel(file: string): Promise<{ model: MediVLAD; parsed: ParsedVideoCheckpoint }> {
  const ext = path.extname(file).toLowerCase();
  let parsed;
  if (ext === '.safetensors') {
    const st = await loadSafetensors(file);
    parsed = parseVideoCheckpoint(st.tensors, st.metadata, file);
  } else if (ext === '.pth' || ext === '.pt') {
    // No metadata in a .pth: parsing fails, naming the tensor groups the file does hold
    // (a DINO backbone, a stage-2 frame model, ...), which is the useful message.
    const { tensors } = await parsePth(await readFileChecked(file, 'checkpoint'), { file });
    parsed = parseVideoCheckpoint(tensors, {}, file);
  } else {
    throw new CheckpointError(`unknown checkpoint type '${ext || '(none)'}' (a MeDiVLAD video checkpoint is a .safetensors file)`, { file });
  }
  return { model: mediVladFromCheckpoint(parsed, file), parsed };
}

/** Write a video checkpoint atomically; `extra` metadata (fold, metrics, ...) goes with the arch. */
export async function saveVideoModel(file: string, model: MediVLAD, extra: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(file, await model.checkpointTensors(), model.checkpointMetadata(extra));
}

/**
 * The frames evaluation sampling can pick. For T ≤ S, floor(linspace(0, T − 1, S)) visits
 * every frame (its step (T − 1)/(S − 1) is ≤ 1), so the clip stays whole. For T > S the S
 * indices are distinct and only they are kept: the trimmed clip has S frames and its own
 * evaluation indices are 0..S−1, so sampleClip on it sees exactly the frames it would have
 * picked from the whole clip, while the ViT runs S times instead of T.
 */
export function evalFramesOnly(clip: Clip, S: number): { clip: Clip; source: number[] } {
  const T = clip.frames.length;
  if (T <= S) return { clip, source: Array.from({ length: T }, (_, t) => t) };
  const source = evalIndices(T, S);
  return { clip: { ...clip, frames: source.map((t) => clip.frames[t]) }, source };
}

export interface EvalClipFeatures {
  set: ClipFeatures;
  /** Per clip, the source frame index (in the clip as loaded) of each of the S slots. */
  frames: number[][];
}

/** Features of the evaluation frames of each clip (clean view, the checkpoint's normalisation). */
export async function evalClipFeatures(model: MediVLAD, clips: readonly Clip[], opts: { batch?: number; progress?: (done: number, total: number) => void } = {}): Promise<EvalClipFeatures> {
  const { frames: S, mean, std } = model.arch;
  const trimmed = clips.map((c) => evalFramesOnly(c, S));
  const set = await computeClipFeatures(model.vit, trimmed.map((t) => t.clip), {
    norm: { mean, std },
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  const scratch = new Float32Array(S * set.dim);
  const frames = trimmed.map((t, i) => sampleClip(set, i, S, null, scratch).map((k) => t.source[k]));
  return { set, frames };
}

/** SPEC §2's classes in words: what each of the C = 3 predicted classes means. */
export const CLASS_MEANINGS: readonly { lus: string; short: string; meaning: string }[] = [
  { lus: 'LUS score 0', short: 'LUS 0', meaning: 'normal aeration (A-lines)' },
  { lus: 'LUS scores 1-2', short: 'LUS 1-2', meaning: 'B-lines: moderate to severe loss of aeration' },
  { lus: 'LUS score 3', short: 'LUS 3', meaning: 'consolidation' },
];

/** "class 1 (LUS scores 1-2)"; a class beyond the three of SPEC §2 is named by number only. */
export function className(c: number): string {
  const m = CLASS_MEANINGS[c];
  return m ? `class ${c} (${m.lus})` : `class ${c}`;
}
