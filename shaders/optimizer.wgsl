// optimizer: gradient norms per parameter tensor, clipping coefficients, AdamW and SGD steps,
// each ONE dispatch over a flat buffer that holds many parameter tensors ("segments").
//
// Math (PyTorch's AdamW, decoupled weight decay; step t >= 1):
//   g  = grad * coef[s]                        (coef: clipping, 1 when off)
//   p  = p * (1 - lr * wd)                     (only segments with the decay flag)
//   m  = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
//   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// SGD (PyTorch, dampening 0): g += wd p ; buf = mu buf + g (buf = g at the first step) ; p -= lr buf
// Clipping per tensor (DINO): coef = min(1, c / (||g_s|| + 1e-6)); global (clip_grad_norm_):
//   coef = min(1, c / (sqrt(sum_s ||g_s||^2) + 1e-6)) for every segment.
// Frozen segments (DINO's last layer in epoch 0; grad = None in PyTorch) are skipped entirely:
// no decay, no moment update.
//
// Shapes: P total elements in the flat buffers (param, grad, m, v), S segments; seg_start has
//   S + 1 entries (seg_start[S] = P); seg_flags[s]: bit 0 decay, bit 1 frozen.
// Threads: sumsq_segments: one workgroup per segment, strided loop + tree reduction;
//   clip_coefs: one workgroup; adamw_step / sgd_step: one element per thread, the segment
//   found by binary search over seg_start (S ~ 150 for ViT-S: 8 probes, cached).
// Traffic: adamw reads p, g, m, v and writes p, m, v: 28 bytes per element, ~15 FLOP.
//
// | version      | idea                                         | measured | adapter | commit |
// |--------------|----------------------------------------------|----------|---------|--------|
// | adamw_step   | element per thread, segment by binary search | -        | -       | -      |

override WG: u32 = 256u;

// Scalars that suffer from cancellation in f32 (1 - 0.999 loses 5 digits) are computed in
// double on the host: 1 - b1, 1 - b2, and the per-segment bias corrections.
struct Params {
  n: u32,         // P: total elements
  n_seg: u32,     // S
  mode: u32,      // clip_coefs: 0 none, 1 per tensor, 2 global
  _pad: u32,
  lr: f32,
  wd: f32,
  b1: f32,        // AdamW beta1, or SGD momentum
  b2: f32,
  omb1: f32,      // 1 - b1
  omb2: f32,      // 1 - b2
  eps: f32,
  clip: f32,      // clipping threshold c
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> seg_start: array<u32>;
@group(0) @binding(2) var<storage, read> seg_flags: array<u32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> sumsq: array<f32>;   // (S) squared norms
@group(0) @binding(5) var<storage, read_write> coef: array<f32>;    // (S) gradient multipliers
@group(0) @binding(6) var<storage, read_write> param: array<f32>;
@group(0) @binding(7) var<storage, read_write> m1: array<f32>;      // AdamW m, SGD momentum buffer
@group(0) @binding(8) var<storage, read_write> m2: array<f32>;      // AdamW v
@group(0) @binding(9) var<storage, read> coef_in: array<f32>;
// Per segment (2 floats): AdamW: 1 - b1^t_s and sqrt(1 - b2^t_s), with t_s the segment's own
// step count (a tensor frozen for a while starts its bias correction later, as in PyTorch,
// where a parameter without grad keeps no state). SGD: [1 if first step else 0, unused].
@group(0) @binding(10) var<storage, read> seg_bias: array<f32>;

var<workgroup> partial: array<f32, 256>;

// ||grad[seg]||^2, one workgroup per segment.
@compute @workgroup_size(256)
fn sumsq_segments(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wid.x;
  let lo = seg_start[s];
  let hi = seg_start[s + 1u];
  var acc = 0.0;
  for (var i = lo + lid; i < hi; i += 256u) {
    let g = grad[i];
    acc = fma(g, g, acc);
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { sumsq[s] = partial[0]; }
}

// Clipping coefficients from the squared norms (one workgroup; S is small).
@compute @workgroup_size(256)
fn clip_coefs(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var s = lid; s < p.n_seg; s += 256u) {
    if ((seg_flags[s] & 2u) == 0u) { acc += sumsq[s]; }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  let total = sqrt(partial[0]);
  for (var s = lid; s < p.n_seg; s += 256u) {
    var c = 1.0;
    if (p.mode == 1u) { c = min(1.0, p.clip / (sqrt(sumsq[s]) + 1e-6)); }
    if (p.mode == 2u) { c = min(1.0, p.clip / (total + 1e-6)); }
    coef[s] = c;
  }
}

fn segment_of(i: u32) -> u32 {
  // Largest s with seg_start[s] <= i.
  var lo = 0u;
  var hi = p.n_seg;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (seg_start[mid] <= i) { lo = mid; } else { hi = mid; }
  }
  return lo;
}

fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn adamw_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let s = segment_of(i);
  let flags = seg_flags[s];
  if ((flags & 2u) != 0u || i >= seg_start[p.n_seg]) { return; }
  let g = grad[i] * coef_in[s];
  var w = param[i];
  if ((flags & 1u) != 0u) { w = w * (1.0 - p.lr * p.wd); }
  let m = p.b1 * m1[i] + p.omb1 * g;
  let v = p.b2 * m2[i] + p.omb2 * g * g;
  m1[i] = m;
  m2[i] = v;
  let denom = sqrt(v) / seg_bias[2u * s + 1u] + p.eps;
  param[i] = w - (p.lr / seg_bias[2u * s]) * m / denom;
}

@compute @workgroup_size(WG)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let s = segment_of(i);
  let flags = seg_flags[s];
  if ((flags & 2u) != 0u || i >= seg_start[p.n_seg]) { return; }
  var g = grad[i] * coef_in[s];
  let w = param[i];
  if ((flags & 1u) != 0u) { g = g + p.wd * w; }
  var buf = g;
  if (seg_bias[2u * s] == 0.0) { buf = p.b1 * m1[i] + g; }
  m1[i] = buf;
  param[i] = w - p.lr * buf;
}
