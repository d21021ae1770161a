import { describe, it, beforeAll, expect } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { loadFixture } from './helpers/fixtures.js';
import { Tensor } from '../src/autograd/tensor.js';
import { Rng } from '../src/data/rng.js';
import {
  augmentCrops, blurFinish, colourJitter, packCropParams, resizedCrop, sampleCropBox, sampleCropParams, PARAM_STRIDE,
  type CropParams, type CropSpec,
} from '../src/kernels/augment.js';
import { MultiCrop, MULTICROP_PRESETS } from '../src/train/multicrop.js';
import { blurRef, colourRef, cubicRef, finishRef, resizedCropRef } from './reference/augment.js';
import type { Runtime } from '../src/kernels/runtime.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

// Every switch on: jitter always, both flips, grayscale sometimes, blur and solarize often.
const SPEC: CropSpec = {
  scale: [0.05, 1], ratio: [3 / 4, 4 / 3], flipP: 0.5, jitterP: 1, jitter: [0.4, 0.4, 0.2, 0.1],
  grayP: 0.3, blurP: 0.7, sigma: [0.1, 2], solarizeP: 0.5,
};

function crops(n: number, B: number, H: number, W: number, seed: number, spec = SPEC): CropParams[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, k) => sampleCropParams(rng, k % B, H, W, spec));
}

function upload(ps: CropParams[]): Tensor {
  return Tensor.fromArray(packCropParams(ps), [ps.length, PARAM_STRIDE]);
}

describe('augment: resized crop (antialiased bicubic, float64 reference)', () => {
  for (const C of [3, 1]) {
    for (const s of [17, 9]) {
      for (const a of [-0.5, -0.75]) {
        it(`B=3 C=${C} 37x37 -> ${s} (a=${a}), sampled boxes plus full/4x/upscale`, async () => {
          const [B, H, W] = [3, 37, 37];
          const xs = randomArray(B * C * H * W, 11 * C + s, 0, 1);
          const ps = crops(9, B, H, W, s + C);
          ps.push({ ...ps[0], x0: 0, y0: 0, w: 37, h: 37, flip: false }); // ~4x / 2x down
          ps.push({ ...ps[1], x0: 30, y0: 31, w: 7, h: 5, flip: true }); // upscale, corner box
          ps.push({ ...ps[2], x0: 0, y0: 3, w: 37, h: 34, flip: true });
          const x = Tensor.fromArray(xs, [B, C, H, W]);
          const prm = upload(ps);
          const y = resizedCrop(x, prm, s, a);
          expect(y.shape).toEqual([ps.length, C, s, s]);
          expectClose(await y.toArray(), resizedCropRef(xs, B, C, H, W, ps, s, a), { rel: 1e-5, what: `resize C=${C} s=${s}` });
          for (const t of [x, prm, y]) t.dispose();
        });
      }
    }
  }

  it('matches PyTorch interpolate(bicubic, antialias=True) on crop boxes (a = -0.5)', async () => {
    const fx = loadFixture('augment');
    const x = fx.get('x');
    const boxes = fx.meta.boxes as [number, number, number, number, number][];
    const xt = Tensor.fromArray(x.data, x.shape);
    for (const [k, [x0, y0, w, h, s]] of boxes.entries()) {
      const ps = [{ ...crops(1, 1, 37, 37, 1)[0], x0, y0, w, h, flip: false }];
      const prm = upload(ps);
      const y = resizedCrop(xt, prm, s, -0.5);
      expectClose(await y.toArray(), fx.get(`crop${k}`).f64, { rel: 1e-5, what: `torch crop${k} ${w}x${h}->${s}` });
      prm.dispose();
      y.dispose();
    }
    xt.dispose();
  });

  it('a 1-pixel checkerboard downscaled ~4x averages to ~0.5 (antialiased), where a fixed 4-tap bicubic aliases', async () => {
    // 66 -> 16 (scale 4.125): the output grid drifts against the pattern, so a filter that does
    // not widen with the scale samples it at varying phases and aliases into a strong pattern.
    const [n, s] = [66, 16];
    const xs = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) xs[i * n + j] = (i + j) % 2;
    const x = Tensor.fromArray(xs, [1, 1, n, n]);
    const prm = upload([{ ...crops(1, 1, n, n, 2)[0], x0: 0, y0: 0, w: n, h: n, flip: false }]);
    for (const a of [-0.5, -0.75]) {
      const y = resizedCrop(x, prm, s, a);
      const dev = Math.max(...Array.from(await y.toArray(), (v) => Math.abs(v - 0.5)));
      expect(dev, `antialiased: max |y - 0.5| at a=${a}`).toBeLessThan(0.02);
      y.dispose();
      // The same grid with the 4-tap (unwidened) kernel, in float64.
      let aliased = 0;
      for (let i = 0; i < s; i++) {
        for (let o = 0; o < s; o++) {
          const [ci, co] = [(n / s) * (i + 0.5) - 0.5, (n / s) * (o + 0.5) - 0.5];
          let acc = 0;
          for (let q = Math.floor(ci) - 1; q <= Math.floor(ci) + 2; q++) {
            for (let r = Math.floor(co) - 1; r <= Math.floor(co) + 2; r++) acc += cubicRef(q - ci, a) * cubicRef(r - co, a) * ((q + r) % 2);
          }
          aliased = Math.max(aliased, Math.abs(acc - 0.5));
        }
      }
      expect(aliased, `unwidened kernel aliases at a=${a}`).toBeGreaterThan(0.2);
    }
    x.dispose();
    prm.dispose();
  });
});

describe('augment: colour, blur, solarize, normalize (float64 reference)', () => {
  for (const C of [3, 1]) {
    it(`ColorJitter in per-crop order + grayscale, C=${C}, 12 crops of 17`, async () => {
      const s = 17;
      const ps = crops(12, 3, 37, 37, 40 + C);
      ps[0].order = [1, 0, 3, 2]; // contrast first: mean of the unmodified crop
      ps[1].jitter = false;
      const ys = randomArray(ps.length * C * s * s, 5 + C, 0, 1);
      const prm = upload(ps);
      const y = Tensor.fromArray(ys, [ps.length, C, s, s]);
      colourJitter(y, prm, null);
      expectClose(await y.toArray(), colourRef(ys, C, s, ps), { rel: 1e-5, what: `colour C=${C}` });
      // Fused finish (solarize + normalize) in the same launch.
      const y2 = Tensor.fromArray(ys, [ps.length, C, s, s]);
      colourJitter(y2, prm, { mean: MEAN.slice(0, C), std: STD.slice(0, C) });
      const want = finishRef(colourRef(ys, C, s, ps), C, s, ps, MEAN, STD);
      expectClose(await y2.toArray(), want, { rel: 1e-5, what: `colour+finish C=${C}` });
      for (const t of [prm, y, y2]) t.dispose();
    });

    it(`Gaussian blur 9 (reflect, per-crop sigma incl. none) + solarize + normalize, C=${C}, sides 9 and 17`, async () => {
      for (const s of [9, 17]) {
        const ps = crops(7, 3, 37, 37, 60 + s);
        ps[0].sigma = 0;
        ps[1].sigma = 2;
        ps[2].sigma = 0.1;
        ps[3].solarize = true;
        const ys = randomArray(ps.length * C * s * s, 9 + s, 0, 1);
        const prm = upload(ps);
        const y = Tensor.fromArray(ys, [ps.length, C, s, s]);
        const out = blurFinish(y, prm, MEAN.slice(0, C), STD.slice(0, C));
        const want = finishRef(blurRef(ys, C, s, ps), C, s, ps, MEAN, STD);
        expectClose(await out.toArray(), want, { rel: 1e-5, what: `blur C=${C} s=${s}` });
        for (const t of [prm, y, out]) t.dispose();
      }
    });
  }

  it('the whole pipeline (augmentCrops) against the chained references, 3 or 5 dispatches', async () => {
    const [B, C, H, W, s] = [3, 3, 37, 37, 17];
    const xs = randomArray(B * C * H * W, 77, 0, 1);
    const x = Tensor.fromArray(xs, [B, C, H, W]);
    for (const blur of [false, true]) {
      const ps = crops(8, B, H, W, blur ? 5 : 6, { ...SPEC, blurP: blur ? 0.7 : 0 });
      const opts = { size: s, mean: MEAN, std: STD, cubicA: -0.5 };
      await rt.sync();
      const before = rt.counters.dispatches;
      const y = augmentCrops(x, ps, opts);
      expect(rt.counters.dispatches - before).toBe(blur ? 5 : 3);
      const r = resizedCropRef(xs, B, C, H, W, ps, s, -0.5);
      const want = finishRef(blurRef(colourRef(r, C, s, ps), C, s, ps), C, s, ps, MEAN, STD);
      expectClose(await y.toArray(), want, { rel: 1e-5, what: `pipeline blur=${blur}` });
      y.dispose();
    }
    x.dispose();
  });
});

describe('augment: crop box sampling (torchvision get_params)', () => {
  it('area fraction within scale and aspect within ratio, up to side rounding', () => {
    for (const [H, W, scale] of [[224, 224, [0.1, 0.6]], [37, 37, [0.05, 0.4]], [120, 200, [0.6, 1]]] as const) {
      const rng = new Rng(3);
      let sumFrac = 0;
      const N = 3000;
      for (let k = 0; k < N; k++) {
        const b = sampleCropBox(rng, H, W, scale, [3 / 4, 4 / 3]);
        expect(b.x0 >= 0 && b.y0 >= 0 && b.x0 + b.w <= W && b.y0 + b.h <= H, `box inside ${W}x${H}`).toBe(true);
        // Sides are rounded to integers: allow half a pixel on each.
        const lo = ((b.w - 0.5) * (b.h - 0.5)) / (H * W);
        const hi = ((b.w + 0.5) * (b.h + 0.5)) / (H * W);
        expect(hi >= scale[0] && lo <= scale[1], `area ${b.w}x${b.h} of ${W}x${H} vs scale ${scale}`).toBe(true);
        expect((b.w + 0.5) / (b.h - 0.5) >= 3 / 4 && (b.w - 0.5) / (b.h + 0.5) <= 4 / 3, `ratio ${b.w}/${b.h}`).toBe(true);
        sumFrac += (b.w * b.h) / (H * W);
      }
      // Where no try is rejected (the box always fits), the mean area is the scale midpoint.
      const mid = (scale[0] + scale[1]) / 2;
      if (H === W) expect(Math.abs(sumFrac / N - mid), `mean area fraction ${sumFrac / N} vs ${mid}`).toBeLessThan(0.06);
    }
  });

  it('falls back to the centred, ratio-clamped full image when no try fits', () => {
    const rng = new Rng(1);
    // A 10 x 100 strip: no box of area >= 0.9 fits with a ratio <= 4/3.
    const b = sampleCropBox(rng, 10, 100, [0.9, 1], [3 / 4, 4 / 3]);
    expect(b).toEqual({ x0: 43, y0: 0, w: 13, h: 10 });
  });
});

describe('MultiCrop: presets, shapes, determinism', () => {
  it('tiny preset: 2 globals (B,C,64,64) + 4 locals (B,C,32,32); same (seed, step) -> identical, new step -> different', async () => {
    const mc = new MultiCrop('tiny');
    const [B, C, H, W] = [3, 3, 37, 41];
    const xs = randomArray(B * C * H * W, 12, 0, 1);
    const x = Tensor.fromArray(xs, [B, C, H, W]);
    const read = async (step: number) => {
      const { globals, locals } = mc.generate(x, step);
      expect(globals.map((t) => t.shape)).toEqual([[B, C, 64, 64], [B, C, 64, 64]]);
      expect(locals.map((t) => t.shape)).toEqual(Array(4).fill([B, C, 32, 32]));
      const arrs = await Promise.all([...globals, ...locals].map((t) => t.toArray()));
      [...globals, ...locals].forEach((t) => t.dispose());
      for (const a of arrs) expect(a.every(Number.isFinite)).toBe(true);
      return arrs;
    };
    const a = await read(5);
    const b = await new MultiCrop('tiny').generate(x, 5).globals[0].toArray();
    const again = await read(5);
    const other = await read(6);
    for (let k = 0; k < a.length; k++) expect(Buffer.from(again[k].buffer).equals(Buffer.from(a[k].buffer)), `crop ${k} reproducible`).toBe(true);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a[0].buffer))).toBe(true);
    expect(Buffer.from(other[0].buffer).equals(Buffer.from(a[0].buffer))).toBe(false);
    // A different seed changes the plan too.
    expect(new MultiCrop('tiny', { seed: 43 }).plan(B, H, W, 5)).not.toEqual(mc.plan(B, H, W, 5));
    x.dispose();
  });

  it('generated crops equal augmentCrops on the plan, and the LUS / DINO presets follow SPEC', async () => {
    const mc = new MultiCrop('tiny', { nLocal: 2 });
    const [B, C, H, W] = [2, 1, 40, 40];
    const xs = randomArray(B * C * H * W, 13, 0, 1);
    const x = Tensor.fromArray(xs, [B, C, H, W]);
    const plan = mc.plan(B, H, W, 9);
    const { globals, locals } = mc.generate(x, 9);
    const cfg = mc.config;
    const r = resizedCropRef(xs, B, C, H, W, plan.locals[1], 32, cfg.cubicA);
    const want = finishRef(blurRef(colourRef(r, C, 32, plan.locals[1]), C, 32, plan.locals[1]), C, 32, plan.locals[1], cfg.mean, cfg.std);
    expectClose(await locals[1].toArray(), want, { rel: 1e-5, what: 'local 2 of the plan' });
    [...globals, ...locals].forEach((t) => t.dispose());
    x.dispose();
    const lus = MULTICROP_PRESETS.lus;
    expect([lus.globalSize, lus.localSize, lus.nLocal, lus.grayP]).toEqual([224, 96, 10, 0]);
    expect([lus.globalScale, lus.localScale]).toEqual([[0.6, 1], [0.1, 0.6]]);
    expect([lus.mean, lus.std]).toEqual([[0.326, 0.326, 0.326], [0.228, 0.228, 0.228]]); // SPEC §3, not ImageNet's
    const dino = MULTICROP_PRESETS.dino;
    expect([dino.globalScale, dino.localScale, dino.blurP, dino.grayP, dino.solarizeP]).toEqual([[0.4, 1], [0.05, 0.4], [1, 0.1, 0.5], 0.2, 0.2]);
  });
});
