// Matmul benchmark: the versions of shaders/matmul.wgsl at every GEMM shape ViT-S/8 runs, forward
// and both backward products, and (with --peers) tfjs-webgpu's tf.matMul on the same shapes and
// adapter, in the same run.
//
// Cases (M x K @ K x N; "(N x K)^T": B stored (N, K), a Linear weight [out, in]; "(M x K)^T"
// on the left: A stored (K, M)):
//   square 256/512/1024 (plain NN).
//   ViT-S/8 at 224 px, one image (N = 785 tokens, D = 384, MLP 1536), each Linear y = x W^T:
//     patch 784x192 @ (384x192)^T, qkv 785x384 @ (1152x384)^T, proj 785x384 @ (384x384)^T,
//     fc1 785x384 @ (1536x384)^T, fc2 785x1536 @ (384x1536)^T;
//     and its two backward products, dX = dY W (M x N @ N x K, plain) and dW = dY^T X
//     ((M x N)^T @ M x K, transA), the shapes autograd's Linear rule launches;
//   attention, 6 heads of one image: scores Q K^T (6, 785, 64) @ (6, 64, 785) with alpha = 1/8,
//     P V (6, 785, 785) @ (6, 785, 64) (the unfused path; the fused kernels: bench/attention.ts);
//   fused epilogues fc1 + bias + GELU, fc2 + bias + residual (tfjs: its fused matMul with bias,
//     then GELU from its own ops, then add).
// Every version runs on the qkv forward shape (the table in the shader header); the others run
// the version the launcher picks on this adapter. GFLOPS = 2 M N K batch / median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  matmul, matmulProblem, chooseVersion, ineligible, tuneMatmul, MATMUL_VERSIONS,
  type MatmulOptions, type MatmulVersion,
} from '../src/kernels/matmul.js';
import { addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu, type Tf } from './peers/tfjs-webgpu.js';
import { measure } from './measure.js';
import { ourFields, peerResult, timeTfjs, type TfTensor } from './calibrate.js';

export interface MatmulBenchOpts {
  repeat?: number;
  /** Run only rows whose "<kernel> <shape>" matches. */
  filter?: RegExp;
  /** Autotune each shape first (the picked version is then the tuned one). */
  tune?: boolean;
  /** Time tfjs-webgpu on the same shapes. */
  peers?: boolean;
}

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  batch: number;
  transA?: boolean;
  transB: boolean;
  alpha?: number;
  epilogue?: 'bias+gelu' | 'bias+residual';
  pass: 'fwd' | 'bwd dX' | 'bwd dW';
  /** Time every eligible version, not just the picked one. */
  allVersions?: boolean;
}

/** ViT-S/8's Linears at 224 px, one image: tokens M, in K, out N. */
const LINEARS = [
  { name: 'vit patch', M: 784, K: 192, N: 384 },
  { name: 'vit qkv', M: 785, K: 384, N: 1152 },
  { name: 'vit proj', M: 785, K: 384, N: 384 },
  { name: 'vit fc1', M: 785, K: 384, N: 1536 },
  { name: 'vit fc2', M: 785, K: 1536, N: 384 },
];

const CASES: Case[] = [
  ...[256, 512, 1024].map((s): Case => ({ name: 'square', M: s, N: s, K: s, batch: 1, transB: false, pass: 'fwd' })),
  ...LINEARS.map((l): Case => ({ ...l, batch: 1, transB: true, pass: 'fwd', allVersions: l.name === 'vit qkv' })),
  { name: 'attn scores', M: 785, N: 785, K: 64, batch: 6, transB: true, alpha: 0.125, pass: 'fwd' },
  { name: 'attn P@V', M: 785, N: 64, K: 785, batch: 6, transB: false, pass: 'fwd' },
  { name: 'vit fc1', M: 785, N: 1536, K: 384, batch: 1, transB: true, epilogue: 'bias+gelu', pass: 'fwd' },
  { name: 'vit fc2', M: 785, N: 384, K: 1536, batch: 1, transB: true, epilogue: 'bias+residual', pass: 'fwd' },
  // Backward of y = x W^T (y: M x N): dX = dY W is M x N @ N x K; dW = dY^T X is (M x N)^T @ M x K.
  ...LINEARS.map((l): Case => ({ name: l.name, M: l.M, N: l.K, K: l.N, batch: 1, transB: false, pass: 'bwd dX' })),
  ...LINEARS.map((l): Case => ({ name: l.name, M: l.N, N: l.K, K: l.M, batch: 1, transA: true, transB: false, pass: 'bwd dW' })),
];

function shapeOf(c: Case): string {
  const b = c.batch > 1 ? `${c.batch}x` : '';
  const lhs = c.transA ? `(${b}${c.K}x${c.M})^T` : `${b}${c.M}x${c.K}`;
  const rhs = c.transB ? `(${b}${c.N}x${c.K})^T` : `${b}${c.K}x${c.N}`;
  const pass = c.pass === 'fwd' ? '' : ` ${c.pass.slice(4)}`;
  return `${lhs} @ ${rhs} ${c.name}${pass}${c.epilogue ? ` +${c.epilogue}` : ''}`;
}

function seeded(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 8388608 - 1; // [-1, 1)
  }
  return a;
}

function tfjsCase(tf: Tf, c: Case, aShape: number[], bShape: number[], av: Float32Array, bv: Float32Array, biasv: Float32Array, resv: Float32Array) {
  const a = tf.tensor(av, aShape);
  const b = tf.tensor(bv, bShape);
  const bias = tf.tensor1d(biasv);
  const res = tf.tensor2d(resv, [c.M, c.N]);
  const run = (): TfTensor =>
    tf.tidy(() => {
      if (c.epilogue === 'bias+gelu') {
        const z = tf.fused.matMul({ a: a as never, b: b as never, transposeB: c.transB, bias: bias as never });
        return tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1)); // exact GELU
      }
      if (c.epilogue === 'bias+residual') {
        return tf.add(tf.fused.matMul({ a: a as never, b: b as never, transposeB: c.transB, bias: bias as never }), res);
      }
      const p = tf.matMul(a as never, b as never, !!c.transA, c.transB);
      return c.alpha !== undefined ? tf.mul(p, c.alpha) : p;
    });
  return { run, dispose: () => [a, b, bias, res].forEach((t) => t.dispose()) };
}

export async function benchMatmul(rt: Runtime, opts: MatmulBenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  let seed = 1;
  for (const c of CASES) {
    const shape = shapeOf(c);
    const flop = 2 * c.M * c.N * c.K * c.batch;
    const lead = c.batch > 1 ? [c.batch] : [];
    const aShape = [...lead, ...(c.transA ? [c.K, c.M] : [c.M, c.K])];
    const bShape = [...lead, ...(c.transB ? [c.N, c.K] : [c.K, c.N])];
    const pr = matmulProblem(aShape, bShape, { transA: c.transA, transB: c.transB });
    const baseOpts: MatmulOptions = { transA: c.transA, transB: c.transB, alpha: c.alpha };

    const picked = chooseVersion(rt, pr);
    const versions = (c.allVersions ? [...MATMUL_VERSIONS] : [picked]).filter((v) => !ineligible(v, rt, pr));
    const wanted = versions.filter((v) => !opts.filter || opts.filter.test(`matmul_${v} ${shape}`));
    if (wanted.length === 0) continue;

    const av = seeded(c.batch * c.M * c.K, seed++);
    const bv = seeded(c.batch * c.K * c.N, seed++);
    const biasv = seeded(c.N, seed++);
    const resv = seeded(c.M * c.N, seed++);
    const a = Tensor.fromArray(av, aShape, rt);
    const b = Tensor.fromArray(bv, bShape, rt);
    const bias = Tensor.fromArray(biasv, [c.N], rt);
    const res = Tensor.fromArray(resv, [c.M, c.N], rt);
    const y = Tensor.empty(pr.outShape, rt);
    const mmOpts: MatmulOptions = {
      ...baseOpts,
      ...(c.epilogue ? { bias, gelu: c.epilogue === 'bias+gelu', residual: c.epilogue === 'bias+residual' ? res : null } : {}),
    };

    let tuned: MatmulVersion | undefined;
    if (opts.tune) {
      progress(`matmul ${shape}: autotuning`);
      tuned = (await tuneMatmul(a, b, baseOpts)).best as MatmulVersion;
    }
    const choice = tuned ?? picked;

    let peer: PeerResult | null = null;
    if (tf) {
      progress(`matmul ${shape}: tfjs-webgpu`);
      const p = tfjsCase(tf, c, aShape, bShape, av, bv, biasv, resv);
      peer = peerResult(await timeTfjs(tf, p.run, repeat), { flop });
      p.dispose();
    }
    for (const v of tuned && !c.allVersions ? [tuned] : wanted) {
      progress(`matmul ${shape}: ${v}`);
      const tm = await measure(rt, () => void matmul(a, b, { ...mmOpts, version: v, out: y }), { repeat, maxInner: 64 });
      rows.push({
        kernel: `matmul_${v}`,
        shape,
        ...ourFields(tm, { flop }),
        peers: peer ? { 'tfjs-webgpu': peer } : {},
        M: c.M, N: c.N, K: c.K, batch: c.batch, transA: !!c.transA, transB: c.transB, pass: c.pass,
        epilogue: c.epilogue ?? null,
        picked: v === choice,
      });
    }
    for (const t of [a, b, bias, res, y]) t.dispose();
  }
  addRatios(rows);
  return rows;
}
