// attention-subgroup: the subgroup versions of fused attention (forward v4..v6; backward
// v3..v6, and the dQ accumulator copy of the one-pass backward). Math, layouts, bindings 0..11,
// the helpers they share and the version table are in attention.wgsl; src/kernels/attention.ts
// compiles `enable subgroups;` + attention.wgsl + this file where the device has subgroups of a
// fixed size 4 or 8, and attention.wgsl alone elsewhere.
//
// Why (lavapipe, Mesa 25.0 / LLVM 15, read with GALLIVM_DEBUG=asm and perf): every load whose
// address is not a compile-time constant becomes a loop over the 8 lanes (mask test,
// descriptor reload, bounds check, insert), ~10 instructions per lane and float, whether the
// address is uniform or not: storage, workgroup and dynamically indexed private memory alike.
// Arithmetic, blends and subgroupShuffle (one vpermd) are one instruction. So these versions
//   (1) load each float once per subgroup: lane t loads row t of a block of SG rows (vec4s);
//   (2) hand rows between lanes with subgroupShuffle;
//   (3) index private arrays by constants only: the c4-loops sit in small helpers whose
//       arguments are literals or shuffle lanes, so NIR unrolls them and folds the indices.
// One subgroup is the whole workgroup; lane l owns rows base + r·SG + l, r = 0..3, kept
// transposed per vec4 of columns ([c4][comp][r], a mat4x4), so one vec4 operation advances
// the four rows together. Loops that run once (loading and storing the owned rows) are
// bounded by the uniform p.d4 instead of the constant Dh / 4 so that NIR keeps them rolled:
// unrolled, their per-lane load loops would multiply the code (and the compile time).
// Needs Dh % 4 == 0 and view offsets and strides that are multiples of 4.
override SG: u32 = 8u;   // subgroup size = lanes = workgroup size = rows per block
const D4: u32 = 16u;     // DMAX / 4: vec4s per row

@group(0) @binding(12) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(13) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(15) var<storage, read> go4: array<vec4<f32>>;  // dO

alias Row4 = array<vec4<f32>, D4>;      // one row of Dh, as vec4s
alias Rows4x4 = array<mat4x4<f32>, D4>; // four rows: [c4][comp][r] = row_r[4 c4 + comp]

// The helpers below are unrolled by hand, one call per vec4 of columns (c4 a literal, calls past
// Dh / 4 folded away): NIR unrolls a loop only while its body is small, and a rolled loop turns
// every (*acc)[c4] into a dynamically indexed private access, a loop over the 8 lanes each.
// Measured on lavapipe at N = 785: the rolled rows_axpy4 cost ~30% of the backward's CPU time.

// One vec4 of columns of (a_r · x_t)_r into four partial sums s (see rows_dot).
fn dot_at(c4: u32, t: u32, a: ptr<function, Rows4x4>, x: ptr<function, Row4>, s: ptr<function, mat4x4<f32>>) {
  let xt = subgroupShuffle((*x)[c4], t);
  let am = (*a)[c4];
  (*s)[0] = fma(am[0], vec4<f32>(xt.x), (*s)[0]);
  (*s)[1] = fma(am[1], vec4<f32>(xt.y), (*s)[1]);
  (*s)[2] = fma(am[2], vec4<f32>(xt.z), (*s)[2]);
  (*s)[3] = fma(am[3], vec4<f32>(xt.w), (*s)[3]);
}

// (a_r · x_t)_r: the lane's four rows against row x of lane t (vec4 over r).
// Four independent partial sums: one chain of Dh dependent adds would leave the out-of-order
// core waiting on add latency (lavapipe splits fma into mul + add).
fn rows_dot(t: u32, a: ptr<function, Rows4x4>, x: ptr<function, Row4>) -> vec4<f32> {
  var s = mat4x4<f32>();
  dot_at(0u, t, a, x, &s);
  if (DH > 4u) { dot_at(1u, t, a, x, &s); }
  if (DH > 8u) { dot_at(2u, t, a, x, &s); }
  if (DH > 12u) { dot_at(3u, t, a, x, &s); }
  if (DH > 16u) { dot_at(4u, t, a, x, &s); }
  if (DH > 20u) { dot_at(5u, t, a, x, &s); }
  if (DH > 24u) { dot_at(6u, t, a, x, &s); }
  if (DH > 28u) { dot_at(7u, t, a, x, &s); }
  if (DH > 32u) { dot_at(8u, t, a, x, &s); }
  if (DH > 36u) { dot_at(9u, t, a, x, &s); }
  if (DH > 40u) { dot_at(10u, t, a, x, &s); }
  if (DH > 44u) { dot_at(11u, t, a, x, &s); }
  if (DH > 48u) { dot_at(12u, t, a, x, &s); }
  if (DH > 52u) { dot_at(13u, t, a, x, &s); }
  if (DH > 56u) { dot_at(14u, t, a, x, &s); }
  if (DH > 60u) { dot_at(15u, t, a, x, &s); }
  return (s[0] + s[1]) + (s[2] + s[3]);
}

// One vec4 of columns of rows_axpy4.
fn axpy4_at(c4: u32, t: u32, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>, x: ptr<function, Row4>, acc: ptr<function, Rows4x4>) {
  let x0 = subgroupShuffle((*x)[c4], t);
  let x1 = subgroupShuffle((*x)[c4], t + 1u);
  let x2 = subgroupShuffle((*x)[c4], t + 2u);
  let x3 = subgroupShuffle((*x)[c4], t + 3u);
  var a = (*acc)[c4];
  a[0] = fma(w0, vec4<f32>(x0.x), fma(w1, vec4<f32>(x1.x), fma(w2, vec4<f32>(x2.x), fma(w3, vec4<f32>(x3.x), a[0]))));
  a[1] = fma(w0, vec4<f32>(x0.y), fma(w1, vec4<f32>(x1.y), fma(w2, vec4<f32>(x2.y), fma(w3, vec4<f32>(x3.y), a[1]))));
  a[2] = fma(w0, vec4<f32>(x0.z), fma(w1, vec4<f32>(x1.z), fma(w2, vec4<f32>(x2.z), fma(w3, vec4<f32>(x3.z), a[2]))));
  a[3] = fma(w0, vec4<f32>(x0.w), fma(w1, vec4<f32>(x1.w), fma(w2, vec4<f32>(x2.w), fma(w3, vec4<f32>(x3.w), a[3]))));
  (*acc)[c4] = a;
}

// acc_r += Σ_{i<4} w_i[r] x_{t+i}: rank-4 update from rows x of lanes t..t+3 (one load, blend
// and store of the accumulator per four rows).
fn rows_axpy4(t: u32, w0: vec4<f32>, w1: vec4<f32>, w2: vec4<f32>, w3: vec4<f32>, x: ptr<function, Row4>, acc: ptr<function, Rows4x4>) {
  axpy4_at(0u, t, w0, w1, w2, w3, x, acc);
  if (DH > 4u) { axpy4_at(1u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 8u) { axpy4_at(2u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 12u) { axpy4_at(3u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 16u) { axpy4_at(4u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 20u) { axpy4_at(5u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 24u) { axpy4_at(6u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 28u) { axpy4_at(7u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 32u) { axpy4_at(8u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 36u) { axpy4_at(9u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 40u) { axpy4_at(10u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 44u) { axpy4_at(11u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 48u) { axpy4_at(12u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 52u) { axpy4_at(13u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 56u) { axpy4_at(14u, t, w0, w1, w2, w3, x, acc); }
  if (DH > 60u) { axpy4_at(15u, t, w0, w1, w2, w3, x, acc); }
}

fn rows_scale(acc: ptr<function, Rows4x4>, f: vec4<f32>) {
  for (var c4 = 0u; c4 < DH / 4u; c4++) {
    let a = (*acc)[c4];
    (*acc)[c4] = mat4x4<f32>(a[0] * f, a[1] * f, a[2] * f, a[3] * f);
  }
}

// Vec4 index of row i of head bh in view t, and the row stride in vec4s.
fn row4(t: vec4<u32>, bh: u32, i: u32) -> u32 { return row(t, bh, i) / 4u; }

// The lane's four rows i0 + r·SG (clamped to N - 1) of q4 / k4 / v4 / go4, transposed, times f.
fn load_q_rows(bh: u32, i0: u32, f: f32, dst: ptr<function, Rows4x4>) {
  let last = p.n - 1u;
  let b0 = row4(p.q, bh, min(i0, last));
  let b1 = row4(p.q, bh, min(i0 + SG, last));
  let b2 = row4(p.q, bh, min(i0 + 2u * SG, last));
  let b3 = row4(p.q, bh, min(i0 + 3u * SG, last));
  for (var c4 = 0u; c4 < p.d4; c4++) { (*dst)[c4] = transpose(mat4x4<f32>(q4[b0 + c4], q4[b1 + c4], q4[b2 + c4], q4[b3 + c4])) * f; }
}
fn load_k_rows(bh: u32, i0: u32, f: f32, dst: ptr<function, Rows4x4>) {
  let last = p.n - 1u;
  let b0 = row4(p.k, bh, min(i0, last));
  let b1 = row4(p.k, bh, min(i0 + SG, last));
  let b2 = row4(p.k, bh, min(i0 + 2u * SG, last));
  let b3 = row4(p.k, bh, min(i0 + 3u * SG, last));
  for (var c4 = 0u; c4 < p.d4; c4++) { (*dst)[c4] = transpose(mat4x4<f32>(k4[b0 + c4], k4[b1 + c4], k4[b2 + c4], k4[b3 + c4])) * f; }
}
fn load_v_rows(bh: u32, i0: u32, dst: ptr<function, Rows4x4>) {
  let last = p.n - 1u;
  let b0 = row4(p.v, bh, min(i0, last));
  let b1 = row4(p.v, bh, min(i0 + SG, last));
  let b2 = row4(p.v, bh, min(i0 + 2u * SG, last));
  let b3 = row4(p.v, bh, min(i0 + 3u * SG, last));
  for (var c4 = 0u; c4 < p.d4; c4++) { (*dst)[c4] = transpose(mat4x4<f32>(v4[b0 + c4], v4[b1 + c4], v4[b2 + c4], v4[b3 + c4])); }
}
// A backward block of owned key rows j0 + r·SG: s · k and v loaded, the dK / dV sums zeroed.
// (Parameter names kr, vr: `k` and `v` are bindings, and the reflection matches names.)
fn start_key_block(bh: u32, j0: u32, kr: ptr<function, Rows4x4>, vr: ptr<function, Rows4x4>, gk: ptr<function, Rows4x4>, gv: ptr<function, Rows4x4>) {
  load_k_rows(bh, j0, p.scale, kr);
  load_v_rows(bh, j0, vr);
  for (var c4 = 0u; c4 < p.d4; c4++) {
    (*gk)[c4] = mat4x4<f32>();
    (*gv)[c4] = mat4x4<f32>();
  }
}
fn load_go_rows(bh: u32, i0: u32, dst: ptr<function, Rows4x4>) {
  let last = p.n - 1u;
  let b0 = row4(p.go, bh, min(i0, last));
  let b1 = row4(p.go, bh, min(i0 + SG, last));
  let b2 = row4(p.go, bh, min(i0 + 2u * SG, last));
  let b3 = row4(p.go, bh, min(i0 + 3u * SG, last));
  for (var c4 = 0u; c4 < p.d4; c4++) { (*dst)[c4] = transpose(mat4x4<f32>(go4[b0 + c4], go4[b1 + c4], go4[b2 + c4], go4[b3 + c4])); }
}

// One streamed row per lane, as vec4s: key and value row jl (forward v4..v6, dQ v3; kb, vb:
// row 0 of the head), query and dO row il (dK/dV v3, one-pass backward v4..v6; qb, gb
// likewise). The loop is bounded by the uniform p.d4, so it stays rolled (see the header).
fn load_kv_row(kb: u32, vb: u32, jl: u32, kk: ptr<function, Row4>, vv: ptr<function, Row4>) {
  for (var c4 = 0u; c4 < p.d4; c4++) {
    (*kk)[c4] = k4[kb + jl * (p.k.w / 4u) + c4];
    (*vv)[c4] = v4[vb + jl * (p.v.w / 4u) + c4];
  }
}
fn load_qg_row(qb: u32, gb: u32, il: u32, qq: ptr<function, Row4>, gg: ptr<function, Row4>) {
  for (var c4 = 0u; c4 < p.d4; c4++) {
    (*qq)[c4] = q4[qb + il * (p.q.w / 4u) + c4];
    (*gg)[c4] = go4[gb + il * (p.go.w / 4u) + c4];
  }
}

// Column r of a transposed block, times f, as vec4s (for the final stores).
fn rows_col(a: ptr<function, Rows4x4>, c4: u32, r: u32) -> vec4<f32> {
  let m = (*a)[c4];
  return vec4<f32>(m[0][r], m[1][r], m[2][r], m[3][r]);
}

// Row L or D value of (bh, i), 0 past the end.
fn lse_at(bh: u32, i: u32) -> f32 { return lse[p.lse_off + bh * p.n + min(i, p.n - 1u)]; }
fn dd_at(bh: u32, i: u32) -> f32 { return dd[p.dd_off + bh * p.n + min(i, p.n - 1u)]; }

// The running max m is raised only when a score exceeds it by more than LAZY, and only then
// is the accumulator rescaled: in between p = exp(s - m) <= e^LAZY, harmless in f32, and
// O = acc / l, L = m + log l are exact for any reference m. Saves a rescale per block.
const LAZY: f32 = 8.0;

@compute @workgroup_size(SG)
fn attention_forward_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let i0 = wid.x * SG * 4u + lane;  // the lane's query rows: i0 + r·SG
  var qt: Rows4x4;   // s · q
  var acc: Rows4x4;  // Σ_j exp(S_rj - m_r) v_j
  load_q_rows(bh, i0, p.scale, &qt);
  for (var c4 = 0u; c4 < p.d4; c4++) { acc[c4] = mat4x4<f32>(); }
  var m = vec4<f32>(-BIG);
  var l = vec4<f32>(0.0);
  let kb = row4(p.k, bh, 0u);
  let vb = row4(p.v, bh, 0u);
  var kk: Row4;  // key j0 + lane
  var vv: Row4;
  for (var j0 = 0u; j0 < p.n; j0 += SG) {
    let jl = min(j0 + lane, last);
    load_kv_row(kb, vb, jl, &kk, &vv);
    for (var t = 0u; t < SG; t += 4u) {
      // Keys past the end score -BIG, so exp gives 0.
      let s0 = select(vec4<f32>(-BIG), rows_dot(t, &qt, &kk), j0 + t < p.n);
      let s1 = select(vec4<f32>(-BIG), rows_dot(t + 1u, &qt, &kk), j0 + t + 1u < p.n);
      let s2 = select(vec4<f32>(-BIG), rows_dot(t + 2u, &qt, &kk), j0 + t + 2u < p.n);
      let s3 = select(vec4<f32>(-BIG), rows_dot(t + 3u, &qt, &kk), j0 + t + 3u < p.n);
      let mb = max(max(s0, s1), max(s2, s3));
      if (any(mb > m + LAZY)) {
        let mn = max(m, mb);
        let corr = exp(m - mn); // 0 on the first block (m = -BIG)
        l *= corr;
        rows_scale(&acc, corr);
        m = mn;
      }
      let p0 = exp(s0 - m);
      let p1 = exp(s1 - m);
      let p2 = exp(s2 - m);
      let p3 = exp(s3 - m);
      l += (p0 + p1) + (p2 + p3);
      rows_axpy4(t, p0, p1, p2, p3, &vv, &acc);
    }
  }
  let inv = 1.0 / l;
  let lse_r = m + log(l);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r * SG;
    if (i < p.n) {
      let ob = row(p.o, bh, i);
      for (var c4 = 0u; c4 < p.d4; c4++) {
        let a = rows_col(&acc, c4, r) * inv[r];
        o[ob + 4u * c4] = a.x;
        o[ob + 4u * c4 + 1u] = a.y;
        o[ob + 4u * c4 + 2u] = a.z;
        o[ob + 4u * c4 + 3u] = a.w;
      }
      lse[p.lse_off + bh * p.n + i] = lse_r[r];
    }
  }
}

// Forward v5: v4 with eight owned query rows per lane (two Rows4x4 blocks, A: i0 + r·SG and
// B: i0 + (4 + r)·SG): each K/V row loaded per block (a loop over the lanes, the costly part on
// lavapipe) now feeds twice the products, and each shuffled key column four more rows.
fn fwd_rows(t: u32, j0: u32, qt: ptr<function, Rows4x4>, acc: ptr<function, Rows4x4>, kk: ptr<function, Row4>, vv: ptr<function, Row4>, m: ptr<function, vec4<f32>>, l: ptr<function, vec4<f32>>) {
  // Keys past the end score -BIG, so exp gives 0.
  let s0 = select(vec4<f32>(-BIG), rows_dot(t, qt, kk), j0 + t < p.n);
  let s1 = select(vec4<f32>(-BIG), rows_dot(t + 1u, qt, kk), j0 + t + 1u < p.n);
  let s2 = select(vec4<f32>(-BIG), rows_dot(t + 2u, qt, kk), j0 + t + 2u < p.n);
  let s3 = select(vec4<f32>(-BIG), rows_dot(t + 3u, qt, kk), j0 + t + 3u < p.n);
  let mb = max(max(s0, s1), max(s2, s3));
  if (any(mb > *m + LAZY)) {
    let mn = max(*m, mb);
    let corr = exp(*m - mn); // 0 on the first block (m = -BIG)
    *l *= corr;
    rows_scale(acc, corr);
    *m = mn;
  }
  let p0 = exp(s0 - *m);
  let p1 = exp(s1 - *m);
  let p2 = exp(s2 - *m);
  let p3 = exp(s3 - *m);
  *l += (p0 + p1) + (p2 + p3);
  rows_axpy4(t, p0, p1, p2, p3, vv, acc);
}

// O and L of the four rows i0 + r·SG held in acc.
fn fwd_store(bh: u32, i0: u32, acc: ptr<function, Rows4x4>, m: vec4<f32>, l: vec4<f32>) {
  let inv = 1.0 / l;
  let lse_r = m + log(l);
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r * SG;
    if (i < p.n) {
      let ob = row(p.o, bh, i);
      for (var c4 = 0u; c4 < p.d4; c4++) {
        let a = rows_col(acc, c4, r) * inv[r];
        o[ob + 4u * c4] = a.x;
        o[ob + 4u * c4 + 1u] = a.y;
        o[ob + 4u * c4 + 2u] = a.z;
        o[ob + 4u * c4 + 3u] = a.w;
      }
      lse[p.lse_off + bh * p.n + i] = lse_r[r];
    }
  }
}

@compute @workgroup_size(SG)
fn attention_forward_v5(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let ia = wid.x * SG * 8u + lane;  // rows ia + r·SG (block A), ib + r·SG (block B)
  let ib = ia + 4u * SG;
  var qa: Rows4x4;   // s · q
  var qb: Rows4x4;
  var aa: Rows4x4;   // Σ_j exp(S_rj - m_r) v_j
  var ab: Rows4x4;
  load_q_rows(bh, ia, p.scale, &qa);
  load_q_rows(bh, ib, p.scale, &qb);
  for (var c4 = 0u; c4 < p.d4; c4++) {
    aa[c4] = mat4x4<f32>();
    ab[c4] = mat4x4<f32>();
  }
  var ma = vec4<f32>(-BIG);
  var mb = vec4<f32>(-BIG);
  var la = vec4<f32>(0.0);
  var lb = vec4<f32>(0.0);
  let kb = row4(p.k, bh, 0u);
  let vb = row4(p.v, bh, 0u);
  var kk: Row4;  // key j0 + lane
  var vv: Row4;
  for (var j0 = 0u; j0 < p.n; j0 += SG) {
    let jl = min(j0 + lane, last);
    load_kv_row(kb, vb, jl, &kk, &vv);
    for (var t = 0u; t < SG; t += 4u) {
      fwd_rows(t, j0, &qa, &aa, &kk, &vv, &ma, &la);
      fwd_rows(t, j0, &qb, &ab, &kk, &vv, &mb, &lb);
    }
  }
  fwd_store(bh, ia, &aa, ma, la);
  fwd_store(bh, ib, &ab, mb, lb);
}

// Forward v6: v5 with sixteen owned query rows per lane (four blocks A..D: i0 + (4 b + r)·SG),
// so each K/V row loaded (the per-lane load loops) and each shuffled key column feed twice
// v5's products. A block that lies wholly past N is skipped by a uniform branch (at N = 785
// the last workgroup's rows 800..895: without the skip, 14% of the rows would be tail copies).
// Paired A/B on lavapipe (scripts/attention-ab.ts fwd 5 6, B·H 48): N = 785 1.13x, N = 145
// 1.16x; 32 rows per lane (eight blocks) gained nothing more (1.01x).
@compute @workgroup_size(SG)
fn attention_forward_v6(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let i0 = wid.x * SG * 16u;  // block b owns rows i0 + lane + (4 b + r)·SG, r = 0..3
  let live_b = i0 + 4u * SG < p.n;
  let live_c = i0 + 8u * SG < p.n;
  let live_d = i0 + 12u * SG < p.n;
  var qa: Rows4x4;   // s · q
  var qb: Rows4x4;
  var qc: Rows4x4;
  var qd: Rows4x4;
  var aa: Rows4x4;   // Σ_j exp(S_rj - m_r) v_j
  var ab: Rows4x4;
  var ac: Rows4x4;
  var ad: Rows4x4;
  load_q_rows(bh, i0 + lane, p.scale, &qa);
  load_q_rows(bh, i0 + lane + 4u * SG, p.scale, &qb);
  load_q_rows(bh, i0 + lane + 8u * SG, p.scale, &qc);
  load_q_rows(bh, i0 + lane + 12u * SG, p.scale, &qd);
  for (var c4 = 0u; c4 < p.d4; c4++) {
    aa[c4] = mat4x4<f32>();
    ab[c4] = mat4x4<f32>();
    ac[c4] = mat4x4<f32>();
    ad[c4] = mat4x4<f32>();
  }
  var ma = vec4<f32>(-BIG);
  var mb = vec4<f32>(-BIG);
  var mc = vec4<f32>(-BIG);
  var md = vec4<f32>(-BIG);
  var la = vec4<f32>(0.0);
  var lb = vec4<f32>(0.0);
  var lc = vec4<f32>(0.0);
  var ld = vec4<f32>(0.0);
  let kb = row4(p.k, bh, 0u);
  let vb = row4(p.v, bh, 0u);
  var kk: Row4;  // key j0 + lane
  var vv: Row4;
  for (var j0 = 0u; j0 < p.n; j0 += SG) {
    let jl = min(j0 + lane, last);
    load_kv_row(kb, vb, jl, &kk, &vv);
    for (var t = 0u; t < SG; t += 4u) {
      fwd_rows(t, j0, &qa, &aa, &kk, &vv, &ma, &la);
      if (live_b) { fwd_rows(t, j0, &qb, &ab, &kk, &vv, &mb, &lb); }
      if (live_c) { fwd_rows(t, j0, &qc, &ac, &kk, &vv, &mc, &lc); }
      if (live_d) { fwd_rows(t, j0, &qd, &ad, &kk, &vv, &md, &ld); }
    }
  }
  fwd_store(bh, i0 + lane, &aa, ma, la);
  fwd_store(bh, i0 + lane + 4u * SG, &ab, mb, lb);
  fwd_store(bh, i0 + lane + 8u * SG, &ac, mc, lc);
  fwd_store(bh, i0 + lane + 12u * SG, &ad, md, ld);
}

// dK/dV: the lane owns key rows j0 + r·SG; blocks of SG queries stream through (lane t loads
// q, dO, L and D of query i0 + t).
@compute @workgroup_size(SG)
fn attention_bwd_dkdv_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let j0 = wid.x * SG * 4u + lane;
  var kt: Rows4x4;  // s · k
  var vt: Rows4x4;
  var gk: Rows4x4;  // Σ_i dS_ij q_i
  var gv: Rows4x4;  // Σ_i P_ij dO_i
  start_key_block(bh, j0, &kt, &vt, &gk, &gv);
  let qb = row4(p.q, bh, 0u);
  let gb = row4(p.go, bh, 0u);
  var qq: Row4;  // query i0 + lane
  var gg: Row4;
  for (var i0 = 0u; i0 < p.n; i0 += SG) {
    let il = min(i0 + lane, last);
    load_qg_row(qb, gb, il, &qq, &gg);
    // Queries past the end get L = +BIG: P = exp(S - L) = 0.
    let li = select(BIG, lse_at(bh, il), i0 + lane < p.n);
    let di = dd_at(bh, il);
    for (var t = 0u; t < SG; t += 4u) {
      let p0 = exp(rows_dot(t, &kt, &qq) - subgroupShuffle(li, t));
      let p1 = exp(rows_dot(t + 1u, &kt, &qq) - subgroupShuffle(li, t + 1u));
      let p2 = exp(rows_dot(t + 2u, &kt, &qq) - subgroupShuffle(li, t + 2u));
      let p3 = exp(rows_dot(t + 3u, &kt, &qq) - subgroupShuffle(li, t + 3u));
      let d0 = p0 * (rows_dot(t, &vt, &gg) - subgroupShuffle(di, t));
      let d1 = p1 * (rows_dot(t + 1u, &vt, &gg) - subgroupShuffle(di, t + 1u));
      let d2 = p2 * (rows_dot(t + 2u, &vt, &gg) - subgroupShuffle(di, t + 2u));
      let d3 = p3 * (rows_dot(t + 3u, &vt, &gg) - subgroupShuffle(di, t + 3u));
      rows_axpy4(t, p0, p1, p2, p3, &gg, &gv);
      rows_axpy4(t, d0, d1, d2, d3, &qq, &gk);
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let j = j0 + r * SG;
    if (j < p.n) {
      let ok = row(p.gk, bh, j);
      let ov = row(p.gv, bh, j);
      for (var c4 = 0u; c4 < p.d4; c4++) {
        let a = rows_col(&gk, c4, r) * p.scale;
        let b = rows_col(&gv, c4, r);
        store_dkdv(ok, ov, 4u * c4, a.x, b.x);
        store_dkdv(ok, ov, 4u * c4 + 1u, a.y, b.y);
        store_dkdv(ok, ov, 4u * c4 + 2u, a.z, b.z);
        store_dkdv(ok, ov, 4u * c4 + 3u, a.w, b.w);
      }
    }
  }
}

// dQ: the lane owns query rows i0 + r·SG; blocks of SG keys stream through.
@compute @workgroup_size(SG)
fn attention_bwd_dq_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let i0 = wid.x * SG * 4u + lane;
  var qt: Rows4x4;  // s · q
  var gt: Rows4x4;  // dO
  var acc: Rows4x4; // Σ_j dS_ij k_j
  load_q_rows(bh, i0, p.scale, &qt);
  load_go_rows(bh, i0, &gt);
  for (var c4 = 0u; c4 < p.d4; c4++) { acc[c4] = mat4x4<f32>(); }
  let li = vec4<f32>(lse_at(bh, i0), lse_at(bh, i0 + SG), lse_at(bh, i0 + 2u * SG), lse_at(bh, i0 + 3u * SG));
  let di = vec4<f32>(dd_at(bh, i0), dd_at(bh, i0 + SG), dd_at(bh, i0 + 2u * SG), dd_at(bh, i0 + 3u * SG));
  let kb = row4(p.k, bh, 0u);
  let vb = row4(p.v, bh, 0u);
  var kk: Row4;
  var vv: Row4;
  for (var j0 = 0u; j0 < p.n; j0 += SG) {
    let jl = min(j0 + lane, last);
    load_kv_row(kb, vb, jl, &kk, &vv);
    for (var t = 0u; t < SG; t += 4u) {
      // Keys past the end: dS = 0.
      let d0 = select(vec4<f32>(0.0), exp(rows_dot(t, &qt, &kk) - li) * (rows_dot(t, &gt, &vv) - di), j0 + t < p.n);
      let d1 = select(vec4<f32>(0.0), exp(rows_dot(t + 1u, &qt, &kk) - li) * (rows_dot(t + 1u, &gt, &vv) - di), j0 + t + 1u < p.n);
      let d2 = select(vec4<f32>(0.0), exp(rows_dot(t + 2u, &qt, &kk) - li) * (rows_dot(t + 2u, &gt, &vv) - di), j0 + t + 2u < p.n);
      let d3 = select(vec4<f32>(0.0), exp(rows_dot(t + 3u, &qt, &kk) - li) * (rows_dot(t + 3u, &gt, &vv) - di), j0 + t + 3u < p.n);
      rows_axpy4(t, d0, d1, d2, d3, &kk, &acc);
    }
  }
  for (var r = 0u; r < 4u; r++) {
    let i = i0 + r * SG;
    if (i < p.n) {
      let ob = row(p.gq, bh, i);
      for (var c4 = 0u; c4 < p.d4; c4++) {
        let a = rows_col(&acc, c4, r) * p.scale;
        gq[ob + 4u * c4] = a.x;
        gq[ob + 4u * c4 + 1u] = a.y;
        gq[ob + 4u * c4 + 2u] = a.z;
        gq[ob + 4u * c4 + 3u] = a.w;
      }
    }
  }
}

// ---- one-pass backward (v4) ----
// The dK/dV pass already holds dS of each (query block, key block) tile; v4 also turns it into
// the dQ contribution dS·K of that tile, so S, P and dP are computed once: 5 products instead
// of v3's 7 (two passes). Each workgroup takes every ks-th key block of its head (outer) and
// walks every query block (inner); it adds each tile's dQ rows into its own slice of a dense
// accumulator dqs (B, H, ks·N8, Dh), in a fixed order and each element always by the same lane:
// deterministic, no atomics, and ks partial slices rather than N / 32.
// attention_bwd_dq_copy then sums the slices into the dQ view (its own dispatch: in the packed
// layout dQ shares a buffer with dK and dV, and WebGPU forbids overlapping writable bindings).
// Parallelism is ks·B·H workgroups (lavapipe has one thread per core). Needs SG = 8 (the
// reduction below is three xor steps) and Dh % 8 == 0.
@group(0) @binding(16) var<storage, read_write> dqs: array<vec4<f32>>;

// Lane's share of dQ for queries t..t+3, reduce-scattered over the 8 lanes and added to dqs.
// Lane u holds d_q = dS(its keys r, query t + q) (vec4 over r) and kt (s·k, transposed), so its
// share of dQ_{t+q} is d_q · kt[c4] (a vec4 over 4 columns). Three xor steps sum the 8 lanes'
// shares while halving what each keeps: xor 4 splits the columns (lane bit 2: column blocks
// 0..7 or 8..15), xor 2 and xor 1 the queries (bits 1, 0); lane L ends with query t + (L & 3),
// column blocks (Dh / 8)(L >> 2) + c (so Dh % 8 == 0). One column block at a time (dq_at), in
// registers (no private arrays: a dynamically indexed one costs a loop over the lanes). Always
// the same lane per element, so the read-modify-write needs no barrier. dqs is laid out for these lanes, not as rows:
// per head, query group g of 4, column block c: 8 vec4s, one per lane (dqs_tile), so the 8
// lanes touch 128 contiguous bytes (measured cheaper than 8 scattered rows on lavapipe). Its
// rows are rounded up to a multiple of 8: tail queries (dS = 0) write zeros there, unmasked.
// First vec4 of query group it / 4 of head bh, key split `split`, in dqs; lane L's column
// block c at + 8 c + L.
fn dqs_tile(bh: u32, split: u32, it: u32) -> u32 {
  let n8 = (p.n + 7u) / 8u * 8u;  // rows per slice
  return row4(p.dqs, bh, split * n8) + (it / 4u) * DH;
}

// Column block c of dq_tile (hi, s1, s0: the lane's bits 2, 1, 0).
fn dq_at(c: u32, base: u32, first: bool, hi: bool, s1: bool, s0: bool, kt: ptr<function, Rows4x4>, d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) {
  let klo = (*kt)[c];
  let khi = (*kt)[c + DH / 8u];
  // xor 4: keep this lane's column half of each query, add the partner's.
  let a0 = select(d0 * klo, d0 * khi, hi) + subgroupShuffleXor(select(d0 * khi, d0 * klo, hi), 4u);
  let a1 = select(d1 * klo, d1 * khi, hi) + subgroupShuffleXor(select(d1 * khi, d1 * klo, hi), 4u);
  let a2 = select(d2 * klo, d2 * khi, hi) + subgroupShuffleXor(select(d2 * khi, d2 * klo, hi), 4u);
  let a3 = select(d3 * klo, d3 * khi, hi) + subgroupShuffleXor(select(d3 * khi, d3 * klo, hi), 4u);
  // xor 2: queries 0, 1 or 2, 3.
  let b0 = select(a0, a2, s1) + subgroupShuffleXor(select(a2, a0, s1), 2u);
  let b1 = select(a1, a3, s1) + subgroupShuffleXor(select(a3, a1, s1), 2u);
  // xor 1: the lane's query.
  let r = select(b0, b1, s0) + subgroupShuffleXor(select(b1, b0, s0), 1u);
  let old = dqs[base + 8u * c];
  dqs[base + 8u * c] = select(old, vec4<f32>(0.0), first) + r; // select: stale data never enters the sum
}

fn dq_tile(bh: u32, split: u32, it: u32, lane: u32, first: bool, kt: ptr<function, Rows4x4>, d0: vec4<f32>, d1: vec4<f32>, d2: vec4<f32>, d3: vec4<f32>) {
  let hi = (lane & 4u) != 0u;
  let s1 = (lane & 2u) != 0u;
  let s0 = (lane & 1u) != 0u;
  let base = dqs_tile(bh, split, it) + lane;
  dq_at(0u, base, first, hi, s1, s0, kt, d0, d1, d2, d3);
  if (DH > 8u) { dq_at(1u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 16u) { dq_at(2u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 24u) { dq_at(3u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 32u) { dq_at(4u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 40u) { dq_at(5u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 48u) { dq_at(6u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
  if (DH > 56u) { dq_at(7u, base, first, hi, s1, s0, kt, d0, d1, d2, d3); }
}

@compute @workgroup_size(SG)
fn attention_bwd_v4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let qb = row4(p.q, bh, 0u);
  let gb = row4(p.go, bh, 0u);
  var kt: Rows4x4;  // s · k
  var vt: Rows4x4;
  var gk: Rows4x4;  // Σ_i dS_ij q_i
  var gv: Rows4x4;  // Σ_i P_ij dO_i
  var qq: Row4;     // query i0 + lane
  var gg: Row4;
  // Key split wid.x takes key blocks wid.x, wid.x + ks, ... (the launcher keeps ks <= blocks).
  for (var jb = wid.x * 4u * SG; jb < p.n; jb += 4u * SG * p.ks) {
    let j0 = jb + lane;
    start_key_block(bh, j0, &kt, &vt, &gk, &gv);
    // Keys past the end (clamped copies of key N - 1) must not feed dQ.
    let kl = key_live(j0);
    let first = jb == wid.x * 4u * SG;
    for (var i0 = 0u; i0 < p.n; i0 += SG) {
      let il = min(i0 + lane, last);
      load_qg_row(qb, gb, il, &qq, &gg);
      // Queries past the end get L = +BIG: P = exp(S - L) = 0.
      let li = select(BIG, lse_at(bh, il), i0 + lane < p.n);
      let di = dd_at(bh, il);
      for (var t = 0u; t < SG; t += 4u) {
        let d = bwd_rows(t, &kt, &vt, &gk, &gv, &qq, &gg, li, di, kl);
        dq_tile(bh, wid.x, i0 + t, lane, first, &kt, d[0], d[1], d[2], d[3]);
      }
    }
    store_kv_rows(bh, j0, &gk, &gv);
  }
}

// Backward v5: v4 with eight owned key rows per lane (two blocks of four, A: j0 + r·SG and
// B: j0 + (4 + r)·SG), so each query block's loads (q, dO: loops over the lanes) and its dQ
// reduction and read-modify-write serve twice the keys.

// P and dS of the lane's four keys (kt = s·k, vt) against queries t..t+3 (qq, gg: lane t's q,
// dO; li, di: its L, D), accumulated into gv += P^T dO and gk += dS^T q; returns dS with keys
// past the end (kl false) zeroed, as columns per query, for dQ. One block of v4, each of v5's two.
fn bwd_rows(t: u32, kt: ptr<function, Rows4x4>, vt: ptr<function, Rows4x4>, gk: ptr<function, Rows4x4>, gv: ptr<function, Rows4x4>, qq: ptr<function, Row4>, gg: ptr<function, Row4>, li: f32, di: f32, kl: vec4<bool>) -> mat4x4<f32> {
  let p0 = exp(rows_dot(t, kt, qq) - subgroupShuffle(li, t));
  let p1 = exp(rows_dot(t + 1u, kt, qq) - subgroupShuffle(li, t + 1u));
  let p2 = exp(rows_dot(t + 2u, kt, qq) - subgroupShuffle(li, t + 2u));
  let p3 = exp(rows_dot(t + 3u, kt, qq) - subgroupShuffle(li, t + 3u));
  let d0 = select(vec4<f32>(0.0), p0 * (rows_dot(t, vt, gg) - subgroupShuffle(di, t)), kl);
  let d1 = select(vec4<f32>(0.0), p1 * (rows_dot(t + 1u, vt, gg) - subgroupShuffle(di, t + 1u)), kl);
  let d2 = select(vec4<f32>(0.0), p2 * (rows_dot(t + 2u, vt, gg) - subgroupShuffle(di, t + 2u)), kl);
  let d3 = select(vec4<f32>(0.0), p3 * (rows_dot(t + 3u, vt, gg) - subgroupShuffle(di, t + 3u)), kl);
  rows_axpy4(t, p0, p1, p2, p3, gg, gv);
  rows_axpy4(t, d0, d1, d2, d3, qq, gk);
  return mat4x4<f32>(d0, d1, d2, d3);
}

// dq_at for two key blocks: the lane's share is da_q · ka[c] + db_q · kb[c], reduced once.
fn dq_at2(c: u32, base: u32, first: bool, hi: bool, s1: bool, s0: bool, ka: ptr<function, Rows4x4>, kb: ptr<function, Rows4x4>, da: mat4x4<f32>, db: mat4x4<f32>) {
  let alo = (*ka)[c];
  let ahi = (*ka)[c + DH / 8u];
  let blo = (*kb)[c];
  let bhi = (*kb)[c + DH / 8u];
  var a: array<vec4<f32>, 4>;  // constant indices only (unrolled)
  for (var u = 0u; u < 4u; u++) {
    let lo = da[u] * alo + db[u] * blo;
    let up = da[u] * ahi + db[u] * bhi;
    a[u] = select(lo, up, hi) + subgroupShuffleXor(select(up, lo, hi), 4u);
  }
  let b0 = select(a[0], a[2], s1) + subgroupShuffleXor(select(a[2], a[0], s1), 2u);
  let b1 = select(a[1], a[3], s1) + subgroupShuffleXor(select(a[3], a[1], s1), 2u);
  let r = select(b0, b1, s0) + subgroupShuffleXor(select(b1, b0, s0), 1u);
  let old = dqs[base + 8u * c];
  dqs[base + 8u * c] = select(old, vec4<f32>(0.0), first) + r;
}

fn dq_tile2(bh: u32, split: u32, it: u32, lane: u32, first: bool, ka: ptr<function, Rows4x4>, kb: ptr<function, Rows4x4>, da: mat4x4<f32>, db: mat4x4<f32>) {
  let hi = (lane & 4u) != 0u;
  let s1 = (lane & 2u) != 0u;
  let s0 = (lane & 1u) != 0u;
  let base = dqs_tile(bh, split, it) + lane;
  dq_at2(0u, base, first, hi, s1, s0, ka, kb, da, db);
  if (DH > 8u) { dq_at2(1u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 16u) { dq_at2(2u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 24u) { dq_at2(3u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 32u) { dq_at2(4u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 40u) { dq_at2(5u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 48u) { dq_at2(6u, base, first, hi, s1, s0, ka, kb, da, db); }
  if (DH > 56u) { dq_at2(7u, base, first, hi, s1, s0, ka, kb, da, db); }
}

// dK, dV of the lane's four keys j0 + r·SG.
fn store_kv_rows(bh: u32, j0: u32, gk: ptr<function, Rows4x4>, gv: ptr<function, Rows4x4>) {
  for (var r = 0u; r < 4u; r++) {
    let j = j0 + r * SG;
    if (j < p.n) {
      let ok = row(p.gk, bh, j);
      let ov = row(p.gv, bh, j);
      for (var c4 = 0u; c4 < p.d4; c4++) {
        let a = rows_col(gk, c4, r) * p.scale;
        let b = rows_col(gv, c4, r);
        store_dkdv(ok, ov, 4u * c4, a.x, b.x);
        store_dkdv(ok, ov, 4u * c4 + 1u, a.y, b.y);
        store_dkdv(ok, ov, 4u * c4 + 2u, a.z, b.z);
        store_dkdv(ok, ov, 4u * c4 + 3u, a.w, b.w);
      }
    }
  }
}

fn key_live(j0: u32) -> vec4<bool> { return vec4<bool>(j0 < p.n, j0 + SG < p.n, j0 + 2u * SG < p.n, j0 + 3u * SG < p.n); }

@compute @workgroup_size(SG)
fn attention_bwd_v5(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let qb = row4(p.q, bh, 0u);
  let gb = row4(p.go, bh, 0u);
  var ka: Rows4x4;  // s · k, block A
  var va: Rows4x4;
  var gka: Rows4x4; // Σ_i dS_ij q_i
  var gva: Rows4x4; // Σ_i P_ij dO_i
  var kb: Rows4x4;  // block B
  var vb: Rows4x4;
  var gkb: Rows4x4;
  var gvb: Rows4x4;
  var qq: Row4;     // query i0 + lane
  var gg: Row4;
  for (var jb = wid.x * 8u * SG; jb < p.n; jb += 8u * SG * p.ks) {
    let ja = jb + lane;
    let jbb = ja + 4u * SG;
    start_key_block(bh, ja, &ka, &va, &gka, &gva);
    start_key_block(bh, jbb, &kb, &vb, &gkb, &gvb);
    let kla = key_live(ja);
    let klb = key_live(jbb);
    let first = jb == wid.x * 8u * SG;
    // Uniform: does block B hold a key before N? Not in the last pass when N mod 64 <= 32
    // (N = 785: keys 800..831; N = 145: 160..191), whose half the skip saves (measured:
    // backward 1.05x at N = 785, 1.13x at N = 145, B·H 48; bench/README.md).
    let live_b = jb + 4u * SG < p.n;
    for (var i0 = 0u; i0 < p.n; i0 += SG) {
      let il = min(i0 + lane, last);
      load_qg_row(qb, gb, il, &qq, &gg);
      // Queries past the end get L = +BIG: P = exp(S - L) = 0.
      let li = select(BIG, lse_at(bh, il), i0 + lane < p.n);
      let di = dd_at(bh, il);
      for (var t = 0u; t < SG; t += 4u) {
        let da = bwd_rows(t, &ka, &va, &gka, &gva, &qq, &gg, li, di, kla);
        var db = mat4x4<f32>();  // block B past the end: dS = 0 (skipped)
        if (live_b) { db = bwd_rows(t, &kb, &vb, &gkb, &gvb, &qq, &gg, li, di, klb); }
        dq_tile2(bh, wid.x, i0 + t, lane, first, &ka, &kb, da, db);
      }
    }
    store_kv_rows(bh, ja, &gka, &gva);
    store_kv_rows(bh, jbb, &gkb, &gvb);
  }
}

// Backward v6: v5 with sixteen owned key rows per lane (four blocks A..D: j0 + (4 b + r)·SG),
// 128 keys per pass: each query block's loads (q, dO, L, D) and its dQ reduction and
// read-modify-write serve twice v5's keys. Blocks wholly past N are skipped (uniform branch),
// so at N = 785 the last pass works on keys 768..799 only. Paired A/B on lavapipe
// (scripts/attention-ab.ts bwd 5 6, B·H 48): N = 785 1.05x (CPU 710 -> 685 ms); twelve keys
// per lane (three blocks) measured the same as sixteen; N = 145 ties with v5.

// dq_at2 for four key blocks (dd_: block D's dS; `dd` names the D buffer).
fn dq_at4(c: u32, base: u32, first: bool, hi: bool, s1: bool, s0: bool, ka: ptr<function, Rows4x4>, kb: ptr<function, Rows4x4>, kc: ptr<function, Rows4x4>, kd: ptr<function, Rows4x4>, da: mat4x4<f32>, db: mat4x4<f32>, dc: mat4x4<f32>, dd_: mat4x4<f32>) {
  let alo = (*ka)[c];
  let ahi = (*ka)[c + DH / 8u];
  let blo = (*kb)[c];
  let bhi = (*kb)[c + DH / 8u];
  let clo = (*kc)[c];
  let chi = (*kc)[c + DH / 8u];
  let dlo = (*kd)[c];
  let dhi = (*kd)[c + DH / 8u];
  var a: array<vec4<f32>, 4>;
  for (var u = 0u; u < 4u; u++) {
    let lo = (da[u] * alo + db[u] * blo) + (dc[u] * clo + dd_[u] * dlo);
    let up = (da[u] * ahi + db[u] * bhi) + (dc[u] * chi + dd_[u] * dhi);
    a[u] = select(lo, up, hi) + subgroupShuffleXor(select(up, lo, hi), 4u);
  }
  let b0 = select(a[0], a[2], s1) + subgroupShuffleXor(select(a[2], a[0], s1), 2u);
  let b1 = select(a[1], a[3], s1) + subgroupShuffleXor(select(a[3], a[1], s1), 2u);
  let r = select(b0, b1, s0) + subgroupShuffleXor(select(b1, b0, s0), 1u);
  let old = dqs[base + 8u * c];
  dqs[base + 8u * c] = select(old, vec4<f32>(0.0), first) + r;
}

fn dq_tile4(bh: u32, split: u32, it: u32, lane: u32, first: bool, ka: ptr<function, Rows4x4>, kb: ptr<function, Rows4x4>, kc: ptr<function, Rows4x4>, kd: ptr<function, Rows4x4>, da: mat4x4<f32>, db: mat4x4<f32>, dc: mat4x4<f32>, dd_: mat4x4<f32>) {
  let hi = (lane & 4u) != 0u;
  let s1 = (lane & 2u) != 0u;
  let s0 = (lane & 1u) != 0u;
  let base = dqs_tile(bh, split, it) + lane;
  dq_at4(0u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_);
  if (DH > 8u) { dq_at4(1u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 16u) { dq_at4(2u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 24u) { dq_at4(3u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 32u) { dq_at4(4u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 40u) { dq_at4(5u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 48u) { dq_at4(6u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
  if (DH > 56u) { dq_at4(7u, base, first, hi, s1, s0, ka, kb, kc, kd, da, db, dc, dd_); }
}

@compute @workgroup_size(SG)
fn attention_bwd_v6(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let bh = wid.y;
  let last = p.n - 1u;
  let qb = row4(p.q, bh, 0u);
  let gb = row4(p.go, bh, 0u);
  var ka: Rows4x4;  // s · k, block A
  var va: Rows4x4;
  var gka: Rows4x4; // Σ_i dS_ij q_i
  var gva: Rows4x4; // Σ_i P_ij dO_i
  var kb: Rows4x4;
  var vb: Rows4x4;
  var gkb: Rows4x4;
  var gvb: Rows4x4;
  var kc: Rows4x4;
  var vc: Rows4x4;
  var gkc: Rows4x4;
  var gvc: Rows4x4;
  var kd: Rows4x4;
  var vd: Rows4x4;
  var gkd: Rows4x4;
  var gvd: Rows4x4;
  var qq: Row4;     // query i0 + lane
  var gg: Row4;
  for (var jb = wid.x * 16u * SG; jb < p.n; jb += 16u * SG * p.ks) {
    let ja = jb + lane;
    let jbb = ja + 4u * SG;
    let jc = ja + 8u * SG;
    let jd = ja + 12u * SG;
    start_key_block(bh, ja, &ka, &va, &gka, &gva);
    start_key_block(bh, jbb, &kb, &vb, &gkb, &gvb);
    start_key_block(bh, jc, &kc, &vc, &gkc, &gvc);
    start_key_block(bh, jd, &kd, &vd, &gkd, &gvd);
    let kla = key_live(ja);
    let klb = key_live(jbb);
    let klc = key_live(jc);
    let kld = key_live(jd);
    let first = jb == wid.x * 16u * SG;
    // Uniform: does block b hold a key before N? (Blocks past it: dS = 0, skipped.)
    let live_b = jb + 4u * SG < p.n;
    let live_c = jb + 8u * SG < p.n;
    let live_d = jb + 12u * SG < p.n;
    for (var i0 = 0u; i0 < p.n; i0 += SG) {
      let il = min(i0 + lane, last);
      load_qg_row(qb, gb, il, &qq, &gg);
      // Queries past the end get L = +BIG: P = exp(S - L) = 0.
      let li = select(BIG, lse_at(bh, il), i0 + lane < p.n);
      let di = dd_at(bh, il);
      for (var t = 0u; t < SG; t += 4u) {
        let da = bwd_rows(t, &ka, &va, &gka, &gva, &qq, &gg, li, di, kla);
        var db = mat4x4<f32>();
        var dc = mat4x4<f32>();
        var dd_ = mat4x4<f32>();
        if (live_b) { db = bwd_rows(t, &kb, &vb, &gkb, &gvb, &qq, &gg, li, di, klb); }
        if (live_c) { dc = bwd_rows(t, &kc, &vc, &gkc, &gvc, &qq, &gg, li, di, klc); }
        if (live_d) { dd_ = bwd_rows(t, &kd, &vd, &gkd, &gvd, &qq, &gg, li, di, kld); }
        dq_tile4(bh, wid.x, i0 + t, lane, first, &ka, &kb, &kc, &kd, da, db, dc, dd_);
      }
    }
    store_kv_rows(bh, ja, &gka, &gva);
    store_kv_rows(bh, jbb, &gkb, &gvb);
    store_kv_rows(bh, jc, &gkc, &gvc);
    store_kv_rows(bh, jd, &gkd, &gvd);
  }
}

// dQ view <- Σ over the key splits of dqs, one invocation per row.
@compute @workgroup_size(WG)
fn attention_bwd_dq_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  let dst = row(p.gq, bh, i);
  for (var c4 = 0u; c4 < p.d4; c4++) {
    let half = c4 / (DH / 8u);
    let at = 8u * (c4 - half * (DH / 8u)) + 4u * half + (i & 3u);
    var x = dqs[dqs_tile(bh, 0u, i) + at];
    for (var sp = 1u; sp < p.ks; sp++) { x += dqs[dqs_tile(bh, sp, i) + at]; } // fixed order
    gq[dst + 4u * c4] = x.x;
    gq[dst + 4u * c4 + 1u] = x.y;
    gq[dst + 4u * c4 + 2u] = x.z;
    gq[dst + 4u * c4 + 3u] = x.w;
  }
}
