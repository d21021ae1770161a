// AdamW benchmark: the fused optimizer of shaders/optimizer.wgsl over every parameter of ViT-S/8
// (21.67 M in one flat bucket, ~150 tensors), with DINO's per-tensor clipping at 3.0.
//
// Rows:
//   adamw kernels   the three dispatches of one step: sumsq_segments (||g_s||² per tensor),
//                   clip_coefs, adamw_step, on the optimizer's segment table. The number that
//                   measures the kernels.
//   AdamW.step()    the optimizer as the training loop calls it (src/train/optim.ts): the same
//                   three dispatches plus the upload of the per-segment bias corrections, which
//                   flushes the batch, so this row is always wall-clocked.
// No peer: tfjs has no AdamW with decoupled weight decay and per-tensor clipping over a flat
//   buffer; a per-tensor composition would be ~15 ops x 150 tensors, not a kernel comparison.
// Bytes: sumsq reads g (4 per element); the step reads p, g, m, v and writes p, m, v (28): 32 per
//   parameter. GB/s is that over the median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { VisionTransformer, VIT_PRESETS } from '../src/models/vit.js';
import { ParameterStore } from '../src/models/parameters.js';
import { AdamW } from '../src/train/optim.js';
import { fill } from '../src/kernels/elementwise.js';
import { adamwStep, gradNormsAndCoefs, type SegmentTable } from '../src/kernels/optimizer.js';
import { progress, type BenchRow } from './harness.js';
import { seeded, timeOurs, ourFields } from './calibrate.js';
import type { BenchOpts } from './dino-loss.js';

const HYPER = { lr: 5e-4, wd: 0.04, b1: 0.9, b2: 0.999, eps: 1e-8 };
const CLIP = 3.0;

function u32(values: number[], rt: Runtime): Tensor {
  const u = Uint32Array.from(values);
  return Tensor.fromArray(new Float32Array(u.buffer), [u.length], rt);
}

export async function benchAdamw(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const want = (k: string, shape: string) => !opts.filter || opts.filter.test(`${k} ${shape}`);
  const rows: BenchRow[] = [];
  // Count first (cheap), build the 87 MB store only if a row is wanted.
  const vit = new VisionTransformer(VIT_PRESETS['vit-s8']);
  const total = vit.namedParameters().reduce((s, [, p]) => s + p.size, 0);
  const nT = vit.namedParameters().length;
  const shape = `ViT-S/8 ${(total / 1e6).toFixed(2)} M params, ${nT} tensors`;
  const kernels = ['adamw kernels (sumsq + clip_coefs + adamw_step)', 'AdamW.step() per-tensor clip'];
  if (!kernels.some((k) => want(k, shape))) return rows;

  progress(`adamw ${shape}: building the parameter store`);
  const store = new ParameterStore(vit, { seed: 0, rt });
  const bytes = 32 * total;
  for (const b of store.buckets) rt.upload(b.grad.buffer, seeded(b.length, -1e-2, 1e-2, 5));

  if (want(kernels[0], shape)) {
    progress(`adamw ${shape}: ${kernels[0]}`);
    for (const b of store.buckets) {
      const segs = b.segments;
      const tab: SegmentTable = {
        starts: u32([...segs.map((s) => s.start), b.length], rt),
        flags: u32(segs.map((s) => (s.param.decay ? 1 : 0)), rt),
        sumsq: fill(Tensor.empty([segs.length], rt), 0),
        coef: fill(Tensor.empty([segs.length], rt), 1),
        bias: Tensor.fromArray(new Float32Array(2 * segs.length).fill(0.5), [2 * segs.length], rt), // 1 - b1^t, sqrt(1 - b2^t)
        nSeg: segs.length,
        total: b.length,
      };
      const m = fill(Tensor.empty([b.length], rt), 0);
      const v = fill(Tensor.empty([b.length], rt), 0);
      const tm = await timeOurs(rt, () => {
        gradNormsAndCoefs(b.grad, tab, 1, CLIP);
        adamwStep(b.param, b.grad, m, v, tab, HYPER);
      }, repeat);
      const bshape = store.buckets.length > 1 ? `${shape}, bucket of ${b.length}` : shape;
      rows.push({ kernel: kernels[0], shape: bshape, ...ourFields(tm, { bytes: 32 * b.length }), params: b.length, segments: segs.length, peers: {} });
      for (const t of [tab.starts, tab.flags, tab.sumsq, tab.coef, tab.bias, m, v]) t.dispose();
    }
  }
  if (want(kernels[1], shape)) {
    progress(`adamw ${shape}: ${kernels[1]}`);
    const opt = new AdamW(store, { lr: HYPER.lr, weightDecay: HYPER.wd });
    const tm = await timeOurs(rt, () => opt.step({ clip: { mode: 'per-tensor', max: CLIP } }), repeat);
    rows.push({ kernel: kernels[1], shape, ...ourFields(tm, { bytes }), params: total, segments: nT, buckets: store.buckets.length, peers: {} });
    opt.dispose();
  }
  store.dispose();
  return rows;
}
