// Launchers for shaders/attention.wgsl: fused multi-head attention, forward and backward.
//
// Every operand is a (B, H, N, Dh) *view* with unit stride on Dh; the kernels take each view's
// element offset and (batch, head, token) strides as uniforms. So one set of kernels serves
// dense (B, H, N, Dh) tensors and the packed ViT qkv (B, N, 3·H·Dh) (q, k, v are strided views
// of it), and writes O straight into the (B, N, H·Dh) layout the projection matmul reads, and
// dQ/dK/dV straight into dQKV (B, N, 3·H·Dh): no permute copies either way.
//
// Big batches: a binding may not exceed maxStorageBufferBindingSize (128 MiB on lavapipe),
// while the packed qkv of 64 images at 224 px is 231 MB. Launches are split into chunks of
// whole images whose bound windows fit; each window starts at an aligned byte offset and the
// remainder travels in the operand's offset uniform. One chunk in the common case.
//
// The one-pass backward (v4..v6) sums dQ in a dense scratch accumulator (B, H, ks·⌈N / 8⌉·8,
// Dh) laid out for its lanes, one slice per key split, then copies (sums) it into the dQ view:
// with B·H >= 12 one slice, as large as dQ itself (78 MB at 64 images of 224 px, under the
// 128 MiB binding limit), windowed per chunk like the views.
import baseSource from '../../shaders/attention.wgsl';
import subgroupSource from '../../shaders/attention-subgroup.wgsl';
import tiledSource from '../../shaders/attention-tiled.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv } from './grid.js';
import { autotunerFor, type TuneResult } from './autotune.js';
import type { Runtime, BufferRef } from './runtime.js';

/**
 * v1 query per thread; v2 + register blocks; v3 + workgroup-memory K/V tiles; v4 subgroup; v5
 * subgroup, 8 rows per lane; v6 16 rows per lane; v7 tiled for GPUs (64 invocations, 32-row
 * tiles, 4×4 register blocks).
 */
export type ForwardVersion = 1 | 2 | 3 | 4 | 5 | 6 | 7;
/**
 * v1 row per thread; v2 + register blocks; v3 subgroup; v4 subgroup, one pass (dQ from the
 * dK/dV pass); v5 v4 with 8 keys per lane; v6 16; v7 tiled for GPUs (two passes, as v1..v3).
 */
export type BackwardVersion = 1 | 2 | 3 | 4 | 5 | 6 | 7;
export const FORWARD_VERSIONS: readonly ForwardVersion[] = [1, 2, 3, 4, 5, 6, 7];
export const BACKWARD_VERSIONS: readonly BackwardVersion[] = [1, 2, 3, 4, 5, 6, 7];
/** The backward versions that compute dQ, dK and dV in one pass (a dQ accumulator + copy). */
export const isOnePass = (v: BackwardVersion): boolean => v >= 4 && v <= 6;
/** The tiled versions (shaders/attention-tiled.wgsl): 64 invocations, 32 rows per workgroup. */
export const isTiled = (v: number): boolean => v === 7;
const TILED_ROWS = 32;
/** Workgroup memory the tiled versions declare (1632 vec4s + 1344 floats). */
export const TILED_WORKGROUP_BYTES = 1632 * 16 + 1344 * 4;
/**
 * Rows a lane owns in the subgroup versions: query rows (forward v4..v6) or key rows (the
 * one-pass backward v4..v6); a workgroup (one subgroup) covers this times the subgroup size.
 */
const ROWS_PER_LANE: Partial<Record<number, number>> = { 4: 4, 5: 8, 6: 16 };
/** Largest head dim: the kernels keep rows in private arrays of this constant size. */
export const MAX_HEAD_DIM = 64;
/**
 * One-pass backward: split each head's keys until the launch has this many workgroups. Measured
 * on lavapipe (2 threads, busy box) at B·H = 6, v5: N = 785 one to eight splits within noise
 * (four slower, 86-135 vs 67-68 ms), N = 145 two splits 4-5 ms vs one 4.4-5.8; at B·H = 48 more
 * splits only cost. So two splits at one image, none from two images up.
 */
const MIN_WORKGROUPS = 12;

export interface AttentionPlan {
  fwd: ForwardVersion;
  dkdv: BackwardVersion;
  dq: BackwardVersion;
  /** Invocations (rows) per workgroup (v1..v3 forward, v1/v2 backward). */
  wg: number;
  /** Rows per register block (forward v2/v3, backward v2), 1..16. */
  kb: number;
  /** Keys per workgroup-memory tile (forward v3), a multiple of kb. */
  tk: number;
}

export interface AttentionOpts extends Partial<AttentionPlan> {
  /** Score scale s; default Dh^-0.5. */
  scale?: number;
  /** Tests: a binding limit below the adapter's, to exercise chunked launches. */
  maxBindingBytes?: number;
  /** One-pass backward (v4..v6): key splits per head (default: enough for MIN_WORKGROUPS, at most one per key pass). */
  keySplits?: number;
}

// ---------------------------------------------------------------- versions per device

const sources = new WeakMap<Runtime, string>();

/**
 * The attention shader: attention.wgsl, followed by attention-subgroup.wgsl (and the `enable`
 * directive it needs, which must come first) when `withSubgroups`.
 */
export function attentionSource(withSubgroups: boolean): string {
  const all = `${baseSource}\n${tiledSource}`;
  return withSubgroups ? `enable subgroups;\n${all}\n${subgroupSource}` : all;
}

/** The device's subgroup size when it is fixed and one the subgroup versions take (4 or 8). */
export function attentionSubgroupSize(rt: Runtime): number | null {
  if (!rt.device.features.has('subgroups' as GPUFeatureName)) return null;
  const info = (rt.device as unknown as { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lo = info?.subgroupMinSize;
  if (lo === undefined || lo !== info?.subgroupMaxSize || (lo !== 4 && lo !== 8)) return null;
  return lo;
}

/** The shader for this device: the subgroup versions only where they can run. */
function sourceFor(rt: Runtime): string {
  let s = sources.get(rt);
  if (!s) {
    s = attentionSource(attentionSubgroupSize(rt) !== null);
    sources.set(rt, s);
  }
  return s;
}

const isSubgroup = (pass: 'fwd' | 'bwd', v: number) => (pass === 'fwd' ? v >= 4 && v <= 6 : v >= 3 && v <= 6);

/** Why the subgroup versions cannot run these operands, or null when they can. */
export function subgroupIneligible(rt: Runtime, d: number, views: Tensor[]): string | null {
  if (attentionSubgroupSize(rt) === null) return 'needs subgroups of a fixed size 4 or 8';
  if (d % 4 !== 0) return `needs Dh % 4 == 0 (Dh = ${d})`;
  for (const t of views) {
    if (t.offset % 4 !== 0 || t.strides.slice(0, 3).some((st) => st % 4 !== 0)) return `needs offsets and strides that are multiples of 4 (${t})`;
  }
  return null;
}

/**
 * The plan for these operands: the autotuner's choice for their shape class where there is one
 * this device can run (`bench attention --tune`, tuneAttention), else defaultPlan.
 */
export function planAttention(rt: Runtime, n: number, d: number, views: Tensor[] = [], bh = 1): AttentionPlan {
  const plan = defaultPlan(rt, n, d, views);
  // A choice of `bench attention --tune` (tuneAttention) for this shape class, where it can run.
  const tuner = autotunerFor(rt);
  const cls = attentionShapeClass(n, d, bh);
  const fwd = Number(tuner.get('attention-fwd', cls));
  if (fwd && versionIneligible(rt, 'fwd', fwd, d, views) === null) plan.fwd = fwd as ForwardVersion;
  const bwd = Number(tuner.get('attention-bwd', cls));
  if (bwd && versionIneligible(rt, 'bwd', bwd, d, views) === null) plan.dkdv = plan.dq = bwd as BackwardVersion;
  return plan;
}

/**
 * Default plan, from the measurements in the shader's table. Real GPUs (H200): workgroup-memory
 * tiles forward (v3), the plain row-per-thread backward (v1 beat v2's register blocks there);
 * the tiled v7, written for GPUs since, stays off by default until it is measured on one
 * (tuneAttention times it against these).
 * CPU adapters (lavapipe) with subgroups of 4 or 8: the subgroup versions (loads are what costs
 * there, 5-10x); otherwise v1, whose code stays small: with a small Dh, LLVM unrolls v2's loops
 * completely and one pipeline takes 10-15 s to compile.
 */
export function defaultPlan(rt: Runtime, n: number, d: number, views: Tensor[] = []): AttentionPlan {
  const base = { wg: 64, kb: 8, tk: 32 };
  if (rt.adapter.family === 'gpu') return { fwd: 3, dkdv: 1, dq: 1, ...base };
  if (subgroupIneligible(rt, d, views) === null) {
    // Forward v5 (8 rows per lane) was as fast as v4 or faster at every bench shape (N 65, 145,
    // 785; B·H 6, 48), and v6 (16 rows, tail blocks skipped) faster than v5 at each, where
    // subgroups are 8 wide (scripts/attention-ab.ts fwd 5 6: 1.13x at N = 785, 1.16x at 145,
    // B·H 48); with subgroups of 4 (SwiftShader) v5 stays, unmeasured against v6. The one-pass
    // backward where its dQ reduction fits (subgroups of 8, Dh % 8 == 0) beat the two v3
    // passes at every shape. Of its versions, v5 (64 keys per pass) beat v4 at N = 785 and,
    // since it skips the half of its last pass that lies past N, at 145 too (bwd 4 5: 1.18x at
    // B·H 6, 1.07x / 1.16x at 48); v6 (128 keys) beats v5 at 785 (bwd 5 6: 1.05x at B·H 48)
    // and ties at 145; v4 and v5 tie at N = 65 (1.01x): v6 from N > 128, v4 below. The v6
    // kernels compile slower (Dh = 64, cold Mesa shader cache: first launch 5.1 s forward,
    // 14.5 s backward, against 2.4 s and 5.8 s for v5), once per process until Mesa's disk
    // cache has them.
    const fwd = attentionSubgroupSize(rt) === 8 ? 6 : 5;
    if (attentionSubgroupSize(rt) !== 8 || d % 8 !== 0) return { fwd, dkdv: 3, dq: 3, ...base };
    const bwd = n > 128 ? 6 : 4;
    return { fwd, dkdv: bwd, dq: bwd, ...base };
  }
  return { fwd: 1, dkdv: 1, dq: 1, ...base };
}

/** Why version v of a pass cannot run on this device and these operands, or null when it can. */
export function versionIneligible(rt: Runtime, pass: 'fwd' | 'bwd', v: number, d: number, views: Tensor[]): string | null {
  if (pass === 'fwd' ? !FORWARD_VERSIONS.includes(v as ForwardVersion) : !BACKWARD_VERSIONS.includes(v as BackwardVersion)) {
    return `no ${pass === 'fwd' ? 'forward' : 'backward'} version ${v}`;
  }
  if (isSubgroup(pass, v)) {
    const why = subgroupIneligible(rt, d, views);
    if (why) return `the subgroup version ${why}`;
  }
  if (pass === 'bwd' && isOnePass(v as BackwardVersion) && (attentionSubgroupSize(rt) !== 8 || d % 8 !== 0)) {
    return `backward v${v} needs subgroups of 8 and Dh % 8 == 0 (its dQ reduction is three xor steps over column halves; Dh = ${d})`;
  }
  if (isTiled(v) && TILED_WORKGROUP_BYTES > rt.limits.maxComputeWorkgroupStorageSize) {
    return `the tiled version (v7) needs ${TILED_WORKGROUP_BYTES} bytes of workgroup memory; the device allows ${rt.limits.maxComputeWorkgroupStorageSize}`;
  }
  return null;
}

// ---------------------------------------------------------------- autotuning

/** The autotuner's shape class: N and B·H to the nearest power of 2, and Dh. */
export function attentionShapeClass(n: number, d: number, bh: number): string {
  const b2 = (x: number) => 2 ** Math.round(Math.log2(Math.max(1, x)));
  return `N${b2(n)} Dh${d} BH${b2(bh)}`;
}

/**
 * Versions worth timing per adapter family (the rest never won where measured, and v2 compiles
 * slowly): GPUs the workgroup-memory ones and the plain backward; CPU adapters the subgroup ones
 * and the tiled one. Ineligible ones are dropped; v1 is the fallback when none is left.
 */
function tuneCandidates(rt: Runtime, pass: 'fwd' | 'bwd', d: number, views: Tensor[]): number[] {
  const gpu = rt.adapter.family === 'gpu';
  const wanted = pass === 'fwd' ? (gpu ? [3, 7] : [4, 5, 6, 7]) : gpu ? [1, 7] : [3, 4, 5, 6, 7];
  const ok = wanted.filter((v) => versionIneligible(rt, pass, v, d, views) === null);
  return ok.length ? ok : [1];
}

/**
 * Time the candidate forward versions, then (after one planned forward) the backward versions,
 * on these (B, H, N, Dh) operands; remember the fastest of each for their shape class, so that
 * planAttention (and the autograd ops through it) uses them from then on, and persist them where
 * the autotuner has a store (the Node CLI: src/node/autotune-store.ts).
 */
export async function tuneAttention(q: Tensor, k: Tensor, v: Tensor, dO: Tensor, repeat = 3): Promise<{ fwd: TuneResult; bwd: TuneResult }> {
  const rt = q.rt;
  const [B, H, N, d] = q.shape;
  const views = [q, k, v, dO];
  const cls = attentionShapeClass(N, d, B * H);
  const tuner = autotunerFor(rt);
  const drop = (ts: (Tensor | null)[]) => ts.forEach((t) => t?.dispose());
  const fwd = await tuner.tune('attention-fwd', cls, tuneCandidates(rt, 'fwd', d, views).map((ver) => ({
    name: String(ver),
    launch: () => {
      const r = attentionForward(q, k, v, { fwd: ver as ForwardVersion });
      drop([r.o, r.lse]);
    },
  })), repeat);
  const saved = attentionForward(q, k, v, { fwd: Number(fwd.best) as ForwardVersion });
  try {
    const bwd = await tuner.tune('attention-bwd', cls, tuneCandidates(rt, 'bwd', d, views).map((ver) => ({
      name: String(ver),
      launch: () => {
        const r = attentionBackward(q, k, v, saved.o, saved.lse, dO, { dkdv: ver as BackwardVersion, dq: ver as BackwardVersion });
        drop([r.dq, r.dk, r.dv]);
      },
    })), repeat);
    return { fwd, bwd };
  } finally {
    drop([saved.o, saved.lse]);
  }
}

// ---------------------------------------------------------------- operand windows

interface Operand {
  t: Tensor;
  /** Elements spanned by one image (all its heads), from its first element. */
  extent: number;
  sb: number;
  sh: number;
  sn: number;
}

function headView(t: Tensor, what: string, name: string, shape: readonly number[]): Operand {
  t.assertAlive(what);
  if (t.ndim !== 4 || t.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`${what}: ${name} ${t} must have shape ${shapeStr(shape)}`);
  }
  if (t.strides[3] !== 1 && t.shape[3] !== 1) throw new Error(`${what}: ${name} ${t} needs unit stride on the head dim`);
  const [, H, N, d] = shape;
  const [sb, sh, sn] = t.strides;
  if (sb < 0 || sh < 0 || sn < 0) throw new Error(`${what}: ${name} ${t} has negative strides`);
  return { t, extent: (H - 1) * sh + (N - 1) * sn + d, sb, sh, sn };
}

/** A dense (B, H, N) tensor (L, D) or (B, H, N, N) (P), any offset. */
function denseRows(t: Tensor, what: string, name: string, shape: readonly number[]): Operand {
  t.assertAlive(what);
  if (!t.shape.every((s, i) => s === shape[i]) || t.ndim !== shape.length) {
    throw new Error(`${what}: ${name} ${t} must have shape ${shapeStr(shape)}`);
  }
  const c = contiguousWindow(t);
  if (!c) throw new Error(`${what}: ${name} ${t} must be dense (row-major)`);
  const per = t.size / shape[0];
  return { t, extent: per, sb: per, sh: 0, sn: 0 };
}

function contiguousWindow(t: Tensor): boolean {
  let acc = 1;
  for (let i = t.ndim - 1; i >= 0; i--) {
    if (t.shape[i] !== 1 && t.strides[i] !== acc) return false;
    acc *= t.shape[i];
  }
  return true;
}

interface Window {
  ref: BufferRef;
  /** Element offset, inside the window, of batch b0's first element. */
  off: number;
}

function windowOf(rt: Runtime, op: Operand, b0: number, b1: number): Window {
  const align = rt.limits.minStorageBufferOffsetAlignment;
  const start = op.t.offset + b0 * op.sb; // elements
  const end = op.t.offset + (b1 - 1) * op.sb + op.extent;
  const byte0 = Math.floor((start * 4) / align) * align;
  return { ref: { buffer: op.t.buffer, offset: byte0, size: end * 4 - byte0 }, off: start - byte0 / 4 };
}

/** Images per chunk so that every operand's window fits one binding. */
function batchesPerChunk(rt: Runtime, ops: Operand[], B: number, H: number, maxBinding: number, what: string): number {
  const limit = maxBinding - rt.limits.minStorageBufferOffsetAlignment;
  let bc = Math.min(B, Math.floor(rt.limits.maxComputeWorkgroupsPerDimension / H));
  for (const op of ops) {
    if (op.extent * 4 > limit) throw new Error(`${what}: one image of ${op.t} spans ${op.extent * 4} bytes, over the binding limit`);
    if (op.sb > 0) bc = Math.min(bc, 1 + Math.floor((limit - op.extent * 4) / (op.sb * 4)));
  }
  return Math.max(1, bc);
}

const vec = (w: Window, op: Operand) => [w.off, op.sb, op.sh, op.sn];

const ZERO4 = [0, 0, 0, 0];

interface Launch {
  entry: string;
  /** A subgroup version: vec4 bindings (q4, k4, v4, go4), SG lanes per workgroup, 4 rows per lane. */
  sub: boolean;
  /** A tiled version (v7): 64 invocations, TILED_ROWS rows per workgroup, only DH overridden. */
  tiled?: boolean;
  /** Subgroup versions: rows per lane when not 4. */
  rowsPerLane?: number;
  /** Workgroups along x; default ⌈N / rows per workgroup⌉. */
  gridX?: number;
  /** One-pass backward (v4..v6): key splits (the ks uniform). */
  ks?: number;
  /** Storage operands by binding name; (B, H, N, Dh) views except lse, dd, probs. */
  ops: Record<string, Operand>;
  B: number;
  H: number;
  N: number;
  d: number;
  scale: number;
  plan: AttentionPlan;
  maxBinding: number;
  what: string;
}

/** Operands whose view travels as a vec4 uniform of the same name. */
const VIEW_PARAMS = new Set(['q', 'k', 'v', 'o', 'go', 'gq', 'dqs']);

function launch(rt: Runtime, l: Launch): void {
  const { B, H, N, d, plan } = l;
  const names = Object.keys(l.ops);
  const bc = batchesPerChunk(rt, names.map((n) => l.ops[n]), B, H, l.maxBinding, l.what);
  for (let b0 = 0; b0 < B; b0 += bc) {
    const b1 = Math.min(B, b0 + bc);
    const buffers: Record<string, BufferRef> = {};
    const params: Record<string, number | number[]> = {
      n: N, heads: H, scale: l.scale, lse_off: 0, dd_off: 0, d4: Math.floor(d / 4), kv_split: 0, ks: l.ks ?? 1,
      q: ZERO4, k: ZERO4, v: ZERO4, o: ZERO4, go: ZERO4, gq: ZERO4, gk: ZERO4, gv: ZERO4, dqs: ZERO4,
    };
    for (const name of names) {
      const op = l.ops[name];
      if (name === 'gk' || name === 'gv') continue; // share the gkv binding, below
      const w = windowOf(rt, op, b0, b1);
      buffers[name] = w.ref;
      if (name === 'probs' && w.off !== 0) throw new Error(`${l.what}: P must start its window (no offset uniform)`);
      if (name === 'lse') params.lse_off = w.off;
      else if (name === 'dd') params.dd_off = w.off;
      else if (VIEW_PARAMS.has(name)) params[name] = vec(w, op);
    }
    let split = false;
    let dummy: GPUBuffer | null = null;
    if (l.ops.gk && l.ops.gv) {
      const wk = windowOf(rt, l.ops.gk, b0, b1);
      const wv = windowOf(rt, l.ops.gv, b0, b1);
      split = l.ops.gk.t.storage !== l.ops.gv.t.storage;
      if (split) {
        params.kv_split = 1;
        buffers.gkv = wk.ref;
        buffers.gvs = wv.ref;
        params.gk = vec(wk, l.ops.gk);
        params.gv = vec(wv, l.ops.gv);
      } else {
        // One window over both (the packed layout interleaves them within each token row).
        const byte0 = Math.min(wk.ref.offset!, wv.ref.offset!);
        const byte1 = Math.max(wk.ref.offset! + wk.ref.size!, wv.ref.offset! + wv.ref.size!);
        if (byte1 - byte0 > l.maxBinding) throw new Error(`${l.what}: dK and dV share a storage but not a window that fits a binding`);
        buffers.gkv = { buffer: wk.ref.buffer, offset: byte0, size: byte1 - byte0 };
        dummy = rt.alloc(256); // the unused gvs binding
        buffers.gvs = { buffer: dummy };
        params.gk = vec({ ref: wk.ref, off: wk.off + (wk.ref.offset! - byte0) / 4 }, l.ops.gk);
        params.gv = vec({ ref: wv.ref, off: wv.off + (wv.ref.offset! - byte0) / 4 }, l.ops.gv);
      }
    }
    const overrides: Record<string, number> = { DH: d };
    let rowsPerGroup: number;
    if (l.sub) {
      for (const n of ['q', 'k', 'v', 'go']) {
        if (buffers[n]) {
          buffers[`${n}4`] = buffers[n];
          delete buffers[n];
        }
      }
      overrides.SG = attentionSubgroupSize(rt)!;
      rowsPerGroup = (l.rowsPerLane ?? 4) * overrides.SG;
    } else if (l.tiled) {
      rowsPerGroup = TILED_ROWS;
    } else {
      Object.assign(overrides, { WG: plan.wg, KB: plan.kb, TK: plan.tk });
      rowsPerGroup = plan.wg;
    }
    rt.dispatch({
      kernel: { name: 'attention', source: sourceFor(rt), entry: l.entry, overrides },
      buffers,
      params,
      workgroups: [l.gridX ?? ceilDiv(N, rowsPerGroup), (b1 - b0) * H],
      shapes: `${l.what} B ${B} H ${H} N ${N} Dh ${d} images ${b0}..${b1}`,
    });
    if (dummy) rt.free(dummy);
  }
}

function resolve(
  rt: Runtime, what: string, shape: readonly number[], opts: AttentionOpts, views: Tensor[],
): { plan: AttentionPlan; scale: number; maxBinding: number } {
  const [B, H, N, d] = shape;
  if (!(B >= 1 && H >= 1 && N >= 1 && d >= 1)) throw new Error(`${what}: empty shape ${shapeStr(shape)}`);
  if (d > MAX_HEAD_DIM) throw new Error(`${what}: head dim ${d} exceeds ${MAX_HEAD_DIM}`);
  const base = planAttention(rt, N, d, views, B * H);
  const plan: AttentionPlan = {
    fwd: opts.fwd ?? base.fwd, dkdv: opts.dkdv ?? base.dkdv, dq: opts.dq ?? base.dq,
    wg: opts.wg ?? base.wg, kb: opts.kb ?? base.kb, tk: opts.tk ?? base.tk,
  };
  for (const [pass, v] of [['fwd', plan.fwd], ['bwd', plan.dkdv], ['bwd', plan.dq]] as const) {
    const why = versionIneligible(rt, pass, v, d, views);
    if (why) throw new Error(`${what}: ${why}`);
  }
  if ((isOnePass(plan.dkdv) || isOnePass(plan.dq)) && plan.dkdv !== plan.dq) {
    throw new Error(`${what}: backward v4..v6 compute dQ, dK and dV in one pass; dkdv and dq must be the same version (got ${plan.dkdv}/${plan.dq})`);
  }
  if (!(plan.kb >= 1 && plan.kb <= 16)) throw new Error(`${what}: register block ${plan.kb} not in 1..16`);
  if (plan.fwd === 3 && (plan.tk % plan.kb !== 0 || plan.tk * d * 8 > rt.limits.maxComputeWorkgroupStorageSize)) {
    throw new Error(`${what}: tile of ${plan.tk} keys must be a multiple of ${plan.kb} and fit workgroup memory`);
  }
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(scale)) throw new Error(`${what}: scale ${scale} is not finite`);
  const maxBinding = Math.min(rt.limits.maxStorageBufferBindingSize, opts.maxBindingBytes ?? Infinity);
  return { plan, scale, maxBinding };
}

/** A (B, H, N, Dh) view usable by the kernels: unit stride on Dh (copies otherwise). */
function usable(t: Tensor): { t: Tensor; copied: boolean } {
  if (t.strides[t.ndim - 1] === 1 || t.shape[t.ndim - 1] === 1) return { t, copied: false };
  return { t: contiguous(t), copied: true };
}

// ---------------------------------------------------------------- views of the packed layout

/** q, k, v as (B, H, N, Dh) views of the packed qkv (B, N, 3·H·Dh) (rows [q | k | v]). */
export function qkvHeads(qkv: Tensor, heads: number): { q: Tensor; k: Tensor; v: Tensor } {
  const [B, N, w] = qkv.shape;
  if (qkv.ndim !== 3 || w % (3 * heads) !== 0) throw new Error(`qkvHeads: ${qkv} is not (B, N, 3·${heads}·Dh)`);
  if (qkv.strides[2] !== 1) throw new Error(`qkvHeads: ${qkv} needs unit stride on its last dim`);
  const d = w / (3 * heads);
  const [sb, sn] = qkv.strides;
  const part = (i: number) => qkv.view([B, heads, N, d], [sb, d, sn, 1], qkv.offset + i * heads * d);
  return { q: part(0), k: part(1), v: part(2) };
}

/** The (B, H, N, Dh) view of a token-major (B, N, H·Dh) tensor. */
export function tokenMajorHeads(x: Tensor, heads: number): Tensor {
  const [B, N, w] = x.shape;
  if (x.ndim !== 3 || w % heads !== 0 || x.strides[2] !== 1) throw new Error(`tokenMajorHeads: ${x} is not (B, N, ${heads}·Dh) with unit last stride`);
  return x.view([B, heads, N, w / heads], [x.strides[0], w / heads, x.strides[1], 1], x.offset);
}

// ---------------------------------------------------------------- forward

/**
 * O = softmax(s Q K^T) V into the view `o`; L = row logsumexp into `lse` (B, H, N). All
 * (B, H, N, Dh) views with unit stride on Dh.
 */
export function attentionForwardInto(q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, opts: AttentionOpts = {}): void {
  const what = 'attention forward';
  const shape = q.shape;
  const { plan, scale, maxBinding } = resolve(q.rt, what, shape, opts, [q, k, v]);
  const [B, H, N, d] = shape;
  const qOp = headView(q, what, 'q', shape);
  launch(q.rt, {
    entry: `attention_forward_v${plan.fwd}`,
    sub: isSubgroup('fwd', plan.fwd),
    tiled: isTiled(plan.fwd),
    rowsPerLane: ROWS_PER_LANE[plan.fwd] ?? 4,
    ops: {
      q: qOp, k: headView(k, what, 'k', shape), v: headView(v, what, 'v', shape),
      o: headView(o, what, 'o', shape), lse: denseRows(lse, what, 'lse', [B, H, N]),
      // v7 shares its tile loader with the backward, whose operand switch names dO: bound to
      // q there, never read (src 3 is not loaded by the forward).
      ...(isTiled(plan.fwd) ? { go: qOp } : {}),
    },
    B, H, N, d, scale, plan, maxBinding, what,
  });
}

/** Fused forward on (B, H, N, Dh) tensors: o (B, H, N, Dh) dense and L (B, H, N). */
export function attentionForward(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOpts = {}): { o: Tensor; lse: Tensor } {
  const ins = [q, k, v].map(usable);
  const [B, H, N] = q.shape;
  const o = Tensor.empty(q.shape, q.rt);
  const lse = Tensor.empty([B, H, N], q.rt);
  attentionForwardInto(ins[0].t, ins[1].t, ins[2].t, o, lse, opts);
  for (const x of ins) if (x.copied) x.t.dispose();
  return { o, lse };
}

/** Fused forward on the packed qkv (B, N, 3·H·Dh): o (B, N, H·Dh) and L (B, H, N). */
export function attentionForwardPacked(qkv: Tensor, heads: number, opts: AttentionOpts = {}): { o: Tensor; lse: Tensor } {
  const src = usable(qkv);
  const { q, k, v } = qkvHeads(src.t, heads);
  const [B, N, w] = qkv.shape;
  const o = Tensor.empty([B, N, w / 3], qkv.rt);
  const oh = tokenMajorHeads(o, heads);
  const lse = Tensor.empty([B, heads, N], qkv.rt);
  attentionForwardInto(q, k, v, oh, lse, opts);
  for (const t of [q, k, v, oh]) t.dispose();
  if (src.copied) src.t.dispose();
  return { o, lse };
}

// ---------------------------------------------------------------- backward

export interface BackwardTargets {
  /** (B, H, N, Dh) view to receive dQ, or null to skip the dQ pass. */
  dq: Tensor | null;
  /** Views to receive dK and dV (both, or null for neither: skips the dK/dV pass). */
  dk: Tensor | null;
  dv: Tensor | null;
}

/**
 * Backward from the saved O and L: D = rowsum(dO ∘ O), then the dK/dV pass (over queries)
 * and the dQ pass (over keys). Writes into the given views.
 */
export function attentionBackwardInto(
  q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, dO: Tensor, out: BackwardTargets, opts: AttentionOpts = {},
): void {
  const what = 'attention backward';
  const shape = q.shape;
  const { plan, scale, maxBinding } = resolve(q.rt, what, shape, opts, [q, k, v, dO]);
  const [B, H, N, d] = shape;
  const rt = q.rt;
  const base = {
    q: headView(q, what, 'q', shape), k: headView(k, what, 'k', shape), v: headView(v, what, 'v', shape),
    go: headView(dO, what, 'dO', shape), lse: denseRows(lse, what, 'lse', [B, H, N]),
  };
  const dd = Tensor.empty([B, H, N], rt);
  const ddOp = denseRows(dd, what, 'D', [B, H, N]);
  const common = { B, H, N, d, scale, plan, maxBinding, what };
  launch(rt, { ...common, entry: 'attention_bwd_dot', sub: false, ops: { o: headView(o, what, 'o', shape), go: base.go, dd: ddOp } });
  if (isOnePass(plan.dkdv)) {
    // One pass: dQ, dK and dV together (targets not asked for go to scratch), dQ summed in a
    // dense accumulator and then copied into its view.
    const temps: Tensor[] = [];
    const target = (t: Tensor | null) => t ?? temps[temps.push(Tensor.empty(shape, rt)) - 1];
    const dk = target(out.dk);
    const dv = target(out.dv);
    // Key splits: each head's key blocks are shared out over ks workgroups, so that a few heads
    // still make enough workgroups to keep the driver's threads busy; each split sums into its
    // own slice of the accumulator, the copy adds them (in a fixed order).
    const keysPerPass = (ROWS_PER_LANE[plan.dkdv] ?? 4) * attentionSubgroupSize(rt)!;
    const ks = Math.max(1, Math.min(ceilDiv(N, keysPerPass), opts.keySplits ?? ceilDiv(MIN_WORKGROUPS, B * H)));
    // Laid out for the kernel's lanes (see dqs_tile), N rounded up to a multiple of 8, per split.
    const accShape = [B, H, ks * ceilDiv(N, 8) * 8, d];
    const dqs = Tensor.empty(accShape, rt);
    temps.push(dqs);
    const dqsOp = headView(dqs, what, 'dQ accumulator', accShape);
    launch(rt, {
      ...common, entry: `attention_bwd_v${plan.dkdv}`, sub: true, gridX: ks, ks,
      ops: { ...base, dd: ddOp, gk: headView(dk, what, 'dK', shape), gv: headView(dv, what, 'dV', shape), dqs: dqsOp },
    });
    if (out.dq) launch(rt, { ...common, entry: 'attention_bwd_dq_copy', sub: false, ks, ops: { dqs: dqsOp, gq: headView(out.dq, what, 'dQ', shape) } });
    for (const t of temps) t.dispose();
    dd.dispose();
    return;
  }
  if (out.dk || out.dv) {
    if (!out.dk || !out.dv) throw new Error(`${what}: dK and dV come from one pass; give both`);
    launch(rt, {
      ...common, entry: `attention_bwd_dkdv_v${plan.dkdv}`, sub: isSubgroup('bwd', plan.dkdv), tiled: isTiled(plan.dkdv),
      ops: { ...base, dd: ddOp, gk: headView(out.dk, what, 'dK', shape), gv: headView(out.dv, what, 'dV', shape) },
    });
  }
  if (out.dq) {
    launch(rt, { ...common, entry: `attention_bwd_dq_v${plan.dq}`, sub: isSubgroup('bwd', plan.dq), tiled: isTiled(plan.dq), ops: { ...base, dd: ddOp, gq: headView(out.dq, what, 'dQ', shape) } });
  }
  dd.dispose();
}

/** Backward on (B, H, N, Dh) tensors: dense dQ, dK, dV (null where not needed). */
export function attentionBackward(
  q: Tensor, k: Tensor, v: Tensor, o: Tensor, lse: Tensor, dO: Tensor, opts: AttentionOpts = {},
  needs: { q?: boolean; kv?: boolean } = {},
): { dq: Tensor | null; dk: Tensor | null; dv: Tensor | null } {
  const ins = [q, k, v, o, dO].map(usable);
  const rt = q.rt;
  const wantQ = needs.q !== false;
  const wantKV = needs.kv !== false;
  const dq = wantQ ? Tensor.empty(q.shape, rt) : null;
  let dk: Tensor | null = null;
  let dv: Tensor | null = null;
  if (wantKV) {
    dk = Tensor.empty(q.shape, rt);
    dv = Tensor.empty(q.shape, rt);
  }
  attentionBackwardInto(ins[0].t, ins[1].t, ins[2].t, ins[3].t, lse, ins[4].t, { dq, dk, dv }, opts);
  for (const x of ins) if (x.copied) x.t.dispose();
  return { dq, dk, dv };
}

/** Backward of the packed form: dQKV (B, N, 3·H·Dh) from qkv, o (B, N, H·Dh), L, dO (B, N, H·Dh). */
export function attentionBackwardPacked(qkv: Tensor, o: Tensor, lse: Tensor, dO: Tensor, heads: number, opts: AttentionOpts = {}): Tensor {
  const src = usable(qkv);
  const oc = usable(o);
  const gc = usable(dO);
  const { q, k, v } = qkvHeads(src.t, heads);
  const g = Tensor.empty(qkv.shape, qkv.rt);
  const { q: gq, k: gk, v: gv } = qkvHeads(g, heads);
  const oh = tokenMajorHeads(oc.t, heads);
  const gh = tokenMajorHeads(gc.t, heads);
  attentionBackwardInto(q, k, v, oh, lse, gh, { dq: gq, dk: gk, dv: gv }, opts);
  for (const t of [q, k, v, gq, gk, gv, oh, gh]) t.dispose();
  for (const x of [src, oc, gc]) if (x.copied) x.t.dispose();
  return g;
}

// ---------------------------------------------------------------- attention maps

/** P = softmax(s Q K^T) (B, H, N, N), for attention maps of one layer (small N only). */
export function attentionProbs(q: Tensor, k: Tensor, opts: AttentionOpts = {}): Tensor {
  const what = 'attention probs';
  const shape = q.shape;
  const { plan, scale, maxBinding } = resolve(q.rt, what, shape, { ...opts, fwd: 1, dkdv: 1, dq: 1 }, [q, k]);
  const [B, H, N, d] = shape;
  const bytes = B * H * N * N * 4;
  if (bytes > maxBinding) {
    throw new Error(`${what}: P (${B}, ${H}, ${N}, ${N}) is ${bytes} bytes, over the binding limit; request fewer images`);
  }
  const ins = [q, k].map(usable);
  const P = Tensor.empty([B, H, N, N], q.rt);
  launch(q.rt, {
    entry: 'attention_probs',
    sub: false,
    ops: { q: headView(ins[0].t, what, 'q', shape), k: headView(ins[1].t, what, 'k', shape), probs: denseRows(P, what, 'P', [B, H, N, N]) },
    B, H, N, d, scale, plan, maxBinding, what,
  });
  for (const x of ins) if (x.copied) x.t.dispose();
  return P;
}

/** Attention maps from the packed qkv (B, N, 3·H·Dh): P (B, H, N, N). */
export function attentionProbsPacked(qkv: Tensor, heads: number, opts: AttentionOpts = {}): Tensor {
  const { q, k, v } = qkvHeads(qkv, heads);
  const P = attentionProbs(q, k, opts);
  for (const t of [q, k, v]) t.dispose();
  return P;
}
