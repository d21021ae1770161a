// The runtime that tensors created without an explicit one use (like torch's default device).
// Set once by the platform entry (src/node/index.ts or src/web/index.ts).
import type { Runtime } from './runtime.js';

let current: Runtime | null = null;

export function setRuntime(rt: Runtime | null): void {
  current = rt;
}

export function getRuntime(): Runtime {
  if (!current) {
    throw new Error('No GPU runtime: call initNode() (Node) or initWeb() (browser) before creating tensors');
  }
  return current;
}

export function hasRuntime(): boolean {
  return current !== null;
}
