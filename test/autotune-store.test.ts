// The autotuner's disk cache (src/node/autotune-store.ts) and the Autotuner's handling of a
// store (src/kernels/autotune.ts): a round trip through the file, one file and one key space
// per adapter, $MEDIVLAD_CACHE_DIR, and a corrupt or unwritable cache ignored with a warning,
// never a crash. No GPU needed: the Autotuner only reads the runtime's adapter here.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { nodeTuneStore, tuneCacheDir, tuneCachePath } from '../src/node/autotune-store.js';
import { Autotuner } from '../src/kernels/autotune.js';
import type { AdapterSummary } from '../src/kernels/adapter-info.js';
import type { Runtime } from '../src/kernels/runtime.js';

const base = { isSoftware: true, driver: 'system', features: [], limits: {} };
const lavapipe = { ...base, vendor: 'mesa', architecture: 'software', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', family: 'lavapipe' } as AdapterSummary;
const h200 = { ...base, isSoftware: false, vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200 (Vulkan)', family: 'gpu' } as AdapterSummary;

const fakeRt = (adapter: AdapterSummary) => ({ adapter, sync: async () => undefined }) as unknown as Runtime;
const tmp = () => mkdtempSync(join(tmpdir(), 'medivlad-tune-'));

function collect(): { warn: (m: string) => void; msgs: string[] } {
  const msgs: string[] = [];
  return { warn: (m) => void msgs.push(m), msgs };
}

describe('autotune disk cache', () => {
  it('round trip: choices saved by one tuner are loaded by a fresh one', async () => {
    const dir = tmp();
    const w = collect();
    const t1 = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    await t1.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
    t1.set('matmul', 'NTv M1024 N1024 K512 single', 'v5');
    t1.set('matmul', 'NNs M64 N64 K64 single', 'v2');
    await t1.persist();
    const file = tuneCachePath(lavapipe, dir);
    expect(existsSync(file)).toBe(true);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc.format).toBe('medivlad-autotune');
    expect(doc.adapter.description).toBe(lavapipe.description);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]); // atomic: no leftovers

    const t2 = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    await t2.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
    expect(t2.get('matmul', 'NTv M1024 N1024 K512 single')).toBe('v5');
    expect(t2.get('matmul', 'NNs M64 N64 K64 single')).toBe('v2');
    expect(t2.get('matmul', 'NNs M8 N8 K8 single')).toBeUndefined();
    expect(w.msgs).toEqual([]);
  });

  it('keys and files are per adapter: one adapter never sees another one\'s choices', async () => {
    const dir = tmp();
    expect(tuneCachePath(lavapipe, dir)).not.toBe(tuneCachePath(h200, dir));
    // the driver we found an adapter by does not change its file
    expect(tuneCachePath({ ...lavapipe, driver: 'lavapipe' } as AdapterSummary, dir)).toBe(tuneCachePath(lavapipe, dir));
    const w = collect();
    const tl = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    await tl.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
    tl.set('matmul', 'shape A', 'v5');
    await tl.persist();
    const th = new Autotuner(fakeRt(h200), undefined, w.warn);
    await th.useStore(nodeTuneStore(h200, { dir, warn: w.warn }));
    expect(th.get('matmul', 'shape A')).toBeUndefined();
    th.set('matmul', 'shape A', 'v3');
    await th.persist();
    expect(readdirSync(dir).length).toBe(2);
    // Even if an H200 tuner read the lavapipe file's entries, its keys would not match.
    const cross = new Autotuner(fakeRt(h200), undefined, w.warn);
    await cross.useStore({ load: () => JSON.parse(readFileSync(tuneCachePath(lavapipe, dir), 'utf8')).entries, save: () => undefined });
    expect(cross.get('matmul', 'shape A')).toBeUndefined();
    expect(tl.key('matmul', 'shape A')).not.toBe(th.key('matmul', 'shape A'));
    // a file copied over from the other adapter is refused
    writeFileSync(tuneCachePath(lavapipe, dir), readFileSync(tuneCachePath(h200, dir)));
    const again = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    await again.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
    expect(again.get('matmul', 'shape A')).toBeUndefined();
    expect(w.msgs.some((m) => /written for another adapter/.test(m))).toBe(true);
  });

  it('a corrupt file is ignored with a warning, then replaced by a valid one', async () => {
    for (const garbage of ['{"format": "medivlad-au', '[1, 2, 3]', JSON.stringify({ format: 'medivlad-autotune', version: 1, adapter: { vendor: 'mesa', architecture: 'software', device: '', description: lavapipe.description }, entries: [] })]) {
      const dir = tmp();
      const file = tuneCachePath(lavapipe, dir);
      writeFileSync(file, garbage);
      const w = collect();
      const t = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
      await t.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
      expect(w.msgs.length, garbage).toBe(1);
      expect(w.msgs[0]).toContain(file);
      expect(t.entries()).toEqual({});
      t.set('matmul', 'shape B', 'v4');
      await t.persist();
      expect(JSON.parse(readFileSync(file, 'utf8')).entries).toEqual({ [t.key('matmul', 'shape B')]: 'v4' });
      expect(w.msgs.length).toBe(1); // the rewrite itself is quiet
    }
  });

  it('entries that are not strings are dropped with a warning; the rest are kept', async () => {
    const dir = tmp();
    const w = collect();
    const t = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    const k = t.key('matmul', 'shape C');
    const doc = { format: 'medivlad-autotune', version: 1, adapter: { vendor: 'mesa', architecture: 'software', device: '', description: lavapipe.description }, entries: { [k]: 'v5', bad: 7 } };
    writeFileSync(tuneCachePath(lavapipe, dir), JSON.stringify(doc));
    await t.useStore(nodeTuneStore(lavapipe, { dir, warn: w.warn }));
    expect(t.get('matmul', 'shape C')).toBe('v5');
    expect(w.msgs).toEqual([expect.stringContaining('ignoring 1 entry whose choice is not a string')]);
  });

  it('a store that throws or cannot write only warns', async () => {
    const w = collect();
    const t = new Autotuner(fakeRt(lavapipe), undefined, w.warn);
    await t.useStore({ load: () => { throw new Error('disk on fire'); }, save: () => { throw new Error('read-only'); } });
    t.set('matmul', 'shape D', 'v2');
    await t.persist();
    expect(t.get('matmul', 'shape D')).toBe('v2'); // kept in memory
    expect(w.msgs).toEqual([expect.stringContaining('disk on fire'), expect.stringContaining('read-only')]);
    // a directory that is a file: the Node store's save fails, the tuner warns
    const dir = tmp();
    const notDir = join(dir, 'file');
    writeFileSync(notDir, 'x');
    const w2 = collect();
    const t2 = new Autotuner(fakeRt(lavapipe), undefined, w2.warn);
    await t2.useStore(nodeTuneStore(lavapipe, { dir: notDir, warn: w2.warn }));
    t2.set('matmul', 'shape E', 'v5');
    await t2.persist();
    expect(w2.msgs.length).toBe(2); // unreadable on load, unwritable on save
    expect(w2.msgs[1]).toMatch(/could not save the tuning cache/);
  });

  it('lives in $MEDIVLAD_CACHE_DIR, else $XDG_CACHE_HOME/medivlad, else ~/.cache/medivlad', () => {
    expect(tuneCacheDir({ MEDIVLAD_CACHE_DIR: '/x/y', XDG_CACHE_HOME: '/z' })).toBe('/x/y');
    expect(tuneCacheDir({ XDG_CACHE_HOME: '/z' })).toBe('/z/medivlad');
    expect(tuneCacheDir({})).toBe(join(homedir(), '.cache', 'medivlad'));
    expect(dirname(nodeTuneStore(lavapipe, { dir: '/x/y' }).path)).toBe('/x/y');
    expect(nodeTuneStore(lavapipe, { dir: '/x/y' }).path).toMatch(/\/autotune-[0-9a-f]{16}\.json$/);
  });
});
