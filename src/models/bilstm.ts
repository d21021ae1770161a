// The Bi-LSTM baseline's recurrence (SPEC §5: no code was released; this is torch.nn.LSTM with
// bidirectional = True, batch_first = True, one layer, hidden H = D), with torch's names under
// `lstm.`: weight_ih_l0 (4H, D), weight_hh_l0 (4H, H), bias_ih_l0 (4H), bias_hh_l0 (4H), and
// the same with `_reverse` for the backward direction. Gate rows in torch's order i, f, g, o:
//
//   z_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh            (B, 4H), h_0 = c_0 = 0
//   i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
//   c_t = f ⊙ c_{t−1} + i ⊙ g;         h_t = o ⊙ tanh(c_t)
//
// The forward direction runs t = 0 … S−1, the backward one t = S−1 … 0; the result is
// [h_{S−1} forward ; h_0 backward] (B, 2H), torch's h_n[0] and h_n[1].
//
// Cost: the two directions run side by side as a batch of 2 (the backward one on the frames
// reversed): the input projections of every frame are one batched GEMM, then the recurrence
// as one autograd op (src/autograd/ops/lstm.ts): per step one batched (2, B, H) × (2, H, 4H)
// product and one fused cell kernel, and as many backward, all recorded into the same command
// stream (no readback inside the recurrence). `composed = true` runs the recurrence built from
// the engine's elementwise ops instead (about eight launches per step forward, and a
// zero-padded (2, S, B, 4H) gradient per step for its select() backward): the benchmark's
// baseline and a second oracle in the tests.
import type { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { Module, type Parameter } from './module.js';
import { seededInit } from './seeded-init.js';

interface Direction {
  wih: Parameter;
  whh: Parameter;
  bih: Parameter;
  bhh: Parameter;
}

export class BiLSTM extends Module {
  readonly fwd: Direction;
  readonly bwd: Direction;
  /** Run the recurrence composed from elementwise ops instead of the fused op (benchmarks, tests). */
  composed = false;

  constructor(
    readonly inputSize: number,
    readonly hidden: number,
    seed: number,
  ) {
    super();
    const H = hidden;
    // torch's default: every LSTM parameter ~ U(−1/√H, 1/√H).
    const bound = 1 / Math.sqrt(H);
    const make = (suffix: string): Direction => {
      const p = (name: string, shape: number[]) =>
        this.param(name + suffix, shape, seededInit(seed, `lstm.${name}${suffix}`, { kind: 'uniform', lo: -bound, hi: bound }));
      // Registration order = torch's named_parameters order.
      return { wih: p('weight_ih_l0', [4 * H, inputSize]), whh: p('weight_hh_l0', [4 * H, H]), bih: p('bias_ih_l0', [4 * H]), bhh: p('bias_hh_l0', [4 * H]) };
    };
    this.fwd = make('');
    this.bwd = make('_reverse');
  }

  /**
   * x (B, S, D) → [h_fwd ; h_bwd] (B, 2H). Both directions run in the same S steps as a batch of
   * 2: direction 1 reads the frames reversed, so its step t sees frame S−1−t, and each step is
   * one batched (2, B, H) × (2, H, 4H) product and one fused cell launch on (2, B, ·).
   */
  forward(x: Tensor): Tensor {
    const H = this.hidden;
    const [B, S, D] = x.shape;
    return scope(() => {
      const stack2 = (a: Parameter, b: Parameter) => A.stack([a.t, b.t], 0);
      const wih = stack2(this.fwd.wih, this.bwd.wih); // (2, 4H, D)
      const whh = stack2(this.fwd.whh, this.bwd.whh); // (2, 4H, H)
      // b_ih + b_hh once per direction, folded into the input projection.
      const bias = A.reshape(A.stack([A.add(this.fwd.bih.t, this.fwd.bhh.t), A.add(this.bwd.bih.t, this.bwd.bhh.t)], 0), [2, 1, 4 * H]);
      // Frames first, then the same frames reversed: (2S, B, D) in one gather, seen as (2, S·B, D).
      const xs = A.contiguous(A.permute(x, [1, 0, 2])); // (S, B, D)
      const order = [...Array(S).keys(), ...[...Array(S).keys()].reverse()];
      const x2 = A.reshape(A.gather(xs, 0, order), [2, S * B, D]);
      const xw = A.reshape(A.add(A.matmul(x2, wih, { transB: true }), bias), [2, S, B, 4 * H]); // W_ih x + b
      const h = this.composed ? recurrenceComposed(xw, whh, S, H) : A.lstmRecurrence(xw, whh);
      return A.reshape(A.contiguous(A.permute(h, [1, 0, 2])), [B, 2 * H]); // [fwd ; bwd] per video
    });
  }
}

/**
 * The recurrence composed from the engine's ops (a product, a sigmoid, a tanh, slices, products
 * and sums per step; their backward rules give the gradient): what A.lstmRecurrence fuses, kept
 * as its benchmark baseline and a second oracle in the tests.
 */
function recurrenceComposed(xw: Tensor, whh: Tensor, S: number, H: number): Tensor {
  let h: Tensor | null = null; // (2, B, H); h_0 = c_0 = 0 needs no product
  let c: Tensor | null = null;
  for (let t = 0; t < S; t++) {
    const xt = A.select(xw, 1, t); // (2, B, 4H)
    const z = h ? A.add(A.matmul(h, whh, { transB: true }), xt) : xt;
    const sg = A.sigmoid(z); // σ of all four blocks; the g block's is unused
    const i = A.slice(sg, 2, 0, H);
    const f = A.slice(sg, 2, H, 2 * H);
    const g = A.tanh(A.slice(z, 2, 2 * H, 3 * H));
    const o = A.slice(sg, 2, 3 * H, 4 * H);
    c = c ? A.add(A.mul(f, c), A.mul(i, g)) : A.mul(i, g);
    h = A.mul(o, A.tanh(c));
  }
  return h!;
}
