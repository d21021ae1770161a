// The engine must bundle for browsers: src/web/index.ts (and everything it imports) may not
// import a Node built-in. esbuild with platform 'browser' fails on one; this test makes it a
// test failure naming the import.
import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

describe('browser bundle', () => {
  it('src/web/index.ts bundles for the browser with no Node built-in', async () => {
    const entry = fileURLToPath(new URL('../src/web/index.ts', import.meta.url));
    const r = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      loader: { '.wgsl': 'text' },
      logLevel: 'silent',
      metafile: true,
    }).catch((e: { errors?: { text: string }[] }) => ({ failed: (e.errors ?? []).map((x) => x.text).join('\n') }));
    expect('failed' in r ? r.failed : '').toBe('');
    if (!('failed' in r)) {
      const inputs = Object.keys(r.metafile!.inputs);
      expect(inputs.some((p) => p.includes('src/node/') || p.includes('src/cli/'))).toBe(false);
      expect(inputs.some((p) => p.endsWith('.wgsl'))).toBe(true); // shaders inlined as text
    }
  });
});
