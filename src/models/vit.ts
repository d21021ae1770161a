// Vision Transformer as in DINO's vision_transformer.py (SPEC §9), with DINO's parameter names
// so checkpoints load by name: cls_token, pos_embed, patch_embed.proj.{weight,bias},
// blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.{weight,bias}, norm.{weight,bias}.
//
// Block (pre-norm):  x += DropPath(proj(Attn(qkv(LN1(x)))));  x += DropPath(fc2(GELU(fc1(LN2(x)))))
// Attention is the fused flash-style kernel on the packed qkv (no N x N matrix is stored).
// The patch embedding (Conv2d, kernel = stride = P) is a patchify copy followed by a matmul
// with the conv weight viewed as (D, C*P*P).
import { Tensor } from '../autograd/tensor.js';
import { scope } from '../autograd/scope.js';
import * as A from '../autograd/index.js';
import { attentionPacked } from '../autograd/ops/attention.js';
import { attentionProbsPacked } from '../kernels/attention.js';
import { Module, ModuleList, type Parameter } from './module.js';
import { Linear, LayerNorm, Mlp, torchLinearInit } from './layers.js';
import { posEmbedMatrix } from './pos-embed.js';
import type { RngKey } from '../autograd/ops/random-ops.js';

export interface VitConfig {
  /** Training resolution the position embedding is laid out for. */
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  /** Stochastic depth rate of the last block (linspace(0, rate, depth)). DINO student: 0.1. */
  dropPathRate: number;
  /** LayerNorm eps: DINO uses 1e-6. */
  eps: number;
}

export const VIT_PRESETS: Record<string, VitConfig> = {
  /** Exactly DINO's vit_small(patch_size=8): 21.67 M parameters. */
  'vit-s8': { imgSize: 224, patchSize: 8, inChans: 3, embedDim: 384, depth: 12, numHeads: 6, mlpRatio: 4, qkvBias: true, dropPathRate: 0, eps: 1e-6 },
  /** A CPU-sized ViT for the software GPU: 64 px, patch 8 (65 tokens), width 128, 4 blocks, 2 heads of 64. */
  tiny: { imgSize: 64, patchSize: 8, inChans: 3, embedDim: 128, depth: 4, numHeads: 2, mlpRatio: 4, qkvBias: true, dropPathRate: 0, eps: 1e-6 },
};

const TRUNC = { kind: 'truncNormal', std: 0.02 } as const;
const ZEROS = { kind: 'zeros' } as const;

export interface ForwardOpts {
  /** Per-step randomness for drop-path; required when a block's drop-path rate is > 0 in training. */
  rng?: RngKey;
}

class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(dim: number, readonly heads: number, qkvBias: boolean) {
    super();
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim, { bias: qkvBias, weightInit: TRUNC, biasInit: ZEROS }));
    this.proj = this.child('proj', new Linear(dim, dim, { weightInit: TRUNC, biasInit: ZEROS }));
  }
}

export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  constructor(cfg: VitConfig, readonly dropPath: number, readonly index: number) {
    super();
    const D = cfg.embedDim;
    this.norm1 = this.child('norm1', new LayerNorm(D, cfg.eps));
    this.attn = this.child('attn', new Attention(D, cfg.numHeads, cfg.qkvBias));
    this.norm2 = this.child('norm2', new LayerNorm(D, cfg.eps));
    this.mlp = this.child('mlp', new Mlp(D, Math.round(D * cfg.mlpRatio), { weight: TRUNC, bias: ZEROS }));
  }

  private residual(x: Tensor, branch: () => Tensor, fused: (res: Tensor) => Tensor, opts: ForwardOpts, which: number): Tensor {
    const p = this.training ? this.dropPath : 0;
    if (p === 0) return fused(x); // the residual add runs in the matmul epilogue
    if (!opts.rng) throw new Error(`block ${this.index}: drop-path ${p} needs ForwardOpts.rng in training`);
    const b = branch();
    const d = A.dropPath(b, p, { seed: opts.rng.seed, stream: opts.rng.stream * 1024 + this.index * 2 + which });
    return A.add(x, d);
  }

  /** x (B, N, D) -> (B, N, D). */
  forward(x: Tensor, opts: ForwardOpts = {}): Tensor {
    return scope(() => {
      const attnOut = () => attentionPacked(this.attn.qkv.forward(this.norm1.forward(x)), this.attn.heads);
      const x1 = this.residual(
        x,
        () => this.attn.proj.forward(attnOut()),
        (res) => this.attn.proj.forward(attnOut(), { residual: res }),
        opts,
        0,
      );
      return this.residual(
        x1,
        () => this.mlp.forward(this.norm2.forward(x1)),
        (res) => this.mlp.forward(this.norm2.forward(x1), res),
        opts,
        1,
      );
    });
  }

  /** The softmax attention (B, H, N, N) of this block for input x (visualisation only). */
  attentionMap(x: Tensor): Tensor {
    return A.noGrad(() => scope(() => attentionProbsPacked(this.attn.qkv.forward(this.norm1.forward(x)), this.attn.heads)));
  }
}

export class VisionTransformer extends Module {
  readonly cls_token: Parameter;
  readonly pos_embed: Parameter;
  readonly patch_embed: PatchEmbed;
  readonly blocks: Block[];
  readonly norm: LayerNorm;
  readonly grid: number;

  constructor(readonly cfg: VitConfig) {
    super();
    const D = cfg.embedDim;
    this.grid = cfg.imgSize / cfg.patchSize;
    if (!Number.isInteger(this.grid)) throw new Error(`ViT: imgSize ${cfg.imgSize} is not a multiple of patch ${cfg.patchSize}`);
    if (D % cfg.numHeads !== 0) throw new Error(`ViT: width ${D} is not divisible by ${cfg.numHeads} heads`);
    this.cls_token = this.param('cls_token', [1, 1, D], TRUNC);
    this.pos_embed = this.param('pos_embed', [1, this.grid * this.grid + 1, D], TRUNC);
    this.patch_embed = this.child('patch_embed', new PatchEmbed(cfg.inChans, D, cfg.patchSize));
    const blocks: Block[] = [];
    for (let i = 0; i < cfg.depth; i++) {
      const rate = cfg.depth > 1 ? (cfg.dropPathRate * i) / (cfg.depth - 1) : 0;
      blocks.push(new Block(cfg, rate, i));
    }
    this.blocks = this.child('blocks', new ModuleList(blocks)).items;
    this.norm = this.child('norm', new LayerNorm(D, cfg.eps));
  }

  /** Token sequence before the blocks: [CLS; patches] + position embedding (interpolated if needed). */
  prepareTokens(img: Tensor): Tensor {
    const [B, C, H, W] = img.shape;
    const P = this.cfg.patchSize;
    if (img.ndim !== 4 || C !== this.cfg.inChans || H % P !== 0 || W % P !== 0) {
      throw new Error(`ViT: input ${img} must be (B, ${this.cfg.inChans}, H, W) with H, W multiples of ${P}`);
    }
    return scope(() => {
      const h = H / P;
      const w = W / P;
      const D = this.cfg.embedDim;
      // Patchify: (B, C, h, P, w, P) -> (B, h, w, C, P, P) -> (B, h*w, C*P*P), as Conv2d reads it.
      const patches = A.reshape(A.permute(A.reshape(img, [B, C, h, P, w, P]), [0, 2, 4, 1, 3, 5]), [B, h * w, C * P * P]);
      const emb = this.patch_embed.proj.forward(patches); // (B, h*w, D)
      const cls = A.expand(this.cls_token.t, [B, 1, D]);
      const tokens = A.concat([cls, emb], 1); // (B, 1 + h*w, D)
      return A.add(tokens, this.positionEmbedding(h, w, H, W));
    });
  }

  private interpCache = new Map<string, Tensor>();

  /** pos_embed for an h x w patch grid (DINO's interpolate_pos_encoding). */
  positionEmbedding(h: number, w: number, H: number, W: number): Tensor {
    const g = this.grid;
    // The parameter itself (a leaf), not a view: a view would carry no gradient edge.
    if (h === g && w === g) return this.pos_embed.t;
    const D = this.cfg.embedDim;
    const key = `${H}x${W}`;
    let m = this.interpCache.get(key);
    if (!m) {
      const mat = posEmbedMatrix(g, H, W, this.cfg.patchSize);
      if (mat.h !== h || mat.w !== w) throw new Error(`ViT: interpolated grid ${mat.h}x${mat.w} does not match ${h}x${w}`);
      m = A.keep(Tensor.fromArray(mat.m, [h * w, g * g]));
      this.interpCache.set(key, m);
    }
    const pe = this.pos_embed.t;
    const clsPos = A.slice(pe, 1, 0, 1); // (1, 1, D)
    const grid = A.reshape(A.slice(pe, 1, 1, g * g + 1), [g * g, D]);
    const interp = A.reshape(A.matmul(m, grid), [1, h * w, D]);
    return A.concat([clsPos, interp], 1);
  }

  /** Token features after every block and the final norm: (B, N, D). */
  forwardTokens(img: Tensor, opts: ForwardOpts = {}): Tensor {
    return scope(() => {
      let x = this.prepareTokens(img);
      for (const b of this.blocks) x = b.forward(x, opts);
      return this.norm.forward(x);
    });
  }

  /** The CLS feature (B, D): last block, final LayerNorm, token 0. */
  forward(img: Tensor, opts: ForwardOpts = {}): Tensor {
    return scope(() => A.contiguous(A.select(this.forwardTokens(img, opts), 1, 0)));
  }

  /** CLS features of the last n blocks, each through the final norm, concatenated: (B, n*D). */
  lastCls(img: Tensor, n: number): Tensor {
    return scope(() => {
      let x = this.prepareTokens(img);
      const outs: Tensor[] = [];
      this.blocks.forEach((b, i) => {
        x = b.forward(x);
        if (i >= this.blocks.length - n) outs.push(A.contiguous(A.select(this.norm.forward(x), 1, 0)));
      });
      return A.concat(outs, 1);
    });
  }

  /** The last block's softmax attention (B, H, N, N) (visualisation, SPEC §9). */
  lastSelfAttention(img: Tensor): Tensor {
    return A.noGrad(() =>
      scope(() => {
        let x = this.prepareTokens(img);
        for (let i = 0; i < this.blocks.length - 1; i++) x = this.blocks[i].forward(x);
        return this.blocks[this.blocks.length - 1].attentionMap(x);
      }),
    );
  }
}

/** Conv2d(C -> D, kernel = stride = P) stored as PyTorch does: weight (D, C, P, P), bias (D). */
export class Linear4d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(readonly inChans: number, readonly outChans: number, readonly patch: number) {
    super();
    const fanIn = inChans * patch * patch;
    this.weight = this.param('weight', [outChans, inChans, patch, patch], torchLinearInit(fanIn));
    this.bias = this.param('bias', [outChans], torchLinearInit(fanIn));
  }

  /** patches (B, L, C*P*P) -> (B, L, D). */
  forward(patches: Tensor): Tensor {
    return scope(() => {
      const w2 = A.reshape(this.weight.t, [this.outChans, this.inChans * this.patch * this.patch]);
      return A.linear(patches, w2, this.bias.t);
    });
  }
}

class PatchEmbed extends Module {
  readonly proj: Linear4d;
  constructor(inChans: number, dim: number, patch: number) {
    super();
    this.proj = this.child('proj', new Linear4d(inChans, dim, patch));
  }
}
