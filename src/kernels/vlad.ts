// Launchers for shaders/vlad.wgsl: the fused VLAD pieces of DualVLAD / NetVLAD (SPEC §4, §5).
//
//   const { ar, a, r } = vladAssignForward(x, w, bias, c);   // x (B, S, D) → a (B, S, K), r (B, S, K·D)
//   ... frame attention on r (engine matmul, tanh, softmax over S) → beta (B, S) ...
//   const { y, norms } = vladAggregateForward(r, beta, K);   // y (B, K·D); beta null: NetVLAD sum
//
// `ar` is one buffer holding r (B·S·K·D) followed by a (B·S·K): the autograd op records a
// single node for both outputs; a and r are views of it.
import source from '../../shaders/vlad.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import type { AdapterSummary } from './adapter-info.js';
import type { Runtime } from './runtime.js';

type AdapterFamily = AdapterSummary['family'];

export const VLAD_EPS = 1e-12; // F.normalize's default

export interface VladOpts {
  /** Threads per workgroup (a power of two in 1..256); default planVlad. */
  wg?: number;
}

/**
 * Workgroup size for the frame / video kernels, which stride D (384) with trees over it. GPU:
 * 128 threads (3 elements each at D = 384; H200: fwd + bwd 0.435 ms vs 0.78 at 16).
 * CPU adapters run a workgroup on one core and pay a coroutine switch per barrier, so fewer,
 * fuller threads: 16 (lavapipe: 4.8 ms vs 5.1 at 128, forward 2-2.4x). bench/vlad.ts.
 */
export function planVlad(d: number, family: AdapterFamily = 'gpu'): number {
  if (family !== 'gpu') return 16;
  return d <= 64 ? 64 : 128;
}

const WG_PARAMS = 64;

function pickWg(rt: Runtime, d: number, opts: VladOpts, what: string): number {
  const wg = opts.wg ?? planVlad(d, rt.adapter.family);
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
  return wg;
}

/** shaders/vlad.wgsl's KMAX: the per-cluster workgroup arrays hold at most this many clusters. */
export const VLAD_MAX_CLUSTERS = 256;

function params(frames: number, s: number, k: number, d: number, hasBeta: boolean, daOff = -1) {
  return { frames, s, k, d, eps: VLAD_EPS, has_beta: hasBeta ? 1 : 0, has_da: daOff >= 0 ? 1 : 0, da_off: Math.max(daOff, 0) };
}

function kernel(entry: string, wg: number) {
  return { name: 'vlad', source, entry, overrides: { WG: wg } };
}

function checkClusters(k: number, what: string): void {
  if (k > VLAD_MAX_CLUSTERS) throw new Error(`${what}: K = ${k} clusters exceed ${VLAD_MAX_CLUSTERS}`);
}

export interface AssignShape {
  B: number;
  S: number;
  K: number;
  D: number;
}

function assignShape(x: Tensor, w: Tensor, bias: Tensor, c: Tensor, what: string): AssignShape {
  if (x.ndim !== 3) throw new Error(`${what}: x must be (B, S, D)`);
  const [B, S, D] = x.shape;
  const K = w.shape[0];
  if (w.ndim !== 2 || w.shape[1] !== D) throw new Error(`${what}: w must be (K, D) with D = ${D}`);
  if (bias.ndim !== 1 || bias.shape[0] !== K) throw new Error(`${what}: bias must be (K) = (${K})`);
  if (c.ndim !== 2 || c.shape[0] !== K || c.shape[1] !== D) throw new Error(`${what}: centroids must be (K, D) = (${K}, ${D})`);
  if (B * S * K * D === 0) throw new Error(`${what}: empty shape`);
  checkClusters(K, what);
  return { B, S, K, D };
}

function assignShapes(x: Tensor, w: Tensor, bias: Tensor, c: Tensor): string {
  return `x${shapeStr(x.shape)} w${shapeStr(w.shape)} bias${shapeStr(bias.shape)} c${shapeStr(c.shape)}`;
}

/** Views a (B, S, K) and r (B, S, K·D) of the packed assign output. */
export function splitAssign(ar: Tensor, sh: AssignShape): { a: Tensor; r: Tensor } {
  const { B, S, K, D } = sh;
  const nR = B * S * K * D;
  return {
    r: ar.view([B, S, K * D], [S * K * D, K * D, 1], 0),
    a: ar.view([B, S, K], [S * K, K, 1], nR),
  };
}

/** x (B, S, D), w (K, D), bias (K), c (K, D) → ar = [r | a] (B·S·K·(D + 1)), with views a, r. */
export function vladAssignForward(x: Tensor, w: Tensor, bias: Tensor, c: Tensor, opts: VladOpts = {}): { ar: Tensor; a: Tensor; r: Tensor; shape: AssignShape } {
  const shapes = assignShapes(x, w, bias, c);
  const what = `vladAssignForward ${shapes}`;
  for (const t of [x, w, bias, c]) t.assertAlive(what);
  const sh = assignShape(x, w, bias, c, what);
  const { B, S, K, D } = sh;
  const rt = x.rt;
  const wg = pickWg(rt, D, opts, what);
  const F = B * S;
  const ar = Tensor.empty([F * K * (D + 1)], rt);
  const [xc, wc, bc, cc] = [x, w, bias, c].map(contiguous);
  rt.dispatch({
    kernel: kernel('vlad_assign_forward', wg),
    buffers: { x: xc.buffer, w: wc.buffer, bias: bc.buffer, cent: cc.buffer, ar: ar.buffer },
    params: params(F, S, K, D, false),
    workgroups: grid1d(F),
    shapes: `${shapes} wg ${wg}`,
  });
  [[xc, x], [wc, w], [bc, bias], [cc, c]].forEach(([cp, t]) => cp !== t && cp.dispose());
  return { ar, ...splitAssign(ar, sh), shape: sh };
}

export interface AssignGrads {
  dx: Tensor; // (B, S, D)
  dw: Tensor; // (K, D)
  dbias: Tensor; // (K)
  dc: Tensor; // (K, D)
}

/**
 * Where the gradients of r and a are: dr (B·S·K·D values) and da (B·S·K values, or null when
 * a is not used downstream), or one packed tensor laid out as the forward's [r | a].
 */
export type AssignUpstream = { dr: Tensor; da: Tensor | null } | { packed: Tensor };

/** Backward of vladAssignForward from the saved x, w, c and packed output ar. */
export function vladAssignBackward(x: Tensor, w: Tensor, c: Tensor, ar: Tensor, up: AssignUpstream, sh: AssignShape, opts: VladOpts = {}): AssignGrads {
  const { B, S, K, D } = sh;
  const what = `vladAssignBackward x${shapeStr(x.shape)} K ${K}`;
  const nR = B * S * K * D;
  const nA = B * S * K;
  if (ar.size !== nR + nA) throw new Error(`${what}: ar must hold ${nR + nA} values`);
  const dr = 'packed' in up ? up.packed : up.dr;
  const da = 'packed' in up ? up.packed : up.da;
  const daOff = 'packed' in up ? nR : da ? 0 : -1;
  if ('packed' in up ? dr.size !== nR + nA : dr.size !== nR || (da !== null && da.size !== nA)) {
    throw new Error(`${what}: the upstream gradient has the wrong size (dr ${nR}, da ${nA} values)`);
  }
  const rt = x.rt;
  const wg = pickWg(rt, D, opts, what);
  const F = B * S;
  const dx = Tensor.empty([B, S, D], rt);
  const dw = Tensor.empty([K, D], rt);
  const dbias = Tensor.empty([K], rt);
  const dc = Tensor.empty([K, D], rt);
  const dlogit = Tensor.empty([F, K + 1], rt);
  const [xc, wc, cc, arc, drc] = [x, w, c, ar, dr].map(contiguous);
  const dac = da && da !== dr ? contiguous(da) : null;
  const pr = params(F, S, K, D, false, daOff);
  rt.dispatch({
    kernel: kernel('vlad_assign_backward_frames', wg),
    // No da: its (unread) binding borrows dr's buffer.
    buffers: { x: xc.buffer, w: wc.buffer, cent: cc.buffer, ar: arc.buffer, gr: drc.buffer, ga: (dac ?? drc).buffer, dx: dx.buffer, dlogit: dlogit.buffer },
    params: pr,
    workgroups: grid1d(F),
    shapes: `${what} wg ${wg}`,
  });
  rt.dispatch({
    kernel: kernel('vlad_assign_backward_params', WG_PARAMS),
    buffers: { x: xc.buffer, ar: arc.buffer, gr: drc.buffer, dlogit: dlogit.buffer, dw: dw.buffer, dbias: dbias.buffer, dc: dc.buffer },
    params: pr,
    workgroups: grid1d(ceilDiv(K * D + K, WG_PARAMS)),
    shapes: what,
  });
  [[xc, x], [wc, w], [cc, c], [arc, ar], [drc, dr]].forEach(([cp, t]) => cp !== t && cp.dispose());
  if (dac && dac !== da) dac.dispose();
  dlogit.dispose();
  return { dx, dw, dbias, dc };
}

function aggShape(r: Tensor, beta: Tensor | null, k: number, what: string): AssignShape {
  if (r.ndim !== 3) throw new Error(`${what}: r must be (B, S, K·D)`);
  const [B, S, KD] = r.shape;
  if (!Number.isInteger(k) || k < 1 || KD % k !== 0) throw new Error(`${what}: K = ${k} does not divide K·D = ${KD}`);
  if (beta && (beta.ndim !== 2 || beta.shape[0] !== B || beta.shape[1] !== S)) throw new Error(`${what}: beta must be (B, S) = (${B}, ${S})`);
  if (B * S * KD === 0) throw new Error(`${what}: empty shape`);
  checkClusters(k, what);
  return { B, S, K: k, D: KD / k };
}

/**
 * y = global-L2(intra-L2(Σ_i β_i r_i)) (B, K·D); beta (B, S) or null for NetVLAD's plain sum.
 * norms (B, K + 1) holds each ‖V_k‖ and then ‖U‖, for the backward.
 */
export function vladAggregateForward(r: Tensor, beta: Tensor | null, k: number, opts: VladOpts = {}): { y: Tensor; norms: Tensor } {
  const shapes = `r${shapeStr(r.shape)} beta${beta ? shapeStr(beta.shape) : ' none'} K ${k}`;
  const what = `vladAggregateForward ${shapes}`;
  r.assertAlive(what);
  beta?.assertAlive(what);
  const { B, S, K, D } = aggShape(r, beta, k, what);
  const rt = r.rt;
  const wg = pickWg(rt, D, opts, what);
  const y = Tensor.empty([B, K * D], rt);
  const norms = Tensor.empty([B, K + 1], rt);
  const rc = contiguous(r);
  const bc = beta ? contiguous(beta) : null;
  rt.dispatch({
    kernel: kernel('vlad_aggregate_forward', wg),
    // NetVLAD: the (unread) beta binding still needs a buffer: r's.
    buffers: { r: rc.buffer, beta: (bc ?? rc).buffer, y: y.buffer, norms: norms.buffer },
    params: params(B * S, S, K, D, beta !== null),
    workgroups: grid1d(B),
    shapes: `${shapes} wg ${wg}`,
  });
  if (rc !== r) rc.dispose();
  if (bc && bc !== beta) bc.dispose();
  return { y, norms };
}

/** Backward of vladAggregateForward from its saved r, beta, output y and norms. */
export function vladAggregateBackward(
  r: Tensor, beta: Tensor | null, y: Tensor, norms: Tensor, dy: Tensor, k: number, opts: VladOpts = {},
): { dr: Tensor; dbeta: Tensor | null } {
  const what = `vladAggregateBackward r${shapeStr(r.shape)} K ${k}`;
  const { B, S, K, D } = aggShape(r, beta, k, what);
  if (dy.size !== B * K * D || y.size !== B * K * D || norms.size !== B * (K + 1)) throw new Error(`${what}: y, dy or norms has the wrong size`);
  const rt = r.rt;
  const wg = pickWg(rt, D, opts, what);
  const dv = Tensor.empty([B, K * D], rt);
  const dr = Tensor.empty([B, S, K * D], rt);
  const dbeta = beta ? Tensor.empty([B, S], rt) : null;
  const [rc, yc, nc, dyc] = [r, y, norms, dy].map(contiguous);
  const bc = beta ? contiguous(beta) : null;
  const pr = params(B * S, S, K, D, beta !== null);
  rt.dispatch({
    kernel: kernel('vlad_aggregate_backward_norm', wg),
    buffers: { y: yc.buffer, norms: nc.buffer, dy: dyc.buffer, dv: dv.buffer },
    params: pr,
    workgroups: grid1d(B),
    shapes: `${what} wg ${wg}`,
  });
  rt.dispatch({
    kernel: kernel('vlad_aggregate_backward_frames', wg),
    // NetVLAD: beta is unread and dbeta unwritten; they borrow buffers this dispatch does not
    // write otherwise (writable bindings must not alias): r's and the norms'.
    buffers: { r: rc.buffer, beta: (bc ?? rc).buffer, dv: dv.buffer, dr: dr.buffer, dbeta: (dbeta ?? nc).buffer },
    params: pr,
    workgroups: grid1d(B * S),
    shapes: `${what} wg ${wg}`,
  });
  [[rc, r], [yc, y], [nc, norms], [dyc, dy]].forEach(([cp, t]) => cp !== t && cp.dispose());
  if (bc && bc !== beta) bc.dispose();
  dv.dispose();
  return { dr, dbeta };
}
