// `medivlad pretrain`: DINO self-distillation on lung-ultrasound frames (SPEC §7), on the
// built-in synthetic data or a manifest / folder of real clips.
//   out/log.jsonl          one line per iteration (loss, lr, wd, momentum, teacher temperature,
//                          collapse monitors at log points)
//   out/epochs.jsonl       one line per epoch (k-NN top-1 of the teacher)
//   out/checkpoint.safetensors   student.*, teacher.*, optim.*, center; written atomically
//                          after every epoch, with the config and iteration in its metadata
// --resume continues from the checkpoint and reproduces the uninterrupted run bit for bit.
// Failures: before training, the output folder must be writable and have room for a checkpoint;
// a non-finite loss stops the run (or, with --skip-nonfinite, that step's update is skipped and
// logged); a lost GPU device or a failed write stops it with the reason, and the last complete
// checkpoint stays as it was.
import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initNode } from '../node/index.js';
import { DeviceLostError } from '../kernels/runtime.js';
import {
  ensureWritableDir, ensureFreeSpace, saveSafetensors, loadSafetensors, writeFileAtomic, failingWriteIo, type AtomicWriteIo,
} from '../node/files.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig, type DinoState } from '../train/dino.js';
import { VIT_PRESETS } from '../models/vit.js';
import { patientFolds } from '../data/folds.js';
import type { HostTensor } from '../models/safetensors.js';
import { loadClips } from './clips.js';

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
  'knn-every'?: number;
  resume: boolean;
  'skip-bad': boolean;
  'skip-nonfinite': boolean;
}

// ============ fault injection (test/reliability-*.test.ts; off unless the variable is set) ============
// MEDIVLAD_TEST_FAULT, comma-separated: 'nan-data' (every frame of the first clip is NaN),
// 'device-lost@IT' (device.destroy() right after iteration IT is logged), 'enospc@EPOCH' (the
// checkpoint write of that epoch fails half-way with ENOSPC).
interface Faults {
  nanData: boolean;
  deviceLostAt: number | null;
  enospcAtEpoch: number | null;
}

function parseFaults(spec: string | undefined): Faults {
  const f: Faults = { nanData: false, deviceLostAt: null, enospcAtEpoch: null };
  for (const item of (spec ?? '').split(',').filter(Boolean)) {
    const [name, arg] = item.split('@');
    const n = Number(arg);
    if (name === 'nan-data') f.nanData = true;
    else if (name !== 'device-lost' && name !== 'enospc') throw new Error(`MEDIVLAD_TEST_FAULT: unknown fault '${item}' (known: nan-data, device-lost@IT, enospc@EPOCH)`);
    else if (!Number.isInteger(n)) throw new Error(`MEDIVLAD_TEST_FAULT: '${item}' needs @<integer>`);
    else if (name === 'device-lost') f.deviceLostAt = n;
    else f.enospcAtEpoch = n;
  }
  return f;
}

function positiveInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`--${name} must be a positive integer, got ${v}`);
}

/** What checkpoint.safetensors holds: every state tensor, and the config and counters as metadata. */
export function checkpointContents(cfg: DinoConfig, s: DinoState, epoch: number): { tensors: Map<string, HostTensor>; meta: Record<string, string> } {
  const tensors = new Map<string, HostTensor>();
  for (const [n, t] of s.student) tensors.set(`student.${n}`, t);
  for (const [n, t] of s.teacher) tensors.set(`teacher.${n}`, t);
  for (const [n, t] of s.optim.tensors) tensors.set(n, t);
  tensors.set('dino_loss.center', { shape: [s.center.length], data: s.center });
  const meta = { config: JSON.stringify(cfg), it: String(s.it), epoch: String(epoch), optim_steps: JSON.stringify(s.optim.steps), format: 'medivlad-dino-checkpoint' };
  return { tensors, meta };
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

/**
 * Bytes of checkpoint.safetensors: per parameter, student + teacher + AdamW m and v (f32), the
 * center, a header entry per tensor (~100 bytes + its name) and the metadata (the config and
 * the per-tensor step counts).
 */
export function estimateCheckpointBytes(trainer: DinoTrainer): number {
  let bytes = 8 + 1024 + JSON.stringify(trainer.cfg).length + 4 * trainer.cfg.head.outDim;
  for (const b of trainer.sStore.buckets) {
    for (const s of b.segments) bytes += 4 * (4 * s.size) + 4 * (100 + s.name.length) + s.name.length + 16;
  }
  return bytes;
}

/** Append one JSON line; a failure (full disk) names the file. */
async function appendLine(path: string, value: unknown): Promise<void> {
  try {
    await appendFile(path, `${JSON.stringify(value)}\n`);
  } catch (e) {
    throw new Error(`cannot append to ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Iterations logged as skipped (non-finite) in log.jsonl, resumed runs included. */
async function skippedInLog(path: string): Promise<number[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.includes('"skipped":true'))
    .map((l) => (JSON.parse(l) as { it: number }).it);
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
      .option('knn-every', { type: 'number', default: 1, describe: 'run the k-NN monitor every N epochs (and after the last)' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from out/checkpoint.safetensors' })
      .option('skip-bad', { type: 'boolean', default: false, describe: 'turn bad data rows into warnings' })
      .option('skip-nonfinite', {
        type: 'boolean',
        default: false,
        describe: 'skip (and log) a step whose loss or gradients are NaN/Inf instead of stopping; costs one GPU wait per step',
      }) as never,
  handler: async (args) => {
    for (const k of ['epochs', 'iters-per-epoch', 'batch', 'videos', 'frames', 'size', 'log-every', 'knn-every'] as const) positiveInt(k, args[k]);
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
    const faults = parseFaults(process.env.MEDIVLAD_TEST_FAULT);
    const rt = await initNode({ tuneCache: true });
    const clips = await loadClips(args.data, size, { videos: args.videos, frames: args.frames, seed: args.seed ?? 0, skipBad: args['skip-bad'], command: 'pretrain', need: 'any' });
    if (faults.nanData) clips[0].frames.forEach((f) => f.fill(NaN));
    const labelled = clips.filter((c) => c.label !== null).length;
    const folds = labelled >= 4 ? patientFolds(clips, 2, cfg.seed).folds[0] : null;
    const trainer = new DinoTrainer(cfg, {
      clips,
      knnSplit: folds,
      knnEvery: args['knn-every'],
      progress: (l) => process.stderr.write(`\r${l}   `),
      onNonFinite: args['skip-nonfinite'] ? 'skip' : 'stop',
      onStep: async (l) => {
        await appendLine(logPath, l);
        if (l.it === faults.deviceLostAt) rt.device.destroy();
      },
      onEpoch: async (e, state) => {
        const { tensors, meta } = checkpointContents(cfg, await state(), e.epoch);
        const io: AtomicWriteIo | undefined = e.epoch === faults.enospcAtEpoch ? failingWriteIo('ENOSPC', 4096) : undefined;
        await saveSafetensors(ckpt, tensors, meta, io);
        await appendLine(epochPath, e);
        process.stderr.write(`\nepoch ${e.epoch}: k-NN top-1 ${e.knn_top1 === null ? 'n/a' : (100 * e.knn_top1).toFixed(1) + '%'}; checkpoint ${ckpt}\n`);
      },
    });
    try {
      // The checkpoint is rewritten atomically each epoch: room for one more copy (+ logs).
      await ensureFreeSpace(args.out, Math.ceil(1.1 * estimateCheckpointBytes(trainer)) + (1 << 20), `a ${cfg.arch} DINO checkpoint`);
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
        await appendLine(epochPath, { epoch: -1, knn_top1: knn0, note: 'random init' });
        process.stderr.write(`random-init k-NN top-1: ${knn0 === null ? 'n/a' : (100 * knn0).toFixed(1) + '%'}\n`);
      }
      try {
        await trainer.train();
      } catch (e) {
        if (!(e instanceof DeviceLostError)) throw e;
        const kept = existsSync(ckpt) ? `the last checkpoint ${ckpt} is intact: rerun with --resume` : 'no checkpoint was written yet';
        const why = rt.lost ? `${rt.lost.reason}${rt.lost.message ? `: ${rt.lost.message}` : ''}` : e.reason;
        throw new Error(`pretrain stopped at iteration ${trainer.it}: the GPU device was lost (${why}); ${kept}`, { cause: e });
      }
      const skipped = await skippedInLog(logPath);
      process.stderr.write(
        `\npretrain: finished at iteration ${trainer.it}; ` +
          (skipped.length ? `${skipped.length} non-finite step(s) skipped (iterations ${skipped.join(', ')}; see ${logPath})\n` : 'no step skipped\n'),
      );
    } finally {
      trainer.dispose();
    }
  },
};
