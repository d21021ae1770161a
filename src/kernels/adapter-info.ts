// What the adapter is, in one plain object: printed by `medivlad info`, stored in every bench
// report, and used as the key of per-adapter kernel choices.

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** lavapipe, SwiftShader, WARP, or Dawn's fallback adapter: a CPU pretending to be a GPU. */
  isSoftware: boolean;
  /** 'lavapipe' | 'swiftshader' | 'gpu' (a guess from the description, used to pick kernels). */
  family: 'lavapipe' | 'swiftshader' | 'gpu';
  /** How the runtime got it (Node: 'system', 'lavapipe', 'swiftshader'; browser: 'navigator.gpu'). */
  driver: string;
  features: string[];
  limits: Record<string, number>;
}

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
] as const;

export function summarizeAdapter(adapter: GPUAdapter, driver: string): AdapterSummary {
  const info = adapter.info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  let family: AdapterSummary['family'] = 'gpu';
  if (text.includes('llvmpipe') || text.includes('lavapipe') || driver === 'lavapipe') family = 'lavapipe';
  else if (text.includes('swiftshader') || driver === 'swiftshader') family = 'swiftshader';
  const isFallback = (info as unknown as { isFallbackAdapter?: boolean })?.isFallbackAdapter === true;
  const isSoftware = family !== 'gpu' || isFallback || text.includes('warp') || text.includes('software');
  const limits: Record<string, number> = {};
  for (const k of KEY_LIMITS) limits[k] = Number((adapter.limits as unknown as Record<string, number>)[k]);
  return {
    vendor,
    architecture,
    device,
    description,
    isSoftware,
    family,
    driver,
    features: [...adapter.features].map(String).sort(),
    limits,
  };
}

/** A stable one-line name for file names and cache keys. */
export function adapterKey(a: AdapterSummary): string {
  const s = `${a.family}-${a.vendor}-${a.architecture}-${a.device || a.description}`;
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
}
