// `medivlad score --checkpoint FILE (--video FILE | --frames DIR) [--json] [--attention OUT.png]`:
// the severity of one clip from a MeDiVLAD video checkpoint (SPEC §3, §4, §9).
//   clip      a video file (decoded by ffmpeg) or a folder of frame images in natural name
//             order (f2 before f10); gray, resized to the ViT's input size (SPEC §3)
//   frames    the S = 15 evaluation frames, floor(linspace(0, T − 1, S)); short clips repeat frames
//   model     ViT CLS per frame → aggregator → softmax over the C = 3 classes
//             (class 0 = LUS score 0, 1 = scores 1–2, 2 = score 3)
//   β         the aggregator's per-frame weights (DualVLAD: softmax over frames; NetVLAD:
//             uniform; max-score: one-hot; Bi-LSTM: none); critical frame = argmax β
//   --attention  the critical frame (the middle sampled frame for the Bi-LSTM) upscaled, with
//             its last-block CLS attention, head mean, thresholded to 60% of the mass (SPEC §9),
//             overlaid as a colour heatmap; written atomically
import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { initNode } from '../node/index.js';
import { nodeDataFs } from '../node/data-io.js';
import { ensureWritableDir, writeFileAtomic } from '../node/files.js';
import { loadFrames, VIDEO_EXTS } from '../data/source.js';
import { encodePng } from '../data/png.js';
import type { Clip } from '../data/clip.js';
import { Tensor, noGrad } from '../autograd/index.js';
import { predictVideos } from '../train/video.js';
import type { MediVLAD } from '../train/video-checkpoint.js';
import { clsAttentionHeatmap, DEFAULT_MASS, type AttentionHeatmap } from '../web/attention-map.js';
import { attentionOverlay } from '../eval/overlay.js';
import { framesToInput } from './embed.js';
import { CLASS_MEANINGS, className, evalClipFeatures, loadVideoModel } from './video-io.js';

interface ScoreArgs {
  checkpoint: string;
  video?: string;
  frames?: string;
  json: boolean;
  attention?: string;
  batch: number;
}

/** What `score --json` prints. */
export interface ScoreReport {
  format: 'medivlad-score';
  checkpoint: string;
  aggregator: string;
  input: { path: string; kind: 'video' | 'frames'; frames: number; size: number };
  /** softmax over the classes. */
  probabilities: number[];
  predicted: number;
  classes: { class: number; lus: string; meaning: string; probability: number }[];
  /** Source frame index of each of the S slots. */
  frames: number[];
  /** Per-slot weight β, or null (Bi-LSTM). */
  beta: number[] | null;
  critical: { slot: number; frame: number; beta: number } | null;
  attention: { file: string; slot: number; frame: number; theta: number } | null;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** The clip to score: a video file or a folder of frames, at the model's input size. */
async function loadClip(args: ScoreArgs, size: number): Promise<{ clip: Clip; kind: 'video' | 'frames'; file: string }> {
  const file = (args.video ?? args.frames) as string;
  const kind = args.video !== undefined ? 'video' : 'frames';
  const found = await nodeDataFs.kind(file);
  if (found === null) throw new Error(`--${kind}: missing ${kind === 'video' ? 'file' : 'folder'} ${file}`);
  if (kind === 'video' && found !== 'file') throw new Error(`--video ${file} is a folder; a folder of frame images is --frames`);
  if (kind === 'video' && !VIDEO_EXTS.includes(path.extname(file).toLowerCase())) {
    throw new Error(`--video ${file}: unknown video type '${path.extname(file) || '(none)'}' (${VIDEO_EXTS.join(' ')})`);
  }
  if (kind === 'frames' && found !== 'dir') throw new Error(`--frames ${file} is a file, not a folder of frame images (a video file is --video)`);
  const frames = await loadFrames(nodeDataFs, file, size);
  const id = path.basename(file).replace(/\.[^.]*$/, '');
  return { clip: { id, patient: id, score: null, label: null, size, frames }, kind, file };
}

/** Last-block CLS attention of one gray frame at the model's size, thresholded per head (SPEC §9). */
async function frameAttention(model: MediVLAD, frame: Float32Array, theta = DEFAULT_MASS): Promise<AttentionHeatmap> {
  const size = model.vit.cfg.imgSize;
  const x = Tensor.fromArray(framesToInput([frame], size, model.arch.mean, model.arch.std), [1, 3, size, size]);
  const p = noGrad(() => model.vit.lastSelfAttention(x)); // (1, H, N, N)
  try {
    return clsAttentionHeatmap(await p.toArray(), model.vit.cfg.numHeads, theta);
  } finally {
    x.dispose();
    p.dispose();
  }
}

function printReport(r: ScoreReport, T: number): string {
  const out: string[] = [];
  out.push(`${r.input.kind} ${r.input.path}: ${T} frames; the model sees ${r.frames.length} (floor(linspace(0, T-1, ${r.frames.length})))`);
  out.push('probabilities:');
  for (const c of r.classes) out.push(`  ${className(c.class).padEnd(26)} ${c.probability.toFixed(4)}${c.class === r.predicted ? '  <- predicted' : ''}`);
  const m = CLASS_MEANINGS[r.predicted];
  out.push(`predicted: ${className(r.predicted)}${m ? `: ${m.meaning}` : ''}`);
  if (r.beta) {
    out.push('frame weights (slot, source frame, beta):');
    r.beta.forEach((b, s) => out.push(`  ${String(s).padStart(4)} ${String(r.frames[s]).padStart(6)}  ${b.toFixed(4)}${r.critical?.slot === s ? '  <- critical' : ''}`));
    const k = r.critical as NonNullable<ScoreReport['critical']>;
    out.push(`critical frame: source frame ${k.frame} (slot ${k.slot}, beta ${k.beta.toFixed(4)})`);
  } else {
    out.push(`frame weights: none (the ${r.aggregator} aggregator has no per-frame beta), so no critical frame`);
    out.push(`frames used: ${r.frames.join(' ')}`);
  }
  if (r.attention) out.push(`attention map of source frame ${r.attention.frame}: ${r.attention.file}`);
  return `${out.join('\n')}\n`;
}

export const scoreCommand: CommandModule<object, ScoreArgs> = {
  command: 'score',
  describe: 'Score one clip with a MeDiVLAD video checkpoint: class probabilities, per-frame beta, critical frame',
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'a MeDiVLAD video checkpoint (.safetensors: Embedding.* + vlad.*|lstm.* + dense.0.*)' })
      .option('video', { type: 'string', describe: `a video file (${VIDEO_EXTS.join(' ')}; decoded with ffmpeg)` })
      .option('frames', { type: 'string', describe: 'a folder of frame images (PNG/JPEG), in natural name order' })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON object (probabilities, prediction, beta, frames, critical frame)' })
      .option('attention', { type: 'string', describe: 'write the critical frame with its CLS attention heatmap (60% of the mass) to this PNG' })
      .option('batch', { type: 'number', default: 16, describe: 'frames per ViT forward pass' }) as never,
  handler: async (args) => {
    if ((args.video === undefined) === (args.frames === undefined)) throw new Error('give one clip: --video FILE or --frames DIR');
    if (!(Number.isInteger(args.batch) && args.batch >= 1)) throw new Error(`--batch must be a positive integer, got ${args.batch}`);
    if ((await nodeDataFs.kind(args.checkpoint)) !== 'file') throw new Error(`--checkpoint: missing file ${args.checkpoint}`);
    if (args.attention !== undefined) {
      if (path.extname(args.attention).toLowerCase() !== '.png') throw new Error(`--attention ${args.attention}: the heatmap is written as PNG; name a .png file`);
      await ensureWritableDir(path.dirname(path.resolve(args.attention)));
    }
    await initNode({ tuneCache: true });
    const { model } = await loadVideoModel(args.checkpoint);
    try {
      const size = model.vit.cfg.imgSize;
      const S = model.arch.frames;
      const { clip, kind, file } = await loadClip(args, size);

      // ============ S evaluation frames → features → aggregator → softmax ============
      const { set, frames } = await evalClipFeatures(model, [clip], { batch: args.batch });
      const { probs, beta } = await predictVideos(model.video, set, S);
      const C = model.video.config.classes;
      const p = Array.from(probs.subarray(0, C));
      const b = beta ? Array.from(beta.subarray(0, S)) : null;
      const predicted = argmax(p);
      const slot = b ? argmax(b) : null;
      const report: ScoreReport = {
        format: 'medivlad-score',
        checkpoint: args.checkpoint,
        aggregator: model.video.config.kind,
        input: { path: file, kind, frames: clip.frames.length, size },
        probabilities: p,
        predicted,
        classes: p.map((v, c) => ({ class: c, lus: CLASS_MEANINGS[c]?.lus ?? '', meaning: CLASS_MEANINGS[c]?.meaning ?? '', probability: v })),
        frames: frames[0],
        beta: b,
        critical: slot === null || b === null ? null : { slot, frame: frames[0][slot], beta: b[slot] },
        attention: null,
      };

      // ============ attention heatmap of the critical frame ============
      if (args.attention !== undefined) {
        const aSlot = slot ?? S >> 1; // no β (Bi-LSTM): the middle sampled frame
        const t = frames[0][aSlot];
        const heat = await frameAttention(model, clip.frames[t]);
        const why = slot === null ? `middle sampled frame (${report.aggregator}: no beta)` : `critical frame, beta ${(b as number[])[aSlot].toFixed(3)}`;
        const img = attentionOverlay(clip.frames[t], size, heat.thresholded, heat.grid, {
          title: [`${path.basename(file)}: frame ${t} (of 0-${clip.frames.length - 1})`, why, `${className(predicted)}, p ${p[predicted].toFixed(3)}`],
        });
        await writeFileAtomic(args.attention, await encodePng(img));
        report.attention = { file: args.attention, slot: aSlot, frame: t, theta: heat.theta };
      }

      process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : printReport(report, clip.frames.length));
    } finally {
      model.dispose();
    }
  },
};
