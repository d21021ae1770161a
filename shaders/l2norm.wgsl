// l2norm: y = x / max(||x||, eps) over the last axis (PyTorch's F.normalize, eps = 1e-12).
//
// Math: n = sqrt(Σ_j x_j²), y_j = x_j / max(n, eps). SAVE_NORM also writes n per row for the
//   backward (a later entry here): for n > eps, dx = (dy - y (y · dy)) / n; else dx = dy / eps.
// Numerics: n is accumulated as LAPACK's dnrm2 does (the same pair as reduce.wgsl's l2): a
//   running scale s = max |x| so far and q = Σ (x / s)², n = s sqrt(q). One pass, one
//   division per element, and no overflow of x² past |x| ~ 1.8e19 or underflow below ~1e-19,
//   where a plain f32 Σ x² would return inf or 0 (then y = x / eps: 1e12 times too large).
// Shapes: x, y dense (rows, D): (B·S, 384) frame features, (B·K, 384) VLAD intra-normalisation,
//   (B, 1152) the global VLAD norm, (B, 256) the DINO head bottleneck; n (rows).
// Threads:
//   v1  one thread per row, two serial passes (norm, write).
//   v2  one workgroup per row, threads stride over the row (coalesced), a tree over (q, s)
//       pairs in workgroup memory.
// Traffic: 4 bytes read + 4 written per element (x is read twice; the second time from cache
//   for these widths); ~8 FLOPs and a division per element (~1 FLOP/byte).
//
// GB/s = 8 bytes per element / median time, from a one-off sweep (not in bench/; the numbers
// are in the issue report), host recording included. H200: Dawn/Vulkan, driver 580.159,
// (37680, 785) / (64, 65536). lavapipe: Mesa 25.0.7, 2 cores (load ~3.5, min of 9),
// (6280, 384) / (8, 65536).
// | version           | idea                                      | H200 GB/s          | lavapipe GB/s       | commit     |
// |-------------------|-------------------------------------------|--------------------|---------------------|------------|
// | l2norm_forward_v1 | thread per row, 2 passes                  | 231 wg64 / -       | 2.52 wg8 / 1.61     | cd5ce72 |
// | l2norm_forward_v2 | workgroup per row, tree over (q, s) pairs | 1687 wg64 / 222    | 1.31 wg8 / 3.50 wg8 | cd5ce72 |
// Picks (src/kernels/l2norm.ts): GPU v1 for D < 32, else v2 (wg 64, 256 past D = 4096); CPU
// v1 wg 8 with >= 64 rows, else v2 wg 8.
//
// Backward from the saved y and n (x is not needed): with s = Σ_j g_j y_j,
//   n > eps:   dx = (g - y s) / n        (dy/dx = (I - y yᵀ) / n on the sphere)
//   n <= eps:  dx = g / eps              (the clamp is constant there: y = x / eps)
// Same thread mappings as the forward: v1 thread per row, v2 workgroup per row with one tree.
// Traffic: y and g read (8 bytes per element, twice: the second time from cache), dx written
//   (4); 4 FLOPs per element.
// GB/s = 12 bytes per element / median time, one-off sweep (not in bench/; numbers in the issue
// report), host recording included. H200 (as above): (6280, 384) / (64, 65536). lavapipe (2
// cores shared, load ~8): (6280, 384) / (8, 65536).
// | version            | idea                                | H200 GB/s             | lavapipe GB/s       | commit |
// |--------------------|-------------------------------------|-----------------------|---------------------|--------|
// | l2norm_backward_v1 | thread per row, dot then write      | 147 wg64 / 1.8        | 1.38 wg8 / 0.55     | -      |
// | l2norm_backward_v2 | workgroup per row, one tree for dot | 504 wg64 / 204 wg256  | 0.94 wg8 / 0.86 wg8 | -      |
// Picks: the forward's (planL2Norm), which these numbers bear out.

override WG: u32 = 64u;           // threads per workgroup (v2: a power of two)
override SAVE_NORM: bool = false;  // write the norm n per row

struct Params {
  rows: u32,
  d: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;              // (rows, D)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;        // (rows, D)
@group(0) @binding(3) var<storage, read_write> norm_out: array<f32>; // (rows), written if SAVE_NORM

// Fold |x| into the pair (q, s): t = min / max of (|x|, s); if |x| > s, q is rescaled to |x|.
fn ssq_add(u: vec2<f32>, xv: f32) -> vec2<f32> {
  let ax = abs(xv);
  let m = max(ax, u.y);
  let t = select(0.0, min(ax, u.y) / m, m > 0.0);
  let t2 = t * t;
  return vec2<f32>(select(u.x + t2, 1.0 + u.x * t2, ax > u.y), m);
}

fn ssq_merge(u: vec2<f32>, w: vec2<f32>) -> vec2<f32> {
  let s = max(u.y, w.y);
  if (s == 0.0) { return vec2<f32>(0.0, 0.0); }
  let ru = u.y / s;
  let rw = w.y / s;
  return vec2<f32>(u.x * ru * ru + w.x * rw * rw, s);
}

// 1 / max(n, eps) from the final pair; the thread with `keep` stores n.
fn finish(row: u32, u: vec2<f32>, keep: bool) -> f32 {
  let n = u.y * sqrt(u.x);
  if (SAVE_NORM && keep) { norm_out[row] = n; }
  return 1.0 / max(n, p.eps);
}

@compute @workgroup_size(WG)
fn l2norm_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var u = vec2<f32>(0.0, 0.0);
  for (var j = 0u; j < p.d; j++) { u = ssq_add(u, x[base + j]); }
  let r = finish(row, u, true);
  for (var j = 0u; j < p.d; j++) { y[base + j] = x[base + j] * r; }
}

var<workgroup> tree: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn l2norm_forward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform: the early exit keeps the barriers uniform
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var u = vec2<f32>(0.0, 0.0);
  for (var j = lid; j < p.d; j += WG) { u = ssq_add(u, x[base + j]); }
  tree[lid] = u;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree[lid] = ssq_merge(tree[lid], tree[lid + k]); }
    workgroupBarrier();
  }
  let r = finish(row, tree[0], lid == 0u);
  for (var j = lid; j < p.d; j += WG) { y[base + j] = x[base + j] * r; }
}

// ---------------------------------------------------------------- backward

@group(0) @binding(4) var<storage, read> sy: array<f32>;        // (rows, D) saved y
@group(0) @binding(5) var<storage, read> gy: array<f32>;        // (rows, D) dL/dy
@group(0) @binding(6) var<storage, read> norm_in: array<f32>;   // (rows) saved n
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;  // (rows, D)

// dx_j from y_j, g_j and the row's dot s = g · y and norm n.
fn bwd_out(yv: f32, gv: f32, s: f32, n: f32) -> f32 {
  if (n > p.eps) { return (gv - yv * s) / n; }
  return gv / p.eps;
}

@compute @workgroup_size(WG)
fn l2norm_backward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let n = norm_in[row];
  var s = 0.0;
  for (var j = 0u; j < p.d; j++) { s += gy[base + j] * sy[base + j]; }
  for (var j = 0u; j < p.d; j++) { dx[base + j] = bwd_out(sy[base + j], gy[base + j], s, n); }
}

var<workgroup> tree_s: array<f32, WG>;

@compute @workgroup_size(WG)
fn l2norm_backward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform: the early exit keeps the barriers uniform
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var s = 0.0;
  for (var j = lid; j < p.d; j += WG) { s += gy[base + j] * sy[base + j]; }
  tree_s[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree_s[lid] += tree_s[lid + k]; }
    workgroupBarrier();
  }
  let st = tree_s[0];
  let n = norm_in[row];
  for (var j = lid; j < p.d; j += WG) { dx[base + j] = bwd_out(sy[base + j], gy[base + j], st, n); }
}
