// GPU device loss (issue #10), provoked for real with device.destroy() on Dawn/lavapipe:
// Dawn then resolves device.lost with reason 'destroyed', silently drops submitted work and
// rejects mapAsync. The runtime must turn every later operation into a DeviceLostError that
// names the reason; initNode() must hand out a fresh working device; a DINO run cut by the loss
// must resume from its last state on the new device and reproduce the uninterrupted losses;
// and `medivlad pretrain` must stop with the reason, its last checkpoint intact.
import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { initNode, shutdownNode } from '../src/node/index.js';
import { loadSafetensors } from '../src/node/files.js';
import { DeviceLostError } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import * as A from '../src/autograd/index.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig, type DinoState, type StepLog } from '../src/train/dino.js';
import { synthDataset } from '../src/data/synth.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');

beforeAll(async () => {
  await gpu();
});
afterAll(async () => {
  await initNode(); // leave a live runtime for the test files that run after this one (one fork)
});

/** Let Dawn deliver device.lost (it resolves on a later event-loop turn). */
const tick = () => new Promise((r) => setTimeout(r, 20));

describe('device loss in the runtime', () => {
  it('every operation after device.destroy() throws DeviceLostError naming the reason; initNode() gives a working device', async () => {
    const rt = await initNode();
    const x = Tensor.fromArray([1.5, -2.25, 3, 0.125, 7], [5]);
    const y = A.mulScalar(x, 3);
    rt.device.destroy();
    await tick();
    expect(rt.lost?.reason).toBe('destroyed');
    const lost = /GPU device lost \(destroyed: device was destroyed\); every GPU buffer is gone: create a new runtime \(Node: shutdownNode\(\) then initNode\(\)\)/;
    expect(() => A.add(x, x)).toThrow(lost); // alloc
    expect(() => Tensor.fromArray([1, 2, 3])).toThrow(lost); // alloc + upload
    await expect(y.toArray()).rejects.toThrow(DeviceLostError); // readback
    const e = await x.toArray().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceLostError);
    expect((e as DeviceLostError).reason).toBe('destroyed');
    // Freeing tensors of the lost runtime is harmless (cleanup paths run after the loss).
    x.dispose();
    y.dispose();

    const rt2 = await initNode();
    expect(rt2).not.toBe(rt);
    expect(rt2.lost).toBeNull();
    const z = Tensor.fromArray([1.5, -2.25, 3, 0.125, 7], [5]);
    const w = A.mulScalar(z, 3);
    expect([...(await w.toArray())]).toEqual([4.5, -6.75, 9, 0.375, 21]);
    z.dispose();
    w.dispose();
  });

  it('a loss while a readback is in flight rejects it with DeviceLostError, not an anonymous mapAsync failure', async () => {
    const rt = await initNode();
    const x = Tensor.fromArray(Float32Array.from({ length: 4099 }, (_, i) => Math.sin(i)), [4099]);
    const y = A.exp(x);
    const pending = y.toArray(); // records the copy, submits, and waits in mapAsync
    rt.device.destroy();
    await expect(pending).rejects.toThrow(/GPU device lost \(destroyed/);
    x.dispose();
    y.dispose();
    shutdownNode();
    await initNode();
  });
});

describe('device loss during DINO training', () => {
  const clips = synthDataset({ videos: 10, frames: 3, size: 32, seed: 1 });
  const cfg: DinoConfig = {
    ...DINO_PRESETS.tiny,
    vit: { imgSize: 32, embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 },
    head: { outDim: 37, hiddenDim: 32, bottleneckDim: 16, normLastLayer: true },
    epochs: 2, itersPerEpoch: 3, batch: 4, nLocal: 2, localSize: 16, logEvery: 1, warmupEpochs: 1,
  };

  it('stops with DeviceLostError; on a new device the last epoch state resumes and reproduces the uninterrupted losses', async () => {
    await initNode();
    const full: StepLog[] = [];
    const ref = new DinoTrainer(cfg, { clips, knnSplit: null, onStep: (l) => void full.push(l) });
    await ref.train();
    ref.dispose();
    expect(full.length).toBe(6);

    const rt = await initNode();
    const logs: StepLog[] = [];
    let saved: DinoState | null = null;
    const t = new DinoTrainer(cfg, {
      clips,
      knnSplit: null,
      onStep: (l) => {
        logs.push(l);
        if (l.it === 4) rt.device.destroy(); // mid-epoch 1, after the epoch-0 state was taken
      },
      onEpoch: async (_e, state) => {
        saved = await state();
      },
    });
    const err = await t.train().catch((e: unknown) => e);
    t.dispose();
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(String(err)).toMatch(/GPU device lost \(destroyed/);
    expect(logs.map((l) => l.it)).toEqual([0, 1, 2, 3, 4]);
    expect(saved).not.toBeNull();
    expect(saved!.it).toBe(3);

    // The documented recovery: a new runtime, a new trainer, the last state loaded.
    shutdownNode();
    await initNode();
    const resumedLogs: StepLog[] = [];
    const r = new DinoTrainer(cfg, { clips, knnSplit: null, onStep: (l) => void resumedLogs.push(l) });
    await r.restore(saved!);
    await r.train();
    r.dispose();
    expect(resumedLogs.map((l) => l.it)).toEqual([3, 4, 5]);
    expect(resumedLogs.map((l) => l.loss)).toEqual(full.slice(3).map((l) => l.loss));
  });
});

describe('device loss in `medivlad pretrain`', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  });

  it('stops with a one-line error naming the loss; the last checkpoint stays complete and --resume finishes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'medivlad-lost-')), 'run');
    const args = ['pretrain', '--epochs', '3', '--iters-per-epoch', '2', '--batch', '2', '--videos', '8', '--frames', '2', '--log-every', '1', '--out', out];
    const r = spawnSync(process.execPath, [bin, ...args], {
      cwd: root, encoding: 'utf8', timeout: 300_000, env: { ...process.env, MEDIVLAD_TEST_FAULT: 'device-lost@3' },
    });
    expect(r.status, r.stderr).toBe(2);
    const ckpt = join(out, 'checkpoint.safetensors');
    expect(r.stderr).toContain(
      `medivlad: error: pretrain stopped at iteration 4: the GPU device was lost (destroyed: device was destroyed); the last checkpoint ${ckpt} is intact: rerun with --resume`,
    );
    expect(readdirSync(out).filter((f) => f.includes('.tmp'))).toEqual([]);
    const f = await loadSafetensors(ckpt);
    expect(f.metadata.it).toBe('2'); // epoch 0's checkpoint; epoch 1 never finished

    const resumed = spawnSync(process.execPath, [bin, ...args, '--resume'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming at iteration 2/);
    expect((await loadSafetensors(ckpt)).metadata.it).toBe('6');
  });
});
