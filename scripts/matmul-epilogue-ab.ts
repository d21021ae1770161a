// Paired A/B of matmul v5's vec4 epilogue (matmul_v5_y4) against its scalar one (matmul_v5) at
// the main job's Linear shapes and ViT-S/8's qkv: alternating batches of 6 launches, same
// process, median of per-round ratios of the driver workers' CPU time (wall time on this shared
// box drifts more than the effect).
//   npx esbuild scripts/matmul-epilogue-ab.ts --bundle --platform=node --format=esm --loader:.wgsl=text \
//     --external:webgpu --outfile=dist/matmul-epilogue-ab.mjs && node dist/matmul-epilogue-ab.mjs [ROUNDS]
import { initNode } from '../src/node/index.js';
import { Tensor } from '../src/autograd/tensor.js';
import { matmul, setVec4Epilogue } from '../src/kernels/matmul.js';
import { workerCpuMs } from '../bench/harness.js';
const rt = await initNode();
if (workerCpuMs() === null) throw new Error('needs /proc/self/task (Linux) for the workers\' CPU time');
const rounds = Number(process.argv[2] ?? 9);
const r = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
const cases = [
  { name: 'fc1 1040x128 @ (512x128)^T +bias gelu', M: 1040, N: 512, K: 128, tb: true, bias: true, gelu: true },
  { name: 'fc2 1040x512 @ (128x512)^T +bias +res', M: 1040, N: 128, K: 512, tb: true, bias: true, res: true },
  { name: 'qkv 1040x128 @ (384x128)^T +bias', M: 1040, N: 384, K: 128, tb: true, bias: true },
  { name: 'dx 520x128 @ 128x512', M: 520, N: 512, K: 128, tb: false },
  { name: 'vit-s qkv 785x384 @ (1152x384)^T +bias', M: 785, N: 1152, K: 384, tb: true, bias: true },
];
for (const c of cases) {
  const a = Tensor.fromArray(r(c.M * c.K), [c.M, c.K], rt);
  const b = Tensor.fromArray(r(c.N * c.K), c.tb ? [c.N, c.K] : [c.K, c.N], rt);
  const bias = c.bias ? Tensor.fromArray(r(c.N), [c.N], rt) : null;
  const res = c.res ? Tensor.fromArray(r(c.M * c.N), [c.M, c.N], rt) : null;
  const inner = 6;
  const time = async (old: boolean) => {
    setVec4Epilogue(!old);
    await rt.sync();
    const t0 = workerCpuMs()!;
    for (let i = 0; i < inner; i++) matmul(a, b, { transB: c.tb, bias, gelu: c.gelu, residual: res }).dispose();
    await rt.sync();
    return (workerCpuMs()! - t0) / inner;
  };
  await time(true); await time(false);
  const ratios: number[] = []; const o: number[] = []; const n: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 ? [true, false] : [false, true];
    const t: Record<string, number> = {};
    for (const x of order) t[String(x)] = await time(x);
    o.push(t.true); n.push(t.false); ratios.push(t.true / t.false);
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[x.length >> 1];
  console.log(`${c.name}: scalar epilogue ${med(o).toFixed(2)} cpu-ms, vec4 ${med(n).toFixed(2)} cpu-ms, paired ${med(ratios).toFixed(3)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`);
  for (const t of [a, b, bias, res]) t?.dispose();
}
process.exit(0);
