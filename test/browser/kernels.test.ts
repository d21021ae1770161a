// The engine's kernels in Chromium (WebGPU on SwiftShader, through the shipped bundle) give
// Node's results (Dawn on lavapipe or a GPU) on the same inputs: matmul, softmax, LayerNorm,
// fused attention forward/backward, the DINO loss and VLAD, each output and gradient within
// 1e-5 relative (‖browser − node‖ / ‖node‖; element-wise |Δ| ≤ 1e-5·max|node| + 1e-3·|node|).
// The Node side is itself checked against the float64 references in test/<kernel>.test.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gpu } from '../helpers/gpu.js';
import { expectClose } from '../helpers/close.js';
import { HAVE_CHROMIUM, NO_CHROMIUM, openBrowser, requireWebGpu, serveSite, type Session, type Site } from './harness.js';
import { runKernelCases, type CaseResults } from './kernel-cases.js';

const SEED = 11;

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? 'kernels in Chromium equal Node' : NO_CHROMIUM, () => {
  let site: Site;
  let s: Session;
  let browser: CaseResults;
  let node: CaseResults;

  beforeAll(async () => {
    site = await serveSite();
    s = await openBrowser();
    await s.page.goto(`${site.url}test/kernels.html`);
    await requireWebGpu(s.page);
    await s.page.waitForFunction(() => typeof window.medivladKernelCases === 'function');
    browser = await s.page.evaluate((seed) => window.medivladKernelCases!(seed), SEED);
    await gpu();
    node = await runKernelCases(SEED);
  });
  afterAll(async () => {
    await s?.close();
    await site?.close();
  });

  it('ran every case on both sides, with no page or console error', () => {
    expect(s.errors, s.console.join('\n')).toEqual([]);
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
    expect(Object.keys(node).length).toBeGreaterThanOrEqual(20);
  });

  for (const kernel of ['matmul', 'linear', 'softmax', 'layernorm', 'attention', 'dino', 'vlad']) {
    it(`${kernel}: outputs and gradients`, () => {
      const names = Object.keys(node).filter((n) => n.startsWith(`${kernel}.`));
      expect(names.some((n) => n.includes('.d'))).toBe(true); // a backward was compared too
      for (const n of names) {
        expect(node[n].length, n).toBeGreaterThan(0);
        expect(node[n].every(Number.isFinite), `${n}: Node result not finite`).toBe(true);
        expectClose(browser[n], node[n], { rel: 1e-5, what: `${n} (browser vs Node)` });
      }
    });
  }
});
