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
//   clip_coefs: one workgroup; adamw_step / sgd_step: a run of OPT_RUN (8) elements per
//   thread, the segment found once per run by binary search over seg_start (S ~ 150 for
//   ViT-S: 8 probes).
// Traffic: adamw reads p, g, m, v and writes p, m, v: 28 bytes per element, ~15 FLOP.
//
// | version      | idea                                         | measured | adapter | commit |
// |--------------|----------------------------------------------|----------|---------|--------|
// | adamw_step   | element per thread, segment by binary search | AdamW.step() ViT-S/8 321-328 ms | lavapipe | 6a4e90b |
// | adamw_step   | runs of 8, segment metadata once per run     | 144-148 ms (2.2x) | lavapipe | (this) |

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

// Run of OPT_RUN consecutive elements per thread. The segment's metadata (binary search, flags,
// clipping coefficient, bias corrections: ~10 loads at dynamic addresses, each a loop over the
// SIMD lanes on lavapipe) is read once per run when the run lies inside one segment, which is
// always the case for ParameterStore buckets (segments start at multiples of 64); a run across
// a boundary takes the per-element path.
const OPT_RUN: u32 = 8u;

// Per-segment values of one step.
struct Seg { live: bool, decay: bool, c: f32, step: f32, bc2: f32, first: bool }

fn seg_info(s: u32) -> Seg {
  let flags = seg_flags[s];
  let b0 = seg_bias[2u * s];
  return Seg((flags & 2u) == 0u, (flags & 1u) != 0u, coef_in[s], p.lr / b0, seg_bias[2u * s + 1u], b0 != 0.0);
}

fn adamw_one(i: u32, sg: Seg) {
  let g = grad[i] * sg.c;
  var w = param[i];
  if (sg.decay) { w = w * (1.0 - p.lr * p.wd); }
  let m = p.b1 * m1[i] + p.omb1 * g;
  let v = p.b2 * m2[i] + p.omb2 * g * g;
  m1[i] = m;
  m2[i] = v;
  let denom = sqrt(v) / sg.bc2 + p.eps;
  param[i] = w - sg.step * m / denom;
}

fn sgd_one(i: u32, sg: Seg) {
  var g = grad[i] * sg.c;
  let w = param[i];
  if (sg.decay) { g = g + p.wd * w; }
  var buf = g;
  if (!sg.first) { buf = p.b1 * m1[i] + g; }  // seg_bias[2s] = 1 at the first step, else 0
  m1[i] = buf;
  param[i] = w - p.lr * buf;
}

// The segment of the run's first element i0, and 1 when the whole run lies inside it (else 0).
fn run_segment(i0: u32) -> vec2<u32> {
  let s = segment_of(i0);
  return vec2<u32>(s, select(0u, 1u, i0 + OPT_RUN <= seg_start[s + 1u]));
}

@compute @workgroup_size(WG)
fn adamw_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = linear_id(wid, lid, nwg) * OPT_RUN;
  if (i0 >= p.n) { return; }
  let r = run_segment(i0);
  if (r.y == 1u) {
    let sg = seg_info(r.x);
    if (!sg.live) { return; }
    for (var k = 0u; k < OPT_RUN; k++) { adamw_one(i0 + k, sg); }
    return;
  }
  for (var i = i0; i < min(i0 + OPT_RUN, p.n); i++) {
    if (i >= seg_start[p.n_seg]) { return; }
    let sg = seg_info(segment_of(i));
    if (sg.live) { adamw_one(i, sg); }
  }
}

@compute @workgroup_size(WG)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let i0 = linear_id(wid, lid, nwg) * OPT_RUN;
  if (i0 >= p.n) { return; }
  let r = run_segment(i0);
  if (r.y == 1u) {
    let sg = seg_info(r.x);
    if (!sg.live) { return; }
    for (var k = 0u; k < OPT_RUN; k++) { sgd_one(i0 + k, sg); }
    return;
  }
  for (var i = i0; i < min(i0 + OPT_RUN, p.n); i++) {
    if (i >= seg_start[p.n_seg]) { return; }
    let sg = seg_info(segment_of(i));
    if (sg.live) { sgd_one(i, sg); }
  }
}
