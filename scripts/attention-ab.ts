// Research tool: two fused-attention plans timed side by side in one process (bench/measure.ts
// measurePaired: alternating samples, median of the per-round ratios), plus the driver workers'
// CPU time of each and the largest relative difference of their outputs. On a box whose speed
// drifts between processes this is how a kernel change is judged (bench/README.md, "What limits
// fused attention on lavapipe").
//
//   npx esbuild scripts/attention-ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
//     --external:webgpu --outfile=dist/attention-ab.mjs
//   node dist/attention-ab.mjs PASS A B [ROUNDS N BH]
// PASS: fwd | bwd. A, B: a version, optionally with key splits for the one-pass backward, e.g.
// `5` or `5/1` (v5, one split). Defaults: 11 rounds, N = 785, B·H = 6, Dh = 64. Prints the
// speedup of B over A (> 1: B is faster).
import { initNode } from '../src/node/index.js';
import { Tensor } from '../src/autograd/tensor.js';
import { attentionForward, attentionBackward, type AttentionOpts, type ForwardVersion, type BackwardVersion } from '../src/kernels/attention.js';
import { measurePaired } from '../bench/measure.js';
import { workerCpuMs } from '../bench/harness.js';

const [pass, aArg, bArg, roundsArg, nArg, bhArg] = process.argv.slice(2);
if ((pass !== 'fwd' && pass !== 'bwd') || !aArg || !bArg) {
  throw new Error('usage: node dist/attention-ab.mjs fwd|bwd A B [ROUNDS N BH]   (A, B: a version, or version/keySplits)');
}
const rounds = Number(roundsArg ?? 11);
const [n, bh, d] = [Number(nArg ?? 785), Number(bhArg ?? 6), 64];

function plan(arg: string): AttentionOpts {
  const [v, ks] = arg.split('/').map(Number);
  return pass === 'fwd' ? { fwd: v as ForwardVersion } : { dkdv: v as BackwardVersion, dq: v as BackwardVersion, ...(ks ? { keySplits: ks } : {}) };
}

const rt = await initNode();
let seed = 7;
const rnd = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return (seed >>> 8) / 8388608 - 1;
};
const input = () => Tensor.fromArray(Float32Array.from({ length: bh * n * d }, rnd), [1, bh, n, d], rt);
const [q, k, v, g] = [input(), input(), input(), input()];
const saved = attentionForward(q, k, v); // O and L for the backward, from the planned forward

function run(opts: AttentionOpts): Tensor[] {
  if (pass === 'fwd') {
    const r = attentionForward(q, k, v, opts);
    return [r.o, r.lse];
  }
  const r = attentionBackward(q, k, v, saved.o, saved.lse, g, opts);
  return [r.dq!, r.dk!, r.dv!];
}
const launch = (opts: AttentionOpts) => () => run(opts).forEach((t) => t.dispose());

async function outputs(opts: AttentionOpts): Promise<Float32Array[]> {
  const ts = run(opts);
  const out = await Promise.all(ts.map((t) => t.toArray()));
  ts.forEach((t) => t.dispose());
  return out;
}

async function cpuMs(opts: AttentionOpts, reps = 5): Promise<number> {
  const l = launch(opts);
  await rt.sync();
  const c0 = workerCpuMs() ?? NaN;
  for (let i = 0; i < reps; i++) l();
  await rt.sync();
  return ((workerCpuMs() ?? NaN) - c0) / reps;
}

const [pa, pb] = [plan(aArg), plan(bArg)];
const [oa, ob] = [await outputs(pa), await outputs(pb)];
let maxRel = 0;
oa.forEach((x, i) => x.forEach((y, j) => (maxRel = Math.max(maxRel, Math.abs(y - ob[i][j]) / (1e-3 + Math.abs(y))))));
const r = await measurePaired(rt, launch(pb), launch(pa), { rounds, maxInner: 8 });
const cpu = [await cpuMs(pa), await cpuMs(pb), await cpuMs(pa), await cpuMs(pb)].map((c) => c.toFixed(1));
console.log(
  `${pass} N ${n} B·H ${bh}: ${aArg} ${r.b_ms_median.toFixed(1)} ms, ${bArg} ${r.a_ms_median.toFixed(1)} ms; ` +
    `speedup of ${bArg} ${r.median.toFixed(3)} (rounds ${r.min.toFixed(2)}-${r.max.toFixed(2)}); ` +
    `worker CPU ms ${cpu[0]}/${cpu[2]} vs ${cpu[1]}/${cpu[3]}; max relative difference ${maxRel.toExponential(2)}`,
);
process.exit(0);
