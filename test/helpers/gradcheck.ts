// Gradient checks, in two layers (torchlette's gradcheck, llm.c's reference-first habit):
//   1. refGradFD: central differences of a float64 reference forward,
//        dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / 2h,  L = sum(w * f(x)),  h = 1e-6;
//      O(n) forward evaluations, so inputs stay small (tens to a few hundred elements).
//      Truncation error O(h^2) and float64 rounding ~1e-16/h: ~1e-9 relative, far below the
//      1e-4 bound the GPU is held to.
//   2. gpuGrads: the same loss on the GPU through autograd (backward with w as the output
//      gradient), returning each input's .grad.
import { Tensor, backward, scope } from '../../src/autograd/index.js';

export type RefForward = (inputs: Float64Array[]) => ArrayLike<number>;

export function refGradFD(f: RefForward, inputs: Float64Array[], w: ArrayLike<number>, h = 1e-6): Float64Array[] {
  const loss = (xs: Float64Array[]) => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += w[i] * y[i];
    return s;
  };
  return inputs.map((x, k) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const keep = x[i];
      x[i] = keep + h;
      const lp = loss(inputs);
      x[i] = keep - h;
      const lm = loss(inputs);
      x[i] = keep;
      g[i] = (lp - lm) / (2 * h);
    }
    void k;
    return g;
  });
}

/**
 * Run `fwd` on GPU leaves made from `inputs` (those with wantGrad), backpropagate w, and read
 * the gradients. Also returns the forward output.
 */
export async function gpuGrads(
  fwd: (xs: Tensor[]) => Tensor,
  inputs: { data: Float32Array; shape: number[]; wantGrad?: boolean }[],
  w: Float32Array,
): Promise<{ out: Float32Array; grads: (Float32Array | null)[] }> {
  const leaves = inputs.map((i) => {
    const t = Tensor.fromArray(i.data, i.shape);
    t.requiresGrad = i.wantGrad !== false;
    return t;
  });
  const y = scope(() => fwd(leaves));
  const out = await y.toArray();
  const wt = Tensor.fromArray(w, [...y.shape]);
  backward(y, wt);
  const grads = await Promise.all(leaves.map((l) => (l.grad ? l.grad.toArray() : Promise.resolve(null))));
  for (const t of [...leaves, y, wt]) t.dispose();
  return { out, grads };
}

export function toF64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}
