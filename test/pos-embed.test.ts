// PyTorch-exact bicubic position-embedding interpolation (SPEC §9): the interpolation matrix
// applied to a 28x28 grid must reproduce F.interpolate(scale_factor=(h0+0.1)/28, bicubic).
import { describe, it, expect } from 'vitest';
import { expectClose } from './helpers/close.js';
import { loadFixture } from './helpers/fixtures.js';
import { posEmbedMatrix, bicubicMatrix1d } from '../src/models/pos-embed.js';

describe('bicubic position-embedding interpolation', () => {
  const fx = loadFixture('pos-embed');
  const { D, g } = fx.meta as { D: number; g: number };
  const pos = fx.get('pos').f64; // (g*g, D)
  for (const [px, side] of [[96, 12], [64, 8], [72, 9]]) {
    it(`28x28 -> ${side}x${side} (${px} px) matches PyTorch`, () => {
      const { h, w, m } = posEmbedMatrix(g, px, px, 8);
      expect([h, w]).toEqual([side, side]);
      const out = new Float64Array(h * w * D);
      for (let r = 0; r < h * w; r++)
        for (let k = 0; k < g * g; k++) {
          const c = m[r * g * g + k];
          if (c !== 0) for (let d = 0; d < D; d++) out[r * D + d] += c * pos[k * D + d];
        }
      // The oracle runs in float32 (16 weighted terms per output, with negative bicubic lobes):
      // ~16 x 6e-8 rounding, amplified by cancellation, lands near 1e-6; a wrong coordinate
      // rule or kernel constant shows up at 1e-3 or more.
      expectClose(out, fx.get(`out${px}`).f64, { rel: 1e-5, what: `${px} px` });
    });
  }

  it('rows of the 1-D matrix sum to 1 (a partition of unity, also at the clamped border)', () => {
    const { out, m } = bicubicMatrix1d(28, 12.1 / 28);
    expect(out).toBe(12);
    for (let d = 0; d < out; d++) {
      let s = 0;
      for (let k = 0; k < 28; k++) s += m[d * 28 + k];
      expect(Math.abs(s - 1)).toBeLessThan(1e-6); // float32 weights, as PyTorch's
    }
  });
});
