// The scoring model of the browser pipeline: a ViT frame encoder and a video aggregator, from a
// checkpoint's bytes (or a URL), or with random weights when there is none.
//
// Checkpoint: a .safetensors or a .pth (zip or legacy torch.save) holding
//   the ViT     under any layout src/models/load-backbone.ts knows (DINO plain `cls_token`,
//               `blocks.N.…`; DINO full; MeDiVLAD stage 1 / 2; `module.`), or under
//               `Embedding.` (MeDiVLAD stage 3's `module.Embedding.*`, SPEC §4);
//   the head    under the video model's names (src/models/video-models.ts): `vlad.*` and
//               `dense.0.*` (DualVLAD: vlad.V.0 present; NetVLAD: without it), `lstm.*` +
//               `dense.0.*` (Bi-LSTM), or `dense.0.*` alone (max-score), optionally behind
//               `module.` / `model_state_dict.` (SPEC §8 stage 3).
// The architecture comes from the tensor shapes (heads: the preset of that width, else head
// dim 64, or the metadata). Optional safetensors `__metadata__` strings: heads, frames (S),
// mean, std (input normalisation; default SPEC §3's LUS values), description.
// Without head tensors the aggregator is a seeded random DualVLAD, and the model says so.
import { VisionTransformer, VIT_PRESETS, type VitConfig } from '../models/vit.js';
import { ParameterStore } from '../models/parameters.js';
import { parseSafetensors } from '../models/safetensors.js';
import { parsePth } from '../models/pth.js';
import { CheckpointError, formatShape, type StateDictEntry } from '../models/checkpoint.js';
import { backboneTensors, inferVitConfig, loadBackboneWeights } from '../models/load-backbone.js';
import { loadModelState } from '../models/model-state.js';
import { createVideoModel, type AggregatorKind, type VideoClassifier, type VideoModelConfig } from '../models/video-models.js';
import { CLIP_FRAMES, LUS_MEAN, LUS_STD } from '../data/preprocess.js';

export const UNTRAINED = 'untrained (random weights)';

export interface ModelInfo {
  /** Where the weights came from: a file name, a URL, or UNTRAINED. */
  source: string;
  /** Which parts hold trained (loaded) weights. */
  trained: { backbone: boolean; head: boolean };
  /** One line each: what was read and what was assumed. */
  notes: string[];
  description?: string;
}

export interface ScoringOptions {
  /** Frames per clip the aggregator sees (S). */
  frames: number;
  mean: number;
  std: number;
}

export class ScoringModel {
  constructor(
    readonly vit: VisionTransformer,
    readonly video: VideoClassifier,
    private readonly stores: ParameterStore[],
    readonly options: ScoringOptions,
    readonly info: ModelInfo,
  ) {}

  /** Input side in pixels (the ViT's native size). */
  get size(): number {
    return this.vit.cfg.imgSize;
  }
  get kind(): AggregatorKind {
    return this.video.config.kind;
  }
  get classes(): number {
    return this.video.config.classes;
  }
  /** "ViT 128 wide, 4 blocks, 2 heads, 64 px + dualvlad K 3, C 3: untrained (random weights)". */
  describe(): string {
    const c = this.vit.cfg;
    const v = this.video.config;
    const head = v.kind === 'dualvlad' || v.kind === 'netvlad' ? `${v.kind} K ${v.clusters}` : v.kind;
    const state = this.info.trained.backbone && this.info.trained.head ? this.info.source
      : this.info.trained.backbone ? `${this.info.source} (aggregator ${UNTRAINED})` : UNTRAINED;
    return `ViT ${c.embedDim} wide, ${c.depth} blocks, ${c.numHeads} heads, ${c.imgSize} px + ${head}, C ${v.classes}: ${state}`;
  }

  dispose(): void {
    for (const s of this.stores) s.dispose();
    this.stores.length = 0;
  }
}

export interface RandomModelOptions {
  /** ViT preset name or config; default 'tiny' (64 px, runs on a software adapter). */
  vit?: string | VitConfig;
  kind?: AggregatorKind;
  clusters?: number;
  classes?: number;
  frames?: number;
  seed?: number;
}

function presetConfig(p: string | VitConfig): VitConfig {
  if (typeof p !== 'string') return p;
  const c = VIT_PRESETS[p];
  if (!c) throw new Error(`unknown ViT preset '${p}' (known: ${Object.keys(VIT_PRESETS).join(', ')})`);
  return c;
}

function build(cfg: VitConfig, head: VideoModelConfig, seed: number): { vit: VisionTransformer; video: VideoClassifier; stores: ParameterStore[] } {
  const vit = new VisionTransformer(cfg).eval();
  const video = createVideoModel({ ...head, seed });
  video.eval();
  return { vit, video, stores: [new ParameterStore(vit, { seed }), new ParameterStore(video, { seed: seed + 1 })] };
}

/** A model with seeded random weights (the demo before a trained checkpoint exists). */
export function createRandomModel(opts: RandomModelOptions = {}): ScoringModel {
  const cfg = presetConfig(opts.vit ?? 'tiny');
  const head = { kind: opts.kind ?? 'dualvlad', dim: cfg.embedDim, clusters: opts.clusters ?? 3, classes: opts.classes ?? 3 } as const;
  const { vit, video, stores } = build(cfg, head, opts.seed ?? 0);
  const options = { frames: opts.frames ?? CLIP_FRAMES, mean: LUS_MEAN, std: LUS_STD };
  return new ScoringModel(vit, video, stores, options, { source: UNTRAINED, trained: { backbone: false, head: false }, notes: [] });
}

export interface CheckpointParts {
  /** ViT tensors in the checkpoint's own layout (load-backbone.ts resolves it). */
  backbone: Map<string, StateDictEntry>;
  /** Video-model tensors under its names (vlad.*, lstm.*, dense.0.*). */
  head: Map<string, StateDictEntry>;
}

const HEAD_NAME = /^(vlad|lstm|dense)\./;

/** Split a checkpoint's tensors into the frame encoder's and the aggregator's. */
export function splitCheckpoint(tensors: ReadonlyMap<string, StateDictEntry>): CheckpointParts {
  const backbone = new Map<string, StateDictEntry>();
  const head = new Map<string, StateDictEntry>();
  for (const [name, t] of tensors) {
    const bare = name.replace(/^model_state_dict\./, '').replace(/^module\./, '');
    if (HEAD_NAME.test(bare)) head.set(bare, t);
    else if (bare.startsWith('Embedding.')) backbone.set(bare.slice('Embedding.'.length), t);
    else backbone.set(name, t);
  }
  return { backbone, head };
}

/** The aggregator a head state dict implies, checked against the frame width D; null when empty. */
export function inferHeadConfig(head: ReadonlyMap<string, StateDictEntry>, dim: number, file?: string): VideoModelConfig | null {
  if (head.size === 0) return null;
  const dense = head.get('dense.0.weight');
  if (!dense || dense.shape.length !== 2) {
    throw new CheckpointError(`has aggregator tensors (${[...head.keys()].slice(0, 3).join(', ')}, …) but no 2-D 'dense.0.weight'`, { file });
  }
  const classes = dense.shape[0];
  const c = head.get('vlad.centroids');
  if (c) {
    if (c.shape.length !== 2 || c.shape[1] !== dim) {
      throw new CheckpointError(`shape ${formatShape(c.shape)} does not match the ViT's width: expected (K, ${dim})`, { file, tensor: 'vlad.centroids' });
    }
    return { kind: head.has('vlad.V.0.weight') ? 'dualvlad' : 'netvlad', dim, clusters: c.shape[0], classes };
  }
  if ([...head.keys()].some((n) => n.startsWith('lstm.'))) return { kind: 'lstm', dim, classes };
  return { kind: 'max', dim, classes };
}

/** A checkpoint's tensors and metadata from its bytes: .pth (zip or legacy pickle) or safetensors. */
export async function readCheckpoint(bytes: Uint8Array, file?: string): Promise<{ tensors: Map<string, StateDictEntry>; metadata: Record<string, string> }> {
  const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b; // "PK": torch.save's zip format
  const isPickle = bytes[0] === 0x80 && bytes[1] === 0x02; // legacy torch.save
  if (isZip || isPickle) return { tensors: (await parsePth(bytes, { file })).tensors, metadata: {} };
  const st = parseSafetensors(bytes, { file });
  return { tensors: st.tensors, metadata: st.metadata };
}

function metaNumber(meta: Record<string, string>, key: string, file: string | undefined, ok: (v: number) => boolean): number | undefined {
  const s = meta[key];
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!ok(v)) throw new CheckpointError(`metadata '${key}' = ${JSON.stringify(s)} is not valid`, { file });
  return v;
}

export interface LoadOptions {
  /** Named in errors and in ModelInfo.source (default: the URL, or 'checkpoint'). */
  name?: string;
  /** Attention heads (shapes cannot show them). */
  heads?: number;
  /** Seed of a random aggregator when the checkpoint has none. */
  seed?: number;
}

/** Build a scoring model from a checkpoint given as bytes or as a URL to fetch. */
export async function loadCheckpoint(src: ArrayBuffer | Uint8Array | string | URL, opts: LoadOptions = {}): Promise<ScoringModel> {
  let bytes: Uint8Array;
  let name = opts.name;
  if (typeof src === 'string' || src instanceof URL) {
    name ??= String(src);
    const res = await fetch(src);
    if (!res.ok) throw new CheckpointError(`could not be fetched: HTTP ${res.status} ${res.statusText}`, { file: name });
    bytes = new Uint8Array(await res.arrayBuffer());
  } else {
    bytes = src instanceof Uint8Array ? src : new Uint8Array(src);
  }
  const file = name ?? 'checkpoint';
  const { tensors, metadata } = await readCheckpoint(bytes, file);
  const parts = splitCheckpoint(tensors);
  const { tensors: vitTensors } = backboneTensors(parts.backbone, { file });
  const width = vitTensors.get('patch_embed.proj.weight')?.shape[0];
  const base = Object.values(VIT_PRESETS).find((c) => c.embedDim === width) ?? VIT_PRESETS['vit-s8'];
  const heads = opts.heads ?? metaNumber(metadata, 'heads', file, (v) => Number.isInteger(v) && v >= 1);
  const { cfg, notes } = inferVitConfig(vitTensors, base, { heads, file });
  const headCfg = inferHeadConfig(parts.head, cfg.embedDim, file);
  const seed = opts.seed ?? 0;
  const { vit, video, stores } = build(cfg, headCfg ?? { kind: 'dualvlad', dim: cfg.embedDim }, seed);
  try {
    loadBackboneWeights(vit, stores[0], parts.backbone, { file });
    if (headCfg) loadModelState(stores[1], parts.head, { file, strict: true });
  } catch (e) {
    for (const s of stores) s.dispose();
    throw e;
  }
  const options = {
    frames: metaNumber(metadata, 'frames', file, (v) => Number.isInteger(v) && v >= 1) ?? CLIP_FRAMES,
    mean: metaNumber(metadata, 'mean', file, Number.isFinite) ?? LUS_MEAN,
    std: metaNumber(metadata, 'std', file, (v) => v > 0) ?? LUS_STD,
  };
  notes.push(headCfg ? `aggregator ${headCfg.kind}, ${headCfg.classes} classes, from the checkpoint` : `no aggregator tensors: ${UNTRAINED} DualVLAD`);
  const info: ModelInfo = { source: file, trained: { backbone: true, head: headCfg !== null }, notes, description: metadata.description };
  return new ScoringModel(vit, video, stores, options, info);
}
