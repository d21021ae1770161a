// GPU timestamps around one batch of the runtime, where the adapter has 'timestamp-query'.
//
// WebGPU writes timestamps only at the start or end of a pass, and the runtime records every
// dispatch into its own pass. So the timer brackets the runtime's batch with two empty compute
// passes of its own, and the three command buffers go to the queue in ONE submit:
//   [empty pass, timestamp 0 at its start] [the batch] [empty pass, timestamp 1 at its end;
//   resolve; copy to a mappable buffer]
// so t1 - t0 is the GPU time of the batch, without the JS time spent recording it, the
// submit/wait overhead that wall clock includes, or any gap while the JS thread is descheduled
// (three separate submits on a loaded 2-core box showed 20 ms gaps). To get the runtime's
// command buffer into that submit without changing the runtime, the queue's submit is wrapped
// for the duration of one rt.flush() (an own property shadowing the prototype's method,
// removed right after).
// The caller records the batch first and brackets it only when nothing was submitted meanwhile
// (an upload, a readback or a full uniform arena flushes early; the part already submitted
// would be missed, and the sample falls back to wall clock).
// Dawn quantises timestamps (to 65.5 µs here): samples last ~20 ms.
const QUERY_RESOLVE = 0x0200;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;

export class GpuTimer {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private readonly readBuf: GPUBuffer;

  private constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2, label: 'bench-timer' });
    this.resolveBuf = device.createBuffer({ size: 16, usage: QUERY_RESOLVE | COPY_SRC, label: 'bench-timer-resolve' });
    this.readBuf = device.createBuffer({ size: 16, usage: MAP_READ | COPY_DST, label: 'bench-timer-read' });
  }

  /** A timer, or null when the device was created without 'timestamp-query'. */
  static create(device: GPUDevice): GpuTimer | null {
    if (!device.features.has('timestamp-query')) return null;
    try {
      return new GpuTimer(device);
    } catch {
      return null;
    }
  }

  /** Run `flush` (which submits the recorded batch once) with the batch between the two timestamps. */
  bracket(flush: () => void): void {
    const begin = this.device.createCommandEncoder({ label: 'bench-timer-begin' });
    begin.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 0 } }).end();
    const end = this.device.createCommandEncoder({ label: 'bench-timer-end' });
    end.beginComputePass({ timestampWrites: { querySet: this.querySet, endOfPassWriteIndex: 1 } }).end();
    end.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf, 0);
    end.copyBufferToBuffer(this.resolveBuf, 0, this.readBuf, 0, 16);
    const [b, e] = [begin.finish(), end.finish()];
    const queue = this.device.queue as Omit<GPUQueue, 'submit'> & { submit?: GPUQueue['submit'] };
    const own = Object.prototype.hasOwnProperty.call(queue, 'submit');
    const submit = queue.submit!;
    let submitted = false;
    queue.submit = (cmds: Iterable<GPUCommandBuffer>) => {
      submit.call(queue, submitted ? cmds : [b, ...cmds, e]);
      submitted = true;
    };
    try {
      flush();
    } finally {
      if (own) queue.submit = submit;
      else delete queue.submit;
    }
    if (!submitted) submit.call(queue, [b, e]); // nothing was recorded: time an empty batch
  }

  /** Milliseconds between the two timestamps (after the GPU has finished), or null if unusable. */
  async read(): Promise<number | null> {
    await this.readBuf.mapAsync(MAP_READ);
    const t = new BigUint64Array(this.readBuf.getMappedRange().slice(0));
    this.readBuf.unmap();
    const ns = Number(t[1] - t[0]);
    // A zero or negative difference means the implementation does not really write them.
    return t[1] > t[0] && Number.isFinite(ns) ? ns / 1e6 : null;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuf.destroy();
    this.readBuf.destroy();
  }
}
