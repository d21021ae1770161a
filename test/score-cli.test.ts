// `medivlad score` as a user runs it (the built CLI) on a small DualVLAD video checkpoint
// (tiny ViT, random weights, saved by saveVideoModel): its probabilities and β equal an
// in-process forward of the same model on the same S = 15 frames (floor(linspace), natural
// file order, a short clip repeating frames, a video longer than S); --attention writes the
// critical frame with the CLS heatmap exactly where the thresholded attention is non-zero;
// the Bi-LSTM has no β and says so; a frame / DINO checkpoint is a one-line error. Also the
// overlay itself (src/eval/overlay.ts): pixels, layout and browser-safety.
import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { Tensor, noGrad } from '../src/autograd/index.js';
import { VIT_PRESETS, VisionTransformer } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { reshape } from '../src/autograd/ops/shape.js';
import { encodePng, decodePng, type Image8 } from '../src/data/png.js';
import { loadFrames, LUS_MEAN, LUS_STD } from '../src/data/index.js';
import { Rng } from '../src/data/rng.js';
import { nodeDataFs, haveFfmpeg } from '../src/node/data-io.js';
import { saveSafetensors } from '../src/node/files.js';
import { MediVLAD } from '../src/train/video-checkpoint.js';
import { FrameModel } from '../src/train/frame-model.js';
import { saveFrameModel } from '../src/cli/finetune.js';
import { framesToInput } from '../src/cli/embed.js';
import { saveVideoModel, loadVideoModel, evalFramesOnly } from '../src/cli/video-io.js';
import { clsAttentionHeatmap } from '../src/web/attention-map.js';
import { attentionOverlay, overlayLayout, heatColor } from '../src/eval/overlay.js';
import type { AggregatorKind } from '../src/models/video-models.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function oneLineError(r: { code: number | null; err: string }): string {
  expect(r.code, r.err).toBe(2);
  const lines = r.err.split('\n').filter((l) => l.startsWith('medivlad:'));
  expect(lines.length, r.err).toBe(1);
  expect(r.err).not.toMatch(/\n\s+at /);
  return lines[0];
}

const S = 15;
const SIZE = VIT_PRESETS.tiny.imgSize; // 64

function videoModel(kind: AggregatorKind, seed: number): MediVLAD {
  return new MediVLAD({
    vit: VIT_PRESETS.tiny, preset: 'tiny',
    video: { kind, dim: VIT_PRESETS.tiny.embedDim, clusters: 3, classes: 3, alpha: 1, seed },
    frames: S, mean: LUS_MEAN, std: LUS_STD,
  });
}

/** A gray frame 48×40 (not the model size, not square): a bright band at a frame-dependent height, plus noise. */
function frameBytes(k: number, rng: Rng): Uint8Array {
  const [w, h] = [48, 40];
  const d = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const band = Math.abs(y - ((7 * k) % h)) < 4 ? 150 : 0;
      d[y * w + x] = Math.min(255, band + ((x * (k + 2) + y * 3) & 63) + Math.floor(40 * rng.next()));
    }
  }
  return d;
}

const png = (data: Uint8Array) => encodePng({ width: 48, height: 40, channels: 1, data });

interface ScoreJson {
  format: string;
  aggregator: string;
  input: { kind: string; frames: number; size: number };
  probabilities: number[];
  predicted: number;
  classes: { class: number; lus: string; probability: number }[];
  frames: number[];
  beta: number[] | null;
  critical: { slot: number; frame: number; beta: number } | null;
  attention: { file: string; slot: number; frame: number; theta: number } | null;
}

/**
 * The in-process reference: the S = 15 indices floor(j (T − 1) / 14), written out here; the ViT
 * on those frames as one batch; the aggregator; softmax in float64.
 */
async function reference(m: MediVLAD, frames: Float32Array[]) {
  const T = frames.length;
  const idx = Array.from({ length: S }, (_, j) => Math.floor((j * (T - 1)) / (S - 1)));
  const x = Tensor.fromArray(framesToInput(idx.map((t) => frames[t]), SIZE, LUS_MEAN, LUS_STD), [S, 3, SIZE, SIZE]);
  const D = m.vit.cfg.embedDim;
  const out = noGrad(() => {
    const f = m.vit.forward(x); // (S, D)
    const r = m.video.forward(reshape(f, [1, S, D]));
    f.dispose();
    return r;
  });
  const logits = Array.from(await out.logits.toArray());
  const beta = out.beta ? Array.from(await out.beta.toArray()) : null;
  for (const t of [x, out.logits, out.beta]) t?.dispose();
  const mx = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - mx));
  const z = e.reduce((a, b) => a + b, 0);
  return { idx, probs: e.map((v) => v / z), beta };
}

let dir = '';
let scored: ScoreJson | null = null; // the --json result of the frame folder, reused by the text run
let framesDir = '';
let video = '';
const models: MediVLAD[] = [];
// Natural order: f2 before f10 (a plain string sort would put f10, f11 after f1).
const NAMES = Array.from({ length: 11 }, (_, k) => `f${k + 1}.png`);

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  await gpu();
  dir = mkdtempSync(join(tmpdir(), 'medivlad-score-'));
  framesDir = join(dir, 'frames');
  mkdirSync(framesDir);
  const rng = new Rng(11);
  for (const [k, n] of NAMES.entries()) writeFileSync(join(framesDir, n), await png(frameBytes(k, rng)));
  // A 20-frame video (T > S: the model sees 15 distinct frames), lossless so frames stay apart.
  if (await haveFfmpeg()) {
    const vdir = join(dir, 'vframes');
    mkdirSync(vdir);
    for (let k = 0; k < 20; k++) writeFileSync(join(vdir, `v${String(k).padStart(2, '0')}.png`), await png(frameBytes(k + 3, rng)));
    video = join(dir, 'clip.mkv');
    execFileSync('ffmpeg', ['-y', '-loglevel', 'error', '-framerate', '10', '-i', join(vdir, 'v%02d.png'), '-c:v', 'ffv1', video]);
  }
  models.push(videoModel('dualvlad', 5), videoModel('lstm', 6));
  await saveVideoModel(join(dir, 'dualvlad.safetensors'), models[0], { note: 'score test' });
  await saveVideoModel(join(dir, 'lstm.safetensors'), models[1]);
});

afterAll(() => {
  for (const m of models) m.dispose();
});

describe('video checkpoint I/O', () => {
  it('saveVideoModel → loadVideoModel restores every tensor and the arch', async () => {
    const { model, parsed } = await loadVideoModel(join(dir, 'dualvlad.safetensors'));
    expect(parsed.metadata).toMatchObject({ format: 'medivlad-video-checkpoint', aggregator: 'dualvlad', frames: '15', note: 'score test' });
    expect(parsed.arch.vit).toEqual(VIT_PRESETS.tiny);
    const want = await models[0].checkpointTensors();
    const got = await model.checkpointTensors();
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [n, t] of want) expect(Array.from(got.get(n)!.data), n).toEqual(Array.from(t.data));
    model.dispose();
  });

  it('evalFramesOnly keeps exactly the frames floor(linspace) picks', () => {
    const clip = (T: number) => ({ id: 'c', patient: 'p', score: null, label: null, size: 1, frames: Array.from({ length: T }, (_, t) => Float32Array.of(t)) });
    const short = evalFramesOnly(clip(7), S);
    expect(short.source).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const long = evalFramesOnly(clip(40), S);
    const want = Array.from({ length: S }, (_, j) => Math.floor((j * 39) / 14));
    expect(long.source).toEqual(want);
    expect(long.clip.frames.map((f) => f[0])).toEqual(want);
  });
});

describe('medivlad score (built CLI)', () => {
  it('--json on a frame folder: probabilities and β equal the in-process forward; critical = argmax β', async () => {
    const r = run(['score', '--checkpoint', join(dir, 'dualvlad.safetensors'), '--frames', framesDir, '--json']);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as ScoreJson;
    expect(got).toMatchObject({ format: 'medivlad-score', aggregator: 'dualvlad', input: { kind: 'frames', frames: 11, size: SIZE } });
    // Loaded one file at a time in the order of NAMES (f1 … f9, f10, f11), not as a folder.
    const frames: Float32Array[] = [];
    for (const n of NAMES) frames.push(...(await loadFrames(nodeDataFs, join(framesDir, n), SIZE)));
    const want = await reference(models[0], frames);
    // T = 11 < 15: every frame is used and some twice
    expect(got.frames).toEqual(want.idx);
    expect(new Set(got.frames).size).toBe(11);
    expect(got.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expectClose(got.probabilities, want.probs, { rel: 1e-5, what: 'probabilities' });
    expect(got.beta).toHaveLength(S);
    expect(got.beta!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expectClose(got.beta!, want.beta!, { rel: 1e-5, what: 'beta' });
    const slot = got.beta!.indexOf(Math.max(...got.beta!));
    expect(got.critical).toEqual({ slot, frame: got.frames[slot], beta: got.beta![slot] });
    expect(got.predicted).toBe(got.probabilities.indexOf(Math.max(...got.probabilities)));
    expect(got.classes.map((c) => c.lus)).toEqual(['LUS score 0', 'LUS scores 1-2', 'LUS score 3']);
    expect(got.attention).toBeNull();

    scored = got;
  });

  it.skipIf(!spawnSync('ffmpeg', ['-version']).stdout)('--video (T = 20 > S): the 15 distinct frames of floor(linspace), same numbers as in process', async () => {
    const r = run(['score', '--checkpoint', join(dir, 'dualvlad.safetensors'), '--video', video, '--json', '--batch', '4']);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as ScoreJson;
    expect(got.input).toMatchObject({ kind: 'video', frames: 20 });
    const want = await reference(models[0], await loadFrames(nodeDataFs, video, SIZE));
    expect(got.frames).toEqual(want.idx);
    expect(new Set(got.frames).size).toBe(S);
    expectClose(got.probabilities, want.probs, { rel: 1e-5, what: 'probabilities (video)' });
    expectClose(got.beta!, want.beta!, { rel: 1e-5, what: 'beta (video)' });
  });

  it('text output and --attention: a PNG of the layout size whose heat colours lie exactly on the kept patches of the critical frame', async () => {
    // The text form, with the numbers of the --json run above.
    const got = scored as ScoreJson;
    const slot = got.critical!.slot;
    const out = join(dir, 'maps', 'attention.png'); // the folder does not exist yet
    const text = run(['score', '--checkpoint', join(dir, 'dualvlad.safetensors'), '--frames', framesDir, '--attention', out]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`predicted: class ${got.predicted} (`);
    expect(text.out).toContain(`critical frame: source frame ${got.critical!.frame} (slot ${slot}, beta ${got.beta![slot].toFixed(4)})`);
    expect(text.out.match(/^ +\d+ +\d+ +\d\.\d{4}/gm)).toHaveLength(S);
    expect(text.out).toContain(`attention map of source frame ${got.critical!.frame}: ${out}`);

    const img = await decodePng(new Uint8Array(readFileSync(out)));
    const L = overlayLayout(SIZE, { title: ['', '', ''] }); // file and frame, why this frame, the prediction
    expect([img.width, img.height, img.channels]).toEqual([L.width, L.height, 3]);
    expect(L.scale).toBe(4); // 64 px × 4 = 256 px

    // The heatmap in process: last-block CLS attention of that frame, thresholded at 60%.
    const frame = (await loadFrames(nodeDataFs, framesDir, SIZE))[got.critical!.frame];
    const x = Tensor.fromArray(framesToInput([frame], SIZE, LUS_MEAN, LUS_STD), [1, 3, SIZE, SIZE]);
    const p = noGrad(() => models[0].vit.lastSelfAttention(x));
    const heat = clsAttentionHeatmap(await p.toArray(), VIT_PRESETS.tiny.numHeads, 0.6);
    x.dispose();
    p.dispose();
    const kept = [...heat.thresholded].filter((v) => v > 0).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(64);
    let coloured = 0;
    for (let y = 0; y < L.image.h; y++) {
      for (let xx = 0; xx < L.image.w; xx++) {
        const sy = Math.floor(y / 4);
        const sx = Math.floor(xx / 4);
        const g = Math.round(255 * Math.min(1, Math.max(0, frame[sy * SIZE + sx])));
        const i = ((L.image.y + y) * img.width + L.image.x + xx) * 3;
        const px = [img.data[i], img.data[i + 1], img.data[i + 2]];
        if (heat.thresholded[Math.floor(sy / 8) * 8 + Math.floor(sx / 8)] > 0) {
          expect(px[0] > px[2], `pixel ${xx},${y} should carry heat colour`).toBe(true);
          coloured++;
        } else if (px[0] !== g || px[1] !== g || px[2] !== g) {
          throw new Error(`pixel ${xx},${y} outside the kept patches is ${px}, the plain frame has gray ${g}`);
        }
      }
    }
    expect(coloured).toBe(kept * 32 * 32); // each 8-px patch is 32×32 output pixels
  });

  it('lstm: no β, no critical frame, and it says so; --attention falls back to the middle sampled frame', async () => {
    const out = join(dir, 'lstm.png');
    const r = run(['score', '--checkpoint', join(dir, 'lstm.safetensors'), '--frames', framesDir, '--json', '--attention', out]);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as ScoreJson;
    expect(got.aggregator).toBe('lstm');
    expect(got.beta).toBeNull();
    expect(got.critical).toBeNull();
    expect(got.attention).toMatchObject({ slot: 7, frame: got.frames[7] });
    const want = await reference(models[1], await loadFrames(nodeDataFs, framesDir, SIZE));
    expectClose(got.probabilities, want.probs, { rel: 1e-5, what: 'lstm probabilities' });
    const text = run(['score', '--checkpoint', join(dir, 'lstm.safetensors'), '--frames', framesDir]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/frame weights: none \(the lstm aggregator has no per-frame beta\), so no critical frame/);
  });

  it('one-line errors: a frame checkpoint, a DINO backbone (.safetensors and .pth), two clips, a missing folder', async () => {
    const frameModel = new FrameModel({ vit: VIT_PRESETS.tiny, preset: 'tiny', lastN: 1, classes: 3 }, { seed: 1 });
    await saveFrameModel(join(dir, 'frame.safetensors'), frameModel);
    frameModel.dispose();
    const vit = new VisionTransformer(VIT_PRESETS.tiny);
    const store = new ParameterStore(vit, { seed: 2 });
    await saveSafetensors(join(dir, 'dino.safetensors'), await store.stateDict());
    store.dispose();

    const ck = (f: string) => ['score', '--checkpoint', f, '--frames', framesDir];
    expect(oneLineError(run(ck(join(dir, 'frame.safetensors'))))).toMatch(
      /frame\.safetensors: expected a MeDiVLAD video checkpoint .*, found format 'medivlad-frame-checkpoint', backbone\.\* \(\d+\), linear\.\* \(2\)/,
    );
    expect(oneLineError(run(ck(join(dir, 'dino.safetensors'))))).toMatch(/dino\.safetensors: expected a MeDiVLAD video checkpoint .*, found blocks\.\* \(\d+\), cls_token, norm\.\* \(2\), patch_embed\.\* \(2\), pos_embed$/);
    expect(oneLineError(run(ck(join(root, 'test/fixtures/pth/dino-full.pth'))))).toMatch(/dino-full\.pth: expected a MeDiVLAD video checkpoint .*, found .*teacher\.\* \(\d+\)/);
    const ckpt = join(dir, 'dualvlad.safetensors');
    expect(oneLineError(run(['score', '--checkpoint', ckpt, '--frames', framesDir, '--video', framesDir]))).toMatch(/give one clip: --video FILE or --frames DIR/);
    expect(oneLineError(run(['score', '--checkpoint', ckpt, '--frames', join(dir, 'nothing')]))).toMatch(/--frames: missing folder .*nothing/);
    expect(oneLineError(run(['score', '--checkpoint', ckpt, '--frames', framesDir, '--attention', join(dir, 'a.jpg')]))).toMatch(/name a \.png file/);
  });
});

describe('attentionOverlay', () => {
  const size = 24;
  const grid = 3; // 8-px patches
  const frame = Float32Array.from({ length: size * size }, (_, i) => ((i * 37) % 101) / 100);
  const heat = Float32Array.from([0, 0.2, 0, 0, 0.5, 0, 0.1, 0, 0]);

  it('keeps the plain frame outside the heat, blends the heat colour inside; layout with title and legend', () => {
    const img: Image8 = attentionOverlay(frame, size, heat, grid, { title: ['a title line'], alpha: 0.5 });
    const L = overlayLayout(size, { title: ['x'] });
    expect(L.scale).toBe(11); // smallest k with 24 k >= 256
    expect([img.width, img.height]).toEqual([L.width, L.height]);
    expect(L.height).toBeGreaterThan(L.image.y + L.image.h); // title strip + frame + legend
    for (let y = 0; y < L.image.h; y += 5) {
      for (let x = 0; x < L.image.w; x += 3) {
        const sx = Math.floor(x / L.scale);
        const sy = Math.floor(y / L.scale);
        const g = Math.round(255 * frame[sy * size + sx]);
        const h = heat[Math.floor(sy / 8) * grid + Math.floor(sx / 8)];
        const i = ((L.image.y + y) * img.width + x) * 3;
        const got = [img.data[i], img.data[i + 1], img.data[i + 2]];
        if (h === 0) expect(got).toEqual([g, g, g]);
        else {
          const w = h / 0.5;
          const a = 0.5 * (0.5 + 0.5 * w);
          const c = heatColor(w);
          expect(got).toEqual([0, 1, 2].map((k) => Math.round((1 - a) * g + a * c[k])));
        }
      }
    }
  });

  it('heat colours run dark red → orange → yellow; bad shapes are errors; bundles for the browser', async () => {
    expect(heatColor(0)).toEqual([180, 0, 0]);
    expect(heatColor(0.5)).toEqual([255, 128, 0]);
    expect(heatColor(1)).toEqual([255, 255, 0]);
    expect(() => attentionOverlay(frame, size, heat.subarray(1), grid)).toThrow(/heatmap has 8 values, expected 3×3/);
    expect(() => attentionOverlay(frame, size, heat, 5)).toThrow(/patch grid 5 does not divide the frame side 24/);
    expect(() => attentionOverlay(frame.subarray(1), size, heat, grid)).toThrow(/frame has 575 values, expected 24×24/);
    const r = await build({
      entryPoints: [fileURLToPath(new URL('../src/eval/overlay.ts', import.meta.url))],
      bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent',
    });
    expect(r.errors).toEqual([]);
  });
});
