// Browser test harness: Debian's Chromium driven by playwright-core (which downloads no browser),
// a static server on 127.0.0.1 (a secure context, as WebGPU requires) serving a site built
// into a temporary folder by scripts/build-web.mjs, and every page error or console error
// collected so a test can fail on it.
//
// Chromium hands out WebGPU on a software adapter (SwiftShader) only with
// --enable-unsafe-webgpu; the other flags are DESIGN.md's for a sandboxless container.
// Without Chromium (only then) the browser tests skip, saying why.
import { chromium, type Browser, type Page } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserOptions, buildWeb, bundle, libraryAsExternal, ROOT } from '../../scripts/build-web.mjs';
import { startStaticServer } from '../../scripts/serve-web.mjs';

export const CHROMIUM = process.env.MEDIVLAD_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const NO_CHROMIUM = `browser tests skipped: no Chromium at ${CHROMIUM} (bash scripts/setup.sh installs Debian's chromium; MEDIVLAD_CHROMIUM=path picks another)`;

export const WEBGPU_FLAG = '--enable-unsafe-webgpu';
export const CONTAINER_FLAGS = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
];

/** Where tests leave what a person may want to look at (screenshots). */
export const TEST_OUTPUT = process.env.MEDIVLAD_TEST_OUTPUT ?? join(tmpdir(), 'medivlad-browser-tests');

/** Test pages: name -> entry (bundled with the library as an external, as the demo is). */
const TEST_PAGES: Record<string, string> = {
  kernels: join(ROOT, 'test/browser/kernels-page.ts'),
};

export interface Site {
  root: string;
  url: string;
  close(): Promise<void>;
}

/** Build the library, the demo and the test pages into a temporary folder and serve it. */
export async function serveSite(): Promise<Site> {
  const root = mkdtempSync(join(tmpdir(), 'medivlad-web-'));
  await buildWeb({ outdir: root, types: false });
  mkdirSync(join(root, 'test'), { recursive: true });
  for (const [name, entry] of Object.entries(TEST_PAGES)) {
    await bundle(`test page ${name}`, browserOptions({
      entryPoints: [entry],
      outfile: join(root, `test/${name}.mjs`),
      plugins: [libraryAsExternal('../medivlad.mjs')],
    }));
    writeFileSync(join(root, `test/${name}.html`), `<!doctype html><meta charset="utf-8"><title>${name}</title><link rel="icon" href="data:,"><script type="module" src="${name}.mjs"></script>\n`);
  }
  const srv = await startStaticServer(root);
  return {
    root,
    url: srv.url,
    close: async () => {
      await srv.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export interface Session {
  browser: Browser;
  page: Page;
  /** Page errors and console errors, in order; a test asserts this stays empty. */
  errors: string[];
  /** Console output of every kind (for failure messages). */
  console: string[];
  close(): Promise<void>;
}

/** Launch Chromium (with or without WebGPU's flag) and open one page that records its errors. */
export async function openBrowser(opts: { webgpu?: boolean } = {}): Promise<Session> {
  const args = opts.webgpu === false ? CONTAINER_FLAGS : [...CONTAINER_FLAGS, WEBGPU_FLAG];
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const log: string[] = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('crash', () => errors.push('page crashed'));
  page.on('console', (m) => {
    log.push(`[${m.type()}] ${m.text()}`);
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });
  return { browser, page, errors, console: log, close: () => browser.close() };
}

export interface AdapterReport {
  ok: boolean;
  /** What the page saw: the adapter's vendor/architecture, or why there is none. */
  detail: string;
}

/** Ask the page for a WebGPU adapter, as initWeb does. */
export async function probeAdapter(page: Page): Promise<AdapterReport> {
  return page.evaluate(async () => {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    if (!gpu) return { ok: false, detail: 'navigator.gpu is undefined' };
    const a = await gpu.requestAdapter();
    if (!a) return { ok: false, detail: 'navigator.gpu.requestAdapter() returned null' };
    return { ok: true, detail: `${a.info.vendor} ${a.info.architecture}`.trim() };
  });
}

/** Throw, naming the flag, unless the page has a WebGPU adapter: browser tests must really use WebGPU. */
export async function requireWebGpu(page: Page): Promise<string> {
  const r = await probeAdapter(page);
  if (!r.ok) throw new Error(`no WebGPU adapter in Chromium (${r.detail}); it needs ${WEBGPU_FLAG} on a software adapter`);
  return r.detail;
}

/** Save a screenshot into the test output folder; returns its path. */
export async function screenshot(page: Page, name: string): Promise<{ path: string; png: Buffer }> {
  mkdirSync(TEST_OUTPUT, { recursive: true });
  const path = join(TEST_OUTPUT, name);
  const png = await page.screenshot({ path, fullPage: true });
  return { path, png };
}
