// Device creation from an adapter, shared by Node and the browser. We ask for the largest
// buffer limits the adapter offers (ViT-S/8 activations need far more than the 128 MiB default
// binding size on real GPUs) and for the optional features we can use.
import { Runtime } from './runtime.js';
import { summarizeAdapter } from './adapter-info.js';

const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups' as GPUFeatureName];
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function createRuntime(adapter: GPUAdapter, driver: string): Promise<Runtime> {
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'medivlad' });
  return new Runtime(device, summarizeAdapter(adapter, driver));
}
