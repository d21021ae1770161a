// Browser entry: the engine on `navigator.gpu`. Nothing here (or in anything it imports)
// touches a Node built-in; test/browser-safety.test.ts bundles this file for the browser
// and fails if one sneaks in.
import { createRuntime } from '../kernels/create-runtime.js';
import { setRuntime, hasRuntime, getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';

export const NO_WEBGPU_HELP =
  'WebGPU is not available in this browser. Use a recent Chrome/Edge (or Chromium with ' +
  '--enable-unsafe-webgpu), Safari 26+, or Firefox with WebGPU enabled.';

export async function initWeb(opts: { powerPreference?: GPUPowerPreference } = {}): Promise<Runtime> {
  if (hasRuntime()) return getRuntime();
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error(NO_WEBGPU_HELP);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(`navigator.gpu returned no adapter. ${NO_WEBGPU_HELP}`);
  const rt = await createRuntime(adapter, 'navigator.gpu');
  setRuntime(rt);
  return rt;
}

export * from '../autograd/index.js';
export { VisionTransformer, VIT_PRESETS } from '../models/vit.js';
export { ParameterStore } from '../models/parameters.js';
export { parseSafetensors } from '../models/safetensors.js';
export { parsePth } from '../models/pth.js';
