// Full disks and unwritable output folders (issue #10), without filling a real disk: writes
// fail through an injected AtomicWriteIo (the first bytes land on disk, then ENOSPC/EIO, as a
// filling disk behaves), and the free-space preflight is checked against the real statfs with
// a demand no disk can meet. `medivlad pretrain` refuses an unwritable --out before training,
// and a checkpoint write that fails mid-run stops it with the previous checkpoint intact.
import { describe, it, beforeAll, expect } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import {
  writeFileAtomic, failingWriteIo, ensureFreeSpace, preflightOutputDir, formatBytes, loadSafetensors, type AtomicWriteIo,
} from '../src/node/files.js';
import { serializeSafetensors } from '../src/models/safetensors.js';
import { DinoTrainer, DINO_PRESETS, type DinoConfig } from '../src/train/dino.js';
import { estimateCheckpointBytes, checkpointContents } from '../src/cli/pretrain.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/medivlad.js');
const tmp = () => mkdtempSync(join(tmpdir(), 'medivlad-disk-'));
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255);

describe('writeFileAtomic on a failing disk', () => {
  for (const code of ['ENOSPC', 'EIO'] as const) {
    it(`${code} half-way through: no temporary file, the previous file unchanged, the error names path and reason`, async () => {
      const dir = tmp();
      const path = join(dir, 'model.safetensors');
      const old = bytes(3001);
      writeFileSync(path, old);
      const err = await writeFileAtomic(path, bytes(100_003), failingWriteIo(code, 4096)).catch((e: unknown) => e as Error & { code?: string });
      expect(err).toBeInstanceOf(Error);
      const reason = code === 'ENOSPC' ? 'no space left on the device (ENOSPC)' : 'input/output error from the disk (EIO)';
      expect(err!.message).toBe(`cannot write ${path}: ${reason}; the previous model.safetensors is unchanged`);
      expect(err!.code).toBe(code);
      expect(readdirSync(dir)).toEqual(['model.safetensors']);
      expect(readFileSync(path)).toEqual(Buffer.from(old));
    });
  }

  it('with no previous file: nothing is left behind', async () => {
    const dir = tmp();
    const path = join(dir, 'new.bin');
    await expect(writeFileAtomic(path, bytes(9000), failingWriteIo('ENOSPC', 10))).rejects.toThrow(/^cannot write .*new\.bin: no space left on the device \(ENOSPC\)$/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failing rename removes the temporary file; a failing removal is named in the error', async () => {
    const dir = tmp();
    const path = join(dir, 'f.bin');
    const eio = () => Object.assign(new Error('EIO: injected'), { code: 'EIO' });
    const io: AtomicWriteIo = { ...failingWriteIo('EIO', 0), open: (await import('node:fs/promises')).open, rename: async () => Promise.reject(eio()) };
    await expect(writeFileAtomic(path, bytes(77), io)).rejects.toThrow(`cannot write ${path}: input/output error from the disk (EIO)`);
    expect(readdirSync(dir)).toEqual([]);
    const stuck: AtomicWriteIo = { ...io, unlink: async () => Promise.reject(eio()) };
    const e = (await writeFileAtomic(path, bytes(77), stuck).catch((x: Error) => x)) as Error;
    expect(e.message).toMatch(/; the temporary file .*f\.bin\.tmp-\d+-[0-9a-f]+ could not be removed \(input\/output error from the disk \(EIO\)\)$/);
  });

  it('the unfailing path still writes the bytes exactly (the io seam changes nothing)', async () => {
    const dir = tmp();
    const path = join(dir, 'ok.bin');
    const data = bytes(12_345);
    await writeFileAtomic(path, data, { ...failingWriteIo('EIO', 0), open: (await import('node:fs/promises')).open, rename });
    expect(new Uint8Array(readFileSync(path))).toEqual(data);
    expect(readdirSync(dir)).toEqual(['ok.bin']);
  });
});

describe('output preflight', () => {
  it('ensureFreeSpace compares statfs with the demand and names both', async () => {
    const dir = tmp();
    await ensureFreeSpace(dir, 1000, 'a small file');
    // 10^18 bytes (an exabyte): no disk this runs on has that much free.
    await expect(ensureFreeSpace(dir, 1e18, 'a ViT-S/8 checkpoint')).rejects.toThrow(
      new RegExp(`^not enough free space in ${dir} for a ViT-S/8 checkpoint: needs about 1000\\.0 PB, [\\d.]+ [kMGT]?B available; free some space`),
    );
  });

  it('preflightOutputDir creates the folder, and refuses one that cannot be created', async () => {
    const dir = join(tmp(), 'a', 'b');
    await preflightOutputDir(dir, 1, 'x');
    expect(existsSync(dir)).toBe(true);
    const file = join(tmp(), 'plain-file');
    writeFileSync(file, 'x');
    await expect(preflightOutputDir(join(file, 'out'), 1, 'x')).rejects.toThrow(/^cannot create output directory .*plain-file\/out: it, or a parent of it, exists and is not a directory/);
  });

  it('formatBytes', () => {
    expect([0, 999, 1000, 15_361_936, 2.5e9, 1e18].map(formatBytes)).toEqual(['0 B', '999 B', '1.00 kB', '15.4 MB', '2.50 GB', '1000.0 PB']);
  });

  it("pretrain's checkpoint estimate is an upper bound within 10% of the real file", async () => {
    await gpu();
    for (const cfg of [
      { ...DINO_PRESETS.tiny },
      {
        ...DINO_PRESETS.tiny,
        vit: { imgSize: 32, embedDim: 32, depth: 1, numHeads: 2, mlpRatio: 2 },
        head: { outDim: 37, hiddenDim: 32, bottleneckDim: 16, normLastLayer: true },
      } as DinoConfig,
    ]) {
      const t = new DinoTrainer(cfg, { clips: [], knnSplit: null });
      const { tensors, meta } = checkpointContents(cfg, await t.state(), 0);
      const real = serializeSafetensors(tensors, meta).length;
      const est = estimateCheckpointBytes(t);
      t.dispose();
      expect(est, `estimate ${est} vs real ${real}`).toBeGreaterThanOrEqual(real);
      expect(est, `estimate ${est} vs real ${real}`).toBeLessThanOrEqual(1.1 * real);
    }
  });
});

describe('`medivlad pretrain` and the disk', () => {
  const ARGS = ['pretrain', '--epochs', '3', '--iters-per-epoch', '2', '--batch', '2', '--videos', '8', '--frames', '2', '--log-every', '1'];
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root });
  });

  it('refuses an output folder it cannot create before touching the GPU', () => {
    const file = join(tmp(), 'plain-file');
    writeFileSync(file, 'x');
    const r = spawnSync(process.execPath, [bin, ...ARGS, '--out', join(file, 'run')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`medivlad: error: cannot create output directory ${join(file, 'run')}: it, or a parent of it, exists and is not a directory`);
  });

  it('a checkpoint write that hits ENOSPC stops the run; the previous checkpoint and the folder stay clean', async () => {
    const out = join(tmp(), 'run');
    const r = spawnSync(process.execPath, [bin, ...ARGS, '--out', out], {
      cwd: root, encoding: 'utf8', timeout: 300_000, env: { ...process.env, MEDIVLAD_TEST_FAULT: 'enospc@1' },
    });
    expect(r.status, r.stderr).toBe(2);
    const ckpt = join(out, 'checkpoint.safetensors');
    expect(r.stderr).toContain(`medivlad: error: cannot write ${ckpt}: no space left on the device (ENOSPC); the previous checkpoint.safetensors is unchanged`);
    expect(readdirSync(out).sort()).toEqual(['checkpoint.safetensors', 'epochs.jsonl', 'log.jsonl']);
    const f = await loadSafetensors(ckpt);
    expect(f.metadata.it).toBe('2'); // epoch 0's, complete and parseable
  });
});
