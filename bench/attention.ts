// Attention benchmark: the fused kernels of shaders/attention.wgsl against the unfused
// composition of our own kernels (matmul + softmax + softmax backward, src/kernels/matmul.ts and
// softmax.ts, the N×N scores stored) and (with --peers) against tfjs-webgpu's composition
// (tf.matMul + tf.softmax, the backward written out in tf ops), on the same adapter, same run.
//
// Cases: ViT-S/8 heads, Dh = 64, H = 6, N = 65 (64 px), 145 (96 px crops), 785 (224 px), for
//   B·H = 6 (one image), 48 (8 images) and 384 (64 images). Forward, and forward + backward
//   (dQ, dK, dV). B·H = 384 runs by default on GPUs only; on a CPU adapter (minutes per launch
//   at N = 785) only when --filter matches its shape, e.g. --filter 'B·H 384 N 145'. The unfused
//   composition and its peer are skipped where the N×N scores exceed one binding.
//   Every version runs at N = 785, B·H = 6 (the rows of the shader's table), also each backward
//   pass alone (GFLOPS there count the products the pass executes; the one-pass versions v4..v6
//   are one row, "bwd vN (one pass)"); elsewhere the planned one.
//   One more row, "memory", runs the planned fused forward + backward once at B·H = 384 (64
//   images at 224 px) to record its peak and largest buffer.
// GFLOPS use one nominal count for every row, so that GFLOPS ratios are time ratios: forward
//   4·B·H·N²·Dh (two products), forward + backward 14·B·H·N²·Dh (FlashAttention-2's count:
//   the backward's five products include recomputing S). What each path executes differs: the
//   unfused composition 12 (six matmuls, P stored, so no recompute), the one-pass fused
//   backward (v4..v6) 14, the two-pass (v1..v3, v7) 18 (S and dP recomputed for dQ too).
// The planned fused rows also carry `paired_vs_unfused` (bench/measure.ts measurePaired): the
//   unfused / fused time ratio from rounds that time the two back to back, median, min and
//   max over the rounds. It is the number to quote for "fused vs unfused" on a shared box.
// Every row carries bench/measure.ts's fields: cpu_ms (CPU time of the driver's worker threads
//   per launch: on lavapipe, shared with other processes, the steadier measure of a kernel's
//   cost), peak_bytes (the pool's peak live bytes over the first launch, inputs included) and
//   extra_bytes (the part above what was live before the launch).
import type { Runtime } from '../src/kernels/runtime.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  attentionForward, attentionBackward, attentionSubgroupSize, planAttention, subgroupIneligible, FORWARD_VERSIONS, BACKWARD_VERSIONS,
  isOnePass, isTiled, tuneAttention, TILED_WORKGROUP_BYTES, type AttentionOpts,
} from '../src/kernels/attention.js';
import { matmul } from '../src/kernels/matmul.js';
import { softmaxForward, softmaxBackward } from '../src/kernels/softmax.js';
import { gflops, addRatios, progress, type BenchRow, type PeerResult } from './harness.js';
import { loadTfjsWebgpu, type Tf } from './peers/tfjs-webgpu.js';
import { measure, measurePaired, type Measured } from './measure.js';
import { baselineResult, ourFields, peerResult, timeTfjs, type TfTensor } from './calibrate.js';

const H = 6;
const DH = 64;
/** heavy: on CPU adapters only when the filter names the shape. */
const CASES: { n: number; bh: number; heavy?: boolean }[] = [
  { n: 65, bh: 6 }, { n: 145, bh: 6 }, { n: 785, bh: 6 },
  { n: 65, bh: 48 }, { n: 145, bh: 48 }, { n: 785, bh: 48 },
  { n: 65, bh: 384, heavy: true }, { n: 145, bh: 384, heavy: true }, { n: 785, bh: 384, heavy: true },
];
const MEMORY_CASE = { n: 785, bh: 384 };

function seeded(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 8388608 - 1; // [-1, 1)
  }
  return a;
}

/** Peak and extra live bytes over one launch. */
async function memoryOf(rt: Runtime, launch: () => void): Promise<{ peak_bytes: number; extra_bytes: number }> {
  await rt.sync();
  const before = rt.counters.bytesLive;
  rt.pool.resetPeak();
  launch();
  await rt.sync();
  const peak = rt.counters.peakBytesLive;
  return { peak_bytes: peak, extra_bytes: peak - before };
}

interface Inputs {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  g: Tensor; // dO
  data: Float32Array[];
}

function makeInputs(rt: Runtime, bh: number, n: number): Inputs {
  const shape = [bh / H, H, n, DH];
  const data = [1, 2, 3, 4].map((s) => seeded(bh * n * DH, 1000 * n + 10 * bh + s));
  const [q, k, v, g] = data.map((d) => Tensor.fromArray(d, shape, rt));
  return { q, k, v, g, data };
}

// ---------------------------------------------------------------- the three contestants

function fusedFwd(x: Inputs, opts: AttentionOpts): () => void {
  return () => {
    const { o, lse } = attentionForward(x.q, x.k, x.v, opts);
    o.dispose();
    lse.dispose();
  };
}

function fusedFwdBwd(x: Inputs, opts: AttentionOpts): () => void {
  return () => {
    const { o, lse } = attentionForward(x.q, x.k, x.v, opts);
    const gr = attentionBackward(x.q, x.k, x.v, o, lse, x.g, opts);
    for (const t of [o, lse, gr.dq, gr.dk, gr.dv]) t?.dispose();
  };
}

/** S = s Q K^T, P = softmax(S), O = P V, with (B·H, N, Dh) views of the operands. */
/** One backward pass alone (dK/dV, or dQ), after a forward done once outside the timing. */
function fusedPass(x: Inputs, opts: AttentionOpts, fwd: { o: Tensor; lse: Tensor }, kv: boolean): () => void {
  return () => {
    const gr = attentionBackward(x.q, x.k, x.v, fwd.o, fwd.lse, x.g, opts, { q: !kv, kv });
    for (const t of [gr.dq, gr.dk, gr.dv]) t?.dispose();
  };
}

function unfused(x: Inputs, bh: number, n: number, backward: boolean): () => void {
  const s = 1 / Math.sqrt(DH);
  // (B, H, N, Dh) dense -> (B·H, N, Dh): the same storage, its own strides.
  const [q, k, v, g] = [x.q, x.k, x.v, x.g].map((t) => t.view([bh, n, DH], [n * DH, DH, 1], t.offset));
  return () => {
    const S = matmul(q, k, { transB: true, alpha: s });
    const P = softmaxForward(S);
    S.dispose();
    const o = matmul(P, v);
    if (backward) {
      const dP = matmul(g, v, { transB: true });
      const dv = matmul(P, g, { transA: true });
      const dS = softmaxBackward(P, dP);
      dP.dispose();
      const dq = matmul(dS, k, { alpha: s });
      const dk = matmul(dS, q, { transA: true, alpha: s });
      for (const t of [dS, dq, dk, dv]) t.dispose();
    }
    P.dispose();
    o.dispose();
  };
}

/**
 * tfjs-webgpu: the same composition with tf ops. The backward is written out (tfjs-core's Node
 * build registers no gradient functions, so tf.grads is unavailable): the five matmuls and the
 * softmax backward dS = P ⊙ (dP - rowsum(P ⊙ dP)), as its autodiff would run them.
 */
function tfjsCase(tf: Tf, x: Inputs, bh: number, n: number, backward: boolean): { run: () => TfTensor[]; dispose: () => void } {
  const [q, k, v, g] = x.data.map((d) => tf.tensor3d(d, [bh, n, DH]));
  const s = 1 / Math.sqrt(DH);
  const run = (): TfTensor[] =>
    tf.tidy(() => {
      const P = tf.softmax(tf.mul(tf.matMul(q, k, false, true), s));
      const o = tf.matMul(P, v);
      if (!backward) return [o];
      const dP = tf.matMul(g, v, false, true);
      const dv = tf.matMul(P, g, true, false);
      const dS = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(P, dP), -1, true)));
      const dq = tf.mul(tf.matMul(dS, k), s);
      const dk = tf.mul(tf.matMul(dS, q, true, false), s);
      return [o, dq, dk, dv];
    }) as TfTensor[];
  return { run, dispose: () => [q, k, v, g].forEach((t) => t.dispose()) };
}

// ---------------------------------------------------------------- rows

/** "v3 0.82 ms, v7 0.41 ms": an autotuning result for the progress line. */
const fmtMs = (ms: Record<string, number>) => Object.entries(ms).map(([v, t]) => `v${v} ${t.toFixed(2)} ms`).join(', ');

/** The row of a one-pass backward (v4..v6) alone: dQ, dK and dV together. */
const onePass = (b: number) => `attention bwd v${b} (one pass)`;

/** Every row name a case can produce (a superset), to apply --filter before allocating. */
function possibleKernels(): string[] {
  const out = ['unfused fwd (matmul + softmax)', 'unfused fwd+bwd (matmul + softmax)'];
  for (const f of FORWARD_VERSIONS) {
    out.push(`attention fwd v${f}`);
    for (const b of BACKWARD_VERSIONS) out.push(`attention fwd+bwd v${f}+bwd v${b}`);
  }
  for (const b of BACKWARD_VERSIONS) {
    if (isOnePass(b)) out.push(onePass(b));
    else out.push(`attention bwd dkdv v${b}`, `attention bwd dq v${b}`);
  }
  return out;
}

export async function benchAttention(rt: Runtime, opts: { repeat?: number; filter?: RegExp; peers?: boolean; tune?: boolean } = {}): Promise<BenchRow[]> {
  const repeat = opts.repeat ?? 5;
  const rows: BenchRow[] = [];
  const tf = opts.peers ? await loadTfjsWebgpu() : null;
  const want = (kernel: string, shape: string) => !opts.filter || opts.filter.test(`${kernel} ${shape}`);
  const maxBinding = rt.limits.maxStorageBufferBindingSize;

  for (const c of CASES) {
    const shape = `B·H ${c.bh} N ${c.n} Dh ${DH}`;
    if (c.heavy && rt.adapter.family !== 'gpu' && !opts.filter?.test(shape)) {
      progress(`attention ${shape}: skipped on a CPU adapter (name it in --filter to run it)`);
      continue;
    }
    if (!possibleKernels().some((k) => want(k, shape))) continue;
    const x = makeInputs(rt, c.bh, c.n);
    if (opts.tune) {
      progress(`attention ${shape}: autotuning`);
      const t = await tuneAttention(x.q, x.k, x.v, x.g, repeat); // as many samples as the rows get
      progress(`attention ${shape}: tuned forward v${t.fwd.best} (${fmtMs(t.fwd.ms)}), backward v${t.bwd.best} (${fmtMs(t.bwd.ms)})`);
    }
    const plan = planAttention(rt, c.n, DH, [x.q, x.k, x.v, x.g], c.bh);
    const allVersions = c.n === 785 && c.bh === 6;
    const subgroupOk = subgroupIneligible(rt, DH, [x.q, x.k, x.v, x.g]) === null;
    const tiledOk = TILED_WORKGROUP_BYTES <= rt.limits.maxComputeWorkgroupStorageSize;
    const fwdVersions = FORWARD_VERSIONS.filter((v) => v < 4 || (isTiled(v) ? tiledOk : subgroupOk));
    const bwdVersions = BACKWARD_VERSIONS.filter((v) => v < 3 || (isTiled(v) ? tiledOk : subgroupOk && (v === 3 || attentionSubgroupSize(rt) === 8)));
    for (const backward of [false, true]) {
      const pass = backward ? 'fwd+bwd' : 'fwd';
      const flop = (backward ? 14 : 4) * c.bh * c.n * c.n * DH;
      const variants: { kernel: string; opts: AttentionOpts; picked: boolean }[] = [];
      if (!backward) {
        for (const fwd of allVersions ? fwdVersions : [plan.fwd]) {
          variants.push({ kernel: `attention ${pass} v${fwd}`, opts: { fwd }, picked: fwd === plan.fwd });
        }
      } else {
        for (const b of allVersions ? bwdVersions : [plan.dkdv]) {
          // Each backward version after the planned forward.
          variants.push({ kernel: `attention ${pass} v${plan.fwd}+bwd v${b}`, opts: { dkdv: b, dq: b }, picked: b === plan.dkdv });
        }
      }
      const todo = variants.filter((v) => want(v.kernel, shape));
      const unfusedKernel = `unfused ${pass} (matmul + softmax)`;
      if (todo.length === 0 && !want(unfusedKernel, shape)) continue;

      // Baselines first: the unfused composition (ours) and tfjs-webgpu's, where the N×N
      // scores fit one binding.
      const scoresFit = c.bh * c.n * c.n * 4 <= maxBinding;
      if (!scoresFit) progress(`attention ${shape}: unfused and tfjs skipped (scores of ${(c.bh * c.n * c.n * 4 / 2 ** 20).toFixed(0)} MiB exceed one binding)`);
      let unfusedRow: BenchRow | null = null;
      let tu: Measured | null = null;
      let peer: PeerResult | null = null;
      if (scoresFit) {
        progress(`attention ${shape}: ${unfusedKernel}`);
        tu = await measure(rt, unfused(x, c.bh, c.n, backward), { repeat, maxInner: 32 });
        unfusedRow = { kernel: unfusedKernel, shape, ...ourFields(tu, { flop }), peers: {}, pass, n: c.n, bh: c.bh, dh: DH };
        if (tf) {
          progress(`attention ${shape}: tfjs-webgpu ${pass}`);
          const p = tfjsCase(tf, x, c.bh, c.n, backward);
          try {
            peer = peerResult(await timeTfjs(tf, p.run, repeat), { flop });
          } catch (e) {
            progress(`tfjs-webgpu ${pass} ${shape} failed: ${(e as Error).message}`);
          }
          p.dispose();
        }
        if (peer) unfusedRow.peers['tfjs-webgpu'] = peer;
        if (want(unfusedKernel, shape)) rows.push(unfusedRow);
      }

      for (const v of todo) {
        progress(`attention ${shape}: ${v.kernel}`);
        const launch = backward ? fusedFwdBwd(x, v.opts) : fusedFwd(x, v.opts);
        const slow = !v.picked; // the naive versions take seconds per launch here
        const tm = await measure(rt, launch, { repeat: slow ? Math.min(repeat, 3) : repeat, maxInner: 32 });
        // The planned version against the unfused composition side by side (the acceptance
        // ratio): rows measured minutes apart on a shared box swing with its load.
        let paired = null;
        if (v.picked && scoresFit) {
          progress(`attention ${shape}: ${v.kernel} paired with ${unfusedKernel}`);
          paired = await measurePaired(rt, launch, unfused(x, c.bh, c.n, backward), { rounds: repeat, maxInner: 32 });
        }
        const peers: Record<string, PeerResult> = {};
        if (peer) peers['tfjs-webgpu'] = peer;
        if (tu) peers.unfused = baselineResult(tu, { flop });
        rows.push({
          kernel: v.kernel, shape, ...ourFields(tm, { flop }), peers,
          pass, n: c.n, bh: c.bh, dh: DH, picked: v.picked,
          cpu_ratio_vs_unfused: tu?.cpu_ms && tm.cpu_ms ? tu.cpu_ms / tm.cpu_ms : null,
          ...(paired ? { paired_vs_unfused: paired } : {}),
        });
      }
    }
    if (allVersions) {
      // Each backward pass alone, every version (the D kernel runs with each).
      const fwd = attentionForward(x.q, x.k, x.v, { fwd: plan.fwd });
      for (const b of bwdVersions.filter(isOnePass)) {
        const kernel = onePass(b);
        if (!want(kernel, shape)) continue;
        progress(`attention ${shape}: ${kernel}`);
        const flop = 10 * c.bh * c.n * c.n * DH; // products it executes: S, dP, dV, dK, dQ
        const both = { q: true, kv: true };
        const tm = await measure(rt, () => {
          const gr = attentionBackward(x.q, x.k, x.v, fwd.o, fwd.lse, x.g, { dkdv: b, dq: b }, both);
          for (const t of [gr.dq, gr.dk, gr.dv]) t?.dispose();
        }, { repeat, maxInner: 32 });
        rows.push({
          kernel, shape, ...ourFields(tm, { flop }),
          peers: {}, pass: 'bwd', n: c.n, bh: c.bh, dh: DH, picked: plan.dkdv === b, flop_counted: 'executed',
        });
      }
      for (const kv of [true, false]) {
        for (const b of bwdVersions.filter((v) => !isOnePass(v))) {
          const kernel = `attention bwd ${kv ? 'dkdv' : 'dq'} v${b}`;
          if (!want(kernel, shape)) continue;
          progress(`attention ${shape}: ${kernel}`);
          const flop = (kv ? 8 : 6) * c.bh * c.n * c.n * DH; // products it executes: S, dP (+ dV, dK | dQ)
          const tm = await measure(rt, fusedPass(x, { dkdv: b, dq: b }, fwd, kv), { repeat: b === plan.dkdv ? repeat : Math.min(repeat, 3), maxInner: 32 });
          rows.push({
            kernel, shape, ...ourFields(tm, { flop }),
            peers: {}, pass: kv ? 'bwd dkdv' : 'bwd dq', n: c.n, bh: c.bh, dh: DH, picked: b === plan.dkdv, flop_counted: 'executed',
          });
        }
      }
      fwd.o.dispose();
      fwd.lse.dispose();
    }
    for (const t of [x.q, x.k, x.v, x.g]) t.dispose();
  }

  // ViT-S/8 training memory: 64 images at 224 px, fused forward + backward once.
  const mshape = `B·H ${MEMORY_CASE.bh} N ${MEMORY_CASE.n} Dh ${DH}`;
  if (want('memory', mshape)) {
    progress(`attention ${mshape}: memory (one fused forward + backward)`);
    const x = makeInputs(rt, MEMORY_CASE.bh, MEMORY_CASE.n);
    const launch = fusedFwdBwd(x, {});
    const t0 = performance.now();
    const mem = await memoryOf(rt, launch);
    const ms = performance.now() - t0;
    const bytesPerTensor = MEMORY_CASE.bh * MEMORY_CASE.n * DH * 4;
    const mplan = planAttention(rt, MEMORY_CASE.n, DH, [x.q, x.k, x.v, x.g], MEMORY_CASE.bh);
    const dqAccBytes = MEMORY_CASE.bh * Math.ceil(MEMORY_CASE.n / 8) * 8 * DH * 4;
    rows.push({
      kernel: 'memory: fused fwd+bwd', shape: mshape, ms_median: ms, ms_min: ms, ms_max: ms, spread: 0,
      timing: 'wall', wall_ms_median: ms, first_ms: ms, note: 'one launch, compile included',
      gflops: gflops(14 * MEMORY_CASE.bh * MEMORY_CASE.n * MEMORY_CASE.n * DH, ms), peers: {},
      pass: 'fwd+bwd', n: MEMORY_CASE.n, bh: MEMORY_CASE.bh, dh: DH, ...mem,
      // q, k, v, dO in; O, dQ, dK, dV out: 8 tensors of B·H·N·Dh floats, each its own buffer.
      io_bytes: 8 * bytesPerTensor,
      // The one-pass backward adds its dQ accumulator, N rounded up to a multiple of 8.
      largest_tensor_bytes: Math.max(bytesPerTensor, isOnePass(mplan.dkdv) ? dqAccBytes : 0),
      dq_accumulator_bytes: isOnePass(mplan.dkdv) ? dqAccBytes : 0,
      max_binding_bytes: rt.limits.maxStorageBufferBindingSize,
      unfused_scores_bytes: MEMORY_CASE.bh * MEMORY_CASE.n * MEMORY_CASE.n * 4,
    });
    for (const t of [x.q, x.k, x.v, x.g]) t.dispose();
  }
  addRatios(rows);
  return rows;
}
