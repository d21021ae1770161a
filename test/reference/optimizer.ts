// float64 references for shaders/optimizer.wgsl, written as PyTorch documents the algorithms.

export function l2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Clip coefficients per tensor (DINO) or global (clip_grad_norm_); frozen tensors excluded. */
export function clipCoefsRef(grads: ArrayLike<number>[], mode: 'none' | 'per-tensor' | 'global', c: number, frozen: boolean[]): number[] {
  if (mode === 'none') return grads.map(() => 1);
  if (mode === 'per-tensor') return grads.map((g) => Math.min(1, c / (l2(g) + 1e-6)));
  let ss = 0;
  grads.forEach((g, i) => {
    if (!frozen[i]) ss += l2(g) ** 2;
  });
  const coef = Math.min(1, c / (Math.sqrt(ss) + 1e-6));
  return grads.map(() => coef);
}

export interface AdamState {
  m: Float64Array;
  v: Float64Array;
}

/** One AdamW step in place (torch.optim.AdamW, amsgrad off, maximize off). */
export function adamwRef(p: Float64Array, g: ArrayLike<number>, s: AdamState, t: number, lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): void {
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    s.m[i] = b1 * s.m[i] + (1 - b1) * g[i];
    s.v[i] = b2 * s.v[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + eps;
    p[i] -= (lr / bc1) * (s.m[i] / denom);
  }
}

/** One SGD step in place (torch.optim.SGD, dampening 0, nesterov off). */
export function sgdRef(p: Float64Array, g: ArrayLike<number>, buf: Float64Array, t: number, lr: number, momentum: number, wd: number): void {
  for (let i = 0; i < p.length; i++) {
    const d = g[i] + wd * p[i];
    buf[i] = t === 1 ? d : momentum * buf[i] + d;
    p[i] -= lr * buf[i];
  }
}
