// softmax: y = softmax(x / T) along the last axis, and log-softmax (LOG) from the same code.
//
// Math: with z = x / T and m = max_j x_j (T > 0, so max z = m / T):
//   softmax      y_j = exp((x_j - m) / T) / s,   s = Σ_j exp((x_j - m) / T)
//   log-softmax  y_j = (x_j - m) / T - log(s)
//   Subtract the row max: exp overflows past 88, and DINO's teacher divides by T = 0.04, so
//   logits of 4 already reach 100. The max is subtracted *before* scaling by 1/T: x_j - m is
//   exact for the entries near the max (Sterbenz), which are the ones that matter, while
//   x_j / T - m / T would round each term first (an absolute error of ulp(x / T), 4e-6 at
//   x / T = 30, that exp turns into a relative error of the output).
//   Backward (a later entry in this file) needs only y: dx = y ⊙ (dy - Σ_j y_j dy_j) / T.
// Shapes: x, y dense (rows, d); rows = all leading dims: (B·H·N, N) for attention,
//   (B·crops, 65536) for the DINO head, (B·S, K = 3) for cluster assignment.
// Threads:
//   v1  one thread per row, three serial passes (max, sum, write): short rows (K, S).
//   v2  one workgroup per row, threads stride over the row (coalesced); max and sum each by a
//       tree over workgroup memory; reads x three times.
//   v3  one workgroup per row, online softmax: each thread keeps a running (max, sum) pair,
//       s ← s·exp((m - x)/T) + 1 when x beats m, else s ← s + exp((x - m)/T): one exp per
//       element and x read twice (pairs merge in one tree), instead of three times.
// Traffic: 4 bytes read + 4 written per element (v2 reads x three times, v3 twice, from cache
//   when the row fits); ~6 FLOPs and 2 exps per element: ~1 FLOP/byte, memory bound on a GPU.
//   On a CPU adapter the loads themselves are the cost (lavapipe gathers lane by lane).
//
// GB/s = 8 bytes per element / median time, from bench/softmax.ts. Times include recording
// each dispatch on the host (~40 us on the H200 machine), so small shapes understate the GPU.
// H200: Dawn/Vulkan, driver 580.159, (8·6·785, 785) / (64, 65536) T = 0.1 (tfjs-webgpu:
// 284 / 62 GB/s). lavapipe: Mesa 25.0.7, 2 cores shared with other jobs (load ~7),
// (4710, 785) / (64, 65536) (tfjs-webgpu: 0.14 / 0.16 GB/s); in brackets (4710, 785) in a
// quieter minute (load ~3.5, min of 9 samples, a one-off sweep).
// | version            | idea                                  | H200 GB/s               | lavapipe GB/s              | commit     |
// |--------------------|---------------------------------------|-------------------------|----------------------------|------------|
// | softmax_forward_v1 | thread per row, 3 passes              | 176 wg64 / 1.7 wg8      | 0.62 wg8 (2.40) / 0.23     | cd5ce72 |
// | softmax_forward_v2 | workgroup per row, 3 passes, 2 trees  | 1566 wg64 / 165 wg256   | 0.22 wg64 (1.36 wg8) / 0.27 | cd5ce72 |
// | softmax_forward_v3 | workgroup per row, online (max, sum)  | 1668 wg64 / 208 wg256   | 0.21 wg64 (1.69 wg8) / 0.38 | cd5ce72 |
// Picks (src/kernels/softmax.ts): GPU v1 for rows < 32, else v3 (wg 64 up to 1024 wide, 256
// beyond); CPU v1 wg 8 with >= 128 rows, else v3 wg 64.
//
// Backward (reads the saved output y and the upstream gradient g; x is not needed):
//   softmax      dx_j = y_j (g_j - Σ_k g_k y_k) / T
//   log-softmax  dx_j = (g_j - exp(y_j) Σ_k g_k) / T      (exp(y) is the softmax)
//   One row scalar (a dot product or a sum), then one elementwise write. Traffic: 8 bytes read
//   + 4 written per element (y and g read twice, the second time from cache); ~4 FLOPs (+1 exp
//   for LOG) per element: memory bound. Threads as the forward: v1 thread per row, v2
//   workgroup per row with one tree.
// nll (cross-entropy = nll(log-softmax(x))): l_i = -c_i logp[i, y_i] per row (c_i = w[y_i],
//   over Σ_i w[y_i] for the mean; the launcher folds the reduction into c), and its backward
//   dlogp[i, j] = -c_i g_i [j = y_i]: thread per row / thread per element, no reduction (the
//   batch sum is reduce.wgsl's). Labels travel as f32 (exact below 2^24, as argmax's).
// GB/s = 12 bytes per element / median time, from a one-off sweep (not in bench/; numbers in
// the issue report), host recording included. H200: Dawn/Vulkan, driver 580.159,
// (37680, 785) / (64, 65536). lavapipe: Mesa 25.0.7, 2 cores shared with other jobs (load ~8),
// (4710, 785) / (8, 4099). nll moves B elements: not worth a row.
// | version             | idea                                   | H200 GB/s            | lavapipe GB/s          | commit |
// |---------------------|----------------------------------------|----------------------|------------------------|--------|
// | softmax_backward_v1 | thread per row, dot then write         | 302 wg64 / 1.8       | 0.96 wg8 / 0.82 wg8    | -      |
// | softmax_backward_v2 | workgroup per row, strided + one tree  | 1880 wg64 / 197 wg256 | 0.64 wg8 / 1.15 wg8   | -      |
// | nll_forward_v1      | thread per row: pick and scale         | -                    | -                      | -      |
// | nll_backward_v1     | thread per element: scatter to labels  | -                    | -                      | -      |
// Picks (planSoftmaxBackward): GPU v1 for d < 32, else v2 (wg 64 up to 1024 wide, 256 beyond);
// CPU v1 wg 8 with >= 128 rows or d < 32, else v2 wg 8.

override WG: u32 = 256u;     // threads per workgroup (v2, v3: a power of two)
override LOG: bool = false;  // write log-softmax instead of softmax

struct Params {
  rows: u32,
  d: u32,      // row length
  inv_t: f32,  // 1 / T
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (rows, d)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (rows, d)

const BIG: f32 = 0x1.fffffep+127f; // largest finite f32 (WGSL has no inf literal)

// One output element from its input, the row max m and the row sum s (r_s = 1 / s, log_s = log s).
fn out(xv: f32, m: f32, r_s: f32, log_s: f32) -> f32 {
  let z = (xv - m) * p.inv_t;
  if (LOG) { return z - log_s; }
  return exp(z) * r_s;
}

@compute @workgroup_size(WG)
fn softmax_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var m = -BIG;
  for (var j = 0u; j < p.d; j++) { m = max(m, x[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.d; j++) { s += exp((x[base + j] - m) * p.inv_t); }
  let r_s = 1.0 / s;
  let log_s = log(s);
  for (var j = 0u; j < p.d; j++) { y[base + j] = out(x[base + j], m, r_s, log_s); }
}

var<workgroup> tree_m: array<f32, WG>;
var<workgroup> tree_s: array<f32, WG>;

// Tree max over tree_m; every thread returns the result.
fn wg_max(lid: u32, v: f32) -> f32 {
  tree_m[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree_m[lid] = max(tree_m[lid], tree_m[lid + k]); }
    workgroupBarrier();
  }
  let r = tree_m[0];
  workgroupBarrier(); // tree_m is reused by the next tree
  return r;
}

fn wg_sum(lid: u32, v: f32) -> f32 {
  tree_s[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree_s[lid] += tree_s[lid + k]; }
    workgroupBarrier();
  }
  let r = tree_s[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn softmax_forward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform across the workgroup: the early exit keeps barriers uniform
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var m = -BIG;
  for (var j = lid; j < p.d; j += WG) { m = max(m, x[base + j]); }
  m = wg_max(lid, m);
  var s = 0.0;
  for (var j = lid; j < p.d; j += WG) { s += exp((x[base + j] - m) * p.inv_t); }
  s = wg_sum(lid, s);
  let r_s = 1.0 / s;
  let log_s = log(s);
  for (var j = lid; j < p.d; j += WG) { y[base + j] = out(x[base + j], m, r_s, log_s); }
}

// Merge two (max, sum) pairs: the sums are rescaled to the larger max. Empty pairs are
// (-BIG, 0): (-BIG - m) / T may round to -inf, and exp(-inf) = 0 keeps them empty.
fn online_merge(m1: f32, s1: f32, m2: f32, s2: f32) -> vec2<f32> {
  let m = max(m1, m2);
  return vec2<f32>(m, s1 * exp((m1 - m) * p.inv_t) + s2 * exp((m2 - m) * p.inv_t));
}

@compute @workgroup_size(WG)
fn softmax_forward_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var m = -BIG;
  var s = 0.0;
  for (var j = lid; j < p.d; j += WG) {
    let xv = x[base + j];
    // e = exp(-|x - m| / T): the new term when x <= m, the rescale of s when x > m.
    let e = exp((min(xv, m) - max(xv, m)) * p.inv_t);
    s = select(s + e, s * e + 1.0, xv > m);
    m = max(m, xv);
  }
  tree_m[lid] = m;
  tree_s[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let r = online_merge(tree_m[lid], tree_s[lid], tree_m[lid + k], tree_s[lid + k]);
      tree_m[lid] = r.x;
      tree_s[lid] = r.y;
    }
    workgroupBarrier();
  }
  let mr = tree_m[0];
  let sr = tree_s[0];
  let r_s = 1.0 / sr;
  let log_s = log(sr);
  for (var j = lid; j < p.d; j += WG) { y[base + j] = out(x[base + j], mr, r_s, log_s); }
}

// ---------------------------------------------------------------- backward

@group(0) @binding(3) var<storage, read> sy: array<f32>;         // (rows, d) saved output: softmax, or log-softmax if LOG
@group(0) @binding(4) var<storage, read> gy: array<f32>;         // (rows, d) dL/dy; nll_backward: (B) dL/dl
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;   // (rows, d)
@group(0) @binding(6) var<storage, read> labels: array<f32>;     // (B) class of each row, as f32
@group(0) @binding(7) var<storage, read> coef: array<f32>;       // (B) c_i
@group(0) @binding(8) var<storage, read_write> nll: array<f32>;  // (B) l_i

// What element j adds to the row scalar: g·y (softmax) or g (log-softmax).
fn bwd_term(yv: f32, gv: f32) -> f32 {
  if (LOG) { return gv; }
  return gv * yv;
}

fn bwd_out(yv: f32, gv: f32, s: f32) -> f32 {
  if (LOG) { return (gv - exp(yv) * s) * p.inv_t; }
  return yv * (gv - s) * p.inv_t;
}

@compute @workgroup_size(WG)
fn softmax_backward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var s = 0.0;
  for (var j = 0u; j < p.d; j++) { s += bwd_term(sy[base + j], gy[base + j]); }
  for (var j = 0u; j < p.d; j++) { dx[base + j] = bwd_out(sy[base + j], gy[base + j], s); }
}

@compute @workgroup_size(WG)
fn softmax_backward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = wid.y * nwg.x + wid.x; // uniform: the early exit keeps the barriers uniform
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var s = 0.0;
  for (var j = lid; j < p.d; j += WG) { s += bwd_term(sy[base + j], gy[base + j]); }
  s = wg_sum(lid, s);
  for (var j = lid; j < p.d; j += WG) { dx[base + j] = bwd_out(sy[base + j], gy[base + j], s); }
}

// x holds log-probabilities (B, C) here: rows = B, d = C.
@compute @workgroup_size(WG)
fn nll_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.rows) { return; }
  nll[i] = -coef[i] * x[i * p.d + u32(labels[i])];
}

@compute @workgroup_size(WG)
fn nll_backward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= p.rows * p.d) { return; }
  let i = t / p.d;
  dx[t] = select(0.0, -coef[i] * gy[i], t - i * p.d == u32(labels[i]));
}
