// `medivlad pretrain`: DINO self-distillation on lung-ultrasound frames (SPEC §7), on the
// built-in synthetic data or a manifest / folder of real clips.
//   out/log.jsonl          one line per iteration (loss, lr, wd, momentum, teacher temperature,
//                          collapse monitors at log points)
//   out/epochs.jsonl       one line per epoch (k-NN top-1 of the teacher)
//   out/checkpoint.safetensors   student.*, teacher.*, optim.*, center; written atomically
//                          after every epoch, with the config and iteration in its metadata
// --resume continues from the checkpoint and reproduces the uninterrupted run bit for bit.
import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initNode } from '../node/index.js';
import { nodeDataFs } from '../node/data-io.js';
import { ensureWritableDir, saveSafetensors, loadSafetensors, writeFileAtomic } from '../node/files.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig, type DinoState } from '../train/dino.js';
import { VIT_PRESETS } from '../models/vit.js';
import { synthDataset } from '../data/synth.js';
import { openInput, loadAll } from '../data/source.js';
import { BadInputLog } from '../data/clip.js';
import { patientFolds } from '../data/folds.js';
import type { Clip } from '../data/clip.js';
import type { HostTensor } from '../models/safetensors.js';

interface PretrainArgs {
  data: string;
  out: string;
  preset: string;
  epochs?: number;
  'iters-per-epoch'?: number;
  batch?: number;
  seed?: number;
  videos: number;
  frames: number;
  size?: number;
  'log-every'?: number;
  resume: boolean;
  'skip-bad': boolean;
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

async function loadClips(args: PretrainArgs, size: number): Promise<Clip[]> {
  if (args.data === 'synthetic') return synthDataset({ videos: args.videos, frames: args.frames, size, seed: args.seed ?? 0 });
  const log = new BadInputLog(args['skip-bad']);
  const source = await openInput(nodeDataFs, args.data, { size, log });
  const clips = await loadAll(source, log);
  const summary = log.summary();
  if (summary) process.stderr.write(`${summary}\n`);
  if (clips.length === 0) throw new Error(`pretrain: no usable clips in ${args.data}`);
  return clips;
}

function stateTensors(s: DinoState): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [n, t] of s.student) out.set(`student.${n}`, t);
  for (const [n, t] of s.teacher) out.set(`teacher.${n}`, t);
  for (const [n, t] of s.optim.tensors) out.set(n, t);
  out.set('dino_loss.center', { shape: [s.center.length], data: s.center });
  return out;
}

function parseState(tensors: Map<string, HostTensor>, meta: Record<string, string>): DinoState {
  const pick = (prefix: string) => new Map([...tensors].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
  const center = tensors.get('dino_loss.center');
  if (!center) throw new Error('checkpoint: dino_loss.center is missing');
  return {
    it: Number(meta.it),
    student: pick('student.'),
    teacher: pick('teacher.'),
    optim: { tensors: new Map([...tensors].filter(([n]) => n.startsWith('optim.'))), steps: JSON.parse(meta.optim_steps ?? '{}') },
    center: center.data,
  };
}

/** Keep only log lines of iterations before `it` (a killed run may have logged past its checkpoint). */
async function truncateLog(path: string, key: 'it' | 'epoch', below: number): Promise<void> {
  if (!existsSync(path)) return;
  const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as Record<string, number>)[key] < below;
    } catch {
      return false; // a line cut by a kill
    }
  });
  await writeFileAtomic(path, new TextEncoder().encode(kept.map((l) => `${l}\n`).join('')));
}

export const pretrainCommand: CommandModule<object, PretrainArgs> = {
  command: 'pretrain',
  describe: 'DINO self-distillation of a ViT on lung-ultrasound frames (synthetic or real data)',
  builder: (y) =>
    y
      .option('data', { type: 'string', default: 'synthetic', describe: "'synthetic', or a manifest CSV / folder of clips" })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder (log, checkpoint)' })
      .option('preset', { type: 'string', default: 'tiny', choices: Object.keys(DINO_PRESETS), describe: 'DINO recipe: tiny (CPU-sized) or lus (MeDiVLAD stage 1 on ViT-S/8)' })
      .option('epochs', { type: 'number' })
      .option('iters-per-epoch', { type: 'number' })
      .option('batch', { type: 'number', describe: 'images per step' })
      .option('seed', { type: 'number' })
      .option('videos', { type: 'number', default: 64, describe: 'synthetic data: number of clips' })
      .option('frames', { type: 'number', default: 8, describe: 'synthetic data: frames per clip' })
      .option('size', { type: 'number', describe: 'frame side in pixels (default: the backbone resolution)' })
      .option('log-every', { type: 'number', describe: 'read the losses every N steps' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from out/checkpoint.safetensors' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' }) as never,
  handler: async (args) => {
    for (const k of ['epochs', 'iters-per-epoch', 'batch', 'videos', 'frames', 'size', 'log-every'] as const) positiveInt(k, args[k]);
    const base = DINO_PRESETS[args.preset];
    const cfg: DinoConfig = {
      ...base,
      ...(args.epochs ? { epochs: args.epochs } : {}),
      ...(args['iters-per-epoch'] ? { itersPerEpoch: args['iters-per-epoch'] } : {}),
      ...(args.batch ? { batch: args.batch } : {}),
      ...(args.seed !== undefined ? { seed: args.seed } : {}),
      ...(args['log-every'] ? { logEvery: args['log-every'] } : {}),
    };
    await ensureWritableDir(args.out);
    const ckpt = join(args.out, 'checkpoint.safetensors');
    const logPath = join(args.out, 'log.jsonl');
    const epochPath = join(args.out, 'epochs.jsonl');
    const size = args.size ?? VIT_PRESETS[cfg.arch].imgSize;
    await initNode();
    const clips = await loadClips(args, size);
    const labelled = clips.filter((c) => c.label !== null).length;
    const folds = labelled >= 4 ? patientFolds(clips, 2, cfg.seed).folds[0] : null;
    const trainer = new DinoTrainer(cfg, {
      clips,
      knnSplit: folds,
      progress: (l) => process.stderr.write(`\r${l}   `),
      onStep: async (l) => appendFile(logPath, `${JSON.stringify(l)}\n`),
      onEpoch: async (e, state) => {
        const s = await state();
        const meta = { config: JSON.stringify(cfg), it: String(s.it), epoch: String(e.epoch), optim_steps: JSON.stringify(s.optim.steps), format: 'medivlad-dino-checkpoint' };
        await saveSafetensors(ckpt, stateTensors(s), meta);
        await appendFile(epochPath, `${JSON.stringify(e)}\n`);
        process.stderr.write(`\nepoch ${e.epoch}: k-NN top-1 ${e.knn_top1 === null ? 'n/a' : (100 * e.knn_top1).toFixed(1) + '%'}; checkpoint ${ckpt}\n`);
      },
    });
    try {
      if (args.resume) {
        if (!existsSync(ckpt)) throw new Error(`--resume: no checkpoint at ${ckpt}`);
        const f = await loadSafetensors(ckpt);
        const saved = JSON.parse(f.metadata.config ?? '{}') as DinoConfig;
        if (JSON.stringify(saved) !== JSON.stringify(cfg)) {
          throw new Error(`--resume: ${ckpt} was written with a different configuration; rerun with the same options`);
        }
        await trainer.restore(parseState(f.tensors, f.metadata), ckpt);
        await truncateLog(logPath, 'it', trainer.it);
        await truncateLog(epochPath, 'epoch', Math.floor(trainer.it / cfg.itersPerEpoch));
        process.stderr.write(`resuming at iteration ${trainer.it}\n`);
      } else {
        await writeFile(logPath, '');
        await writeFile(epochPath, '');
        const knn0 = await trainer.knn();
        await appendFile(epochPath, `${JSON.stringify({ epoch: -1, knn_top1: knn0, note: 'random init' })}\n`);
        process.stderr.write(`random-init k-NN top-1: ${knn0 === null ? 'n/a' : (100 * knn0).toFixed(1) + '%'}\n`);
      }
      await trainer.train();
      process.stderr.write('\n');
    } finally {
      trainer.dispose();
    }
  },
};
