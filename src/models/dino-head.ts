// DINO's projection head (SPEC §9, DINO's vision_transformer.DINOHead without BN), with DINO's
// parameter names so checkpoints load by name:
//
//   mlp.0  Linear(in -> hidden) -> GELU -> mlp.2 Linear(hidden -> hidden) -> GELU -> ... ->
//   mlp.{2(L-1)} Linear(hidden -> bottleneck)             (L = nlayers; L = 1: `mlp` is one Linear)
//   z = x / max(||x||, 1e-12)                              (F.normalize over the last axis)
//   y = z W^T,  W = g ⊙ v / ||v||_row                      (weight_norm(Linear(bottleneck -> out, bias=False)))
//
// Parameters: mlp.*.weight / .bias, last_layer.weight_g (out, 1), last_layer.weight_v (out, bottleneck).
// The weight norm is built from recorded ops (l2Normalize over v's rows, a broadcast multiply
// by g, then linear), so gradients reach v, and g when it is trainable. norm_last_layer = true
// freezes g (Parameter trainable = false); it keeps its loaded values (1 at init).
//
// Memory: W is materialised per forward: out x bottleneck floats, 64 MiB for 65536 x 256 (two
// such temporaries: v/||v|| and g ⊙ that), inside one binding's 128 MiB limit.
import type { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { Module, type Parameter } from './module.js';
import { Linear, torchLinearInit } from './layers.js';

export interface DinoHeadConfig {
  inDim: number;
  /** DINO: 65536 (SPEC §9); small for tiny runs. */
  outDim: number;
  /** Linear layers in the MLP (DINO: 3). */
  nlayers: number;
  hiddenDim: number;
  bottleneckDim: number;
  /** Freeze weight_g (DINO's default and MeDiVLAD stage 1). */
  normLastLayer: boolean;
}

export const DINO_HEAD_DEFAULTS: Omit<DinoHeadConfig, 'inDim'> = {
  outDim: 65536,
  nlayers: 3,
  hiddenDim: 2048,
  bottleneckDim: 256,
  normLastLayer: true,
};

const TRUNC = { kind: 'truncNormal', std: 0.02 } as const;
const ZEROS = { kind: 'zeros' } as const;

/** The MLP as nn.Sequential names it: Linears at even indices (GELUs at the odd ones hold no parameters). */
class MlpStack extends Module {
  readonly layers: Linear[] = [];
  constructor(dims: number[]) {
    super();
    for (let i = 0; i + 1 < dims.length; i++) {
      this.layers.push(this.child(String(2 * i), new Linear(dims[i], dims[i + 1], { weightInit: TRUNC, biasInit: ZEROS })));
    }
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      let h = x;
      this.layers.forEach((l, i) => {
        h = l.forward(h, { gelu: i < this.layers.length - 1 });
      });
      return h;
    });
  }
}

/** weight_norm(Linear(in -> out, bias = False)): W = g ⊙ v / ||v||_row. */
export class WeightNormLinear extends Module {
  readonly weight_g: Parameter;
  readonly weight_v: Parameter;
  constructor(readonly inFeatures: number, readonly outFeatures: number, frozenG: boolean) {
    super();
    // weight_norm registers g then v (g = ||v|| there; DINO then fills g with 1).
    this.weight_g = this.param('weight_g', [outFeatures, 1], { kind: 'ones' }, { trainable: !frozenG });
    this.weight_v = this.param('weight_v', [outFeatures, inFeatures], torchLinearInit(inFeatures));
  }

  /** The effective weight (out, in). */
  weight(): Tensor {
    return scope(() => A.mul(A.l2Normalize(this.weight_v.t, 1e-12), this.weight_g.t));
  }

  /** x (..., in) -> (..., out). */
  forward(x: Tensor): Tensor {
    return scope(() => A.linear(x, this.weight(), null));
  }
}

export class DINOHead extends Module {
  readonly cfg: DinoHeadConfig;
  /** A Linear when nlayers = 1 (DINO names it `mlp.weight`), else the Sequential stack. */
  readonly mlp: MlpStack | Linear;
  readonly last_layer: WeightNormLinear;

  constructor(cfg: Partial<DinoHeadConfig> & { inDim: number }) {
    super();
    const c: DinoHeadConfig = { ...DINO_HEAD_DEFAULTS, ...cfg };
    if (!Number.isInteger(c.nlayers) || c.nlayers < 1) throw new Error(`DINOHead: nlayers ${c.nlayers} must be an integer >= 1`);
    this.cfg = c;
    if (c.nlayers === 1) {
      this.mlp = this.child('mlp', new Linear(c.inDim, c.bottleneckDim, { weightInit: TRUNC, biasInit: ZEROS }));
    } else {
      const dims = [c.inDim, ...Array<number>(c.nlayers - 1).fill(c.hiddenDim), c.bottleneckDim];
      this.mlp = this.child('mlp', new MlpStack(dims));
    }
    this.last_layer = this.child('last_layer', new WeightNormLinear(c.bottleneckDim, c.outDim, c.normLastLayer));
  }

  /** x (B, in) -> logits (B, out). */
  forward(x: Tensor): Tensor {
    return scope(() => {
      const h = this.mlp.forward(x); // (B, bottleneck)
      return this.last_layer.forward(A.l2Normalize(h, 1e-12)); // (B, out)
    });
  }
}
