// The frame classifier of MeDiVLAD stage 2 (SPEC §6, §8): a ViT backbone and Linear(F -> C) on
// its CLS feature (F = D, or lastN·D for DINO's linear evaluation on the last 4 CLS tokens).
//
// Two parameter stores, one per part: the head's optimizer then never touches (nor allocates
// moments for) the 21.7 M backbone parameters in a linear probe, and fine-tuning steps both
// parts with the same optimizer settings (AdamW and SGD are per-parameter, so two optimizers
// over two stores equal one over both).
//
// Checkpoint (safetensors), SPEC §8 stage 2 with the nested names joined by '.':
//   backbone.<DINO ViT key>    every ViT tensor (cls_token, pos_embed, blocks.N.…, norm.…)
//   linear.0.weight (C, F), linear.0.bias (C)
//   metadata: format, arch (the VitConfig as JSON), preset, last_n, classes, mean, std, …
// MeDiVLAD's own .pth stores the head under `linear_state_dict.0.*`; the parser takes both.
//
// Platform-neutral: no Node built-ins (src/cli/finetune.ts reads and writes the files).
import type { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import { linear as linearOp } from '../autograd/ops/matmul-ops.js';
import { Module, ModuleList, type Init, type Parameter } from '../models/module.js';
import { torchLinearInit } from '../models/layers.js';
import { ParameterStore } from '../models/parameters.js';
import { VisionTransformer, VIT_PRESETS, type ForwardOpts, type VitConfig } from '../models/vit.js';
import { CheckpointError, formatShape, type StateDictEntry } from '../models/checkpoint.js';
import { loadModelState } from '../models/model-state.js';
import { inferVitConfig } from '../models/load-backbone.js';
import type { HostTensor } from '../models/safetensors.js';
import { hashSeed } from '../data/rng.js';

export const FRAME_CHECKPOINT_FORMAT = 'medivlad-frame-checkpoint';

/** What a frame model is: enough to rebuild it from a checkpoint. */
export interface FrameArch {
  vit: VitConfig;
  /** VIT_PRESETS name the ViT came from, when it did. */
  preset?: string;
  /** CLS tokens of the last n blocks feed the head (1, or 4 for DINO linear eval). */
  lastN: number;
  classes: number;
}

/** Head init: PyTorch's nn.Linear default (MeDiVLAD), or DINO eval_linear's N(0, 0.01) with zero bias. */
export type HeadInit = 'torch' | 'normal';

/**
 * nn.Linear(F, C) whose bias is weight-decayed too: MeDiVLAD builds AdamW(model.parameters(),
 * weight_decay=0.1) with no parameter groups, so every head tensor decays.
 */
export class HeadLinear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly inFeatures: number, readonly outFeatures: number, init: { weight: Init; bias: Init }) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], init.weight, { decay: true });
    this.bias = this.param('bias', [outFeatures], init.bias, { decay: true });
  }

  /** (B, F) -> (B, C): x Wᵀ + b. */
  forward(x: Tensor): Tensor {
    return linearOp(x, this.weight.t, this.bias.t);
  }
}

export class FrameModel {
  readonly vit: VisionTransformer;
  /** nn.Sequential(nn.Linear(F, C)) as MeDiVLAD names it: parameters `0.weight`, `0.bias`. */
  readonly head: ModuleList<HeadLinear>;
  readonly vitStore: ParameterStore;
  readonly headStore: ParameterStore;
  readonly featureDim: number;

  constructor(readonly arch: FrameArch, opts: { seed?: number; headInit?: HeadInit } = {}) {
    const { vit, lastN, classes } = arch;
    if (!(Number.isInteger(lastN) && lastN >= 1 && lastN <= vit.depth)) throw new Error(`frame model: lastN ${lastN} must be in 1..${vit.depth} (the ViT's depth)`);
    if (!(Number.isInteger(classes) && classes >= 2)) throw new Error(`frame model: ${classes} classes`);
    this.featureDim = lastN * vit.embedDim;
    const F = this.featureDim;
    const init = opts.headInit ?? 'torch';
    const linear = new HeadLinear(F, classes, init === 'normal'
      ? { weight: { kind: 'normal', std: 0.01 }, bias: { kind: 'zeros' } }
      : { weight: torchLinearInit(F), bias: torchLinearInit(F) });
    this.vit = new VisionTransformer(vit);
    this.head = new ModuleList([linear]);
    const seed = opts.seed ?? 0;
    this.vitStore = new ParameterStore(this.vit, { seed: hashSeed(seed, 0x766974) }); // 'vit'
    this.headStore = new ParameterStore(this.head, { seed: hashSeed(seed, 0x6c696e) }); // 'lin'
  }

  get linear(): HeadLinear {
    return this.head.items[0];
  }

  /** Features (B, F) of normalised images (B, C, H, W): CLS of the last block, or of the last n concatenated. */
  features(x: Tensor, opts: ForwardOpts = {}): Tensor {
    if (this.arch.lastN === 1) return this.vit.forward(x, opts);
    if (this.vit.training && this.vit.blocks.some((b) => b.dropPath > 0)) {
      throw new Error('frame model: last-n CLS features with drop-path in training are not supported');
    }
    return this.vit.lastCls(x, this.arch.lastN);
  }

  /** Logits (B, C) of features (B, F). */
  logits(features: Tensor): Tensor {
    return this.linear.forward(features);
  }

  /** logits(features(x)). */
  forward(x: Tensor, opts: ForwardOpts = {}): Tensor {
    return scope(() => this.logits(this.features(x, opts)));
  }

  /** Head weight (C, F) and bias (C) on the host. */
  async headWeights(): Promise<{ w: Float32Array; b: Float32Array }> {
    const sd = await this.headStore.stateDict();
    return { w: sd.get('0.weight')!.data, b: sd.get('0.bias')!.data };
  }

  /** Every tensor under its checkpoint name: backbone.* and linear.0.*. */
  async checkpointTensors(): Promise<Map<string, HostTensor>> {
    const out = new Map<string, HostTensor>();
    for (const [n, t] of await this.vitStore.stateDict()) out.set(`backbone.${n}`, t);
    for (const [n, t] of await this.headStore.stateDict()) out.set(`linear.${n}`, t);
    return out;
  }

  /** The checkpoint metadata (safetensors string map): how to rebuild the model, plus `extra`. */
  checkpointMetadata(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...extra,
      format: FRAME_CHECKPOINT_FORMAT,
      arch: JSON.stringify(this.arch.vit),
      ...(this.arch.preset ? { preset: this.arch.preset } : {}),
      last_n: String(this.arch.lastN),
      classes: String(this.arch.classes),
    };
  }

  dispose(): void {
    this.vitStore.dispose();
    this.headStore.dispose();
  }
}

/** "student.* (150), teacher.* (150), dino_loss.center": what a file holds, for error messages. */
export function describeNames(names: readonly string[], max = 6): string {
  if (names.length === 0) return 'no tensors';
  const groups = new Map<string, number>();
  for (const n of names) {
    const i = n.indexOf('.');
    const g = i < 0 ? n : `${n.slice(0, i)}.*`;
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  const parts = [...groups].slice(0, max).map(([g, c]) => (g.endsWith('.*') ? `${g} (${c})` : g));
  const more = groups.size > max ? `, … ${groups.size - max} more groups` : '';
  return parts.join(', ') + more;
}

const VIT_KEYS: (keyof VitConfig)[] = ['imgSize', 'patchSize', 'inChans', 'embedDim', 'depth', 'numHeads', 'mlpRatio', 'dropPathRate', 'eps'];

export function archFromMetadata(json: string, file?: string): VitConfig {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new CheckpointError(`metadata 'arch' is not JSON`, { file });
  }
  const o = v as Record<string, unknown>;
  for (const k of VIT_KEYS) {
    if (typeof o?.[k] !== 'number' || !Number.isFinite(o[k] as number)) throw new CheckpointError(`metadata 'arch' lacks a numeric '${k}'`, { file });
  }
  if (typeof o.qkvBias !== 'boolean') throw new CheckpointError(`metadata 'arch' lacks a boolean 'qkvBias'`, { file });
  return Object.fromEntries([...VIT_KEYS, 'qkvBias'].map((k) => [k, o[k]])) as unknown as VitConfig;
}

export interface ParsedFrameCheckpoint {
  arch: FrameArch;
  /** Backbone tensors under the ViT's own names. */
  backbone: Map<string, StateDictEntry>;
  /** Every tensor of the file, and the prefix its head uses ('linear.' or 'linear_state_dict.'). */
  tensors: ReadonlyMap<string, StateDictEntry>;
  headPrefix: string;
  metadata: Record<string, string>;
  /** How the architecture was found. */
  archFrom: 'metadata' | 'shapes';
}

/**
 * Recognise a frame checkpoint (backbone.* + linear.0.*, or MeDiVLAD's linear_state_dict.0.*)
 * and read its architecture from the metadata, else from the tensor shapes (heads: the preset
 * of the same width, else head dim 64, unless opts.heads). Anything else fails naming what the file holds.
 */
export function parseFrameCheckpoint(
  tensors: ReadonlyMap<string, StateDictEntry>,
  metadata: Record<string, string> = {},
  file?: string,
  opts: { heads?: number } = {},
): ParsedFrameCheckpoint {
  const names = [...tensors.keys()];
  const headPrefix = ['linear.', 'linear_state_dict.'].find((p) => tensors.has(`${p}0.weight`));
  const hasBackbone = names.some((n) => n.startsWith('backbone.'));
  if (!hasBackbone || headPrefix === undefined) {
    throw new CheckpointError(`expected a frame checkpoint (backbone.* + linear.0.*), found ${describeNames(names)}`, { file });
  }
  if (metadata.format !== undefined && metadata.format !== FRAME_CHECKPOINT_FORMAT) {
    throw new CheckpointError(`expected a frame checkpoint (format ${FRAME_CHECKPOINT_FORMAT}), metadata says '${metadata.format}'`, { file });
  }
  const backbone = new Map<string, StateDictEntry>();
  for (const [n, t] of tensors) if (n.startsWith('backbone.')) backbone.set(n.slice('backbone.'.length), t);
  const w = tensors.get(`${headPrefix}0.weight`)!;
  const b = tensors.get(`${headPrefix}0.bias`);
  if (w.shape.length !== 2) throw new CheckpointError(`is ${formatShape(w.shape)}, expected (classes, features)`, { file, tensor: `${headPrefix}0.weight` });
  if (!b || b.shape.length !== 1 || b.shape[0] !== w.shape[0]) {
    throw new CheckpointError(`expected shape (${w.shape[0]}) to match ${headPrefix}0.weight ${formatShape(w.shape)}, found ${b ? formatShape(b.shape) : 'nothing'}`, { file, tensor: `${headPrefix}0.bias` });
  }
  let vit: VitConfig;
  let archFrom: 'metadata' | 'shapes';
  if (metadata.arch !== undefined) {
    vit = archFromMetadata(metadata.arch, file);
    archFrom = 'metadata';
  } else {
    const width = backbone.get('patch_embed.proj.weight')?.shape[0];
    const base = Object.values(VIT_PRESETS).find((c) => c.embedDim === width) ?? VIT_PRESETS['vit-s8'];
    vit = inferVitConfig(backbone, base, { file, heads: opts.heads }).cfg;
    archFrom = 'shapes';
  }
  const [C, F] = w.shape;
  const lastN = metadata.last_n !== undefined ? Number(metadata.last_n) : F / vit.embedDim;
  if (!(Number.isInteger(lastN) && lastN >= 1 && lastN * vit.embedDim === F)) {
    throw new CheckpointError(`takes ${F} features, which is not last_n (${metadata.last_n ?? '?'}) x width ${vit.embedDim}`, { file, tensor: `${headPrefix}0.weight` });
  }
  const preset = metadata.preset !== undefined && VIT_PRESETS[metadata.preset] ? metadata.preset : undefined;
  return { arch: { vit, ...(preset ? { preset } : {}), lastN, classes: C }, backbone, tensors, headPrefix, metadata, archFrom };
}

/** Build the model a parsed checkpoint describes and load every tensor (names and shapes checked). */
export function frameModelFromCheckpoint(p: ParsedFrameCheckpoint, file?: string): FrameModel {
  const model = new FrameModel(p.arch);
  try {
    // Prefixed, so a mismatch names the file's own keys (backbone.blocks.3…, linear.0.weight).
    loadModelState(model.vitStore, p.tensors, { file, strict: true, prefix: 'backbone.' });
    loadModelState(model.headStore, p.tensors, { file, strict: true, prefix: p.headPrefix });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
