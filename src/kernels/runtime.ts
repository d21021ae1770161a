// The GPU runtime: one per device. It owns the buffer pools, the pipeline cache, the uniform
// arena and the command stream, and it is the only place that talks to the GPUQueue.
//
// Command stream: every dispatch is recorded into one open command encoder (one compute pass
// per batch); nothing is submitted until a value is read back or flush() is called. So a
// training step is a handful of submits, not one per op.
//
// Uniforms: each dispatch gets a 256-byte slot in one arena buffer. The CPU mirror is written
// to the GPU with a single writeBuffer right before the batch is submitted; the queue orders
// that write before the batch. A full arena forces an early flush. No per-dispatch buffers.
//
// Uploads: queue.writeBuffer executes on the queue timeline *before* any command still in the
// open encoder, so an upload into a pooled buffer that earlier recorded work still reads would
// overwrite it. upload() therefore flushes first; uploads are rare (inputs, parameters).
import { WaitPlanner } from './wait-planner.js';
import { BufferPool } from './buffer-pool.js';
import { PipelineCache, type Kernel } from './pipeline-cache.js';
import { packUniform } from './shader-reflection.js';
import type { AdapterSummary } from './adapter-info.js';
import { DispatchProfiler, type KernelTime } from './profiler.js';

export type { Kernel } from './pipeline-cache.js';
export type { KernelTime } from './profiler.js';

export interface BufferRef {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

export interface DispatchArgs {
  kernel: Kernel;
  /** Storage/uniform buffers by their WGSL variable name (the uniform struct is bound by the runtime). */
  buffers: Record<string, GPUBuffer | BufferRef>;
  /** Members of the entry's uniform struct, by name. */
  params?: Record<string, number | ArrayLike<number>>;
  /** Number of workgroups in x, y, z. */
  workgroups: [number, number?, number?];
  /** Human-readable shapes for error messages, e.g. "a(785,384) b(384,1152)". */
  shapes?: string;
}

export interface RuntimeCounters {
  buffersCreated: number;
  bytesLive: number;
  peakBytesLive: number;
  bytesAllocated: number;
  dispatches: number;
  submits: number;
  pipelinesCreated: number;
  uploads: number;
  readbacks: number;
}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const ARENA_SLOTS = 1024;

/**
 * The GPU device is gone (driver reset, GPU removed, device.destroy(), browser tab backgrounded
 * too long). Every buffer and tensor of the runtime went with it. Recovery: drop the runtime,
 * create a new one (Node: shutdownNode() then initNode(); browser: initWeb() after
 * setRuntime(null)) and reload the last checkpoint.
 */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(
    message: string,
    /** GPUDeviceLostReason: 'destroyed' or 'unknown'. */
    readonly reason: string,
  ) {
    super(message);
  }
}

const RECOVERY_HINT = 'every GPU buffer is gone: create a new runtime (Node: shutdownNode() then initNode()) and reload the last checkpoint';

export class Runtime {
  readonly pool: BufferPool;
  private readPool: BufferPool;
  readonly pipelines: PipelineCache;
  private uniformArena: GPUBuffer;
  private uniformMirror = new ArrayBuffer(UNIFORM_SLOT * ARENA_SLOTS);
  private uniformView = new DataView(this.uniformMirror);
  private uniformUsed = 0; // slots used in the open batch
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchKernels: string[] = [];
  private lostInfo: GPUDeviceLostInfo | null = null;
  private lostPromise: Promise<GPUDeviceLostInfo>;
  private uncaptured: string[] = [];
  private counts = { dispatches: 0, submits: 0, uploads: 0, readbacks: 0 };
  private destroyed = false;
  private profiler: DispatchProfiler | null = null;
  private profileShapes = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
  ) {
    this.pool = new BufferPool(device, undefined, 'tensor', device.limits.maxBufferSize);
    this.sleepBeforeWait = adapter.isSoftware;
    // MAP_READ | COPY_DST staging buffers for readback.
    this.readPool = new BufferPool(device, 0x0001 | 0x0008, 'readback');
    this.pipelines = new PipelineCache(device);
    this.uniformArena = device.createBuffer({
      size: UNIFORM_SLOT * ARENA_SLOTS,
      usage: 0x0040 /* UNIFORM */ | 0x0008 /* COPY_DST */,
      label: 'uniform-arena',
    });
    // Dawn resolves `lost` on a later event-loop turn (after device.destroy(): reason
    // 'destroyed'); afterwards it silently drops submitted work and rejects mapAsync. So every
    // entry point checks lostInfo, and a failed readback waits for `lost` to name the reason.
    this.lostPromise = device.lost.then((info) => {
      if (!this.destroyed) this.lostInfo = info;
      return info;
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured.push(e.message);
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  get counters(): RuntimeCounters {
    const p = this.pool.counters;
    return {
      buffersCreated: p.buffersCreated + this.readPool.counters.buffersCreated,
      bytesLive: p.bytesLive,
      peakBytesLive: p.peakBytesLive,
      bytesAllocated: p.bytesAllocated,
      dispatches: this.counts.dispatches,
      submits: this.counts.submits,
      pipelinesCreated: this.pipelines.created,
      uploads: this.counts.uploads,
      readbacks: this.counts.readbacks,
    };
  }

  /** Why the device was lost, or null while it is alive. */
  get lost(): GPUDeviceLostInfo | null {
    return this.lostInfo;
  }

  private checkAlive(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the runtime was destroyed`);
    if (this.lostInfo) {
      const { reason, message } = this.lostInfo;
      throw new DeviceLostError(`${what}: GPU device lost (${reason}${message ? `: ${message}` : ''}); ${RECOVERY_HINT}`, reason);
    }
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(args: DispatchArgs): void {
    const { kernel } = args;
    const where = `kernel ${kernel.name}/${kernel.entry}${args.shapes ? ` [${args.shapes}]` : ''}`;
    this.checkAlive(where);
    const compiled = this.pipelines.get(kernel, args.shapes);
    const refl = compiled.reflection;

    const [x, y = 1, z = 1] = args.workgroups;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (!(x >= 1 && y >= 1 && z >= 1) || x > maxWg || y > maxWg || z > maxWg || ![x, y, z].every(Number.isInteger)) {
      throw new Error(`${where}: workgroup count (${x}, ${y}, ${z}) is out of range 1..${maxWg}`);
    }

    if (this.uniformUsed >= ARENA_SLOTS) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    const given = new Set(Object.keys(args.buffers));
    for (const b of refl.bindings) {
      if (b.kind === 'uniform') {
        if (!refl.uniform) throw new Error(`${where}: uniform binding without a struct`);
        const slot = this.uniformUsed++;
        const size = Math.max(16, Math.ceil(refl.uniform.size / 16) * 16);
        if (size > UNIFORM_SLOT) throw new Error(`${where}: uniform struct of ${size} bytes exceeds ${UNIFORM_SLOT}`);
        packUniform(`${kernel.name}/${kernel.entry}`, refl.uniform, args.params ?? {}, this.uniformView, slot * UNIFORM_SLOT);
        entries.push({ binding: b.binding, resource: { buffer: this.uniformArena, offset: slot * UNIFORM_SLOT, size } });
        continue;
      }
      const ref = args.buffers[b.name];
      if (!ref) throw new Error(`${where}: the launcher gave no buffer for binding '${b.name}' (@binding(${b.binding}))`);
      given.delete(b.name);
      const r: BufferRef = 'buffer' in ref ? ref : { buffer: ref };
      entries.push({ binding: b.binding, resource: { buffer: r.buffer, offset: r.offset ?? 0, size: r.size } });
    }
    if (given.size) {
      throw new Error(`${where}: the launcher gave buffer(s) ${[...given].join(', ')} that entry '${kernel.entry}' does not bind`);
    }
    if (refl.uniform === null && args.params && Object.keys(args.params).length) {
      throw new Error(`${where}: parameters given but the entry has no uniform struct`);
    }

    const bindGroup = this.device.createBindGroup({ layout: compiled.layout, entries, label: where });
    const pass = this.profiler ? this.profiledPass(this.profileShapes ? where.slice('kernel '.length) : `${kernel.name}/${kernel.entry}`) : this.openPass();
    pass.setPipeline(compiled.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) pass.end();
    this.counts.dispatches++;
    this.batchKernels.push(where);
  }

  private openEncoder(): GPUCommandEncoder {
    if (!this.encoder) {
      this.encoder = this.device.createCommandEncoder({ label: 'medivlad-batch' });
      this.device.pushErrorScope('validation');
    }
    return this.encoder;
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.openEncoder().beginComputePass();
    return this.pass;
  }

  /** Profiling: a pass of its own for the next dispatch, timestamped at its beginning and end (src/kernels/profiler.ts). */
  private profiledPass(name: string): GPUComputePassEncoder {
    if (this.profiler!.full) this.flush();
    this.closePass();
    return this.openEncoder().beginComputePass({ timestampWrites: this.profiler!.next(name) });
  }

  private closePass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Record a buffer-to-buffer copy in stream order. */
  copy(src: BufferRef, dst: BufferRef, bytes: number): void {
    this.checkAlive('copy');
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src.buffer, src.offset ?? 0, dst.buffer, dst.offset ?? 0, bytes);
  }

  /** Submit everything recorded so far. Cheap when nothing is pending. */
  flush(): void {
    if (!this.encoder) return;
    this.closePass();
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformMirror, 0, this.uniformUsed * UNIFORM_SLOT);
    }
    const afterSubmit = this.profiler?.resolve(this.encoder) ?? null;
    const cmd = this.encoder.finish();
    this.device.queue.submit([cmd]);
    afterSubmit?.();
    this.counts.submits++;
    this.encoder = null;
    this.uniformUsed = 0;
    const kernels = this.batchKernels;
    this.batchKernels = [];
    const scope = this.device.popErrorScope();
    this.pendingChecks.push(
      scope.then((err) => (err ? `validation error in a batch of ${kernels.length} dispatches (${summarize(kernels)}): ${err.message}` : null)),
    );
  }

  private pendingChecks: Promise<string | null>[] = [];

  /** Throw if any submitted batch, pipeline creation, or uncaptured error failed. */
  async checkErrors(): Promise<void> {
    const checks = this.pendingChecks.splice(0);
    checks.push(...this.pipelines.takePendingChecks());
    const msgs = (await Promise.all(checks)).filter((m): m is string => m !== null);
    msgs.push(...this.uncaptured.splice(0));
    if (msgs.length) throw new Error(msgs.join('\n'));
    this.checkAlive('checkErrors');
  }

  /** Wait until the GPU has finished all submitted work (and surface errors). */
  async sync(): Promise<void> {
    this.flush();
    await this.idleWait(() => this.device.queue.onSubmittedWorkDone());
    if (this.profiler) await this.profiler.drain(); // the GPU is idle: its timestamps are ready
    await this.checkErrors();
  }

  /**
   * Sleep (no spinning) for most of the time the pending work should take, then wait: on a
   * software adapter Dawn's spinning JS thread would take CPU from the driver's workers. The
   * estimate is WaitPlanner's (src/kernels/wait-planner.ts). On real GPUs spinning costs
   * nothing the GPU needs: off by default.
   */
  sleepBeforeWait = false; // set in the constructor: adapter.isSoftware, or $MEDIVLAD_SLEEPY_WAIT
  private waits = new WaitPlanner();

  private async idleWait<T>(wait: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const nap = this.sleepBeforeWait ? this.waits.nap(t0, this.counts.dispatches) : 0;
    if (nap > 0) await new Promise((r) => setTimeout(r, nap));
    const t1 = performance.now();
    const v = await wait();
    this.waits.done(t0, nap, t1, performance.now(), this.counts.dispatches);
    return v;
  }

  // ---------------------------------------------------------------- profiling

  /**
   * Start charging every dispatch's GPU time to its kernel (`name/entry`, or with `shapes` the
   * launcher's shape string too). Each dispatch then runs in a pass of its own; see
   * src/kernels/profiler.ts. Needs the device feature 'timestamp-query'.
   */
  startProfile(opts: { shapes?: boolean } = {}): void {
    this.checkAlive('startProfile');
    if (this.profiler) throw new Error('startProfile: a profile is already running');
    if (!this.device.features.has('timestamp-query')) {
      throw new Error(`startProfile: the device has no 'timestamp-query' feature (adapter ${this.adapter.description}), so per-kernel GPU times cannot be measured`);
    }
    this.flush(); // work recorded before the profile is not charged to it
    this.profiler = new DispatchProfiler(this.device);
    this.profileShapes = opts.shapes ?? false;
  }

  /** Whether a profile is running (startProfile). */
  get profiling(): boolean {
    return this.profiler !== null;
  }

  /** Stop profiling: flush, wait for the timestamps, and return the per-kernel totals (slowest first). */
  async stopProfile(): Promise<{ kernels: KernelTime[]; dropped: number }> {
    const prof = this.profiler;
    if (!prof) throw new Error('stopProfile: no profile is running (call startProfile first)');
    this.flush();
    this.profiler = null;
    try {
      await this.sync();
      return await prof.collect();
    } finally {
      prof.destroy();
    }
  }

  // ---------------------------------------------------------------- memory

  /**
   * Test aid: when true, every buffer handed out is first filled with NaN, so an element a
   * kernel fails to write shows up as NaN instead of a stale value that may look right.
   * (Costs a flush per allocation; never on in production.)
   */
  poison = false;

  alloc(bytes: number): GPUBuffer {
    this.checkAlive('alloc');
    const buf = this.pool.acquire(bytes);
    if (this.poison) {
      this.flush();
      const nan = new Uint32Array(buf.size / 4).fill(0x7fc00000);
      this.device.queue.writeBuffer(buf, 0, nan);
    }
    return buf;
  }

  free(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  /** Write host data into a buffer, in stream order (see the header comment). */
  upload(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.checkAlive('upload');
    this.flush();
    const bytes = data.byteLength;
    if (bytes % 4 !== 0) throw new Error(`upload: ${bytes} bytes is not a multiple of 4`);
    this.device.queue.writeBuffer(dst, dstOffset, data.buffer, data.byteOffset, bytes);
    this.counts.uploads++;
  }

  /** Copy `bytes` from a buffer back to the host. Flushes the stream. */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    this.checkAlive('read');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.readPool.acquire(size);
    this.copy({ buffer: src, offset }, { buffer: staging }, size);
    this.flush();
    this.counts.readbacks++;
    try {
      await this.idleWait(() => staging.mapAsync(0x0001 /* READ */, 0, size));
    } catch (e) {
      // A lost device rejects mapAsync (with an empty message in Dawn) possibly before `lost`
      // has resolved: give it a moment so the error names the loss, not just the readback.
      await Promise.race([this.lostPromise, new Promise((r) => setTimeout(r, 1000))]);
      this.checkAlive('read');
      await this.checkErrors();
      throw new Error(`read: mapAsync failed: ${(e as Error).message || 'no reason given'}`);
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.readPool.release(staging);
    await this.checkErrors();
    return out;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.flush();
    } catch {
      /* device may already be lost */
    }
    this.pool.trim();
    this.readPool.trim();
    this.uniformArena.destroy();
    this.device.destroy();
  }
}

function summarize(kernels: string[]): string {
  const counts = new Map<string, number>();
  for (const k of kernels) counts.set(k, (counts.get(k) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join('; ');
}
