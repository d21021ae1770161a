// expectClose: the one comparison helper of the kernel tests (as llm.c's validate_result and
// tinygrad's helper_test_op). Relative error ||out - ref|| / ||ref|| over the whole tensor,
// plus an element-wise check that catches a few wrong elements hidden by a large norm. On
// failure it prints the first mismatches with their indices.
import { expect } from 'vitest';

export interface CloseOpts {
  /** Bound on ||out - ref||_2 / ||ref||_2. */
  rel: number;
  /** Per-element bound |out - ref| <= atol + elemRel * |ref| (defaults: 100x rel, scaled by max|ref|). */
  elemRel?: number;
  atol?: number;
  what?: string;
}

export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

export function expectClose(out: ArrayLike<number>, ref: ArrayLike<number>, opts: CloseOpts): void {
  const what = opts.what ?? 'output';
  expect(out.length, `${what}: length`).toBe(ref.length);
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  const elemRel = opts.elemRel ?? opts.rel * 100;
  const atol = opts.atol ?? elemRel * maxRef * 1e-2;
  const bad: string[] = [];
  let nonFinite = 0;
  for (let i = 0; i < ref.length; i++) {
    const o = out[i];
    const r = ref[i];
    if (!Number.isFinite(o) && Number.isFinite(r)) nonFinite++;
    if (!(Math.abs(o - r) <= atol + elemRel * Math.abs(r))) {
      if (bad.length < 10) bad.push(`  [${i}] got ${o}, want ${r}`);
    }
  }
  const rel = relError(out, ref);
  const msg = `${what}: rel error ${rel.toExponential(3)} (bound ${opts.rel}), ${nonFinite} non-finite\n${bad.join('\n')}`;
  expect(rel <= opts.rel && bad.length === 0 && nonFinite === 0, msg).toBe(true);
}
