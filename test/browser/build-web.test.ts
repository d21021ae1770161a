// `npm run build:web` (scripts/build-web.mjs): the ESM bundle carries the WGSL as text and no
// Node built-in (an import of one fails the build, naming the importer); the demo imports the
// shipped bundle instead of a copy; the .d.mts types let a page embed the engine (a consumer
// file type-checks against them, and a wrong use does not).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { browserOptions, bundle, buildWeb } from '../../scripts/build-web.mjs';

let out: string;
let inputs: string[];
beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'medivlad-build-web-'));
  ({ inputs } = await buildWeb({ outdir: out }));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('build:web', () => {
  it('bundles the engine as ESM with the shaders inlined and nothing from src/node or src/cli', () => {
    const js = readFileSync(join(out, 'medivlad.mjs'), 'utf8');
    expect(inputs.filter((p) => p.endsWith('.wgsl')).length).toBeGreaterThanOrEqual(10);
    expect(inputs.filter((p) => /src\/(node|cli)\//.test(p))).toEqual([]);
    expect(js).toContain('fn attention_forward_v1'); // WGSL source text, not a file reference
    expect(js).toMatch(/^export \{/m);
    expect(js).not.toMatch(/from ["']node:|require\(["']/);
    const demo = readFileSync(join(out, 'demo/demo.mjs'), 'utf8');
    expect(demo).toContain('from "../medivlad.mjs"');
    expect(demo.length).toBeLessThan(js.length / 10); // the engine is not bundled twice
    expect(existsSync(join(out, 'demo/index.html'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'demo/assets.json'), 'utf8')).assets).toBeInstanceOf(Array);
  });

  it('fails on a Node built-in, naming the importing file', async () => {
    for (const mod of ['node:fs', 'path', 'fs/promises']) {
      const entry = join(out, `uses-${mod.replace(/\W/g, '-')}.ts`);
      writeFileSync(entry, `import * as m from '${mod}';\nexport const x = m;\n`);
      await expect(bundle('a test entry', browserOptions({ entryPoints: [entry], outfile: join(out, 'x.mjs') }))).rejects.toThrow(
        new RegExp(`Node built-in '${mod}' imported by .*uses-.*\\.ts`),
      );
    }
  });

  it('emits types a page can embed the engine with', () => {
    expect(readFileSync(join(out, 'medivlad.d.mts'), 'utf8')).toContain("export * from './types/web/index.js'");
    const check = (body: string) => {
      const file = join(out, `consumer-${Math.random().toString(36).slice(2)}.mts`);
      writeFileSync(file, `import * as M from './medivlad.mjs';\n${body}\n`);
      const program = ts.createProgram([file], {
        strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: ['@webgpu/types'],
        typeRoots: [join(process.cwd(), 'node_modules/@types'), join(process.cwd(), 'node_modules')],
      });
      return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    };
    const good = `
      export async function page(bytes: ArrayBuffer, frames: M.RgbaFrame[]): Promise<number> {
        const rt: M.Runtime = await M.initWeb();
        const model = bytes.byteLength ? await M.loadCheckpoint(bytes) : M.createRandomModel({ vit: 'tiny' });
        const clip = M.grayClip(frames, model.size);
        const e: M.EmbedResult = await M.embedClip(model, clip);
        const r: M.ScoreResult = await M.scoreClip(model, clip);
        const map: M.AttentionHeatmap = await M.attentionMap(model, clip.frames[r.attentionFrame]);
        const b = await M.benchMatmul(rt, M.TINY_SHAPES.matmul);
        model.dispose();
        return r.probs[r.predicted] + e.features[0] + map.thresholded[0] + b.gflops;
      }`;
    expect(check(good)).toEqual([]);
    expect(check('export const p: string = M.softmax64([1, 2]);').join('\n')).toMatch(/not assignable to type 'string'/);
  });
});
