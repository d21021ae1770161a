// Fused multi-head attention as autograd ops (kernels: src/kernels/attention.ts).
//   attention(q, k, v, scale)        q, k, v (B, H, N, Dh) -> softmax(s q k^T) v (B, H, N, Dh)
//   attentionPacked(qkv, H, scale)   qkv (B, N, 3·H·Dh) -> (B, N, H·Dh), what the ViT block's
//                                    projection reads; its gradient is dQKV in the same layout.
// Saved for backward: the inputs, the output O and the row logsumexp L (B, H, N): O(N) per
// row beyond the activations themselves; P is recomputed from L and never stored.
import { Tensor } from '../tensor.js';
import { needsGrad, record } from '../tape.js';
import {
  attentionForward, attentionForwardPacked, attentionBackward, attentionBackwardPacked, attentionProbsPacked,
  type AttentionOpts,
} from '../../kernels/attention.js';

/** softmax(s q k^T) v over (B, H, N, Dh) heads; s defaults to Dh^-0.5. */
export function attention(q: Tensor, k: Tensor, v: Tensor, scale?: number, opts: AttentionOpts = {}): Tensor {
  const o1 = { ...opts, scale: scale ?? opts.scale };
  const { o, lse } = attentionForward(q, k, v, o1);
  if (!needsGrad(q, k, v)) {
    lse.dispose();
    return o;
  }
  const saved = [q.view(), k.view(), v.view(), o.view(), lse];
  return record('attention', [q, k, v], o, saved, (g, needs) => {
    const [sq, sk, sv, so, sl] = saved;
    const r = attentionBackward(sq, sk, sv, so, sl, g, o1, { q: needs[0], kv: needs[1] || needs[2] });
    if (!needs[1]) r.dk?.dispose();
    if (!needs[2]) r.dv?.dispose();
    return [r.dq, needs[1] ? r.dk : null, needs[2] ? r.dv : null];
  });
}

/** Attention on the packed ViT qkv (B, N, 3·H·Dh) -> (B, N, H·Dh). */
export function attentionPacked(qkv: Tensor, heads: number, scale?: number, opts: AttentionOpts = {}): Tensor {
  const o1 = { ...opts, scale: scale ?? opts.scale };
  const { o, lse } = attentionForwardPacked(qkv, heads, o1);
  if (!needsGrad(qkv)) {
    lse.dispose();
    return o;
  }
  const saved = [qkv.view(), o.view(), lse];
  return record('attentionPacked', [qkv], o, saved, (g) => {
    const [sx, so, sl] = saved;
    return [attentionBackwardPacked(sx, so, sl, g, heads, o1)];
  });
}

/**
 * Attention maps of one layer, P = softmax(s q k^T) (B, H, N, N), from its packed qkv: for
 * visualization (DINO's get_last_selfattention), small N only; nothing is recorded.
 */
export function attentionMaps(qkv: Tensor, heads: number, scale?: number): Tensor {
  return attentionProbsPacked(qkv, heads, { scale });
}
