// Reference for shaders/random.wgsl: the same hash in plain TS (float64 where it matters).
import { hostUniform } from '../../src/kernels/random.js';

export function dropoutRef(x: ArrayLike<number>, p: number, seed: number, stream: number): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v, i) => (hostUniform(seed, stream, i) >= p ? v / (1 - p) : 0));
}

export function dropPathRef(x: ArrayLike<number>, row: number, p: number, seed: number, stream: number): Float64Array {
  return Float64Array.from(x as ArrayLike<number>, (v, i) => (hostUniform(seed, stream, Math.floor(i / row)) >= p ? v / (1 - p) : 0));
}
