// DINO multi-crop augmentation (DataAugmentationDINO) on the GPU: 2 global + n local crops of
// a batch, every random choice drawn on the host from Rng(hashSeed(seed, step)), so a resumed
// run reproduces each step's crops exactly. The GPU work is src/kernels/augment.ts: all global
// crops in one launch sequence, all local crops in another (3-5 dispatches each).
//
// Draw order (fixed, part of the reproducibility contract): global 1 for samples 0..B-1, then
// global 2, then local 1 .. local n, each crop's draws in sampleCropParams's order.
import { Tensor, shapeStr } from '../autograd/tensor.js';
import { Rng, hashSeed } from '../data/rng.js';
import { augmentCrops, sampleCropParams, type CropParams, type CropSpec } from '../kernels/augment.js';

export interface MultiCropConfig {
  /** Base seed; each step's draws come from hashSeed(seed, step). */
  seed: number;
  /** Global crop side (DINO 224) and local crop side (DINO 96). */
  globalSize: number;
  localSize: number;
  /** Number of local crops (DINO 8 by default, LUS stage 1 uses 10). */
  nLocal: number;
  /** Area fractions: DINO (0.4, 1) / (0.05, 0.4); LUS (0.6, 1) / (0.1, 0.6). */
  globalScale: [number, number];
  localScale: [number, number];
  /** RandomResizedCrop aspect range, 3/4 .. 4/3 everywhere. */
  ratio: [number, number];
  flipP: number;
  /** ColorJitter(0.4, 0.4, 0.2, 0.1), applied with p 0.8. */
  jitter: [number, number, number, number];
  jitterP: number;
  /** RandomGrayscale p: 0.2 in DINO, none in LUS (the frames are gray already). */
  grayP: number;
  /** Gaussian blur p for global 1, global 2, locals. DINO 1.0 / 0.1 / 0.5; LUS effective 0.9 / 0.9 / 0.5 (SPEC §7: inverted-p wrapper). */
  blurP: [number, number, number];
  /** Blur sigma range U(0.1, 2). */
  sigma: [number, number];
  /** Solarize p on global 2 (0.2). */
  solarizeP: number;
  /** Normalize per channel (ImageNet); a C = 1 batch uses the first entry. */
  mean: number[];
  std: number[];
  /**
   * Cubic coefficient of the resampling. -0.5: what DINO's PIL bicubic and torchvision's
   * antialiased tensor path (PyTorch's _upsample_bicubic2d_aa) use, checked against torch in
   * test/augment.test.ts. -0.75 is PyTorch's plain (non-antialiased) bicubic; the kernel takes either.
   */
  cubicA: number;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

const DINO: MultiCropConfig = {
  seed: 42,
  globalSize: 224,
  localSize: 96,
  nLocal: 8,
  globalScale: [0.4, 1],
  localScale: [0.05, 0.4],
  ratio: [3 / 4, 4 / 3],
  flipP: 0.5,
  jitter: [0.4, 0.4, 0.2, 0.1],
  jitterP: 0.8,
  grayP: 0.2,
  blurP: [1.0, 0.1, 0.5],
  sigma: [0.1, 2],
  solarizeP: 0.2,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  cubicA: -0.5,
};

/**
 * LUS stage 1 (SPEC §7): larger scales, 10 locals, no grayscale, blur p 0.9 / 0.9 / 0.5, and the
 * LUS normalisation the DINO stage uses (SPEC §3: 0.326 / 0.228 on every channel), so the
 * pretrained backbone sees the same input statistics in every later stage.
 */
const LUS: MultiCropConfig = {
  ...DINO, globalScale: [0.6, 1], localScale: [0.1, 0.6], nLocal: 10, grayP: 0, blurP: [0.9, 0.9, 0.5],
  mean: [0.326, 0.326, 0.326], std: [0.228, 0.228, 0.228],
};

export const MULTICROP_PRESETS = {
  dino: DINO,
  lus: LUS,
  /**
   * LUS distributions at 64 px globals, 32 px locals, 4 locals. The blur radius is in pixels of
   * the 224 px crop in DINO, so it scales with the resolution (×64/224): an unscaled σ up to 2 px
   * wipes out the thin A/B-lines of a 64 px frame, and the tiny DINO run then learns little
   * (scripts/dino-sweep.ts on lavapipe: teacher k-NN 58.1% vs 44.5% at random init after 300
   * steps with the scaled σ; the unscaled σ gave 45–54% on the same path).
   */
  tiny: {
    ...LUS, globalSize: 64, localSize: 32, nLocal: 4, sigma: [(0.1 * 64) / 224, (2 * 64) / 224],
    // The tiny recipe was chosen (scripts/dino-sweep.ts) with DINO's ImageNet normalisation; one
    // value for all channels (ImageNet's red) so every later stage normalises gray frames alike.
    mean: [0.485, 0.485, 0.485], std: [0.229, 0.229, 0.229],
  },
} satisfies Record<string, MultiCropConfig>;
export type MultiCropPreset = keyof typeof MULTICROP_PRESETS;

export interface CropPlan {
  globals: CropParams[][]; // [2][B]
  locals: CropParams[][]; // [nLocal][B]
}

export class MultiCrop {
  readonly config: MultiCropConfig;

  constructor(config: MultiCropConfig | MultiCropPreset = 'lus', overrides: Partial<MultiCropConfig> = {}) {
    const base = typeof config === 'string' ? MULTICROP_PRESETS[config] : config;
    if (!base) throw new Error(`MultiCrop: unknown preset '${String(config)}' (have: ${Object.keys(MULTICROP_PRESETS).join(', ')})`);
    this.config = { ...base, ...overrides };
    const { globalSize, localSize, nLocal } = this.config;
    if (globalSize < 5 || localSize < 5) throw new Error(`MultiCrop: crop sides ${globalSize}/${localSize} must be >= 5 (blur reflect pad 4)`);
    if (!Number.isInteger(nLocal) || nLocal < 0) throw new Error(`MultiCrop: nLocal ${nLocal} must be a non-negative integer`);
  }

  private spec(scale: [number, number], blurP: number, solarizeP: number): CropSpec {
    const c = this.config;
    return { scale, ratio: c.ratio, flipP: c.flipP, jitterP: c.jitterP, jitter: c.jitter, grayP: c.grayP, blurP, sigma: c.sigma, solarizeP };
  }

  /** Every random choice of step `step` for a batch of B images of H x W (host only). */
  plan(B: number, H: number, W: number, step: number): CropPlan {
    const c = this.config;
    const rng = new Rng(hashSeed(c.seed, step, 0x6d63)); // 'mc'
    const specs = [this.spec(c.globalScale, c.blurP[0], 0), this.spec(c.globalScale, c.blurP[1], c.solarizeP)];
    const local = this.spec(c.localScale, c.blurP[2], 0);
    const draw = (spec: CropSpec) => Array.from({ length: B }, (_, b) => sampleCropParams(rng, b, H, W, spec));
    return { globals: specs.map(draw), locals: Array.from({ length: c.nLocal }, () => draw(local)) };
  }

  /** Crops of images (B, C, H, W) in [0, 1]: globals 2 x (B, C, G, G), locals n x (B, C, L, L), normalized. */
  generate(images: Tensor, step: number): { globals: Tensor[]; locals: Tensor[] } {
    images.assertAlive('MultiCrop.generate');
    if (images.ndim !== 4) throw new Error(`MultiCrop.generate: images ${shapeStr(images.shape)} must be (B, C, H, W)`);
    const [B, C, H, W] = images.shape as [number, number, number, number];
    const c = this.config;
    const plan = this.plan(B, H, W, step);
    const opts = (size: number) => ({ size, mean: c.mean.slice(0, C), std: c.std.slice(0, C), cubicA: c.cubicA });
    const run = (groups: CropParams[][], size: number): Tensor[] => {
      if (groups.length === 0) return [];
      const all = augmentCrops(images, groups.flat(), opts(size)); // (k B, C, size, size)
      // One contiguous tensor per crop (offset views would not count as contiguous for the
      // model's kernels): a buffer copy each, cheap next to the resampling.
      const bytes = B * C * size * size * 4;
      const outs = groups.map((_, k) => {
        const t = Tensor.empty([B, C, size, size], images.rt);
        images.rt.copy({ buffer: all.buffer, offset: k * bytes }, { buffer: t.buffer }, bytes);
        return t;
      });
      all.dispose();
      return outs;
    };
    return { globals: run(plan.globals, c.globalSize), locals: run(plan.locals, c.localSize) };
  }
}
