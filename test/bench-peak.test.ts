// The peak calibration of `medivlad bench` (bench/peak.ts): an FMA-bound kernel and a streaming
// copy give positive, finite GFLOPS and GB/s, and the counts behind them are the ones the
// shader header states (so a kernel that silently did less work would show up as zero time).
import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import type { Runtime } from '../src/kernels/runtime.js';
import { measurePeak } from '../bench/peak.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
});

describe('bench peak calibration', () => {
  it('returns positive finite GFLOPS and GB/s, with the work behind them', async () => {
    const p = await measurePeak(rt, { quick: true, repeat: 2 });
    for (const v of [p.gflops, p.gbps, p.gflops_median, p.gbps_median, p.fma.ms_min, p.copy.ms_min]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    expect(p.fma.iters).toBeGreaterThanOrEqual(16);
    // FLOP = threads * iters * 8 chains * 4 lanes * 2; bytes = 32 per vec4 copied.
    // The peak is the fastest sample: at least the median's rate.
    expect(p.gflops).toBeCloseTo((p.fma.threads * p.fma.iters * 64) / (p.fma.ms_min * 1e6), 6);
    expect(p.gflops).toBeGreaterThanOrEqual(p.gflops_median);
    expect(p.copy.bytes % 32).toBe(0);
    expect(p.gbps).toBeCloseTo(p.copy.bytes / (p.copy.ms_min * 1e6), 6);
    expect(p.gbps).toBeGreaterThanOrEqual(p.gbps_median);
    expect(['gpu-timestamp', 'wall']).toContain(p.timing);
    // A software adapter on a few cores cannot exceed ~10 TFLOPS; a GPU not ~1000 TFLOPS fp32.
    expect(p.gflops).toBeLessThan(rt.adapter.isSoftware ? 1e4 : 1e6);
  });
});
