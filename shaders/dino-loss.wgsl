// dino-loss: DINO's multi-crop cross-entropy, its gradient w.r.t. the student logits, and the
// center EMA, fused so that the teacher softmax is computed once per row and no
// (pairs × B × K) tensor is ever formed.
//
// Math: V student crops stacked crop-major, S = [g1; g2; l1; …] (V·B, K); teacher T = [g1; g2]
//   (2·B, K); center c (K). Pairs: teacher crop t ∈ {0, 1}, student crop v ≠ t: 2·V − 2 of them.
//   P_t = softmax((T_t − c) / τt)                        (teacher rows, computed once: probs)
//   z_v = (S_v − m_v) / τs,  m_v = max S_v,  s_v = Σ_k exp(z_v)
//   −Σ_k P_t log softmax(S_v / τs) = log s_v − Σ_k P_t z_v        (uses Σ_k P_t = 1)
//   L = 1 / (B · n_pairs) · Σ_b Σ_(t,v) [log s_v − P_t · z_v]
//   dL/dS_v = (w_v softmax(S_v / τs) − Σ_(t≠v) P_t) / (τs · B · n_pairs),  w_v = #teachers paired
//   c' = m c + (1 − m) · mean over the 2·B rows of the raw T    (SPEC §11: all 2·B rows, not /2)
// Shapes: S, dS (V·B, K); T, probs (2·B, K); c, c' (K); row_loss (V·B); loss (1).
//   Row r of S is crop v = r / B, batch item b = r % B; its teachers are rows b and B + b of T.
// Threads:
//   dino_teacher_v1 / dino_student_v1: one thread per row, serial passes (max; sum and dots;
//     write). The naive version: on a CPU adapter its 8 SIMD lanes read 8 rows K apart.
//   dino_teacher_v2 / dino_student_v2: one workgroup per row, threads stride the row
//     (coalesced); online (max, sum) per thread, merged in one tree (with the two dots); two
//     passes over S instead of three. The GPU version.
//   dino_student_v3: one workgroup per batch item b over all V crops (V <= VMAX): the two
//     teacher rows are read once per element for the V crops. Only B workgroups: the CPU version.
//   dino_center: one thread per column k, summing its 2·B teacher rows in a fixed order.
//   dino_loss_sum: one workgroup sums the V·B row losses in a fixed order (deterministic).
// Traffic per student element: v2 reads S, P_0, P_1 twice and writes dS once: ~28 bytes
//   (local crops, two teachers) for 2 exps and ~10 FLOPs: memory bound; v3 reads 4 + 8/V
//   bytes per pass instead of 12. Compulsory bytes (the GB/s below and in bench/dino-loss.ts):
//   4·(2·V·B·K [S, dS] + 2·B·K [T] + 2·K [c, c']). Shape V 12, B 32, K 65536 (MeDiVLAD's
//   DINO stage), loss + dS + c' (all four dispatches); "unfused" is our own ops composed
//   (bench/dino-loss.ts), tfjs the tfjs-webgpu composition, both measured in the same run.
//
// One row per entry point. Times are the whole loss (all four dispatches) with that student
// version, at K 65536 / K 1024; GB/s as above. From bench/results/fused-{h200,lavapipe}.local.json
// (lavapipe: 2 cores shared with other jobs, load ~8: ratios hold, absolute times are pessimistic).
//
// | entry point      | idea                                          | measured                                              | adapter       | commit     |
// |------------------|-----------------------------------------------|-------------------------------------------------------|---------------|------------|
// | dino_teacher_v1  | thread per row, 3 serial passes               | with student_v1                                       | -             | -          |
// | dino_student_v1  | thread per row, 3 serial passes               | wg8 70.7 ms 3.1 GB/s / 1.13 ms                        | H200 (Vulkan) | fa34350+wt |
// |                  |                                               | wg8 1167 ms 0.19 GB/s / 12.0 ms                       | lavapipe      | fa34350+wt |
// | dino_teacher_v2  | workgroup per row, online (max, sum), 1 tree  | with student_v2 and v3                                | -             | -          |
// | dino_student_v2  | workgroup per row, online (max, sum), 1 tree  | wg256 0.89 ms 245 GB/s, 8.9x unfused, 22x tfjs / 0.29 ms, 22x, 70x | H200 (Vulkan) | fa34350+wt |
// |                  |                                               | wg64 710 ms 0.31 GB/s / wg16 6.6 ms                   | lavapipe      | fa34350+wt |
// | dino_student_v3  | workgroup per batch item, all crops, P once   | wg16 45.8 ms 4.8 GB/s / 0.57 ms                       | H200 (Vulkan) | fa34350+wt |
// |                  |                                               | wg8 407 ms 0.54 GB/s, 15x unfused, 16x tfjs / 6.0 ms, 14x, 11x | lavapipe | fa34350+wt |
// | dino_center      | thread per column, 2·B rows in a fixed order  | in every row above                                    | -             | -          |
// | dino_loss_sum    | one workgroup, fixed-order tree               | in every row above                                    | -             | -          |
// (fa34350+wt: the working tree on top of fa34350, before this family was committed.)

override WG: u32 = 256u;     // threads per workgroup (v2 and the loss sum: a power of two)
override GRAD: bool = true;  // write dS (off under no_grad: the loss alone)

struct Params {
  b: u32,           // batch B
  k: u32,           // logits per row K
  crops: u32,       // student crops V (2 global + locals)
  _pad: u32,
  inv_ts: f32,      // 1 / τs
  inv_tt: f32,      // 1 / τt
  momentum: f32,    // center momentum m
  grad_scale: f32,  // 1 / (τs · B · n_pairs)
  loss_scale: f32,  // 1 / (B · n_pairs)
  _pad1: u32,
  _pad2: u32,
  _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> student: array<f32>;         // (V·B, K)
@group(0) @binding(2) var<storage, read> teacher: array<f32>;         // (2·B, K)
@group(0) @binding(3) var<storage, read> center: array<f32>;          // (K)
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;     // (2·B, K) P_t
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;      // (V·B, K) dL/dS
@group(0) @binding(6) var<storage, read_write> row_loss: array<f32>;  // (V·B)
@group(0) @binding(7) var<storage, read_write> loss: array<f32>;      // (1)
@group(0) @binding(8) var<storage, read_write> new_center: array<f32>; // (K)

const BIG: f32 = 0x1.fffffep+127f; // largest finite f32 (WGSL has no inf literal)

fn flat_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// ---------------------------------------------------------------- teacher: P = softmax((T − c) / τt)

// Subtract the row max before scaling: at τt = 0.04 a logit of 4 is already 100 after scaling.
@compute @workgroup_size(WG)
fn dino_teacher_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_id(wid, nwg) * WG + lid;
  if (row >= 2u * p.b) { return; }
  let base = row * p.k;
  var m = -BIG;
  for (var j = 0u; j < p.k; j++) { m = max(m, teacher[base + j] - center[j]); }
  var s = 0.0;
  for (var j = 0u; j < p.k; j++) { s += exp((teacher[base + j] - center[j] - m) * p.inv_tt); }
  let r_s = 1.0 / s;
  for (var j = 0u; j < p.k; j++) { probs[base + j] = exp((teacher[base + j] - center[j] - m) * p.inv_tt) * r_s; }
}

// Tree over (max, sum, dot0, dot1): the sums rescale to the larger max; the dots just add.
var<workgroup> tree: array<vec4<f32>, WG>;

fn merge(a: vec4<f32>, b: vec4<f32>, inv_t: f32) -> vec4<f32> {
  let m = max(a.x, b.x);
  // Empty halves are (-BIG, 0, ..): (-BIG - m) · inv_t may round to -inf, exp(-inf) = 0.
  return vec4<f32>(m, a.y * exp((a.x - m) * inv_t) + b.y * exp((b.x - m) * inv_t), a.z + b.z, a.w + b.w);
}

// Every thread returns the merged value; the array is free again on return.
fn wg_merge(lid: u32, v: vec4<f32>, inv_t: f32) -> vec4<f32> {
  tree[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { tree[lid] = merge(tree[lid], tree[lid + k], inv_t); }
    workgroupBarrier();
  }
  let r = tree[0];
  workgroupBarrier();
  return r;
}

// Online (max, sum) of one element: e = exp(−|x − m| / T) is the new term when x ≤ m and
// the rescale of the old sum when x > m (one exp per element).
fn online(ms: vec2<f32>, x: f32, inv_t: f32) -> vec2<f32> {
  let e = exp((min(x, ms.x) - max(x, ms.x)) * inv_t);
  return vec2<f32>(max(ms.x, x), select(ms.y + e, ms.y * e + 1.0, x > ms.x));
}

@compute @workgroup_size(WG)
fn dino_teacher_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_id(wid, nwg); // uniform over the workgroup: the early exit keeps barriers uniform
  if (row >= 2u * p.b) { return; }
  let base = row * p.k;
  var ms = vec2<f32>(-BIG, 0.0);
  for (var j = lid; j < p.k; j += WG) { ms = online(ms, teacher[base + j] - center[j], p.inv_tt); }
  let t = wg_merge(lid, vec4<f32>(ms, 0.0, 0.0), p.inv_tt);
  let r_s = 1.0 / t.y;
  for (var j = lid; j < p.k; j += WG) { probs[base + j] = exp((teacher[base + j] - center[j] - t.x) * p.inv_tt) * r_s; }
}

// ---------------------------------------------------------------- student: row loss and dS

// Row r: crop v = r / B pairs with teacher 0 unless v = 0, and with teacher 1 unless v = 1.
struct RowPlan {
  base: u32,   // start of the row in S and dS
  p0: u32,     // start of teacher row b in probs
  p1: u32,     // start of teacher row B + b
  use0: bool,
  use1: bool,
  w: f32,      // number of teachers paired with this crop
}

fn row_plan(row: u32) -> RowPlan {
  let v = row / p.b;
  let bi = row % p.b;
  let use0 = v != 0u;
  let use1 = v != 1u;
  return RowPlan(row * p.k, bi * p.k, (p.b + bi) * p.k, use0, use1, f32(u32(use0) + u32(use1)));
}

fn write_grad(rp: RowPlan, j: u32, q: f32) {
  var g = rp.w * q;
  if (rp.use0) { g -= probs[rp.p0 + j]; }
  if (rp.use1) { g -= probs[rp.p1 + j]; }
  grad[rp.base + j] = g * p.grad_scale;
}

@compute @workgroup_size(WG)
fn dino_student_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_id(wid, nwg) * WG + lid;
  if (row >= p.crops * p.b) { return; }
  let rp = row_plan(row);
  var m = -BIG;
  for (var j = 0u; j < p.k; j++) { m = max(m, student[rp.base + j]); }
  var s = 0.0;
  var d0 = 0.0; // Σ P_0 z
  var d1 = 0.0; // Σ P_1 z
  for (var j = 0u; j < p.k; j++) {
    let z = (student[rp.base + j] - m) * p.inv_ts;
    s += exp(z);
    if (rp.use0) { d0 += probs[rp.p0 + j] * z; }
    if (rp.use1) { d1 += probs[rp.p1 + j] * z; }
  }
  let log_s = log(s);
  row_loss[row] = rp.w * log_s - d0 - d1;
  if (!GRAD) { return; }
  let r_s = 1.0 / s;
  for (var j = 0u; j < p.k; j++) { write_grad(rp, j, exp((student[rp.base + j] - m) * p.inv_ts) * r_s); }
}

// The dots are taken against x − x_0 (x_0 the row's first logit), not against x − m, since m
// is not known until the tree: Σ P (x − m) = Σ P (x − x_0) − (m − x_0) Σ P, with Σ P = 1.
// The shift keeps the dots at the scale of the row's spread, not of its offset.
@compute @workgroup_size(WG)
fn dino_student_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = flat_id(wid, nwg);
  if (row >= p.crops * p.b) { return; }
  let rp = row_plan(row);
  let x0 = student[rp.base];
  var ms = vec2<f32>(-BIG, 0.0);
  var d0 = 0.0;
  var d1 = 0.0;
  for (var j = lid; j < p.k; j += WG) {
    let x = student[rp.base + j];
    ms = online(ms, x, p.inv_ts);
    if (rp.use0) { d0 += probs[rp.p0 + j] * (x - x0); }
    if (rp.use1) { d1 += probs[rp.p1 + j] * (x - x0); }
  }
  let t = wg_merge(lid, vec4<f32>(ms, d0, d1), p.inv_ts);
  let m = t.x;
  let log_s = log(t.y);
  if (lid == 0u) {
    // Σ_t P_t · z = (dot_t − (m − x0)) / τs for each paired teacher t.
    row_loss[row] = rp.w * log_s - (t.z + t.w - rp.w * (m - x0)) * p.inv_ts;
  }
  if (!GRAD) { return; }
  let r_s = 1.0 / t.y;
  for (var j = lid; j < p.k; j += WG) { write_grad(rp, j, exp((student[rp.base + j] - m) * p.inv_ts) * r_s); }
}

// v3: one workgroup per batch item b runs all V crops of b side by side, so the two teacher
// rows every crop reads are loaded once per element instead of once per crop: per student
// element 4 + 8/V bytes read per pass instead of 12. Per-crop accumulators live in a private
// array (crops <= VMAX). Only B workgroups: for CPU adapters, not for GPUs.
// The crop loops are bounded by VMAX (min below) so that the compiler unrolls them and the
// accumulators stay in registers: 2x faster on lavapipe than the same loops bounded by
// p.crops alone, at the price of a ~5 s first compile there (0.5 s rolled).
const VMAX: u32 = 16u;
var<workgroup> crop_stats: array<vec2<f32>, VMAX>; // (max, 1 / sum) per crop

@compute @workgroup_size(WG)
fn dino_student_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let bi = flat_id(wid, nwg);
  if (bi >= p.b) { return; }
  let p0 = bi * p.k;
  let p1 = (p.b + bi) * p.k;
  let nv = min(p.crops, VMAX);
  var acc: array<vec4<f32>, VMAX>; // (max, sum, dot0, dot1) of each crop's row
  var x0: array<f32, VMAX>;
  for (var v = 0u; v < nv; v++) {
    acc[v] = vec4<f32>(-BIG, 0.0, 0.0, 0.0);
    x0[v] = student[(v * p.b + bi) * p.k];
  }
  for (var j = lid; j < p.k; j += WG) {
    let q0 = probs[p0 + j];
    let q1 = probs[p1 + j];
    for (var v = 0u; v < nv; v++) {
      let x = student[(v * p.b + bi) * p.k + j];
      let ms = online(acc[v].xy, x, p.inv_ts);
      let dx = x - x0[v];
      acc[v] = vec4<f32>(ms, acc[v].z + select(0.0, q0 * dx, v != 0u), acc[v].w + select(0.0, q1 * dx, v != 1u));
    }
  }
  for (var v = 0u; v < nv; v++) {
    let t = wg_merge(lid, acc[v], p.inv_ts);
    if (lid == 0u) {
      let w = f32(u32(v != 0u) + u32(v != 1u));
      row_loss[v * p.b + bi] = w * log(t.y) - (t.z + t.w - w * (t.x - x0[v])) * p.inv_ts;
      crop_stats[v] = vec2<f32>(t.x, 1.0 / t.y);
    }
  }
  workgroupBarrier();
  if (!GRAD) { return; }
  for (var j = lid; j < p.k; j += WG) {
    let q0 = probs[p0 + j];
    let q1 = probs[p1 + j];
    for (var v = 0u; v < nv; v++) {
      let at = (v * p.b + bi) * p.k + j;
      let st = crop_stats[v];
      let q = exp((student[at] - st.x) * p.inv_ts) * st.y;
      var g = q * 2.0 - q0 - q1;
      if (v == 0u) { g = q - q1; }
      if (v == 1u) { g = q - q0; }
      grad[at] = g * p.grad_scale;
    }
  }
}

// ---------------------------------------------------------------- center EMA and loss sum

@compute @workgroup_size(WG)
fn dino_center(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
               @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_id(wid, nwg) * WG + lid;
  if (j >= p.k) { return; }
  var s = 0.0;
  for (var r = 0u; r < 2u * p.b; r++) { s += teacher[r * p.k + j]; }
  new_center[j] = p.momentum * center[j] + (1.0 - p.momentum) * (s / f32(2u * p.b));
}

@compute @workgroup_size(WG)
fn dino_loss_sum(@builtin(local_invocation_index) lid: u32) {
  let n = p.crops * p.b;
  var s = 0.0;
  for (var r = lid; r < n; r += WG) { s += row_loss[r]; }
  let t = wg_merge(lid, vec4<f32>(0.0, 0.0, s, 0.0), 1.0);
  if (lid == 0u) { loss[0] = t.z * p.loss_scale; }
}
