// The PyTorch oracle for the training primitives (test_gpt2.c style): a 2-layer MLP with
// LayerNorm + GELU, fixed weights from scripts/make-fixtures.py. Checks the forward output,
// the loss, every parameter gradient, and the parameters after 3 AdamW steps with DINO's
// per-tensor clipping and decay groups.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { loadFixture } from './helpers/fixtures.js';
import { Tensor, backward, scope, crossEntropy } from '../src/autograd/index.js';
import { Module } from '../src/models/module.js';
import { Linear, LayerNorm } from '../src/models/layers.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { gelu } from '../src/autograd/ops/activations.js';

beforeAll(async () => {
  await gpu();
});

class Net extends Module {
  fc1: Linear;
  norm: LayerNorm;
  fc2: Linear;
  constructor(din: number, h: number, c: number) {
    super();
    this.fc1 = this.child('fc1', new Linear(din, h));
    this.norm = this.child('norm', new LayerNorm(h, 1e-6));
    this.fc2 = this.child('fc2', new Linear(h, c));
  }
  forward(x: Tensor): Tensor {
    return scope(() => this.fc2.forward(gelu(this.norm.forward(this.fc1.forward(x)))));
  }
}

describe('PyTorch fixture: MLP with LayerNorm + GELU, 3 AdamW steps', () => {
  it('matches outputs, loss, gradients and parameters', async () => {
    const fx = loadFixture('mlp-adamw');
    const { B, DIN, H, C } = fx.meta as { B: number; DIN: number; H: number; C: number };
    const net = new Net(DIN, H, C);
    const store = new ParameterStore(net, { seed: 0 });
    const names = net.namedParameters().map(([n]) => n);
    expect(names).toEqual(['fc1.weight', 'fc1.bias', 'norm.weight', 'norm.bias', 'fc2.weight', 'fc2.bias']);
    store.loadValues(new Map(names.map((n) => [n, fx.get(`init.${n}`).data])));
    const x = Tensor.fromArray(fx.get('x').data, [B, DIN]);
    const labels = Array.from(fx.get('y').data);

    const out = net.forward(x);
    const loss = scope(() => crossEntropy(out, labels));
    expectClose(await out.toArray(), fx.get('out').f64, { rel: 1e-5, what: 'logits' });
    expectClose(await loss.toArray(), fx.get('loss').f64, { rel: 1e-5, what: 'loss' });
    backward(loss);
    for (const n of names) {
      const g = await store.byName.get(n)!.param.t.grad!.toArray();
      expectClose(g, fx.get(`grad.${n}`).f64, { rel: 1e-5, what: `grad ${n}` });
    }
    out.dispose();
    loss.dispose();

    const { lr, weight_decay: wd, clip } = fx.meta as { lr: number; weight_decay: number; clip: number };
    const opt = new AdamW(store, { lr, weightDecay: wd });
    const losses = fx.get('losses').f64;
    for (let step = 1; step <= 3; step++) {
      store.zeroGrad();
      const o = net.forward(x);
      const l = scope(() => crossEntropy(o, labels));
      expect(await l.item()).toBeCloseTo(losses[step - 1], 5);
      backward(l);
      opt.step({ clip: { mode: 'per-tensor', max: clip } });
      const after = await store.stateDict();
      for (const n of names) expectClose(after.get(n)!.data, fx.get(`step${step}.${n}`).f64, { rel: 1e-5, what: `step ${step} ${n}` });
      o.dispose();
      l.dispose();
    }
    opt.dispose();
    store.dispose();
    x.dispose();
  });
});
