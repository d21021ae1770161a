// The deterministic weights of scripts/make-fixtures.py's formula_fill: parameter k (in
// registration order, as PyTorch's named_parameters), element i:
//   scale * sin(0.37 i + 1.3 k + 0.5), float64 then float32; LayerNorm weights 1 + that.
import type { Module } from '../../src/models/module.js';

export function formulaValues(module: Module, scale: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  module.namedParameters().forEach(([name, p], k) => {
    const v = new Float32Array(p.size);
    const ln = /(^|\.)norm[12]?\.weight$/.test(name);
    for (let i = 0; i < v.length; i++) v[i] = (ln ? 1 : 0) + scale * Math.sin(0.37 * i + 1.3 * k + 0.5);
    out.set(name, v);
  });
  return out;
}
