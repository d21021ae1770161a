// Node-side GPU acquisition through Dawn (npm `webgpu`). The only engine file that touches
// process/env and the filesystem for the GPU; everything in src/kernels receives a plain GPU
// object, exactly as a browser hands out `navigator.gpu`.
//
// Order: an adapter as the system offers it; if none, the known software Vulkan drivers by
// setting VK_ICD_FILENAMES *before* the Dawn instance is created (Dawn reads it at creation).
// The `create()` result must stay referenced for the life of the process: if it is collected,
// later calls segfault or abort with a futex error. So it lives in a module-level variable.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Software Vulkan ICDs, preferred first (lavapipe is ~4x faster than SwiftShader). */
export const SOFTWARE_ICDS: { name: string; path: string }[] = [
  { name: 'lavapipe', path: '/usr/share/vulkan/icd.d/lvp_icd.json' },
  { name: 'swiftshader', path: '/usr/lib/chromium/vk_swiftshader_icd.json' },
];

export const NO_ADAPTER_HELP =
  'No WebGPU adapter found. Install a GPU driver with Vulkan support, or a software Vulkan driver: ' +
  'run `bash scripts/setup.sh` (installs Mesa lavapipe from bookworm-backports on Debian 12), or ' +
  '`apt-get install mesa-vulkan-drivers` (Mesa >= 23), or `apt-get install chromium` (SwiftShader).';

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

// Kept alive for the whole process; see the header comment.
let keepAlive: { gpu: GPU; flags: string[] } | null = null;
// Every instance ever created, adapter or not: a collected Dawn instance can crash the process.
const instances: GPU[] = [];

export interface NodeGpuOptions {
  /** Dawn toggles, e.g. ['enable-dawn-features=disable_robustness']. */
  dawnFlags?: string[];
  /** 'auto' (system, then software), or force one software driver by name. */
  driver?: 'auto' | 'lavapipe' | 'swiftshader' | 'system';
  powerPreference?: GPUPowerPreference;
}

export interface NodeGpu {
  gpu: GPU;
  adapter: GPUAdapter;
  /** Which ICD we forced, or 'system'. */
  driver: string;
}

function loadDawn(): DawnModule {
  const mod = require('webgpu') as DawnModule;
  // The WebGPU enums/classes (GPUBufferUsage, ...) as globals, as in a browser.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  return mod;
}

/** Set before Dawn starts a Vulkan instance; Mesa wants a runtime dir and warns without one. */
function prepareEnv(): void {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
}

export async function acquireNodeGpu(opts: NodeGpuOptions = {}): Promise<NodeGpu> {
  prepareEnv();
  const driver = opts.driver ?? ((process.env.MEDIVLAD_DRIVER as NodeGpuOptions['driver']) || 'auto');
  const flags = opts.dawnFlags ?? [];
  const dawn = loadDawn();
  const reqOpts: GPURequestAdapterOptions = { powerPreference: opts.powerPreference ?? 'high-performance' };

  // A Dawn instance reads VK_ICD_FILENAMES once, when created; a second instance in the same
  // process is possible but we keep exactly one: the first one that yields an adapter.
  if (keepAlive) {
    const adapter = await keepAlive.gpu.requestAdapter(reqOpts);
    if (adapter) return { gpu: keepAlive.gpu, adapter, driver: currentDriverName() };
  }

  const candidates: { name: string; icd: string | null }[] = [];
  const forced = process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES;
  if (driver === 'auto' || driver === 'system') candidates.push({ name: forced ? `env:${forced}` : 'system', icd: null });
  if (driver !== 'system') {
    for (const icd of SOFTWARE_ICDS) {
      if ((driver === 'auto' || driver === icd.name) && existsSync(icd.path)) candidates.push({ name: icd.name, icd: icd.path });
    }
  }
  const tried: string[] = [];
  for (const c of candidates) {
    if (c.icd) process.env.VK_ICD_FILENAMES = c.icd;
    const gpu = dawn.create(flags);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter(reqOpts);
    tried.push(c.name);
    if (adapter) {
      keepAlive = { gpu, flags };
      chosenDriver = c.name;
      return { gpu, adapter, driver: c.name };
    }
  }
  throw new Error(`${NO_ADAPTER_HELP} (tried: ${tried.join(', ') || 'nothing: no driver files found'})`);
}

let chosenDriver = 'system';
function currentDriverName(): string {
  return chosenDriver;
}

/** The Dawn GPU object in use (for peers such as tfjs-webgpu that want `navigator.gpu`). */
export function currentNodeGpu(): GPU | null {
  return keepAlive?.gpu ?? null;
}
