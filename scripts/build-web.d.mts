// Types of scripts/build-web.mjs, for the browser tests (test/browser/harness.ts).
import type { BuildOptions, BuildResult, Plugin } from 'esbuild';

export const ROOT: string;
export const LIB_ENTRY: string;
export const noNodeBuiltins: Plugin;
export function libraryAsExternal(url: string): Plugin;
export function browserOptions(extra?: BuildOptions): BuildOptions;
export function bundle(what: string, options: BuildOptions): Promise<BuildResult>;
export function buildWeb(opts?: { outdir?: string; types?: boolean; demo?: boolean }): Promise<{ inputs: string[] }>;
