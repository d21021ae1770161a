// Soak benchmark: `medivlad bench soak --steps N [--save]`. N DINO training steps at the tiny
// preset on synthetic data through the real loop (DinoTrainer.train: losses read every
// logEvery steps, collapse monitors, epochs of 100 steps), sampling every 100 steps and at the
// end: live GPU bytes and GPU buffers created (runtime counters), and the JS heap after a full
// GC. A leak shows as growth after warm-up: the pool should stop creating buffers once every
// size class a step needs exists, live bytes should return to the same value at each sample,
// and the heap should stay within GC noise. One row per 100-step window (ms per step from the
// log points inside it); a table of the three on stderr; with --save, a line chart of the
// three normalised to their first post-warm-up sample in bench/results/soak-<adapter-key>.png.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runtime } from '../src/kernels/runtime.js';
import { adapterKey } from '../src/kernels/adapter-info.js';
import { DinoTrainer, DINO_PRESETS } from '../src/train/dino.js';
import { VIT_PRESETS } from '../src/models/vit.js';
import { synthDataset } from '../src/data/synth.js';
import { encodePng } from '../src/data/png.js';
import { writeFileAtomic } from '../src/node/files.js';
import { lineChart } from '../src/plot/line-chart.js';
import { progress, summarize, type BenchRow } from './harness.js';
import type { SuiteOpts } from './run.js';

export interface SoakOpts extends SuiteOpts {
  /** Training steps (default 1000). */
  steps?: number;
  /** Write the PNG chart into bench/results/. */
  save?: boolean;
}

/** Steps between samples (and steps per DINO epoch, so every sample follows an epoch end). */
export const SOAK_EVERY = 100;

export interface SoakSample {
  step: number;
  gpu_bytes_live: number;
  buffers_created: number;
  heap_used: number;
}

/** A full GC before reading the heap, so samples differ by what is retained, not by garbage. */
function fullGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function sample(rt: Runtime, step: number, gc: () => void): SoakSample {
  gc();
  const c = rt.counters;
  return { step, gpu_bytes_live: c.bytesLive, buffers_created: c.buffersCreated, heap_used: process.memoryUsage().heapUsed };
}

/** Growth from the first post-warm-up sample to the last, and whether it counts as flat. */
export function soakVerdict(samples: SoakSample[]): { warm: SoakSample; last: SoakSample; flat: { gpu: boolean; buffers: boolean; heap: boolean } } {
  const after = samples.filter((s) => s.step >= SOAK_EVERY);
  const warm = after[0] ?? samples[samples.length - 1];
  const last = samples[samples.length - 1];
  return {
    warm,
    last,
    flat: {
      gpu: last.gpu_bytes_live === warm.gpu_bytes_live,
      buffers: last.buffers_created === warm.buffers_created,
      // V8 heap after a full GC still moves by ~1 MB (code, inline caches, feedback vectors).
      heap: last.heap_used - warm.heap_used < Math.max(2e6, 0.05 * warm.heap_used),
    },
  };
}

function soakTable(samples: SoakSample[], ms: (number | null)[]): string {
  const head = ['step', 'GPU MB live', 'buffers created', 'JS heap MB', 'ms/step'];
  const body = samples.map((s, i) => [
    String(s.step), (s.gpu_bytes_live / 1e6).toFixed(3), String(s.buffers_created), (s.heap_used / 1e6).toFixed(2), ms[i] === null ? '-' : ms[i]!.toFixed(1),
  ]);
  const w = head.map((h, k) => Math.max(h.length, ...body.map((b) => b[k].length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, k) => c.padStart(w[k])).join(' | ')} |`;
  return [fmt(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(fmt)].join('\n');
}

export async function soakChart(samples: SoakSample[], adapter: string): Promise<Uint8Array> {
  const { warm } = soakVerdict(samples);
  const x = samples.map((s) => s.step);
  const norm = (f: (s: SoakSample) => number) => samples.map((s) => f(s) / (f(warm) || 1));
  return encodePng(
    lineChart({
      width: 720, height: 420, title: `Soak: DINO tiny, ${x[x.length - 1]} steps`,
      xLabel: `training step (${adapter})`, yLabel: `value / value at step ${warm.step}`, legend: 'bottom-right',
      series: [
        { name: `GPU bytes live (${(warm.gpu_bytes_live / 1e6).toFixed(2)} MB)`, x, y: norm((s) => s.gpu_bytes_live) },
        { name: `GPU buffers created (${warm.buffers_created})`, x, y: norm((s) => s.buffers_created), dash: [6, 4] },
        { name: `JS heap after GC (${(warm.heap_used / 1e6).toFixed(1)} MB)`, x, y: norm((s) => s.heap_used) },
      ],
    }),
  );
}

export async function benchSoak(rt: Runtime, suiteOpts: SuiteOpts): Promise<BenchRow[]> {
  const opts = suiteOpts as SoakOpts;
  const steps = opts.steps ?? 1000;
  if (!(Number.isInteger(steps) && steps > 0)) throw new Error(`bench soak: --steps must be a positive integer, got ${steps}`);
  const gc = fullGc();
  const cfg = { ...DINO_PRESETS.tiny, epochs: Math.ceil(steps / SOAK_EVERY), itersPerEpoch: SOAK_EVERY };
  const clips = synthDataset({ videos: 16, frames: 4, size: VIT_PRESETS.tiny.imgSize, seed: 0 });
  // ms per step from consecutive log points (img_per_s marks the last line of each one).
  let lastMark = performance.now();
  let window: number[] = [];
  let lastLoss = NaN;
  const trainer = new DinoTrainer(cfg, {
    clips,
    knnSplit: null,
    onStep: (l) => {
      lastLoss = l.loss;
      if (l.img_per_s === undefined) return;
      const now = performance.now();
      window.push((now - lastMark) / cfg.logEvery);
      lastMark = now;
    },
  });
  const samples: SoakSample[] = [sample(rt, 0, gc)];
  const ms: (number | null)[] = [null];
  const rows: BenchRow[] = [];
  progress(`soak: ${steps} DINO steps (tiny preset, batch ${cfg.batch}), a sample every ${SOAK_EVERY}`);
  try {
    for (let at = Math.min(SOAK_EVERY, steps); ; at = Math.min(at + SOAK_EVERY, steps)) {
      const from = trainer.it;
      lastMark = performance.now();
      window = [];
      await trainer.train(at);
      await rt.sync();
      const s = sample(rt, at, gc);
      samples.push(s);
      const t = window.length ? summarize(window) : { ms_median: NaN, ms_min: NaN, ms_max: NaN };
      ms.push(t.ms_median);
      rows.push({
        kernel: 'soak dino-step tiny', shape: `steps ${from + 1}-${at}`, ...t,
        timing: 'wall', step: at, gpu_bytes_live: s.gpu_bytes_live, buffers_created: s.buffers_created, heap_used: s.heap_used, loss: lastLoss, peers: {},
      });
      progress(`soak: step ${at}/${steps}: ${(s.gpu_bytes_live / 1e6).toFixed(3)} MB live, ${s.buffers_created} buffers, heap ${(s.heap_used / 1e6).toFixed(2)} MB, ${t.ms_median.toFixed(0)} ms/step, loss ${lastLoss.toFixed(4)}`);
      if (at === steps) break;
    }
  } finally {
    trainer.dispose();
  }
  progress(soakTable(samples, ms));
  const v = soakVerdict(samples);
  const word = (ok: boolean) => (ok ? 'flat' : 'GROWS');
  progress(
    `soak verdict (step ${v.warm.step} -> ${v.last.step}): GPU bytes live ${word(v.flat.gpu)} (${v.warm.gpu_bytes_live} -> ${v.last.gpu_bytes_live}), ` +
      `buffers created ${word(v.flat.buffers)} (${v.warm.buffers_created} -> ${v.last.buffers_created}), ` +
      `JS heap ${word(v.flat.heap)} (${(v.warm.heap_used / 1e6).toFixed(2)} -> ${(v.last.heap_used / 1e6).toFixed(2)} MB)`,
  );
  for (const r of rows) r.flat = v.flat;
  if (opts.save) {
    const dir = 'bench/results';
    await mkdir(dir, { recursive: true });
    const path = join(dir, `soak-${adapterKey(rt.adapter)}.png`);
    await writeFileAtomic(path, await soakChart(samples, rt.adapter.description || rt.adapter.family));
    progress(`saved ${path}`);
  }
  return rows;
}
