// Shared test setup: one runtime for the whole (single-fork) test run.
import { initNode } from '../../src/node/index.js';
import type { Runtime } from '../../src/kernels/runtime.js';

export async function gpu(): Promise<Runtime> {
  return initNode();
}
