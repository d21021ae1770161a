// Scopes free every tensor created inside them that is not returned (tfjs's `tidy`, made
// explicit). Returned tensors, found anywhere in the result (arrays, plain objects, Maps),
// move to the enclosing scope. keep() exempts a tensor for good (model parameters).
import type { Tensor } from './tensor.js';

type Frame = Set<Tensor>;
const stack: Frame[] = [];

export function registerInScope(t: Tensor): void {
  const top = stack[stack.length - 1];
  if (top) top.add(t);
}

/** Exempt tensors from scope cleanup; the caller now owns them. */
export function keep<T extends Tensor>(t: T): T {
  for (const f of stack) f.delete(t);
  return t;
}

function collect(x: unknown, out: Set<Tensor>, seen: Set<unknown>): void {
  if (x === null || typeof x !== 'object' || seen.has(x)) return;
  seen.add(x);
  if ((x as { storage?: unknown }).storage !== undefined && (x as { shape?: unknown }).shape !== undefined) {
    out.add(x as Tensor);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collect(v, out, seen);
  else if (x instanceof Map) for (const v of x.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collect(v, out, seen);
}

function close(frame: Frame, result: unknown): void {
  const kept = new Set<Tensor>();
  collect(result, kept, new Set());
  const parent = stack[stack.length - 1];
  for (const t of frame) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/** Run fn; dispose every tensor it created that is not part of its (sync) result. */
export function scope<T>(fn: () => T): T {
  const frame: Frame = new Set();
  stack.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    stack.pop();
    close(frame, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    stack.pop();
    close(frame, undefined);
    throw new Error('scope(fn): fn returned a Promise; use scopeAsync for async work');
  }
  stack.pop();
  close(frame, result);
  return result;
}

/**
 * Async variant. Tensors created by *other* concurrent async code while fn is suspended would
 * also land in this scope, so do not interleave two scopeAsync calls.
 */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const frame: Frame = new Set();
  stack.push(frame);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    stack.splice(stack.indexOf(frame), 1);
    close(frame, undefined);
    throw e;
  }
  stack.splice(stack.indexOf(frame), 1);
  close(frame, result);
  return result;
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number {
  return stack.length;
}
