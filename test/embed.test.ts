// Backbone loading from every checkpoint layout (load-backbone.ts) and `medivlad embed` as a
// user runs it (the built CLI): its JSON features against the in-process ViT forward on the
// same preprocessed frames, and its one-line errors.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { Tensor, noGrad } from '../src/autograd/index.js';
import { VisionTransformer, VIT_PRESETS, type VitConfig } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { backboneTensors, inferVitConfig, loadBackboneWeights } from '../src/models/load-backbone.js';
import { parseSafetensors, serializeSafetensors, type HostTensor } from '../src/models/safetensors.js';
import { parsePth } from '../src/models/pth.js';
import type { StateDictEntry } from '../src/models/checkpoint.js';
import { saveSafetensors } from '../src/node/files.js';
import { nodeDataFs } from '../src/node/data-io.js';
import { encodePng, loadFrames, LUS_MEAN, LUS_STD } from '../src/data/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');
const pthDir = join(root, 'test/fixtures/pth');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const SMALL: VitConfig = { ...VIT_PRESETS.tiny, imgSize: 16, patchSize: 8, embedDim: 32, depth: 2, numHeads: 2 };

async function randomState(cfg: VitConfig, seed: number): Promise<Map<string, HostTensor>> {
  const vit = new VisionTransformer(cfg);
  const store = new ParameterStore(vit, { seed });
  const sd = await store.stateDict();
  store.dispose();
  return sd;
}

function withPrefix(sd: ReadonlyMap<string, HostTensor>, prefix: string): Map<string, HostTensor> {
  return new Map([...sd].map(([n, t]) => [prefix + n, t]));
}

/** Through our safetensors writer and reader, as a file would go. */
function roundTrip(m: ReadonlyMap<string, HostTensor>): Map<string, StateDictEntry> {
  return parseSafetensors(serializeSafetensors(m)).tensors;
}

async function loadInto(cfg: VitConfig, tensors: ReadonlyMap<string, StateDictEntry>, opts: Parameters<typeof loadBackboneWeights>[3] = {}) {
  const vit = new VisionTransformer(cfg);
  const store = new ParameterStore(vit, { seed: 99 });
  try {
    const info = loadBackboneWeights(vit, store, tensors, opts);
    return { info, sd: await store.stateDict() };
  } finally {
    store.dispose();
  }
}

function expectSameState(got: ReadonlyMap<string, StateDictEntry>, want: ReadonlyMap<string, StateDictEntry>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [n, t] of want) expect(Array.from(got.get(n)!.data), n).toEqual(Array.from(t.data));
}

beforeAll(async () => {
  await gpu();
});

describe('loadBackboneWeights', () => {
  it('loads every layout: DINO plain / full (teacher, student), stage 1, stage 2, DDP', async () => {
    const sd = await randomState(SMALL, 1);
    const head = (p: string) => new Map<string, HostTensor>([
      [`${p}mlp.0.weight`, { shape: [6, 32], data: new Float32Array(192) }],
      [`${p}last_layer.weight_g`, { shape: [5, 1], data: new Float32Array(5) }],
    ]);
    const other = await randomState(SMALL, 2);
    const cases: [string, Map<string, HostTensor>, 'teacher' | 'student' | undefined, string][] = [
      ['dino-plain', sd, undefined, 'dino-plain'],
      ['dino-full teacher', new Map([...withPrefix(sd, 'teacher.backbone.'), ...head('teacher.head.'), ...withPrefix(other, 'student.module.backbone.'),
        ['dino_loss.center', { shape: [1, 5], data: new Float32Array(5) }]]), undefined, 'dino-full'],
      ['dino-full student', new Map([...withPrefix(other, 'teacher.backbone.'), ...withPrefix(sd, 'student.module.backbone.'), ...head('student.module.head.')]), 'student', 'dino-full'],
      ['stage 1', new Map([...withPrefix(sd, '0.'), ...head('1.')]), undefined, 'stage1'],
      ['stage 2', new Map([...withPrefix(sd, 'backbone.'), ['linear_state_dict.0.weight', { shape: [3, 32], data: new Float32Array(96) }]]), undefined, 'stage2'],
      ['ddp', withPrefix(sd, 'module.'), undefined, 'ddp'],
    ];
    for (const [what, m, key, layout] of cases) {
      const { info, sd: got } = await loadInto(SMALL, roundTrip(m), { key, file: `${what}.safetensors` });
      expect(info.layout, what).toBe(layout);
      expectSameState(got, sd);
    }
  });

  it('reads the .pth fixtures: a plain tiny ViT and a DINO full checkpoint (teacher and student)', async () => {
    const plain = (await parsePth(new Uint8Array(readFileSync(join(pthDir, 'tiny-vit.pth'))))).tensors;
    const { cfg, notes } = inferVitConfig(plain, SMALL, { heads: 2 });
    expect(cfg).toMatchObject({ patchSize: 2, embedDim: 4, depth: 2, imgSize: 4, numHeads: 2, mlpRatio: 2 });
    expect(notes[0]).toMatch(/patch 2, width 4, depth 2/);
    // The fixture also holds 'extra_scalar' (f32, 0-d) and 'extra_steps' (i64): not ViT names, ignored.
    const vitOnly = new Map([...plain].filter(([n]) => !n.startsWith('extra_')));
    const loaded = await loadInto(cfg, plain);
    expect(loaded.info).toMatchObject({ layout: 'dino-plain', ignored: 2 });
    expectSameState(loaded.sd, vitOnly);

    const full = (await parsePth(new Uint8Array(readFileSync(join(pthDir, 'dino-full.pth'))))).tensors;
    const fcfg = inferVitConfig(backboneTensors(full).tensors, SMALL, { heads: 1 }).cfg;
    for (const key of ['teacher', 'student'] as const) {
      const prefix = key === 'teacher' ? 'teacher.backbone.' : 'student.module.backbone.';
      const want = new Map([...full].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [n.slice(prefix.length), t]));
      const { info, sd } = await loadInto(fcfg, full, { key });
      expect(info.layout).toBe('dino-full');
      expect(info.ignored).toBe(full.size - want.size);
      expectSameState(sd, want);
    }
  });

  it('errors: pos_embed of another grid (unless resized), wrong key, wrong architecture', async () => {
    const big = await randomState({ ...SMALL, imgSize: 32 }, 3); // 4x4 grid
    await expect(loadInto(SMALL, big, { file: 'big.safetensors' })).rejects.toThrow(
      /checkpoint big\.safetensors: checkpoint pos_embed \(1,17,32\) holds a 4x4 grid \(32 px at patch 8\), the model expects 2x2 \(16 px\)/,
    );
    await expect(loadInto(SMALL, big, { key: 'teacher' })).rejects.toThrow(/no 'teacher.' \/ 'student.' tensors/);
    await expect(loadInto({ ...SMALL, depth: 3 }, big, { resizePosEmbed: true })).rejects.toThrow(/does not match the model: missing: blocks\.2\./);

    // Resized at load = the ViT's own interpolation at run time (DINO's interpolate_pos_encoding).
    const { info, sd } = await loadInto(SMALL, big, { resizePosEmbed: true });
    expect(info.resized).toBe(true);
    const vit = new VisionTransformer({ ...SMALL, imgSize: 32 });
    const store = new ParameterStore(vit, { seed: 0 });
    store.loadValues(new Map([...big].map(([n, t]) => [n, t.data])));
    const pe = noGrad(() => vit.positionEmbedding(2, 2, 16, 16));
    expectClose(sd.get('pos_embed')!.data, await pe.toArray(), { rel: 1e-6, what: 'resized pos_embed' });
    pe.dispose();
    store.dispose();
  });
});

describe('medivlad embed (built CLI)', () => {
  let dir = '';
  let framesDir = '';
  const names = ['frame1.png', 'frame2.png', 'frame10.png']; // natural order: 1, 2, 10

  beforeAll(async () => {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
    dir = mkdtempSync(join(tmpdir(), 'medivlad-embed-'));
    framesDir = join(dir, 'frames');
    mkdirSync(framesDir);
    for (const [k, n] of names.entries()) {
      const [w, h] = [48, 40];
      const data = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = (x * (3 + k) + y * (5 - k) + 17 * k) & 255;
      writeFileSync(join(framesDir, n), await encodePng({ width: w, height: h, channels: 1, data }));
    }
    await saveSafetensors(join(dir, 'tiny.safetensors'), await randomState(VIT_PRESETS.tiny, 7));
    await saveSafetensors(join(dir, 'other.safetensors'), withPrefix(await randomState(SMALL, 8), '0.'));
  });

  /** The in-process reference: same frames, same preprocessing, same weights. */
  async function reference(cfg: VitConfig, ckpt: string, size: number): Promise<Float32Array[]> {
    const tensors = parseSafetensors(new Uint8Array(readFileSync(ckpt))).tensors;
    const vit = new VisionTransformer(cfg);
    const store = new ParameterStore(vit, { seed: 0 });
    loadBackboneWeights(vit, store, tensors);
    const hw = size * size;
    const x = new Float32Array(names.length * 3 * hw);
    for (let b = 0; b < names.length; b++) {
      const [f] = await loadFrames(nodeDataFs, join(framesDir, names[b]), size);
      for (let c = 0; c < 3; c++) for (let i = 0; i < hw; i++) x[(b * 3 + c) * hw + i] = (f[i] - LUS_MEAN) / LUS_STD;
    }
    const xt = Tensor.fromArray(x, [names.length, 3, size, size]);
    const y = noGrad(() => vit.eval().forward(xt));
    const v = await y.toArray();
    for (const t of [xt, y]) t.dispose();
    store.dispose();
    const D = cfg.embedDim;
    return names.map((_, b) => v.slice(b * D, (b + 1) * D));
  }

  it('--json features equal the in-process ViT forward (inferred architecture, native and smaller size)', async () => {
    const ckpt = join(dir, 'tiny.safetensors');
    for (const size of [64, 48]) {
      const r = run(['embed', '--checkpoint', ckpt, '--frames', framesDir, '--json', '--batch', '2', '--size', String(size)]);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/architecture inferred: patch 8, width 128, depth 4/);
      const got = JSON.parse(r.out) as { file: string; feature: number[] }[];
      expect(got.map((g) => g.file)).toEqual(names);
      const want = await reference(VIT_PRESETS.tiny, ckpt, size);
      got.forEach((g, b) => expectClose(g.feature, want[b], { rel: 1e-5, what: `${g.file} at ${size}px` }));
    }
    const text = run(['embed', '--checkpoint', ckpt, '--frames', join(framesDir, 'frame2.png'), '--preset', 'tiny']);
    expect(text.code, text.err).toBe(0);
    expect(text.out.trim().split('\n')).toHaveLength(1);
    expect(text.out).toMatch(/^frame2\.png {2}\[(-?\d\.\d{4} ){7}-?\d\.\d{4} …\] {2}norm \d+\.\d{4}$/m);
  });

  it('reads a .pth (DINO full checkpoint fixture, --key student, --heads)', () => {
    const r = run(['embed', '--checkpoint', join(pthDir, 'dino-full.pth'), '--key', 'student', '--heads', '1', '--frames', framesDir, '--json']);
    expect(r.code, r.err).toBe(0);
    const got = JSON.parse(r.out) as { file: string; feature: number[] }[];
    expect(got).toHaveLength(3);
    for (const g of got) expect(g.feature).toHaveLength(4);
  });

  it('errors are one line: wrong architecture names expected and found; missing files', () => {
    const oneLine = (r: { code: number | null; err: string }) => {
      expect(r.code).toBe(2);
      const lines = r.err.split('\n').filter((l) => l.startsWith('medivlad:'));
      expect(lines.length, r.err).toBe(1);
      expect(r.err).not.toMatch(/\n\s+at /);
      return lines[0];
    };
    const wrong = oneLine(run(['embed', '--checkpoint', join(dir, 'other.safetensors'), '--preset', 'tiny', '--frames', framesDir]));
    expect(wrong).toMatch(/other\.safetensors: is not a 'tiny' ViT: expected patch 8, width 128, depth 4, MLP 512, 8x8 grid; found patch 8, width 32, depth 2, MLP 128, 2x2 grid/);
    expect(oneLine(run(['embed', '--checkpoint', join(dir, 'nope.safetensors'), '--frames', framesDir]))).toMatch(/missing file .*nope\.safetensors/);
    expect(oneLine(run(['embed', '--checkpoint', join(dir, 'tiny.safetensors'), '--frames', join(dir, 'no-frames')]))).toMatch(/missing file .*no-frames/);
    expect(oneLine(run(['embed', '--checkpoint', join(dir, 'tiny.safetensors'), '--frames', framesDir, '--size', '30']))).toMatch(/--size 30 must be a positive multiple of the patch size 8/);
  });
});
