// Axes: data range -> pixel mapping (linear or log10), "nice" tick positions (steps of 1, 2 or
// 5 × 10^k, as people round by hand) and tick labels with as many decimals as the step needs.

export interface Axis {
  /** Data range shown (for log axes, in data units, both > 0). */
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
  labels: string[];
  /** Data value -> pixel coordinate (p0 at lo, p1 at hi; p1 < p0 for a y axis). */
  toPixel(v: number): number;
}

/** 1, 2 or 5 × 10^k: the smallest such step that gives at most `maxTicks` intervals over `span`. */
export function niceStep(span: number, maxTicks: number): number {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, maxTicks);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

/** Round away float noise (0.1 * 3 = 0.30000000000000004). */
function clean(v: number): number {
  return Number(v.toPrecision(12));
}

/** Multiples of the nice step inside [lo, hi]. */
export function linearTicks(lo: number, hi: number, maxTicks = 6): number[] {
  const step = niceStep(hi - lo, maxTicks);
  const out: number[] = [];
  const eps = step * 1e-9;
  for (let k = Math.ceil((lo - eps) / step); k * step <= hi + eps; k++) out.push(clean(k * step) || 0);
  return out;
}

/** [lo, hi] widened outward to multiples of the nice step (a degenerate range gets padded). */
export function niceRange(lo: number, hi: number, maxTicks = 6): [number, number] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, maxTicks);
  return [clean(Math.floor(lo / step + 1e-9) * step), clean(Math.ceil(hi / step - 1e-9) * step)];
}

/** Powers of ten covering [lo, hi] (both > 0), widened to whole decades. */
export function logRange(lo: number, hi: number): [number, number] {
  if (!(lo > 0 && hi > 0)) throw new Error(`log axis: the range must be positive, got [${lo}, ${hi}]`);
  const a = Math.floor(Math.log10(lo) + 1e-9);
  const b = Math.max(a + 1, Math.ceil(Math.log10(hi) - 1e-9));
  return [10 ** a, 10 ** b];
}

/** "0.25", "40", "1e-5", "2.5e6": the decimals the step needs, exponents for very small or large values. */
export function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return Number(v.toPrecision(3)).toExponential().replace('e+', 'e');
  // As many decimals as the step has (0.2 -> 1, 0.25 -> 2), so neighbouring labels differ.
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6 * step * 10 ** decimals) decimals++;
  return v.toFixed(decimals);
}

/** An axis over [lo, hi] drawn from pixel p0 to p1, with ticks and their labels. */
export function makeAxis(lo: number, hi: number, p0: number, p1: number, opts: { log?: boolean; maxTicks?: number } = {}): Axis {
  const log = opts.log ?? false;
  if (log) {
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    const ticks: number[] = [];
    for (let k = Math.ceil(l0 - 1e-9); k <= l1 + 1e-9; k++) ticks.push(10 ** k);
    return {
      lo, hi, log, ticks,
      labels: ticks.map((t) => formatTick(t, t)),
      toPixel: (v) => (v > 0 ? p0 + ((Math.log10(v) - l0) / (l1 - l0)) * (p1 - p0) : NaN),
    };
  }
  const ticks = linearTicks(lo, hi, opts.maxTicks ?? 6);
  const step = niceStep(hi - lo, opts.maxTicks ?? 6);
  return {
    lo, hi, log, ticks,
    labels: ticks.map((t) => formatTick(t, step)),
    toPixel: (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0),
  };
}
