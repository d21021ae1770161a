// The full MeDiVLAD model (SPEC §4, §8 stage 3): a frozen ViT frame encoder and a video
// aggregator (DualVLAD, NetVLAD, Bi-LSTM or max-score) with its classifier.
//
// Checkpoint (safetensors), the stage-3 names without DataParallel's `module.` prefix:
//   Embedding.<DINO ViT key>            the frame backbone (cls_token, pos_embed, blocks.N.…)
//   vlad.centroids, vlad.conv.weight (K, D, 1, 1), vlad.conv.bias, vlad.V.0.*, vlad.w.0.*
//   lstm.weight_ih_l0, … (Bi-LSTM)       dense.0.weight (C, ·), dense.0.bias
//   metadata: format, aggregator, arch (VitConfig JSON), preset, clusters, classes, alpha,
//             frames (S), mean, std, and whatever the trainer adds (fold, metrics, …)
// A PyTorch user loads it with safetensors.torch.load_file and strips `Embedding.` for the ViT.
//
// Platform-neutral: no Node built-ins (the CLI reads and writes the files).
import { ParameterStore } from '../models/parameters.js';
import { VisionTransformer, type VitConfig } from '../models/vit.js';
import { CheckpointError, type StateDictEntry } from '../models/checkpoint.js';
import { loadModelState } from '../models/model-state.js';
import type { HostTensor } from '../models/safetensors.js';
import { AGGREGATOR_KINDS, createVideoModel, VIDEO_MODEL_DEFAULTS, type AggregatorKind, type VideoClassifier, type VideoModelConfig } from '../models/video-models.js';
import { archFromMetadata, describeNames } from './frame-model.js';
import { hashSeed } from '../data/rng.js';
import { CLIP_FRAMES, LUS_MEAN, LUS_STD } from '../data/preprocess.js';

export const VIDEO_CHECKPOINT_FORMAT = 'medivlad-video-checkpoint';

/** Everything needed to rebuild a MeDiVLAD model and feed it. */
export interface VideoArch {
  vit: VitConfig;
  /** VIT_PRESETS name, when the ViT came from one. */
  preset?: string;
  video: Required<VideoModelConfig>;
  /** Frames per clip S (15). */
  frames: number;
  /** Normalisation of the gray frames (SPEC §3). */
  mean: number;
  std: number;
}

export class MediVLAD {
  readonly vit: VisionTransformer;
  readonly vitStore: ParameterStore;
  readonly video: VideoClassifier;
  readonly videoStore: ParameterStore;

  /**
   * A fresh model, or one made of existing parts (a trained backbone and aggregator, each with
   * its own ParameterStore: the stage-3 trainer and the frame stage own them).
   */
  constructor(readonly arch: VideoArch, parts?: { vit: VisionTransformer; vitStore: ParameterStore; video: VideoClassifier; videoStore: ParameterStore }) {
    if (arch.video.dim !== arch.vit.embedDim) {
      throw new Error(`MeDiVLAD: the aggregator takes ${arch.video.dim}-d features but the ViT gives ${arch.vit.embedDim}`);
    }
    if (parts) {
      ({ vit: this.vit, vitStore: this.vitStore, video: this.video, videoStore: this.videoStore } = parts);
      this.ownsStores = false;
      return;
    }
    this.vit = new VisionTransformer(arch.vit);
    this.vit.eval();
    this.vitStore = new ParameterStore(this.vit, { seed: hashSeed(arch.video.seed, 0x766974) });
    this.video = createVideoModel(arch.video);
    this.videoStore = new ParameterStore(this.video, { seed: arch.video.seed });
  }

  private readonly ownsStores: boolean = true;

  /** Every tensor under its checkpoint name: Embedding.* then the aggregator's own names. */
  async checkpointTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [n, t] of await this.vitStore.stateDict()) out.set(`Embedding.${n}`, t);
    for (const [n, t] of await this.videoStore.stateDict()) out.set(n, t);
    return out;
  }

  checkpointMetadata(extra: Record<string, string> = {}): Record<string, string> {
    const a = this.arch;
    return {
      ...extra,
      format: VIDEO_CHECKPOINT_FORMAT,
      aggregator: a.video.kind,
      arch: JSON.stringify(a.vit),
      heads: String(a.vit.numHeads),
      ...(a.preset ? { preset: a.preset } : {}),
      clusters: String(a.video.clusters),
      classes: String(a.video.classes),
      alpha: String(a.video.alpha),
      frames: String(a.frames),
      mean: String(a.mean),
      std: String(a.std),
    };
  }

  /** Frees the stores it created (not those of parts it was given). */
  dispose(): void {
    if (!this.ownsStores) return;
    this.vitStore.dispose();
    this.videoStore.dispose();
  }
}

export interface ParsedVideoCheckpoint {
  arch: VideoArch;
  tensors: ReadonlyMap<string, StateDictEntry>;
  metadata: Record<string, string>;
}

function num(metadata: Record<string, string>, key: string, fallback: number, file?: string): number {
  const s = metadata[key];
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isFinite(v)) throw new CheckpointError(`metadata '${key}' is '${s}', not a number`, { file });
  return v;
}

/**
 * Check that a file is a MeDiVLAD video checkpoint and read its architecture. Anything else
 * (a frame or DINO checkpoint) fails naming what was expected and what the file holds.
 */
export function parseVideoCheckpoint(tensors: ReadonlyMap<string, StateDictEntry>, metadata: Record<string, string> = {}, file?: string): ParsedVideoCheckpoint {
  const names = [...tensors.keys()];
  const hasBackbone = names.some((n) => n.startsWith('Embedding.'));
  const hasHead = tensors.has('dense.0.weight');
  if (!hasBackbone || !hasHead || metadata.format !== VIDEO_CHECKPOINT_FORMAT) {
    const what = metadata.format ? `format '${metadata.format}', ` : '';
    throw new CheckpointError(`expected a MeDiVLAD video checkpoint (format ${VIDEO_CHECKPOINT_FORMAT}: Embedding.* + vlad.*|lstm.* + dense.0.*), found ${what}${describeNames(names)}`, { file });
  }
  const kind = metadata.aggregator as AggregatorKind;
  if (!AGGREGATOR_KINDS.includes(kind)) throw new CheckpointError(`metadata 'aggregator' is '${metadata.aggregator}', expected one of ${AGGREGATOR_KINDS.join(', ')}`, { file });
  if (metadata.arch === undefined) throw new CheckpointError(`metadata lacks 'arch' (the ViT configuration)`, { file });
  const vit = archFromMetadata(metadata.arch, file);
  const video: Required<VideoModelConfig> = {
    kind,
    dim: vit.embedDim,
    clusters: num(metadata, 'clusters', VIDEO_MODEL_DEFAULTS.clusters, file),
    classes: num(metadata, 'classes', VIDEO_MODEL_DEFAULTS.classes, file),
    alpha: num(metadata, 'alpha', VIDEO_MODEL_DEFAULTS.alpha, file),
    seed: 0,
  };
  const arch: VideoArch = {
    vit,
    ...(metadata.preset ? { preset: metadata.preset } : {}),
    video,
    frames: num(metadata, 'frames', CLIP_FRAMES, file),
    mean: num(metadata, 'mean', LUS_MEAN, file),
    std: num(metadata, 'std', LUS_STD, file),
  };
  return { arch, tensors, metadata };
}

/** Build the model of a parsed checkpoint and load every tensor (strict: names and shapes must match). */
export function mediVladFromCheckpoint(p: ParsedVideoCheckpoint, file?: string): MediVLAD {
  const model = new MediVLAD(p.arch);
  try {
    loadModelState(model.vitStore, p.tensors, { file, strict: true, prefix: 'Embedding.' });
    const own = new Map([...p.tensors].filter(([n]) => !n.startsWith('Embedding.')));
    loadModelState(model.videoStore, own, { file, strict: true });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
