// attention-tiled: fused attention for GPUs, FlashAttention-2 style (forward v7; backward v7,
// a dK/dV pass and a dQ pass). Math, layouts, bindings 0..11 and the version table are in
// attention.wgsl; src/kernels/attention.ts compiles this file after it on every device (no
// subgroups needed).
//
// Why another GPU version: v1..v3 give each invocation one whole row, so every multiply-add
// reads one operand from workgroup (or global) memory; on a GPU that load rate, not the FMA
// rate, bounds them (H200: forward v3 at ~3.6 TFLOPS, the backward v1 slower than our unfused
// matmuls). Here 64 invocations share 32-row tiles in workgroup memory and each computes a 4×4
// (or 4×2) block of scores and a 4×8 block of the output from registers, so each vec4 read
// from workgroup memory feeds 5-11 multiply-adds.
//
// Layout of a workgroup: 64 invocations, ty = lid / 8 and tx = lid % 8. The invocation owns the
// tile rows ty + 8a (a = 0..3) and, of the other side, the rows tx + 8b (b = 0..3, or 0..1 in
// a 16-row tile), and of the output the column vec4s tx and tx + 8 (columns 4tx..4tx+3 and
// 32+4tx..32+4tx+3). The strided rows keep the 8 invocations that read at once on 8 different
// memory banks (a tile row is 17 vec4s: 64 floats and 4 of padding, so row r starts at bank
// 4r mod 32); consecutive rows per invocation would put them on two.
// Tails: rows past N load as zeros (never clamped copies: finite, so 0 · x stays 0) and their
// scores are masked; columns past Dh load as zeros and are not stored.
// Workgroup memory: 1632 vec4s of tiles + 1344 floats = 31.5 KiB (WebGPU's default limit is
// 16 KiB; lavapipe has 32, NVIDIA 48): the launcher checks the device's limit.

const TR: u32 = 32u;      // rows per tile (queries in the forward and dQ pass, keys in dK/dV)
const TS: u32 = 17u;      // row stride of a tile, in vec4s (16 + 1 padding)
const PSTR: u32 = 33u;    // row stride of the forward's 32×32 P tile, in floats
const SSTR: u32 = 17u;    // row stride of the backward's 32×16 P and dS tiles, in floats
var<workgroup> tw: array<vec4<f32>, 1632>;  // three 32-row tiles, or two and two 16-row ones
var<workgroup> tsc: array<f32, 1344>;       // score tiles (P, dS), row partials, L and D

// The view (offset, batch, head and token strides) of operand `src` (0 q, 1 k, 2 v, 3 dO).
fn t7_view(src: u32) -> vec4<u32> {
  switch src {
    case 0u: { return p.q; }
    case 1u: { return p.k; }
    case 2u: { return p.v; }
    default: { return p.go; }
  }
}

// Element e of operand src's binding.
fn t7_at(src: u32, e: u32) -> f32 {
  switch src {
    case 0u: { return q[e]; }
    case 1u: { return k[e]; }
    case 2u: { return v[e]; }
    default: { return go[e]; }
  }
}

// Rows r0 .. r0 + rows - 1 of operand src, times f, into tw[base + r·TS + c4] (the whole
// workgroup, coalesced: consecutive invocations take consecutive vec4s of a row). The head's
// first row is found once (row() divides by the head count): per element only a multiply-add.
fn t7_load(src: u32, bh: u32, r0: u32, rows: u32, f: f32, lid: u32, base: u32) {
  let d4 = (DH + 3u) / 4u;
  let view = t7_view(src);
  let head = row(view, bh, 0u);
  for (var e = lid; e < rows * d4; e += 64u) {
    let r = e / d4;
    let c4 = e - r * d4;
    let i = r0 + r;
    var x = vec4<f32>(0.0);
    if (i < p.n) {
      let at = head + i * view.w + 4u * c4;
      for (var u = 0u; u < 4u; u++) {
        if (4u * c4 + u < DH) { x[u] = t7_at(src, at + u); }
      }
    }
    tw[base + r * TS + c4] = x * f;
  }
}

// s[a][b] = row (ra + 8a) of the tile at xa · row (rb + 8b) of the tile at xb, b < 4.
fn t7_dots4(xa: u32, ra: u32, xb: u32, rb: u32) -> array<vec4<f32>, 4> {
  var s: array<vec4<f32>, 4>;
  for (var c4 = 0u; c4 < (DH + 3u) / 4u; c4++) {
    let y0 = tw[xb + rb * TS + c4];
    let y1 = tw[xb + (rb + 8u) * TS + c4];
    let y2 = tw[xb + (rb + 16u) * TS + c4];
    let y3 = tw[xb + (rb + 24u) * TS + c4];
    for (var a = 0u; a < 4u; a++) {
      let x = tw[xa + (ra + 8u * a) * TS + c4];
      s[a] += vec4<f32>(dot(x, y0), dot(x, y1), dot(x, y2), dot(x, y3));
    }
  }
  return s;
}

// The same for b < 2 (a 16-row tile at xb); s[a] = (b = 0, b = 1).
fn t7_dots2(xa: u32, ra: u32, xb: u32, rb: u32) -> array<vec2<f32>, 4> {
  var s: array<vec2<f32>, 4>;
  for (var c4 = 0u; c4 < (DH + 3u) / 4u; c4++) {
    let y0 = tw[xb + rb * TS + c4];
    let y1 = tw[xb + (rb + 8u) * TS + c4];
    for (var a = 0u; a < 4u; a++) {
      let x = tw[xa + (ra + 8u * a) * TS + c4];
      s[a] += vec2<f32>(dot(x, y0), dot(x, y1));
    }
  }
  return s;
}

// acc[2a + h] += Σ_j w(row ra + 8a, j) · (column vec4 tx + 8h of row j of the tile at xb),
// j < cols, w from tsc[ws + row · wstr + j]. cols is a constant (the whole tile, tail rows
// included: their weights or rows are zeros), so the compiler can unroll.
fn t7_accumulate(acc: ptr<function, array<vec4<f32>, 8>>, ws: u32, wstr: u32, ra: u32, cols: u32, xb: u32, tx: u32) {
  for (var j = 0u; j < cols; j++) {
    let y0 = tw[xb + j * TS + tx];
    let y1 = tw[xb + j * TS + tx + 8u];
    for (var a = 0u; a < 4u; a++) {
      let w = tsc[ws + (ra + 8u * a) * wstr + j];
      (*acc)[2u * a] += w * y0;
      (*acc)[2u * a + 1u] += w * y1;
    }
  }
}

// Column vec4 tx + 8h of an output row, as floats at dst .. dst + 3 (columns past Dh skipped).
fn t7_cols(tx: u32, h: u32) -> u32 { return 4u * (tx + 8u * h); }

// Forward: a workgroup takes 32 queries of one head; tiles of 32 keys and values stream
// through; per tile S = s Q K^T (4×4 per invocation), the online softmax (row max over the 8
// invocations of a row through workgroup memory; each keeps its own partial row sum), P to
// workgroup memory, O += P V (4×8 per invocation).
@compute @workgroup_size(64)
fn attention_forward_v7(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y;
  let i0 = wid.x * TR;
  let ty = lid / 8u;
  let tx = lid % 8u;
  let tq = 0u;             // tw: s·Q tile, K tile, V tile
  let tk = TR * TS;
  let tv = 2u * TR * TS;
  let red = TR * PSTR;     // tsc: P (32 × PSTR), then the row partials (32 × 8)
  t7_load(0u, bh, i0, TR, p.scale, lid, tq);
  var oa: array<vec4<f32>, 8>;  // O rows ty + 8a, column vec4s tx, tx + 8 (unnormalized)
  var m = vec4<f32>(-BIG);  // running max of rows ty + 8a
  var l = vec4<f32>(0.0);   // this invocation's part of the row sums
  for (var j0 = 0u; j0 < p.n; j0 += TR) {
    workgroupBarrier();  // the last tile's readers are done
    t7_load(1u, bh, j0, TR, 1.0, lid, tk);
    t7_load(2u, bh, j0, TR, 1.0, lid, tv);
    workgroupBarrier();
    var s = t7_dots4(tq, ty, tk, tx);
    let live = vec4<u32>(j0 + tx, j0 + tx + 8u, j0 + tx + 16u, j0 + tx + 24u) < vec4<u32>(p.n);
    for (var a = 0u; a < 4u; a++) {
      s[a] = select(vec4<f32>(-BIG), s[a], live);
      let mx = max(max(s[a].x, s[a].y), max(s[a].z, s[a].w));
      tsc[red + (ty + 8u * a) * 8u + tx] = mx;
    }
    workgroupBarrier();
    for (var a = 0u; a < 4u; a++) {
      let r = red + (ty + 8u * a) * 8u;
      var mt = tsc[r];
      for (var t = 1u; t < 8u; t++) { mt = max(mt, tsc[r + t]); }
      let mn = max(m[a], mt);
      let corr = exp(m[a] - mn);  // 0 on the first tile
      let pa = exp(s[a] - vec4<f32>(mn));
      l[a] = l[a] * corr + (pa.x + pa.y) + (pa.z + pa.w);
      oa[2u * a] *= corr;
      oa[2u * a + 1u] *= corr;
      m[a] = mn;
      let pr = (ty + 8u * a) * PSTR + tx;
      tsc[pr] = pa.x;
      tsc[pr + 8u] = pa.y;
      tsc[pr + 16u] = pa.z;
      tsc[pr + 24u] = pa.w;
    }
    workgroupBarrier();
    t7_accumulate(&oa, 0u, PSTR, ty, TR, tv, tx);
  }
  // Row sums: the 8 partials of each row, through workgroup memory.
  workgroupBarrier();
  for (var a = 0u; a < 4u; a++) { tsc[red + (ty + 8u * a) * 8u + tx] = l[a]; }
  workgroupBarrier();
  for (var a = 0u; a < 4u; a++) {
    let i = i0 + ty + 8u * a;
    if (i < p.n) {
      let r = red + (ty + 8u * a) * 8u;
      var lt = 0.0;
      for (var t = 0u; t < 8u; t++) { lt += tsc[r + t]; }
      let inv = 1.0 / lt;
      let ob = row(p.o, bh, i);
      for (var h = 0u; h < 2u; h++) {
        let x = oa[2u * a + h] * inv;
        let c = t7_cols(tx, h);
        for (var u = 0u; u < 4u; u++) {
          if (c + u < DH) { o[ob + c + u] = x[u]; }
        }
      }
      if (tx == 0u) { lse[p.lse_off + bh * p.n + i] = m[a] + log(lt); }
    }
  }
}

// dQ pass: a workgroup takes 32 queries (s·Q and dO tiles, their L and D in registers); tiles
// of 16 keys and values stream through; per tile S and dP (4×2 per invocation), dS = P (dP - D)
// to workgroup memory, dQ += dS K (4×8 per invocation); dQ = s · that at the end.
@compute @workgroup_size(64)
fn attention_bwd_dq_v7(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y;
  let i0 = wid.x * TR;
  let ty = lid / 8u;
  let tx = lid % 8u;
  let tq = 0u;               // tw: s·Q, dO (32 rows each), K, V (16 rows each)
  let tg = TR * TS;
  let tk = 2u * TR * TS;
  let tv = tk + 16u * TS;
  t7_load(0u, bh, i0, TR, p.scale, lid, tq);
  t7_load(3u, bh, i0, TR, 1.0, lid, tg);
  var li: vec4<f32>;
  var di: vec4<f32>;
  for (var a = 0u; a < 4u; a++) {
    let i = min(i0 + ty + 8u * a, p.n - 1u);  // rows past N: any finite L, D (their dQ is not stored)
    li[a] = lse[p.lse_off + bh * p.n + i];
    di[a] = dd[p.dd_off + bh * p.n + i];
  }
  var acc: array<vec4<f32>, 8>;
  for (var j0 = 0u; j0 < p.n; j0 += 16u) {
    workgroupBarrier();
    t7_load(1u, bh, j0, 16u, 1.0, lid, tk);
    t7_load(2u, bh, j0, 16u, 1.0, lid, tv);
    workgroupBarrier();
    let s = t7_dots2(tq, ty, tk, tx);
    let dp = t7_dots2(tg, ty, tv, tx);
    let live = vec2<u32>(j0 + tx, j0 + tx + 8u) < vec2<u32>(p.n);
    for (var a = 0u; a < 4u; a++) {
      let pa = select(vec2<f32>(0.0), exp(s[a] - vec2<f32>(li[a])), live);
      let ds = pa * (dp[a] - vec2<f32>(di[a]));
      let r = (ty + 8u * a) * SSTR + tx;
      tsc[r] = ds.x;
      tsc[r + 8u] = ds.y;
    }
    workgroupBarrier();
    t7_accumulate(&acc, 0u, SSTR, ty, 16u, tk, tx);
  }
  for (var a = 0u; a < 4u; a++) {
    let i = i0 + ty + 8u * a;
    if (i < p.n) {
      let ob = row(p.gq, bh, i);
      for (var h = 0u; h < 2u; h++) {
        let x = acc[2u * a + h] * p.scale;
        let c = t7_cols(tx, h);
        for (var u = 0u; u < 4u; u++) {
          if (c + u < DH) { gq[ob + c + u] = x[u]; }
        }
      }
    }
  }
}

// dK/dV pass: a workgroup takes 32 keys (s·K and V tiles); tiles of 16 queries (q, dO, L, D)
// stream through; per tile S^T and dP^T (4×2 per invocation), P and dS to workgroup memory,
// dV += P^T dO and dK += dS^T q (4×8 each per invocation); dK = s · that at the end.
@compute @workgroup_size(64)
fn attention_bwd_dkdv_v7(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bh = wid.y;
  let j0 = wid.x * TR;
  let ty = lid / 8u;  // keys ty + 8a
  let tx = lid % 8u;  // queries tx + 8b of a tile; output column vec4s tx, tx + 8
  let tk = 0u;               // tw: s·K, V (32 rows each), q, dO (16 rows each)
  let tv = TR * TS;
  let tq = 2u * TR * TS;
  let tg = tq + 16u * TS;
  let sp = 0u;               // tsc: P^T, dS^T (32 keys × SSTR), then L, D of the query tile
  let sd = TR * SSTR;
  let sl = 2u * TR * SSTR;
  t7_load(1u, bh, j0, TR, p.scale, lid, tk);
  t7_load(2u, bh, j0, TR, 1.0, lid, tv);
  var gk: array<vec4<f32>, 8>;
  var gv: array<vec4<f32>, 8>;
  for (var i0 = 0u; i0 < p.n; i0 += 16u) {
    workgroupBarrier();
    t7_load(0u, bh, i0, 16u, 1.0, lid, tq);
    t7_load(3u, bh, i0, 16u, 1.0, lid, tg);
    if (lid < 16u) {
      let i = min(i0 + lid, p.n - 1u);
      tsc[sl + lid] = lse[p.lse_off + bh * p.n + i];
      tsc[sl + 16u + lid] = dd[p.dd_off + bh * p.n + i];
    }
    workgroupBarrier();
    let s = t7_dots2(tk, ty, tq, tx);
    let dp = t7_dots2(tv, ty, tg, tx);
    let live = vec2<u32>(i0 + tx, i0 + tx + 8u) < vec2<u32>(p.n);
    let lq = vec2<f32>(tsc[sl + tx], tsc[sl + tx + 8u]);
    let dl = vec2<f32>(tsc[sl + 16u + tx], tsc[sl + 16u + tx + 8u]);
    for (var a = 0u; a < 4u; a++) {
      let pa = select(vec2<f32>(0.0), exp(s[a] - lq), live);
      let ds = pa * (dp[a] - dl);
      let r = (ty + 8u * a) * SSTR + tx;
      tsc[sp + r] = pa.x;
      tsc[sp + r + 8u] = pa.y;
      tsc[sd + r] = ds.x;
      tsc[sd + r + 8u] = ds.y;
    }
    workgroupBarrier();
    t7_accumulate(&gv, sp, SSTR, ty, 16u, tg, tx);
    t7_accumulate(&gk, sd, SSTR, ty, 16u, tq, tx);
  }
  for (var a = 0u; a < 4u; a++) {
    let j = j0 + ty + 8u * a;
    if (j < p.n) {
      let ok = row(p.gk, bh, j);
      let ov = row(p.gv, bh, j);
      for (var h = 0u; h < 2u; h++) {
        let xk = gk[2u * a + h] * p.scale;
        let xv = gv[2u * a + h];
        let c = t7_cols(tx, h);
        for (var u = 0u; u < 4u; u++) {
          if (c + u < DH) { store_dkdv(ok, ov, c + u, xk[u], xv[u]); }
        }
      }
    }
  }
}
