// Per-kernel GPU time: where a training step or a model forward spends the device's time.
//
// While a DispatchProfiler is attached (Runtime.startProfile), the runtime gives every dispatch
// its own compute pass whose timestampWrites mark the pass's beginning and end in a query set
// (two queries per dispatch). Before each batch is submitted the used queries are resolved into
// a buffer and copied to a MAP_READ buffer; once the batch is done those are read and each
// dispatch's end - begin is charged to its kernel (`name/entry`). stopProfile() waits for the
// outstanding readbacks and returns one line per kernel, slowest first.
//
// What it measures: the span between a pass's two timestamps, i.e. the dispatch alone (no
// submit, upload or readback time; those show in the wall clock). Caveats: a pass per dispatch
// can cost a little (one more pass boundary each), and Dawn may quantise timestamps (65.5 µs on
// lavapipe here), so a single short dispatch reads as 0 or one quantum; over many dispatches the
// rounding averages out because dispatch starts fall at every phase of the quantum. Needs the
// 'timestamp-query' feature (Runtime.startProfile throws a clear error without it).

export interface KernelTime {
  /** `kernel name/entry point`, as in the runtime's error messages. */
  kernel: string;
  dispatches: number;
  /** Summed GPU time of its dispatches (ms). */
  ms: number;
}

const QUERY_PAIRS = 512; // dispatches per query set (the uniform arena holds 1024); a fuller batch is flushed early

export class DispatchProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  /** Kernel names of the dispatches recorded in the open batch, by query pair. */
  private names: string[] = [];
  /** Submitted batches whose timestamps are still on the GPU side. */
  private readonly pending: { read: GPUBuffer; names: string[] }[] = [];
  private readonly totals = new Map<string, { n: number; ns: number }>();
  /** Dispatches whose end timestamp came before their beginning (a driver quirk): not charged. */
  private dropped = 0;

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * QUERY_PAIRS, label: 'profiler' });
    this.resolveBuf = device.createBuffer({
      size: 2 * QUERY_PAIRS * 8,
      usage: 0x0200 /* QUERY_RESOLVE */ | 0x0004 /* COPY_SRC */,
      label: 'profiler-resolve',
    });
  }

  /** True when the open batch has used every query pair (the runtime flushes first). */
  get full(): boolean {
    return this.names.length >= QUERY_PAIRS;
  }

  /** The timestamp writes for the pass of the next dispatch, charged to `kernel`. */
  next(kernel: string): GPUComputePassTimestampWrites {
    const i = this.names.length;
    if (i >= QUERY_PAIRS) throw new Error('profiler: query set full (the runtime must flush first)');
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * Called by the runtime on the open encoder just before it is finished: resolve this batch's
   * queries and copy them out. Returns the step to run once the batch has been submitted.
   */
  resolve(encoder: GPUCommandEncoder): (() => void) | null {
    const names = this.names;
    if (names.length === 0) return null;
    this.names = [];
    const bytes = names.length * 16;
    const read = this.device.createBuffer({ size: bytes, usage: 0x0001 /* MAP_READ */ | 0x0008 /* COPY_DST */, label: 'profiler-read' });
    encoder.resolveQuerySet(this.querySet, 0, 2 * names.length, this.resolveBuf, 0);
    encoder.copyBufferToBuffer(this.resolveBuf, 0, read, 0, bytes);
    // Mapped only in collect(), after the GPU is idle: a pending mapAsync makes Dawn's Node
    // binding spin the JS thread, which on a software adapter takes a core from the "GPU" and
    // would slow the very work being timed.
    return () => this.pending.push({ read, names });
  }

  private charge(t: BigUint64Array, names: string[]): void {
    for (let i = 0; i < names.length; i++) {
      // An end before its beginning (a driver quirk) would wrap the unsigned difference: not charged.
      if (t[2 * i + 1] < t[2 * i]) {
        this.dropped++;
        continue;
      }
      const e = this.totals.get(names[i]) ?? { n: 0, ns: 0 };
      e.n++;
      e.ns += Number(t[2 * i + 1] - t[2 * i]);
      this.totals.set(names[i], e);
    }
  }

  /**
   * Charge the batches submitted so far. The runtime calls this once the GPU is idle (after a
   * sync), so the maps complete at once and a long profiled run holds few readback buffers.
   */
  async drain(): Promise<void> {
    for (const { read, names } of this.pending.splice(0)) {
      await read.mapAsync(0x0001 /* READ */);
      this.charge(new BigUint64Array(read.getMappedRange().slice(0)), names);
      read.destroy();
    }
  }

  /** Read every submitted batch's timestamps (call once the GPU is idle); per-kernel totals, slowest first. */
  async collect(): Promise<{ kernels: KernelTime[]; dropped: number }> {
    await this.drain();
    const kernels = [...this.totals].map(([kernel, e]) => ({ kernel, dispatches: e.n, ms: e.ns / 1e6 }));
    kernels.sort((a, b) => b.ms - a.ms || a.kernel.localeCompare(b.kernel));
    return { kernels, dropped: this.dropped };
  }

  destroy(): void {
    for (const { read } of this.pending.splice(0)) read.destroy();
    this.querySet.destroy();
    this.resolveBuf.destroy();
  }
}
