// The Bi-LSTM recurrence as one autograd op (kernels: src/kernels/lstm.ts, shaders/lstm.wgsl):
//
//   lstmRecurrence(xw, whh)   xw (2, S, B, 4H) = W_ih x + b_ih + b_hh of both directions (the
//                             backward direction's frames already reversed), whh (2, 4H, H)
//                             -> h_{S-1} of both directions (2, B, H)
//
// Forward: per step one batched product h_{t-1} W_hh^T (2, B, H) × (2, H, 4H) and one fused
// cell launch. Backward through time: per step one fused cell launch (dz_t, dc_{t-1}) and one
// product dz_t W_hh (dh_{t-1}); then dW_hh = Σ_t dz_t^T h_{t-1} as one batched GEMM over all
// steps, and dxw is the dz of every step, written in xw's layout by the cell kernel. Saved for
// the backward: W_hh and the state of every step (gates, c, h: 6·S·B·H floats per direction).
// The same recurrence composed from the engine's elementwise ops (src/models/bilstm.ts,
// forwardComposed) launches ~8 kernels per step forward and ~3 times that backward, plus a
// zero-padded (2, S, B, 4H) gradient per step for its select(): what this op replaces.
import { Tensor, shapeStr } from '../tensor.js';
import { needsGrad, record } from '../tape.js';
import { contiguous } from '../view-ops.js';
import { matmul as matmulKernel } from '../../kernels/matmul.js';
import { lstmDims, lstmState, lstmCellForward, lstmCellBackward } from '../../kernels/lstm.js';

export function lstmRecurrence(xw: Tensor, whh: Tensor): Tensor {
  const what = 'lstmRecurrence';
  const { S, B, H } = lstmDims(xw, what);
  whh.assertAlive(what);
  if (whh.ndim !== 3 || whh.shape[0] !== 2 || whh.shape[1] !== 4 * H || whh.shape[2] !== H) {
    throw new Error(`${what}: whh ${shapeStr(whh.shape)} must be (2, 4·H, H) = (2, ${4 * H}, ${H}) for xw ${shapeStr(xw.shape)}`);
  }
  const rt = xw.rt;
  const xc = contiguous(xw);
  const st = lstmState(S, B, H, rt);
  const step = 2 * B * H; // elements of one step's h
  const hAt = (t: number) => st.hs.view([2, B, H], [B * H, H, 1], t * step);
  for (let t = 0; t < S; t++) {
    let hw: Tensor | null = null;
    if (t > 0) {
      const hp = hAt(t - 1);
      hw = matmulKernel(hp, whh, { transB: true }); // (2, B, 4H)
      hp.dispose();
    }
    lstmCellForward(xc, hw, st, t);
    hw?.dispose();
  }
  if (xc !== xw) xc.dispose();
  const out = hAt(S - 1); // a view: keeps the state's storage alive as long as it lives
  if (!needsGrad(xw, whh)) {
    st.gates.dispose();
    st.cs.dispose();
    st.hs.dispose();
    return out;
  }
  const saved = [whh.view(), st.gates, st.cs, st.hs];
  return record(what, [xw, whh], out, saved, (g, needs) => {
    const [sw, gates, cs, hs] = saved;
    const state = { gates, cs, hs };
    const dxw = Tensor.empty([2, S, B, 4 * H], rt);
    const dz = Tensor.empty([2, B, 4 * H], rt);
    let dc = Tensor.empty([2, B, H], rt);
    let dcPrev = Tensor.empty([2, B, H], rt);
    let dh = contiguous(g);
    for (let t = S - 1; t >= 0; t--) {
      lstmCellBackward(state, dh, t < S - 1 ? dc : null, t, dxw, dz, dcPrev);
      [dc, dcPrev] = [dcPrev, dc];
      if (t > 0) {
        const next = matmulKernel(dz, sw); // dh_{t-1} = dz_t W_hh, (2, B, H)
        if (dh !== g) dh.dispose();
        dh = next;
      }
    }
    if (dh !== g) dh.dispose();
    for (const t of [dz, dc, dcPrev]) t.dispose();
    let dwhh: Tensor | null = null;
    if (needs[1]) {
      if (S === 1) {
        // h_0 = 0: W_hh takes no part, its gradient is 0.
        dwhh = Tensor.fromArray(new Float32Array(2 * 4 * H * H), [2, 4 * H, H], rt);
      } else {
        // dW_hh = Σ_{t ≥ 1} dz_t^T h_{t-1}: the steps 1..S-1 of dxw per direction against the
        // states 0..S-2 made direction-major, as one (2, 4H, (S-1)·B) × (2, (S-1)·B, H) GEMM.
        const dzs = dxw.view([2, (S - 1) * B, 4 * H], [S * B * 4 * H, 4 * H, 1], B * 4 * H);
        const hv = hs.view([2, S - 1, B, H], [B * H, 2 * B * H, H, 1], 0);
        const hd = contiguous(hv); // (2, S-1, B, H) dense
        const hp = hd.view([2, (S - 1) * B, H], [(S - 1) * B * H, H, 1], 0);
        dwhh = matmulKernel(dzs, hp, { transA: true });
        if (hd !== hv) hd.dispose();
        for (const t of [dzs, hv, hp]) t.dispose();
      }
    }
    if (!needs[0]) dxw.dispose();
    return [needs[0] ? dxw : null, dwhh];
  });
}
