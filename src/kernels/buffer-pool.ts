// Size-class buffer pool. A tensor's storage is a pooled GPUBuffer; disposing the tensor puts the
// buffer back on the free list of its class, so a steady-state training step creates no buffers.
//
// Size classes: 256-byte granules up to 4 KiB as powers of two, then quarter-octave steps
// (4, 5, 6, 7) * 2^k, so at most 25% of a buffer is slack. Reuse is safe in stream order: every
// GPU write goes through the runtime's single command stream (uploads flush it first), so a
// buffer handed out again is only written after the earlier reads recorded before it.

export const STORAGE_USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */

export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 4096) return 1 << Math.ceil(Math.log2(b));
  const k = Math.floor(Math.log2(b)) - 2; // b in [4*2^k, 8*2^k)
  const step = 2 ** k;
  return Math.ceil(b / step) * step;
}

export interface PoolCounters {
  /** GPU buffers ever created by this pool. */
  buffersCreated: number;
  /** Bytes held by buffers currently owned by live tensors. */
  bytesLive: number;
  /** High-water mark of bytesLive since the last resetPeak(). */
  peakBytesLive: number;
  /** Bytes of all buffers the pool has created and not destroyed (live + free). */
  bytesAllocated: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  readonly counters: PoolCounters = { buffersCreated: 0, bytesLive: 0, peakBytesLive: 0, bytesAllocated: 0 };

  constructor(
    private device: GPUDevice,
    private usage: number = STORAGE_USAGE,
    private label = 'pool',
    private maxBufferSize = Infinity,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`${this.label}: a buffer of ${bytes} bytes exceeds the adapter's maxBufferSize ${this.maxBufferSize}`);
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: this.usage, label: `${this.label}:${size}` });
      this.counters.buffersCreated++;
      this.counters.bytesAllocated += size;
    }
    this.counters.bytesLive += size;
    if (this.counters.bytesLive > this.counters.peakBytesLive) this.counters.peakBytesLive = this.counters.bytesLive;
    return buf;
  }

  release(buf: GPUBuffer): void {
    this.counters.bytesLive -= buf.size;
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
  }

  /** Destroy every idle buffer (e.g. between phases of a pipeline with different shapes). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.counters.bytesAllocated -= b.size;
        b.destroy();
      }
    }
    this.free.clear();
  }

  resetPeak(): void {
    this.counters.peakBytesLive = this.counters.bytesLive;
  }
}
