// `medivlad embed --checkpoint FILE --frames DIR|IMAGE [--preset tiny|vit-s8] [--size N] [--json]`:
// the ViT's CLS feature per frame (SPEC §9 forward, no grad).
//
// The checkpoint (.safetensors or .pth) may be any backbone layout load-backbone.ts knows
// (DINO plain / full, MeDiVLAD stage 1 / 2). Without --preset the architecture is read from
// the tensor shapes (heads: --heads, else the preset of the same width, else head dim 64) and
// the command says so on stderr; with --preset the checkpoint must be that architecture.
// Frames: a folder of images (natural order) or one image; grayscale, resized to --size
// (default: the model's native size) by src/data's resize, normalised with the LUS mean/std
// (SPEC §3), repeated to 3 channels. Other sizes use DINO's pos_embed interpolation.
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { initNode } from '../node/index.js';
import { loadSafetensors, readFileChecked } from '../node/files.js';
import { nodeDataFs } from '../node/data-io.js';
import { parsePth } from '../models/pth.js';
import { CheckpointError, type StateDictEntry } from '../models/checkpoint.js';
import { VIT_PRESETS, VisionTransformer, type VitConfig } from '../models/vit.js';
import { ParameterStore } from '../models/parameters.js';
import { backboneTensors, inferVitConfig, loadBackboneWeights, type BackboneKey } from '../models/load-backbone.js';
import { IMAGE_EXTS, LUS_MEAN, LUS_STD, loadFrames, naturalCompare } from '../data/index.js';
import { Tensor, noGrad } from '../autograd/index.js';

interface EmbedArgs {
  checkpoint: string;
  frames: string;
  preset?: string;
  size?: number;
  heads?: number;
  key?: string;
  mean: number;
  std: number;
  batch: number;
  json: boolean;
}

/** Every tensor of a .safetensors or .pth file by (dotted) name. */
export async function readCheckpointTensors(file: string): Promise<Map<string, StateDictEntry>> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.safetensors') return (await loadSafetensors(file)).tensors;
  if (ext === '.pth' || ext === '.pt') return (await parsePth(await readFileChecked(file, 'checkpoint'), { file })).tensors;
  throw new CheckpointError(`unknown checkpoint type '${ext || '(none)'}' (expected .safetensors or .pth)`, { file });
}

/** The image files a --frames path names: a folder's images in natural order, or the file itself. */
export async function frameFiles(p: string): Promise<string[]> {
  const kind = await nodeDataFs.kind(p);
  if (kind === null) throw new Error(`missing file ${p}`);
  if (kind === 'file') return [p];
  const names = (await nodeDataFs.list(p))
    .filter((n) => IMAGE_EXTS.includes(path.extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort(naturalCompare);
  if (names.length === 0) throw new Error(`no ${IMAGE_EXTS.join('/')} files in folder ${p}`);
  return names.map((n) => path.join(p, n));
}

/** Gray [0, 1] frames (size x size) -> normalised (B, 3, size, size) input. */
export function framesToInput(frames: readonly Float32Array[], size: number, mean = LUS_MEAN, std = LUS_STD): Float32Array {
  const hw = size * size;
  const out = new Float32Array(frames.length * 3 * hw);
  frames.forEach((f, b) => {
    const o = b * 3 * hw;
    for (let i = 0; i < hw; i++) out[o + i] = (f[i] - mean) / std;
    out.copyWithin(o + hw, o, o + hw);
    out.copyWithin(o + 2 * hw, o, o + hw);
  });
  return out;
}

function describeArch(c: VitConfig): string {
  const g = c.imgSize / c.patchSize;
  return `patch ${c.patchSize}, width ${c.embedDim}, depth ${c.depth}, MLP ${Math.round(c.embedDim * c.mlpRatio)}, ${g}x${g} grid`;
}

/** The model config: the checkpoint's shapes, checked against --preset when one is named. */
function chooseConfig(backbone: Map<string, StateDictEntry>, args: EmbedArgs, log: (s: string) => void): VitConfig {
  const preset = args.preset === undefined ? undefined : VIT_PRESETS[args.preset];
  if (args.preset !== undefined && !preset) throw new Error(`unknown --preset ${args.preset} (known: ${Object.keys(VIT_PRESETS).join(', ')})`);
  const width = backbone.get('patch_embed.proj.weight')?.shape[0];
  const base = preset ?? Object.values(VIT_PRESETS).find((c) => c.embedDim === width) ?? VIT_PRESETS['vit-s8'];
  // With a preset, heads do not take part in the comparison (shapes cannot show them).
  const { cfg, notes } = inferVitConfig(backbone, base, { heads: args.heads ?? (preset ? 1 : undefined), file: args.checkpoint });
  if (preset) {
    const same = (['patchSize', 'embedDim', 'depth', 'inChans', 'qkvBias'] as const).every((k) => cfg[k] === preset[k]) &&
      Math.round(cfg.embedDim * cfg.mlpRatio) === Math.round(preset.embedDim * preset.mlpRatio);
    if (!same) {
      throw new CheckpointError(`is not a '${args.preset}' ViT: expected ${describeArch(preset)}; found ${describeArch(cfg)}`, { file: args.checkpoint });
    }
    // The preset's heads unless --heads; the grid is the checkpoint's (other sizes interpolate).
    return { ...cfg, numHeads: args.heads ?? preset.numHeads };
  }
  log(`embed: architecture inferred: ${notes.join('; ')}`);
  return cfg;
}

export const embedCommand: CommandModule<object, EmbedArgs> = {
  command: 'embed',
  describe: 'Print the ViT CLS feature of each frame (a folder of images or one image)',
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'backbone weights: .safetensors or .pth (DINO plain/full, MeDiVLAD stage 1/2)' })
      .option('frames', { type: 'string', demandOption: true, describe: 'a folder of PNG/JPEG frames or one image' })
      .option('preset', { type: 'string', choices: Object.keys(VIT_PRESETS), describe: 'require this architecture (default: read it from the tensor shapes)' })
      .option('size', { type: 'number', describe: "input size in pixels (default: the checkpoint's native size); a multiple of the patch" })
      .option('heads', { type: 'number', describe: 'attention heads (not visible in shapes; default: the preset of that width, else width / 64)' })
      .option('key', { type: 'string', choices: ['teacher', 'student'], describe: "network of a DINO full checkpoint (default 'teacher')" })
      .option('mean', { type: 'number', default: LUS_MEAN, describe: 'normalisation mean (SPEC §3: LUS pixel mean)' })
      .option('std', { type: 'number', default: LUS_STD, describe: 'normalisation std (SPEC §3: LUS pixel std)' })
      .option('batch', { type: 'number', default: 8, describe: 'frames per forward pass' })
      .option('json', { type: 'boolean', default: false, describe: 'print [{"file", "feature": [...]}] as JSON' }) as never,
  handler: async (args) => {
    const log = (s: string) => process.stderr.write(`${s}\n`);
    if (!(args.std > 0)) throw new Error(`--std must be > 0, got ${args.std}`);
    if (!(Number.isInteger(args.batch) && args.batch >= 1)) throw new Error(`--batch must be a positive integer, got ${args.batch}`);
    if ((await nodeDataFs.kind(args.checkpoint)) !== 'file') throw new Error(`missing file ${args.checkpoint}`);
    const files = await frameFiles(args.frames);

    // ============ model ============
    const all = await readCheckpointTensors(args.checkpoint);
    const loadOpts = { file: args.checkpoint, key: args.key as BackboneKey | undefined };
    const { tensors: backbone } = backboneTensors(all, loadOpts);
    const cfg = chooseConfig(backbone, args, log);
    const size = args.size ?? cfg.imgSize;
    if (!(Number.isInteger(size) && size >= cfg.patchSize && size % cfg.patchSize === 0)) {
      throw new Error(`--size ${size} must be a positive multiple of the patch size ${cfg.patchSize}`);
    }
    await initNode({ tuneCache: true });
    const vit = new VisionTransformer(cfg).eval();
    const store = new ParameterStore(vit, { seed: 0 });
    loadBackboneWeights(vit, store, all, loadOpts);

    // ============ frames -> CLS features ============
    const results: { file: string; feature: number[] }[] = [];
    const D = cfg.embedDim;
    for (let s = 0; s < files.length; s += args.batch) {
      const chunk = files.slice(s, s + args.batch);
      const frames: Float32Array[] = [];
      for (const f of chunk) frames.push(...(await loadFrames(nodeDataFs, f, size)));
      const x = Tensor.fromArray(framesToInput(frames, size, args.mean, args.std), [frames.length, 3, size, size]);
      const y = noGrad(() => vit.forward(x)); // (B, D)
      const v = await y.toArray();
      x.dispose();
      y.dispose();
      chunk.forEach((f, b) => results.push({ file: path.basename(f), feature: Array.from(v.subarray(b * D, (b + 1) * D)) }));
    }
    store.dispose();

    if (args.json) {
      process.stdout.write(`${JSON.stringify(results)}\n`);
      return;
    }
    const lines = results.map(({ file, feature }) => {
      const norm = Math.sqrt(feature.reduce((a, b) => a + b * b, 0));
      const head = feature.slice(0, 8).map((v) => v.toFixed(4)).join(' ');
      return `${file}  [${head}${feature.length > 8 ? ' …' : ''}]  norm ${norm.toFixed(4)}`;
    });
    process.stdout.write(`${lines.join('\n')}\n`);
  },
};
