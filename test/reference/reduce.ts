// float64 references for shaders/reduce.wgsl: plain loops over x dense (outer, R, inner).
export type ReduceRefOp = 'sum' | 'mean' | 'max' | 'min' | 'argmax' | 'l2';

/** y (outer, inner) = op over r of x (outer, R, inner). argmax: the first index of the max. */
export function reduceRef(op: ReduceRefOp, x: ArrayLike<number>, outer: number, r: number, inner: number): Float64Array {
  const y = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === 'max' || op === 'argmax' ? -Infinity : op === 'min' ? Infinity : 0;
      let arg = 0;
      for (let k = 0; k < r; k++) {
        const v = x[(o * r + k) * inner + i];
        if (op === 'sum' || op === 'mean') acc += v;
        else if (op === 'max') acc = Math.max(acc, v);
        else if (op === 'min') acc = Math.min(acc, v);
        else if (op === 'argmax') {
          if (v > acc) {
            acc = v;
            arg = k;
          }
        } else acc += v * v;
      }
      y[o * inner + i] = op === 'mean' ? acc / r : op === 'argmax' ? arg : op === 'l2' ? Math.sqrt(acc) : acc;
    }
  }
  return y;
}

/** (outer, R, inner) of a reduction over `dim` of `shape`. */
export function axisView(shape: readonly number[], dim: number): [number, number, number] {
  const d = dim < 0 ? dim + shape.length : dim;
  const outer = shape.slice(0, d).reduce((a, b) => a * b, 1);
  const inner = shape.slice(d + 1).reduce((a, b) => a * b, 1);
  return [outer, shape[d], inner];
}

/**
 * dx (outer, R, inner) of y = op over r of x, for the upstream g (outer, inner):
 *   sum g, mean g / R, l2 g x / y (0 where y = 0), max / min g at the first extremum only.
 */
export function reduceBackwardRef(
  op: 'sum' | 'mean' | 'max' | 'min' | 'l2', x: ArrayLike<number>, g: ArrayLike<number>, outer: number, r: number, inner: number,
): Float64Array {
  const dx = new Float64Array(outer * r * inner);
  const y = reduceRef(op, x, outer, r, inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const gv = g[o * inner + i];
      let first = -1;
      for (let k = 0; k < r; k++) {
        const at = (o * r + k) * inner + i;
        if (op === 'sum') dx[at] = gv;
        else if (op === 'mean') dx[at] = gv / r;
        else if (op === 'l2') dx[at] = y[o * inner + i] > 0 ? (gv * x[at]) / y[o * inner + i] : 0;
        else if (first < 0 && x[at] === y[o * inner + i]) {
          first = k;
          dx[at] = gv;
        }
      }
    }
  }
  return dx;
}
