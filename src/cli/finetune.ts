// `medivlad finetune`: MeDiVLAD stage 2 (SPEC §6, §7), a frame classifier on a ViT backbone,
// evaluated on one of the two patient-disjoint folds.
//   --backbone FILE|random   any layout load-backbone.ts reads (DINO plain/full, our pretrain
//                            checkpoint's teacher, MeDiVLAD stage 1/2, a frame checkpoint)
//   --mode probe             frozen backbone; by default the head trains on cached features
//          finetune          the whole ViT trains with the head (same AdamW)
//          linear-eval       DINO eval_linear: last-4 CLS, SGD
// Model selection uses patients held out of the training fold; the other fold is only reported.
//   out/frame.safetensors    backbone.* + linear.0.* (SPEC §8 stage 2 names), atomic
//   out/frame-metrics.json   test accuracy, k-NN of the backbone, per-frame labels, predictions
//                            and probabilities, the epochs, the data split and the config
// Also loadFrameModel / saveFrameModel, the Node side of frame checkpoints (later stages load them).
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { initNode } from '../node/index.js';
import { nodeDataFs } from '../node/data-io.js';
import { ensureWritableDir, loadSafetensors, readFileChecked, saveSafetensors, writeFileAtomic } from '../node/files.js';
import { parsePth } from '../models/pth.js';
import { readCheckpointTensors } from './embed.js';
import { CheckpointError, type StateDictEntry } from '../models/checkpoint.js';
import { VIT_PRESETS, type VitConfig } from '../models/vit.js';
import { backboneTensors, inferVitConfig, loadBackboneWeights, type BackboneKey } from '../models/load-backbone.js';
import { LUS_MEAN, LUS_STD } from '../data/preprocess.js';
import { FrameModel, frameModelFromCheckpoint, parseFrameCheckpoint, type ParsedFrameCheckpoint } from '../train/frame-model.js';
import { frameSplits, classCounts } from '../train/frame-data.js';
import { FrameTrainer, frameConfig, FRAME_MODES, type FrameConfig, type FrameMode } from '../train/frame.js';
import { loadClips } from './clips.js';

/** Read a frame checkpoint (.safetensors, or MeDiVLAD's stage-2 .pth) and rebuild its model on the GPU. */
export async function loadFrameModel(file: string): Promise<{ model: FrameModel; checkpoint: ParsedFrameCheckpoint }> {
  const ext = path.extname(file).toLowerCase();
  let parsed;
  if (ext === '.safetensors') parsed = await loadSafetensors(file);
  else if (ext === '.pth' || ext === '.pt') parsed = { tensors: (await parsePth(await readFileChecked(file, 'checkpoint'), { file })).tensors, metadata: {} };
  else throw new CheckpointError(`unknown checkpoint type '${ext || '(none)'}' (expected .safetensors or .pth)`, { file });
  const checkpoint = parseFrameCheckpoint(parsed.tensors, parsed.metadata, file);
  return { model: frameModelFromCheckpoint(checkpoint, file), checkpoint };
}

/** Write a frame checkpoint atomically (backbone.* + linear.0.*, arch in the metadata). */
export async function saveFrameModel(file: string, model: FrameModel, extra: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(file, await model.checkpointTensors(), model.checkpointMetadata(extra));
}

/** A checkpoint of another architecture than --preset: say so in one line, naming a preset that fits. */
function checkPreset(backbone: ReadonlyMap<string, StateDictEntry>, preset: string, file: string): void {
  const want = VIT_PRESETS[preset];
  // heads: 1 only to read the shapes (heads are not visible in them and take no part here)
  const got = inferVitConfig(backbone, want, { heads: 1, file }).cfg;
  const keys = ['patchSize', 'embedDim', 'depth', 'mlpRatio', 'inChans'] as const;
  if (keys.every((k) => got[k] === want[k])) return;
  const show = (c: VitConfig) => `patch ${c.patchSize}, width ${c.embedDim}, depth ${c.depth}, MLP ${Math.round(c.embedDim * c.mlpRatio)}`;
  const fits = Object.keys(VIT_PRESETS).find((p) => keys.every((k) => VIT_PRESETS[p][k] === got[k]));
  throw new CheckpointError(`is not a '${preset}' ViT (${show(want)}): it has ${show(got)}` + (fits ? `; use --preset ${fits}` : ''), { file });
}

interface FinetuneArgs {
  backbone: string;
  data: string;
  preset: string;
  mode: string;
  fold: number;
  out: string;
  epochs?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  'cached-features'?: boolean;
  'frames-per-clip': number;
  'val-fraction': number;
  'fold-seed': number;
  'eval-batch'?: number;
  'crop-scale'?: number;
  key?: string;
  mean: number;
  std: number;
  videos: number;
  frames: number;
  'skip-bad': boolean;
  json: boolean;
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

function checkArgs(args: FinetuneArgs): FrameConfig {
  for (const k of ['epochs', 'batch', 'frames-per-clip', 'eval-batch', 'videos', 'frames'] as const) positiveInt(k, args[k]);
  if (args.fold !== 0 && args.fold !== 1) throw new Error(`--fold must be 0 or 1, got ${args.fold}`);
  if (args.lr !== undefined && !(args.lr > 0)) throw new Error(`--lr must be > 0, got ${args.lr}`);
  if (args.seed !== undefined && !Number.isInteger(args.seed)) throw new Error(`--seed must be an integer, got ${args.seed}`);
  if (!(args['val-fraction'] > 0 && args['val-fraction'] < 1)) throw new Error(`--val-fraction must be in (0, 1), got ${args['val-fraction']}`);
  if (!(args.std > 0)) throw new Error(`--std must be > 0, got ${args.std}`);
  const cs = args['crop-scale'];
  if (cs !== undefined && !(cs > 0 && cs <= 1)) throw new Error(`--crop-scale must be in (0, 1], got ${cs}`);
  // Checked here rather than with yargs `choices`, whose multi-line message main.ts cuts to "Invalid values:".
  if (!FRAME_MODES.includes(args.mode as FrameMode)) throw new Error(`--mode must be one of ${FRAME_MODES.join(', ')}, got '${args.mode}'`);
  if (!VIT_PRESETS[args.preset]) throw new Error(`--preset must be one of ${Object.keys(VIT_PRESETS).join(', ')}, got '${args.preset}'`);
  if (args.key !== undefined && args.key !== 'teacher' && args.key !== 'student') throw new Error(`--key must be teacher or student, got '${args.key}'`);
  const mode = args.mode as FrameMode;
  if (mode === 'finetune' && args['cached-features'] === true) throw new Error('--cached-features needs a frozen backbone (--mode probe or linear-eval)');
  return frameConfig(mode, {
    ...(args.epochs !== undefined ? { epochs: args.epochs } : {}),
    ...(args.batch !== undefined ? { batch: args.batch } : {}),
    ...(args.lr !== undefined ? { lr: args.lr } : {}),
    ...(args.seed !== undefined ? { seed: args.seed } : {}),
    ...(args['cached-features'] !== undefined ? { cachedFeatures: args['cached-features'] } : {}),
    ...(args['eval-batch'] !== undefined ? { evalBatch: args['eval-batch'] } : {}),
    ...(args['crop-scale'] !== undefined ? { cropScale: [args['crop-scale'], 1] as [number, number] } : {}),
    valFraction: args['val-fraction'],
  });
}

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: 'finetune',
  describe: 'Frame classifier (MeDiVLAD stage 2): linear probe, fine-tuning or DINO linear eval on one fold',
  builder: (y) =>
    y
      .option('backbone', { type: 'string', demandOption: true, describe: "backbone weights (.safetensors / .pth: DINO, pretrain checkpoint's teacher, MeDiVLAD stage 1/2), or 'random'" })
      .option('data', { type: 'string', default: 'synthetic', describe: "'synthetic', or a labelled manifest CSV / folder of clips" })
      .option('preset', { type: 'string', default: 'tiny', describe: `ViT architecture and input size, ${Object.keys(VIT_PRESETS).join(' | ')} (the checkpoint must match it)` })
      .option('mode', {
        type: 'string', default: 'probe',
        describe: `${FRAME_MODES.join(' | ')}. probe: frozen backbone, AdamW lr 5e-4 wd 0.1, trained on features cached once ` +
          '(fast, no per-step augmentation; --no-cached-features augments every step); finetune: the whole ViT too, with ' +
          'hflip + RandomResizedCrop(0.2, 1) on the GPU; linear-eval: DINO eval_linear (last-4 CLS, SGD momentum 0.9, ' +
          'lr 0.001*batch/256 cosine to 0)',
      })
      .option('fold', { type: 'number', default: 0, describe: 'test fold (0 or 1) of the 2 patient-disjoint folds; never used for model selection' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (frame.safetensors, frame-metrics.json)' })
      .option('epochs', { type: 'number', describe: 'default: 250 (MeDiVLAD), 100 for linear-eval (DINO)' })
      .option('batch', { type: 'number', describe: 'frames per step; default 2 (MeDiVLAD), 128 for linear-eval' })
      .option('lr', { type: 'number', describe: 'peak learning rate (cosine decay, no warm-up); default 5e-4, linear-eval 0.001*batch/256' })
      .option('seed', { type: 'number', describe: 'head init, batch order and crops (default 42, as MeDiVLAD)' })
      .option('cached-features', { type: 'boolean', describe: 'train a frozen-backbone head on features extracted once (default for probe and linear-eval)' })
      .option('frames-per-clip', { type: 'number', default: 2, describe: 'labelled frames taken from each clip (centres of equal segments; MeDiVLAD has ~2 per video)' })
      .option('val-fraction', { type: 'number', default: 0.2, describe: "share of the training fold's patients held out for model selection" })
      .option('fold-seed', { type: 'number', default: 0, describe: 'seed of the fold split (keep it fixed so every stage sees the same folds; also the synthetic data seed)' })
      .option('crop-scale', { type: 'number', describe: 'smallest area share of the training RandomResizedCrop (default 0.2 as MeDiVLAD at 224 px, 0.08 for linear-eval; 1 = flips only)' })
      .option('eval-batch', { type: 'number', describe: 'frames per forward pass when extracting features (default 16)' })
      .option('key', { type: 'string', describe: "teacher | student: network of a DINO full / pretrain checkpoint (default 'teacher')" })
      .option('mean', { type: 'number', default: LUS_MEAN, describe: 'normalisation mean (SPEC §3: the paper\'s LUS value)' })
      .option('std', { type: 'number', default: LUS_STD, describe: 'normalisation std (SPEC §3)' })
      .option('videos', { type: 'number', default: 64, describe: 'synthetic data: number of clips' })
      .option('frames', { type: 'number', default: 8, describe: 'synthetic data: frames per clip' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' })
      .option('json', { type: 'boolean', default: false, describe: 'print frame-metrics.json to stdout as well' }) as never,
  handler: async (args) => {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const cfg = checkArgs(args);
    const vitCfg = VIT_PRESETS[args.preset];
    if (args.backbone !== 'random' && (await nodeDataFs.kind(args.backbone)) !== 'file') throw new Error(`--backbone: missing file ${args.backbone} (or say 'random')`);
    await ensureWritableDir(args.out);

    // ============ model (before the data: a wrong checkpoint fails fast) ============
    const loadOpts = { file: args.backbone, key: args.key as BackboneKey | undefined };
    const all = args.backbone === 'random' ? null : await readCheckpointTensors(args.backbone);
    if (all) checkPreset(backboneTensors(all, loadOpts).tensors, args.preset, args.backbone);
    await initNode({ tuneCache: true });
    const model = new FrameModel({ vit: vitCfg, preset: args.preset, lastN: cfg.lastN, classes: 3 }, { seed: cfg.seed, headInit: cfg.headInit });
    let layout = 'random';
    let trainer: FrameTrainer | null = null;
    try {
      if (all) {
        layout = loadBackboneWeights(model.vit, model.vitStore, all, loadOpts).layout;
        say(`backbone ${args.backbone} (${layout} layout)`);
      } else say(`backbone: random init (seed ${cfg.seed})`);

      // ============ data: folds by patient, validation inside the training fold ============
      const clips = await loadClips(args.data, vitCfg.imgSize, { videos: args.videos, frames: args.frames, seed: args['fold-seed'], skipBad: args['skip-bad'], command: 'finetune', need: 'labelled' });
      const splits = frameSplits(clips, { fold: args.fold, foldSeed: args['fold-seed'], valFraction: cfg.valFraction, perClip: args['frames-per-clip'] });
      const { train, val, test } = splits;
      say(`data ${args.data}: fold ${args.fold}: ${train.frames.length} train / ${val.frames.length} val / ${test.frames.length} test frames ` +
        `(${splits.clips.train.length} / ${splits.clips.val.length} / ${splits.clips.test.length} clips)`);

      // ============ training, selection, test fold ============
      const norm = { mean: args.mean, std: args.std };
      trainer = new FrameTrainer(model, cfg, { train, val, test, norm }, { progress: say });
      const r = await trainer.run();

      // ============ outputs ============
      const ckpt = path.join(args.out, 'frame.safetensors');
      await saveFrameModel(ckpt, model, {
        mode: cfg.mode, config: JSON.stringify(cfg), mean: String(norm.mean), std: String(norm.std),
        best_epoch: String(r.bestEpoch), fold: String(args.fold), fold_seed: String(args['fold-seed']), backbone: args.backbone,
      });
      const metrics = {
        format: 'medivlad-frame-metrics',
        accuracy: r.test.accuracy,
        knn: r.knn,
        // TODO(lead): weighted F1 and macro AUC from src/eval/metrics.ts (test.labels / test.probs below).
        selection: { rule: r.selection, best_epoch: r.bestEpoch, val: r.val },
        test: { n: r.test.labels.length, loss: r.test.loss, labels: r.test.labels, predictions: r.test.predictions, probs: r.test.probs, ids: r.test.ids, frames: r.test.frames },
        epochs: r.epochs,
        data: {
          source: args.data, fold: args.fold, fold_seed: args['fold-seed'], frames_per_clip: args['frames-per-clip'], norm,
          frames: { train: train.frames.length, val: val.frames.length, test: test.frames.length },
          clips: { train: splits.clips.train.length, val: splits.clips.val.length, test: splits.clips.test.length },
          classes: { train: classCounts(train.labels), val: classCounts(val.labels), test: classCounts(test.labels) },
        },
        backbone: { source: args.backbone, layout, preset: args.preset, arch: vitCfg },
        config: cfg,
        checkpoint: ckpt,
      };
      // One line per number array (labels, predictions, each frame's probabilities), for reading by eye.
      const text = `${JSON.stringify(metrics, null, 1).replace(/\[[-\d.e+,\s]*\]/g, (a) => a.replace(/\s+/g, ''))}\n`;
      await writeFileAtomic(path.join(args.out, 'frame-metrics.json'), new TextEncoder().encode(text));
      say(`wrote ${ckpt} and ${path.join(args.out, 'frame-metrics.json')}`);
      if (args.json) process.stdout.write(text);
    } finally {
      trainer?.dispose();
      model.dispose();
    }
  },
};
