// vlad: the VLAD pieces of DualVLAD / NetVLAD (SPEC §4, §5), forward and backward.
//
// Math, per frame f = (b, i) with x ∈ R^D, W (K, D), bias (K), centroids c (K, D):
//   x̂ = x / max(‖x‖, ε)                                   (F.normalize, ε = 1e-12)
//   a_k = softmax_k(W_k · x̂ + bias_k)                      cluster soft-assignment
//   r_kj = a_k (x̂_j − c_kj)                                residual, cluster-major k·D + j
// and per video b, with frame weights β (DualVLAD: softmax over frames; NetVLAD: β ≡ 1):
//   V_kj = Σ_i β_i r_ikj;  U_k = V_k / max(‖V_k‖, ε);  y = U / max(‖U‖, ε)
// Backward (g = upstream gradient; n_k = ‖V_k‖, G = ‖U‖; below ε the clamp passes g / ε):
//   dU = (dy − y (y · dy)) / G;   dV_k = (dU_k − U_k (U_k · dU_k)) / n_k
//   dr_ikj = β_i dV_kj;           dβ_i = Σ_kj r_ikj dV_kj
//   g_k = da_k + Σ_j dr_kj (x̂_j − c_kj);  dl_k = a_k (g_k − Σ_k' a_k' g_k')   (softmax over K)
//   dx̂_j = Σ_k a_k dr_kj + Σ_k dl_k W_kj;  dx = (dx̂ − x̂ (x̂ · dx̂)) / ‖x‖
//   dW_kj = Σ_f dl_fk x̂_fj;  dbias_k = Σ_f dl_fk;  dc_kj = −Σ_f a_fk dr_fkj
// Shapes: F = B·S frames. x, dx (F, D); ar (F·K·D + F·K): r (F, K·D) then a (F, K), packed so
//   one autograd node yields both; y, dy, dv (B, K·D); norms (B, K + 1): n_k then G;
//   dlogit (F, K + 1): dl_k then 1 / max(‖x‖, ε); beta, dbeta (F). The gradients of r and a
//   come in two bindings, which may be the one packed buffer (da at da_off = F·K·D).
// Threads:
//   vlad_assign_forward, vlad_assign_backward_frames: a workgroup per frame; threads stride D
//     (and K·D), each dot product over D is a tree (K + 1 trees per frame).
//   vlad_assign_backward_params: a thread per element of dW / dc (and one per dbias), summing
//     over the F frames in a fixed order: no atomics, deterministic.
//   vlad_aggregate_forward, vlad_aggregate_backward_norm: a workgroup per video; threads stride
//     D for each cluster; a thread rereads only what it wrote itself (no storage barrier).
//   vlad_aggregate_backward_frames: a workgroup per frame: dr row and one tree for dβ.
// Traffic: assign forward reads x (D) and W, c (2·K·D, cached across frames), writes K·D + K
//   per frame: ~4·K·D bytes for ~4·K·D FLOPs. aggregate reads S·K·D, writes K·D per video.
//   All memory bound and tiny at MeDiVLAD shapes (B 2, S 15, K 3, D 384) next to the
//   1152 × 1152 frame-attention matmul that sits between them.
//
// Measured at B 2, S 15, D 384, K 3 (bench/vlad.ts; unfused = our own ops composed, tfjs the
// tfjs-webgpu composition, same run; bench/results/fused-{h200,lavapipe}.local.json, lavapipe
// on 2 cores shared with other jobs). Times are per call and mostly launch overhead.
//
// | entry point                    | idea                                  | measured                                | adapter       | commit     |
// |--------------------------------|---------------------------------------|-----------------------------------------|---------------|------------|
// | vlad_assign_forward            | workgroup per frame, trees over D     | wg128 0.077 ms: 4.9x unfused, 18x tfjs  | H200 (Vulkan) | fa34350+wt |
// |                                |                                       | wg16 1.33 ms: 3.8x unfused, 3.1x tfjs   | lavapipe      | fa34350+wt |
// | vlad_aggregate_forward         | workgroup per video, trees over D     | wg128 0.095 ms: 2.2x unfused, 22x tfjs  | H200 (Vulkan) | fa34350+wt |
// |                                |                                       | wg16 0.64 ms: 4.5x unfused, 27x tfjs    | lavapipe      | fa34350+wt |
// | vlad_aggregate_backward_norm   | workgroup per video                   | all six, fwd + bwd: wg128 0.435 ms      | H200 (Vulkan) | fa34350+wt |
// |                                |                                       | all six, fwd + bwd: wg16 4.8 ms         | lavapipe      | fa34350+wt |
// | vlad_aggregate_backward_frames | workgroup per frame, one tree for dβ  | (in the fwd + bwd rows above)           | -             | -          |
// | vlad_assign_backward_frames    | workgroup per frame, K + 1 trees      | (in the fwd + bwd rows above)           | -             | -          |
// | vlad_assign_backward_params    | thread per dW / dc / dbias element    | (in the fwd + bwd rows above)           | -             | -          |
// (fa34350+wt: the working tree on top of fa34350, before this family was committed.)

override WG: u32 = 64u;     // threads per workgroup (a power of two)

// Capacity of the per-cluster workgroup arrays (K <= KMAX; 2 KB). A constant, not an override:
// one pipeline per WG serves every K (lavapipe takes seconds to compile these kernels).
const KMAX: u32 = 256u;

struct Params {
  frames: u32,    // F = B·S
  s: u32,         // S frames per video
  k: u32,         // K clusters
  d: u32,         // D feature width
  eps: f32,       // 1e-12, as F.normalize
  has_beta: u32,  // 0: NetVLAD (β ≡ 1)
  has_da: u32,    // 0: no gradient reaches a (only r is used downstream)
  da_off: u32,    // element offset of da in its buffer (the packed gradient: F·K·D)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (F, D)
@group(0) @binding(2) var<storage, read> w: array<f32>;             // (K, D)
@group(0) @binding(3) var<storage, read> bias: array<f32>;          // (K)
@group(0) @binding(4) var<storage, read> cent: array<f32>;          // (K, D)
@group(0) @binding(5) var<storage, read_write> ar: array<f32>;      // r (F, K·D) | a (F, K)
@group(0) @binding(6) var<storage, read> r: array<f32>;             // (F, K·D)
@group(0) @binding(7) var<storage, read> beta: array<f32>;          // (F)
@group(0) @binding(8) var<storage, read_write> y: array<f32>;       // (B, K·D)
@group(0) @binding(9) var<storage, read_write> norms: array<f32>;   // (B, K + 1)
@group(0) @binding(10) var<storage, read> dy: array<f32>;           // (B, K·D)
@group(0) @binding(11) var<storage, read_write> dv: array<f32>;     // (B, K·D)
@group(0) @binding(12) var<storage, read_write> dr: array<f32>;     // (F, K·D)
@group(0) @binding(13) var<storage, read_write> dbeta: array<f32>;  // (F)
@group(0) @binding(14) var<storage, read> gr: array<f32>;           // dL/dr (F, K·D)
@group(0) @binding(20) var<storage, read> ga: array<f32>;           // dL/da (F, K) from da_off
@group(0) @binding(15) var<storage, read_write> dx: array<f32>;     // (F, D)
@group(0) @binding(16) var<storage, read_write> dlogit: array<f32>; // (F, K + 1)
@group(0) @binding(17) var<storage, read_write> dw: array<f32>;     // (K, D)
@group(0) @binding(18) var<storage, read_write> dbias: array<f32>;  // (K)
@group(0) @binding(19) var<storage, read_write> dc: array<f32>;     // (K, D)

const BIG: f32 = 0x1.fffffep+127f;

var<workgroup> tree: array<f32, WG>;
var<workgroup> ka: array<f32, KMAX>; // per-cluster values shared by the workgroup
var<workgroup> kb: array<f32, KMAX>;

fn wg_sum(lid: u32, v: f32) -> f32 {
  tree[lid] = v;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) { tree[lid] += tree[lid + h]; }
    workgroupBarrier();
  }
  let s = tree[0];
  workgroupBarrier();
  return s;
}

fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// 1 / max(‖x_f‖, ε) over the frame's D values (every thread gets it).
fn frame_inv_norm(lid: u32, xb: u32) -> f32 {
  var ss = 0.0;
  for (var j = lid; j < p.d; j += WG) { ss += x[xb + j] * x[xb + j]; }
  return 1.0 / max(sqrt(wg_sum(lid, ss)), p.eps);
}

// ---------------------------------------------------------------- assign + residual

@compute @workgroup_size(WG)
fn vlad_assign_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                       @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = group_id(wid, nwg); // uniform: the exit keeps barriers uniform
  if (f >= p.frames) { return; }
  let xb = f * p.d;
  let kd = p.k * p.d;
  let inv = frame_inv_norm(lid, xb);
  // Logits W_k · x̂ + b_k, one tree each; thread 0 keeps them in ka (the next tree's barrier
  // publishes each write).
  for (var k = 0u; k < p.k; k++) {
    var t = 0.0;
    for (var j = lid; j < p.d; j += WG) { t += w[k * p.d + j] * x[xb + j]; }
    let l = wg_sum(lid, t) * inv + bias[k];
    if (lid == 0u) { ka[k] = l; }
  }
  workgroupBarrier();
  // Softmax over K (short: every thread computes the max and sum itself).
  var m = -BIG;
  for (var k = 0u; k < p.k; k++) { m = max(m, ka[k]); }
  var s = 0.0;
  for (var k = 0u; k < p.k; k++) { s += exp(ka[k] - m); }
  for (var k = lid; k < p.k; k += WG) {
    let a = exp(ka[k] - m) / s;
    kb[k] = a;
    ar[p.frames * kd + f * p.k + k] = a;
  }
  workgroupBarrier();
  for (var q = lid; q < kd; q += WG) {
    let k = q / p.d;
    let j = q - k * p.d;
    ar[f * kd + q] = kb[k] * (x[xb + j] * inv - cent[q]);
  }
}

@compute @workgroup_size(WG)
fn vlad_assign_backward_frames(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                               @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = group_id(wid, nwg);
  if (f >= p.frames) { return; }
  let xb = f * p.d;
  let kd = p.k * p.d;
  let rb = f * kd;
  let ab = p.frames * kd + f * p.k;
  let inv = frame_inv_norm(lid, xb);
  // g_k = da_k + Σ_j dr_kj (x̂_j − c_kj)
  for (var k = 0u; k < p.k; k++) {
    var t = 0.0;
    for (var j = lid; j < p.d; j += WG) { t += gr[rb + k * p.d + j] * (x[xb + j] * inv - cent[k * p.d + j]); }
    var g = wg_sum(lid, t);
    if (p.has_da != 0u) { g += ga[p.da_off + f * p.k + k]; }
    if (lid == 0u) { ka[k] = g; }
  }
  workgroupBarrier();
  var ag = 0.0;
  for (var k = 0u; k < p.k; k++) { ag += ar[ab + k] * ka[k]; }
  for (var k = lid; k < p.k; k += WG) {
    let dl = ar[ab + k] * (ka[k] - ag);
    kb[k] = dl;
    dlogit[f * (p.k + 1u) + k] = dl;
  }
  if (lid == 0u) { dlogit[f * (p.k + 1u) + p.k] = inv; }
  workgroupBarrier();
  // dx̂_j, parked in dx until x̂ · dx̂ is known (each thread rereads only its own j).
  var dot = 0.0;
  for (var j = lid; j < p.d; j += WG) {
    var g = 0.0;
    for (var k = 0u; k < p.k; k++) { g += ar[ab + k] * gr[rb + k * p.d + j] + kb[k] * w[k * p.d + j]; }
    dx[xb + j] = g;
    dot += g * x[xb + j] * inv;
  }
  dot = wg_sum(lid, dot);
  // Below ε the clamp is constant: dx = dx̂ / ε (inv = 1 / ε there), no projection.
  let proj = select(0.0, dot, inv < 1.0 / p.eps);
  for (var j = lid; j < p.d; j += WG) { dx[xb + j] = (dx[xb + j] - x[xb + j] * inv * proj) * inv; }
}

@compute @workgroup_size(WG)
fn vlad_assign_backward_params(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                               @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = group_id(wid, nwg) * WG + lid;
  let kd = p.k * p.d;
  let k1 = p.k + 1u;
  if (o < kd) {
    let k = o / p.d;
    let j = o - k * p.d;
    var gw = 0.0;
    var gc = 0.0;
    for (var f = 0u; f < p.frames; f++) {
      gw += dlogit[f * k1 + k] * x[f * p.d + j] * dlogit[f * k1 + p.k];
      gc -= ar[p.frames * kd + f * p.k + k] * gr[f * kd + o];
    }
    dw[o] = gw;
    dc[o] = gc;
  } else if (o < kd + p.k) {
    let k = o - kd;
    var gb = 0.0;
    for (var f = 0u; f < p.frames; f++) { gb += dlogit[f * k1 + k]; }
    dbias[k] = gb;
  }
}

// ---------------------------------------------------------------- weighted aggregate + norms

fn beta_of(f: u32) -> f32 {
  if (p.has_beta == 0u) { return 1.0; }
  return beta[f];
}

@compute @workgroup_size(WG)
fn vlad_aggregate_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                          @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = group_id(wid, nwg);
  let videos = p.frames / p.s;
  if (b >= videos) { return; }
  let kd = p.k * p.d;
  var g2 = 0.0; // ‖U‖² = Σ_k n_k² / max(n_k, ε)²
  for (var k = 0u; k < p.k; k++) {
    var ss = 0.0;
    for (var j = lid; j < p.d; j += WG) {
      var v = 0.0;
      for (var i = 0u; i < p.s; i++) {
        let f = b * p.s + i;
        v += beta_of(f) * r[f * kd + k * p.d + j];
      }
      y[b * kd + k * p.d + j] = v;
      ss += v * v;
    }
    let n = sqrt(wg_sum(lid, ss));
    let nc = max(n, p.eps);
    g2 += (n / nc) * (n / nc);
    if (lid == 0u) {
      ka[k] = nc;
      norms[b * (p.k + 1u) + k] = n;
    }
  }
  workgroupBarrier();
  let g = sqrt(g2);
  if (lid == 0u) { norms[b * (p.k + 1u) + p.k] = g; }
  let rg = 1.0 / max(g, p.eps);
  for (var k = 0u; k < p.k; k++) {
    let sc = rg / ka[k];
    for (var j = lid; j < p.d; j += WG) { y[b * kd + k * p.d + j] *= sc; }
  }
}

@compute @workgroup_size(WG)
fn vlad_aggregate_backward_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                                @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = group_id(wid, nwg);
  let videos = p.frames / p.s;
  if (b >= videos) { return; }
  let kd = p.k * p.d;
  let yb = b * kd;
  let nb = b * (p.k + 1u);
  let gc = max(norms[nb + p.k], p.eps);
  let gproj = select(0.0, 1.0, norms[nb + p.k] > p.eps);
  var t = 0.0;
  for (var q = lid; q < kd; q += WG) { t += y[yb + q] * dy[yb + q]; }
  let ydy = wg_sum(lid, t) * gproj;
  for (var k = 0u; k < p.k; k++) {
    let nc = max(norms[nb + k], p.eps);
    let kproj = select(0.0, 1.0, norms[nb + k] > p.eps);
    // U_k = y_k · max(G, ε) and dU = (dy − y (y · dy)) / max(G, ε), so U_k · dU_k = y · (dy − y (y · dy)).
    var u = 0.0;
    for (var j = lid; j < p.d; j += WG) {
      let q = k * p.d + j;
      u += y[yb + q] * (dy[yb + q] - y[yb + q] * ydy);
    }
    let udu = wg_sum(lid, u) * kproj;
    for (var j = lid; j < p.d; j += WG) {
      let q = k * p.d + j;
      let du = (dy[yb + q] - y[yb + q] * ydy) / gc;
      dv[yb + q] = (du - y[yb + q] * gc * udu) / nc;
    }
  }
}

@compute @workgroup_size(WG)
fn vlad_aggregate_backward_frames(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let f = group_id(wid, nwg);
  if (f >= p.frames) { return; }
  let kd = p.k * p.d;
  let vb = (f / p.s) * kd;
  let bf = beta_of(f);
  var t = 0.0;
  for (var q = lid; q < kd; q += WG) {
    let g = dv[vb + q];
    dr[f * kd + q] = bf * g;
    t += r[f * kd + q] * g;
  }
  let s = wg_sum(lid, t);
  if (lid == 0u && p.has_beta != 0u) { dbeta[f] = s; }
}
