// Checkpoints of a model and its optimizer: safetensors with PyTorch names, written
// atomically; loading checks every name and shape; resuming continues bit for bit.
import { describe, it, beforeAll, expect } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { randomArray } from './helpers/random.js';
import { Tensor, backward, scope, crossEntropy } from '../src/autograd/index.js';
import { Module } from '../src/models/module.js';
import { Linear, LayerNorm } from '../src/models/layers.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { modelState, adamwState, loadModelState, loadAdamwState } from '../src/models/model-state.js';
import { saveSafetensors, loadSafetensors } from '../src/node/files.js';

beforeAll(async () => {
  await gpu();
});

class Net extends Module {
  fc = this.child('fc', new Linear(7, 9));
  norm = this.child('norm', new LayerNorm(9));
  head = this.child('head', new Linear(9, 3));
  forward(x: Tensor): Tensor {
    return scope(() => this.head.forward(this.norm.forward(this.fc.forward(x, { gelu: true }))));
  }
}

const x = randomArray(5 * 7, 1);
const y = [0, 1, 2, 1, 0];

function trainStep(net: Net, store: ParameterStore, opt: AdamW, xt: Tensor): void {
  store.zeroGrad();
  const logits = net.forward(xt);
  const loss = scope(() => crossEntropy(logits, y));
  backward(loss);
  opt.step({ lr: 1e-2, weightDecay: 0.05, clip: { mode: 'per-tensor', max: 1 } });
  logits.dispose();
  loss.dispose();
}

describe('model + optimizer checkpoints', () => {
  it('save, reload into a fresh model, and continue bit-exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-ckpt-'));
    const path = join(dir, 'ckpt.safetensors');
    const xt = Tensor.fromArray(x, [5, 7]);
    const netA = new Net();
    const storeA = new ParameterStore(netA, { seed: 11 });
    const optA = new AdamW(storeA, { lr: 1e-2, weightDecay: 0.05 });
    for (let i = 0; i < 3; i++) trainStep(netA, storeA, optA, xt);
    const model = await modelState(storeA);
    const { tensors, steps } = await adamwState(optA);
    await saveSafetensors(path, new Map([...model, ...tensors]), { steps: JSON.stringify(steps) });
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']); // no temp file left behind
    expect([...model.keys()]).toEqual(['fc.weight', 'fc.bias', 'norm.weight', 'norm.bias', 'head.weight', 'head.bias']);

    const netB = new Net();
    const storeB = new ParameterStore(netB, { seed: 999 }); // different init, overwritten by the load
    const optB = new AdamW(storeB, { lr: 1e-2, weightDecay: 0.05 });
    const file = await loadSafetensors(path);
    loadModelState(storeB, file.tensors, { file: path });
    loadAdamwState(optB, file.tensors, JSON.parse(file.metadata.steps), path);

    trainStep(netA, storeA, optA, xt);
    trainStep(netB, storeB, optB, xt);
    const a = await storeA.stateDict();
    const b = await storeB.stateDict();
    for (const [n, t] of a) expect(Array.from(b.get(n)!.data), n).toEqual(Array.from(t.data));
    for (const s of [storeA, storeB]) s.dispose();
    optA.dispose();
    optB.dispose();
    xt.dispose();
  });

  it('a wrong shape, a missing tensor and an unexpected tensor are named in one error', async () => {
    const net = new Net();
    const store = new ParameterStore(net, { seed: 1 });
    const good = await modelState(store);
    const bad = new Map(good);
    bad.delete('norm.bias');
    bad.set('head.weight', { shape: [3, 8], data: new Float32Array(24) });
    bad.set('extra.weight', { shape: [1], data: new Float32Array(1) });
    expect(() => loadModelState(store, bad, { file: 'run/ckpt.safetensors' })).toThrow(
      /run\/ckpt\.safetensors[\s\S]*missing: norm\.bias[\s\S]*unexpected: extra\.weight[\s\S]*head\.weight expected \(3,9\) found \(3,8\)/,
    );
    store.dispose();
  });
});
