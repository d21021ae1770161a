// The DINO network: backbone (ViT) + projection head, with DINO's module names so checkpoint
// keys read `backbone.*` / `head.*` (the teacher's layout in DINO's full checkpoint).
// Crops are run grouped by resolution (all globals in one batch, all locals in another), the
// CLS features concatenated, and the head applied once, as DINO's MultiCropWrapper does.
import type { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { Module } from '../models/module.js';
import { VisionTransformer, type VitConfig } from '../models/vit.js';
import { DINOHead } from '../models/dino-head.js';
import type { RngKey } from '../autograd/ops/random-ops.js';

export interface HeadConfig {
  outDim: number;
  hiddenDim: number;
  bottleneckDim: number;
  normLastLayer: boolean;
}

export class DinoModel extends Module {
  readonly backbone: VisionTransformer;
  readonly head: DINOHead;
  constructor(vit: VitConfig, head: HeadConfig) {
    super();
    this.backbone = this.child('backbone', new VisionTransformer(vit));
    this.head = this.child(
      'head',
      new DINOHead({ inDim: vit.embedDim, outDim: head.outDim, hiddenDim: head.hiddenDim, bottleneckDim: head.bottleneckDim, normLastLayer: head.normLastLayer }),
    );
  }

  /** Crop groups of equal resolution, each (B_g, C, S_g, S_g) -> logits (sum B_g, outDim), in group order. */
  forwardCrops(groups: Tensor[][], rng?: RngKey): Tensor {
    return scope(() => {
      const feats = groups
        .filter((g) => g.length > 0)
        .map((g, gi) => {
          const x = g.length === 1 ? g[0] : A.concat(g, 0);
          return this.backbone.forward(x, rng ? { rng: { seed: rng.seed, stream: rng.stream * 8 + gi } } : {});
        });
      const f = feats.length === 1 ? feats[0] : A.concat(feats, 0);
      return this.head.forward(f);
    });
  }
}
