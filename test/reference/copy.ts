// float64 references for the copy entries (strided copy, concat, gather) as plain index loops.

/** Row-major strides of a dense shape. */
export function stridesOf(shape: number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Dense copy of a strided view (shape, strides, offset) of `data`. */
export function denseFromView(data: ArrayLike<number>, shape: number[], strides: number[], offset: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const idx = new Array(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let at = offset;
    for (let i = 0; i < shape.length; i++) at += idx[i] * strides[i];
    out[k] = data[at];
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** torch.cat of dense tensors along dim. */
export function concatRef(parts: { data: ArrayLike<number>; shape: number[] }[], dim: number): { out: Float64Array; shape: number[] } {
  const shape = [...parts[0].shape];
  shape[dim] = parts.reduce((a, p) => a + p.shape[dim], 0);
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  let at = 0;
  for (const p of parts) {
    const d = p.shape[dim];
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < d; j++)
        for (let c = 0; c < inner; c++) out[(o * shape[dim] + at + j) * inner + c] = p.data[(o * d + j) * inner + c];
    at += d;
  }
  return { out, shape };
}

/** torch.index_select. */
export function gatherRef(data: ArrayLike<number>, shape: number[], dim: number, idx: number[]): Float64Array {
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const out = new Float64Array(outer * idx.length * inner);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < idx.length; j++)
      for (let c = 0; c < inner; c++) out[(o * idx.length + j) * inner + c] = data[(o * shape[dim] + idx[j]) * inner + c];
  return out;
}
