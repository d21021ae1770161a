// Matmul benchmark: the versions of shaders/matmul.wgsl at the shapes ViT-S/8 runs, and
// tfjs-webgpu's tf.matMul on the same shapes and adapter, in the same run.
//
// Cases (M x K @ K x N; "transB": B stored (N, K), a Linear weight [out, in]):
//   square 256/512/1024 (plain NN); ViT-S/8 at 224 px (N = 785 tokens, D = 384):
//   qkv 785x384 @ 384x1152, fc1 785x384 @ 384x1536, fc2 785x1536 @ 1536x384 (all transB);
//   attention, 6 heads of one image: scores Q K^T (6, 785, 64) @ (6, 64, 785) with alpha = 1/8,
//   and P V (6, 785, 785) @ (6, 785, 64); fused rows fc1 + bias + GELU, fc2 + bias + residual
//   (tfjs: its fused matMul with bias, then GELU from its own ops, then add).
// Every version runs on the qkv shape (the table in the shader header); the other shapes run
// the version the launcher picks on this adapter. GFLOPS = 2 M N K batch / median time.
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  matmul, matmulProblem, chooseVersion, ineligible, tuneMatmul, MATMUL_VERSIONS,
  type MatmulOptions, type MatmulVersion,
} from '../src/kernels/matmul.js';
import { timeRuntime, timeAsync, gflops, addRatios, progress, workerCpuMs, type BenchRow, type PeerResult, type Timing } from './harness.js';
import { loadTfjsWebgpu, tfjsGpuDone, type Tf } from './peers/tfjs-webgpu.js';

export interface MatmulBenchOpts {
  repeat?: number;
  /** Run only rows whose "<kernel> <shape>" matches. */
  filter?: RegExp;
  /** Autotune each shape first (the picked version is then the tuned one). */
  tune?: boolean;
}

interface Case {
  name: string;
  M: number;
  N: number;
  K: number;
  batch: number;
  transB: boolean;
  alpha?: number;
  epilogue?: 'bias+gelu' | 'bias+residual';
  /** Time every eligible version, not just the picked one. */
  allVersions?: boolean;
}

const CASES: Case[] = [
  { name: 'square', M: 256, N: 256, K: 256, batch: 1, transB: false },
  { name: 'square', M: 512, N: 512, K: 512, batch: 1, transB: false },
  { name: 'square', M: 1024, N: 1024, K: 1024, batch: 1, transB: false },
  { name: 'vit qkv', M: 785, N: 1152, K: 384, batch: 1, transB: true, allVersions: true },
  { name: 'vit fc1', M: 785, N: 1536, K: 384, batch: 1, transB: true },
  { name: 'vit fc2', M: 785, N: 384, K: 1536, batch: 1, transB: true },
  { name: 'attn scores', M: 785, N: 785, K: 64, batch: 6, transB: true, alpha: 0.125 },
  { name: 'attn P@V', M: 785, N: 64, K: 785, batch: 6, transB: false },
  { name: 'vit fc1', M: 785, N: 1536, K: 384, batch: 1, transB: true, epilogue: 'bias+gelu' },
  { name: 'vit fc2', M: 785, N: 384, K: 1536, batch: 1, transB: true, epilogue: 'bias+residual' },
];

function shapeOf(c: Case): string {
  const b = c.batch > 1 ? `${c.batch}x` : '';
  const rhs = c.transB ? `(${b}${c.N}x${c.K})^T` : `${b}${c.K}x${c.N}`;
  return `${b}${c.M}x${c.K} @ ${rhs} ${c.name}${c.epilogue ? ` +${c.epilogue}` : ''}`;
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

/** Launches per sample so a sample lasts ~20 ms (submit + wait overhead amortised). */
function innerFor(msOnce: number): number {
  return Math.max(1, Math.min(64, Math.ceil(20 / Math.max(msOnce, 1e-3))));
}

type Measured = Timing & { inner: number; cpu_ms: number | null };

/** Worker CPU ms per launch over `launches` launches run by `fn`, or null off Linux. */
async function withCpu<T>(launches: number, fn: () => Promise<T>): Promise<{ r: T; cpu_ms: number | null }> {
  const c0 = workerCpuMs();
  const r = await fn();
  const c1 = workerCpuMs();
  return { r, cpu_ms: c0 === null || c1 === null ? null : (c1 - c0) / launches };
}

async function timeOurs(rt: Runtime, launch: () => void, repeat: number): Promise<Measured & { first_ms: number }> {
  await rt.sync();
  const t0 = performance.now();
  launch(); // compiles the pipeline (cold: seconds on lavapipe) and warms caches
  await rt.sync();
  const first_ms = performance.now() - t0;
  const once = await timeRuntime(rt, launch, { warmup: 0, repeat: 1 });
  const inner = innerFor(once.ms_median);
  const { r, cpu_ms } = await withCpu((repeat + 1) * inner, () => timeRuntime(rt, launch, { warmup: 1, repeat, inner }));
  return { ...r, inner, first_ms, cpu_ms };
}

type TfT = ReturnType<Tf['tensor']>;

/** tfjs: `inner` launches then a wait on its queue (GPU completion, no download). */
async function timeTfjs(tf: Tf, launch: () => TfT, repeat: number): Promise<Measured> {
  const sample = (inner: number, reps: number, warmup: number) =>
    timeAsync(
      async () => {
        const outs: TfT[] = [];
        for (let i = 0; i < inner; i++) outs.push(launch());
        await tfjsGpuDone(tf, outs[outs.length - 1]);
        for (const o of outs) o.dispose();
      },
      { warmup, repeat: reps },
    );
  const inner = innerFor((await sample(1, 1, 1)).ms_median);
  const { r: t, cpu_ms } = await withCpu((repeat + 1) * inner, () => sample(inner, repeat, 1));
  return { ms_median: t.ms_median / inner, ms_min: t.ms_min / inner, ms_max: t.ms_max / inner, inner, cpu_ms };
}

function tfjsCase(tf: Tf, c: Case, av: Float32Array, bv: Float32Array, biasv: Float32Array, resv: Float32Array) {
  const b3 = c.batch > 1;
  const a = b3 ? tf.tensor3d(av, [c.batch, c.M, c.K]) : tf.tensor2d(av, [c.M, c.K]);
  const bShape = c.transB ? [c.N, c.K] : [c.K, c.N];
  const b = b3 ? tf.tensor3d(bv, [c.batch, bShape[0], bShape[1]]) : tf.tensor2d(bv, [bShape[0], bShape[1]]);
  const bias = tf.tensor1d(biasv);
  const res = tf.tensor2d(resv, [c.M, c.N]);
  const run = (): TfT =>
    tf.tidy(() => {
      if (c.epilogue === 'bias+gelu') {
        const z = tf.fused.matMul({ a: a as never, b: b as never, transposeB: c.transB, bias: bias as never });
        return tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1)); // exact GELU
      }
      if (c.epilogue === 'bias+residual') {
        return tf.add(tf.fused.matMul({ a: a as never, b: b as never, transposeB: c.transB, bias: bias as never }), res);
      }
      const p = tf.matMul(a, b, false, c.transB);
      return c.alpha !== undefined ? tf.mul(p, c.alpha) : p;
    });
  return { run, dispose: () => [a, b, bias, res].forEach((t) => t.dispose()) };
}

export async function benchMatmul(rt: Runtime, opts: MatmulBenchOpts = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 7;
  const rows: BenchRow[] = [];
  const tf = await loadTfjsWebgpu();
  let seed = 1;
  for (const c of CASES) {
    const shape = shapeOf(c);
    const flop = 2 * c.M * c.N * c.K * c.batch;
    const lead = c.batch > 1 ? [c.batch] : [];
    const aShape = [...lead, c.M, c.K];
    const bShape = [...lead, ...(c.transB ? [c.N, c.K] : [c.K, c.N])];
    const pr = matmulProblem(aShape, bShape, { transB: c.transB });
    const baseOpts: MatmulOptions = { transB: c.transB, alpha: c.alpha };

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
      const p = tfjsCase(tf, c, av, bv, biasv, resv);
      const tm = await timeTfjs(tf, p.run, repeat);
      p.dispose();
      peer = { ms_median: tm.ms_median, gflops: gflops(flop, tm.ms_median), cpu_ms: tm.cpu_ms };
    }
    for (const v of tuned && !c.allVersions ? [tuned] : wanted) {
      progress(`matmul ${shape}: ${v}`);
      const tm = await timeOurs(rt, () => void matmul(a, b, { ...mmOpts, version: v, out: y }), repeat);
      rows.push({
        kernel: `matmul_${v}`,
        shape,
        ms_median: tm.ms_median,
        ms_min: tm.ms_min,
        ms_max: tm.ms_max,
        gflops: gflops(flop, tm.ms_median),
        peers: peer ? { 'tfjs-webgpu': peer } : {},
        M: c.M, N: c.N, K: c.K, batch: c.batch, transB: c.transB,
        epilogue: c.epilogue ?? null,
        picked: v === choice,
        inner: tm.inner,
        first_ms: tm.first_ms,
        cpu_ms: tm.cpu_ms,
      });
    }
    for (const t of [a, b, bias, res, y]) t.dispose();
  }
  addRatios(rows);
  return rows;
}
