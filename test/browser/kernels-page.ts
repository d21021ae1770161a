// Browser entry of the kernel cases: bundled by the harness with the library as an external
// (`../medivlad.mjs`, the shipped bundle), it exposes one function for the test to call.
import { initWeb } from '../../src/web/index.js';
import { runKernelCases } from './kernel-cases.js';

declare global {
  interface Window {
    medivladKernelCases?: (seed: number) => Promise<Record<string, number[]>>;
  }
}

window.medivladKernelCases = async (seed: number) => {
  await initWeb();
  return runKernelCases(seed);
};
