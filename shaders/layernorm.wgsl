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
//
// Backward (PyTorch's formula, from the saved mean and rstd; x is re-read, xhat recomputed):
//   xhat = (x - mean) * rstd,  g = dy ⊙ w,
//   dx = rstd * (g - mean_j(g) - xhat * mean_j(g ⊙ xhat))      per row
//   dw = Σ_rows dy ⊙ xhat,  db = Σ_rows dy                       column sums over all rows
// Column sums without atomics, deterministic: pass 1 writes partial sums per chunk of rows
//   into part (chunks, 2, D) (row 0: dw, row 1: db), pass 2 sums the chunks (reduce.wgsl's
//   column sum, launched by src/kernels/layernorm.ts). The order of every addition is fixed
//   by the shapes, so gradients are bit-identical run to run.
// Threads:
//   backward_v1       thread per row: two serial passes (the two row means, then dx).
//   backward_v2       workgroup per row, strided, one tree for both row means (vec2).
//   backward_v3       workgroup per chunk of rows, the row in registers (VPT per thread, as
//                     forward v3): each thread owns columns lid + k·WG for the whole chunk, so it
//                     also accumulates dw and db for them in registers: x and dy are read once
//                     for dx, dw and db together, and part is written once per chunk.
//   backward_dwdb_v1  pass 1 for v1 / v2: thread per (chunk, column), serial over the chunk's
//                     rows (neighbouring threads read neighbouring columns: coalesced).
// Traffic: x, dy read (8 bytes per element; v1/v2 + dwdb read them twice), dx written (4), w
//   and the stats cached; part: 8·D per chunk. ~12 FLOPs per element: memory bound.
// GB/s = 12 bytes per element / median time of the whole backward (dx, dw, db, both passes),
// from a one-off sweep (not in bench/; numbers in the issue report), host recording included.
// H200: Dawn/Vulkan, driver 580.159, (6280, 384) / (50240, 384): ViT-S/8 tokens of a batch of
// 8 / 64 (the forward there: 227 / 1078). lavapipe: Mesa 25.0.7, 2 cores shared with other jobs
// (load ~8), (6280, 384) (the forward: 0.73). v3's chunks: 1570 at both shapes ran best
// (193 at 483 chunks, 986 / 895 / 692 at 1570 / 785 / 508 chunks of the 50240 rows).
// | version                    | idea                                          | H200 GB/s               | lavapipe GB/s | commit |
// |----------------------------|-----------------------------------------------|-------------------------|---------------|--------|
// | layernorm_backward_v1      | thread per row, 2 passes (+ dwdb_v1)          | 52 / 263 wg64           | 0.54 wg8      | -      |
// | layernorm_backward_v2      | workgroup per row, 1 tree (+ dwdb_v1)         | 131 wg128 / 690 wg64    | 0.40 wg8      | -      |
// | layernorm_backward_v3      | workgroup per row chunk, fused dw/db partials | 191 / 986 wg64, ~1.5k chunks | 0.14 wg64 | -      |
// | layernorm_backward_dwdb_v1 | thread per (chunk, column) partial dw, db     | (in v1, v2)             | (in v1, v2)   | -      |
// Picks (planLayerNormBackward): GPU v3 up to D = 2048 (the forward's wg) with ~1536 chunks of
// >= 4 rows, v1 for D < 32, v2 wg 256 beyond 2048; CPU v1 wg 8 with >= 64 rows (else v2 wg 8),
// 16 chunks of >= 16 rows for dwdb_v1.

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

// ---------------------------------------------------------------- backward

struct BwdParams {
  rows: u32,
  d: u32,
  chunk_rows: u32, // rows per chunk of the dw/db partial sums
  n_chunks: u32,
}

override DWDB: bool = true; // backward_v3: also write the dw/db partials

// Names differ from every local of the forward entries (the forward's `q` and `dx` are locals):
// wgsl_reflect finds an entry's resources by name, not by scope.
@group(0) @binding(7) var<uniform> bp: BwdParams;
@group(0) @binding(8) var<storage, read> gy: array<f32>;          // (rows, D) dL/dy
@group(0) @binding(9) var<storage, read> mean_in: array<f32>;     // (rows)
@group(0) @binding(10) var<storage, read> rstd_in: array<f32>;    // (rows)
@group(0) @binding(11) var<storage, read_write> dx_out: array<f32>; // (rows, D)
@group(0) @binding(12) var<storage, read_write> part: array<f32>; // (chunks, 2, D)

@compute @workgroup_size(WG)
fn layernorm_backward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= bp.rows) { return; }
  let base = row * bp.d;
  let m = mean_in[row];
  let rs = rstd_in[row];
  var sg = 0.0;  // Σ g
  var sgx = 0.0; // Σ g xhat
  for (var j = 0u; j < bp.d; j++) {
    let g = gy[base + j] * w[j];
    sg += g;
    sgx += g * (x[base + j] - m) * rs;
  }
  let inv_d = 1.0 / f32(bp.d);
  let mg = sg * inv_d;
  let mgx = sgx * inv_d;
  for (var j = 0u; j < bp.d; j++) {
    let xh = (x[base + j] - m) * rs;
    dx_out[base + j] = rs * (gy[base + j] * w[j] - mg - xh * mgx);
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform: the early exit keeps the barriers uniform
  if (row >= bp.rows) { return; }
  let base = row * bp.d;
  let m = mean_in[row];
  let rs = rstd_in[row];
  var s = vec2<f32>(0.0, 0.0); // (Σ g, Σ g xhat)
  for (var j = lid; j < bp.d; j += WG) {
    let g = gy[base + j] * w[j];
    s += vec2<f32>(g, g * (x[base + j] - m) * rs);
  }
  let ms = wg_sum2(lid, s) * (1.0 / f32(bp.d));
  for (var j = lid; j < bp.d; j += WG) {
    let xh = (x[base + j] - m) * rs;
    dx_out[base + j] = rs * (gy[base + j] * w[j] - ms.x - xh * ms.y);
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = wid.y * nwg.x + wid.x; // chunk of rows: uniform, so the loop bounds and barriers are too
  if (c >= bp.n_chunks) { return; }
  let r0 = c * bp.chunk_rows;
  let r1 = min(bp.rows, r0 + bp.chunk_rows);
  let inv_d = 1.0 / f32(bp.d);
  var wr: array<f32, VPT>; // w of this thread's columns; 0 past the end
  var pw: array<f32, VPT>; // Σ dy xhat over the chunk's rows, per column
  var pb: array<f32, VPT>; // Σ dy
  for (var k = 0u; k < VPT; k++) {
    let j = lid + k * WG;
    wr[k] = select(0.0, w[min(j, bp.d - 1u)], j < bp.d);
    pw[k] = 0.0;
    pb[k] = 0.0;
  }
  for (var row = r0; row < r1; row++) {
    let base = row * bp.d;
    let m = mean_in[row];
    let rs = rstd_in[row];
    var xh: array<f32, VPT>;
    var dy: array<f32, VPT>;
    var s = vec2<f32>(0.0, 0.0);
    for (var k = 0u; k < VPT; k++) {
      let j = lid + k * WG;
      let inside = j < bp.d;
      let at = base + min(j, bp.d - 1u);
      xh[k] = select(0.0, (x[at] - m) * rs, inside);
      dy[k] = select(0.0, gy[at], inside);
      let g = dy[k] * wr[k];
      s += vec2<f32>(g, g * xh[k]);
      pw[k] += dy[k] * xh[k];
      pb[k] += dy[k];
    }
    let ms = wg_sum2(lid, s) * inv_d;
    for (var k = 0u; k < VPT; k++) {
      let j = lid + k * WG;
      if (j < bp.d) { dx_out[base + j] = rs * (dy[k] * wr[k] - ms.x - xh[k] * ms.y); }
    }
  }
  if (DWDB) {
    for (var k = 0u; k < VPT; k++) {
      let j = lid + k * WG;
      if (j < bp.d) {
        part[2u * c * bp.d + j] = pw[k];
        part[(2u * c + 1u) * bp.d + j] = pb[k];
      }
    }
  }
}

@compute @workgroup_size(WG)
fn layernorm_backward_dwdb_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                              @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= bp.n_chunks * bp.d) { return; }
  let j = t % bp.d;
  let c = t / bp.d;
  let r1 = min(bp.rows, (c + 1u) * bp.chunk_rows);
  var sw = 0.0;
  var sb = 0.0;
  for (var row = c * bp.chunk_rows; row < r1; row++) {
    let dy = gy[row * bp.d + j];
    sw += dy * (x[row * bp.d + j] - mean_in[row]) * rstd_in[row];
    sb += dy;
  }
  part[2u * c * bp.d + j] = sw;
  part[(2u * c + 1u) * bp.d + j] = sb;
}
