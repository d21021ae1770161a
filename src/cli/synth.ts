// `medivlad synth`: write the synthetic LUS data set (PNG frames + manifest.csv, the same
// layout real data uses) and/or contact sheets to look at it next to real frames.
//
//   medivlad synth --out data/synth --videos 64 --frames 15 --size 112 --seed 0
//   medivlad synth --preview docs/img/synthetic-contact-sheet.png
//   medivlad synth --real-preview docs/img/real-contact-sheet.png --real-dir ../shared/data/pocus-lus
//
// Outputs appear atomically: the data set is written into OUT.tmp-<pid> and renamed; each
// PNG sheet is written to a temp file and renamed.

import type { CommandModule } from 'yargs';
import * as path from 'node:path';
import { promises as fsp } from 'node:fs';
import { SYNTH_DEFAULTS, SYNTH_EXTRA_COLUMNS, synthClip, synthItem, synthSpecs, type SynthClipSpec } from '../data/synth.js';
import { formatManifest, isExpertLabel } from '../data/manifest.js';
import { encodePng } from '../data/png.js';
import { toUint8 } from '../data/resize.js';
import { contactSheet, type SheetRow } from '../data/contact-sheet.js';
import { openManifest } from '../data/source.js';
import { BadInputLog, type Clip } from '../data/clip.js';
import { nodeDataFs, writeDirAtomic, writeFileAtomic } from '../node/data-io.js';

export interface SynthRunOptions {
  /** Data-set folder to write (frames/<id>/fNN.png + manifest.csv); omit to write only sheets. */
  out?: string;
  videos?: number;
  frames?: number;
  size?: number;
  seed?: number;
  /** Replace an existing --out folder. */
  force?: boolean;
  /** Synthetic contact sheet PNG: rows = LUS scores 0..3. */
  preview?: string;
  /** Real contact sheet PNG from realDir's manifest: rows = classes 0..2. */
  realPreview?: string;
  realDir?: string;
  /** Clips per row and frames per clip on the sheets. */
  previewClips?: number;
  previewFrames?: number;
  log?: (line: string) => void;
}

export interface SynthRunResult {
  out: string | null;
  clips: number;
  files: number;
  scoreCounts: number[]; // clips per LUS score 0..3
  msPerFrame: number; // generation only
  preview: string | null;
  realPreview: string | null;
}

export const DEFAULT_REAL_DIR = '../shared/data/pocus-lus';

export async function runSynth(o: SynthRunOptions): Promise<SynthRunResult> {
  const videos = o.videos ?? SYNTH_DEFAULTS.videos, frames = o.frames ?? SYNTH_DEFAULTS.frames;
  const size = o.size ?? SYNTH_DEFAULTS.size, seed = o.seed ?? SYNTH_DEFAULTS.seed;
  const log = o.log ?? (() => {});
  if (!o.out && !o.preview && !o.realPreview) throw new Error('synth: give --out DIR, --preview FILE and/or --real-preview FILE');
  for (const [k, v] of [['videos', videos], ['frames', frames], ['size', size]] as const)
    if (!Number.isInteger(v) || v < (k === 'size' ? 16 : 1)) throw new Error(`synth: --${k} must be an integer >= ${k === 'size' ? 16 : 1}, got ${v}`);
  const result: SynthRunResult = { out: null, clips: 0, files: 0, scoreCounts: [0, 0, 0, 0], msPerFrame: 0, preview: null, realPreview: null };

  // ============ the data set
  if (o.out) {
    const specs = synthSpecs({ videos, seed });
    let genMs = 0;
    await writeDirAtomic(o.out, async (tmp) => {
      const digits = Math.max(2, String(frames - 1).length);
      for (const spec of specs) {
        const t0 = performance.now();
        const clip = synthClip(spec, frames, size);
        genMs += performance.now() - t0;
        const dir = path.join(tmp, 'frames', spec.id);
        const pngs = await Promise.all(clip.frames.map((f) => encodePng({ width: size, height: size, channels: 1, data: toUint8(f) })));
        await fsp.mkdir(dir, { recursive: true });
        await Promise.all(pngs.map((b, j) => fsp.writeFile(path.join(dir, `f${String(j).padStart(digits, '0')}.png`), b)));
        result.files += pngs.length;
        result.scoreCounts[spec.score]++;
      }
      const items = specs.map((s) => synthItem(s, frames));
      await fsp.writeFile(path.join(tmp, 'manifest.csv'), formatManifest(items, SYNTH_EXTRA_COLUMNS));
      result.files++;
    }, o.force);
    result.out = o.out;
    result.clips = specs.length;
    result.msPerFrame = genMs / (specs.length * frames);
    log(`synth: wrote ${specs.length} clips x ${frames} frames at ${size}px to ${o.out} ` +
      `(scores 0/1/2/3: ${result.scoreCounts.join('/')}; ${result.msPerFrame.toFixed(2)} ms per frame generated)`);
  }

  // ============ contact sheets
  const perRow = o.previewClips ?? 3, F = o.previewFrames ?? 3;
  if (o.preview) {
    const rows: SheetRow[] = [0, 1, 2, 3].map((s) => ({ label: `SCORE ${s}`, clips: [] as Clip[] }));
    for (const spec of pickPerScore(seed, Math.max(videos, 4 * perRow), perRow))
      rows[spec.score].clips.push(synthClip(spec, frames, size));
    await writeFileAtomic(o.preview, await encodePng(contactSheet(rows, { framesPerClip: F })));
    result.preview = o.preview;
    log(`synth: wrote synthetic contact sheet ${o.preview} (rows = LUS score 0..3, ${perRow} clips x ${F} frames)`);
  }
  if (o.realPreview) {
    const dir = o.realDir ?? DEFAULT_REAL_DIR;
    const src = await openManifest(nodeDataFs, path.join(dir, 'manifest.csv'), { size, log: new BadInputLog(true) });
    const rows: SheetRow[] = [];
    for (const c of [0, 1, 2]) {
      // expert-scored videos first, one clip per patient while possible
      const cand = src.items.map((it, i) => ({ it, i })).filter(({ it }) => it.label === c)
        .sort((a, b) => rank(a.it) - rank(b.it) || a.i - b.i);
      const chosen: number[] = [];
      const seen = new Set<string>();
      for (const pass of [0, 1])
        for (const { it, i } of cand)
          if (chosen.length < perRow && !chosen.includes(i) && (pass === 1 || !seen.has(it.patient))) {
            chosen.push(i);
            seen.add(it.patient);
          }
      const clips: Clip[] = [];
      for (const i of chosen) clips.push(await src.load(i));
      rows.push({ label: `CLASS ${c}`, clips });
    }
    await writeFileAtomic(o.realPreview, await encodePng(contactSheet(rows, { framesPerClip: F })));
    result.realPreview = o.realPreview;
    log(`synth: wrote real contact sheet ${o.realPreview} from ${dir} (rows = class 0..2)`);
  }
  return result;
}

/** Rank for the real sheet: expert convex videos first, then proxy labels, then images. */
function rank(it: { columns: Record<string, string> } & Parameters<typeof isExpertLabel>[0]): number {
  return (isExpertLabel(it) ? 0 : 2) + (it.columns['media_type'] === 'image' ? 1 : 0) + (it.columns['probe'] === 'linear' ? 4 : 0);
}

/** The first `perRow` clips of each score among the first `n` specs (more specs if needed). */
function pickPerScore(seed: number, n: number, perRow: number): SynthClipSpec[] {
  for (let m = n; ; m *= 2) {
    const specs = synthSpecs({ videos: m, seed });
    const counts = [0, 0, 0, 0];
    const out: SynthClipSpec[] = [];
    for (const s of specs) if (counts[s.score] < perRow) {
      counts[s.score]++;
      out.push(s);
    }
    if (counts.every((c) => c === perRow) || m > 4096) return out;
  }
}

interface SynthArgs {
  out?: string;
  videos: number;
  frames: number;
  size: number;
  seed: number;
  force: boolean;
  preview?: string;
  'real-preview'?: string;
  'real-dir': string;
  'preview-clips': number;
  'preview-frames': number;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write the synthetic lung-ultrasound data set (PNG frames + manifest.csv) and/or contact sheets',
  builder: (y) =>
    y
      .option('out', { type: 'string', describe: 'data-set folder to create (frames/<id>/fNN.png + manifest.csv)' })
      .option('videos', { type: 'number', default: SYNTH_DEFAULTS.videos, describe: 'number of clips' })
      .option('frames', { type: 'number', default: SYNTH_DEFAULTS.frames, describe: 'frames per clip (the model samples 15)' })
      .option('size', { type: 'number', default: SYNTH_DEFAULTS.size, describe: 'frame side in pixels (>= 112 keeps B-lines visible)' })
      .option('seed', { type: 'number', default: SYNTH_DEFAULTS.seed, describe: 'data-set seed: same seed, same clips' })
      .option('force', { type: 'boolean', default: false, describe: 'replace an existing --out folder' })
      .option('preview', { type: 'string', describe: 'write a contact sheet PNG of synthetic clips (rows = LUS score 0..3)' })
      .option('real-preview', { type: 'string', describe: 'write a contact sheet PNG of real clips (rows = class 0..2)' })
      .option('real-dir', { type: 'string', default: DEFAULT_REAL_DIR, describe: 'real data set with manifest.csv, for --real-preview' })
      .option('preview-clips', { type: 'number', default: 3, describe: 'clips per contact-sheet row' })
      .option('preview-frames', { type: 'number', default: 3, describe: 'frames per clip on the contact sheets' }) as never,
  handler: async (a) => {
    await runSynth({
      out: a.out, videos: a.videos, frames: a.frames, size: a.size, seed: a.seed, force: a.force, preview: a.preview,
      realPreview: a['real-preview'], realDir: a['real-dir'], previewClips: a['preview-clips'], previewFrames: a['preview-frames'],
      log: (l) => process.stdout.write(`${l}\n`),
    });
  },
};
