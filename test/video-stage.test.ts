// Stage 3 (video level) pieces and commands:
//   SPEC §3 clip augmentation on the host (identity, flip, ColorJiggle order and clamping, centre
//   crop + resize); evaluation / training frame sampling (floor(linspace), strided, reversed);
//   cached clip features equal the ViT's own features of the same frames; every aggregator learns
//   clips whose classes differ in a few frames only, and the max-score baseline follows its frame
//   head; the full MeDiVLAD checkpoint round trips with the stage-3 names; `train-video` and a
//   minimal `reproduce` run from the CLI and write what they promise.
import { describe, it, beforeAll, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { Rng } from '../src/data/rng.js';
import { resizeGray } from '../src/data/resize.js';
import { evalIndices, trainIndices } from '../src/data/preprocess.js';
import { synthDataset } from '../src/data/synth.js';
import { VIT_PRESETS, type VitConfig } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { VisionTransformer } from '../src/models/vit.js';
import { parseSafetensors, serializeSafetensors } from '../src/models/safetensors.js';
import { extractFeatures, arrayFrames } from '../src/eval/features.js';
import { augmentFrame, computeClipFeatures, sampleClip, type ClipFeatures, type VideoAugment } from '../src/train/video-data.js';
import { createVideoModel, AGGREGATOR_KINDS, type AggregatorKind } from '../src/models/video-models.js';
import { VideoTrainer, VIDEO_DEFAULTS, predictVideos } from '../src/train/video.js';
import { MediVLAD, parseVideoCheckpoint, mediVladFromCheckpoint } from '../src/train/video-checkpoint.js';
import { Tensor } from '../src/autograd/index.js';

beforeAll(async () => {
  await gpu();
});

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin/medivlad.js');

function randomFrame(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size * size }, () => 0.05 + 0.9 * rng.next());
}

describe('clip augmentation (SPEC §3)', () => {
  const S = 9;
  const f = randomFrame(S, 1);
  const none: VideoAugment = { flip: false, brightness: 0, contrast: 1, contrastFirst: false, crop: null };
  it('identity, flip, and ColorJiggle in either order with clamping', () => {
    expect(Array.from(augmentFrame(f, S, none))).toEqual(Array.from(f));
    const fl = augmentFrame(f, S, { ...none, flip: true });
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) expect(fl[y * S + x]).toBe(f[y * S + (S - 1 - x)]);
    const c = (v: number) => Math.min(1, Math.max(0, v));
    const a = augmentFrame(f, S, { ...none, brightness: 0.3, contrast: 1.4, contrastFirst: false });
    const b = augmentFrame(f, S, { ...none, brightness: 0.3, contrast: 1.4, contrastFirst: true });
    for (let i = 0; i < S * S; i++) {
      expect(a[i]).toBeCloseTo(c(c(f[i] + 0.3) * 1.4), 6);
      expect(b[i]).toBeCloseTo(c(c(f[i] * 1.4) + 0.3), 6);
    }
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-3)).toBe(true); // the order matters
  });
  it('centre crop of round(S·r) pixels, resized back to S', () => {
    const r = 0.55;
    const side = Math.round(S * r); // 5
    const off = Math.floor((S - side) / 2);
    const win = new Float32Array(side * side);
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) win[y * side + x] = f[(off + y) * S + off + x];
    expect(Array.from(augmentFrame(f, S, { ...none, crop: r }))).toEqual(Array.from(resizeGray(win, side, side, S, S)));
  });
});

/** Features of `n` clips whose class shows in 3 of their T frames only (the rest is shared noise). */
function toyClips(n: number, T: number, D: number, seed: number): ClipFeatures {
  const pr = new Rng(99); // the class prototypes are shared by every set
  const proto = Array.from({ length: 3 }, () => Float32Array.from({ length: D }, () => pr.normal()));
  const rng = new Rng(seed);
  const feats: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 3;
    const f = new Float32Array(T * D);
    const keyFrames = new Set([rng.int(T), rng.int(T), rng.int(T)]);
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) f[t * D + d] = 0.5 * rng.normal() + (keyFrames.has(t) ? 2 * proto[y][d] : 0);
    }
    feats.push(f);
    labels.push(y);
  }
  return {
    ids: labels.map((_, i) => `c${i}`), patients: labels.map((_, i) => `p${i}`), labels, T: labels.map(() => T), dim: D, feats: [feats],
  };
}

describe('frame sampling of cached features', () => {
  const set = toyClips(3, 23, 4, 3);
  it('evaluation takes floor(linspace) of the clean view; training takes strided or reversed windows', () => {
    const out = new Float32Array(15 * 4);
    expect(sampleClip(set, 1, 15, null, out)).toEqual(evalIndices(23, 15));
    for (let s = 0; s < 15; s++) expect(Array.from(out.subarray(s * 4, s * 4 + 4))).toEqual(Array.from(set.feats[0][1].subarray(evalIndices(23, 15)[s] * 4, evalIndices(23, 15)[s] * 4 + 4)));
    const seen = new Set<string>();
    for (let k = 0; k < 40; k++) {
      const idx = sampleClip(set, 0, 15, { rng: new Rng(k) }, out);
      const fwd = idx[0] < idx[14] ? idx : idx.slice().reverse();
      expect(fwd).toEqual(trainIndices(23, 15, { int: () => fwd[0] } as unknown as Rng));
      seen.add(idx[0] < idx[14] ? 'forward' : 'reversed');
    }
    expect(seen).toEqual(new Set(['forward', 'reversed']));
  });
});

describe('cached clip features', () => {
  const VIT: VitConfig = { ...VIT_PRESETS.tiny, imgSize: 32, embedDim: 24, depth: 2, numHeads: 2, mlpRatio: 2 };
  it('view 0 equals the ViT features of the same frames; augmented views differ', async () => {
    const vit = new VisionTransformer(VIT);
    const store = new ParameterStore(vit, { seed: 3 });
    const clips = synthDataset({ videos: 3, frames: 4, size: 32, seed: 2 });
    const norm = { mean: 0.3, std: 0.2 };
    const cf = await computeClipFeatures(vit, clips, { norm, views: 2, seed: 1, batch: 5 });
    const imgs = new Float32Array(12 * 3 * 32 * 32);
    clips.forEach((c, i) => c.frames.forEach((f, t) => {
      for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 32 * 32; p++) imgs[((i * 4 + t) * 3 + ch) * 1024 + p] = (f[p] - norm.mean) / norm.std;
    }));
    const ref = await extractFeatures(vit, arrayFrames(imgs, 32, 3), { batch: 12 });
    clips.forEach((_, i) => expectClose(cf.feats[0][i], ref.subarray(i * 4 * 24, (i + 1) * 4 * 24), { rel: 1e-5 }));
    expect(cf.feats[1].some((f, i) => f.some((v, k) => Math.abs(v - cf.feats[0][i][k]) > 1e-3))).toBe(true);
    expect(cf.T).toEqual([4, 4, 4]);
    store.dispose();
  });
});

describe('video training on cached features', () => {
  const D = 12;
  const train = toyClips(48, 15, D, 11);
  const val = toyClips(12, 15, D, 12);
  const test = toyClips(30, 15, D, 13);
  const cfg = { ...VIDEO_DEFAULTS, epochs: 8, itersPerEpoch: 15, batch: 8, lr: 5e-3 };
  for (const kind of ['dualvlad', 'netvlad', 'lstm'] as AggregatorKind[]) {
    it(`${kind} learns clips whose class shows in a few frames (test accuracy >= 0.8, chance 1/3)`, async () => {
      const model = createVideoModel({ kind, dim: D, seed: 4 });
      const tr = new VideoTrainer(model, cfg, { train, val, test });
      const r = await tr.run();
      expect(r.epochs.length).toBe(8);
      expect(r.epochs.at(-1)!.train_loss).toBeLessThan(r.epochs[0].train_loss);
      expect(r.test.report.accuracy).toBeGreaterThanOrEqual(0.8);
      expect(r.bestEpoch).toBeGreaterThanOrEqual(0);
      if (kind === 'dualvlad') {
        // β: a softmax over the 15 frames of each clip
        const b = r.test.beta!;
        for (let i = 0; i < 30; i++) expect(b.subarray(i * 15, i * 15 + 15).reduce((a, x) => a + x, 0)).toBeCloseTo(1, 5);
      }
      tr.dispose();
    });
  }
  it('max-score is the frame head applied to the most severe frame (nothing trains)', async () => {
    const model = createVideoModel({ kind: 'max', dim: D, seed: 4 });
    // a head that scores class c by the dot product with prototype direction c (from the toy key frames)
    const w = new Float32Array(3 * D);
    for (let c = 0; c < 3; c++) {
      const members = train.feats[0].filter((_, i) => train.labels[i] === c);
      for (const f of members) for (let t = 0; t < 15; t++) for (let d = 0; d < D; d++) w[c * D + d] += f[t * D + d] / (members.length * 15);
    }
    const tr = new VideoTrainer(model, cfg, { train, val, test }, { frameHead: { w, b: new Float32Array(3) } });
    const r = await tr.run();
    expect(r.epochs).toEqual([]);
    const { probs } = await predictVideos(model, test, 15);
    expect(Array.from(r.test.probs)).toEqual(Array.from(probs));
    const beta = r.test.beta!;
    for (let i = 0; i < 30; i++) expect(Array.from(beta.subarray(i * 15, i * 15 + 15)).filter((v) => v === 1).length).toBe(1);
    tr.dispose();
    expect(() => new VideoTrainer(createVideoModel({ kind: 'max', dim: D }), cfg, { train, val, test })).toThrow(/needs the frame classifier/);
  });
});

describe('MeDiVLAD checkpoint (SPEC §8 stage 3 names)', () => {
  it('round trips every tensor and the forward; other checkpoints are refused naming what they hold', async () => {
    const vit: VitConfig = { ...VIT_PRESETS.tiny, imgSize: 32, embedDim: 24, depth: 2, numHeads: 2, mlpRatio: 2 };
    const arch = { vit, preset: 'tiny', video: { kind: 'dualvlad' as const, dim: 24, clusters: 3, classes: 3, alpha: 1, seed: 5 }, frames: 15, mean: 0.3, std: 0.2 };
    const m = new MediVLAD(arch);
    const tensors = await m.checkpointTensors();
    const names = [...tensors.keys()];
    expect(names).toContain('Embedding.cls_token');
    expect(names).toContain('Embedding.blocks.1.attn.qkv.weight');
    for (const n of ['vlad.centroids', 'vlad.conv.weight', 'vlad.conv.bias', 'vlad.V.0.weight', 'vlad.V.0.bias', 'vlad.w.0.weight', 'vlad.w.0.bias', 'dense.0.weight', 'dense.0.bias']) expect(names).toContain(n);
    expect(tensors.get('vlad.conv.weight')!.shape).toEqual([3, 24, 1, 1]);
    const bytes = serializeSafetensors(tensors, m.checkpointMetadata({ fold: '0' }));
    const file = parseSafetensors(bytes, { file: 'm.safetensors' });
    const back = mediVladFromCheckpoint(parseVideoCheckpoint(file.tensors, file.metadata, 'm.safetensors'), 'm.safetensors');
    expect(back.arch.video.kind).toBe('dualvlad');
    const again = await back.checkpointTensors();
    for (const [n, t] of tensors) expect(Array.from(again.get(n)!.data)).toEqual(Array.from(t.data));
    const x = Tensor.fromArray(Float32Array.from({ length: 2 * 15 * 24 }, (_, i) => Math.sin(i)), [2, 15, 24]);
    const a = await m.video.forward(x).logits.toArray();
    const b = await back.video.forward(x).logits.toArray();
    expect(Array.from(b)).toEqual(Array.from(a));
    const noMeta = parseSafetensors(serializeSafetensors(tensors, {}), {});
    expect(() => parseVideoCheckpoint(noMeta.tensors, noMeta.metadata, 'x.safetensors')).toThrow(/expected a MeDiVLAD video checkpoint/);
    const frameLike = new Map([['backbone.cls_token', tensors.get('Embedding.cls_token')!], ['linear.0.weight', tensors.get('dense.0.weight')!]]);
    expect(() => parseVideoCheckpoint(frameLike, { format: 'medivlad-frame-checkpoint' }, 'f.safetensors')).toThrow(/found format 'medivlad-frame-checkpoint', backbone\.\* \(1\), linear\.\* \(1\)/);
    m.dispose();
    back.dispose();
  });
});

describe('CLI: train-video and reproduce', () => {
  const run = (args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  it('train-video --aggregator all writes a checkpoint and metrics per aggregator', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tv-'));
    run(['finetune', '--backbone', 'random', '--preset', 'tiny', '--out', join(dir, 'f'), '--videos', '18', '--frames', '6', '--epochs', '2', '--batch', '8']);
    const out = run(['train-video', '--backbone', join(dir, 'f', 'frame.safetensors'), '--aggregator', 'all', '--out', join(dir, 'v'),
      '--videos', '18', '--frames', '6', '--epochs', '2', '--iters-per-epoch', '3', '--batch', '4', '--views', '2', '--json']);
    const all = JSON.parse(out) as { aggregator: string; accuracy: number; confusion: number[][]; test: { probs: number[][] } }[];
    expect(all.map((r) => r.aggregator)).toEqual([...AGGREGATOR_KINDS]);
    for (const r of all) {
      const n = r.confusion.flat().reduce((a, b) => a + b, 0);
      expect(r.accuracy).toBeCloseTo(r.confusion.reduce((a, row, i) => a + row[i], 0) / n, 10);
      for (const p of r.test.probs) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(existsSync(join(dir, 'v', `video-${r.aggregator}.safetensors`))).toBe(true);
    }
    const bad = (() => {
      try {
        run(['train-video', '--backbone', join(dir, 'f', 'frame.safetensors'), '--aggregator', 'gru', '--out', join(dir, 'w')]);
        return '';
      } catch (e) {
        return String((e as { stderr: string }).stderr);
      }
    })();
    expect(bad.trim().split('\n')).toEqual(["medivlad: error: --aggregator must be one of dualvlad, netvlad, lstm, max or all, got 'gru'"]);
  });
  it('reproduce (minimal sizes) writes results.json, report.md with Tables 2 and 3, the plots and a MeDiVLAD checkpoint per fold', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rp-'));
    run(['reproduce', '--out', dir, '--videos', '16', '--frames', '6', '--dino-epochs', '1', '--dino-iters', '3', '--frame-epochs', '2', '--finetune-epochs', '1', '--video-epochs', '1']);
    const r = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(r.dino.steps).toBe(3);
    expect(r.frame.map((x: { backbone: string }) => x.backbone)).toEqual(['scratch', 'dino', 'dino-finetuned']);
    expect(r.video.map((x: { aggregator: string }) => x.aggregator)).toEqual([...AGGREGATOR_KINDS]);
    for (const v of r.video) expect(v.folds.length).toBe(2);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toMatch(/## Table 2: frame level/);
    expect(md).toMatch(/\| DualVLAD \(MeDiVLAD\) \|/);
    // The tiny recipe's fine-tuning: more frames per training clip than the rows are tested on, a milder crop.
    expect(r.frameSetup).toMatchObject({ testFramesPerClip: 4, finetuneFramesPerClip: 8, finetune: { epochs: 1, cropScale: [0.6, 1] } });
    expect(md).toMatch(/tested on 4 frames per clip\. .*Fine-tuning: 1 epochs of batch 8 on 8 frames per training clip/);
    for (const f of ['dino-loss.png', 'video-curves.png', 'roc-dualvlad.png', 'confusion-lstm.png', 'video/fold0/medivlad.safetensors', 'video/fold1/medivlad.safetensors', 'dino/teacher.safetensors']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
  });
});
