// Browser entry: the engine on `navigator.gpu`, and the scoring pipeline on it. Nothing here
// (or in anything it imports) touches a Node built-in: scripts/build-web.mjs bundles this file
// as dist/web/medivlad.mjs and fails if one sneaks in (test/browser-safety.test.ts too).
//
//   const rt = await initWeb();                               // the device
//   const model = await loadCheckpoint(url | ArrayBuffer);    // or createRandomModel()
//   const clip = grayClip(rgbaFrames, model.size);            // decoded frames -> gray clip
//   const { features } = await embedClip(model, clip);        // CLS per frame (S, D)
//   const r = await scoreClip(model, clip);                   // probs, β, critical frame, attention
//   const map = await attentionMap(model, clip.frames[0]);    // any frame's CLS attention
import { createRuntime } from '../kernels/create-runtime.js';
import { setRuntime, hasRuntime, getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';

export const NO_WEBGPU_HELP =
  'WebGPU is not available in this browser. Use a recent Chrome/Edge (or Chromium with ' +
  '--enable-unsafe-webgpu), Safari 26+, or Firefox with WebGPU enabled.';

/** Create (once) the GPU runtime every tensor uses, from navigator.gpu. */
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

export { getRuntime, hasRuntime };
export type { Runtime };
export type { AdapterSummary } from '../kernels/adapter-info.js';

export * from '../autograd/index.js';
export { VisionTransformer, VIT_PRESETS, type VitConfig } from '../models/vit.js';
export { ParameterStore } from '../models/parameters.js';
export { parseSafetensors } from '../models/safetensors.js';
export { parsePth } from '../models/pth.js';
export { CheckpointError } from '../models/checkpoint.js';
export { createVideoModel, VideoClassifier, type AggregatorKind, type VideoModelConfig } from '../models/video-models.js';

export {
  ScoringModel, createRandomModel, loadCheckpoint, readCheckpoint, splitCheckpoint, inferHeadConfig, UNTRAINED,
  type ModelInfo, type ScoringOptions, type RandomModelOptions, type LoadOptions, type CheckpointParts,
} from './model.js';
export { embedClip, scoreClip, attentionMap, softmax64, type EmbedResult, type ScoreResult, type ScoreOptions } from './score.js';
export { grayClip, rgbaToGray, clipInput, type RgbaFrame, type GrayClip, type InputOptions } from './frames.js';
export { clsAttentionHeatmap, massThreshold, DEFAULT_MASS, type AttentionHeatmap } from './attention-map.js';
export { benchMatmul, benchAttention, VIT_S8_SHAPES, TINY_SHAPES, type MicroBenchRow, type MatmulShape, type AttentionShape } from './microbench.js';
export { syntheticClip, type SyntheticClip } from './synthetic.js';
