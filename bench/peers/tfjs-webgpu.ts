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

/**
 * Wait until tfjs-webgpu's GPU work is done: submit its pending command encoder and wait on its
 * queue (tfjs records lazily, so a bare call returns before the GPU has run). Falls back to
 * reading one element of `t` where the backend internals are not reachable; that also covers
 * GPU completion, plus a tiny download.
 */
export async function tfjsGpuDone(tf: Tf, t?: { dispose(): void; shape: number[] }): Promise<void> {
  const backend = tf.backend() as unknown as {
    submitQueue?: () => void;
    endComputePassEncoder?: () => void;
    commandEncoder?: GPUCommandEncoder | null;
    queue?: GPUQueue;
  };
  if (typeof backend.submitQueue === 'function' && typeof backend.endComputePassEncoder === 'function' && backend.queue) {
    if (backend.commandEncoder) {
      backend.endComputePassEncoder();
      backend.submitQueue();
    }
    await backend.queue.onSubmittedWorkDone();
    return;
  }
  if (t) {
    const flat = tf.reshape(t as never, [-1]);
    const one = tf.slice(flat, [0], [1]);
    await one.data();
    one.dispose();
    flat.dispose();
  }
}
