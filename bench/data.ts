// Data pipeline benchmark: is decoding/generation fast enough that it never holds up a
// training step? Pure CPU, no GPU. Rows (ms are medians over `repeat` runs):
//   synth-clip     generate one synthetic clip (scene + T frames) at 64 and 112 px
//   pocus-decode   read + PNG-decode + grayscale + antialiased resize of one real clip
//                  (../shared/data/pocus-lus, 15 frames of 112 px) to 64 / 112 / 224 px, cold
//   batch-build    assemble a training batch (B clips, random strided 15 frames, 3 channels,
//                  normalised) from decoded clips in the cache: the per-step cost after epoch 1
// The loader builds batch i+1 while the GPU runs step i, so a step is decode-bound only if
// these numbers exceed the step time.

import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { synthSpecs, synthClip, SynthSource } from '../src/data/synth.js';
import { openManifest } from '../src/data/source.js';
import { BatchLoader } from '../src/data/loader.js';
import { Rng } from '../src/data/rng.js';
import { nodeDataFs } from '../src/node/data-io.js';

export interface DataBenchRow {
  case: string;
  size: number;
  what: string;
  ms_median: number;
  ms_min: number;
  ms_max: number;
  /** ms per frame (generation/decoding rows) or per clip (batch rows). */
  ms_per_unit: number;
  unit: 'frame' | 'clip';
}

export interface DataBenchOptions {
  repeat?: number;
  /** pocus-lus folder (default ../shared/data/pocus-lus from the working directory). */
  realDir?: string;
  log?: (line: string) => void;
}

function stats(xs: number[]): { ms_median: number; ms_min: number; ms_max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { ms_median: s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]), ms_min: s[0], ms_max: s[s.length - 1] };
}

async function time(repeat: number, f: (i: number) => Promise<void> | void): Promise<number[]> {
  for (let w = 0; w < 3; w++) await f(-1 - w); // warm-up (JIT)
  const out: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    await f(i);
    out.push(performance.now() - t0);
  }
  return out;
}

export async function benchData(opts: DataBenchOptions = {}): Promise<DataBenchRow[]> {
  const repeat = opts.repeat ?? 15;
  const log = opts.log ?? (() => {});
  const rows: DataBenchRow[] = [];
  const push = (r: DataBenchRow) => {
    rows.push(r);
    log(`${r.case.padEnd(14)} ${String(r.size).padStart(4)} px  ${r.ms_median.toFixed(2).padStart(8)} ms  ` +
      `(${r.ms_per_unit.toFixed(3)} ms/${r.unit})  ${r.what}`);
  };

  // ============ synthetic generation
  const T = 15;
  const specs = synthSpecs({ videos: repeat + 4, seed: 0 });
  for (const size of [64, 112]) {
    const s = stats(await time(repeat, (i) => void synthClip(specs[i + 3], T, size)));
    push({ case: 'synth-clip', size, what: `one clip of ${T} frames (scene + frames)`, ...s, ms_per_unit: s.ms_median / T, unit: 'frame' });
  }

  // ============ real PNG clips: read + decode + resize
  const dir = opts.realDir ?? path.resolve('../shared/data/pocus-lus');
  if (existsSync(path.join(dir, 'manifest.csv'))) {
    for (const size of [64, 112, 224]) {
      const src = await openManifest(nodeDataFs, path.join(dir, 'manifest.csv'), { size });
      const vids = src.items.map((it, i) => ({ it, i })).filter(({ it }) => it.columns.n_frames_saved === '15').map(({ i }) => i);
      const s = stats(await time(repeat, async (i) => void (await src.load(vids[(i + 3) % vids.length]))));
      push({ case: 'pocus-decode', size, what: `one real clip: ${T} PNG frames of 112 px decoded, resized to ${size}`, ...s, ms_per_unit: s.ms_median / T, unit: 'frame' });
    }
  } else log(`pocus-decode: skipped, ${dir} not found`);

  // ============ batch assembly from cached clips
  for (const [size, channels, reuse] of [[112, 3, false], [224, 3, false], [224, 3, true], [224, 1, true]] as const) {
    const B = 8;
    const src = new SynthSource({ videos: B, frames: 30, size, seed: 1 });
    const loader = new BatchLoader(src, [...Array(B).keys()], { batchSize: B, train: true, channels });
    const all = [...Array(B).keys()];
    let buf = (await loader.build(all)).x; // fills the cache
    const rng = new Rng(3);
    const s = stats(await time(repeat, async () => {
      const b = await loader.build(all, rng, reuse ? buf : undefined);
      buf = b.x;
    }));
    push({ case: 'batch-build', size, what: `B=${B} cached clips -> (8, 15, ${channels}, ${size}, ${size})${reuse ? ', reused buffer' : ''}`,
      ...s, ms_per_unit: s.ms_median / B, unit: 'clip' });
  }
  return rows;
}
