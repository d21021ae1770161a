// Bundle the CLI for Node (dist/medivlad.mjs) with esbuild. Shaders are inlined as text, so
// the bundle carries the exact WGSL the tests ran. Runs on `npm install` (prepare) and `npm run build`.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/medivlad.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  external: [...external, 'wgsl_reflect/*'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
