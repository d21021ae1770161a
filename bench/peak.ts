// The adapter's measured peak, once per `medivlad bench` run, so that every row can say what
// fraction of this machine it reaches (frac_of_peak): an FMA-bound kernel for fp32 GFLOPS and a
// streaming copy for GB/s (bench/peak.wgsl has the math and the counts).
//
// Statistic: the fastest of `repeat` samples (a ceiling: load on a shared machine only ever
// slows a sample down, and a median taken during a burst would let rows exceed 100% of "peak");
// the medians are reported beside it.
// Sizes: the FMA grid has enough threads to fill the device (4096 workgroups of 64 on a GPU,
// 64 on a CPU adapter, whose 2-16 cores run 8-lane workgroups one at a time) and its loop count
// is scaled so one launch lasts ~30 ms; the copy moves a buffer well past the last-level cache
// (256 MiB on a GPU, 64 MiB on a CPU adapter, capped by the binding limit). Timed by
// bench/measure.ts like every row (GPU timestamps when available).
// Numbers are "what a simple kernel reaches here", not the vendor's data-sheet peak.
import source from './peak.wgsl';
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { fill } from '../src/kernels/elementwise.js';
import { grid1d } from '../src/kernels/grid.js';
import { measure } from './measure.js';
import type { PeakResult } from './harness.js';

const WG = 64;
const CHAINS = 8; // independent vec4 FMA chains per thread
const M = 0.999999;
const C = 1e-6;

export interface PeakOpts {
  /** Timed samples per kernel (default 7). */
  repeat?: number;
  /** Smaller problems (tests): ~10x less work, less precise. */
  quick?: boolean;
}

export interface PeakReport extends PeakResult {
  timing: string;
  /** The same from the median samples. */
  gflops_median: number;
  gbps_median: number;
  fma: { threads: number; iters: number; ms_min: number; ms_median: number; spread: number };
  copy: { bytes: number; ms_min: number; ms_median: number; spread: number };
}

const params = (iters: number, n: number, stride: number) => ({ iters, n, stride, _pad: 0, m: M, c: C, _pad1: 0, _pad2: 0 });

export async function measurePeak(rt: Runtime, opts: PeakOpts = {}): Promise<PeakReport> {
  const repeat = opts.repeat ?? 7;
  const gpu = rt.adapter.family === 'gpu';

  // ---------------------------------------------------------------- FMA
  const groups = gpu ? 4096 : 64;
  const threads = groups * WG;
  const out = Tensor.empty([threads, 4], rt);
  const fma = (iters: number) => () =>
    rt.dispatch({
      kernel: { name: 'peak', source, entry: 'peak_fma', overrides: { WG } },
      buffers: { fma_out: out.buffer },
      params: params(iters, 0, 0),
      workgroups: grid1d(groups),
      shapes: `peak_fma threads ${threads} iters ${iters}`,
    });
  // Scale the loop count so that one launch lasts ~targetMs (the first try also compiles).
  const targetMs = opts.quick ? 5 : 30;
  let iters = 256;
  for (let tries = 0; tries < 4; tries++) {
    const t = await measure(rt, fma(iters), { repeat: 1, warmup: 0, inner: 1 });
    const next = Math.min(1 << 22, Math.max(16, Math.round((iters * targetMs) / Math.max(t.ms_median, 1e-3))));
    if (Math.abs(next - iters) < 0.25 * iters) break;
    iters = next;
  }
  const tf = await measure(rt, fma(iters), { repeat, inner: 1 });
  const flop = threads * iters * CHAINS * 4 * 2;
  out.dispose();

  // ---------------------------------------------------------------- copy
  const maxBytes = Math.min(rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize);
  const want = (gpu ? 256 : 64) * 2 ** 20 / (opts.quick ? 8 : 1);
  const vec4s = Math.floor(Math.min(want, maxBytes) / 16);
  const src = fill(Tensor.empty([vec4s, 4], rt), 1.5);
  const dst = Tensor.empty([vec4s, 4], rt);
  const copyGroups = Math.min(gpu ? 8192 : 64, Math.ceil(vec4s / WG));
  const stride = copyGroups * WG;
  const copy = () =>
    rt.dispatch({
      kernel: { name: 'peak', source, entry: 'peak_copy', overrides: { WG } },
      buffers: { copy_src: src.buffer, copy_dst: dst.buffer },
      params: params(0, vec4s, stride),
      workgroups: grid1d(copyGroups),
      shapes: `peak_copy ${vec4s} vec4s`,
    });
  const tc = await measure(rt, copy, { repeat });
  const bytes = 32 * vec4s;
  src.dispose();
  dst.dispose();

  return {
    gflops: flop / (tf.ms_min * 1e6),
    gbps: bytes / (tc.ms_min * 1e6),
    gflops_median: flop / (tf.ms_median * 1e6),
    gbps_median: bytes / (tc.ms_median * 1e6),
    timing: tf.timing === tc.timing ? tf.timing : `${tf.timing} (fma), ${tc.timing} (copy)`,
    fma: { threads, iters, ms_min: tf.ms_min, ms_median: tf.ms_median, spread: tf.spread },
    copy: { bytes, ms_min: tc.ms_min, ms_median: tc.ms_median, spread: tc.spread },
  };
}
