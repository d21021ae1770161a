// `medivlad train-video`: MeDiVLAD stage 3 (SPEC §4, §5, §7) on one patient-disjoint fold.
// The frame backbone comes from an explicit frame checkpoint (stage 2; the original script
// forgot to load it) and stays frozen; its per-frame features are computed once and cached.
//   out/video-<aggregator>.safetensors   Embedding.* + vlad.*|lstm.* + dense.0.* (SPEC §8 stage 3)
//   out/video-<aggregator>.json          test metrics, per-clip probabilities and β, epochs, config
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { initNode } from '../node/index.js';
import { nodeDataFs } from '../node/data-io.js';
import { ensureWritableDir, saveSafetensors, writeFileAtomic } from '../node/files.js';
import { LUS_MEAN, LUS_STD } from '../data/preprocess.js';
import { AGGREGATOR_KINDS, type AggregatorKind } from '../models/video-models.js';
import { loadFrameModel } from './finetune.js';
import { runVideoStage, type VideoStageRun } from '../train/video-stage.js';
import { VIDEO_DEFAULTS, type VideoConfig } from '../train/video.js';
import { loadClips } from './clips.js';

interface TrainVideoArgs {
  backbone: string;
  aggregator: string;
  data: string;
  fold: number;
  out: string;
  epochs: number;
  'iters-per-epoch': number;
  batch: number;
  lr: number;
  'min-lr': number;
  'weight-decay': number;
  views: number;
  centroids: string;
  clusters: number;
  seed: number;
  'fold-seed': number;
  'val-fraction': number;
  videos: number;
  frames: number;
  'skip-bad': boolean;
  json: boolean;
}

/** Clips at the model's input size: synthetic (seeded by the fold seed, as finetune) or a manifest / folder. */
/** JSON of one trained aggregator: metrics, predictions (per clip) and the epoch log. */
export function videoRunJson(run: VideoStageRun, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const t = run.result.test;
  const C = run.full.arch.video.classes;
  const S = run.full.arch.frames;
  return {
    format: 'medivlad-video-metrics',
    aggregator: run.kind,
    ...extra,
    accuracy: t.report.accuracy,
    weighted_f1: t.report.weightedF1,
    auc_macro: t.report.auc.macro,
    auc_per_class: t.report.auc.perClass,
    recall: t.report.recall,
    confusion: t.report.confusion,
    selection: { rule: run.result.selection, best_epoch: run.result.bestEpoch, val: run.result.val },
    test: {
      ids: t.ids,
      labels: t.labels,
      predictions: Array.from(t.report.predictions),
      probs: t.ids.map((_, i) => Array.from(t.probs.subarray(i * C, (i + 1) * C))),
      beta: t.beta ? t.ids.map((_, i) => Array.from(t.beta!.subarray(i * S, (i + 1) * S))) : null,
    },
    epochs: run.result.epochs,
  };
}

function positiveInt(name: string, v: number): void {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

export const trainVideoCommand: CommandModule<object, TrainVideoArgs> = {
  command: 'train-video',
  describe: 'Video-level scoring (MeDiVLAD stage 3): DualVLAD / NetVLAD / Bi-LSTM / max-score on a frozen frame backbone, one fold',
  builder: (y) =>
    y
      .option('backbone', { type: 'string', demandOption: true, describe: 'frame checkpoint from `finetune` (backbone.* + linear.0.*; its head is the max-score baseline)' })
      .option('aggregator', { type: 'string', default: 'dualvlad', describe: `${AGGREGATOR_KINDS.join(' | ')}, or 'all'` })
      .option('data', { type: 'string', default: 'synthetic', describe: "'synthetic', or a labelled manifest CSV / folder of clips" })
      .option('fold', { type: 'number', default: 0, describe: 'test fold (0 or 1) of the 2 patient-disjoint folds' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('epochs', { type: 'number', default: VIDEO_DEFAULTS.epochs, describe: 'epochs (MeDiVLAD: 200)' })
      .option('iters-per-epoch', { type: 'number', default: VIDEO_DEFAULTS.itersPerEpoch, describe: 'steps per epoch (MeDiVLAD: 50)' })
      .option('batch', { type: 'number', default: VIDEO_DEFAULTS.batch, describe: 'clips per step, drawn uniformly with replacement (MeDiVLAD: 2)' })
      .option('lr', { type: 'number', default: VIDEO_DEFAULTS.lr, describe: 'AdamW peak lr, cosine decay, no warm-up (MeDiVLAD: 2e-3)' })
      .option('min-lr', { type: 'number', default: VIDEO_DEFAULTS.minLr, describe: 'cosine floor (MeDiVLAD: 5e-5)' })
      .option('weight-decay', { type: 'number', default: VIDEO_DEFAULTS.weightDecay, describe: 'AdamW weight decay (MeDiVLAD: 1e-5)' })
      .option('views', { type: 'number', default: 3, describe: 'feature views of each training clip: 1 clean + augmented ones (flip, jitter, centre crop; SPEC §3)' })
      .option('centroids', { type: 'string', default: VIDEO_DEFAULTS.centroids, describe: "VLAD centroids: 'class-means' of the training features (the paper's) or 'random' U[0, 1)" })
      .option('clusters', { type: 'number', default: 3, describe: 'VLAD clusters K (MeDiVLAD: 3)' })
      .option('seed', { type: 'number', default: VIDEO_DEFAULTS.seed, describe: 'initial values, batches and augmentations (MeDiVLAD: 42)' })
      .option('fold-seed', { type: 'number', default: 0, describe: 'seed of the fold split (also the synthetic data seed); keep it equal to the frame stage\'s' })
      .option('val-fraction', { type: 'number', default: 0.2, describe: "share of the training fold's patients held out for model selection" })
      .option('videos', { type: 'number', default: 64, describe: 'synthetic data: number of clips' })
      .option('frames', { type: 'number', default: 20, describe: 'synthetic data: frames per clip' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' })
      .option('json', { type: 'boolean', default: false, describe: 'print the metrics JSON to stdout' }) as never,
  handler: async (args) => {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const kinds: AggregatorKind[] = args.aggregator === 'all' ? [...AGGREGATOR_KINDS] : [args.aggregator as AggregatorKind];
    if (!kinds.every((k) => AGGREGATOR_KINDS.includes(k))) throw new Error(`--aggregator must be one of ${AGGREGATOR_KINDS.join(', ')} or all, got '${args.aggregator}'`);
    for (const k of ['epochs', 'iters-per-epoch', 'batch', 'views', 'clusters', 'videos', 'frames'] as const) positiveInt(k, args[k]);
    if (args.fold !== 0 && args.fold !== 1) throw new Error(`--fold must be 0 or 1, got ${args.fold}`);
    if (!(args.lr > 0) || !(args['min-lr'] >= 0) || !(args['weight-decay'] >= 0)) throw new Error(`--lr must be > 0 and --min-lr, --weight-decay >= 0`);
    if (args.centroids !== 'class-means' && args.centroids !== 'random') throw new Error(`--centroids must be class-means or random, got '${args.centroids}'`);
    if (!(args['val-fraction'] > 0 && args['val-fraction'] < 1)) throw new Error(`--val-fraction must be in (0, 1), got ${args['val-fraction']}`);
    if ((await nodeDataFs.kind(args.backbone)) !== 'file') throw new Error(`--backbone: missing file ${args.backbone}`);
    await ensureWritableDir(args.out);
    await initNode({ tuneCache: true });
    const { model: frame, checkpoint } = await loadFrameModel(args.backbone);
    const cfg: VideoConfig = {
      ...VIDEO_DEFAULTS,
      epochs: args.epochs, itersPerEpoch: args['iters-per-epoch'], batch: args.batch, lr: args.lr, minLr: args['min-lr'],
      weightDecay: args['weight-decay'], centroids: args.centroids, seed: args.seed,
    };
    // the frame stage's normalisation travels in its checkpoint (SPEC §3 values otherwise)
    const stageNorm = { mean: Number(checkpoint.metadata.mean ?? LUS_MEAN), std: Number(checkpoint.metadata.std ?? LUS_STD) };
    const clips = await loadClips(args.data, frame.vit.cfg.imgSize, { videos: args.videos, frames: args.frames, seed: args['fold-seed'], skipBad: args['skip-bad'], command: 'train-video', need: 'labelled' });
    say(`data ${args.data}: ${clips.length} clips; backbone ${args.backbone} (frozen)`);
    const stage = await runVideoStage(frame, clips, {
      aggregators: kinds, fold: args.fold, foldSeed: args['fold-seed'], valFraction: args['val-fraction'], views: args.views,
      cfg, clusters: args.clusters, norm: stageNorm, progress: say,
    });
    try {
      const all: Record<string, unknown>[] = [];
      for (const run of stage.runs) {
        const extra = { fold: args.fold, fold_seed: args['fold-seed'], backbone: args.backbone, data: args.data, config: cfg, views: args.views };
        const json = videoRunJson(run, extra);
        all.push(json);
        const meta2 = { fold: String(args.fold), fold_seed: String(args['fold-seed']), backbone: args.backbone, accuracy: String(run.result.test.report.accuracy) };
        await saveSafetensors(path.join(args.out, `video-${run.kind}.safetensors`), await run.full.checkpointTensors(), run.full.checkpointMetadata(meta2));
        await writeFileAtomic(path.join(args.out, `video-${run.kind}.json`), new TextEncoder().encode(`${JSON.stringify(json, null, 1)}\n`));
      }
      if (args.json) process.stdout.write(`${JSON.stringify(all.length === 1 ? all[0] : all)}\n`);
    } finally {
      stage.dispose();
      frame.dispose();
    }
  },
};
