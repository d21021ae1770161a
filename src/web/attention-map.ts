// The CLS attention heatmap of one frame (SPEC §9, "Attention maps", DINO's visualisation):
//   a_h      = P_h[0, 1:]  the last block's softmax attention of the CLS query over the g×g
//              patches, head h (H heads); each row of P sums to 1, so a_h sums to 1 − P_h[0, 0]
//   keep_h   = the smallest set of patches holding θ of a_h's mass (θ = 0.6 in DINO's
//              video_generation): sort ascending, normalise to sum 1, keep the patches whose
//              cumulative sum exceeds 1 − θ, unsort
//   heatmap  = mean_h(a_h · keep_h), the thresholded maps averaged over heads (the raw
//              per-head maps and their mean are returned too)
// Plain float64 host code on an (H, N, N) readback: N is 65 at 64 px, 785 at 224 px.

export const DEFAULT_MASS = 0.6;

export interface AttentionHeatmap {
  /** Patch grid side g (N = 1 + g²). */
  grid: number;
  heads: number;
  /** Mass kept per head. */
  theta: number;
  /** Raw CLS attention per head, each (g·g) row-major. */
  perHead: Float32Array[];
  /** Per head, 1 where the patch is in the θ-mass set. */
  keep: Uint8Array[];
  /** mean_h a_h, (g·g). */
  mean: Float32Array;
  /** mean_h (a_h · keep_h), (g·g): what the demo overlays. */
  thresholded: Float32Array;
}

/**
 * Mask of the smallest set of entries holding `theta` of the total mass of `a` (entries ≥ 0):
 * DINO's sort / normalise / cumulative-sum rule. Ties are broken by index, as a stable sort.
 */
export function massThreshold(a: ArrayLike<number>, theta = DEFAULT_MASS): Uint8Array {
  if (!(theta > 0 && theta <= 1)) throw new RangeError(`massThreshold: theta ${theta} is not in (0, 1]`);
  const n = a.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i] - a[j] || i - j);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!(a[i] >= 0)) throw new RangeError(`massThreshold: entry ${i} is ${a[i]}, attention must be >= 0`);
    total += a[i];
  }
  const keep = new Uint8Array(n);
  if (total === 0) return keep.fill(1); // no mass to rank: every patch is as good as any
  let cum = 0;
  for (const i of order) {
    cum += a[i] / total;
    if (cum > 1 - theta) keep[i] = 1;
  }
  return keep;
}

/**
 * Heatmap from the last block's attention of one image: `probs` is (H, N, N) row-major
 * (VisionTransformer.lastSelfAttention for a batch of 1).
 */
export function clsAttentionHeatmap(probs: Float32Array, heads: number, theta = DEFAULT_MASS): AttentionHeatmap {
  const n = Math.round(Math.sqrt(probs.length / heads));
  if (heads < 1 || n * n * heads !== probs.length) {
    throw new RangeError(`clsAttentionHeatmap: ${probs.length} values are not (H=${heads}, N, N)`);
  }
  const grid = Math.round(Math.sqrt(n - 1));
  if (grid * grid !== n - 1) throw new RangeError(`clsAttentionHeatmap: N = ${n} tokens is not 1 + a square patch grid`);
  const P = n - 1;
  const perHead: Float32Array[] = [];
  const keep: Uint8Array[] = [];
  const mean = new Float64Array(P);
  const thr = new Float64Array(P);
  for (let h = 0; h < heads; h++) {
    const a = probs.slice(h * n * n + 1, h * n * n + n); // row 0 (the CLS query), keys 1..N-1
    const k = massThreshold(a, theta);
    perHead.push(a);
    keep.push(k);
    for (let p = 0; p < P; p++) {
      mean[p] += a[p] / heads;
      thr[p] += (a[p] * k[p]) / heads;
    }
  }
  return { grid, heads, theta, perHead, keep, mean: Float32Array.from(mean), thresholded: Float32Array.from(thr) };
}
