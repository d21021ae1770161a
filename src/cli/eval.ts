// `medivlad eval --checkpoint FILE --data synthetic|MANIFEST|FOLDER [--fold 0|1] [--fold-seed 0]
// [--json] [--out DIR]`: a MeDiVLAD video checkpoint on the test clips of one patient-disjoint
// fold (SPEC §2, §6).
//   folds     patientFolds(clips, 2, fold-seed), the construction every stage uses
//             (src/train/frame-data.ts frameSplits), so a checkpoint trained on one fold's
//             training side is scored here on its test side
//   clips     evaluation sampling: S = 15 frames at floor(linspace(0, T − 1, S)), the clean view,
//             the checkpoint's normalisation (SPEC §3); features → aggregator → softmax
//             (src/train/video.ts evaluateVideos, as the trainer reports its test fold)
//   metrics   accuracy, weighted F1, macro one-vs-rest ROC-AUC, per-class recall, confusion
//             matrix (src/eval/metrics.ts, sklearn's conventions)
//   --out     eval.json (all of it, per clip too), confusion.png, roc.png; each written atomically
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { initNode } from '../node/index.js';
import { nodeDataFs } from '../node/data-io.js';
import { ensureWritableDir, writeFileAtomic } from '../node/files.js';
import { patientFolds } from '../data/folds.js';
import { encodePng } from '../data/png.js';
import { rocCurvesOvr, type ClassificationReport } from '../eval/metrics.js';
import { heatmap, lineChart, seriesColor, MUTED, type Series } from '../plot/index.js';
import { classCounts } from '../train/frame-data.js';
import { evaluateVideos } from '../train/video.js';
import { CLASS_MEANINGS, className, evalClipFeatures, loadVideoModel } from './video-io.js';
import { loadClips } from './clips.js';

interface EvalArgs {
  checkpoint: string;
  data: string;
  fold: number;
  'fold-seed': number;
  json: boolean;
  out?: string;
  videos: number;
  frames: number;
  batch: number;
  'skip-bad': boolean;
}

function positiveInt(name: string, v: number): void {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : `${(100 * v).toFixed(1)}%`);
const num = (v: number) => (Number.isNaN(v) ? 'n/a' : v.toFixed(4));

function printReport(r: ClassificationReport, head: string): string {
  const C = r.confusion.length;
  const hits = r.confusion.reduce((s, row, c) => s + row[c], 0);
  const out = [head];
  out.push(`accuracy     ${pct(r.accuracy)} (${hits}/${r.n})`);
  out.push(`weighted F1  ${num(r.weightedF1)}`);
  out.push(`macro AUC    ${num(r.auc.macro)} (one-vs-rest, mean over ${r.auc.definedClasses} of ${C} classes: ` +
    `${r.auc.perClass.map((a, c) => `class ${c} ${num(a)}`).join(', ')})`);
  out.push('recall');
  r.recall.forEach((v, c) => out.push(`  ${className(c).padEnd(26)} ${pct(v)} of ${r.confusion[c].reduce((a, b) => a + b, 0)}`));
  out.push('confusion (rows: true class, columns: predicted class)');
  out.push(`        ${Array.from({ length: C }, (_, c) => `pred ${c}`.padStart(7)).join('')}`);
  r.confusion.forEach((row, c) => out.push(`  true ${c}${row.map((v) => String(v).padStart(7)).join('')}`));
  return `${out.join('\n')}\n`;
}

/** Class names short enough for a 56-pixel matrix cell. */
const short = (c: number) => CLASS_MEANINGS[c]?.short ?? `class ${c}`;

async function writePlots(dir: string, r: ClassificationReport, labels: number[], probs: Float32Array, fold: number): Promise<string[]> {
  const C = r.confusion.length;
  const names = Array.from({ length: C }, (_, c) => short(c));
  const cm = heatmap({ matrix: r.confusion, rowLabels: names, colLabels: names, title: `confusion, fold ${fold}: ${r.n} clips` });
  const series: Series[] = [{ name: 'chance', x: [0, 1], y: [0, 1], color: MUTED, dash: [5, 4], width: 1 }];
  rocCurvesOvr(labels, probs, C).forEach((curve, c) => {
    if (curve) series.push({ name: `${names[c]}: AUC ${r.auc.perClass[c].toFixed(3)}`, x: curve.fpr, y: curve.tpr, color: seriesColor(c) });
  });
  const roc = lineChart({
    title: `ROC one-vs-rest, fold ${fold}`, xLabel: 'false positive rate', yLabel: 'true positive rate',
    xRange: [0, 1], yRange: [0, 1], legend: 'bottom-right', width: 480, height: 420, series,
  });
  const files = [path.join(dir, 'confusion.png'), path.join(dir, 'roc.png')];
  await writeFileAtomic(files[0], await encodePng(cm));
  await writeFileAtomic(files[1], await encodePng(roc));
  return files;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a MeDiVLAD video checkpoint on the test clips of one patient-disjoint fold',
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a MeDiVLAD video checkpoint (.safetensors)' })
      .option('data', { type: 'string', default: 'synthetic', describe: "'synthetic', or a labelled manifest CSV / folder of clips" })
      .option('fold', { type: 'number', default: 0, describe: 'test fold (0 or 1) of the 2 patient-disjoint folds' })
      .option('fold-seed', { type: 'number', default: 0, describe: 'seed of the fold split (the one training used; also the synthetic data seed)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the eval.json object to stdout instead of the table' })
      .option('out', { type: 'string', describe: 'write eval.json, confusion.png and roc.png here' })
      .option('videos', { type: 'number', default: 64, describe: 'synthetic data: number of clips (the default of train-video: same clips)' })
      .option('frames', { type: 'number', default: 20, describe: 'synthetic data: frames per clip (the default of train-video)' })
      .option('batch', { type: 'number', default: 16, describe: 'frames per ViT forward pass' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' }) as never,
  handler: async (args) => {
    const say = (l: string) => process.stderr.write(`${l}\n`);
    for (const k of ['videos', 'frames', 'batch'] as const) positiveInt(k, args[k]);
    if (args.fold !== 0 && args.fold !== 1) throw new Error(`--fold must be 0 or 1, got ${args.fold}`);
    if (!Number.isInteger(args['fold-seed'])) throw new Error(`--fold-seed must be an integer, got ${args['fold-seed']}`);
    if ((await nodeDataFs.kind(args.checkpoint)) !== 'file') throw new Error(`--checkpoint: missing file ${args.checkpoint}`);
    if (args.out !== undefined) await ensureWritableDir(args.out);
    await initNode({ tuneCache: true });
    const { model, parsed } = await loadVideoModel(args.checkpoint);
    try {
      // ============ data: the test side of the fold ============
      const clips = await loadClips(args.data, model.vit.cfg.imgSize, { videos: args.videos, frames: args.frames, seed: args['fold-seed'], skipBad: args['skip-bad'], command: 'eval', need: 'labelled' });
      const fold = patientFolds(clips, 2, args['fold-seed']).folds[args.fold];
      if (fold.test.length === 0) throw new Error(`fold ${args.fold} has no test clips`);
      const test = fold.test.map((i) => clips[i]);
      const counts = classCounts(test.map((c) => c.label as number), model.video.config.classes);
      say(`data ${args.data}: fold ${args.fold} (fold seed ${args['fold-seed']}): ${test.length} test clips, classes ${counts.join('/')}`);

      // ============ features → aggregator → metrics ============
      const S = model.arch.frames;
      const { set, frames } = await evalClipFeatures(model, test, { batch: args.batch });
      const v = await evaluateVideos(model.video, set, S);
      const r = v.report;
      const C = model.video.config.classes;
      const result = {
        format: 'medivlad-video-eval',
        checkpoint: args.checkpoint,
        aggregator: model.video.config.kind,
        frames_per_clip: S,
        accuracy: r.accuracy,
        weighted_f1: r.weightedF1,
        auc: { macro: r.auc.macro, per_class: r.auc.perClass, defined_classes: r.auc.definedClasses },
        recall: r.recall,
        confusion: r.confusion,
        data: { source: args.data, fold: args.fold, fold_seed: args['fold-seed'], clips: test.length, classes: counts },
        clips: test.map((c, i) => ({
          id: c.id, patient: c.patient, label: v.labels[i], predicted: r.predictions[i],
          probs: Array.from(v.probs.subarray(i * C, (i + 1) * C)),
          beta: v.beta ? Array.from(v.beta.subarray(i * S, (i + 1) * S)) : null,
          frames: frames[i],
        })),
        checkpoint_metadata: Object.fromEntries(Object.entries(parsed.metadata).filter(([k]) => k !== 'arch')),
        outputs: [] as string[],
      };

      // ============ outputs ============
      if (args.out !== undefined) {
        result.outputs = [path.join(args.out, 'eval.json'), ...(await writePlots(args.out, r, v.labels, v.probs, args.fold))];
        // NaN (an undefined AUC or recall) becomes null in JSON; number arrays stay on one line.
        const text = `${JSON.stringify(result, null, 1).replace(/\[[-\d.e+,\s]*\]/g, (a) => a.replace(/\s+/g, ''))}\n`;
        await writeFileAtomic(result.outputs[0], new TextEncoder().encode(text));
        say(`wrote ${result.outputs.join(', ')}`);
      }
      const head = `${model.video.config.kind} on fold ${args.fold}: ${r.n} clips, ${S} frames each`;
      process.stdout.write(args.json ? `${JSON.stringify(result)}\n` : printReport(r, head));
    } finally {
      model.dispose();
    }
  },
};
