// End to end on the engine: a small MLP learns the 3-arm 2-D spiral, and a steady-state
// training step allocates nothing (zero new GPU buffers, flat live bytes).
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { Tensor, backward, scope, noGrad, crossEntropy } from '../src/autograd/index.js';
import { Module } from '../src/models/module.js';
import { Linear } from '../src/models/layers.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { Rng } from '../src/data/rng.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

/** The classic 3-arm spiral (cs231n): 100 points per arm, radius 0..1, angular noise 0.2. */
function spiral(seed: number): { x: Float32Array; y: number[] } {
  const rng = new Rng(seed);
  const per = 100;
  const x = new Float32Array(3 * per * 2);
  const y: number[] = [];
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < per; i++) {
      const r = i / (per - 1);
      const t = c * 4 + (4 * i) / (per - 1) + 0.2 * rng.normal();
      const k = c * per + i;
      x[2 * k] = r * Math.sin(t);
      x[2 * k + 1] = r * Math.cos(t);
      y.push(c);
    }
  }
  return { x, y };
}

class Mlp3 extends Module {
  l1 = this.child('l1', new Linear(2, 64));
  l2 = this.child('l2', new Linear(64, 64));
  l3 = this.child('l3', new Linear(64, 3));
  forward(x: Tensor): Tensor {
    return scope(() => this.l3.forward(this.l2.forward(this.l1.forward(x, { gelu: true }), { gelu: true })));
  }
}

describe('training an MLP on the spiral', () => {
  it('reaches >= 95% training accuracy; steady-state steps create no buffers', async () => {
    const { x, y } = spiral(7);
    const net = new Mlp3();
    const store = new ParameterStore(net, { seed: 3 });
    const opt = new AdamW(store, { lr: 1e-2, weightDecay: 0 });
    const xt = Tensor.fromArray(x, [y.length, 2]);
    const step = () => {
      store.zeroGrad();
      const logits = net.forward(xt);
      const loss = scope(() => crossEntropy(logits, y));
      backward(loss);
      opt.step();
      logits.dispose();
      return loss;
    };
    // Warm up (pipelines, pool, and one loss readback for the staging pool).
    for (let i = 0; i < 20; i++) {
      const loss = step();
      if (i === 19) await loss.item();
      loss.dispose();
    }
    await rt.sync();
    const c0 = rt.counters;
    let last = 0;
    for (let i = 0; i < 200; i++) {
      const loss = step();
      if (i % 50 === 49) last = await loss.item(); // read the loss every N steps, not every step
      loss.dispose();
    }
    await rt.sync();
    const c1 = rt.counters;
    expect(c1.buffersCreated - c0.buffersCreated).toBe(0);
    expect(c1.bytesLive).toBe(c0.bytesLive);
    for (let i = 0; i < 380; i++) step().dispose();
    const logits = noGrad(() => net.forward(xt));
    const v = await logits.toArray();
    let correct = 0;
    for (let i = 0; i < y.length; i++) {
      const row = v.slice(3 * i, 3 * i + 3);
      if (row.indexOf(Math.max(...row)) === y[i]) correct++;
    }
    const acc = correct / y.length;
    // Chance level is ln 3 = 1.0986; after 220 steps the loss must be well below it.
    expect(last).toBeLessThan(0.7);
    expect(acc, `training accuracy ${acc}`).toBeGreaterThanOrEqual(0.95);
    logits.dispose();
    xt.dispose();
    opt.dispose();
    store.dispose();
  });
});
