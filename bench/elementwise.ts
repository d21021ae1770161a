// Strided elementwise benchmark: the index-heavy copies and broadcasts a ViT step runs, in both
// versions of the strided entries (src/kernels/strided.ts), and the dense entries for scale.
//
// Rows (main job = the tiny ViT of `reproduce`, 64 px, dim 128, batch 16; ViT-S/8 = 224 px,
// dim 384, batch 8):
//   patchify   contiguous() of the (B, 3, H/8, 8, W/8, 8) → (B, H/8, W/8, 3, 8, 8) permuted view
//              of the images (the patch embedding's input);
//   pos-embed  (B, N, D) + (1, N, D): broadcast add;
//   cls concat the patch tokens copied into rows 1.. of (B, N, D) (concat along dim 1);
//   transpose  contiguous() of a transposed (1000, 1000) matrix (odd, so runs cross rows);
//   add dense  (B·N, 4D) + (B·N, 4D), the dense entry (no index arithmetic), for scale;
//   fill       y[:] = c over a flat parameter-sized buffer (the gradient reset), 4 bytes each.
// Bytes: 4 per element read and written (8 for copies, 12 for binary); GB/s over the median.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import { binary, fill } from '../src/kernels/elementwise.js';
import { concat, contiguous, permute, reshape, transpose } from '../src/autograd/view-ops.js';
import { setStridedVersion, stridedVersion } from '../src/kernels/strided.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { baselineResult, seeded, timeOurs, ourFields } from './calibrate.js';
import type { BenchOpts } from './dino-loss.js';

interface Case {
  kernel: string;
  shape: string;
  what: string;
  bytes: number;
  /** Inputs made once; `run` launches the op and frees its output. */
  setup: (rt: Runtime) => { run: () => void; free: () => void };
}

function tensor(rt: Runtime, shape: number[], seed: number): Tensor {
  return Tensor.fromArray(seeded(shape.reduce((a, b) => a * b, 1), -1, 1, seed), shape, rt);
}

function patchify(b: number, px: number, what: string): Case {
  const g = px / 8;
  const n = b * 3 * px * px;
  return {
    kernel: 'patchify copy', shape: `(${b},3,${px},${px})`, what, bytes: 8 * n,
    setup: (rt) => {
      const x = tensor(rt, [b, 3, px, px], 1);
      const v = reshape(x, [b, 3, g, 8, g, 8]);
      const p = permute(v, [0, 2, 4, 1, 3, 5]);
      return { run: () => contiguous(p).dispose(), free: () => { p.dispose(); v.dispose(); x.dispose(); } };
    },
  };
}

function posEmbed(b: number, n: number, d: number, what: string): Case {
  return {
    kernel: 'pos-embed add', shape: `(${b},${n},${d})+(1,${n},${d})`, what, bytes: 12 * b * n * d,
    setup: (rt) => {
      const x = tensor(rt, [b, n, d], 2);
      const pe = tensor(rt, [1, n, d], 3);
      return { run: () => binary('add', x, pe).dispose(), free: () => { x.dispose(); pe.dispose(); } };
    },
  };
}

function clsConcat(b: number, n: number, d: number, what: string): Case {
  return {
    kernel: 'cls concat', shape: `(${b},1,${d})+(${b},${n - 1},${d})`, what, bytes: 8 * b * n * d,
    setup: (rt) => {
      const cls = tensor(rt, [b, 1, d], 4);
      const x = tensor(rt, [b, n - 1, d], 5);
      return { run: () => concat([cls, x], 1).dispose(), free: () => { cls.dispose(); x.dispose(); } };
    },
  };
}

function transposeCopy(m: number, what: string): Case {
  return {
    kernel: 'transpose copy', shape: `(${m},${m})ᵀ`, what, bytes: 8 * m * m,
    setup: (rt) => {
      const x = tensor(rt, [m, m], 6);
      const t = transpose(x);
      return { run: () => contiguous(t).dispose(), free: () => { t.dispose(); x.dispose(); } };
    },
  };
}

function fillCase(n: number, what: string): Case {
  return {
    kernel: 'fill', shape: `(${n})`, what, bytes: 4 * n,
    setup: (rt) => {
      const y = Tensor.empty([n], rt);
      return { run: () => void fill(y, 0.5), free: () => y.dispose() };
    },
  };
}

function addDense(rows: number, d: number, what: string): Case {
  return {
    kernel: 'add dense', shape: `(${rows},${d})`, what, bytes: 12 * rows * d,
    setup: (rt) => {
      const a = tensor(rt, [rows, d], 7);
      const c = tensor(rt, [rows, d], 8);
      return { run: () => binary('add', a, c).dispose(), free: () => { a.dispose(); c.dispose(); } };
    },
  };
}

const CASES: Case[] = [
  patchify(16, 64, 'main job: 16 frames at 64 px'),
  patchify(8, 224, 'ViT-S/8: 8 images at 224 px'),
  posEmbed(16, 65, 128, 'main job'),
  posEmbed(8, 785, 384, 'ViT-S/8, batch 8'),
  clsConcat(16, 65, 128, 'main job'),
  clsConcat(8, 785, 384, 'ViT-S/8, batch 8'),
  transposeCopy(1001, 'odd square'),
  addDense(1040, 512, 'main job MLP hidden (no index arithmetic)'),
  fillCase(826_496, 'main job: gradient reset of the tiny ViT + head'),
  fillCase(21_700_000, 'ViT-S/8 parameters'),
];

export async function benchElementwise(rt: Runtime, opts: BenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const saved = stridedVersion();
  try {
    for (const c of CASES) {
      const dense = c.kernel === 'add dense' || c.kernel === 'fill';
      const kernel = dense ? c.kernel : `${c.kernel} v2`;
      if (opts.filter && !opts.filter.test(`${kernel} ${c.shape}`) && !opts.filter.test(`${c.kernel} v1 ${c.shape}`)) continue;
      const s = c.setup(rt);
      try {
        // v1 first, as the v2 row's peer (its ratio column says how much v2 gained).
        let v1: PeerResult | null = null;
        if (!dense) {
          setStridedVersion(1);
          progress(`elementwise ${c.kernel} v1 ${c.shape}`);
          v1 = baselineResult(await timeOurs(rt, s.run, repeat), { bytes: c.bytes });
        }
        setStridedVersion(2);
        progress(`elementwise ${kernel} ${c.shape}`);
        const tm = await timeOurs(rt, s.run, repeat);
        rows.push({ kernel, shape: c.shape, ...ourFields(tm, { bytes: c.bytes }), what: c.what, peers: v1 ? { 'strided v1': v1 } : {} });
      } finally {
        s.free();
      }
    }
  } finally {
    setStridedVersion(saved);
  }
  addRatios(rows);
  return rows;
}
