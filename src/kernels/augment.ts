// Launchers for shaders/augment.wgsl (multi-crop augmentation) and the host-side sampling of
// every random choice: crop boxes (torchvision RandomResizedCrop.get_params), flips, the
// ColorJitter factors and order, grayscale, blur sigma, solarize. All draws come from the
// project's seeded Rng, so a (seed, step) pair fixes the crops exactly; the GPU gets them as
// a small params buffer of PARAM_STRIDE floats per crop (layout = the P_* constants in WGSL).
//
// Resampling is two separable passes (horizontal then vertical) with the weights computed on
// the fly in the shader, not a weight table: boxes differ per crop, so a table would be
// NC * S * taps floats uploaded every step, while the weights cost ~10 FLOP per tap, which a
// memory-bound pass hides. Separable costs 4·max(scale,1) taps per pass instead of its square.
import source from '../../shaders/augment.wgsl';
import { Tensor, shapeStr } from '../autograd/tensor.js';
import type { Rng } from '../data/rng.js';
import { ceilDiv, grid1d } from './grid.js';

const WG = 256;
export const PARAM_STRIDE = 16;

/** Every random choice for one crop. Pixel box (x0, y0, w, h) in source pixels, integers. */
export interface CropParams {
  src: number; // source image index in the batch
  x0: number;
  y0: number;
  w: number;
  h: number;
  flip: boolean;
  jitter: boolean; // ColorJitter applied (RandomApply p)
  bright: number;
  contrast: number;
  sat: number;
  hue: number;
  order: number[]; // permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue
  gray: boolean;
  solarize: boolean;
  sigma: number; // Gaussian blur sigma, 0 = no blur
}

/** The distribution each crop of one kind is drawn from (DINO's per-crop transforms). */
export interface CropSpec {
  scale: [number, number]; // area fraction of the source
  ratio: [number, number]; // aspect w/h
  flipP: number;
  jitterP: number;
  /** ColorJitter(brightness, contrast, saturation, hue) strengths. */
  jitter: [number, number, number, number];
  grayP: number;
  blurP: number;
  sigma: [number, number];
  solarizeP: number;
}

/** Python's round(): half to even (torchvision rounds the box sides with it). */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * torchvision RandomResizedCrop.get_params: up to 10 tries of area U(scale)·HW with a
 * log-uniform aspect ratio; else the whole image clamped to the ratio range, centred.
 */
export function sampleCropBox(rng: Rng, H: number, W: number, scale: readonly [number, number], ratio: readonly [number, number]): { x0: number; y0: number; w: number; h: number } {
  const area = H * W;
  const lr0 = Math.log(ratio[0]);
  const lr1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(lr0, lr1));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const y0 = rng.int(H - h + 1);
      const x0 = rng.int(W - w + 1);
      return { x0, y0, w, h };
    }
  }
  const inRatio = W / H;
  let w = W;
  let h = H;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { x0: Math.floor((W - w) / 2), y0: Math.floor((H - h) / 2), w, h };
}

/** All draws for one crop of kind `spec` from source image `src` (fixed draw order). */
export function sampleCropParams(rng: Rng, src: number, H: number, W: number, spec: CropSpec): CropParams {
  const box = sampleCropBox(rng, H, W, spec.scale, spec.ratio);
  const flip = rng.chance(spec.flipP);
  const jitter = rng.chance(spec.jitterP);
  const [jb, jc, js, jh] = spec.jitter;
  const bright = rng.uniform(Math.max(0, 1 - jb), 1 + jb);
  const contrast = rng.uniform(Math.max(0, 1 - jc), 1 + jc);
  const sat = rng.uniform(Math.max(0, 1 - js), 1 + js);
  const hue = rng.uniform(-jh, jh);
  const order = rng.shuffle([0, 1, 2, 3]);
  const gray = rng.chance(spec.grayP);
  const blur = rng.chance(spec.blurP);
  const sigma = rng.uniform(spec.sigma[0], spec.sigma[1]);
  const solarize = rng.chance(spec.solarizeP);
  return { src, ...box, flip, jitter, bright, contrast, sat, hue, order, gray, solarize, sigma: blur ? sigma : 0 };
}

/** The GPU params buffer: PARAM_STRIDE floats per crop, the P_* layout of the shader. */
export function packCropParams(ps: readonly CropParams[]): Float32Array {
  const out = new Float32Array(ps.length * PARAM_STRIDE);
  ps.forEach((q, n) => {
    const order = q.order.reduce((acc, op, k) => acc | (op << (2 * k)), 0);
    out.set([q.src, q.x0, q.y0, q.w, q.h, +q.flip, +q.jitter, q.bright, q.contrast, q.sat, q.hue, order, +q.gray, +q.solarize, q.sigma, 0], n * PARAM_STRIDE);
  });
  return out;
}

export interface AugmentOpts {
  size: number; // S, square output side
  mean: readonly number[]; // per channel (C values)
  std: readonly number[];
  /** Cubic coefficient: -0.75 (PyTorch's plain bicubic) or -0.5 (PIL, PyTorch antialias=True). */
  cubicA: number;
}

interface Geometry { n: number; c: number; h: number; w: number; s: number }

function uniforms(g: Geometry, opts: { a?: number; finish?: boolean; mean?: readonly number[]; std?: readonly number[] }) {
  const vec = (v: readonly number[] | undefined, d: number) => [0, 1, 2, 3].map((i) => v?.[Math.min(i, v.length - 1)] ?? d);
  return {
    n: g.n, c: g.c, h: g.h, w: g.w, s: g.s, finish: opts.finish ? 1 : 0, a: opts.a ?? -0.75, _pad: 0,
    mean: vec(opts.mean, 0), stdv: vec(opts.std, 1),
  };
}

function launch(entry: string, g: Geometry, prm: Tensor, x: Tensor, y: Tensor, workgroups: [number, number?, number?], u: ReturnType<typeof uniforms>): void {
  // colour works in place and binds only y (a buffer may not be bound read and read_write at once).
  const buffers: Record<string, GPUBuffer> = x === y ? { prm: prm.buffer, y: y.buffer } : { prm: prm.buffer, x: x.buffer, y: y.buffer };
  y.rt.dispatch({
    kernel: { name: 'augment', source, entry, overrides: { WG } },
    buffers,
    params: u,
    workgroups,
    shapes: `x${shapeStr(x.shape)} y${shapeStr(y.shape)} crops ${g.n}`,
  });
}

function checkInputs(x: Tensor, prm: Tensor, what: string): { B: number; C: number; H: number; W: number; n: number } {
  x.assertAlive(what);
  prm.assertAlive(what);
  if (x.ndim !== 4 || !x.isContiguous) throw new Error(`${what}: images ${x} must be contiguous (B, C, H, W)`);
  if (prm.size % PARAM_STRIDE !== 0) throw new Error(`${what}: params ${prm} is not a multiple of ${PARAM_STRIDE}`);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  if (C !== 1 && C !== 3) throw new Error(`${what}: C = ${C}; supported: 1 (grayscale) or 3 (RGB)`);
  return { B, C, H, W, n: prm.size / PARAM_STRIDE };
}

/** Crop each box, resize to S x S with antialiased bicubic, flip: (B, C, H, W) -> (NC, C, S, S). */
export function resizedCrop(x: Tensor, prm: Tensor, s: number, a = -0.75): Tensor {
  const { C, H, W, n } = checkInputs(x, prm, 'resizedCrop');
  const g = { n, c: C, h: H, w: W, s };
  const t = Tensor.empty([n, C, H, s], x.rt); // rows beyond each box stay unwritten
  const y = Tensor.empty([n, C, s, s], x.rt);
  launch('resize_h', g, prm, x, t, grid1d(ceilDiv(n * C * H * s, WG)), uniforms(g, { a }));
  launch('resize_v', g, prm, t, y, grid1d(ceilDiv(n * C * s * s, WG)), uniforms(g, { a }));
  t.dispose();
  return y;
}

/** In place on crops y (NC, C, S, S): ColorJitter in order, grayscale, and with `finish` solarize + normalize. */
export function colourJitter(y: Tensor, prm: Tensor, finish: { mean: readonly number[]; std: readonly number[] } | null): Tensor {
  const { C, H, n } = checkInputs(y, prm, 'colourJitter');
  if (y.shape[0] !== n || H !== y.shape[3]) throw new Error(`colourJitter: crops ${y} do not match ${n} params of square crops`);
  const g = { n, c: C, h: H, w: H, s: H };
  launch('colour', g, prm, y, y, [n], uniforms(g, { finish: finish !== null, mean: finish?.mean, std: finish?.std }));
  return y;
}

/** Gaussian blur (per-crop sigma, 0 = none), solarize, normalize: returns a new (NC, C, S, S). */
export function blurFinish(y: Tensor, prm: Tensor, mean: readonly number[], std: readonly number[]): Tensor {
  const { C, H, n } = checkInputs(y, prm, 'blurFinish');
  if (H < 5) throw new Error(`blurFinish: crop side ${H} < 5 cannot be reflect-padded by 4`);
  const g = { n, c: C, h: H, w: H, s: H };
  const u = Tensor.empty(y.shape, y.rt);
  const out = Tensor.empty(y.shape, y.rt);
  const grid = grid1d(ceilDiv(y.size, WG));
  launch('blur_h', g, prm, y, u, grid, uniforms(g, {}));
  launch('blur_v_finish', g, prm, u, out, grid, uniforms(g, { mean, std }));
  u.dispose();
  return out;
}

/**
 * The whole per-crop pipeline of DINO's transforms for NC crops of the batch x:
 * resized crop + flip, ColorJitter, grayscale, blur, solarize, normalize. 3 dispatches when no
 * crop is blurred (colour fuses the finish), else 5.
 */
export function augmentCrops(x: Tensor, params: readonly CropParams[], opts: AugmentOpts): Tensor {
  const prm = Tensor.fromArray(packCropParams(params), [params.length, PARAM_STRIDE], x.rt);
  const y = resizedCrop(x, prm, opts.size, opts.cubicA);
  const blur = params.some((q) => q.sigma > 0);
  colourJitter(y, prm, blur ? null : { mean: opts.mean, std: opts.std });
  let out = y;
  if (blur) {
    out = blurFinish(y, prm, opts.mean, opts.std);
    y.dispose();
  }
  prm.dispose();
  return out;
}
