// attention: fused multi-head attention, forward and backward (flash-style, non-causal).
// The subgroup versions (forward v4..v6; backward v3..v6) are in attention-subgroup.wgsl, which
// is compiled after this file where the device has subgroups of 4 or 8 (src/kernels/attention.ts);
// the tiled versions for GPUs (forward v7, backward v7) in attention-tiled.wgsl, compiled after
// this file everywhere.
//
// Math, per (batch b, head h), s the scale (Dh^-0.5 in ViT):
//   S = s Q K^T,  P = softmax_rows(S),  O = P V,  L_i = log Σ_j exp(S_ij)  (row logsumexp)
//   Forward: per query row a running max m and sum l (online softmax); a block of keys
//   rescales the accumulator by exp(m_old - m_new) once, so the N×N matrix is never stored:
//   only O and L (N floats per head) are written.
//   Backward, recomputing P_ij = exp(S_ij - L_i) from the saved L:
//     D_i = Σ_c dO_ic O_ic  (= Σ_j P_ij dP_ij),  dP = dO V^T,  dS_ij = P_ij (dP_ij - D_i)
//     dV = P^T dO,  dK = s dS^T Q,  dQ = s dS K
//   v1..v3: dK and dV come from one pass over the queries per key row, dQ from one pass over
//   the keys per query row: no atomics, no N×N buffer, deterministic (each output element is
//   summed by one invocation in a fixed order). The price is recomputing S and dP in both
//   passes (7 products). v4..v6: one pass; the dK/dV pass also turns its dS tiles into dQ
//   contributions, summed per head in a fixed order into a dense accumulator (5 products).
// Shapes: Q, K, V, O, dO, dQ, dK, dV are (B, H, N, Dh) *views*: element (b, h, i, c) at
//   off + b·sb + h·sh + i·sn + c, (off, sb, sh, sn) a vec4 uniform per operand. So the same
//   kernels read the packed ViT qkv (B, N, 3·H·Dh) (sn = 3·H·Dh, sh = Dh, offsets 0, H·Dh,
//   2·H·Dh) and write O (B, N, H·Dh) and dQKV (B, N, 3·H·Dh) in place: no permute copies.
//   L, D: (B, H, N) dense. Grid (⌈N / rows per workgroup⌉, B·H): wid.y = b·H + h.
// Threads: v1/v2/v3 and bwd v1/v2: one invocation per owned row (a query for the forward and
//   dQ, a key for dK/dV), its rows in private arrays, the streamed rows read from global (or,
//   v3, workgroup) memory at addresses shared by the workgroup. Forward v4 and bwd v3, v4: one
//   subgroup per workgroup, four owned rows per lane, streamed rows loaded once per subgroup
//   and spread by subgroupShuffle (see the subgroup section for why); forward v5 and bwd v5:
//   eight owned rows per lane; v6: sixteen. Bwd v4..v6: grid (ks, B·H), key split wid.x walking every
//   ks-th key block (ks = p.ks: 2 at one image, 1 from two). Tail rows are clamped to N - 1 and masked, never skipped: 0 · NaN from a
//   poisoned row would still be NaN. v7: 64 invocations share 32-row tiles in workgroup memory
//   and each computes a register block of 4×4 (or 4×2) scores and 4×8 outputs; tail rows load
//   as zeros there (finite) and are masked (see attention-tiled.wgsl).
// Traffic and work per (b, h): Q, K, V read, O written once (4·N·Dh floats), K and V re-read
//   once per row block (from cache); forward 4·N²·Dh FLOPs and N² exps; backward v1..v3
//   14·N²·Dh FLOPs (7 products: S and dP twice) and 2·N² exps, v4..v6 10·N²·Dh and N² exps plus
//   the dQ accumulator read and written once per key pass (N / 32, N / 64 or N / 128 passes of N·Dh
//   floats, from cache). FLOP per byte ~ N / 4: compute bound.
//
// Measured by bench/attention.ts at N = 785, B·H = 6, Dh = 64 (one 224 px image), same run per
// adapter. lavapipe = llvmpipe (Mesa 25.0.7, LLVM 15), 2 cores shared with other jobs: wall ms
// (median) / CPU ms of the driver's threads per launch (steadier under load) / GFLOPS on wall
// time. H200 = NVIDIA H200 through Dawn's Vulkan backend, wall ms. GFLOPS count the products
// a row executes: forward 4·N²·Dh per head, dK/dV pass 8, dQ pass 6, one-pass backward 10
// (each with the D kernel, v4..v6 with the dQ copy). lavapipe columns: `bench attention --save`
// at f58e254-dirty (bench/results, load average 2.5 before, 4.9 after: the wall times are
// inflated, e.g. forward v5 33 ms in quieter runs the same hour), after the subgroup helpers
// were unrolled by hand (the previous table, d077734-dirty, had forward v4 63.5 / 74, dkdv v3
// 88.8 / 115, dq v3 69.6 / 68; the one-pass backward with the rolled helpers measured 147-163
// CPU ms in the same session's runs); H200 column: d077734-dirty.
// Same run, unfused composition (our matmul + softmax, N×N scores stored): forward lavapipe
// 128 / 95.6 ms, forward + backward 205 / 264 ms (H200 0.54 and 1.67 ms). Planned fused
// forward + backward, lavapipe (v5, v5): 197 / 143 ms = 1.04x wall, 1.85x CPU; four more runs
// that hour: 1.49-2.35x wall, 1.83-2.04x CPU (idle box, earlier: unfused 214 ms wall). The
// plan before, (v4, v3), measured 1.52x wall at d077734-dirty. H200 (v3, v1): 2.71 ms = 0.62x
// (its unfused matmuls win there; a tiled GPU backward is missing). The plan since 8f5f20f,
// (v6, v6), and its paired ratios against unfused: note (2) under the table.
// Tried (timing-only variants of forward v4/v5, CPU ms): hot-loop row loads unrolled (slower:
// 79-88 vs 57), a rank-8 accumulator update (60-63 vs 58-60), scores of four keys per pass over
// the owned rows (no change), scalar lane-contiguous K/V loads (no change); vec4 lane-contiguous
// loads gave 47 vs 57-61 in one pair of runs (single runs: this box's speed drifts ~40% between
// processes). Redone as paired A/B runs in one process (bench/README.md, "What limits fused
// attention"): lane-contiguous addresses 1.05x (noise), four keys per pass 0.96x, dot() 1.00x,
// shared shuffles 0.99x; no relayout pass then. What costs: forward loads ~19%, the two
// products ~60% (each fma is a mul + add on lavapipe), exp and control the rest.
// | version                | idea                                                  | lavapipe ms / cpu / GFLOPS | H200 ms | commit        |
// |------------------------|-------------------------------------------------------|----------------------------|---------|---------------|
// | attention_forward_v1   | query per invocation, key by key online softmax       | 499 / 763 / 1.9            | 1.19    | f58e254-dirty |
// | attention_forward_v2   | v1 + blocks of KB keys in registers, 1 rescale each   | 286 / 370 / 3.3            | 1.19    | f58e254-dirty |
// | attention_forward_v3   | v2 + K/V tiles of TK keys in workgroup memory (GPUs)  | 1018 / 606 / 0.9           | 0.83    | f58e254-dirty |
// | attention_forward_v4   | subgroup: 4 rows per lane, shuffled K/V, lazy rescale | 72.2 / 56.2 / 13.1         | -       | f58e254-dirty |
// | attention_forward_v5   | v4 with 8 query rows per lane (half the K/V loads)    | 68.6 / 43.7 / 13.8         | -       | f58e254-dirty |
// | attention_forward_v6   | v5 with 16 rows per lane, wholly-tail blocks skipped  | 22.1 / 40.2 / 42.9 (2)     | -       | 8f5f20f       |
// | attention_forward_v7   | tiled (GPUs): 32-row tiles, 4×4 register blocks       | 136.9 / - / 6.9 (3)        | -       | (3)           |
// | attention_bwd_dkdv_v1  | key row per invocation, query by query                | 1796 / 1193 / 1.1          | 1.06    | f58e254-dirty |
// | attention_bwd_dkdv_v2  | v1 + blocks of KB queries in registers                | 896 / 746 / 2.1            | 1.73    | f58e254-dirty |
// | attention_bwd_dkdv_v3  | subgroup, as forward v4                               | 150 / 86.9 / 12.6          | -       | f58e254-dirty |
// | attention_bwd_dq_v1    | query row per invocation, key by key                  | 1344 / 915 / 1.1           | 1.12    | f58e254-dirty |
// | attention_bwd_dq_v2    | v1 + blocks of KB keys in registers                   | 1061 / 548 / 1.3           | 1.69    | f58e254-dirty |
// | attention_bwd_dq_v3    | subgroup, as forward v4                               | 128 / 72.1 / 11.1          | -       | f58e254-dirty |
// | attention_bwd_dkdv_v7  | tiled: 32 keys held, 16-query tiles, 4×2 and 4×8      | 309.9 / - / 6.1 (3)        | -       | (3)           |
// | attention_bwd_dq_v7    | tiled: 32 queries held, 16-key tiles, 4×2 and 4×8     | 260.8 / - / 5.4 (3)        | -       | (3)           |
// | attention_bwd_v4       | v3's dK/dV pass also sums dQ (5 products, not 7)      | 147 / 114 / 16.1           | -       | f58e254-dirty |
// | attention_bwd_v5       | v4 with 8 key rows per lane (half the q/dO loads, dQ) | 123 / 98.7 / 19.2          | -       | f58e254-dirty |
// | attention_bwd_v6       | v5 with 16 key rows per lane, tail blocks skipped     | 47.4 / 89.9 / 49.9 (2)     | -       | 8f5f20f       |
// ("-": the subgroup versions need subgroups of a fixed size 4 or 8; NVIDIA's are 32.)
// (2) `bench attention --peers --save` at 8f5f20f, idle box (load 0.6 before), JS thread at
// nice 19 (bench/results): the same run had forward v5 29.9 / 48.7 / 31.7, bwd v5 59.6 / 114 /
// 39.7, and the planned forward + backward (v6, v6) 66.3 / 122 ms against unfused 165.3 / 303
// (paired 2.03x, rounds 1.56-2.56; at B·H 48 518 vs 1036 ms, paired 2.09x). Those unfused
// times were inflated: until b82aa1d the benchmark's unfused composition copied its operands
// (views that kept the 4-d strides; ~19% of its time). The re-run at b82aa1d (bench/results):
// unfused 110.8 ms at B·H 6, 848 at 48; planned fused 74.0 and 528; paired 1.65x and 1.74x.
// Every "unfused" figure above this note has the same inflation.
// (3) The tiled versions, written for GPUs without a GPU to tune them on (session of
// 2026-11-26): correctness is tested on lavapipe, where each workgroup-memory read is a loop
// over the lanes, so they are slow there (`bench attention --filter '(fwd v7|bwd v7|dkdv v7|dq
// v7).*B·H 6 N 785' --repeat 3` at 89f7077 + the loader's hoisted head offset; same run,
// unfused fwd 51.1 ms, fwd+bwd 119.9 ms; fwd v6 + bwd v7 530 ms). GPU numbers: to be measured;
// the plan keeps v3 / v1 on GPUs until then, and `bench attention --tune` times them there.
// Also: attention_bwd_dot (D), attention_bwd_dq_copy (v4..v6: dQ accumulator -> dQ view),
// attention_probs (P for attention maps, small N only).

override DH: u32 = 64u;  // head dim Dh (1..DMAX): a constant to the compiler, so c-loops unroll
override WG: u32 = 64u;  // invocations per workgroup (query or key rows per workgroup)
override KB: u32 = 8u;   // v2, v3: rows per register block (1..KBMAX)
override TK: u32 = 32u;  // v3: keys per workgroup-memory tile (a multiple of KB)
const DMAX: u32 = 64u;   // private arrays need a constant size; Dh up to 64
const KBMAX: u32 = 16u;
const BIG: f32 = 0x1.fffffep+127f; // largest finite f32 (WGSL has no inf literal)

struct Params {
  n: u32,        // tokens N
  heads: u32,    // H: splits wid.y into (b, h)
  scale: f32,    // s
  lse_off: u32,  // element offset of L inside its binding
  dd_off: u32,   // element offset of D inside its binding
  d4: u32,       // Dh / 4 as a uniform: loops bounded by it stay rolled (see the subgroup notes)
  kv_split: u32, // 1: dV goes to its own binding gvs (separate tensors), 0: into gkv
  ks: u32,       // bwd v4..v6: key splits (workgroups per head, each with its own dQ slice)
  // (element offset, batch stride, head stride, token stride) of each (B, H, N, Dh) view
  q: vec4<u32>,
  k: vec4<u32>,
  v: vec4<u32>,
  o: vec4<u32>,
  go: vec4<u32>,  // dO
  gq: vec4<u32>,  // dQ
  gk: vec4<u32>,  // dK (in gkv)
  gv: vec4<u32>,  // dV (in gkv)
  dqs: vec4<u32>, // bwd v4: the dense (B, H, N, Dh) dQ accumulator
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;    // written by forward, read for D
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;  // L (B, H, N)
@group(0) @binding(6) var<storage, read> go: array<f32>;         // dO
@group(0) @binding(7) var<storage, read_write> dd: array<f32>;   // D (B, H, N)
@group(0) @binding(8) var<storage, read_write> gq: array<f32>;   // dQ
// dK, and dV unless p.kv_split: in the packed layout dK and dV interleave inside each token
// row, and WebGPU forbids two writable bindings of overlapping ranges of one buffer. With
// kv_split (dK and dV in separate tensors) dV goes to gvs; otherwise gvs is a dummy.
@group(0) @binding(9) var<storage, read_write> gkv: array<f32>;
@group(0) @binding(10) var<storage, read_write> gvs: array<f32>;
@group(0) @binding(11) var<storage, read_write> probs: array<f32>; // P (B, H, N, N)

fn store_dkdv(ok: u32, ov: u32, c: u32, dk: f32, dv: f32) {
  gkv[ok + c] = dk;
  if (p.kv_split != 0u) { gvs[ov + c] = dv; } else { gkv[ov + c] = dv; }
}

// Element index of row i of head bh = b·H + h in a view t.
fn row(t: vec4<u32>, bh: u32, i: u32) -> u32 {
  let b = bh / p.heads;
  return t.x + b * t.y + (bh - b * p.heads) * t.z + i * t.w;
}

// ------------------------------------------------------------------------------ forward

@compute @workgroup_size(WG)
fn attention_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  var qs: array<f32, DMAX>;   // s · q_i
  var acc: array<f32, DMAX>;  // Σ_j exp(S_ij - m) v_j
  let qb = row(p.q, bh, i);
  for (var c = 0u; c < DH; c++) {
    qs[c] = q[qb + c] * p.scale;
    acc[c] = 0.0;
  }
  let kb = row(p.k, bh, 0u);
  let vb = row(p.v, bh, 0u);
  var m = -BIG;
  var l = 0.0;
  for (var j = 0u; j < p.n; j++) {
    let kj = kb + j * p.k.w;
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s = fma(qs[c], k[kj + c], s); }
    let mn = max(m, s);
    let corr = exp(m - mn); // 0 on the first key (m = -BIG)
    let pj = exp(s - mn);
    l = l * corr + pj;
    let vj = vb + j * p.v.w;
    for (var c = 0u; c < DH; c++) { acc[c] = fma(pj, v[vj + c], acc[c] * corr); }
    m = mn;
  }
  let ob = row(p.o, bh, i);
  let r = 1.0 / l;
  for (var c = 0u; c < DH; c++) { o[ob + c] = acc[c] * r; }
  lse[p.lse_off + bh * p.n + i] = m + log(l);
}

@compute @workgroup_size(WG)
fn attention_forward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  var qs: array<f32, DMAX>;
  var acc: array<f32, DMAX>;
  let qb = row(p.q, bh, i);
  for (var c = 0u; c < DH; c++) {
    qs[c] = q[qb + c] * p.scale;
    acc[c] = 0.0;
  }
  let kb = row(p.k, bh, 0u);
  let vb = row(p.v, bh, 0u);
  let last = p.n - 1u;
  var m = -BIG;
  var l = 0.0;
  var s: array<f32, KBMAX>;
  for (var j0 = 0u; j0 < p.n; j0 += KB) {
    // Scores of KB keys: each q_c (a private load) feeds KB fmas with broadcast k values.
    for (var t = 0u; t < KB; t++) { s[t] = 0.0; }
    for (var c = 0u; c < DH; c++) {
      let qc = qs[c];
      for (var t = 0u; t < KB; t++) { s[t] = fma(qc, k[kb + min(j0 + t, last) * p.k.w + c], s[t]); }
    }
    var mb = m;
    for (var t = 0u; t < KB; t++) { if (j0 + t < p.n) { mb = max(mb, s[t]); } }
    let corr = exp(m - mb);
    var ps = 0.0;
    for (var t = 0u; t < KB; t++) {
      s[t] = select(0.0, exp(s[t] - mb), j0 + t < p.n); // s becomes the block's P (unnormalised)
      ps += s[t];
    }
    l = l * corr + ps;
    m = mb;
    for (var c = 0u; c < DH; c++) {
      var a = acc[c] * corr;
      for (var t = 0u; t < KB; t++) { a = fma(s[t], v[vb + min(j0 + t, last) * p.v.w + c], a); }
      acc[c] = a;
    }
  }
  let ob = row(p.o, bh, i);
  let r = 1.0 / l;
  for (var c = 0u; c < DH; c++) { o[ob + c] = acc[c] * r; }
  lse[p.lse_off + bh * p.n + i] = m + log(l);
}

var<workgroup> kt: array<f32, TK * DH>;  // K tile (TK, Dh)
var<workgroup> vt: array<f32, TK * DH>;  // V tile (TK, Dh)

@compute @workgroup_size(WG)
fn attention_forward_v3(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i_raw = wid.x * WG + lid;
  let live = i_raw < p.n;
  let i = min(i_raw, p.n - 1u); // every invocation reaches the barriers; only live ones write
  let bh = wid.y;
  var qs: array<f32, DMAX>;
  var acc: array<f32, DMAX>;
  let qb = row(p.q, bh, i);
  for (var c = 0u; c < DH; c++) {
    qs[c] = q[qb + c] * p.scale;
    acc[c] = 0.0;
  }
  let kb = row(p.k, bh, 0u);
  let vb = row(p.v, bh, 0u);
  let last = p.n - 1u;
  var m = -BIG;
  var l = 0.0;
  var s: array<f32, KBMAX>;
  for (var j1 = 0u; j1 < p.n; j1 += TK) {
    // Cooperative tile load: the workgroup's WG queries then read each K/V element from
    // workgroup memory instead of global memory.
    for (var e = lid; e < TK * DH; e += WG) {
      let jr = min(j1 + e / DH, last);
      kt[e] = k[kb + jr * p.k.w + e % DH];
      vt[e] = v[vb + jr * p.v.w + e % DH];
    }
    workgroupBarrier();
    for (var t0 = 0u; t0 < TK; t0 += KB) {
      let j0 = j1 + t0;
      for (var t = 0u; t < KB; t++) { s[t] = 0.0; }
      for (var c = 0u; c < DH; c++) {
        let qc = qs[c];
        for (var t = 0u; t < KB; t++) { s[t] = fma(qc, kt[(t0 + t) * DH + c], s[t]); }
      }
      var mb = m;
      for (var t = 0u; t < KB; t++) { if (j0 + t < p.n) { mb = max(mb, s[t]); } }
      let corr = exp(m - mb);
      var ps = 0.0;
      for (var t = 0u; t < KB; t++) {
        s[t] = select(0.0, exp(s[t] - mb), j0 + t < p.n);
        ps += s[t];
      }
      l = l * corr + ps;
      m = mb;
      for (var c = 0u; c < DH; c++) {
        var a = acc[c] * corr;
        for (var t = 0u; t < KB; t++) { a = fma(s[t], vt[(t0 + t) * DH + c], a); }
        acc[c] = a;
      }
    }
    workgroupBarrier(); // the tile is overwritten next
  }
  if (live) {
    let ob = row(p.o, bh, i);
    let r = 1.0 / l;
    for (var c = 0u; c < DH; c++) { o[ob + c] = acc[c] * r; }
    lse[p.lse_off + bh * p.n + i] = m + log(l);
  }
}

// ------------------------------------------------------------------------------ backward

// D_i = Σ_c dO_ic O_ic, one invocation per row.
@compute @workgroup_size(WG)
fn attention_bwd_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  let ob = row(p.o, bh, i);
  let gb = row(p.go, bh, i);
  var d = 0.0;
  for (var c = 0u; c < DH; c++) { d = fma(go[gb + c], o[ob + c], d); }
  dd[p.dd_off + bh * p.n + i] = d;
}

// dK_j = s Σ_i dS_ij q_i and dV_j = Σ_i P_ij dO_i, one invocation per key row j.
@compute @workgroup_size(WG)
fn attention_bwd_dkdv_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  let bh = wid.y;
  if (j >= p.n) { return; }
  var ks: array<f32, DMAX>;  // s · k_j
  var vj: array<f32, DMAX>;
  var gk: array<f32, DMAX>;  // Σ_i dS_ij q_i
  var gv: array<f32, DMAX>;  // Σ_i P_ij dO_i
  let kb = row(p.k, bh, j);
  let vb = row(p.v, bh, j);
  for (var c = 0u; c < DH; c++) {
    ks[c] = k[kb + c] * p.scale;
    vj[c] = v[vb + c];
    gk[c] = 0.0;
    gv[c] = 0.0;
  }
  let qb = row(p.q, bh, 0u);
  let gb = row(p.go, bh, 0u);
  let lb = p.lse_off + bh * p.n;
  let db = p.dd_off + bh * p.n;
  for (var i = 0u; i < p.n; i++) {
    let qi = qb + i * p.q.w;
    let gi = gb + i * p.go.w;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < DH; c++) {
      s = fma(q[qi + c], ks[c], s);
      dp = fma(go[gi + c], vj[c], dp);
    }
    let pij = exp(s - lse[lb + i]);
    let ds = pij * (dp - dd[db + i]);
    for (var c = 0u; c < DH; c++) {
      gv[c] = fma(pij, go[gi + c], gv[c]);
      gk[c] = fma(ds, q[qi + c], gk[c]);
    }
  }
  let ok = row(p.gk, bh, j);
  let ov = row(p.gv, bh, j);
  for (var c = 0u; c < DH; c++) { store_dkdv(ok, ov, c, gk[c] * p.scale, gv[c]); }
}

@compute @workgroup_size(WG)
fn attention_bwd_dkdv_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let j = wid.x * WG + lid;
  let bh = wid.y;
  if (j >= p.n) { return; }
  var ks: array<f32, DMAX>;
  var vj: array<f32, DMAX>;
  var gk: array<f32, DMAX>;
  var gv: array<f32, DMAX>;
  let kb = row(p.k, bh, j);
  let vb = row(p.v, bh, j);
  for (var c = 0u; c < DH; c++) {
    ks[c] = k[kb + c] * p.scale;
    vj[c] = v[vb + c];
    gk[c] = 0.0;
    gv[c] = 0.0;
  }
  let qb = row(p.q, bh, 0u);
  let gb = row(p.go, bh, 0u);
  let lb = p.lse_off + bh * p.n;
  let db = p.dd_off + bh * p.n;
  let last = p.n - 1u;
  var pt: array<f32, KBMAX>;  // S, then P, of KB queries
  var dt: array<f32, KBMAX>;  // dP, then dS
  for (var i0 = 0u; i0 < p.n; i0 += KB) {
    for (var t = 0u; t < KB; t++) {
      pt[t] = 0.0;
      dt[t] = 0.0;
    }
    for (var c = 0u; c < DH; c++) {
      let kc = ks[c];
      let vc = vj[c];
      for (var t = 0u; t < KB; t++) {
        let it = min(i0 + t, last);
        pt[t] = fma(q[qb + it * p.q.w + c], kc, pt[t]);
        dt[t] = fma(go[gb + it * p.go.w + c], vc, dt[t]);
      }
    }
    for (var t = 0u; t < KB; t++) {
      let it = min(i0 + t, last);
      let pij = select(0.0, exp(pt[t] - lse[lb + it]), i0 + t < p.n);
      pt[t] = pij;
      dt[t] = pij * (dt[t] - dd[db + it]);
    }
    for (var c = 0u; c < DH; c++) {
      var a = gv[c];
      var b = gk[c];
      for (var t = 0u; t < KB; t++) {
        let it = min(i0 + t, last);
        a = fma(pt[t], go[gb + it * p.go.w + c], a);
        b = fma(dt[t], q[qb + it * p.q.w + c], b);
      }
      gv[c] = a;
      gk[c] = b;
    }
  }
  let ok = row(p.gk, bh, j);
  let ov = row(p.gv, bh, j);
  for (var c = 0u; c < DH; c++) { store_dkdv(ok, ov, c, gk[c] * p.scale, gv[c]); }
}

// dQ_i = s Σ_j dS_ij k_j, one invocation per query row i.
@compute @workgroup_size(WG)
fn attention_bwd_dq_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  var qs: array<f32, DMAX>;
  var gi: array<f32, DMAX>;  // dO_i
  var acc: array<f32, DMAX>;
  let qb = row(p.q, bh, i);
  let gb = row(p.go, bh, i);
  for (var c = 0u; c < DH; c++) {
    qs[c] = q[qb + c] * p.scale;
    gi[c] = go[gb + c];
    acc[c] = 0.0;
  }
  let li = lse[p.lse_off + bh * p.n + i];
  let di = dd[p.dd_off + bh * p.n + i];
  let kb = row(p.k, bh, 0u);
  let vb = row(p.v, bh, 0u);
  for (var j = 0u; j < p.n; j++) {
    let kj = kb + j * p.k.w;
    let vj = vb + j * p.v.w;
    var s = 0.0;
    var dp = 0.0;
    for (var c = 0u; c < DH; c++) {
      s = fma(qs[c], k[kj + c], s);
      dp = fma(gi[c], v[vj + c], dp);
    }
    let ds = exp(s - li) * (dp - di);
    for (var c = 0u; c < DH; c++) { acc[c] = fma(ds, k[kj + c], acc[c]); }
  }
  let ob = row(p.gq, bh, i);
  for (var c = 0u; c < DH; c++) { gq[ob + c] = acc[c] * p.scale; }
}

@compute @workgroup_size(WG)
fn attention_bwd_dq_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  var qs: array<f32, DMAX>;
  var gi: array<f32, DMAX>;
  var acc: array<f32, DMAX>;
  let qb = row(p.q, bh, i);
  let gb = row(p.go, bh, i);
  for (var c = 0u; c < DH; c++) {
    qs[c] = q[qb + c] * p.scale;
    gi[c] = go[gb + c];
    acc[c] = 0.0;
  }
  let li = lse[p.lse_off + bh * p.n + i];
  let di = dd[p.dd_off + bh * p.n + i];
  let kb = row(p.k, bh, 0u);
  let vb = row(p.v, bh, 0u);
  let last = p.n - 1u;
  var st: array<f32, KBMAX>;
  var dt: array<f32, KBMAX>;
  for (var j0 = 0u; j0 < p.n; j0 += KB) {
    for (var t = 0u; t < KB; t++) {
      st[t] = 0.0;
      dt[t] = 0.0;
    }
    for (var c = 0u; c < DH; c++) {
      let qc = qs[c];
      let gc = gi[c];
      for (var t = 0u; t < KB; t++) {
        let jt = min(j0 + t, last);
        st[t] = fma(qc, k[kb + jt * p.k.w + c], st[t]);
        dt[t] = fma(gc, v[vb + jt * p.v.w + c], dt[t]);
      }
    }
    for (var t = 0u; t < KB; t++) {
      dt[t] = select(0.0, exp(st[t] - li) * (dt[t] - di), j0 + t < p.n); // dS
    }
    for (var c = 0u; c < DH; c++) {
      var a = acc[c];
      for (var t = 0u; t < KB; t++) { a = fma(dt[t], k[kb + min(j0 + t, last) * p.k.w + c], a); }
      acc[c] = a;
    }
  }
  let ob = row(p.gq, bh, i);
  for (var c = 0u; c < DH; c++) { gq[ob + c] = acc[c] * p.scale; }
}

// ------------------------------------------------------------------------------ maps

// P (B, H, N, N) dense, for attention maps: two passes over the keys per query row (max and
// sum online, then exp(S_ij - L_i)). Recomputes S twice; meant for one layer at small N.
@compute @workgroup_size(WG)
fn attention_probs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * WG + lid;
  let bh = wid.y;
  if (i >= p.n) { return; }
  var qs: array<f32, DMAX>;
  let qb = row(p.q, bh, i);
  for (var c = 0u; c < DH; c++) { qs[c] = q[qb + c] * p.scale; }
  let kb = row(p.k, bh, 0u);
  var m = -BIG;
  var l = 0.0;
  for (var j = 0u; j < p.n; j++) {
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s = fma(qs[c], k[kb + j * p.k.w + c], s); }
    let mn = max(m, s);
    l = l * exp(m - mn) + exp(s - mn);
    m = mn;
  }
  let li = m + log(l);
  let pb = (bh * p.n + i) * p.n;
  for (var j = 0u; j < p.n; j++) {
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s = fma(qs[c], k[kb + j * p.k.w + c], s); }
    probs[pb + j] = exp(s - li);
  }
}
