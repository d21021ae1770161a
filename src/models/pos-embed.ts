// Position-embedding interpolation, PyTorch-exact (DINO's interpolate_pos_encoding, SPEC §9).
//
// DINO resizes the (g x g) grid of patch position embeddings to (h0, w0) = (H/P, W/P) with
//   F.interpolate(grid, scale_factor=((h0 + 0.1)/g, (w0 + 0.1)/g), mode='bicubic',
//                 align_corners=False)
// The output size is floor(g * factor) and, because a scale factor is given, PyTorch maps
// output pixel d to source coordinate  s = (d + 0.5) / factor - 0.5  (not size ratios), then
// applies the cubic convolution kernel (a = -0.75) on the 4 neighbours floor(s) - 1 .. + 2
// with indices clamped to the border.
//
// The resize is linear and separable, so we build it as one matrix
//   Wi = kron(Wh, Ww)   (h_out * w_out, g * g)
// and apply it with the engine's matmul: out = Wi @ grid. It is differentiable for free
// (the gradient w.r.t. pos_embed is Wi^T @ grad), exact to float rounding, and small
// (12 x 12 from 28 x 28: 144 x 784).

const A = -0.75;

// PyTorch evaluates coordinates and weights in float32 for float32 tensors (its "opmath"
// type); Math.fround after each operation reproduces that, so our matrix matches its
// coefficients to the last bit rather than to ~1e-6.
const f = Math.fround;

/** Cubic convolution weights for fractional offset t in [0, 1) (Keys, a = -0.75), as PyTorch. */
function cubicWeights(t: number): [number, number, number, number] {
  const c1 = (x: number) => f(f(f(f(f(A + 2) * x) - f(A + 3)) * x) * x) + 1; // |x| <= 1
  const c2 = (x: number) => f(f(f(f(f(f(A * x) - f(5 * A)) * x) + f(8 * A)) * x) - f(4 * A)); // 1 < |x| < 2
  return [f(c2(f(t + 1))), f(c1(t)), f(c1(f(1 - t))), f(c2(f(2 - t)))];
}

/**
 * 1-D bicubic resize matrix (outSize, inSize) for a given scale factor, align_corners=False,
 * as torch.nn.functional.interpolate computes it when scale_factor is passed.
 */
export function bicubicMatrix1d(inSize: number, scale: number): { out: number; m: Float64Array } {
  const out = Math.floor(inSize * scale);
  const m = new Float64Array(out * inSize);
  for (let d = 0; d < out; d++) {
    // PyTorch: area_pixel_compute_source_index(1/scale, d, align_corners=False, cubic=True),
    // with the reciprocal scale and the coordinate in float32.
    const s = f(f(f(1 / scale) * f(d + 0.5)) - 0.5);
    const fl = Math.floor(s);
    const w = cubicWeights(f(s - fl));
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(fl - 1 + k, 0), inSize - 1);
      m[d * inSize + idx] += w[k];
    }
  }
  return { out, m };
}

/**
 * The (hOut * wOut, g * g) interpolation matrix DINO applies for an image of H x W pixels and
 * patch size P, from a g x g grid; with the output grid size. Row-major grids on both sides.
 */
export function posEmbedMatrix(g: number, H: number, W: number, P: number): { h: number; w: number; m: Float32Array } {
  const h0 = H / P + 0.1;
  const w0 = W / P + 0.1;
  // PyTorch receives the factors as Python floats (double) and uses them as given.
  const mh = bicubicMatrix1d(g, h0 / g);
  const mw = bicubicMatrix1d(g, w0 / g);
  const rows = mh.out * mw.out;
  const m = new Float32Array(rows * g * g);
  for (let i = 0; i < mh.out; i++) {
    for (let j = 0; j < mw.out; j++) {
      const r = (i * mw.out + j) * g * g;
      for (let a = 0; a < g; a++) {
        const wa = mh.m[i * g + a];
        if (wa === 0) continue;
        for (let b = 0; b < g; b++) m[r + a * g + b] = wa * mw.m[j * g + b];
      }
    }
  }
  return { h: mh.out, w: mw.out, m };
}
