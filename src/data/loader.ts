// Training and evaluation batches. Clips are decoded once and cached (decoded, resized, as
// floats), so after the first epoch a batch costs only the temporal sampling and the
// normalisation copy. The next batch is built while the caller works on the current one
// (the GPU step): build() yields to the event loop between clips so GPU callbacks run.
//
// Batch layout: x (B, S, C, H, W) normalised, labels (B) with -1 for unlabelled clips.

import type { Clip } from './clip.js';
import { Rng, hashSeed } from './rng.js';
import { evalIndices, trainIndices, writeClipTensor, CLIP_FRAMES, type NormalizeOptions } from './preprocess.js';
import type { ClipSource } from './source.js';

/** Decoded clips kept in memory, least recently used dropped past the byte budget. */
export class ClipCache {
  private map = new Map<number, Promise<Clip>>();
  private bytes = new Map<number, number>();
  private total = 0;
  /** Loads that went to the source (misses). */
  loads = 0;

  constructor(readonly source: ClipSource, readonly maxBytes = 1 << 30) {}

  get(index: number): Promise<Clip> {
    const hit = this.map.get(index);
    if (hit) {
      this.map.delete(index); // re-insert: Map order is the LRU order
      this.map.set(index, hit);
      return hit;
    }
    this.loads++;
    const p = this.source.load(index);
    this.map.set(index, p);
    p.then((clip) => {
      const b = clip.frames.reduce((s, f) => s + f.byteLength, 0);
      this.bytes.set(index, b);
      this.total += b;
      this.evict(index);
    }, () => this.map.delete(index));
    return p;
  }

  private evict(keep: number): void {
    for (const [i] of this.map) {
      if (this.total <= this.maxBytes) break;
      if (i === keep) continue;
      this.total -= this.bytes.get(i) ?? 0;
      this.bytes.delete(i);
      this.map.delete(i);
    }
  }
}

export interface Batch {
  x: Float32Array; // (B, S, C, H, W)
  labels: Int32Array; // (B), -1 = unlabelled
  scores: Int32Array; // (B), LUS score, -1 = unknown
  indices: number[]; // source item indices
  ids: string[];
  B: number; S: number; C: number; size: number;
}

export interface BatchOptions extends NormalizeOptions {
  batchSize: number;
  /** Frames per clip S (SPEC: 15). */
  frames?: number;
  /** Training: shuffle every epoch and take random strided clips; else in order, linspace. */
  train: boolean;
  seed?: number;
  /** Drop a last partial batch (training default: true). */
  dropLast?: boolean;
  /**
   * Reuse two x buffers in turn instead of allocating one per batch (allocating and zeroing
   * 72 MB per 224 px batch costs more than filling it). Then a batch's x is valid only until
   * the caller asks for the next batch: upload it (queue.writeBuffer copies) before that.
   */
  reuseBuffers?: boolean;
}

/** Time spent, for the benchmark: building batches, and the consumer waiting for one. */
export interface LoaderStats {
  batches: number;
  buildMs: number;
  waitMs: number;
}

export class BatchLoader {
  readonly cache: ClipCache;
  readonly stats: LoaderStats = { batches: 0, buildMs: 0, waitMs: 0 };

  constructor(readonly source: ClipSource, readonly indices: readonly number[], readonly opts: BatchOptions,
    cache?: ClipCache) {
    if (!(opts.batchSize >= 1)) throw new RangeError(`batchSize must be >= 1, got ${opts.batchSize}`);
    this.cache = cache ?? new ClipCache(source);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.indices.length, b = this.opts.batchSize;
    return (this.opts.dropLast ?? this.opts.train) ? Math.floor(n / b) : Math.ceil(n / b);
  }

  /** The batches of one epoch; batch i + 1 is built while the caller holds batch i. */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    const rng = new Rng(hashSeed(this.opts.seed ?? 0, 0xba7c, epoch));
    const order = [...this.indices];
    if (this.opts.train) rng.shuffle(order);
    const b = this.opts.batchSize;
    const n = this.length;
    const bufs: (Float32Array | undefined)[] = [undefined, undefined];
    const reuse = this.opts.reuseBuffers ?? false;
    const start = (i: number): Promise<Batch> => {
      const p = this.build(order.slice(i * b, (i + 1) * b), rng, reuse ? bufs[i % 2] : undefined);
      if (reuse) void p.then((batch) => (bufs[i % 2] = batch.x), () => {});
      return p;
    };
    let next: Promise<Batch> | null = n > 0 ? start(0) : null;
    for (let i = 0; i < n; i++) {
      const t0 = now();
      const batch = await (next as Promise<Batch>);
      this.stats.waitMs += now() - t0;
      next = i + 1 < n ? start(i + 1) : null;
      this.stats.batches++;
      yield batch;
    }
  }

  /**
   * Build one batch from item indices (also usable directly, e.g. for evaluation). `into`,
   * when given and of the right length, receives x instead of a new array.
   */
  async build(items: readonly number[], rng: Rng = new Rng(0), into?: Float32Array): Promise<Batch> {
    const S = this.opts.frames ?? CLIP_FRAMES, C = this.opts.channels ?? 3;
    let x: Float32Array | null = null;
    let size = 0, buildMs = 0;
    const labels = new Int32Array(items.length), scores = new Int32Array(items.length);
    const ids: string[] = [];
    for (let k = 0; k < items.length; k++) {
      const clip = await this.cache.get(items[k]);
      await yieldToEventLoop();
      const t0 = now();
      if (x === null) {
        size = clip.size;
        const len = items.length * S * C * size * size;
        x = into !== undefined && into.length === len ? into : new Float32Array(len);
      } else if (clip.size !== size) throw new Error(`clip ${clip.id} has size ${clip.size}, batch has ${size}`);
      const idx = this.opts.train ? trainIndices(clip.frames.length, S, rng) : evalIndices(clip.frames.length, S);
      writeClipTensor(clip, idx, x, k * S * C * size * size, this.opts);
      labels[k] = clip.label ?? -1;
      scores[k] = clip.score ?? -1;
      ids.push(clip.id);
      buildMs += now() - t0;
    }
    this.stats.buildMs += buildMs;
    return { x: x ?? new Float32Array(0), labels, scores, indices: [...items], ids, B: items.length, S, C, size };
  }
}

function now(): number {
  return globalThis.performance.now();
}

/**
 * Let queued callbacks (GPU completion, I/O) run between clips. setImmediate (Node) or a
 * MessageChannel round trip (browsers) costs microseconds; setTimeout(0) would cost >= 1 ms.
 */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') {
    const si = g.setImmediate;
    return new Promise((r) => void si(r));
  }
  return new Promise((r) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      r();
    };
    ch.port2.postMessage(0);
  });
}
