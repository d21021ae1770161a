// Launchers for shaders/lstm.wgsl: one step of the Bi-LSTM recurrence's elementwise cell, both
// directions at once, forward and backward. The autograd op that runs the recurrence (the
// products with W_hh between the steps, and the backward through time) is
// src/autograd/ops/lstm.ts. Layouts are the shader's (see its header).
import source from '../../shaders/lstm.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 64;

/** What the forward steps write and the backward steps read: every step's state. */
export interface LstmState {
  /** i, f, g, o after their nonlinearities, (S, 2, B, 4H). */
  gates: Tensor;
  /** c_t, (S, 2, B, H). */
  cs: Tensor;
  /** h_t, (S, 2, B, H): h_t is the dense (2, B, H) block at t·2·B·H. */
  hs: Tensor;
}

/** S, B, H of the input projections xw (2, S, B, 4H). */
export function lstmDims(xw: Tensor, what: string): { S: number; B: number; H: number } {
  const [two, S, B, H4] = xw.shape;
  if (xw.ndim !== 4 || two !== 2 || H4 % 4 !== 0 || S < 1 || B < 1 || H4 < 4) {
    throw new Error(`${what}: xw ${shapeStr(xw.shape)} is not (2 directions, S, B, 4·H)`);
  }
  return { S, B, H: H4 / 4 };
}

function dense(t: Tensor, shape: number[], what: string, name: string): void {
  t.assertAlive(what);
  if (!t.isContiguous || t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new Error(`${what}: ${name} ${t} must be a dense ${shapeStr(shape)} tensor`);
  }
}

/** The state buffers of a recurrence of S steps (uninitialised; each step writes its own). */
export function lstmState(S: number, B: number, H: number, rt: Tensor['rt']): LstmState {
  return { gates: Tensor.empty([S, 2, B, 4 * H], rt), cs: Tensor.empty([S, 2, B, H], rt), hs: Tensor.empty([S, 2, B, H], rt) };
}

/**
 * Step t forward: z = xw_t (+ hw = h_{t-1} W_hh^T when t > 0), the gates, c_t and h_t into the
 * state. xw dense (2, S, B, 4H), hw dense (2, B, 4H) or null at t = 0.
 */
export function lstmCellForward(xw: Tensor, hw: Tensor | null, st: LstmState, t: number): void {
  const what = 'lstmCellForward';
  const { S, B, H } = lstmDims(xw, what);
  dense(xw, [2, S, B, 4 * H], what, 'xw');
  if (!(Number.isInteger(t) && t >= 0 && t < S)) throw new Error(`${what}: step ${t} not in 0..${S - 1}`);
  if (t > 0) {
    if (!hw) throw new Error(`${what}: step ${t} needs h_{t-1} W_hh^T`);
    dense(hw, [2, B, 4 * H], what, 'hw');
  }
  dense(st.gates, [S, 2, B, 4 * H], what, 'gates');
  dense(st.cs, [S, 2, B, H], what, 'cs');
  dense(st.hs, [S, 2, B, H], what, 'hs');
  xw.rt.dispatch({
    kernel: { name: 'lstm', source, entry: 'lstm_cell_forward', overrides: { WG } },
    // At t = 0 hw is not read; xw fills the binding.
    buffers: { xw: xw.buffer, hw: (hw ?? xw).buffer, gates: st.gates.buffer, cs: st.cs.buffer, hs: st.hs.buffer },
    params: { b: B, s: S, h: H, t },
    workgroups: grid1d(ceilDiv(2 * B * H, WG)),
    shapes: `${what} S ${S} B ${B} H ${H}`,
  });
}

/**
 * Step t backward: from dh = dL/dh_t and dc = dL/dc_t (null at t = S - 1, where it is 0), dz_t
 * into dxw (2, S, B, 4H) and dz (2, B, 4H), and dL/dc_{t-1} into dcPrev (2, B, H).
 */
export function lstmCellBackward(st: LstmState, dh: Tensor, dc: Tensor | null, t: number, dxw: Tensor, dz: Tensor, dcPrev: Tensor): void {
  const what = 'lstmCellBackward';
  const [S, , B, H4] = st.gates.shape;
  const H = H4 / 4;
  if (!(Number.isInteger(t) && t >= 0 && t < S)) throw new Error(`${what}: step ${t} not in 0..${S - 1}`);
  dense(dh, [2, B, H], what, 'dh');
  if (t < S - 1) {
    if (!dc) throw new Error(`${what}: step ${t} needs dL/dc_t`);
    dense(dc, [2, B, H], what, 'dc');
  }
  dense(dxw, [2, S, B, 4 * H], what, 'dxw');
  dense(dz, [2, B, 4 * H], what, 'dz');
  dense(dcPrev, [2, B, H], what, 'dcPrev');
  dh.rt.dispatch({
    kernel: { name: 'lstm', source, entry: 'lstm_cell_backward', overrides: { WG } },
    // At t = S - 1 dc is not read; dh fills the binding.
    buffers: { gates: st.gates.buffer, cs: st.cs.buffer, dh: dh.buffer, dc: (dc ?? dh).buffer, dxw: dxw.buffer, dz: dz.buffer, dc_prev: dcPrev.buffer },
    params: { b: B, s: S, h: H, t },
    workgroups: grid1d(ceilDiv(2 * B * H, WG)),
    shapes: `${what} S ${S} B ${B} H ${H}`,
  });
}
