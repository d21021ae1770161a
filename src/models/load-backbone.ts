// Load ViT backbone weights from any checkpoint layout the project meets (SPEC §8, §9):
//
//   layout        keys                                              backbone prefix
//   dino-plain    cls_token, blocks.0.…  (dino_deitsmall8_pretrain)  (none)
//   dino-full     teacher.backbone.… / student.module.backbone.…     teacher. / student. + module. + backbone.
//                 (parsePth's flattening of DINO's full checkpoint; heads, dino_loss.center, … ignored)
//   stage1        0.<vit key>, 1.mlp.… / 1.last_layer.…             0.   (Sequential(ViT, DINOHead))
//   stage2        backbone.…, linear_state_dict.…                   backbone.
//   ddp           module.<vit key>                                   module.
//
// Tensors outside the ViT's name families (cls_token, pos_embed, patch_embed., blocks., norm.)
// are ignored: heads, optimizer state, counters; everything left must match the ViT exactly (names
// and shapes, loadModelState). A pos_embed laid out for another grid is an error naming both
// grids, unless `resizePosEmbed` asks for DINO's bicubic interpolation (pos-embed.ts) of the
// stored grid to the model's (done once, on the host, at load time).
//
// Also inferVitConfig: the ViT architecture a backbone state dict implies (patch, width,
// depth, MLP ratio, qkv bias, grid); heads cannot be read from shapes and come from the caller.
//
// Platform-neutral: no Node built-ins.
import { CheckpointError, formatShape, remapKeys, type StateDictEntry } from './checkpoint.js';
import { loadModelState } from './model-state.js';
import { posEmbedMatrix } from './pos-embed.js';
import type { ParameterStore } from './parameters.js';
import type { VisionTransformer, VitConfig } from './vit.js';

export type BackboneKey = 'teacher' | 'student';
export type BackboneLayout = 'dino-plain' | 'dino-full' | 'stage1' | 'stage2' | 'ddp';

export interface BackboneLoadOptions {
  /** Named in errors. */
  file?: string;
  /** Which network of a DINO full checkpoint (default 'teacher', as DINO's evaluation scripts). */
  key?: BackboneKey;
  /** Interpolate a pos_embed of another grid size to the model's (DINO's bicubic, +0.1). Default false. */
  resizePosEmbed?: boolean;
}

export interface BackboneTensors {
  layout: BackboneLayout;
  /** Backbone tensors under the ViT's own names. */
  tensors: Map<string, StateDictEntry>;
  /** How many tensors were left out (heads, optimizer state, loss center, …). */
  ignored: number;
}

/** Names of a DINO ViT's parameters (any depth, so extra or missing blocks still fail the strict load). */
const VIT_NAME = /^(cls_token|pos_embed|patch_embed\.|blocks\.|norm\.)/;

const hasPrefix = (names: string[], p: string) => names.some((n) => n.startsWith(p));

function subDict(tensors: ReadonlyMap<string, StateDictEntry>, prefix: string): Map<string, StateDictEntry> {
  const out = new Map<string, StateDictEntry>();
  for (const [n, t] of tensors) if (n.startsWith(prefix)) out.set(n, t);
  return out;
}

/** Recognise the layout and return the backbone tensors under the ViT's names. */
export function backboneTensors(tensors: ReadonlyMap<string, StateDictEntry>, opts: BackboneLoadOptions = {}): BackboneTensors {
  const names = [...tensors.keys()];
  const file = opts.file;
  let layout: BackboneLayout;
  let picked: Map<string, StateDictEntry>;
  if (hasPrefix(names, 'teacher.') || hasPrefix(names, 'student.')) {
    layout = 'dino-full';
    const key = opts.key ?? 'teacher';
    const sub = subDict(tensors, `${key}.`);
    if (sub.size === 0) throw new CheckpointError(`DINO full checkpoint has no '${key}' network`, { file });
    // teacher.backbone.x / student.module.backbone.x -> x; the heads (…head.x) are dropped.
    const stripped = remapKeys(sub, { stripPrefixes: [`${key}.`, 'module.'], file });
    picked = remapKeys(subDict(stripped, 'backbone.'), { stripPrefixes: ['backbone.'], file });
  } else if (opts.key !== undefined) {
    throw new CheckpointError(`--key ${opts.key} asks for a DINO full checkpoint, but there are no 'teacher.' / 'student.' tensors`, { file });
  } else if (hasPrefix(names, 'backbone.')) {
    layout = 'stage2';
    picked = remapKeys(subDict(tensors, 'backbone.'), { stripPrefixes: ['backbone.'], file });
  } else if (hasPrefix(names, '0.') && names.every((n) => n.startsWith('0.') || n.startsWith('1.'))) {
    layout = 'stage1';
    picked = remapKeys(subDict(tensors, '0.'), { stripPrefixes: ['0.'], file });
  } else if (names.length > 0 && names.every((n) => n.startsWith('module.'))) {
    layout = 'ddp';
    picked = remapKeys(tensors, { stripPrefixes: ['module.'], file });
  } else {
    layout = 'dino-plain';
    picked = new Map(tensors);
  }
  // Keep the ViT's own families; anything else (heads, counters, extra scalars) is not ours.
  picked = new Map([...picked].filter(([n]) => VIT_NAME.test(n)));
  if (picked.size === 0) throw new CheckpointError(`no backbone tensors found (layout ${layout}, ${tensors.size} tensors)`, { file });
  return { layout, tensors: picked, ignored: tensors.size - picked.size };
}

/** Square patch grid side of a pos_embed (1, 1 + g*g, D), or null when it is not square. */
function gridOf(shape: readonly number[]): number | null {
  if (shape.length !== 3 || shape[0] !== 1) return null;
  const g = Math.round(Math.sqrt(shape[1] - 1));
  return g * g === shape[1] - 1 ? g : null;
}

/** DINO's interpolation of a stored (1, 1 + g0², D) pos_embed to the model's g x g grid. */
function resizePosEmbed(pe: StateDictEntry, g0: number, g: number, P: number): StateDictEntry {
  const D = pe.shape[2];
  const { h, w, m } = posEmbedMatrix(g0, g * P, g * P, P);
  if (h !== g || w !== g) throw new CheckpointError(`pos_embed interpolation from ${g0}x${g0} gave ${h}x${w}, not ${g}x${g}`);
  const out = new Float32Array((1 + g * g) * D);
  out.set(pe.data.subarray(0, D)); // CLS position unchanged
  const acc = new Float64Array(D);
  for (let r = 0; r < g * g; r++) {
    acc.fill(0);
    for (let s = 0; s < g0 * g0; s++) {
      const c = m[r * g0 * g0 + s];
      if (c === 0) continue;
      const src = (1 + s) * D;
      for (let d = 0; d < D; d++) acc[d] += c * pe.data[src + d];
    }
    out.set(acc, (1 + r) * D);
  }
  return { shape: [1, 1 + g * g, D], data: out };
}

/**
 * Load a backbone from a checkpoint's tensors (any layout above) into `vit`'s parameters in
 * `store`, checking every name and shape. Returns the layout found and how many tensors were ignored.
 */
export function loadBackboneWeights(
  vit: VisionTransformer,
  store: ParameterStore,
  tensors: ReadonlyMap<string, StateDictEntry>,
  opts: BackboneLoadOptions = {},
): { layout: BackboneLayout; ignored: number; resized: boolean } {
  const bt = backboneTensors(tensors, opts);
  const pe = bt.tensors.get('pos_embed');
  let resized = false;
  const expected = vit.pos_embed.shape;
  if (pe && pe.shape.length === 3 && pe.shape[2] === expected[2] && pe.shape[1] !== expected[1]) {
    const g0 = gridOf(pe.shape);
    const P = vit.cfg.patchSize;
    const grids = `checkpoint pos_embed ${formatShape(pe.shape)} holds a ${g0 ?? '?'}x${g0 ?? '?'} grid (${g0 === null ? '?' : g0 * P} px at patch ${P}), the model expects ${vit.grid}x${vit.grid} (${vit.cfg.imgSize} px)`;
    if (!opts.resizePosEmbed || g0 === null) {
      throw new CheckpointError(`${grids}; build the model at the checkpoint's size or ask for pos_embed resizing`, { file: opts.file });
    }
    bt.tensors.set('pos_embed', resizePosEmbed(pe, g0, vit.grid, P));
    resized = true;
  }
  loadModelState(store, bt.tensors, { file: opts.file, strict: true });
  return { layout: bt.layout, ignored: bt.ignored, resized };
}

/** What a backbone state dict says about the architecture; `notes` lists what was read. */
export function inferVitConfig(
  tensors: ReadonlyMap<string, StateDictEntry>,
  base: VitConfig,
  opts: { heads?: number; file?: string } = {},
): { cfg: VitConfig; notes: string[] } {
  const file = opts.file;
  const need = (n: string, rank: number): readonly number[] => {
    const t = tensors.get(n);
    if (!t) throw new CheckpointError(`not a ViT backbone: tensor '${n}' is missing`, { file });
    if (t.shape.length !== rank) throw new CheckpointError(`not a ViT backbone: '${n}' has shape ${formatShape(t.shape)}, expected rank ${rank}`, { file });
    return t.shape;
  };
  const [D, C, P, P2] = need('patch_embed.proj.weight', 4);
  if (P !== P2) throw new CheckpointError(`patch embedding is ${P}x${P2}, not square`, { file });
  const pe = need('pos_embed', 3);
  const g = gridOf(pe);
  if (g === null) throw new CheckpointError(`pos_embed ${formatShape(pe)} is not a square grid plus CLS`, { file });
  let depth = 0;
  while (tensors.has(`blocks.${depth}.attn.qkv.weight`)) depth++;
  if (depth === 0) throw new CheckpointError(`not a ViT backbone: no blocks.0.attn.qkv.weight`, { file });
  const hidden = need('blocks.0.mlp.fc1.weight', 2)[0];
  const qkvBias = tensors.has('blocks.0.attn.qkv.bias');
  let heads = opts.heads;
  let headsFrom = '--heads';
  if (heads === undefined) {
    if (D === base.embedDim) [heads, headsFrom] = [base.numHeads, 'the preset'];
    else if (D % 64 === 0) [heads, headsFrom] = [D / 64, 'head dim 64'];
    else throw new CheckpointError(`width ${D} differs from the preset's ${base.embedDim}; say how many heads (--heads)`, { file });
  }
  if (D % heads !== 0) throw new CheckpointError(`width ${D} is not divisible by ${heads} heads`, { file });
  const cfg: VitConfig = { ...base, imgSize: g * P, patchSize: P, inChans: C, embedDim: D, depth, numHeads: heads, mlpRatio: hidden / D, qkvBias };
  const notes = [
    `patch ${P}, width ${D}, depth ${depth}, MLP ${hidden}, ${g}x${g} grid (${g * P} px), ${C} channels from tensor shapes; ${heads} heads from ${headsFrom}`,
  ];
  return { cfg, notes };
}
