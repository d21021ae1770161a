// TensorFlow.js's WebGPU backend as a peer on the same adapter: it asks `navigator.gpu` for
// an adapter, so we hand it the Dawn GPU object our runtime uses. It gets its own device.
import { currentNodeGpu } from '../../src/node/gpu.js';
import { progress } from '../harness.js';

// Typed loosely: tfjs-core's types are large and only the few calls below are used.
export type Tf = typeof import('@tensorflow/tfjs-core');

let cached: Promise<Tf | null> | null = null;

export function loadTfjsWebgpu(): Promise<Tf | null> {
  if (!cached) cached = load();
  return cached;
}

async function load(): Promise<Tf | null> {
  const gpu = currentNodeGpu();
  if (!gpu) return null;
  try {
    const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    const ok = await tf.setBackend('webgpu');
    if (!ok) throw new Error('setBackend(webgpu) returned false');
    await tf.ready();
    return tf;
  } catch (e) {
    progress(`tfjs-webgpu peer unavailable: ${(e as Error).message}`);
    return null;
  }
}
