// The frame stage (MeDiVLAD stage 2) on a very small ViT and synthetic clips:
//   extractFeatures against the ViT's own batched forward (and the last-n concatenation);
//   the head's float64 scoring against the GPU logits; the first two probe steps against a
//   float64 cross-entropy + AdamW reference with the cosine lr; a linear probe that learns its
//   training set; probe leaves the backbone bit-identical while finetune changes it, and a
//   seed reproduces a finetune run; linear-eval's last-4 head; frame checkpoints round trip,
//   and a non-frame checkpoint fails naming what it holds.
import { describe, it, beforeAll, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { Tensor, noGrad } from '../src/autograd/index.js';
import { VIT_PRESETS, type VitConfig } from '../src/models/vit.js';
import { parseSafetensors, serializeSafetensors } from '../src/models/safetensors.js';
import { Rng } from '../src/data/rng.js';
import { synthDataset } from '../src/data/synth.js';
import { cosineSchedule } from '../src/train/schedules.js';
import { extractFeatures, arrayFrames } from '../src/eval/features.js';
import { FrameModel, parseFrameCheckpoint, frameModelFromCheckpoint } from '../src/train/frame-model.js';
import { frameSplits, frameSet, framePicks, normalizedFrames, type FrameSet } from '../src/train/frame-data.js';
import { headScores } from '../src/train/frame-eval.js';
import { FrameTrainer, frameConfig, type FrameConfig, type FrameData } from '../src/train/frame.js';
import { loadFrameModel, saveFrameModel } from '../src/cli/finetune.js';

beforeAll(async () => {
  await gpu();
});

/** 32 px, patch 8 (17 tokens), width 24, 4 blocks (so last-4 exists), 2 heads. */
const VIT: VitConfig = { ...VIT_PRESETS.tiny, imgSize: 32, embedDim: 24, depth: 4, numHeads: 2, mlpRatio: 2 };
const NORM = { mean: 0.16, std: 0.17 };
const EMPTY: FrameSet = { frames: [], labels: [], ids: [], patients: [], frameIndex: [], size: 32 };

const clips = synthDataset({ videos: 40, frames: 3, size: 32, seed: 5 });
const splits = frameSplits(clips, { fold: 0, foldSeed: 0, valFraction: 0.25, perClip: 2 });

function randomImages(n: number, size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * 3 * size * size }, () => rng.uniform(-1, 1));
}

async function runTrainer(mode: FrameConfig['mode'], o: Partial<FrameConfig>, data: FrameData, modelSeed = 1) {
  const cfg = frameConfig(mode, { evalBatch: 8, ...o });
  const model = new FrameModel({ vit: VIT, lastN: cfg.lastN, classes: 3 }, { seed: modelSeed, headInit: cfg.headInit });
  const before = await model.vitStore.stateDict();
  const head0 = await model.headWeights();
  const t = new FrameTrainer(model, cfg, data);
  const result = await t.run();
  t.dispose();
  return { model, before, head0, result, cfg };
}

describe('frame data', () => {
  it('picks segment centres and splits by patient, validation inside the training fold', () => {
    expect(framePicks(1, 2)).toEqual([0]);
    expect(framePicks(15, 1)).toEqual([7]);
    expect(framePicks(8, 2)).toEqual([2, 6]);
    const { train, val, test } = splits.clips;
    const pats = (idx: number[]) => new Set(idx.map((i) => clips[i].patient));
    for (const [a, b] of [[train, val], [train, test], [val, test]]) for (const p of pats(a)) expect(pats(b).has(p)).toBe(false);
    expect(val.length).toBeGreaterThan(0);
    expect(train.length + val.length + test.length).toBe(clips.length);
    expect(splits.train.frames.length).toBe(2 * train.length);
    expect(splits.train.labels).toEqual(train.flatMap((i) => [clips[i].label, clips[i].label]));
  });
});

describe('extractFeatures', () => {
  it('equals the batched ViT forward (N 7, batch 3); lastN 2 is (N, 2D) with the final CLS last', async () => {
    const model = new FrameModel({ vit: VIT, lastN: 1, classes: 3 }, { seed: 4 });
    const vit = model.vit;
    const N = 7;
    const x = randomImages(N, 32, 11);
    const xt = Tensor.fromArray(x, [N, 3, 32, 32]);
    const refT = noGrad(() => vit.forward(xt));
    const ref = await refT.toArray();
    const ref2T = noGrad(() => vit.lastCls(xt, 2));
    const ref2 = await ref2T.toArray();
    [xt, refT, ref2T].forEach((t) => t.dispose());

    const got = await extractFeatures(vit, x, { size: 32, batch: 3 });
    expect(got.length).toBe(N * 24);
    expectClose(got, ref, { rel: 1e-5, what: 'CLS features' });
    const viaSource = await extractFeatures(vit, arrayFrames(x, 32, 3), { batch: 4 });
    expectClose(viaSource, ref, { rel: 1e-5, what: 'CLS features (source)' });
    const two = await extractFeatures(vit, x, { size: 32, batch: 3, lastN: 2 });
    expect(two.length).toBe(N * 48);
    expectClose(two, ref2, { rel: 1e-5, what: 'last-2 CLS' });
    const lastOfTwo = Float32Array.from({ length: N * 24 }, (_, i) => two[Math.floor(i / 24) * 48 + 24 + (i % 24)]);
    expectClose(lastOfTwo, ref, { rel: 1e-5, what: 'final CLS inside last-2' });
    expect(vit.training).toBe(true); // eval mode only while extracting

    await expect(extractFeatures(vit, x, { size: 32, lastN: 5 })).rejects.toThrow(/lastN 5 must be an integer in 1..4/);
    await expect(extractFeatures(vit, x, { size: 31 })).rejects.toThrow(/not \(N, 3, 31, 31\)/);
    await expect(extractFeatures(vit, x)).rejects.toThrow(/needs opts.size/);
    model.dispose();
  });
});

describe('frame head', () => {
  it('float64 head scores match the GPU logits', async () => {
    const model = new FrameModel({ vit: VIT, lastN: 1, classes: 3 }, { seed: 2 });
    const rng = new Rng(3);
    const f = Float32Array.from({ length: 9 * 24 }, () => rng.uniform(-2, 2));
    const ft = Tensor.fromArray(f, [9, 24]);
    const zt = noGrad(() => model.logits(ft));
    const z = await zt.toArray();
    ft.dispose();
    zt.dispose();
    const { w, b } = await model.headWeights();
    const s = headScores(f, 24, w, b);
    expectClose(z, s.logits, { rel: 1e-6, what: 'logits' });
    for (let i = 0; i < 9; i++) expect(s.probs[3 * i] + s.probs[3 * i + 1] + s.probs[3 * i + 2]).toBeCloseTo(1, 12);
    model.dispose();
  });
});

describe('probe training', () => {
  it('the first two steps equal a float64 cross-entropy + AdamW reference (cosine lr, wd on weight and bias, as MeDiVLAD)', async () => {
    const train = splits.train;
    const N = train.frames.length;
    const o = { epochs: 2, batch: N, lr: 3e-3, minLr: 1e-4, weightDecay: 0.1, seed: 9 };
    const { model, head0 } = await runTrainer('probe', o, { train, val: EMPTY, test: splits.test, norm: NORM });
    const feats = await extractFeatures(model.vit, normalizedFrames(train, NORM), { batch: 8 });
    // ---- float64 reference
    const F = 24, C = 3;
    const W = Float64Array.from(head0.w), B = Float64Array.from(head0.b);
    const mW = new Float64Array(C * F), vW = new Float64Array(C * F), mB = new Float64Array(C), vB = new Float64Array(C);
    const lrs = cosineSchedule(o.lr, o.minLr, 2, 1);
    for (let t = 1; t <= 2; t++) {
      const gW = new Float64Array(C * F), gB = new Float64Array(C);
      const s = headScores(feats, F, Float32Array.from(W), Float32Array.from(B));
      for (let i = 0; i < N; i++) {
        for (let c = 0; c < C; c++) {
          const d = (s.probs[i * C + c] - (train.labels[i] === c ? 1 : 0)) / N; // d(mean CE)/dz
          gB[c] += d;
          for (let k = 0; k < F; k++) gW[c * F + k] += d * feats[i * F + k];
        }
      }
      const lr = lrs[t - 1];
      const adam = (p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, wd: number) => {
        for (let j = 0; j < p.length; j++) {
          p[j] *= 1 - lr * wd;
          m[j] = 0.9 * m[j] + 0.1 * g[j];
          v[j] = 0.999 * v[j] + 0.001 * g[j] * g[j];
          p[j] -= (lr * (m[j] / (1 - 0.9 ** t))) / (Math.sqrt(v[j] / (1 - 0.999 ** t)) + 1e-8);
        }
      };
      adam(W, gW, mW, vW, o.weightDecay);
      adam(B, gB, mB, vB, o.weightDecay);
    }
    const got = await model.headWeights();
    expectClose(got.w, W, { rel: 2e-5, what: 'head weight after 2 steps' });
    expectClose(got.b, B, { rel: 2e-5, what: 'head bias after 2 steps' });
    model.dispose();
  });

  it('learns its training set: loss falls and training accuracy rises far above chance', async () => {
    const train = splits.train;
    const data = { train, val: EMPTY, test: splits.test, norm: NORM }; // no validation: the last epoch is kept
    const { model, result } = await runTrainer('probe', { epochs: 150, batch: 8, lr: 5e-2, weightDecay: 0, seed: 3 }, data);
    const losses = result.epochs.map((e) => e.train_loss);
    expect(losses[losses.length - 1], `losses ${losses[0]} -> ${losses[losses.length - 1]}`).toBeLessThan(0.5 * losses[0]);
    // Accuracy recomputed here from the features and the trained head, not taken from the trainer.
    const feats = await extractFeatures(model.vit, normalizedFrames(train, NORM), { batch: 8 });
    const { w, b } = await model.headWeights();
    let ok = 0;
    for (let i = 0; i < train.labels.length; i++) {
      const z = [0, 1, 2].map((c) => b[c] + feats.slice(i * 24, (i + 1) * 24).reduce((a, v, k) => a + v * w[c * 24 + k], 0));
      if (z.indexOf(Math.max(...z)) === train.labels[i]) ok++;
    }
    const acc = ok / train.labels.length;
    const chance = Math.max(...[0, 1, 2].map((c) => train.labels.filter((y) => y === c).length)) / train.labels.length;
    expect(acc, `train accuracy ${acc}, majority class ${chance}`).toBeGreaterThanOrEqual(Math.max(0.85, chance + 0.3));
    expect(result.epochs[result.epochs.length - 1].train_accuracy).toBeCloseTo(acc, 12);
    expect(result.bestEpoch).toBe(149);
    expect(result.test.probs.length).toBe(splits.test.frames.length);
    model.dispose();
  });
});

describe('training augmentation', () => {
  it('a full-frame crop is the normalised frame; flip p 1 mirrors it; the default crops differ per iteration', async () => {
    const train = splits.train;
    const data = { train, val: EMPTY, test: splits.test, norm: NORM };
    const model = new FrameModel({ vit: VIT, lastN: 1, classes: 3 });
    const idx = [3, 0, 5];
    const want = new Float32Array(idx.length * 3 * 32 * 32);
    normalizedFrames(train, NORM, 3, idx).fill(0, idx.length, want);
    const mirror = want.map((_, i) => want[i - (i % 32) + 31 - (i % 32)]);
    for (const [flipP, ref] of [[0, want], [1, mirror]] as const) {
      const t = new FrameTrainer(model, frameConfig('finetune', { cropScale: [1, 1], cropRatio: [1, 1], flipP }), data);
      const x = t.augmentedBatch(idx, 0);
      expect(x.shape).toEqual([3, 3, 32, 32]);
      expectClose(await x.toArray(), ref, { rel: 1e-6, what: `identity crop, flip p ${flipP}` });
      x.dispose();
      t.dispose();
    }
    const t = new FrameTrainer(model, frameConfig('finetune'), data);
    const [a, b] = [t.augmentedBatch(idx, 0), t.augmentedBatch(idx, 1)];
    const [va, vb] = [await a.toArray(), await b.toArray()];
    expect(va.every((v) => Number.isFinite(v))).toBe(true);
    expect(va).not.toEqual(vb);
    expect(va).not.toEqual(want);
    [a, b].forEach((v) => v.dispose());
    t.dispose();
    model.dispose();
  });
});

describe('what trains', () => {
  const data = (): FrameData => ({ train: splits.train, val: splits.val, test: splits.test, norm: NORM });

  it('probe (cached and augmented) leaves the backbone bit-identical; finetune changes it; a seed fixes the run', async () => {
    for (const cachedFeatures of [true, false]) {
      const p = await runTrainer('probe', { epochs: 2, batch: 8, lr: 1e-2, cachedFeatures }, data());
      expect(p.result.val?.n).toBe(splits.val.frames.length);
      const after = await p.model.vitStore.stateDict();
      for (const [n, t] of p.before) expect(after.get(n)!.data, n).toEqual(t.data);
      expect((await p.model.headWeights()).w).not.toEqual(p.head0.w);
      p.model.dispose();
    }
    const f1 = await runTrainer('finetune', { epochs: 2, batch: 8, lr: 1e-3 }, { ...data(), val: EMPTY });
    const after = await f1.model.vitStore.stateDict();
    const changed = [...f1.before].filter(([n, t]) => after.get(n)!.data.some((v, i) => v !== t.data[i])).map(([n]) => n);
    expect(changed).toContain('blocks.0.attn.qkv.weight');
    expect(changed).toContain('patch_embed.proj.weight');
    expect(f1.result.knn.final).not.toBeNull();
    const f2 = await runTrainer('finetune', { epochs: 2, batch: 8, lr: 1e-3 }, { ...data(), val: EMPTY });
    expect(f2.result.epochs.map((e) => e.train_loss)).toEqual(f1.result.epochs.map((e) => e.train_loss));
    expect(f2.result.test.probs).toEqual(f1.result.test.probs);
    const f3 = await runTrainer('finetune', { epochs: 2, batch: 8, lr: 1e-3, seed: 7 }, { ...data(), val: EMPTY });
    expect(f3.result.epochs.map((e) => e.train_loss)).not.toEqual(f1.result.epochs.map((e) => e.train_loss));
    for (const r of [f1, f2, f3]) r.model.dispose();
  });

  it('linear-eval: last-4 CLS head (3, 4D), SGD, N(0, 0.01) init', async () => {
    const r = await runTrainer('linear-eval', { epochs: 2, batch: 8 }, data());
    expect(r.cfg).toMatchObject({ optimizer: 'sgd', momentum: 0.9, lastN: 4, minLr: 0, weightDecay: 0, lr: 0.001 * 8 / 256 });
    expect(r.model.linear.weight.shape).toEqual([3, 96]);
    const w0 = r.head0.w;
    const std = Math.sqrt(w0.reduce((a, v) => a + v * v, 0) / w0.length);
    expect(std).toBeGreaterThan(0.006);
    expect(std).toBeLessThan(0.014);
    expect(Array.from(r.head0.b)).toEqual([0, 0, 0]);
    expect(r.result.test.probs[0].length).toBe(3);
    r.model.dispose();
  });
});

describe('frame checkpoints', () => {
  it('round trip through a file: same tensors, same arch, same logits; other checkpoints are refused', async () => {
    const model = new FrameModel({ vit: VIT, preset: 'tiny', lastN: 2, classes: 3 }, { seed: 6 });
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-frame-'));
    const file = join(dir, 'frame.safetensors');
    await saveFrameModel(file, model, { mode: 'probe' });
    const { model: back, checkpoint } = await loadFrameModel(file);
    expect(checkpoint.archFrom).toBe('metadata');
    expect(back.arch).toEqual(model.arch);
    expect(checkpoint.metadata.mode).toBe('probe');
    const a = await model.checkpointTensors();
    const b = await back.checkpointTensors();
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(a.get('linear.0.weight')!.shape).toEqual([3, 48]);
    for (const [n, t] of a) expect(b.get(n)!.data, n).toEqual(t.data);
    const x = Tensor.fromArray(randomImages(3, 32, 8), [3, 3, 32, 32]);
    const [za, zb] = await Promise.all([model, back].map(async (m) => {
      const z = noGrad(() => m.forward(x));
      const v = await z.toArray();
      z.dispose();
      return v;
    }));
    expect(zb).toEqual(za);
    x.dispose();

    // Without metadata (as MeDiVLAD's .pth): the arch comes from the shapes, lastN from the head width.
    const bare = parseFrameCheckpoint(parseSafetensors(serializeSafetensors(a)).tensors, {}, 'bare.safetensors', { heads: 2 });
    expect(bare.archFrom).toBe('shapes');
    expect(bare.arch.lastN).toBe(2);
    expect(bare.arch.vit).toEqual({ ...VIT, dropPathRate: 0 });
    frameModelFromCheckpoint(bare).dispose();

    // A DINO pretrain checkpoint is not a frame checkpoint (safetensors lists names sorted; 54 = the tiny ViT's tensors).
    const dino = new Map([...a].filter(([n]) => n.startsWith('backbone.')).map(([n, t]) => [`teacher.${n}`, t]));
    dino.set('dino_loss.center', { shape: [1, 4], data: new Float32Array(4) });
    const wrong = join(dir, 'dino.safetensors');
    writeFileSync(wrong, serializeSafetensors(dino));
    await expect(loadFrameModel(wrong)).rejects.toThrow(
      new RegExp(`checkpoint ${wrong.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: expected a frame checkpoint \\(backbone\\.\\* \\+ linear\\.0\\.\\*\\), found dino_loss\\.\\* \\(1\\), teacher\\.\\* \\(54\\)`),
    );
    // A head that does not fit the backbone is named.
    const bad = new Map(a);
    bad.set('linear.0.weight', { shape: [3, 50], data: new Float32Array(150) });
    expect(() => parseFrameCheckpoint(bad, model.checkpointMetadata(), 'bad.safetensors')).toThrow(/bad\.safetensors: tensor "linear\.0\.weight": takes 50 features/);
    model.dispose();
    back.dispose();
  });
});

describe('frame sets', () => {
  it('refuse unlabelled clips and mixed sizes', () => {
    const c = synthDataset({ videos: 2, frames: 2, size: 16, seed: 1 });
    expect(() => frameSet([{ ...c[0], label: null }], [0], 1)).toThrow(/has no label/);
    expect(() => frameSet([c[0], { ...c[1], size: 32 }], [0, 1], 1)).toThrow(/is 32 px, expected 16/);
  });
});
