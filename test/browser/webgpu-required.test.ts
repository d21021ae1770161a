// The browser tests really run on WebGPU: Chromium launched without --enable-unsafe-webgpu has
// no adapter on this software-only machine, the harness says so (naming the flag), and both the
// kernel page and the demo fail instead of passing by accident. With the flag, the same page
// gets an adapter.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { HAVE_CHROMIUM, NO_CHROMIUM, WEBGPU_FLAG, openBrowser, probeAdapter, requireWebGpu, serveSite, type Site } from './harness.js';

describe.skipIf(!HAVE_CHROMIUM)(HAVE_CHROMIUM ? 'browser tests need WebGPU' : NO_CHROMIUM, () => {
  let site: Site;
  beforeAll(async () => {
    site = await serveSite();
  });
  afterAll(async () => {
    await site?.close();
  });

  it(`without ${WEBGPU_FLAG}: no adapter, the harness reports it, kernels and demo fail`, async () => {
    const s = await openBrowser({ webgpu: false });
    try {
      await s.page.goto(`${site.url}test/kernels.html`);
      expect(await probeAdapter(s.page)).toEqual({ ok: false, detail: 'navigator.gpu.requestAdapter() returned null' });
      await expect(requireWebGpu(s.page)).rejects.toThrow(`no WebGPU adapter in Chromium (navigator.gpu.requestAdapter() returned null); it needs ${WEBGPU_FLAG}`);
      await s.page.waitForFunction(() => typeof window.medivladKernelCases === 'function');
      await expect(s.page.evaluate(() => window.medivladKernelCases!(1))).rejects.toThrow(/navigator\.gpu returned no adapter/);

      await s.page.goto(`${site.url}demo/`);
      await s.page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 30_000 });
      expect(await s.page.textContent('#error')).toMatch(/no adapter.*--enable-unsafe-webgpu/);
    } finally {
      await s.close();
    }
  });

  it(`with ${WEBGPU_FLAG}: the same page gets an adapter`, async () => {
    const s = await openBrowser();
    try {
      await s.page.goto(`${site.url}test/kernels.html`);
      const r = await probeAdapter(s.page);
      expect(r.ok, r.detail).toBe(true);
      expect(await requireWebGpu(s.page)).toBe(r.detail);
      expect(s.errors).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
