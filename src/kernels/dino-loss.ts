// Launchers for shaders/dino-loss.wgsl: DINO's multi-crop loss, dL/dS and the center EMA in
// four dispatches (teacher softmax, center, student rows, loss sum), no (pairs, B, K) tensor.
//
//   const { loss, gradStudent, newCenter } = dinoLoss(student, teacher, center,
//     { tauS: 0.1, tauT: 0.04, nCrops: 12 });    // student (12·B, K), teacher (2·B, K), center (K)
import source from '../../shaders/dino-loss.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { contiguous } from '../autograd/view-ops.js';
import { ceilDiv, grid1d } from './grid.js';
import type { AdapterSummary } from './adapter-info.js';

type AdapterFamily = AdapterSummary['family'];

/**
 * v1: thread per row, 3 passes. v2: workgroup per row, online (max, sum), 2 passes.
 * v3 (student only; its teacher pass is v2's): workgroup per batch item over all V crops,
 * the teacher rows read once for every crop (V <= 16).
 */
export type DinoLossVersion = 1 | 2 | 3;
export const DINO_LOSS_VERSIONS: readonly DinoLossVersion[] = [1, 2, 3];
/** v3 keeps one accumulator per crop in registers: shaders/dino-loss.wgsl's VMAX. */
export const DINO_V3_MAX_CROPS = 16;

export interface DinoLossPlan {
  version: DinoLossVersion;
  /** Threads per workgroup (a power of two in 1..256). */
  wg: number;
}

export interface DinoLossOpts {
  /** Student temperature τs (DINO: 0.1). */
  tauS: number;
  /** Teacher temperature τt (DINO: 0.04 → 0.07 warm-up; MeDiVLAD 0.06). */
  tauT: number;
  /** Student crops V: 2 global + the locals; the student has V·B rows. */
  nCrops: number;
  /** c' = m c + (1 − m) mean(T); default 0.9 (DINO). */
  centerMomentum?: number;
  /** Write dL/dS (default true; false under no_grad). */
  grad?: boolean;
  /** Force the student version and workgroup size (tests, benchmarks); default planDinoLoss. */
  version?: DinoLossVersion;
  wg?: number;
}

export interface DinoLossResult {
  /** Scalar (shape []). */
  loss: Tensor;
  /** (V·B, K) dL/dS, or null when opts.grad is false. */
  gradStudent: Tensor | null;
  /** (K) the center after the EMA step; the input center is not modified. */
  newCenter: Tensor;
}

/**
 * Plans for the teacher and the student rows (measured by bench/dino-loss.ts; the shader's
 * table). GPU: a workgroup per row (v2), 256 threads (H200, V 12, B 32: 0.89 ms at K = 65536,
 * 0.29 ms at 1024; 64 threads take 3x longer at 65536, v1 and v3 50-80x): V·B rows fill the
 * device and the teacher rows the crops share stay in L2. CPU adapters (lavapipe,
 * SwiftShader: a workgroup runs on one core 8 lanes wide, a barrier is a coroutine switch):
 * thread per row (v1) loses (its lanes read 8 rows K apart, a gather each), v3 wins by reading
 * the teacher rows once for all V crops (V 12, B 32, lavapipe on 2 busy cores: 407 vs 710 ms
 * for v2 at K = 65536, 6.0 vs 6.6 ms at 1024); small workgroups (8), since barriers are dear.
 */
export function planDinoLoss(crops: number, b: number, k: number, family: AdapterFamily = 'gpu'): { teacher: DinoLossPlan; student: DinoLossPlan } {
  if (family !== 'gpu') {
    const teacher: DinoLossPlan = k < 64 ? { version: 1, wg: 8 } : { version: 2, wg: 64 };
    if (k < 64) return { teacher, student: { version: 1, wg: 8 } };
    return { teacher, student: crops <= DINO_V3_MAX_CROPS ? { version: 3, wg: 8 } : { version: 2, wg: 16 } };
  }
  if (k < 64) return { teacher: { version: 1, wg: 64 }, student: { version: 1, wg: 64 } };
  const wg = k <= 256 ? 64 : 256;
  return { teacher: { version: 2, wg }, student: { version: 2, wg } };
}

const WG_FLAT = 256; // dino_center and dino_loss_sum

function checkWg(wg: number, what: string): void {
  if (!(wg >= 1 && wg <= 256 && (wg & (wg - 1)) === 0)) throw new Error(`${what}: workgroup size ${wg} is not a power of two in 1..256`);
}

/** Loss, gradient and center in one go; see the shader header for the math. */
export function dinoLoss(student: Tensor, teacher: Tensor, center: Tensor, opts: DinoLossOpts): DinoLossResult {
  for (const t of [student, teacher, center]) t.assertAlive('dinoLoss');
  const { tauS, tauT, nCrops: V } = opts;
  const m = opts.centerMomentum ?? 0.9;
  const shapes = `student${shapeStr(student.shape)} teacher${shapeStr(teacher.shape)} center${shapeStr(center.shape)} crops ${V}`;
  const what = `dinoLoss ${shapes}`;
  if (student.ndim !== 2 || teacher.ndim !== 2) throw new Error(`${what}: student and teacher must be 2-D (rows, K)`);
  const K = student.shape[1];
  if (!Number.isInteger(V) || V < 2) throw new Error(`${what}: nCrops must be an integer >= 2 (2 global crops + locals)`);
  if (student.shape[0] % V !== 0) throw new Error(`${what}: ${student.shape[0]} student rows are not ${V} crops of a batch`);
  const B = student.shape[0] / V;
  if (B < 1 || K < 1) throw new Error(`${what}: empty batch or rows`);
  if (teacher.shape[0] !== 2 * B || teacher.shape[1] !== K) throw new Error(`${what}: teacher must be (2·B, K) = (${2 * B}, ${K})`);
  if (center.size !== K) throw new Error(`${what}: center must have K = ${K} elements`);
  for (const [name, v] of [['tauS', tauS], ['tauT', tauT]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new Error(`${what}: ${name} must be positive and finite, got ${v}`);
  }
  if (!(m >= 0 && m <= 1)) throw new Error(`${what}: centerMomentum must lie in [0, 1], got ${m}`);
  const rt = student.rt;
  const family = rt.adapter.family;
  const grad = opts.grad ?? true;
  const nPairs = 2 * V - 2;

  const plan = planDinoLoss(V, B, K, family);
  const version = opts.version ?? plan.student.version;
  if (!DINO_LOSS_VERSIONS.includes(version)) throw new Error(`${what}: no version ${version} (have ${DINO_LOSS_VERSIONS.join(', ')})`);
  if (version === 3 && V > DINO_V3_MAX_CROPS) throw new Error(`${what}: version 3 handles at most ${DINO_V3_MAX_CROPS} crops`);
  const forced = (v: DinoLossVersion, wg: number): DinoLossPlan => {
    checkWg(wg, what);
    return { version: v, wg };
  };
  // A forced version forces the teacher too (v1 with v1, v2 with v2 and v3).
  const tp = opts.version || opts.wg ? forced(version === 1 ? 1 : 2, opts.wg ?? (version === 1 ? 8 : 64)) : plan.teacher;
  const sp = opts.version || opts.wg ? forced(version, opts.wg ?? (version === 1 ? 8 : version === 3 ? 16 : 256)) : plan.student;

  const sc = contiguous(student);
  const tc = contiguous(teacher);
  const cc = contiguous(center);
  const probs = Tensor.empty([2 * B, K], rt);
  const rowLoss = Tensor.empty([V * B], rt);
  const loss = Tensor.empty([], rt);
  const newCenter = Tensor.empty([K], rt);
  const gradStudent = grad ? Tensor.empty([V * B, K], rt) : null;
  const params = {
    b: B, k: K, crops: V, _pad: 0, inv_ts: 1 / tauS, inv_tt: 1 / tauT, momentum: m,
    grad_scale: 1 / (tauS * B * nPairs), loss_scale: 1 / (B * nPairs), _pad1: 0, _pad2: 0, _pad3: 0,
  };

  const rowGrid = (pl: DinoLossPlan, rows: number) => (pl.version === 1 ? grid1d(ceilDiv(rows, pl.wg)) : grid1d(pl.version === 3 ? B : rows));

  rt.dispatch({
    kernel: { name: 'dino-loss', source, entry: `dino_teacher_v${tp.version}`, overrides: { WG: tp.wg } },
    buffers: { teacher: tc.buffer, center: cc.buffer, probs: probs.buffer },
    params,
    workgroups: rowGrid(tp, 2 * B),
    shapes: `${shapes} v${tp.version} wg ${tp.wg}`,
  });
  rt.dispatch({
    kernel: { name: 'dino-loss', source, entry: 'dino_center', overrides: { WG: WG_FLAT } },
    buffers: { teacher: tc.buffer, center: cc.buffer, new_center: newCenter.buffer },
    params,
    workgroups: grid1d(ceilDiv(K, WG_FLAT)),
    shapes,
  });
  rt.dispatch({
    kernel: { name: 'dino-loss', source, entry: `dino_student_v${sp.version}`, overrides: { WG: sp.wg, GRAD: grad ? 1 : 0 } },
    // Under no_grad the (unwritten) dS binding still needs a buffer, one this dispatch does not
    // bind otherwise (writable bindings must not alias): the new center's.
    buffers: { student: sc.buffer, probs: probs.buffer, grad: (gradStudent ?? newCenter).buffer, row_loss: rowLoss.buffer },
    params,
    workgroups: rowGrid(sp, V * B),
    shapes: `${shapes} v${sp.version} wg ${sp.wg}`,
  });
  rt.dispatch({
    kernel: { name: 'dino-loss', source, entry: 'dino_loss_sum', overrides: { WG: WG_FLAT } },
    buffers: { row_loss: rowLoss.buffer, loss: loss.buffer },
    params,
    workgroups: [1],
    shapes,
  });
  for (const [c, t] of [[sc, student], [tc, teacher], [cc, center]] as const) if (c !== t) c.dispose();
  probs.dispose();
  rowLoss.dispose();
  return { loss, gradStudent, newCenter };
}
