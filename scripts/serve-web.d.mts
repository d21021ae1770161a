// Types of scripts/serve-web.mjs, for the browser tests (test/browser/harness.ts).
export function startStaticServer(root: string, opts?: { port?: number; host?: string }): Promise<{ url: string; close(): Promise<void> }>;
