// The dual-level VLAD layer (SPEC §4) and NetVLAD (SPEC §5: the same layer with β ≡ 1), with
// the original's parameter names under `vlad.`:
//
//   centroids c (K, D)     conv.weight (K, D, 1, 1), conv.bias (K)     [dual only:]
//   V.0 Linear(Kd → Kd)    w.0 Linear(Kd → 1)                          Kd = K·D
//
// Forward for x (B, S, D), as SPEC §4 steps 1-7:
//   { a, r } = vladAssignResidual(x̂ → softmax_k(w_k·x̂ + b_k), r_ik = a_ik (x̂_i − c_k))   fused kernel
//   e = w(tanh(V r)) / 1.2;  β = softmax over the S frames                            engine ops
//   y = norm(intra-norm(Σ_i β_i r_i))  (B, Kd)                                         fused kernel
// NetVLAD sums r over frames; because of the intra-normalisation that equals β ≡ 1/S, which
// is the β it reports.
//
// Init: c ~ U[0, 1), then the conv from the centroids, w_k = 2α c_k and b_k = −α ‖c_k‖ (the
// norm, not its square: the lyakaap quirk MeDiVLAD copies); V, w: PyTorch's default Linear.
// All values come from the model seed (seeded-init.ts); setCentroids() replaces c and re-derives
// the conv, before or after a ParameterStore has materialised the parameters.
import type { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { vladAssignResidual, vladAggregate } from '../autograd/ops/vlad.js';
import { Module, ModuleList, type Parameter } from './module.js';
import { Linear, torchLinearInit } from './layers.js';
import { paramRng, seededInit } from './seeded-init.js';

/** SPEC §4 step 4: frame scores are divided by 1.2 before the softmax over frames. */
export const FRAME_TEMPERATURE = 1.2;

/** nn.Conv2d(D, K, kernel_size=1): a Linear(D → K) stored as (K, D, 1, 1). */
class Conv1x1 extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(inCh: number, outCh: number, weight: (out: Float32Array) => void, bias: (out: Float32Array) => void) {
    super();
    this.weight = this.param('weight', [outCh, inCh, 1, 1], { kind: 'fn', fill: weight });
    this.bias = this.param('bias', [outCh], { kind: 'fn', fill: bias });
  }
}

export class VladLayer extends Module {
  readonly centroids: Parameter;
  readonly conv: Conv1x1;
  /** Frame-attention MLP (DualVLAD only): V.0 then tanh, w.0. */
  readonly V: ModuleList<Linear> | null = null;
  readonly w: ModuleList<Linear> | null = null;
  /** Host copy of the centroids the parameters start from (K, D). */
  private initial: Float32Array;

  constructor(
    readonly clusters: number,
    readonly dim: number,
    readonly alpha: number,
    /** true: DualVLAD (learned β); false: NetVLAD (plain sum). */
    readonly dual: boolean,
    seed: number,
  ) {
    super();
    const K = clusters;
    const D = dim;
    const rng = paramRng(seed, 'vlad.centroids');
    this.initial = Float32Array.from({ length: K * D }, () => rng.next()); // U[0, 1)
    this.centroids = this.param('centroids', [K, D], { kind: 'fn', fill: (out) => out.set(this.initial) });
    this.conv = this.child('conv', new Conv1x1(D, K, (out) => out.set(this.convFromCentroids().w), (out) => out.set(this.convFromCentroids().b)));
    if (dual) {
      const kd = K * D;
      const lin = (name: string, n: number) =>
        new Linear(kd, n, {
          weightInit: seededInit(seed, `vlad.${name}.0.weight`, torchLinearInit(kd)),
          biasInit: seededInit(seed, `vlad.${name}.0.bias`, torchLinearInit(kd)),
        });
      this.V = this.child('V', new ModuleList([lin('V', kd)]));
      this.w = this.child('w', new ModuleList([lin('w', 1)]));
    }
  }

  /** SPEC §4: w_k = 2α c_k, b_k = −α ‖c_k‖ from the current initial centroids. */
  private convFromCentroids(): { w: Float32Array; b: Float32Array } {
    const { clusters: K, dim: D, alpha } = this;
    const c = this.initial;
    const w = new Float32Array(K * D);
    const b = new Float32Array(K);
    for (let k = 0; k < K; k++) {
      let ss = 0;
      for (let j = 0; j < D; j++) {
        w[k * D + j] = 2 * alpha * c[k * D + j];
        ss += c[k * D + j] * c[k * D + j];
      }
      b[k] = -alpha * Math.sqrt(ss);
    }
    return { w, b };
  }

  /** Start from these centroids (K·D values): sets c and re-derives the conv (uploads if materialised). */
  setCentroids(centroids: Float32Array): void {
    const { clusters: K, dim: D } = this;
    if (centroids.length !== K * D) throw new Error(`VladLayer.setCentroids: ${centroids.length} values, expected K·D = ${K}·${D} = ${K * D}`);
    const bad = centroids.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`VladLayer.setCentroids: centroid value ${bad} (cluster ${Math.floor(bad / D)}) is ${centroids[bad]}`);
    this.initial = Float32Array.from(centroids);
    const { w, b } = this.convFromCentroids();
    for (const [p, v] of [[this.centroids, this.initial], [this.conv.weight, w], [this.conv.bias, b]] as const) {
      const t = p.tensor;
      if (t) t.rt.upload(t.buffer, v, t.offset * 4); // upload() flushes pending work first
    }
  }

  /** x (B, S, D) → descriptor (B, K·D) and β (B, S). */
  forward(x: Tensor): { desc: Tensor; beta: Tensor } {
    const K = this.clusters;
    const D = this.dim;
    const [B, S] = x.shape;
    return scope(() => {
      const w = A.reshape(this.conv.weight.t, [K, D]);
      const { r } = vladAssignResidual(x, w, this.conv.bias.t, this.centroids.t); // (B, S, K·D)
      if (!this.V || !this.w) {
        return { desc: vladAggregate(r, null, K), beta: A.full([B, S], 1 / S, x) };
      }
      const h = A.tanh(this.V.items[0].forward(A.reshape(r, [B * S, K * D]))); // (B·S, Kd)
      const e = A.reshape(this.w.items[0].forward(h), [B, S]); // frame scores
      const beta = A.softmax(e, -1, FRAME_TEMPERATURE); // softmax over frames of e / 1.2
      return { desc: vladAggregate(r, beta, K), beta };
    });
  }
}
