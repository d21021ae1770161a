// Model-level benchmarks, each row one whole step ending in a GPU sync (bench/measure.ts with one
// step per sample; the steps upload inputs, so they are wall-clocked):
//   dino-step tiny       the DINO training step at the tiny preset (2 global + 4 local crops per
//                        image, student + teacher + loss + backward + AdamW + EMA), images/s.
//   vit-s8 forward       ViT-S/8 at 224 px, batch 1 and 8, no grad (inference / embedding).
//   vit-s8 train-step    ViT-S/8 at 64 px (N = 65 tokens), batch 32: forward with the tape,
//                        loss = mean(CLS²), backward, AdamW with per-tensor clipping: the
//                        backbone's share of a DINO step at that crop size.
// (A DualVLAD training-step row is to follow.)
// FLOP: the Linears (patch embedding, qkv, proj, fc1, fc2: 2 per multiply-add) and the two
// attention products 4·N²·D per block; a training step counts 3x the forward (each forward
// product has two backward products), not the fused attention's recomputation.
// Peer (--peers): PyTorch CPU on the same machine (scripts/torch_peer.py, Debian's python3-torch,
// as many threads as cores) for the ViT-S/8 rows with batch 1 and the training step; its row
// names the BLAS it loaded (Debian's reference BLAS unless libopenblas is installed: ~30x slower).
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import * as A from '../src/autograd/index.js';
import { DinoTrainer, DINO_PRESETS } from '../src/train/dino.js';
import { VisionTransformer, VIT_PRESETS, type VitConfig } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { synthDataset } from '../src/data/synth.js';
import { progress, summarize, addRatios, type BenchRow } from './harness.js';
import { seeded, ourFields, peerResult } from './calibrate.js';
import { measure } from './measure.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Forward FLOP of a ViT for one image of n tokens (1 CLS + n - 1 patches). */
export function vitForwardFlop(n: number, cfg: VitConfig = VIT_PRESETS['vit-s8']): number {
  const D = cfg.embedDim;
  const hidden = D * cfg.mlpRatio;
  const linears = 2 * n * D * (3 * D + D + 2 * hidden); // qkv, proj, fc1, fc2
  const attention = 4 * n * n * D; // Q K^T and P V over all heads
  const patch = 2 * (n - 1) * cfg.inChans * cfg.patchSize ** 2 * D;
  return cfg.depth * (linears + attention) + patch;
}

export async function benchModel(rt: Runtime, opts: { repeat?: number; filter?: RegExp; peers?: boolean } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 5;
  const rows: BenchRow[] = [];
  const want = (s: string) => !opts.filter || opts.filter.test(s);
  const vitCfg = VIT_PRESETS['vit-s8'];

  if (want('dino-step tiny')) {
    const cfg = { ...DINO_PRESETS.tiny, epochs: 1, itersPerEpoch: 1000 };
    const clips = synthDataset({ videos: 16, frames: 4, size: VIT_PRESETS.tiny.imgSize, seed: 0 });
    const t = new DinoTrainer(cfg, { clips, knnSplit: null });
    progress('model: dino-step tiny');
    const tm = await measure(rt, () => t.step(), { repeat, inner: 1, warmup: 1 });
    t.dispose();
    rows.push({
      kernel: 'dino-step tiny', shape: `B ${cfg.batch}, 2x${VIT_PRESETS.tiny.imgSize}px + 4x32px crops`, ...ourFields(tm, {}),
      img_per_s: (cfg.batch * 1000) / tm.ms_median, peers: {},
    });
  }

  for (const B of [1, 8]) {
    const shape = `224px B ${B}`;
    if (!want(`vit-s8 forward ${shape}`)) continue;
    const vit = new VisionTransformer(vitCfg);
    const store = new ParameterStore(vit, { seed: 0, rt });
    const x = Tensor.fromArray(seeded(B * 3 * 224 * 224, -1, 1, 3), [B, 3, 224, 224], rt);
    progress(`model: vit-s8 forward ${shape}`);
    const flop = B * vitForwardFlop(785, vitCfg);
    const tm = await measure(rt, () => A.noGrad(() => vit.forward(x)).dispose(), { repeat: B === 1 ? repeat : Math.min(repeat, 3), inner: 1, warmup: 0 });
    const row: BenchRow = { kernel: 'vit-s8 forward', shape, ...ourFields(tm, { flop }), img_per_s: (B * 1000) / tm.ms_median, peers: {} };
    if (B === 1 && opts.peers) {
      progress(`model: PyTorch CPU peer (vit-s8 forward, ${shape})`);
      const p = torchPeer({ case: 'vit-s8-forward', batch: B, repeat: 2 });
      if (p) row.peers['pytorch-cpu'] = { ...peerResult(p, { flop }), blas: p.blas, threads: p.threads, torch: p.torch };
    }
    rows.push(row);
    x.dispose();
    store.dispose();
  }

  const TB = 32;
  const TS = 64;
  const tshape = `${TS}px B ${TB}, fwd + bwd + AdamW`;
  if (want(`vit-s8 train-step ${tshape}`)) {
    const vit = new VisionTransformer(vitCfg);
    const store = new ParameterStore(vit, { seed: 0, rt });
    const opt = new AdamW(store, { lr: 5e-4, weightDecay: 0.04 });
    const x = Tensor.fromArray(seeded(TB * 3 * TS * TS, -1, 1, 4), [TB, 3, TS, TS], rt);
    const n = (TS / vitCfg.patchSize) ** 2 + 1;
    const flop = 3 * TB * vitForwardFlop(n, vitCfg);
    const step = () =>
      A.scope(() => {
        store.zeroGrad();
        const cls = vit.forward(x); // (B, D)
        A.backward(A.mean(A.square(cls)));
        opt.step({ clip: { mode: 'per-tensor', max: 3 } });
      });
    progress(`model: vit-s8 train-step ${tshape}`);
    const tm = await measure(rt, step, { repeat: Math.min(repeat, 3), inner: 1, warmup: 0 });
    const row: BenchRow = { kernel: 'vit-s8 train-step', shape: tshape, ...ourFields(tm, { flop }), img_per_s: (TB * 1000) / tm.ms_median, peers: {} };
    if (opts.peers) {
      progress(`model: PyTorch CPU peer (vit-s8 train-step, ${tshape})`);
      const p = torchPeer({ case: 'vit-s8-train', batch: TB, size: TS, repeat: 1, warmup: 0 }); // minutes per step
      if (p) row.peers['pytorch-cpu'] = { ...peerResult(p, { flop }), blas: p.blas, threads: p.threads, torch: p.torch };
    }
    rows.push(row);
    for (const t of [x]) t.dispose();
    opt.dispose();
    store.dispose();
  }
  addRatios(rows);
  return rows;
}

export interface TorchPeerResult {
  ms_median: number;
  ms_min: number;
  ms_max: number;
  blas: string;
  threads: number;
  torch: string;
}

/**
 * PyTorch CPU on the same machine (scripts/torch_peer.py through Debian's /usr/bin/python3),
 * or null when PyTorch is not installed. Says which BLAS is loaded: Debian's reference BLAS is
 * ~30x slower than OpenBLAS.
 */
export function torchPeer(req: { case: string; batch: number; size?: number; repeat: number; warmup?: number }): TorchPeerResult | null {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return null;
  const script = fileURLToPath(new URL('../scripts/torch_peer.py', import.meta.url));
  if (!existsSync(script)) return null;
  const r = spawnSync(py, [script], { input: JSON.stringify(req), encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) {
    progress(`PyTorch peer unavailable: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
    return null;
  }
  const out = JSON.parse(r.stdout) as { ms: number[]; blas: string; threads: number; torch: string };
  return { ...summarize(out.ms), blas: out.blas, threads: out.threads, torch: out.torch };
}

