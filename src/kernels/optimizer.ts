// Launchers for shaders/optimizer.wgsl: per-segment gradient norms, clipping coefficients,
// and the fused AdamW / SGD steps over one flat bucket.
import source from '../../shaders/optimizer.wgsl';
import type { Tensor } from '../autograd/tensor.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 256;
/** Elements per thread of adamw_step / sgd_step (OPT_RUN in shaders/optimizer.wgsl). */
const RUN = 8;

/** GPU-side segment table of a bucket (built once, flags re-uploaded when they change). */
export interface SegmentTable {
  starts: Tensor; // (S + 1) u32 bits in an f32 tensor
  flags: Tensor; // (S) u32 bits: bit 0 decay, bit 1 frozen
  sumsq: Tensor; // (S)
  coef: Tensor; // (S)
  /** (2S) per-segment bias corrections (AdamW) or first-step flags (SGD), uploaded per step. */
  bias: Tensor;
  nSeg: number;
  total: number;
}

export interface StepHyper {
  lr: number;
  wd: number;
  b1: number;
  b2: number;
  eps: number;
}

function base(tab: SegmentTable) {
  return { n: tab.total, n_seg: tab.nSeg };
}

const ZERO = { mode: 0, _pad: 0, lr: 0, wd: 0, b1: 0, b2: 0, omb1: 0, omb2: 0, eps: 0, clip: 0 };

/** sumsq[s] = ||grad segment s||^2, then coef[s] by `mode` (0 none, 1 per tensor, 2 global). */
export function gradNormsAndCoefs(grad: Tensor, tab: SegmentTable, mode: 0 | 1 | 2, clip: number): void {
  grad.rt.dispatch({
    kernel: { name: 'optimizer', source, entry: 'sumsq_segments' },
    buffers: { seg_start: tab.starts.buffer, grad: grad.buffer, sumsq: tab.sumsq.buffer },
    workgroups: [tab.nSeg],
    shapes: `P ${tab.total} S ${tab.nSeg}`,
  });
  grad.rt.dispatch({
    kernel: { name: 'optimizer', source, entry: 'clip_coefs' },
    buffers: { seg_flags: tab.flags.buffer, sumsq: tab.sumsq.buffer, coef: tab.coef.buffer },
    params: { ...base(tab), ...ZERO, mode, clip },
    workgroups: [1],
    shapes: `S ${tab.nSeg}`,
  });
}

export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, tab: SegmentTable, h: StepHyper): void {
  param.rt.dispatch({
    kernel: { name: 'optimizer', source, entry: 'adamw_step', overrides: { WG } },
    buffers: {
      seg_start: tab.starts.buffer, seg_flags: tab.flags.buffer, grad: grad.buffer, coef_in: tab.coef.buffer,
      param: param.buffer, m1: m.buffer, m2: v.buffer, seg_bias: tab.bias.buffer,
    },
    params: {
      ...base(tab), ...ZERO, lr: h.lr, wd: h.wd, b1: h.b1, b2: h.b2, omb1: 1 - h.b1, omb2: 1 - h.b2, eps: h.eps,
    },
    workgroups: grid1d(ceilDiv(ceilDiv(tab.total, RUN), WG)),
    shapes: `P ${tab.total} S ${tab.nSeg}`,
  });
}

export function sgdStep(param: Tensor, grad: Tensor, buf: Tensor, tab: SegmentTable, h: { lr: number; wd: number; momentum: number }): void {
  param.rt.dispatch({
    kernel: { name: 'optimizer', source, entry: 'sgd_step', overrides: { WG } },
    buffers: {
      seg_start: tab.starts.buffer, seg_flags: tab.flags.buffer, grad: grad.buffer, coef_in: tab.coef.buffer,
      param: param.buffer, m1: buf.buffer, seg_bias: tab.bias.buffer,
    },
    params: { ...base(tab), ...ZERO, lr: h.lr, wd: h.wd, b1: h.momentum },
    workgroups: grid1d(ceilDiv(ceilDiv(tab.total, RUN), WG)),
    shapes: `P ${tab.total} S ${tab.nSeg}`,
  });
}
