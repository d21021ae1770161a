// matmul: y = epilogue(alpha * op(A) @ op(B)), batched, with a fused epilogue.
//
// Math: y[b, m, n] = e(alpha * sum_k A[b, m, k] * B[b, k, n]),
//   e(x) = x (+ bias[n]) (-> gelu(x) = 0.5 x erfc(-x / sqrt 2)) (+ res[b, m, n]), in that order
//   (Linear: x W^T + b; MLP fc1: gelu(x W1^T + b1); fc2 with the residual: x + h W2^T + b2).
// Shapes (GEMM letters, used only in this family: M rows, N columns, K the reduced dim):
//   A (B|1, M, K), or (B|1, K, M) stored with TRANS_A      a_bs = M K, or 0: batch-broadcast
//   B (B|1, K, N), or (B|1, N, K) stored with TRANS_B      b_bs = K N, or 0 (Linear weights
//   bias (N)   res (B, M, N)   y (B, M, N)                 [out, in] are the TRANS_B case)
// All accumulation is f32. Edges: loads clamp row/column indices into the matrix (the
// clamped values feed only outputs that are never stored), so no inner loop has a bounds test.
// Traffic: an ideal kernel reads A and B once (4 (MK + KN) bytes) and writes y once (4 MN);
// FLOPs: 2 M N K (GFLOPS in bench/ use this count). ViT-S/8 qkv: 785x384 @ 384x1152 = 0.69
// GFLOP on 3.9 MB: ~180 FLOP/byte, so every version below is compute- or issue-bound.
//
// Threads: v1 one output per thread; v2 8x8 outputs per thread, no workgroup memory;
// v3 a 64x64 workgroup tile staged through workgroup memory, 4x4 outputs per thread; v6 a
// 128x128 tile, 8x8 outputs per thread (GPUs);
// v4/v5 one subgroup of SG lanes owns a (4 SG) x (4 SG) tile: lane l holds columns
// n0 + 4l .. 4l+3 of every row. Per step of 4 k, each lane loads a 4x4 block of A (its 4 rows)
// and of B (its 4 columns); row i of A reaches all lanes through subgroupShuffle (from lane
// i / 4), and acc[i] += A[m0 + i, k..k+3] * Bblock is 16 multiply-adds per lane.
//
// Why v4/v5 exist (lavapipe, read with GALLIVM_DEBUG=asm, Mesa 25.0 / LLVM 15): lavapipe runs
// 8 invocations in the 8 lanes of an AVX2 register. Arithmetic is cheap (mul + add, one blend
// per write to a loop-carried variable), but every storage-buffer load whose address is not a
// compile-time constant becomes a loop over the 8 lanes, each with an exec-mask test, a
// descriptor reload and a bounds check: ~13 instructions per lane for a scalar, ~40 for a vec4.
// Uniform buffers, textures and workgroup memory cost about the same (2.0-3.2 ns per lane-vec4
// against 2.7, measured), and with v5's loads replaced by arithmetic its loop runs ~4x faster.
// So loads set the speed: v4/v5 load each A and B value once per subgroup and spread it with
// subgroupShuffle (one vpermd), raising the multiply-adds per loaded float from 4 (v2) to 16.
// v5 loads vec4s: a quarter of v4's per-lane loops (~20% less CPU time, measured).
//
// qkv = 785x384 @ (1152x384)^T, the ViT-S/8 Linear. GFLOPS: wall clock / on the driver
// workers' CPU time (2 M N K over cpu_ms / 2, what the kernel does with both cores to itself;
// these shared machines ran at load averages of 2-9, so wall times are inflated). From
// bench/results/*-matmul.json; `*` marks the version the launcher picks on that adapter.
// (1) measured on the working tree over be50549 (lavapipe) and 40dbfcc (SwiftShader), in the
// change that lands this table.
// | version | idea                                                | lavapipe       | SwiftShader  | commit   |
// |---------|-----------------------------------------------------|----------------|--------------|----------|
// | v1      | naive: one output per thread, K loop, scalar loads  | 1.36 / 2.3     | 0.06 / 0.3   | (1)      |
// | v2      | 8x8 outputs per thread in registers, clamped loads  | 8.43 / 14.9    | 0.72 / 2.9 * | (1)      |
// | v3      | 64x64x16 workgroup-memory tiles, 4x4 per thread     | 2.52 / 4.2     | 0.09 / 0.5   | (1)      |
// | v4      | subgroup tile (4 SG)^2, shuffled A rows, scalars    | 15.74 / 29.9   | 0.38 / 2.6   | (1)      |
// | v5      | v4 with vec4 loads (K % 4 == 0, aligned layouts)    | 22.42 / 38.8 * | 0.38 / 2.6   | (1)      |
// | v6      | GPUs: 128x128 tiles, 8x8 per thread, vec4 tile reads | 10.27 / - (2)  | -            | (2)      |
// | v5 (y4) | v5's epilogue as one vec4 per row when N % 4 == 0   | (3)            | -            | (3)      |
// (2) v6 was written for GPUs without a GPU to measure it on (2026-11-26); tested on lavapipe,
// where `bench matmul --filter qkv --repeat 3` at 073653a + v6 (idle box) gave v6 10.27 GFLOPS
// wall against v3 3.93, v2 9.62, v5 27.81 (each workgroup-memory read is a loop over the
// lanes there). It stays off by default until `bench matmul --tune` picks it on a GPU.
// (3) the vec4 epilogue (matmul_v5_y4, taken whenever N % 4 == 0): paired A/B of the workers'
// CPU time against the scalar epilogue, `scripts/matmul-epilogue-ab.ts 15` (lavapipe, 2026-11-26):
// main-job fc1 1040x128 @ (512x128)^T + bias + GELU 1.25x, qkv (384 out) + bias 1.18x, fc2
// (K 512) + bias + residual 1.08x, a plain 520x128 @ 128x512 1.06x, ViT-S/8 qkv + bias 1.08x.
// Tried on lavapipe and not kept (CPU time on qkv, same sessions): v4/v5 with their row loop
// left to the compiler: 4x slower (acc and the shuffle lane indexed at run time); 8 columns per
// lane (a 32x64 subgroup tile, 25% fewer loads per FMA): no gain, 31-42 vs 31 ms; the k step
// split in two halves to cut live registers: no gain; workgroups of 8, 16, 32 threads: equal,
// 64: 15-30% slower (too few workgroups per thread). Dawn's disable_robustness: 7-11% less CPU
// time (v5 33.0 vs 35.6 ms), opt-in only (`bench --no-robustness`). Real GPUs: v3 is the
// default by design, not yet measured (no GPU here).
//
// The subgroup versions need the 'subgroups' feature: on devices without it the launcher cuts
// the `enable` line and everything from the subgroup-section marker line on.
enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  a_bs: u32,   // elements between batches of A (0: one A for every batch)
  b_bs: u32,   // elements between batches of B
  alpha: f32,
  flags: u32,  // epilogue: 1 bias, 2 gelu, 4 residual (uniform flags, not overrides: one
               // pipeline per layout instead of eight; the branches run once per output)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;  // (N); a dummy binding without a bias
@group(0) @binding(4) var<storage, read> res: array<f32>;   // (B, M, N); a dummy without a residual
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

override TRANS_A: bool = false;
override TRANS_B: bool = false;
// v1/v2/v3: 2-D workgroups; v3 needs WG_X = BN / 4 and WG_Y = BM / 4.
override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
// v3 tile: BM x BN outputs per workgroup, BK of K staged per step.
override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 16u;
// v4/v5: subgroup size (8 on lavapipe, 4 on SwiftShader) and threads per workgroup.
override SG: u32 = 8u;
override WG: u32 = 64u;

// erfc(z) with relative error below 1.2e-7 for all z (the Chebyshev fit used by
// shaders/elementwise.wgsl). gelu through erfc stays accurate in the negative tail, where
// 1 + erf(x) cancels.
fn erfc_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(poly);
  return select(2.0 - r, r, x >= 0.0);
}

// The epilogue for output (bt, m, n) with accumulated dot product v; stores nothing outside.
fn store(bt: u32, m: u32, n: u32, v: f32) {
  if (m >= p.M || n >= p.N) { return; }
  let at = (bt * p.M + m) * p.N + n;
  var x = p.alpha * v;
  if ((p.flags & 1u) != 0u) { x += bias[n]; }
  if ((p.flags & 2u) != 0u) { x = 0.5 * x * erfc_(-x * 0.70710678118654752); }
  if ((p.flags & 4u) != 0u) { x += res[at]; }
  y[at] = x;
}

// Element offsets of A[bt, m, k] and B[bt, k, n] in their stored layouts.
fn a_idx(bt: u32, m: u32, k: u32) -> u32 {
  return bt * p.a_bs + select(m * p.K + k, k * p.M + m, TRANS_A);
}
fn b_idx(bt: u32, k: u32, n: u32) -> u32 {
  return bt * p.b_bs + select(k * p.N + n, n * p.K + k, TRANS_B);
}

// ---------------------------------------------------------------- v1: naive
// One output per thread: 2K loads per 2K FLOPs. The oracle-friendly baseline.
@compute @workgroup_size(WG_X, WG_Y)
fn matmul_v1(@builtin(global_invocation_id) g: vec3<u32>) {
  let n = g.x;
  let m = g.y;
  let bt = g.z;
  if (m >= p.M || n >= p.N) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) {
    s = fma(a[a_idx(bt, m, k)], b[b_idx(bt, k, n)], s);
  }
  store(bt, m, n, s);
}

// ---------------------------------------------------------------- v2: register blocking
// 8x8 outputs per thread, no workgroup memory: per k, 8 + 8 loads feed 64 multiply-adds.
// Rows and columns past the edge are clamped, so the K loop has no bounds test. Unrolled by
// hand (rows as named values, columns as two vec4s): software drivers leave short loops over
// arrays rolled and keep the arrays in memory (SwiftShader ran the loop form 20x slower).
fn v2_row(acc: ptr<function, array<vec4<f32>, 16>>, i: u32, av: f32, b0: vec4<f32>, b1: vec4<f32>) {
  (*acc)[2u * i] = fma(vec4(av), b0, (*acc)[2u * i]);
  (*acc)[2u * i + 1u] = fma(vec4(av), b1, (*acc)[2u * i + 1u]);
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_v2(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let m0 = (wid.y * WG_Y + lid.y) * 8u;
  let n0 = (wid.x * WG_X + lid.x) * 8u;
  let bt = wid.z;
  let lm = p.M - 1u;
  let ln = p.N - 1u;
  let r0 = min(m0, lm); let r1 = min(m0 + 1u, lm); let r2 = min(m0 + 2u, lm); let r3 = min(m0 + 3u, lm);
  let r4 = min(m0 + 4u, lm); let r5 = min(m0 + 5u, lm); let r6 = min(m0 + 6u, lm); let r7 = min(m0 + 7u, lm);
  let c0 = min(n0, ln); let c1 = min(n0 + 1u, ln); let c2 = min(n0 + 2u, ln); let c3 = min(n0 + 3u, ln);
  let c4 = min(n0 + 4u, ln); let c5 = min(n0 + 5u, ln); let c6 = min(n0 + 6u, ln); let c7 = min(n0 + 7u, ln);
  var acc: array<vec4<f32>, 16>;  // row i: columns 0-3 in acc[2i], 4-7 in acc[2i + 1]
  for (var k = 0u; k < p.K; k++) {
    let b0 = vec4(b[b_idx(bt, k, c0)], b[b_idx(bt, k, c1)], b[b_idx(bt, k, c2)], b[b_idx(bt, k, c3)]);
    let b1 = vec4(b[b_idx(bt, k, c4)], b[b_idx(bt, k, c5)], b[b_idx(bt, k, c6)], b[b_idx(bt, k, c7)]);
    v2_row(&acc, 0u, a[a_idx(bt, r0, k)], b0, b1);
    v2_row(&acc, 1u, a[a_idx(bt, r1, k)], b0, b1);
    v2_row(&acc, 2u, a[a_idx(bt, r2, k)], b0, b1);
    v2_row(&acc, 3u, a[a_idx(bt, r3, k)], b0, b1);
    v2_row(&acc, 4u, a[a_idx(bt, r4, k)], b0, b1);
    v2_row(&acc, 5u, a[a_idx(bt, r5, k)], b0, b1);
    v2_row(&acc, 6u, a[a_idx(bt, r6, k)], b0, b1);
    v2_row(&acc, 7u, a[a_idx(bt, r7, k)], b0, b1);
  }
  // Run-time bounds and a copy of acc: one copy of the epilogue code, and acc indexed by
  // constants only (see subgroup_store).
  var tile = acc;
  let nr = select(0u, min(8u, p.M - m0), m0 < p.M);
  let nc = select(0u, min(8u, p.N - n0), n0 < p.N);
  for (var i = 0u; i < nr; i++) {
    for (var j = 0u; j < nc; j++) { store(bt, m0 + i, n0 + j, tile[2u * i + j / 4u][j % 4u]); }
  }
}

// ---------------------------------------------------------------- v3: workgroup tiles
// Each BK step stages a BM x BK block of A and a BK x BN block of B in workgroup memory (each
// element read from global memory once per workgroup), then every thread reads 4 + 4 values
// per k from workgroup memory for 16 multiply-adds. Tiles are stored k-major so a thread's
// 4 rows (4 columns) are adjacent.
var<workgroup> tile_a: array<f32, BM * BK>;  // [kk][mm]
var<workgroup> tile_b: array<f32, BK * BN>;  // [kk][nn]

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_v3(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let bt = wid.z;
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let threads = WG_X * WG_Y;
  var acc: array<vec4<f32>, 4>;  // rows 4 lid.y + i, columns 4 lid.x .. + 3
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // Cooperative loads; consecutive threads walk the stored contiguous dimension.
    for (var e = li; e < BM * BK; e += threads) {
      let kk = select(e % BK, e / BM, TRANS_A);
      let mm = select(e / BK, e % BM, TRANS_A);
      let m = m0 + mm;
      let k = k0 + kk;
      let v = a[a_idx(bt, min(m, p.M - 1u), min(k, p.K - 1u))];
      tile_a[kk * BM + mm] = select(0.0, v, m < p.M && k < p.K);
    }
    for (var e = li; e < BK * BN; e += threads) {
      let kk = select(e / BN, e % BK, TRANS_B);
      let nn = select(e % BN, e / BK, TRANS_B);
      let n = n0 + nn;
      let k = k0 + kk;
      let v = b[b_idx(bt, min(k, p.K - 1u), min(n, p.N - 1u))];
      tile_b[kk * BN + nn] = select(0.0, v, n < p.N && k < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let ai = kk * BM + 4u * lid.y;
      let bi = kk * BN + 4u * lid.x;
      let bv = vec4(tile_b[bi], tile_b[bi + 1u], tile_b[bi + 2u], tile_b[bi + 3u]);
      for (var i = 0u; i < 4u; i++) { acc[i] = fma(vec4(tile_a[ai + i]), bv, acc[i]); }
    }
    workgroupBarrier();
  }
  var tile = acc;
  let mt = m0 + 4u * lid.y;
  let nt = n0 + 4u * lid.x;
  let nr = select(0u, min(4u, p.M - mt), mt < p.M);
  let nc = select(0u, min(4u, p.N - nt), nt < p.N);
  for (var i = 0u; i < nr; i++) {
    for (var j = 0u; j < nc; j++) { store(bt, mt + i, nt + j, tile[i][j]); }
  }
}

// ---------------------------------------------------------------- v6: GPU register blocking
// v3's tiling grown for GPUs (written without one to tune it on; bench matmul --tune times it
// there): 128x128 outputs per workgroup of 16x16 threads, BK = 8 of K staged per step, and
// 8x8 outputs per thread, as four 4x4 quadrants (rows 4 ty + i and 64 + 4 ty + i, columns
// 4 tx + j and 64 + 4 tx + j). Per k a thread reads two vec4s of A and two of B from
// workgroup memory for 64 multiply-adds: 16 per read, against v3's 2 (which a GPU's
// workgroup-memory bandwidth, not its FMA rate, bounds). The quadrant split keeps the 16
// threads of a row of the grid on 16 consecutive vec4s, so no two of them share a bank. Tiles
// are k-major vec4s: 2 x 8 x 128 floats = 8 KiB (fits WebGPU's default 16 KiB).
const V6_BM: u32 = 128u;
const V6_BK: u32 = 8u;
var<workgroup> t6a: array<vec4<f32>, 256>;  // [kk][m4]: A[m0 + 4 m4 + c, k0 + kk] in component c
var<workgroup> t6b: array<vec4<f32>, 256>;  // [kk][n4]: B[k0 + kk, n0 + 4 n4 + c]

@compute @workgroup_size(16, 16)
fn matmul_v6(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
  let bt = wid.z;
  let m0 = wid.y * V6_BM;
  let n0 = wid.x * V6_BM;
  let tx = lid.x;
  let ty = lid.y;
  var acc: array<vec4<f32>, 16>;  // [2 qr + qc][i]: row (64 qr + 4 ty + i), columns 64 qc + 4 tx ..
  for (var k0 = 0u; k0 < p.K; k0 += V6_BK) {
    // Cooperative loads, 4 floats of each tile per thread; consecutive threads walk the stored
    // contiguous dimension. Past M, N or K: zeros (the loads clamp, so no read leaves the matrix).
    for (var e = li; e < V6_BM * V6_BK; e += 256u) {
      let kk = select(e % V6_BK, e / V6_BM, TRANS_A);
      let mm = select(e / V6_BK, e % V6_BM, TRANS_A);
      let m = m0 + mm;
      let k = k0 + kk;
      let v = a[a_idx(bt, min(m, p.M - 1u), min(k, p.K - 1u))];
      t6a[kk * 32u + mm / 4u][mm % 4u] = select(0.0, v, m < p.M && k < p.K);
    }
    for (var e = li; e < V6_BK * V6_BM; e += 256u) {
      let kk = select(e / V6_BM, e % V6_BK, TRANS_B);
      let nn = select(e % V6_BM, e / V6_BK, TRANS_B);
      let n = n0 + nn;
      let k = k0 + kk;
      let v = b[b_idx(bt, min(k, p.K - 1u), min(n, p.N - 1u))];
      t6b[kk * 32u + nn / 4u][nn % 4u] = select(0.0, v, n < p.N && k < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < V6_BK; kk++) {
      let a0 = t6a[kk * 32u + ty];
      let a1 = t6a[kk * 32u + 16u + ty];
      let b0 = t6b[kk * 32u + tx];
      let b1 = t6b[kk * 32u + 16u + tx];
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4(a0[i]), b0, acc[i]);
        acc[4u + i] = fma(vec4(a0[i]), b1, acc[4u + i]);
        acc[8u + i] = fma(vec4(a1[i]), b0, acc[8u + i]);
        acc[12u + i] = fma(vec4(a1[i]), b1, acc[12u + i]);
      }
    }
    workgroupBarrier();
  }
  for (var q = 0u; q < 4u; q++) {
    let mt = m0 + 64u * (q / 2u) + 4u * ty;
    let nt = n0 + 64u * (q % 2u) + 4u * tx;
    for (var i = 0u; i < 4u; i++) {
      let v = acc[4u * q + i];
      for (var j = 0u; j < 4u; j++) { store(bt, mt + i, nt + j, v[j]); }
    }
  }
}

// ---- subgroup versions ----
// v4/v5 share this core. Per step of 4 k, lane l holds two 4x4 blocks:
//   am: column c = A[m0 + 4l + c, k .. k+3]     bm: column c = B[k .. k+3, n0 + 4l + c]
// Row 4j + c of the tile lives in lane j (column c of its am); subgroupShuffle brings it to
// every lane, and row * bm is the 4 dot products of that row with the lane's 4 columns.
// acc[j] column c accumulates row 4j + c: 4 SG rows x 4 columns, 128 floats per lane at SG = 8
// (lavapipe keeps most of them on the stack: a load and a store per 16 multiply-adds).

// Rows 4j .. 4j+3 of the tile (from lane j) times the lane's columns.
fn rows4(am: mat4x4<f32>, bm: mat4x4<f32>, j: u32) -> mat4x4<f32> {
  return mat4x4<f32>(subgroupShuffle(am[0], j) * bm, subgroupShuffle(am[1], j) * bm,
                     subgroupShuffle(am[2], j) * bm, subgroupShuffle(am[3], j) * bm);
}

// Unrolled by hand: lavapipe leaves a 4 SG-trip loop rolled, and a rolled loop indexes acc and
// the shuffle lane at run time, which keeps acc in memory (4x slower, measured).
fn subgroup_tile(am: mat4x4<f32>, bm: mat4x4<f32>, acc: ptr<function, array<mat4x4<f32>, 8>>) {
  (*acc)[0] += rows4(am, bm, 0u);
  (*acc)[1] += rows4(am, bm, 1u);
  (*acc)[2] += rows4(am, bm, 2u);
  (*acc)[3] += rows4(am, bm, 3u);
  if (SG == 8u) {
    (*acc)[4] += rows4(am, bm, 4u);
    (*acc)[5] += rows4(am, bm, 5u);
    (*acc)[6] += rows4(am, bm, 6u);
    (*acc)[7] += rows4(am, bm, 7u);
  }
}

// The epilogue loop has a run-time bound, so the compiler emits it once instead of unrolling
// 128 copies (a 15 s compile on lavapipe with GELU); it reads a copy of acc, so acc itself is
// only ever indexed by constants and stays out of memory in the K loop.
fn subgroup_store(bt: u32, m0: u32, n0l: u32, tile: ptr<function, array<mat4x4<f32>, 8>>) {
  let rows = min(4u * SG, p.M - m0);
  for (var i = 0u; i < rows; i++) {
    let v = (*tile)[i / 4u][i % 4u];
    for (var c = 0u; c < 4u; c++) { store(bt, m0 + i, n0l + c, v[c]); }
  }
}

// A[m, k] for k < K, else 0 (the last step of 4 may run past K).
fn a_k(bt: u32, m: u32, k: u32) -> f32 {
  return select(0.0, a[a_idx(bt, m, min(k, p.K - 1u))], k < p.K);
}
fn b_k(bt: u32, k: u32, n: u32) -> f32 {
  return select(0.0, b[b_idx(bt, min(k, p.K - 1u), n)], k < p.K);
}

// ---------------------------------------------------------------- v4: subgroup tile, scalar loads
// Any layout, any K. 32 scalar loads per lane per 4 k feed 512 multiply-adds per lane.
@compute @workgroup_size(WG)
fn matmul_v4(@builtin(subgroup_invocation_id) lane: u32, @builtin(local_invocation_index) li: u32,
             @builtin(workgroup_id) wid: vec3<u32>) {
  let t = 4u * SG;
  let n0 = (wid.x * (WG / SG) + li / SG) * t;
  let m0 = wid.y * t;
  let bt = wid.z;
  let m0l = m0 + 4u * lane;
  let n0l = n0 + 4u * lane;
  var acc: array<mat4x4<f32>, 8>;
  for (var k = 0u; k < p.K; k += 4u) {
    var am: mat4x4<f32>;
    var bm: mat4x4<f32>;
    for (var c = 0u; c < 4u; c++) {
      let m = min(m0l + c, p.M - 1u);
      let n = min(n0l + c, p.N - 1u);
      am[c] = vec4(a_k(bt, m, k), a_k(bt, m, k + 1u), a_k(bt, m, k + 2u), a_k(bt, m, k + 3u));
      bm[c] = vec4(b_k(bt, k, n), b_k(bt, k + 1u, n), b_k(bt, k + 2u, n), b_k(bt, k + 3u, n));
    }
    subgroup_tile(am, bm, &acc);
  }
  var tile = acc;
  subgroup_store(bt, m0, n0l, &tile);
}

// ---------------------------------------------------------------- v5: subgroup tile, vec4 loads
// The same buffers seen 4 floats at a time. Needs K % 4 == 0, and M % 4 == 0 with TRANS_A,
// N % 4 == 0 without TRANS_B (the launcher checks). 8 vec4 loads per lane per 4 k.
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

fn a_block(bt: u32, m0l: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_A) {
    // Stored rows k .. k+3 of A^T, each 4 consecutive m: transpose to columns per m.
    let base = (bt * p.a_bs + k * p.M + min(m0l, p.M - 4u)) / 4u;
    let s = p.M / 4u;
    return transpose(mat4x4<f32>(a4[base], a4[base + s], a4[base + 2u * s], a4[base + 3u * s]));
  }
  var am: mat4x4<f32>;
  for (var c = 0u; c < 4u; c++) { am[c] = a4[(bt * p.a_bs + min(m0l + c, p.M - 1u) * p.K + k) / 4u]; }
  return am;
}

fn b_block(bt: u32, n0l: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_B) {
    var bm: mat4x4<f32>;
    for (var c = 0u; c < 4u; c++) { bm[c] = b4[(bt * p.b_bs + min(n0l + c, p.N - 1u) * p.K + k) / 4u]; }
    return bm;
  }
  let base = (bt * p.b_bs + k * p.N + min(n0l, p.N - 4u)) / 4u;
  let s = p.N / 4u;
  return transpose(mat4x4<f32>(b4[base], b4[base + s], b4[base + 2u * s], b4[base + 3u * s]));
}

// Where the subgroup's tile lies: batch, first row, and the lane's first column.
struct V5Place { bt: u32, m0: u32, n0l: u32 }

fn v5_place(lane: u32, li: u32, wid: vec3<u32>) -> V5Place {
  let t = 4u * SG;
  let n0 = (wid.x * (WG / SG) + li / SG) * t;
  return V5Place(wid.z, wid.y * t, n0 + 4u * lane);
}

// The lane's 4 columns of the tile's 4 SG rows, before the epilogue (see subgroup_tile). Returned
// by value, like the `var tile = acc` copy of v4: acc itself is only ever indexed by constants.
fn v5_product(pl: V5Place, lane: u32) -> array<mat4x4<f32>, 8> {
  let m0l = pl.m0 + 4u * lane;
  var acc: array<mat4x4<f32>, 8>;
  for (var k = 0u; k < p.K; k += 4u) {
    subgroup_tile(a_block(pl.bt, m0l, k), b_block(pl.bt, pl.n0l, k), &acc);
  }
  return acc;
}

@compute @workgroup_size(WG)
fn matmul_v5(@builtin(subgroup_invocation_id) lane: u32, @builtin(local_invocation_index) li: u32,
             @builtin(workgroup_id) wid: vec3<u32>) {
  let pl = v5_place(lane, li, wid);
  var tile = v5_product(pl, lane);
  subgroup_store(pl.bt, pl.m0, pl.n0l, &tile);
}

// ---------------------------------------------------------------- v5, N % 4 == 0: vec4 epilogue
// The launcher takes this entry for v5 whenever N % 4 == 0: the lane's 4 columns are then one
// aligned vec4 of every output row. Per row it stores one vec4 and reads one of the residual,
// where store() makes 4 scalar stores, 4 bias reads and 4 residual reads (each a loop over
// the lanes on lavapipe); the lane's 4 bias values are read once for all its rows. Same math,
// same order of operations per element as store(): alpha·v, + bias, GELU, + residual.
@group(0) @binding(3) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> res4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4<f32>>;

fn gelu4(x: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(0.5 * x.x * erfc_(-x.x * 0.70710678118654752), 0.5 * x.y * erfc_(-x.y * 0.70710678118654752),
                   0.5 * x.z * erfc_(-x.z * 0.70710678118654752), 0.5 * x.w * erfc_(-x.w * 0.70710678118654752));
}

fn subgroup_store4(bt: u32, m0: u32, n0l: u32, tile: ptr<function, array<mat4x4<f32>, 8>>) {
  if (n0l >= p.N || m0 >= p.M) { return; }
  let rows = min(4u * SG, p.M - m0);
  var bv = vec4<f32>(0.0);
  if ((p.flags & 1u) != 0u) { bv = bias4[n0l / 4u]; }
  let n4 = p.N / 4u;
  var at = (bt * p.M + m0) * n4 + n0l / 4u;
  for (var i = 0u; i < rows; i++) {
    var x = p.alpha * (*tile)[i / 4u][i % 4u] + bv;
    if ((p.flags & 2u) != 0u) { x = gelu4(x); }
    if ((p.flags & 4u) != 0u) { x += res4[at]; }
    y4[at] = x;
    at += n4;
  }
}

@compute @workgroup_size(WG)
fn matmul_v5_y4(@builtin(subgroup_invocation_id) lane: u32, @builtin(local_invocation_index) li: u32,
                @builtin(workgroup_id) wid: vec3<u32>) {
  let pl = v5_place(lane, li, wid);
  var tile = v5_product(pl, lane);
  subgroup_store4(pl.bt, pl.m0, pl.n0l, &tile);
}
