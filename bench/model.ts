// Model-level benchmarks: the DINO training step at the tiny preset (2 global + local crops
// per image, student + teacher + loss + backward + AdamW + EMA), and the ViT-S/8 forward at
// 224 px. Images/s from the wall clock over several steps, each ending in a GPU sync.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { noGrad } from '../src/autograd/tape.js';
import { DinoTrainer, DINO_PRESETS } from '../src/train/dino.js';
import { VisionTransformer, VIT_PRESETS } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { synthDataset } from '../src/data/synth.js';
import { progress, summarize, type BenchRow } from './harness.js';
import { seeded } from './calibrate.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

async function timeSteps(rt: Runtime, run: () => void, warmup: number, repeat: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) run();
  await rt.sync();
  const out: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    run();
    await rt.sync();
    out.push(performance.now() - t0);
  }
  return out;
}

export async function benchModel(rt: Runtime, opts: { repeat?: number; filter?: RegExp } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 5;
  const rows: BenchRow[] = [];
  const want = (s: string) => !opts.filter || opts.filter.test(s);

  if (want('dino-step tiny')) {
    const cfg = { ...DINO_PRESETS.tiny, epochs: 1, itersPerEpoch: 1000 };
    const clips = synthDataset({ videos: 16, frames: 4, size: VIT_PRESETS.tiny.imgSize, seed: 0 });
    const t = new DinoTrainer(cfg, { clips, knnSplit: null });
    progress('model: dino-step tiny');
    const ms = await timeSteps(rt, () => t.step(), 2, repeat);
    t.dispose();
    const tm = summarize(ms);
    rows.push({
      kernel: 'dino-step tiny', shape: `B ${cfg.batch}, 2x${VIT_PRESETS.tiny.imgSize}px + 4x32px crops`, ...tm,
      img_per_s: (cfg.batch * 1000) / tm.ms_median, peers: {},
    });
  }
  for (const B of [1, 8]) {
    const name = `vit-s8 forward 224px B ${B}`;
    if (!want(name)) continue;
    const vit = new VisionTransformer(VIT_PRESETS['vit-s8']);
    const store = new ParameterStore(vit, { seed: 0 });
    const x = Tensor.fromArray(seeded(B * 3 * 224 * 224, -1, 1, 3), [B, 3, 224, 224]);
    progress(`model: ${name}`);
    const ms = await timeSteps(rt, () => noGrad(() => vit.forward(x)).dispose(), 1, B === 1 ? repeat : Math.min(repeat, 3));
    const tm = summarize(ms);
    // ~45 GFLOP (2 x MACs) per 224 px image (SPEC §9)
    const row: BenchRow = { kernel: 'vit-s8 forward', shape: `224px B ${B}`, ...tm, gflops: (45e9 * B) / (tm.ms_median * 1e6), img_per_s: (B * 1000) / tm.ms_median, peers: {} };
    if (B === 1) {
      progress('model: PyTorch CPU peer (vit-s8 forward, B 1)');
      const p = torchPeer('vit-s8-forward', B, 2);
      if (p) {
        row.peers['pytorch-cpu'] = { ms_median: p.ms_median, gflops: (45e9 * B) / (p.ms_median * 1e6), blas: p.blas, threads: p.threads };
        row['ratio_vs_pytorch-cpu'] = p.ms_median / tm.ms_median;
      }
    }
    rows.push(row);
    x.dispose();
    store.dispose();
  }
  return rows;
}

/**
 * PyTorch CPU on the same machine (scripts/torch_peer.py through Debian's /usr/bin/python3),
 * or null when PyTorch is not installed. Says which BLAS is loaded: Debian's reference BLAS is
 * ~30x slower than OpenBLAS.
 */
export function torchPeer(caseName: string, batch: number, repeat: number): { ms_median: number; blas: string; threads: number } | null {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return null;
  const script = fileURLToPath(new URL('../scripts/torch_peer.py', import.meta.url));
  if (!existsSync(script)) return null;
  const r = spawnSync(py, [script], { input: JSON.stringify({ case: caseName, batch, repeat }), encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    progress(`PyTorch peer unavailable: ${(r.stderr || '').trim().split('\n').pop()}`);
    return null;
  }
  const out = JSON.parse(r.stdout) as { ms: number[]; blas: string; threads: number };
  return { ms_median: summarize(out.ms).ms_median, blas: out.blas, threads: out.threads };
}
