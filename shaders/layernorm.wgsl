// layernorm: y = (x - mean) * rstd * w + b over the last axis (PyTorch's LayerNorm).
//
// Math: mean = Σ_j x_j / D,  var = Σ_j (x_j - mean)² / D (biased, as PyTorch),
//   rstd = 1 / sqrt(var + eps) (ViT: eps = 1e-6).
// Numerics (f32, corrected two-pass): pass 1 gives m = Σ x / D; pass 2 sums d_j = x_j - m
//   and d_j², then c = Σ d / D is what m missed (its rounding, up to ulp(mean) / 2), and
//   var = Σ d² / D - c². No E[x²] - mean² cancellation, and the output subtracts the mean in
//   two pieces, y = (x_j - m - c) * rstd * w + b: x_j - m is exact for x_j near m (Sterbenz),
//   so rows with |mean| >> std (ViT's outlier channels) lose nothing to the mean's rounding,
//   where a single f32 mean costs a relative error of ulp(mean) / std.
// SAVE_STATS also writes mean and rstd per row for the backward (a later entry here):
//   dx = rstd * (g - mean_j(g) - xhat * mean_j(g ⊙ xhat)), g = dy ⊙ w, xhat = (x - mean) * rstd.
// Shapes: x, y dense (rows, D), rows = B·N tokens (785·B for ViT-S/8 at 224 px), D = 384;
//   w, b (D); mean, rstd (rows).
// Threads:
//   v1  one thread per row: three serial passes (mean, variance, write).
//   v2  one workgroup per row, threads stride over the row (coalesced), a tree over workgroup
//       memory for the sum and for the squared deviations; x read three times.
//   v3  as v2, but each thread keeps its VPT elements of the row in registers: x is read from
//       memory once, and the two-pass variance costs no extra traffic. D <= VPT·WG.
// Traffic: 4 bytes of x read + 4 of y written per element, plus w and b (8·D per row, cached
//   across rows) and 8 bytes of stats per row; ~10 FLOPs per element (~1.2 FLOP/byte): memory
//   bound on a GPU.
//
// GB/s = (8 per element + 8·D) / median time, from bench/layernorm.ts. Times include
// recording each dispatch on the host (~40 us on the H200 machine). H200: Dawn/Vulkan, driver
// 580.159, (785·64, 384) / (785·8, 384) (tfjs-webgpu, moments + arithmetic: 168 / 17 GB/s).
// lavapipe: Mesa 25.0.7, 2 cores shared with other jobs (load ~7), (785·8, 384) (tfjs-webgpu:
// 0.06 GB/s); in brackets (785, 384) in a quieter minute (load ~3.5, min of 9, one-off sweep).
// | version              | idea                                        | H200 GB/s            | lavapipe GB/s         | commit     |
// |----------------------|---------------------------------------------|----------------------|-----------------------|------------|
// | layernorm_forward_v1 | thread per row, 3 passes                    | 263 wg64 / 117 wg8   | 0.44 wg64 (2.66 wg8)  | cd5ce72 |
// | layernorm_forward_v2 | workgroup per row, 3 passes, 2 trees        | 1169 wg64 / 286 wg128 | 0.10 wg64 (1.03 wg8) | cd5ce72 |
// | layernorm_forward_v3 | workgroup per row, row in registers         | 1441 wg64 / 320 wg64 | 0.07 wg64 (0.16 wg64) | cd5ce72 |
// Picks (src/kernels/layernorm.ts): GPU v1 for D < 32, v3 up to D = 2048 (wg = D/8 rounded up
// to a power of two, >= 32), v2 beyond; CPU v1 wg 8 with >= 64 rows, else v2 wg 8.

override WG: u32 = 128u;          // threads per workgroup (v2, v3: a power of two)
override SAVE_STATS: bool = false; // write mean and rstd per row

const VPT: u32 = 8u; // v3: elements of the row each thread keeps in registers

struct Params {
  rows: u32,
  d: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (rows, D)
@group(0) @binding(2) var<storage, read> w: array<f32>;              // (D)
@group(0) @binding(3) var<storage, read> b: array<f32>;              // (D)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (rows, D)
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>; // (rows), written if SAVE_STATS
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>; // (rows), written if SAVE_STATS

fn save_stats(row: u32, mean: f32, rstd: f32) {
  if (SAVE_STATS) {
    mean_out[row] = mean;
    rstd_out[row] = rstd;
  }
}

@compute @workgroup_size(WG)
fn layernorm_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let inv_d = 1.0 / f32(p.d);
  var s = 0.0;
  for (var j = 0u; j < p.d; j++) { s += x[base + j]; }
  let m = s * inv_d;
  var ds = 0.0;
  var q = 0.0;
  for (var j = 0u; j < p.d; j++) {
    let dx = x[base + j] - m;
    ds += dx;
    q += dx * dx;
  }
  let c = ds * inv_d;
  let rstd = inverseSqrt(max(q * inv_d - c * c, 0.0) + p.eps);
  for (var j = 0u; j < p.d; j++) { y[base + j] = (x[base + j] - m - c) * rstd * w[j] + b[j]; }
  save_stats(row, m + c, rstd);
}

var<workgroup> tree: array<f32, WG>;
var<workgroup> tree2: array<vec2<f32>, WG>;

// Tree sum over the workgroup; every thread returns the total.
fn wg_sum(lid: u32, v: f32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree[lid] += tree[lid + k]; }
    workgroupBarrier();
  }
  let r = tree[0];
  workgroupBarrier(); // the next wg_sum overwrites tree
  return r;
}

// Two sums in one tree (Σ d and Σ d²): one set of barriers instead of two.
fn wg_sum2(lid: u32, v: vec2<f32>) -> vec2<f32> {
  tree2[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree2[lid] += tree2[lid + k]; }
    workgroupBarrier();
  }
  let r = tree2[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn layernorm_forward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform: the early exit keeps the barriers uniform
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let inv_d = 1.0 / f32(p.d);
  var s = 0.0;
  for (var j = lid; j < p.d; j += WG) { s += x[base + j]; }
  let m = wg_sum(lid, s) * inv_d;
  var ds = 0.0;
  var q = 0.0;
  for (var j = lid; j < p.d; j += WG) {
    let dx = x[base + j] - m;
    ds += dx;
    q += dx * dx;
  }
  let sq = wg_sum2(lid, vec2<f32>(ds, q)) * inv_d;
  let c = sq.x;
  let rstd = inverseSqrt(max(sq.y - c * c, 0.0) + p.eps);
  for (var j = lid; j < p.d; j += WG) { y[base + j] = (x[base + j] - m - c) * rstd * w[j] + b[j]; }
  if (lid == 0u) { save_stats(row, m + c, rstd); }
}

@compute @workgroup_size(WG)
fn layernorm_forward_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let inv_d = 1.0 / f32(p.d);
  var xr: array<f32, VPT>; // element lid + k·WG of the row; 0 past the end (adds nothing)
  var s = 0.0;
  for (var k = 0u; k < VPT; k++) {
    let j = lid + k * WG;
    xr[k] = select(0.0, x[base + min(j, p.d - 1u)], j < p.d);
    s += xr[k];
  }
  let m = wg_sum(lid, s) * inv_d;
  var ds = 0.0;
  var q = 0.0;
  for (var k = 0u; k < VPT; k++) {
    let dx = select(0.0, xr[k] - m, lid + k * WG < p.d);
    ds += dx;
    q += dx * dx;
  }
  let sq = wg_sum2(lid, vec2<f32>(ds, q)) * inv_d;
  let c = sq.x;
  let rstd = inverseSqrt(max(sq.y - c * c, 0.0) + p.eps);
  for (var k = 0u; k < VPT; k++) {
    let j = lid + k * WG;
    if (j < p.d) { y[base + j] = (xr[k] - m - c) * rstd * w[j] + b[j]; }
  }
  if (lid == 0u) { save_stats(row, m + c, rstd); }
}
