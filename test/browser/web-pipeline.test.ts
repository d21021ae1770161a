// The browser pipeline's host-side pieces, in Node (the same modules the bundle ships):
// frame preparation against a float64 reference, DINO's attention mass threshold against an
// independent greedy reference, checkpoint splitting and loading (a saved model scores
// exactly as the original; bad files name the tensor), and scoreClip against the
// composition of its parts.
import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from '../helpers/gpu.js';
import { expectClose } from '../helpers/close.js';
import { mulberry32, randomArray } from '../helpers/random.js';
import { massThreshold, clsAttentionHeatmap } from '../../src/web/attention-map.js';
import { clipInput, rgbaToGray } from '../../src/web/frames.js';
import { createRandomModel, inferHeadConfig, loadCheckpoint, splitCheckpoint, UNTRAINED } from '../../src/web/model.js';
import { scoreClip, embedClip, softmax64 } from '../../src/web/score.js';
import { syntheticClip } from '../../src/web/synthetic.js';
import { serializeSafetensors } from '../../src/models/safetensors.js';
import { Tensor, noGrad, reshape } from '../../src/autograd/index.js';

/** Greedy reference: take entries from the largest down until their share reaches θ. */
function massThresholdRef(a: ArrayLike<number>, theta: number): Uint8Array {
  const idx = Array.from({ length: a.length }, (_, i) => i).sort((i, j) => a[j] - a[i] || j - i);
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i];
  const keep = new Uint8Array(a.length);
  let acc = 0;
  for (const i of idx) {
    if (acc >= theta * total) break;
    keep[i] = 1;
    acc += a[i];
  }
  return keep;
}

describe('attention mass threshold (SPEC §9)', () => {
  it('keeps the smallest set holding θ of the mass, as the greedy reference', () => {
    for (const [n, theta, seed] of [[63, 0.6, 1], [144, 0.6, 2], [37, 0.3, 3], [9, 0.95, 4]] as const) {
      const a = randomArray(n, seed, 0, 1).map((v) => v * v * v); // peaked, like attention
      const got = massThreshold(a, theta);
      expect(Array.from(got), `n ${n}, θ ${theta}`).toEqual(Array.from(massThresholdRef(a, theta)));
      let total = 0, kept = 0, smallest = Infinity;
      for (let i = 0; i < n; i++) {
        total += a[i];
        if (got[i]) [kept, smallest] = [kept + a[i], Math.min(smallest, a[i])];
      }
      expect(kept / total).toBeGreaterThanOrEqual(theta - 1e-12);
      expect((kept - smallest) / total).toBeLessThan(theta); // minimal: one fewer is not enough
    }
  });

  it('builds the heatmap from the CLS row of every head (float64 reference)', () => {
    const H = 3, g = 5, N = 1 + g * g;
    const logits = randomArray(H * N * N, 5, -3, 3);
    const probs = new Float32Array(H * N * N);
    for (let r = 0; r < H * N; r++) { // softmax rows, as the attention kernel writes them
      const row = logits.subarray(r * N, (r + 1) * N);
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      row.forEach((v, j) => (probs[r * N + j] = Math.exp(v) / z));
    }
    const m = clsAttentionHeatmap(probs, H, 0.6);
    expect([m.grid, m.heads, m.perHead.length]).toEqual([g, H, H]);
    const mean = new Float64Array(g * g);
    const thr = new Float64Array(g * g);
    for (let h = 0; h < H; h++) {
      const a = Array.from(probs.subarray(h * N * N + 1, h * N * N + N));
      const k = massThresholdRef(a, 0.6);
      expect(Array.from(m.keep[h])).toEqual(Array.from(k));
      a.forEach((v, p) => ((mean[p] += v / H), (thr[p] += (v * k[p]) / H)));
    }
    expectClose(m.mean, mean, { rel: 1e-6, what: 'head mean' });
    expectClose(m.thresholded, thr, { rel: 1e-6, what: 'thresholded mean' });
    expect(() => clsAttentionHeatmap(probs.subarray(1), H)).toThrow(/not \(H=3, N, N\)/);
  });
});

describe('frame preparation (SPEC §3)', () => {
  it('RGBA -> luma, floor(linspace) sampling and normalisation match a float64 reference', () => {
    const T = 11, S = 15, size = 7;
    const rnd = mulberry32(9);
    const rgba = (n: number) => Uint8Array.from({ length: n * n * 4 }, () => Math.floor(rnd() * 256));
    const frames = Array.from({ length: T }, () => ({ width: size, height: size, data: rgba(size) }));
    const gray = frames.map((f) => rgbaToGray(f, size)); // same size: luma only
    frames.forEach((f, t) => {
      const ref = Float64Array.from({ length: size * size }, (_, i) => (0.299 * f.data[4 * i] + 0.587 * f.data[4 * i + 1] + 0.114 * f.data[4 * i + 2]) / 255);
      expectClose(gray[t], ref, { rel: 1e-6, what: `luma of frame ${t}` });
    });
    expect(rgbaToGray({ width: 9, height: 5, data: rgba(9).subarray(0, 9 * 5 * 4) }, 5).length).toBe(25); // resized (resize.ts is tested in test/data)
    const same = gray;
    const mean = 0.3, std = 0.2;
    const { input, indices } = clipInput({ size, frames: same }, { frames: S, mean, std });
    const want = Array.from({ length: S }, (_, j) => Math.floor((j * (T - 1)) / (S - 1)));
    expect(indices).toEqual(want);
    const ref = new Float64Array(S * 3 * size * size);
    want.forEach((t, s) => {
      for (let c = 0; c < 3; c++) for (let i = 0; i < size * size; i++) ref[(s * 3 + c) * size * size + i] = (same[t][i] - mean) / std;
    });
    expectClose(input, ref, { rel: 1e-6, what: 'normalised input' });
    expect(() => rgbaToGray({ width: 4, height: 4, data: new Uint8Array(10) }, 4)).toThrow(/not RGBA 4x4/);
    expect(() => clipInput({ size, frames: [] })).toThrow(/0 frames/);
  });
});

describe('scoring model: checkpoints and the pipeline', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('splits backbone and aggregator tensors of every layout, and infers the aggregator', () => {
    const t = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    const st3 = new Map([
      ['module.Embedding.cls_token', t([1, 1, 8])], ['module.vlad.centroids', t([3, 8])], ['module.vlad.V.0.weight', t([24, 24])],
      ['module.dense.0.weight', t([3, 24])],
    ]);
    const p = splitCheckpoint(st3);
    expect([...p.backbone.keys()]).toEqual(['cls_token']);
    expect([...p.head.keys()].sort()).toEqual(['dense.0.weight', 'vlad.V.0.weight', 'vlad.centroids']);
    expect(inferHeadConfig(p.head, 8)).toEqual({ kind: 'dualvlad', dim: 8, clusters: 3, classes: 3 });
    p.head.delete('vlad.V.0.weight');
    expect(inferHeadConfig(p.head, 8)?.kind).toBe('netvlad');
    expect(() => inferHeadConfig(p.head, 16, 'x.safetensors')).toThrow(/x\.safetensors.*vlad\.centroids.*\(3,8\).*\(K, 16\)/);
    expect(inferHeadConfig(new Map([['dense.0.weight', t([3, 8])]]), 8)?.kind).toBe('max');
    expect(inferHeadConfig(new Map(), 8)).toBeNull();
    const plain = splitCheckpoint(new Map([['blocks.0.norm1.weight', t([8])], ['dense.0.bias', t([3])]]));
    expect([...plain.backbone.keys()]).toEqual(['blocks.0.norm1.weight']);
  });

  it('a saved model loads back and scores exactly as the original; a random one says it is untrained', async () => {
    const a = createRandomModel({ seed: 3, frames: 5 });
    expect(a.info.source).toBe(UNTRAINED);
    expect(a.describe()).toContain(UNTRAINED);
    const clip = syntheticClip(2, { size: 48, frames: 9 }); // resized to the model's 64 px
    const tensors = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [n, v] of await storeState(a)) tensors.set(n, v);
    const bytes = serializeSafetensors(tensors, { frames: '5', description: 'test model' });
    const b = await loadCheckpoint(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, { name: 'saved.safetensors' });
    expect(b.info).toMatchObject({ source: 'saved.safetensors', trained: { backbone: true, head: true }, description: 'test model' });
    expect(b.options.frames).toBe(5);
    const [ra, rb] = [await scoreClip(a, clip), await scoreClip(b, clip)];
    expect(rb.logits).toEqual(ra.logits);
    expect(rb.beta).toEqual(ra.beta);
    expect(Array.from(rb.attention.thresholded)).toEqual(Array.from(ra.attention.thresholded));
    // A head tensor of the wrong shape is an error naming the file and the tensor.
    tensors.set('dense.0.weight', { shape: [3, 7], data: new Float32Array(21) });
    await expect(loadCheckpoint(serializeSafetensors(tensors), { name: 'bad.safetensors' })).rejects.toThrow(/bad\.safetensors[\s\S]*dense\.0\.weight/);
    for (const m of [a, b]) m.dispose();
  });

  it('scoreClip composes preprocessing, ViT, aggregator and a float64 softmax', async () => {
    const m = createRandomModel({ seed: 5 });
    const clip = syntheticClip(3, { size: 64, frames: 13 });
    const r = await scoreClip(m, clip);
    const S = 15, D = m.vit.cfg.embedDim;
    expect(r.indices).toEqual(Array.from({ length: S }, (_, j) => Math.floor((j * 12) / 14)));
    // The parts, run by hand on the same input.
    const { input } = clipInput(clip, m.options);
    const x = Tensor.fromArray(input, [S, 3, 64, 64]);
    const f = noGrad(() => m.vit.forward(x));
    const o = noGrad(() => m.video.forward(reshape(f, [1, S, D])));
    expectClose(r.features, await f.toArray(), { rel: 1e-6, what: 'features' });
    expectClose(r.logits, await o.logits.toArray(), { rel: 1e-6, what: 'logits' });
    const beta = Array.from(await o.beta!.toArray());
    expectClose(r.beta!, beta, { rel: 1e-6, what: 'beta' });
    for (const t of [x, f, o.logits, o.beta!]) t.dispose();
    // float64 softmax reference, sums, argmax β.
    const mx = Math.max(...r.logits);
    const z = r.logits.reduce((s, v) => s + Math.exp(v - mx), 0);
    expectClose(r.probs, r.logits.map((v) => Math.exp(v - mx) / z), { rel: 1e-12, what: 'probs' });
    expect(Math.abs(r.probs.reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-12);
    expect(Math.abs(beta.reduce((s, v) => s + v, 0) - 1)).toBeLessThan(1e-5);
    expect(r.critical).toBe(beta.indexOf(Math.max(...beta)));
    expect(r.attentionFrame).toBe(r.indices[r.critical!]);
    expect(r.attention.grid).toBe(8);
    expect(softmax64([1000, 1000])).toEqual([0.5, 0.5]); // max subtracted: no overflow
    const e = await embedClip(m, clip);
    expectClose(e.features, r.features, { rel: 1e-6, what: 'embedClip' });
    m.dispose();
  });
});

/** Every parameter of a scoring model under checkpoint names: the ViT's, then vlad.* / dense.0.*. */
async function storeState(m: ReturnType<typeof createRandomModel>) {
  const out: [string, { shape: readonly number[]; data: Float32Array }][] = [];
  for (const mod of [m.vit, m.video]) {
    for (const [name, p] of mod.namedParameters()) out.push([name, { shape: p.shape, data: await p.t.toArray() }]);
  }
  return out;
}
