// ViT against PyTorch (scripts/make-fixtures.py restates DINO's vision_transformer.py):
// a tiny ViT's CLS features, last-layer attention and every parameter gradient, at its
// native size and at a smaller input (bicubic position-embedding interpolation); and one
// ViT-S/8 block (D 384, 6 heads of 64, N 65), with the planned fused attention and again with
// the tiled GPU version v7 (put in as the autotuner's choice, so it runs through the model).
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { loadStFixture } from './helpers/st-fixture.js';
import { formulaValues } from './helpers/formula-init.js';
import { Tensor, backward } from '../src/autograd/index.js';
import { VisionTransformer, Block, VIT_PRESETS, type VitConfig } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { getRuntime } from '../src/kernels/current.js';
import { autotunerFor } from '../src/kernels/autotune.js';
import { attentionShapeClass, versionIneligible } from '../src/kernels/attention.js';

beforeAll(async () => {
  await gpu();
});

describe('ViT vs PyTorch', () => {
  it('tiny ViT: CLS, last attention, all gradients, native and interpolated sizes', async () => {
    const fx = loadStFixture('vit-tiny');
    const m = fx.meta as { img: number; patch: number; dim: number; depth: number; heads: number; B: number };
    const cfg: VitConfig = { ...VIT_PRESETS.tiny, imgSize: m.img, patchSize: m.patch, embedDim: m.dim, depth: m.depth, numHeads: m.heads };
    const vit = new VisionTransformer(cfg);
    const store = new ParameterStore(vit, { seed: 0 });
    store.loadValues(formulaValues(vit, 0.2));
    for (const size of [32, 24]) {
      store.zeroGrad();
      const x = Tensor.fromArray(fx.get(`x${size}`).data, [m.B, 3, size, size]);
      const w = Tensor.fromArray(fx.get(`w${size}`).data, [m.B, m.dim]);
      const cls = vit.forward(x);
      expectClose(await cls.toArray(), fx.get(`cls${size}`).data, { rel: 1e-4, what: `cls ${size}px` });
      const attn = vit.lastSelfAttention(x);
      expectClose(await attn.toArray(), fx.get(`attn${size}`).data, { rel: 1e-4, what: `attention ${size}px` });
      backward(cls, w);
      for (const [name, p] of vit.namedParameters()) {
        expectClose(await p.t.grad!.toArray(), fx.get(`grad${size}.${name}`).data, { rel: 1e-4, what: `grad ${name} at ${size}px` });
      }
      for (const t of [x, w, cls, attn]) t.dispose();
    }
    store.dispose();
  });

  // With the planned attention, and with the tiled GPU version (v7) put in as a tuned choice.
  for (const tiled of [false, true]) it(`one ViT-S/8 block: output and gradients${tiled ? ', attention v7' : ''}`, async () => {
    const fx = loadStFixture('vit-s8-block');
    const { B, N, D } = fx.meta as { B: number; N: number; D: number };
    const rt = getRuntime();
    if (tiled) {
      expect(versionIneligible(rt, 'fwd', 7, 64, [])).toBeNull();
      const cls = attentionShapeClass(N, 64, B * 6);
      autotunerFor(rt).set('attention-fwd', cls, '7');
      autotunerFor(rt).set('attention-bwd', cls, '7');
    }
    const profile = tiled && rt.device.features.has('timestamp-query');
    if (profile) rt.startProfile();
    let ran: string[] = [];
    try {
      await checkBlock(fx, B, N, D);
    } finally {
      if (profile) ran = (await rt.stopProfile()).kernels.map((k) => k.kernel);
      if (tiled) autotunerFor(rt).reset();
    }
    // The tuned choice is what ran (where the profiler can tell).
    if (profile) for (const e of ['attention_forward_v7', 'attention_bwd_dkdv_v7', 'attention_bwd_dq_v7']) expect(ran).toContain(`attention/${e}`);
  });

  async function checkBlock(fx: ReturnType<typeof loadStFixture>, B: number, N: number, D: number): Promise<void> {
    const blk = new Block(VIT_PRESETS['vit-s8'], 0, 0);
    const store = new ParameterStore(blk, { seed: 0 });
    store.loadValues(formulaValues(blk, 0.05));
    const x = Tensor.fromArray(fx.get('x').data, [B, N, D]);
    x.requiresGrad = true;
    const w = Tensor.fromArray(fx.get('w').data, [B, N, D]);
    const y = blk.forward(x);
    expectClose(await y.toArray(), fx.get('y').data, { rel: 1e-4, what: 'block output' });
    const attn = blk.attentionMap(x);
    expectClose(await attn.toArray(), fx.get('attn').data, { rel: 1e-4, what: 'block attention' });
    backward(y, w);
    expectClose(await x.grad!.toArray(), fx.get('grad.x').data, { rel: 1e-4, what: 'grad x' });
    for (const [name, p] of blk.namedParameters()) {
      const g = await p.t.grad!.toArray();
      let ss = 0;
      for (const v of g) ss += v * v;
      expectClose([Math.sqrt(ss)], fx.get(`gradnorm.${name}`).data, { rel: 1e-4, what: `|grad ${name}|` });
      if (p.shape.length === 2) {
        const [rows, cols] = p.shape;
        const sub: number[] = [];
        for (let r = 0; r < rows; r += 7) sub.push(...g.slice(r * cols, (r + 1) * cols));
        expectClose(sub, fx.get(`grad.${name}.rows7`).data, { rel: 1e-4, what: `grad ${name} (every 7th row)` });
      } else {
        expectClose(g, fx.get(`grad.${name}`).data, { rel: 1e-4, what: `grad ${name}` });
      }
    }
    expect(blk.numParameters()).toBe(1_774_464);
    for (const t of [x, w, y, attn]) t.dispose();
    store.dispose();
  }

  it('vit-s8 preset has 21.67 M parameters', () => {
    const vit = new VisionTransformer(VIT_PRESETS['vit-s8']);
    expect(vit.numParameters()).toBe(21_670_272);
    const names = vit.namedParameters().map(([n]) => n);
    expect(names.slice(0, 4)).toEqual(['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
    expect(names).toContain('blocks.11.attn.qkv.weight');
    expect(names[names.length - 1]).toBe('norm.bias');
  });
});
