// `medivlad eval` as a user runs it (the built CLI) on synthetic data with a small DualVLAD
// video checkpoint (tiny ViT, random weights): it scores exactly the test clips of the
// patient-disjoint fold (patientFolds(clips, 2, fold seed), as frameSplits), its probabilities
// equal an in-process forward of the same model on the same 15 frames, its accuracy, F1, AUC
// and recall agree with its own confusion matrix and per-clip predictions (text and JSON),
// --out writes eval.json and the two plots; bad arguments and checkpoints are one-line errors.
import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { Tensor, noGrad } from '../src/autograd/index.js';
import { reshape } from '../src/autograd/ops/shape.js';
import { VIT_PRESETS } from '../src/models/vit.js';
import { synthDataset } from '../src/data/synth.js';
import { patientFolds } from '../src/data/folds.js';
import { decodePng } from '../src/data/png.js';
import { LUS_MEAN, LUS_STD } from '../src/data/preprocess.js';
import { classificationReport } from '../src/eval/metrics.js';
import { MediVLAD } from '../src/train/video-checkpoint.js';
import { framesToInput } from '../src/cli/embed.js';
import { saveVideoModel } from '../src/cli/video-io.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const S = 15;
const SIZE = VIT_PRESETS.tiny.imgSize;
// 14 clips of 5 frames (T < S: frames repeat), fold 1: a few seconds on lavapipe.
const DATA = { videos: 14, frames: 5 };
const ARGS = ['--data', 'synthetic', '--videos', String(DATA.videos), '--frames', String(DATA.frames), '--fold', '1', '--fold-seed', '3'];

interface EvalJson {
  format: string;
  aggregator: string;
  accuracy: number;
  weighted_f1: number;
  auc: { macro: number; per_class: (number | null)[]; defined_classes: number };
  recall: (number | null)[];
  confusion: number[][];
  data: { fold: number; fold_seed: number; clips: number; classes: number[] };
  clips: { id: string; label: number; predicted: number; probs: number[]; beta: number[] | null; frames: number[] }[];
  outputs: string[];
}

let dir = '';
let model: MediVLAD;

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  await gpu();
  dir = mkdtempSync(join(tmpdir(), 'medivlad-eval-'));
  model = new MediVLAD({
    vit: VIT_PRESETS.tiny, preset: 'tiny',
    video: { kind: 'dualvlad', dim: VIT_PRESETS.tiny.embedDim, clusters: 3, classes: 3, alpha: 1, seed: 9 },
    frames: S, mean: LUS_MEAN, std: LUS_STD,
  });
  await saveVideoModel(join(dir, 'video.safetensors'), model);
});

afterAll(() => model?.dispose());

describe('medivlad eval (built CLI)', () => {
  it('--json --out: the fold\'s test clips, probabilities as in process, metrics consistent with the per-clip predictions', async () => {
    const out = join(dir, 'out');
    const r = run(['eval', '--checkpoint', join(dir, 'video.safetensors'), ...ARGS, '--json', '--out', out]);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as EvalJson;
    expect(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'))).toEqual(got);
    expect(got).toMatchObject({ format: 'medivlad-video-eval', aggregator: 'dualvlad', data: { fold: 1, fold_seed: 3 } });

    // The same clips as the fold construction every stage uses.
    const clips = synthDataset({ ...DATA, size: SIZE, seed: 3 });
    const test = patientFolds(clips, 2, 3).folds[1].test.map((i) => clips[i]);
    expect(got.clips.map((c) => c.id)).toEqual(test.map((c) => c.id));
    expect(got.clips.map((c) => c.label)).toEqual(test.map((c) => c.label));
    const n = test.length;
    expect(got.data.clips).toBe(n);

    // In process: the 15 frames floor(j (T − 1) / 14) of each clip → ViT → aggregator → softmax.
    const idx = Array.from({ length: S }, (_, j) => Math.floor((j * (DATA.frames - 1)) / (S - 1)));
    const D = model.vit.cfg.embedDim;
    const x = Tensor.fromArray(framesToInput(test.flatMap((c) => idx.map((t) => c.frames[t])), SIZE), [n * S, 3, SIZE, SIZE]);
    const o = noGrad(() => {
      const f = model.vit.forward(x);
      const y = model.video.forward(reshape(f, [n, S, D]));
      f.dispose();
      return y;
    });
    const logits = await o.logits.toArray();
    const beta = await o.beta!.toArray();
    for (const t of [x, o.logits, o.beta!]) t.dispose();
    const probs = Array.from({ length: n }, (_, i) => {
      const l = Array.from(logits.subarray(3 * i, 3 * i + 3));
      const e = l.map((v) => Math.exp(v - Math.max(...l)));
      return e.map((v) => v / e.reduce((a, b) => a + b, 0));
    });
    expectClose(got.clips.flatMap((c) => c.probs), probs.flat(), { rel: 1e-5, what: 'test-clip probabilities' });
    expectClose(got.clips.flatMap((c) => c.beta!), beta, { rel: 1e-5, what: 'test-clip beta' });
    for (const c of got.clips) expect(c.frames).toEqual(idx);

    // Metrics agree with the confusion matrix and with the per-clip labels and probabilities.
    const cm = got.confusion;
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(n);
    expect(got.accuracy).toBe((cm[0][0] + cm[1][1] + cm[2][2]) / n);
    got.clips.forEach((c) => {
      expect(c.predicted).toBe(c.probs.indexOf(Math.max(...c.probs)));
      expect(c.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    });
    const want = classificationReport(got.clips.map((c) => c.label), got.clips.flatMap((c) => c.probs), 3);
    expect(cm).toEqual(want.confusion);
    expect(got.weighted_f1).toBeCloseTo(want.weightedF1, 12);
    expect(got.auc.per_class).toEqual(want.auc.perClass.map((v) => (Number.isNaN(v) ? null : v)));
    expect(got.recall).toEqual(want.recall.map((v) => (Number.isNaN(v) ? null : v)));

    // The plots: valid PNGs.
    expect(got.outputs).toEqual(['eval.json', 'confusion.png', 'roc.png'].map((f) => join(out, f)));
    for (const f of got.outputs.slice(1)) {
      const img = await decodePng(new Uint8Array(readFileSync(f)));
      expect(img.width).toBeGreaterThan(150);
      expect(img.height).toBeGreaterThan(150);
    }
  });

  it('the printed table: accuracy equals the trace of the printed confusion matrix over its total', () => {
    const r = run(['eval', '--checkpoint', join(dir, 'video.safetensors'), ...ARGS]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/fold 1 \(fold seed 3\): \d+ test clips, classes \d+\/\d+\/\d+/);
    const rows = [...r.out.matchAll(/^ {2}true (\d)((?: +\d+){3})$/gm)].map((m) => m[2].trim().split(/ +/).map(Number));
    expect(rows).toHaveLength(3);
    const total = rows.flat().reduce((a, b) => a + b, 0);
    const trace = rows[0][0] + rows[1][1] + rows[2][2];
    const acc = r.out.match(/^accuracy +([\d.]+)% \((\d+)\/(\d+)\)$/m);
    expect(acc, r.out).not.toBeNull();
    expect(Number(acc![2])).toBe(trace);
    expect(Number(acc![3])).toBe(total);
    expect(Number(acc![1])).toBeCloseTo((100 * trace) / total, 1);
    expect(r.out).toMatch(/^weighted F1 +\d\.\d{4}$/m);
    expect(r.out).toMatch(/^macro AUC +(\d\.\d{4}|n\/a) \(one-vs-rest, mean over \d of 3 classes/m);
    expect(r.out.match(/^ {2}class \d \(LUS scores? [\d-]+\) +([\d.]+%|n\/a) of \d+$/gm)).toHaveLength(3);
  });

  it('one-line errors: a fold that does not exist, a checkpoint that is not a video checkpoint', () => {
    const oneLine = (res: { code: number | null; err: string }) => {
      expect(res.code, res.err).toBe(2);
      const lines = res.err.split('\n').filter((l) => l.startsWith('medivlad:'));
      expect(lines.length, res.err).toBe(1);
      return lines[0];
    };
    expect(oneLine(run(['eval', '--checkpoint', join(dir, 'video.safetensors'), '--fold', '2']))).toMatch(/--fold must be 0 or 1, got 2/);
    expect(oneLine(run(['eval', '--checkpoint', join(root, 'test/fixtures/pth/dino-full.pth')]))).toMatch(/dino-full\.pth: expected a MeDiVLAD video checkpoint/);
    expect(oneLine(run(['eval', '--checkpoint', join(dir, 'none.safetensors')]))).toMatch(/--checkpoint: missing file .*none\.safetensors/);
  });
});
