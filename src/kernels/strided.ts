// The index geometry shared by the strided entries of shaders/elementwise.wgsl (unary, binary,
// copy): the launch parameters of version 1 (one element per thread, the index decomposed over
// all 8 padded dims) and version 2 (dims collapsed on the host, runs of 8 elements along the
// innermost dim per thread, division by a host reciprocal).
//
// Why v2 (lavapipe, measured with `npx medivlad bench elementwise`): v1 pays, per element, 8
// integer divisions and 8 remainders by values the compiler cannot see (a CPU has no vector
// integer divide: each is 8 scalar divisions) and ~24 loads of the shape and strides at
// dynamic indices (each a loop over the SIMD lanes there). v2 indexes the uniforms by
// constants only, divides as q = trunc(x · fl(1/d)) with one exact correction, walks only the
// dims left after collapsing, and does all that once per run of 8 elements.
import { Tensor } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

export const MAX_RANK = 8;
/** Elements per thread along the innermost dim in version 2 (RUN in the shader). */
export const RUN = 8;
/**
 * The fast division q = trunc(x · fl(1/d)) is within one of ⌊x/d⌋ while x < 2^24 (x exact in
 * f32; two roundings of 2^-24 each; x/d < 2^23 for d ≥ 2, and fl(1/1) = 1 exactly), so one
 * correction step makes it exact. Launches whose thread count reaches this use integer division.
 */
export const FASTDIV_LIMIT = 2 ** 24;

let version: 1 | 2 = 2;
let fastDivLimit = FASTDIV_LIMIT;

/** Tests: 0 sends every v2 launch down the exact integer-division path; undefined restores. */
export function setFastDivLimit(limit?: number): void {
  fastDivLimit = limit ?? FASTDIV_LIMIT;
}

/** Which strided version the launchers use (benchmarks compare them; tests cover both). */
export function setStridedVersion(v: 1 | 2): void {
  version = v;
}
export function stridedVersion(): 1 | 2 {
  return version;
}

/**
 * Merge adjacent dims that every operand walks as one (outer stride = inner stride · inner
 * size, broadcast zeros included) and drop size-1 dims. Returns the collapsed shape (rank ≥ 1)
 * and each operand's strides for it.
 */
export function collapseDims(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    const k = outShape.length - 1;
    if (k >= 0 && strides.every((s, j) => s[d] === outStrides[j][k] * outShape[k])) {
      outShape[k] *= shape[d]; // the inner stride stays
      continue;
    }
    outShape.push(shape[d]);
    strides.forEach((s, j) => outStrides[j].push(s[d]));
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape.reverse(), strides: outStrides.map((s) => s.reverse()) };
}

/** v with `fill` prepended up to MAX_RANK entries (the shaders' padded 8-d shapes and strides). */
export function pad8(v: readonly number[], fill: number, what: string): number[] {
  if (v.length > MAX_RANK) throw new Error(`${what}: rank ${v.length} exceeds ${MAX_RANK}`);
  return [...new Array<number>(MAX_RANK - v.length).fill(fill), ...v];
}

const ZERO4 = [0, 0, 0, 0];

/** Uniform fields every entry of elementwise.wgsl declares, zeroed; launchers override theirs. */
export function baseParams(): Record<string, number | number[]> {
  return {
    n: 0, a_off: 0, b_off: 0, rank: 0, alpha: 0, beta: 0, chunks: 0, rchunks: 0,
    shape_lo: ZERO4, shape_hi: ZERO4, as_lo: ZERO4, as_hi: ZERO4, bs_lo: ZERO4, bs_hi: ZERO4,
    rinv_lo: ZERO4, rinv_hi: ZERO4,
  };
}

export interface StridedLaunch {
  entry: string;
  overrides: Record<string, number>;
  params: Record<string, number | number[]>;
  workgroups: [number, number, number];
}

/**
 * Parameters of a strided entry (`unary_strided`, `binary_strided`, `copy_strided`) over `shape`
 * (the output's, n elements) with operand a at (aStrides, aOff) and b (binary's second input, or
 * copy's destination) at (bStrides, bOff), in the version selected by setStridedVersion.
 */
export function stridedLaunch(base: string, wg: number, shape: readonly number[], aStrides: readonly number[], aOff: number, bStrides: readonly number[], bOff: number): StridedLaunch {
  const n = shape.reduce((x, y) => x * y, 1);
  const p = { ...baseParams(), n, a_off: aOff, b_off: bOff };
  if (version === 1) {
    const s = pad8(shape, 1, base);
    const sa = pad8(aStrides, 0, base);
    const sb = pad8(bStrides, 0, base);
    return {
      entry: base,
      overrides: { WG: wg },
      params: { ...p, shape_lo: s.slice(0, 4), shape_hi: s.slice(4), as_lo: sa.slice(0, 4), as_hi: sa.slice(4), bs_lo: sb.slice(0, 4), bs_hi: sb.slice(4) },
      workgroups: grid1d(ceilDiv(n, wg)),
    };
  }
  const c = collapseDims(shape, [aStrides, bStrides]);
  const s = pad8(c.shape, 1, base);
  const sa = pad8(c.strides[0], 0, base);
  const sb = pad8(c.strides[1], 0, base);
  const rinv = s.map((d) => Math.fround(1 / d));
  const inner = s[MAX_RANK - 1];
  const chunks = ceilDiv(inner, RUN);
  const threads = (n / inner) * chunks;
  const workgroups = grid1d(ceilDiv(threads, wg));
  const launched = workgroups[0] * workgroups[1] * wg; // every thread divides its index
  return {
    entry: `${base}_v2`,
    overrides: { WG: wg, RUN, FASTDIV: launched < fastDivLimit ? 1 : 0 },
    params: {
      ...p, rank: c.shape.length, chunks, rchunks: Math.fround(1 / chunks),
      shape_lo: s.slice(0, 4), shape_hi: s.slice(4), as_lo: sa.slice(0, 4), as_hi: sa.slice(4), bs_lo: sb.slice(0, 4), bs_hi: sb.slice(4),
      rinv_lo: rinv.slice(0, 4), rinv_hi: rinv.slice(4),
    },
    workgroups,
  };
}

/** The 8-d strides of `t` read as `shape` (broadcast: 0 on its missing or size-1 dims). */
export function broadcastStrides(t: Tensor, shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(0);
  const tl = shape.length - t.ndim;
  for (let i = 0; i < t.ndim; i++) s[tl + i] = t.shape[i] === 1 ? 0 : t.strides[i];
  return s;
}
