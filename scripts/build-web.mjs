// Browser build (`npm run build:web`): the engine and models as one ESM bundle, its typed API,
// and the demo page, into dist/web/:
//
//   dist/web/medivlad.mjs        the library (src/web/index.ts), WGSL shaders inlined as text
//   dist/web/medivlad.d.mts      typed API for embedding (re-exports dist/web/types/web/index.d.ts)
//   dist/web/demo/               the demo page: index.html, style.css, demo.mjs (imports
//                                ../medivlad.mjs, so the page runs the shipped bundle), assets/
//                                and assets.json (which assets exist: the page asks it, not a
//                                404, whether a trained demo checkpoint is there)
//
// A Node built-in anywhere in the browser graph fails the build with the importing file named
// (esbuild alone would say "could not resolve", or silently accept a `node:` import marked
// external). The browser tests (test/browser/) call buildWeb() into a temporary folder.
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const LIB_ENTRY = join(ROOT, 'src/web/index.ts');
const DEMO_ENTRY = join(ROOT, 'src/web/demo/main.ts');
const DEMO_STATIC = join(ROOT, 'web/demo');

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Fail on any import of a Node built-in, naming the file that imports it. */
export const noNodeBuiltins = {
  name: 'no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (!BUILTINS.has(args.path) && !args.path.startsWith('node:')) return undefined;
      return {
        errors: [{
          text: `Node built-in '${args.path}' imported by ${relative(ROOT, args.importer)}: browser code (src/ outside src/node, src/cli) must stay platform-neutral`,
        }],
      };
    });
  },
};

/** Imports of the library entry become an import of the shipped bundle at `url` (not a second copy). */
export function libraryAsExternal(url) {
  return {
    name: 'library-as-external',
    setup(b) {
      b.onResolve({ filter: /(^|\/)index(\.js|\.ts)?$/ }, (args) => {
        const abs = resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts'));
        if (abs !== LIB_ENTRY) return undefined;
        return { path: url, external: true };
      });
    },
  };
}

/** esbuild options shared by every browser bundle. */
export function browserOptions(extra = {}) {
  return {
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    loader: { '.wgsl': 'text' },
    logLevel: 'silent',
    write: false,
    ...extra,
    plugins: [noNodeBuiltins, ...(extra.plugins ?? [])],
  };
}

/** Write a file so a reader (the dev server) never sees half of it: temp name, then rename. */
async function writeAtomic(path, bytes) {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`cannot write ${path}: ${e.message}`, { cause: e });
  }
}

/** Run esbuild and write its outputs atomically; errors become one message listing each. */
export async function bundle(what, options) {
  const r = await build(options).catch((e) => {
    const lines = (e.errors ?? []).map((x) => `  ${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`);
    throw new Error(`build:web: ${what} failed:\n${lines.join('\n') || e.message}`);
  });
  for (const f of r.outputFiles) await writeAtomic(f.path, f.contents);
  return r;
}

async function copyTree(src, dst) {
  await mkdir(dst, { recursive: true });
  for (const e of await readdir(src, { withFileTypes: true })) {
    const s = join(src, e.name);
    const d = join(dst, e.name);
    if (e.isDirectory()) await copyTree(s, d);
    else if (e.isFile()) await writeAtomic(d, await readFile(s));
  }
}

/** Emit .d.ts files for the library entry's graph with the TypeScript compiler API. */
async function emitTypes(outdir) {
  const ts = (await import('typescript')).default;
  const options = {
    declaration: true,
    emitDeclarationOnly: true,
    outDir: join(outdir, 'types'),
    rootDir: join(ROOT, 'src'),
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['@webgpu/types'],
    strict: true,
    skipLibCheck: true,
    isolatedModules: true,
    // Declarations only: `npm run typecheck` (tsc on the whole tree) is the type check.
    noCheck: true,
  };
  const host = ts.createCompilerHost(options);
  host.getCurrentDirectory = () => ROOT; // type packages resolve from the repository, wherever we run
  const program = ts.createProgram([LIB_ENTRY, join(ROOT, 'types/wgsl.d.ts')], options, host);
  const r = program.emit();
  const diags = [...ts.getPreEmitDiagnostics(program), ...r.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diags.length) {
    const fmt = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };
    throw new Error(`build:web: type declarations failed:\n${ts.formatDiagnostics(diags.slice(0, 20), fmt)}`);
  }
  await writeAtomic(
    join(outdir, 'medivlad.d.mts'),
    '// Typed API of medivlad.mjs (needs @webgpu/types for the GPU* types).\nexport * from \'./types/web/index.js\';\n',
  );
}

/**
 * Build the browser bundle (and, unless told otherwise, its types and the demo) into `outdir`.
 * Returns the bundle's input files (for tests: which sources went in).
 */
export async function buildWeb({ outdir = join(ROOT, 'dist/web'), types = true, demo = true } = {}) {
  const lib = await bundle('the library bundle', browserOptions({
    entryPoints: [LIB_ENTRY],
    outfile: join(outdir, 'medivlad.mjs'),
    metafile: true,
  }));
  if (demo) {
    await bundle('the demo page', browserOptions({
      entryPoints: [DEMO_ENTRY],
      outfile: join(outdir, 'demo/demo.mjs'),
      plugins: [libraryAsExternal('../medivlad.mjs')],
    }));
    await copyTree(DEMO_STATIC, join(outdir, 'demo'));
    const assets = await readdir(join(DEMO_STATIC, 'assets')).catch(() => []);
    await writeAtomic(join(outdir, 'demo/assets.json'), JSON.stringify({ assets: assets.filter((n) => !n.startsWith('.')).sort() }));
  }
  if (types) await emitTypes(outdir);
  return { inputs: Object.keys(lib.metafile.inputs) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const outdir = process.argv[2] ? resolve(process.argv[2]) : join(ROOT, 'dist/web');
  await buildWeb({ outdir });
  console.log(`build:web: ${relative(process.cwd(), outdir) || '.'}/ (medivlad.mjs, medivlad.d.mts, demo/) in ${Date.now() - t0} ms`);
}
