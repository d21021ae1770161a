#!/usr/bin/env node
// The `medivlad` command: runs the esbuild bundle of src/cli (built on `npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/medivlad.mjs', import.meta.url));
if (!existsSync(bundle)) {
  console.error('medivlad: dist/medivlad.mjs is missing; run `npm run build` (it runs on `npm install`).');
  process.exit(1);
}
await import(bundle);
