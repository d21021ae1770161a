// Launcher for shaders/matmul.wgsl: batched y = e(alpha * op(A) @ op(B)) with a fused epilogue
// (bias, GELU, residual). Shapes and epilogue flags travel as uniforms; layouts, tile and
// workgroup sizes are override constants, so each (version, layout) is one pipeline for every
// shape and epilogue.
//
//   matmul(a, b, { transB: true, bias })        // Linear: x @ W^T + b, W stored [out, in]
//   matmul(q, k, { transB: true, alpha })       // attention scores, (B*H, N, Dh) x (B*H, N, Dh)
//
// Which version runs: opts.version if given; else the autotuner's choice for this shape class
// (tuneMatmul() fills it); else a default per adapter family (see defaultVersion).
import fullSource from '../../shaders/matmul.wgsl';
import { Tensor, numel, shapeStr } from '../autograd/tensor.js';
import { bindable, bindingOf } from '../autograd/view-ops.js';
import { autotunerFor, type TuneResult } from './autotune.js';
import type { BufferRef, Kernel, Runtime } from './runtime.js';

export const MATMUL_VERSIONS = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'] as const;
export type MatmulVersion = (typeof MATMUL_VERSIONS)[number];

export interface MatmulOptions {
  /** A is stored (..., K, M). */
  transA?: boolean;
  /** B is stored (..., N, K), e.g. Linear weights [out, in]. */
  transB?: boolean;
  /** (N), added to every row. */
  bias?: Tensor | null;
  /** Exact (erf) GELU after the bias. */
  gelu?: boolean;
  /** Same shape as the output, added last. */
  residual?: Tensor | null;
  /** Scales the product before the epilogue (attention: 1 / sqrt(Dh)). */
  alpha?: number;
  /** Force a version (tests, benchmarks). */
  version?: MatmulVersion;
  /** Write here (contiguous, output shape, no input's storage). */
  out?: Tensor;
}

/** A matmul problem after shape checks: what the kernels see. */
export interface MatmulProblem {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** Elements between batches of A / B (0: the operand is broadcast over the batch). */
  aBatchStride: number;
  bBatchStride: number;
  transA: boolean;
  transB: boolean;
  outShape: number[];
  /** "a(785,384) b(1152,384) transB", for error messages. */
  shapes: string;
}

const SUBGROUP_MARK = '// ---- subgroup versions ----';
const sources = new WeakMap<Runtime, string>();

/** The shader for this device: without the 'subgroups' feature, the subgroup section is cut. */
function sourceFor(rt: Runtime): string {
  let s = sources.get(rt);
  if (!s) {
    s = subgroupSize(rt) !== null ? fullSource : withoutSubgroups(fullSource);
    sources.set(rt, s);
  }
  return s;
}

export function withoutSubgroups(src: string): string {
  const at = src.indexOf(SUBGROUP_MARK);
  if (at < 0) throw new Error('matmul.wgsl: subgroup section marker not found');
  return src.slice(0, at).replace(/^enable subgroups;\s*$/m, '');
}

/** The device's subgroup size when it is fixed and one the subgroup versions support (4 or 8). */
export function subgroupSize(rt: Runtime): number | null {
  if (!rt.device.features.has('subgroups' as GPUFeatureName)) return null;
  const info = (rt.device as unknown as { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lo = info?.subgroupMinSize;
  const hi = info?.subgroupMaxSize;
  if (lo === undefined || lo !== hi || (lo !== 4 && lo !== 8)) return null;
  return lo;
}

function same(x: readonly number[], y: readonly number[]): boolean {
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/** Check shapes and work out the batched problem; errors name the shapes. */
export function matmulProblem(
  aShape: readonly number[],
  bShape: readonly number[],
  opts: Pick<MatmulOptions, 'transA' | 'transB'> = {},
): MatmulProblem {
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const shapes = `a${shapeStr(aShape)} b${shapeStr(bShape)}${transA ? ' transA' : ''}${transB ? ' transB' : ''}`;
  if (aShape.length < 2 || bShape.length < 2) throw new Error(`matmul ${shapes}: both operands need at least 2 dims`);
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const M = transA ? ac : ar;
  const Ka = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (Ka !== Kb) throw new Error(`matmul ${shapes}: inner dimensions differ (K = ${Ka} for a, ${Kb} for b)`);
  const aLead = aShape.slice(0, -2);
  const bLead = bShape.slice(0, -2);
  const aB = numel(aLead);
  const bB = numel(bLead);
  let lead: readonly number[];
  if (aB === 1 && bB === 1) lead = aLead.length >= bLead.length ? aLead : bLead;
  else if (aB === 1) lead = bLead;
  else if (bB === 1) lead = aLead;
  else if (same(aLead, bLead)) lead = aLead;
  else {
    throw new Error(`matmul ${shapes}: batch dims ${shapeStr(aLead)} and ${shapeStr(bLead)} differ (equal, or one side of batch 1)`);
  }
  const batch = numel(lead);
  return {
    batch,
    M,
    N,
    K: Ka,
    aBatchStride: aB === 1 ? 0 : M * Ka,
    bBatchStride: bB === 1 ? 0 : Ka * N,
    transA,
    transB,
    outShape: [...lead, M, N],
    shapes,
  };
}

/** Why `v` cannot run this problem on this runtime, or null when it can. */
export function ineligible(v: MatmulVersion, rt: Runtime, pr: MatmulProblem): string | null {
  if (v === 'v4' || v === 'v5') {
    if (subgroupSize(rt) === null) return 'needs subgroups of a fixed size 4 or 8';
  }
  if (v === 'v5') {
    if (pr.K % 4 !== 0) return `needs K % 4 == 0 (K = ${pr.K})`;
    if (pr.transA && pr.M % 4 !== 0) return `needs M % 4 == 0 with transA (M = ${pr.M})`;
    if (!pr.transB && pr.N % 4 !== 0) return `needs N % 4 == 0 without transB (N = ${pr.N})`;
  }
  return null;
}

/**
 * Default choice before any tuning (measurements in bench/README.md): real GPUs tile through
 * workgroup memory (v3); lavapipe is bound by per-lane loads, so the subgroup tiles win (v5,
 * else v4: 3x v2); SwiftShader pays about as much per shuffle as per load, and v2's 8x8 blocks
 * edge out v4/v5 there (~10% less CPU time).
 */
export function defaultVersion(rt: Runtime, pr: MatmulProblem): MatmulVersion {
  const family = rt.adapter.family;
  if (family === 'gpu') return 'v3';
  if (family === 'swiftshader') return 'v2';
  if (!ineligible('v5', rt, pr)) return 'v5';
  if (!ineligible('v4', rt, pr)) return 'v4';
  return 'v2';
}

/** Shape class for the autotuner: layout, vec4-ability, and each size to the nearest power of 2. */
export function shapeClass(rt: Runtime, pr: MatmulProblem): string {
  const b2 = (x: number) => 2 ** Math.round(Math.log2(Math.max(1, x)));
  const vec = ineligible('v5', rt, pr) ? 's' : 'v';
  return `${pr.transA ? 'T' : 'N'}${pr.transB ? 'T' : 'N'}${vec} M${b2(pr.M)} N${b2(pr.N)} K${b2(pr.K)} ${pr.batch > 1 ? 'batched' : 'single'}`;
}

/** The version matmul() would run for this problem. */
export function chooseVersion(rt: Runtime, pr: MatmulProblem): MatmulVersion {
  const tuned = autotunerFor(rt).get('matmul', shapeClass(rt, pr)) as MatmulVersion | undefined;
  if (tuned && (MATMUL_VERSIONS as readonly string[]).includes(tuned) && !ineligible(tuned, rt, pr)) return tuned;
  return defaultVersion(rt, pr);
}

interface Plan {
  entry: string;
  overrides: Record<string, number>;
  workgroups: [number, number, number];
}

const ceil = (x: number, y: number) => Math.ceil(x / y);

let epilogue4 = true;
/** A/B timing (scripts/matmul-epilogue-ab.ts): false sends v5 to its scalar epilogue whatever N. */
export function setVec4Epilogue(on: boolean): void {
  epilogue4 = on;
}
/** v4/v5: subgroups per workgroup (tiles side by side along N). */
const SUBGROUPS_PER_WG = 2;

function plan(v: MatmulVersion, rt: Runtime, pr: MatmulProblem): Plan {
  const layout = { TRANS_A: +pr.transA, TRANS_B: +pr.transB };
  const { M, N, batch } = pr;
  switch (v) {
    case 'v1':
      return { entry: 'matmul_v1', overrides: { ...layout, WG_X: 16, WG_Y: 16 }, workgroups: [ceil(N, 16), ceil(M, 16), batch] };
    case 'v2': // 8x8 threads of 8x8 outputs: 64x64 per workgroup
      return { entry: 'matmul_v2', overrides: { ...layout, WG_X: 8, WG_Y: 8 }, workgroups: [ceil(N, 64), ceil(M, 64), batch] };
    case 'v3':
      return {
        entry: 'matmul_v3',
        overrides: { ...layout, WG_X: 16, WG_Y: 16, BM: 64, BN: 64, BK: 16 },
        workgroups: [ceil(N, 64), ceil(M, 64), batch],
      };
    case 'v6': // 16x16 threads of 8x8 outputs: 128x128 per workgroup (tile sizes are constants)
      return { entry: 'matmul_v6', overrides: layout, workgroups: [ceil(N, 128), ceil(M, 128), batch] };
    case 'v4':
    case 'v5': {
      const sg = subgroupSize(rt)!;
      const t = 4 * sg;
      return {
        // v5 with N % 4 == 0: the vec4 epilogue (shaders/matmul.wgsl, matmul_v5_y4)
        entry: v === 'v5' && N % 4 === 0 && epilogue4 ? 'matmul_v5_y4' : `matmul_${v}`,
        overrides: { ...layout, SG: sg, WG: sg * SUBGROUPS_PER_WG },
        workgroups: [ceil(N, t * SUBGROUPS_PER_WG), ceil(M, t), batch],
      };
    }
  }
}

/** t (contiguous, or a row-major view at a bindable offset: bindable()) as a binding. */
function binding(t: Tensor, rt: Runtime, what: string): BufferRef {
  const ref = bindingOf(t);
  const max = rt.limits.maxStorageBufferBindingSize;
  if (ref.size > max) throw new Error(`${what}: ${t} needs a ${ref.size}-byte binding, over the adapter's ${max}`);
  return ref;
}

/** y = e(alpha * op(a) @ op(b)); see MatmulOptions. Returns a new tensor unless opts.out is given. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  a.assertAlive('matmul');
  b.assertAlive('matmul');
  const rt = a.rt;
  if (b.rt !== rt) throw new Error(`matmul: ${a} and ${b} live on different devices`);
  const pr = matmulProblem(a.shape, b.shape, opts);
  const what = `matmul ${pr.shapes}`;
  const { bias, residual, out } = opts;
  if (bias) {
    bias.assertAlive(what);
    if (bias.ndim !== 1 || bias.shape[0] !== pr.N) throw new Error(`${what}: bias ${shapeStr(bias.shape)} must be (${pr.N})`);
  }
  if (residual) {
    residual.assertAlive(what);
    if (!same(residual.shape, pr.outShape)) {
      throw new Error(`${what}: residual ${shapeStr(residual.shape)} must have the output shape ${shapeStr(pr.outShape)}`);
    }
  }
  if (out) {
    out.assertAlive(what);
    if (!out.isContiguous || !same(out.shape, pr.outShape)) {
      throw new Error(`${what}: out ${out} must be contiguous with shape ${shapeStr(pr.outShape)}`);
    }
    for (const t of [a, b, bias, residual]) {
      if (t && t.storage === out.storage) throw new Error(`${what}: out ${out} shares storage with input ${t}`);
    }
  }
  const version = opts.version ?? chooseVersion(rt, pr);
  const why = ineligible(version, rt, pr);
  if (why) throw new Error(`${what}: version ${version} ${why}`);

  const y = out ?? Tensor.empty(pr.outShape, rt);
  if (y.size === 0) return y;

  // Row-major operands at an aligned offset (parameters in their bucket) are bound in place.
  const ac = bindable(a);
  const bc = bindable(b);
  const biasc = bias ? bindable(bias) : null;
  const resc = residual ? bindable(residual) : null;
  const aRef = binding(ac, rt, what);
  const pl = plan(version, rt, pr);
  const kernel: Kernel = {
    name: 'matmul',
    source: sourceFor(rt),
    entry: pl.entry,
    overrides: pl.overrides,
  };
  const vec4 = version === 'v5';
  const out4 = pl.entry === 'matmul_v5_y4'; // bias, residual and y seen as vec4s
  rt.dispatch({
    kernel,
    buffers: {
      [vec4 ? 'a4' : 'a']: aRef,
      [vec4 ? 'b4' : 'b']: binding(bc, rt, what),
      // Without a bias or residual the (unread) binding still needs a buffer: reuse a's.
      [out4 ? 'bias4' : 'bias']: biasc ? binding(biasc, rt, what) : aRef,
      [out4 ? 'res4' : 'res']: resc ? binding(resc, rt, what) : aRef,
      [out4 ? 'y4' : 'y']: binding(y, rt, what),
    },
    params: {
      M: pr.M,
      N: pr.N,
      K: pr.K,
      batch: pr.batch,
      a_bs: pr.aBatchStride,
      b_bs: pr.bBatchStride,
      alpha: opts.alpha ?? 1,
      flags: (biasc ? 1 : 0) | (opts.gelu ? 2 : 0) | (resc ? 4 : 0),
    },
    workgroups: pl.workgroups,
    shapes: `${version} ${pr.shapes}${biasc ? ' +bias' : ''}${opts.gelu ? ' gelu' : ''}${resc ? ' +res' : ''}`,
  });
  for (const [c, t] of [[ac, a], [bc, b], [biasc, bias], [resc, residual]] as const) {
    if (c && c !== t) c.dispose();
  }
  return y;
}

/**
 * Time every eligible version (v1 excepted: it never wins) on these operands and remember the
 * fastest for their shape class; matmul() uses the choice from then on.
 */
export async function tuneMatmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}, repeat = 3): Promise<TuneResult> {
  const rt = a.rt;
  const pr = matmulProblem(a.shape, b.shape, opts);
  const versions = MATMUL_VERSIONS.filter((v) => v !== 'v1' && !ineligible(v, rt, pr));
  const y = Tensor.empty(pr.outShape, rt);
  try {
    const candidates = versions.map((v) => ({ name: v, launch: () => void matmul(a, b, { ...opts, version: v, out: y }) }));
    return await autotunerFor(rt).tune('matmul', shapeClass(rt, pr), candidates, repeat);
  } finally {
    y.dispose();
  }
}
