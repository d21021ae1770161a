// The fused Bi-LSTM recurrence (shaders/lstm.wgsl, src/autograd/ops/lstm.ts) against the float64
// reference (test/reference/lstm.ts), whose backward is checked by finite differences first;
// odd sizes, one step (no product with W_hh), and the recurrence composed from elementwise ops
// (BiLSTM.composed) as a second oracle on a whole Bi-LSTM. The module against torch.nn.LSTM is
// in test/video-models.test.ts.
import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import { Tensor, backward } from '../src/autograd/index.js';
import { lstmRecurrence } from '../src/autograd/ops/lstm.js';
import { lstmCellForward, lstmState } from '../src/kernels/lstm.js';
import { BiLSTM } from '../src/models/bilstm.js';
import { ParameterStore } from '../src/models/parameters.js';
import { lstmRecurrenceRef, lstmRecurrenceBackwardRef, type LstmRefShape } from './reference/lstm.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

const REL = 1e-4;

function data(sh: LstmRefShape, seed: number) {
  const { S, B, H } = sh;
  return {
    xw: randomArray(2 * S * B * 4 * H, seed, -1.5, 1.5),
    whh: randomArray(2 * 4 * H * H, seed + 1, -0.6, 0.6),
    w: randomArray(2 * B * H, seed + 2),
  };
}

describe('lstm reference', () => {
  it('analytic backward through time matches central differences of the forward', () => {
    const sh = { S: 4, B: 2, H: 3 };
    const { xw, whh, w } = data(sh, 1);
    const fd = refGradFD((xs) => lstmRecurrenceRef(xs[0], xs[1], sh), [toF64(xw), toF64(whh)], w);
    const an = lstmRecurrenceBackwardRef(xw, whh, w, sh);
    expectClose(an.dxw, fd[0], { rel: 1e-7, what: 'dxw' });
    expectClose(an.dwhh, fd[1], { rel: 1e-7, what: 'dwhh' });
  });
});

describe('fused recurrence vs float64 reference', () => {
  for (const sh of [{ S: 5, B: 3, H: 7 }, { S: 1, B: 2, H: 5 }, { S: 15, B: 2, H: 33 }, { S: 3, B: 1, H: 1 }]) {
    it(`S ${sh.S}, B ${sh.B}, H ${sh.H}: h_{S-1}, dxw, dwhh`, async () => {
      const { xw, whh, w } = data(sh, 10 + sh.S + sh.H);
      const { out, grads } = await gpuGrads(([a, b]) => lstmRecurrence(a, b), [
        { data: xw, shape: [2, sh.S, sh.B, 4 * sh.H] },
        { data: whh, shape: [2, 4 * sh.H, sh.H] },
      ], w);
      expectClose(out, lstmRecurrenceRef(xw, whh, sh), { rel: REL, what: 'h' });
      const want = lstmRecurrenceBackwardRef(xw, whh, w, sh);
      expectClose(grads[0]!, want.dxw, { rel: REL, what: 'dxw' });
      if (sh.S === 1) expect(Array.from(grads[1]!)).toEqual(new Array(2 * 4 * sh.H * sh.H).fill(0)); // h_0 = 0
      else expectClose(grads[1]!, want.dwhh, { rel: REL, what: 'dwhh' });
    });
  }

  it('a strided xw view, and a gradient for one input only', async () => {
    const sh = { S: 4, B: 3, H: 6 };
    const { xw, whh, w } = data(sh, 40);
    // xw as a permuted view of a (2, B, S, 4H) tensor
    const base = new Float32Array(xw.length);
    for (let d = 0; d < 2; d++) for (let t = 0; t < sh.S; t++) for (let b = 0; b < sh.B; b++) for (let c = 0; c < 4 * sh.H; c++) {
      base[((d * sh.B + b) * sh.S + t) * 4 * sh.H + c] = xw[((d * sh.S + t) * sh.B + b) * 4 * sh.H + c];
    }
    const { out, grads } = await gpuGrads(([a, b]) => lstmRecurrence(a.view([2, sh.S, sh.B, 4 * sh.H], [sh.B * sh.S * 4 * sh.H, 4 * sh.H, sh.S * 4 * sh.H, 1], 0), b), [
      { data: base, shape: [2, sh.B, sh.S, 4 * sh.H], wantGrad: false },
      { data: whh, shape: [2, 4 * sh.H, sh.H] },
    ], w);
    expectClose(out, lstmRecurrenceRef(xw, whh, sh), { rel: REL, what: 'h (strided xw)' });
    expect(grads[0]).toBeNull();
    expectClose(grads[1]!, lstmRecurrenceBackwardRef(xw, whh, w, sh).dwhh, { rel: REL, what: 'dwhh alone' });
  });

  it('bad shapes are named', () => {
    const xw = Tensor.fromArray(new Float32Array(2 * 3 * 2 * 8), [2, 3, 2, 8]);
    const bad = Tensor.fromArray(new Float32Array(2 * 8 * 3), [2, 8, 3]);
    expect(() => lstmRecurrence(xw, bad)).toThrow(/lstmRecurrence: whh \(2,8,3\) must be \(2, 4·H, H\) = \(2, 8, 2\) for xw \(2,3,2,8\)/);
    const x3 = Tensor.fromArray(new Float32Array(12), [3, 4]);
    expect(() => lstmRecurrence(x3, bad)).toThrow(/lstmRecurrence: xw \(3,4\) is not \(2 directions, S, B, 4·H\)/);
    const st = lstmState(3, 2, 2, rt);
    expect(() => lstmCellForward(xw, null, st, 1)).toThrow(/step 1 needs h_\{t-1\} W_hh\^T/);
    for (const t of [xw, bad, x3, st.gates, st.cs, st.hs]) t.dispose();
  });
});

describe('Bi-LSTM: fused recurrence vs the composed one', () => {
  it('B 4, S 15, D 24, H 24: output and every parameter gradient agree', async () => {
    const m = new BiLSTM(24, 24, 3);
    const store = new ParameterStore(m, { seed: 3 });
    const x = Tensor.fromArray(randomArray(4 * 15 * 24, 50), [4, 15, 24]);
    const w = Tensor.fromArray(randomArray(4 * 48, 51), [4, 48]);
    const results: { y: Float32Array; g: Float32Array[] }[] = [];
    for (const composed of [false, true]) {
      m.composed = composed;
      store.zeroGrad();
      const y = m.forward(x);
      backward(y, w);
      results.push({ y: await y.toArray(), g: await Promise.all(m.namedParameters().map(([, p]) => p.t.grad!.toArray())) });
      y.dispose();
    }
    m.composed = false;
    expectClose(results[0].y, results[1].y, { rel: REL, what: 'output' });
    m.namedParameters().forEach(([name], i) => expectClose(results[0].g[i], results[1].g[i], { rel: REL, what: `grad ${name}` }));
    for (const t of [x, w]) t.dispose();
    store.dispose();
  });
});
