import { describe, it, expect } from 'vitest';
import { evalIndices, trainIndices, clipTensor, pixelStats, LUS_MEAN, LUS_STD } from '../../src/data/preprocess';
import { resizeGray, toGray } from '../../src/data/resize';
import { Rng } from '../../src/data/rng';
import type { Clip } from '../../src/data/clip';

describe('temporal sampling (SPEC §3)', () => {
  it('evaluation takes floor(linspace(0, T-1, 15))', () => {
    expect(evalIndices(15)).toEqual([...Array(15).keys()]);
    expect(evalIndices(30)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 29]);
    expect(evalIndices(100)).toEqual([0, 7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 91, 99]);
    // short clips repeat frames; a still image repeats its only frame
    expect(evalIndices(4)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
    expect(evalIndices(1)).toEqual(Array(15).fill(0));
    expect(() => evalIndices(0)).toThrow(/0 frames/);
  });

  it('training takes a random strided clip: step floor(T/15), offset in [0, T - 15 step)', () => {
    const rng = new Rng(1);
    const offsets = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const idx = trainIndices(50, 15, rng); // step 3, offsets 0..4
      expect(idx.map((v, j) => v - 3 * j).every((o) => o === idx[0])).toBe(true);
      offsets.add(idx[0]);
    }
    expect([...offsets].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(trainIndices(45, 15, rng)).toEqual([...Array(15).keys()].map((j) => 3 * j)); // empty range: offset 0
    expect(trainIndices(10, 15, rng)).toEqual(evalIndices(10)); // T <= S: as evaluation
    expect(trainIndices(15, 15, rng)).toEqual(evalIndices(15));
  });
});

describe('resize (bilinear, antialiased)', () => {
  it('is the identity at the same size and keeps constants constant', () => {
    const src = Float32Array.from({ length: 35 }, (_, i) => (i * 37) % 11 / 10);
    expect([...resizeGray(src, 5, 7, 5, 7)]).toEqual([...src]);
    const c = resizeGray(new Float32Array(40 * 30).fill(0.25), 40, 30, 13, 17);
    for (const v of c) expect(v).toBeCloseTo(0.25, 6);
  });

  it('halving uses the triangle filter stretched by 2: weights 1/8, 3/8, 3/8, 1/8', () => {
    const src = new Float32Array(8 * 1);
    src[3] = 1; // impulse at x = 3, one row
    const out = resizeGray(src, 1, 8, 1, 4);
    // output 1 (centre 3.0 in input coords) taps x = 1..4 with 1/8, 3/8, 3/8, 1/8; x=3 -> 3/8
    // output 2 taps x = 3..6: x=3 -> 1/8
    expect([...out].map((v) => Math.round(v * 8 * 1e5) / 1e5)).toEqual([0, 3, 1, 0]);
  });

  it('upsampling is plain bilinear with edge clamping', () => {
    const out = resizeGray(Float32Array.from([0, 1]), 1, 2, 1, 4);
    // centres at x = 0.25, 0.75, 1.25, 1.75 -> values 0, 0.25, 0.75, 1 (pixel-centre convention)
    expect([...out].map((v) => +v.toFixed(6))).toEqual([0, 0.25, 0.75, 1]);
  });

  it('converts colour with ITU-R 601 luma and ignores alpha', () => {
    const g = toGray({ width: 2, height: 1, channels: 4, data: new Uint8Array([255, 0, 0, 9, 0, 0, 255, 255]) });
    expect(g[0]).toBeCloseTo(0.299, 6);
    expect(g[1]).toBeCloseTo(0.114, 6);
  });
});

describe('normalisation', () => {
  it('repeats gray to 3 channels and applies (x - 0.3261) / 0.2283 in (S, C, H, W) order', () => {
    const frames = [0, 1, 2].map((t) => Float32Array.from({ length: 4 }, (_, i) => (t * 4 + i) / 12));
    const clip: Clip = { id: 'c', patient: 'p', score: null, label: null, size: 2, frames };
    const x = clipTensor(clip, [2, 0]);
    expect(x.length).toBe(2 * 3 * 4);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < 4; i++) {
        expect(x[c * 4 + i]).toBeCloseTo((frames[2][i] - LUS_MEAN) / LUS_STD, 5);
        expect(x[12 + c * 4 + i]).toBeCloseTo((frames[0][i] - LUS_MEAN) / LUS_STD, 5);
      }
    const one = clipTensor(clip, [1], { channels: 1, mean: 0.5, std: 0.25 });
    expect([...one].map((v) => +v.toFixed(5))).toEqual([...frames[1]].map((v) => +((v - 0.5) / 0.25).toFixed(5)));
  });

  it('pixelStats gives the mean and standard deviation of all pixels', () => {
    const clip: Clip = { id: 'c', patient: 'p', score: null, label: null, size: 1, frames: [Float32Array.of(0), Float32Array.of(1)] };
    const s = pixelStats([clip]);
    expect(s.mean).toBeCloseTo(0.5, 9);
    expect(s.std).toBeCloseTo(0.5, 9);
  });
});
