// Bi-LSTM benchmark: the video-level baseline's recurrence as the fused op
// (src/autograd/ops/lstm.ts: per step one product with W_hh and one fused cell kernel, forward
// and backward) against the same recurrence composed from our elementwise ops
// (BiLSTM.composed: ~8 launches per step forward and ~3 times that backward, plus a zero-padded
// gradient per step for select()). Both run the whole module: the input projection, both
// directions, and for "fwd+bwd" the backward to every parameter. No tfjs peer: tfjs-core's Node
// bundle registers no gradients, and its LSTM cell is a layers-API op, not a core kernel.
// Shapes: a batch of B = 8 clips of S = 15 frames (the video stage's), D = H = 128 (the tiny
// preset's features) and 384 (ViT-S/8's). GFLOPS count the products (input projection and
// W_hh per step; twice that again backward): at these sizes the time is mostly launches, which
// is what fusing removes.
// The fused rows carry `paired_vs_unfused` (bench/measure.ts measurePaired), as the attention
// suite's: the ratio to quote on a shared box.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor, backward, noGrad } from '../src/autograd/index.js';
import { BiLSTM } from '../src/models/bilstm.js';
import { ParameterStore } from '../src/models/parameters.js';
import { ourFields, baselineResult, seeded } from './calibrate.js';
import { measure, measurePaired } from './measure.js';
import { addRatios, progress, type BenchRow } from './harness.js';

const B = 8;
const S = 15;

export async function benchLstm(rt: Runtime, opts: { repeat?: number; filter?: RegExp } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 5;
  const rows: BenchRow[] = [];
  const want = (kernel: string, shape: string) => !opts.filter || opts.filter.test(`${kernel} ${shape}`);
  for (const D of [128, 384]) {
    const H = D;
    const shape = `B ${B} S ${S} D ${D} H ${H}`;
    const m = new BiLSTM(D, H, 1);
    const store = new ParameterStore(m, { seed: 1, rt });
    const x = Tensor.fromArray(seeded(B * S * D, -1, 1, 7 + D), [B, S, D], rt);
    const w = Tensor.fromArray(seeded(B * 2 * H, -1, 1, 8 + D), [B, 2 * H], rt);
    const proj = 2 * 2 * S * B * 4 * H * D; // input projection, both directions
    const rec = 2 * 2 * (S - 1) * B * 4 * H * H; // h_{t-1} W_hh^T, steps 1..S-1
    for (const pass of ['fwd', 'fwd+bwd'] as const) {
      const kernel = `bilstm ${pass} (fused recurrence)`;
      const unfusedKernel = `bilstm ${pass} (composed recurrence)`;
      if (!want(kernel, shape) && !want(unfusedKernel, shape)) continue;
      const flop = pass === 'fwd' ? proj + rec : 3 * (proj + rec);
      const launch = (composed: boolean) => () => {
        m.composed = composed;
        if (pass === 'fwd') {
          noGrad(() => m.forward(x)).dispose();
        } else {
          store.zeroGrad();
          const y = m.forward(x);
          backward(y, w);
          y.dispose();
        }
      };
      progress(`lstm ${shape}: ${unfusedKernel}`);
      const tu = await measure(rt, launch(true), { repeat, maxInner: 16 });
      if (want(unfusedKernel, shape)) rows.push({ kernel: unfusedKernel, shape, ...ourFields(tu, { flop }), peers: {}, pass, B, S, D, H });
      progress(`lstm ${shape}: ${kernel}`);
      const tm = await measure(rt, launch(false), { repeat, maxInner: 16 });
      progress(`lstm ${shape}: ${kernel} paired with ${unfusedKernel}`);
      const paired = await measurePaired(rt, launch(false), launch(true), { rounds: repeat, maxInner: 16 });
      if (want(kernel, shape)) {
        rows.push({
          kernel, shape, ...ourFields(tm, { flop }), peers: { unfused: baselineResult(tu, { flop }) }, pass, B, S, D, H, picked: true,
          paired_vs_unfused: paired,
        });
      }
    }
    m.composed = false;
    for (const t of [x, w]) t.dispose();
    store.dispose();
  }
  addRatios(rows);
  return rows;
}
