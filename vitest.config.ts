import { defineConfig, type Plugin } from 'vitest/config';
import { readFileSync } from 'node:fs';

// Shaders are imported as text, exactly as the esbuild bundle does with its `text` loader.
const wgslText: Plugin = {
  name: 'wgsl-text',
  load(id) {
    if (id.endsWith('.wgsl')) return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
    return null;
  },
};

export default defineConfig({
  plugins: [wgslText],
  test: {
    include: ['test/**/*.test.ts'],
    // A scratch TMPDIR (and autotune cache) per run, removed at the end (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // One Dawn instance per process, and Dawn busy-polls while a GPU promise is pending: on a
    // 2-core machine several GPU workers fight over the cores. All test files run in one fork.
    pool: 'forks',
    fileParallelism: false,
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
