// DINOHead against PyTorch (scripts/make-fixtures-dino-head.py restates DINO's DINOHead): a
// small head (in 32, hidden 48, bottleneck 16, out 37, 3 layers) with norm_last_layer true
// (weight_g frozen) and false; the output and every gradient of loss = sum(w * out).
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { loadStFixture } from './helpers/st-fixture.js';
import { formulaValues } from './helpers/formula-init.js';
import { Tensor, backward } from '../src/autograd/index.js';
import { DINOHead } from '../src/models/dino-head.js';
import { ParameterStore } from '../src/models/parameters.js';

beforeAll(async () => {
  await gpu();
});

describe('DINOHead vs PyTorch', () => {
  const fx = loadStFixture('dino-head');
  const m = fx.meta as { B: number; in: number; hidden: number; bottleneck: number; out: number; nlayers: number; scale: number };

  for (const normLastLayer of [true, false]) {
    const tag = normLastLayer ? 'norm' : 'free';
    it(`norm_last_layer ${normLastLayer}: output, input and parameter gradients`, async () => {
      const head = new DINOHead({ inDim: m.in, outDim: m.out, nlayers: m.nlayers, hiddenDim: m.hidden, bottleneckDim: m.bottleneck, normLastLayer });
      expect(head.namedParameters().map(([n]) => n)).toEqual([
        'mlp.0.weight', 'mlp.0.bias', 'mlp.2.weight', 'mlp.2.bias', 'mlp.4.weight', 'mlp.4.bias',
        'last_layer.weight_g', 'last_layer.weight_v',
      ]);
      const store = new ParameterStore(head, { seed: 0 });
      store.loadValues(formulaValues(head, m.scale));
      const x = Tensor.fromArray(fx.get('x').data, [m.B, m.in]);
      x.requiresGrad = true;
      const w = Tensor.fromArray(fx.get('w').data, [m.B, m.out]);
      const y = head.forward(x);
      expect(y.shape).toEqual([m.B, m.out]);
      expectClose(await y.toArray(), fx.get(`${tag}.out`).data, { rel: 1e-4, what: `${tag} output` });
      backward(y, w);
      expectClose(await x.grad!.toArray(), fx.get(`${tag}.grad.x`).data, { rel: 1e-4, what: `${tag} grad x` });
      for (const [name, p] of head.namedParameters()) {
        if (normLastLayer && name === 'last_layer.weight_g') {
          expect(p.trainable).toBe(false);
          expect(p.t.grad).toBeFalsy();
          continue;
        }
        expectClose(await p.t.grad!.toArray(), fx.get(`${tag}.grad.${name}`).data, { rel: 1e-4, what: `${tag} grad ${name}` });
      }
      for (const t of [x, w, y]) t.dispose();
      store.dispose();
    });
  }

  it('defaults and init follow DINO: out 65536, bottleneck 256, g = 1 frozen, v ~ U(±1/16)', async () => {
    const head = new DINOHead({ inDim: 384 });
    const shapes = Object.fromEntries(head.namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes['mlp.0.weight']).toEqual([2048, 384]);
    expect(shapes['mlp.4.weight']).toEqual([256, 2048]);
    expect(shapes['last_layer.weight_g']).toEqual([65536, 1]);
    expect(shapes['last_layer.weight_v']).toEqual([65536, 256]);
    expect(head.last_layer.weight_g.trainable).toBe(false);
    expect(head.last_layer.weight_v.init).toEqual({ kind: 'uniform', lo: -1 / 16, hi: 1 / 16 });
    expect(head.last_layer.weight_g.init).toEqual({ kind: 'ones' });
    const one = new DINOHead({ inDim: 8, outDim: 5, nlayers: 1, bottleneckDim: 4 });
    expect(one.namedParameters().map(([n]) => n)).toEqual(['mlp.weight', 'mlp.bias', 'last_layer.weight_g', 'last_layer.weight_v']);
  });

  it('full-size head (384 -> 65536) runs forward and backward inside the binding limit', async () => {
    const head = new DINOHead({ inDim: 384 });
    const store = new ParameterStore(head, { seed: 1 });
    const x = Tensor.fromArray(new Float32Array(2 * 384).map((_, i) => Math.sin(i)), [2, 384]);
    const y = head.forward(x);
    expect(y.shape).toEqual([2, 65536]);
    const out = await y.toArray();
    // |z| = 1 and each W row has norm g = 1, so every logit lies in [-1, 1].
    expect(out.every((v) => Math.abs(v) <= 1 + 1e-5)).toBe(true);
    backward(y, Tensor.fromArray(new Float32Array(2 * 65536).fill(1e-3), [2, 65536]));
    const gv = await head.last_layer.weight_v.t.grad!.toArray();
    expect(gv.length).toBe(65536 * 256);
    expect(gv.some((v) => v !== 0)).toBe(true);
    for (const t of [x, y]) t.dispose();
    store.dispose();
  });
});
