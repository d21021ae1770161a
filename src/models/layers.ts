// Layers as PyTorch names them, so parameter names match checkpoints: Linear (weight [out, in],
// bias [out]), LayerNorm (weight, bias), Mlp (fc1 -> GELU -> fc2). Initialisation follows
// PyTorch defaults unless a model overrides it (DINO's ViT uses trunc_normal(0.02) / zeros).
import type { Tensor } from '../autograd/tensor.js';
import { linear } from '../autograd/ops/matmul-ops.js';
import { layerNorm } from '../autograd/ops/norm-ops.js';
import { dropout, dropPath, type RngKey } from '../autograd/ops/random-ops.js';
import { Module, type Init, type Parameter } from './module.js';

/** PyTorch's default Linear init: kaiming_uniform(a = sqrt 5) = U(-1/sqrt(in), 1/sqrt(in)); same bound for the bias. */
export function torchLinearInit(fanIn: number): Init {
  const bound = 1 / Math.sqrt(fanIn);
  return { kind: 'uniform', lo: -bound, hi: bound };
}

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; weightInit?: Init; biasInit?: Init } = {},
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], opts.weightInit ?? torchLinearInit(inFeatures));
    this.bias = opts.bias === false ? null : this.param('bias', [outFeatures], opts.biasInit ?? torchLinearInit(inFeatures));
  }

  forward(x: Tensor, opts: { gelu?: boolean; residual?: Tensor | null } = {}): Tensor {
    return linear(x, this.weight.t, this.bias?.t ?? null, opts);
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', [dim], { kind: 'ones' });
    this.bias = this.param('bias', [dim], { kind: 'zeros' });
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight.t, this.bias.t, this.eps);
  }
}

/** fc1 -> GELU (exact) -> fc2, the ViT block's MLP (GELU fused into fc1's epilogue). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(dim: number, hidden: number, init?: { weight: Init; bias: Init }) {
    super();
    this.fc1 = this.child('fc1', new Linear(dim, hidden, init ? { weightInit: init.weight, biasInit: init.bias } : {}));
    this.fc2 = this.child('fc2', new Linear(hidden, dim, init ? { weightInit: init.weight, biasInit: init.bias } : {}));
  }

  /** fc2(gelu(fc1(x))) [+ residual]. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    const h = this.fc1.forward(x, { gelu: true });
    const y = this.fc2.forward(h, { residual });
    h.dispose();
    return y;
  }
}

/** nn.Dropout: identity in eval mode; in training, the key makes the mask reproducible. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(x: Tensor, key: RngKey): Tensor {
    return dropout(x, this.training ? this.p : 0, key);
  }
}

/** Stochastic depth on a residual branch (timm/DINO DropPath): per sample, keep with 1 - p, scale 1/(1 - p). */
export class DropPath extends Module {
  constructor(readonly p: number) {
    super();
  }
  forward(x: Tensor, key: RngKey): Tensor {
    return dropPath(x, this.training ? this.p : 0, key);
  }
}
