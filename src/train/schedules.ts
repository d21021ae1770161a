// Schedules as arrays indexed by the global iteration, built once (DINO's cosine_scheduler).
// Length is asserted to be epochs * itersPerEpoch, so an index past the end is a loud error
// rather than the silent overflow of the original image-stage code (SPEC §7).

/**
 * Linear warmup from `startWarmup` to `base` over `warmupEpochs` epochs (endpoint included,
 * as np.linspace), then cosine from `base` to `final` over the remaining iterations:
 *   v_i = final + (base - final)/2 * (1 + cos(pi * i / n)),  i in [0, n).
 */
export function cosineSchedule(
  base: number,
  final: number,
  epochs: number,
  itersPerEpoch: number,
  warmupEpochs = 0,
  startWarmup = 0,
): Float64Array {
  if (!(epochs > 0 && itersPerEpoch > 0) || !Number.isInteger(epochs) || !Number.isInteger(itersPerEpoch)) {
    throw new Error(`cosineSchedule: epochs (${epochs}) and itersPerEpoch (${itersPerEpoch}) must be positive integers`);
  }
  const total = epochs * itersPerEpoch;
  const warm = Math.min(total, Math.round(warmupEpochs * itersPerEpoch));
  const out = new Float64Array(total);
  // np.linspace(start, base, warm): a single warm-up iteration is `start` (as DINO computes it).
  for (let i = 0; i < warm; i++) out[i] = warm === 1 ? startWarmup : startWarmup + ((base - startWarmup) * i) / (warm - 1);
  const n = total - warm;
  for (let i = 0; i < n; i++) out[warm + i] = final + 0.5 * (base - final) * (1 + Math.cos((Math.PI * i) / n));
  if (out.length !== total) throw new Error('cosineSchedule: length mismatch');
  return out;
}

/** DINO's teacher temperature: linspace(warmup, final, warmupEpochs) then constant, per epoch. */
export function teacherTempSchedule(warmup: number, final: number, warmupEpochs: number, epochs: number): Float64Array {
  const out = new Float64Array(epochs);
  for (let e = 0; e < epochs; e++) {
    if (e < warmupEpochs) out[e] = warmupEpochs === 1 ? warmup : warmup + ((final - warmup) * e) / (warmupEpochs - 1);
    else out[e] = final;
  }
  return out;
}

/** Read a schedule with a clear error past its end. */
export function at(schedule: Float64Array, i: number, what = 'schedule'): number {
  if (!(i >= 0 && i < schedule.length)) throw new Error(`${what}: iteration ${i} is outside 0..${schedule.length - 1}`);
  return schedule[i];
}
