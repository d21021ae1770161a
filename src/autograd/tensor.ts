// Tensor: a strided view (shape, strides, element offset) on a reference-counted GPU storage.
// Views (reshape of contiguous data, transpose, permute, slice, expand) share the storage and
// cost nothing; kernels that need dense input call contiguous(), which copies only when needed.
//
// Lifetimes are explicit: dispose() drops this view's reference; the buffer returns to the
// pool when the last view is gone. Every tensor is registered with the innermost scope()
// and freed when the scope ends unless it is returned or kept (see scope.ts). Nothing relies
// on the JS garbage collector for GPU memory.
import { getRuntime } from '../kernels/current.js';
import type { Runtime } from '../kernels/runtime.js';
import { registerInScope } from './scope.js';

export type DType = 'f32';

/** A GPU buffer shared by views. `refs` counts live Tensor objects on it. */
export class Storage {
  refs = 0;
  constructor(
    readonly rt: Runtime,
    readonly buffer: GPUBuffer,
    /** Bytes requested (the pooled buffer may be larger). */
    readonly bytes: number,
  ) {}

  retain(): void {
    this.refs++;
  }

  releaseRef(): void {
    if (--this.refs === 0) this.rt.free(this.buffer);
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(',')})`;
}

function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid shape ${shapeStr(shape)}`);
  }
}

let nextId = 1;

/**
 * A view must name one stride per dim and stay inside its storage: a stride list of another
 * length (say, a 4-d tensor's strides kept for a 3-d view) would otherwise read far past the
 * data, silently (Dawn clamps out-of-range loads).
 */
function checkLayout(storage: Storage, shape: readonly number[], strides: readonly number[], offset: number): void {
  const what = `tensor view ${shapeStr(shape)} strides ${shapeStr(strides)} offset ${offset}`;
  if (strides.length !== shape.length) throw new Error(`${what}: ${strides.length} strides for ${shape.length} dims`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${what}: dims must be non-negative integers`);
  if (!strides.every(Number.isInteger) || !Number.isInteger(offset) || offset < 0) throw new Error(`${what}: strides and offset must be integers, offset >= 0`);
  if (shape.some((d) => d === 0)) return;
  let lo = offset;
  let hi = offset;
  for (let i = 0; i < shape.length; i++) {
    const span = (shape[i] - 1) * strides[i];
    if (span < 0) lo += span;
    else hi += span;
  }
  const elems = Math.floor(storage.bytes / 4);
  if (lo < 0 || hi >= elems) throw new Error(`${what}: spans elements ${lo}..${hi}, outside its storage of ${elems} elements`);
}

export class Tensor {
  readonly id = nextId++;
  readonly dtype: DType = 'f32';
  private disposed = false;
  /** Set by autograd: whether gradients flow to/through this tensor. */
  requiresGrad = false;
  /** Accumulated gradient (autograd), same shape. */
  grad: Tensor | null = null;
  /** Optional name, used in error messages and checkpoints. */
  name?: string;
  /** Set by autograd: releases this tensor's reference on its graph node. */
  onDispose: (() => void) | null = null;

  constructor(
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[] = contiguousStrides(shape),
    /** Offset into the storage, in elements. */
    readonly offset = 0,
  ) {
    checkLayout(storage, shape, strides, offset);
    storage.retain();
    registerInScope(this);
  }

  // ------------------------------------------------------------ creation

  /** An uninitialised contiguous tensor (contents are whatever the pooled buffer held). */
  static empty(shape: readonly number[], rt: Runtime = getRuntime()): Tensor {
    checkShape(shape, 'Tensor.empty');
    const bytes = Math.max(4, numel(shape) * 4);
    return new Tensor(new Storage(rt, rt.alloc(bytes), bytes), [...shape]);
  }

  static fromArray(data: ArrayLike<number>, shape: readonly number[] = [data.length], rt: Runtime = getRuntime()): Tensor {
    checkShape(shape, 'Tensor.fromArray');
    if (numel(shape) !== data.length) {
      throw new Error(`Tensor.fromArray: ${data.length} values do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
    }
    const t = Tensor.empty(shape, rt);
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    if (f.length > 0) rt.upload(t.storage.buffer, f);
    return t;
  }

  static scalar(v: number, rt: Runtime = getRuntime()): Tensor {
    return Tensor.fromArray([v], [], rt);
  }

  // ------------------------------------------------------------ properties

  get rt(): Runtime {
    return this.storage.rt;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  get buffer(): GPUBuffer {
    this.assertAlive('buffer');
    return this.storage.buffer;
  }

  /** Dense row-major with no offset: the layout every plain kernel expects. */
  /** Row-major strides (size-1 dims aside) at any offset: one dense window of its storage. */
  get isRowMajor(): boolean {
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== acc) return false;
      acc *= this.shape[i];
    }
    return true;
  }

  /** Row-major and at offset 0. */
  get isContiguous(): boolean {
    if (this.offset !== 0) return false;
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== acc) return false;
      acc *= this.shape[i];
    }
    return true;
  }

  toString(): string {
    return `Tensor#${this.id}${this.name ? `(${this.name})` : ''}${shapeStr(this.shape)}`;
  }

  assertAlive(what: string): void {
    if (this.disposed) throw new Error(`${what}: ${this} was already disposed`);
  }

  // ------------------------------------------------------------ lifetime

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.releaseRef();
    if (this.onDispose) {
      const f = this.onDispose;
      this.onDispose = null;
      f();
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** A new view object on the same storage (e.g. to hand out while keeping this one). */
  view(shape: readonly number[] = this.shape, strides: readonly number[] = this.strides, offset = this.offset): Tensor {
    this.assertAlive('view');
    return new Tensor(this.storage, [...shape], [...strides], offset);
  }

  // ------------------------------------------------------------ readback

  /** Copy to the host as a dense Float32Array (row-major). Flushes the command stream. */
  async toArray(): Promise<Float32Array> {
    this.assertAlive('toArray');
    if (this.size === 0) return new Float32Array(0);
    if (this.isContiguous) {
      return new Float32Array(await this.rt.read(this.storage.buffer, 0, this.size * 4));
    }
    // Strided view: read the span it covers and gather on the host (readback is not a hot path).
    let hi = this.offset;
    for (let i = 0; i < this.ndim; i++) hi += (this.shape[i] - 1) * this.strides[i];
    const span = new Float32Array(await this.rt.read(this.storage.buffer, this.offset * 4, (hi - this.offset + 1) * 4));
    const out = new Float32Array(this.size);
    const idx = new Array<number>(this.ndim).fill(0);
    for (let n = 0; n < out.length; n++) {
      let at = 0;
      for (let i = 0; i < this.ndim; i++) at += idx[i] * this.strides[i];
      out[n] = span[at];
      for (let i = this.ndim - 1; i >= 0; i--) {
        if (++idx[i] < this.shape[i]) break;
        idx[i] = 0;
      }
    }
    return out;
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: ${this} has ${this.size} elements, not 1`);
    return (await this.toArray())[0];
  }
}
