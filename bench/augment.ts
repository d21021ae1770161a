// Multi-crop augmentation benchmark: MultiCrop.generate (host sampling + params upload + the
// augment kernels + one buffer copy per crop) for a batch of 32, in images per second.
//
// Cases: the LUS stage-1 preset (2 x 224 + 10 x 96 crops of 224 x 224 frames, gray repeated to
//   3 channels) and the tiny preset (2 x 64 + 4 x 32 crops of 64 x 64 images).
// Bytes: per crop the resize reads its box rows (~scale of the source, cached) and writes
//   C S^2 twice (two passes) plus colour, blur and finish passes over C S^2; `out_mb` is the crop
//   output alone (the floor every implementation must write), and GB/s counts only that floor
//   (so its fraction of peak bandwidth is a lower bound). No peer: tfjs has no bicubic-AA.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { MultiCrop, type MultiCropPreset } from '../src/train/multicrop.js';
import { progress, type BenchRow } from './harness.js';
import { measure } from './measure.js';
import { ourFields } from './calibrate.js';

const CASES: { preset: MultiCropPreset; B: number; C: number; H: number }[] = [
  { preset: 'lus', B: 32, C: 3, H: 224 },
  { preset: 'tiny', B: 32, C: 3, H: 64 },
];

function seeded01(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s >>> 8) / 16777216;
  }
  return a;
}

export async function benchAugment(rt: Runtime, opts: { repeat?: number; filter?: RegExp } = {}): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const { preset, B, C, H } of CASES) {
    const mc = new MultiCrop(preset);
    const { globalSize: G, localSize: L, nLocal } = mc.config;
    const kernel = `multicrop-${preset}`;
    const shape = `B${B} (${C},${H},${H}) -> 2x${G} + ${nLocal}x${L}`;
    if (opts.filter && !opts.filter.test(`${kernel} ${shape}`)) continue;
    progress(`augment: ${kernel} ${shape}`);
    const gray = seeded01(B * H * H, 7);
    const data = new Float32Array(B * C * H * H);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) data.set(gray.subarray(b * H * H, (b + 1) * H * H), (b * C + c) * H * H);
    const x = Tensor.fromArray(data, [B, C, H, H], rt);
    let step = 0;
    // generate() uploads the crop parameters (a flush), so this row is wall-clocked.
    const t = await measure(
      rt,
      () => {
        const { globals, locals } = mc.generate(x, step++);
        for (const y of [...globals, ...locals]) y.dispose();
      },
      { warmup: 1, repeat: opts.repeat ?? 5, inner: 1 },
    );
    x.dispose();
    const outBytes = B * C * 4 * (2 * G * G + nLocal * L * L);
    rows.push({
      kernel, shape, ...ourFields(t, { bytes: outBytes }), gbps_counts: 'crop output only', peers: {},
      images_per_s: B / (t.ms_median / 1000),
      crops_per_s: (B * (2 + nLocal)) / (t.ms_median / 1000),
      out_mb: outBytes / 1e6,
    });
  }
  return rows;
}
