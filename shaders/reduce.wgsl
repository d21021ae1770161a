// reduce: y = op over one axis of x, for op in sum, mean, max, min, argmax, l2 (OP, see
// src/kernels/reduce.ts for the table).
//
// Math:  sum  y = Σ_r x_r          mean  y = Σ_r x_r / R        max / min  y = max_r / min_r x_r
//        argmax  y = first r with x_r = max x (as f32, exact below 2^24; ties: lowest r, as torch)
//        l2   y = sqrt(Σ_r x_r²), kept as a running pair (scale s = max |x| so far, q = Σ (x/s)²)
//             and y = s sqrt(q): LAPACK dnrm2's rescaling, one pass, no overflow of x² past
//             |x| ~ 1.8e19 and no underflow of it below ~1e-19 (F.normalize of tiny vectors).
//             Each element costs one division; the pairs merge exactly like the serial update,
//             so the tree and split paths share it. (The alternative, a max-abs pass and then
//             Σ (x/max)², reads x twice.)
//
// Shapes: x dense (outer, R, inner), y dense (outer, inner). The launcher makes the input
//   contiguous and views any axis of any rank this way (outer = product of the dims before
//   the axis, inner = product of those after).
// Split: when few outputs have long axes (the full reduction to a scalar, a few DINO-head
//   rows of 65536), the axis is cut into n_chunks chunks. Pass 1 writes one
//   accumulator pair (v, a) per (outer, chunk, inner) (PAIRS_OUT); pass 2 reduces those pairs
//   over the chunk axis (PAIRS_IN) with the same entry point. Pair meaning per op:
//   sum/mean/max/min (v, unused), argmax (max value, its index), l2 (q, s).
// Threads:
//   v1  one thread per output (o, chunk, i): a serial loop over the axis. Threads next to each
//       other read neighbouring i, so the loads coalesce when inner is large. On a GPU the
//       right path for short axes only: a long serial chain of loads is latency bound. On a
//       CPU adapter the right path almost always (no barriers).
//   v2  one workgroup (WG threads) per output: threads stride over the axis (coalesced when
//       inner = 1), then a tree over workgroup memory (log2 WG barriers). On a GPU for long
//       rows and also long columns: 256 loads in flight per column beat one.
// Traffic: 4 bytes read per input element, 4 written per output (8 per chunk in pass 1); one
//   or two FLOPs per element (l2: ~8 and a division): 0.25-0.5 FLOP/byte, memory bound.
//
// GB/s = 4 bytes per input element / median time (sum), from a one-off sweep (not in bench/;
// the numbers are in the issue report), host recording included. H200: Dawn/Vulkan, driver
// 580.159, x (37680, 785) along the rows / down the columns / all. lavapipe: Mesa 25.0.7,
// 2 cores shared (load ~4), x (4710, 785) along the rows.
// | version           | idea                                         | H200 GB/s               | lavapipe GB/s | commit     |
// |-------------------|----------------------------------------------|-------------------------|---------------|------------|
// | reduce_forward_v1 | thread per output, serial over the axis      | 308 / 146 (21 chunks) / - | 3.1 wg64    | cd5ce72 |
// | reduce_forward_v2 | workgroup per output, strided + tree         | 736 / 536 / 765 (1024 chunks) | 0.1 wg256 | cd5ce72 |
// Either version with n_chunks > 1 is the split path: the same entry twice. Picks
// (src/kernels/reduce.ts): GPU v1 for axes < 128 (rows) or < 256 (columns), else v2, split
// when < 264 outputs share an axis >= 8192; CPU v1 wg 8, split when < 64 outputs.
//
// Backward: the gradient g (outer, inner) is broadcast back over the axis.
//   sum  dx = g     mean  dx = g / R     l2  dx = g x / y (0 where y = 0, as torch)
//   max / min  dx = g at the first arg-extremum r* (as torch's max(dim)), 0 elsewhere; r* is
//       found by the forward (argmax, of -x for min) and saved as f32 (outer, inner), so the
//       backward needs neither x nor a search.
// Threads:
//   backward_v1  thread per output (o, i), serial over the axis: g and r* read once per output.
//   backward_v2  thread per input element (o, r, i): neighbouring threads write neighbouring
//                elements whatever the axis, and g is read from cache.
// Traffic: 4 bytes written per input element (+4 read of x for l2), 4-8 read per output.
// GB/s = 4 bytes per input element / median time (sum), one-off sweep (not in bench/; numbers
// in the issue report), host recording included, along the rows / down the columns. H200 (as
// above): x (37680, 785); the full reduction of 29.6M elements: v2 893, v1 (one thread) 0.06.
// lavapipe (2 cores shared, load ~6): x (6280, 384); the full reduction of 2.4M: v1 0.20, v2 0.19.
// | version            | idea                                | H200 GB/s            | lavapipe GB/s          | commit |
// |--------------------|-------------------------------------|----------------------|------------------------|--------|
// | reduce_backward_v1 | thread per output, serial over axis | 189 / 41 wg64        | 1.76 / 2.26 wg8        | -      |
// | reduce_backward_v2 | thread per input element            | 780 / 910 wg256      | 0.11 / 0.11 wg256      | -      |
// Picks (planReduceBackward): GPU v2 wg 256; CPU v1 wg 8, for every shape.

override OP: u32 = 0u;       // 0 sum, 1 mean, 2 max, 3 min, 4 argmax, 5 l2
override WG: u32 = 256u;     // threads per workgroup; a power of two for the v2 tree
override PAIRS_IN: bool = false;
override PAIRS_OUT: bool = false;

struct Params {
  outer: u32,
  r_len: u32,     // length of the axis this pass reduces (R, or n_chunks of pass 1 when PAIRS_IN)
  inner: u32,
  n_chunks: u32,  // chunks the axis is cut into in this pass (1: none)
  chunk: u32,     // axis elements per chunk
  count: u32,     // R of the original axis (mean divides by it)
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // (outer, R, inner), or pairs
@group(0) @binding(2) var<storage, read_write> y: array<f32>;  // (outer, inner), or pairs (outer, n_chunks, inner, 2)

// Serial loops sum in blocks of BLOCK elements and then add the block sums: the rounding error
// of a sum grows with the number of terms added into one accumulator, so n terms cost
// ~(BLOCK + n / BLOCK) roundings instead of n (65536 per thread: 32x less), and, unlike Kahan
// summation, no compiler's reassociation can undo it.
const BLOCK: u32 = 64u;
const BIG: f32 = 0x1.fffffep+127f; // largest finite f32: the identity of max/min (WGSL has no inf literal)

struct Acc {
  v: f32,
  a: f32,
}

fn acc_init() -> Acc {
  switch OP {
    case 2u: { return Acc(-BIG, 0.0); }
    case 3u: { return Acc(BIG, 0.0); }
    case 4u: { return Acc(-BIG, BIG); } // index BIG: loses every tie against a real element
    default: { return Acc(0.0, 0.0); }
  }
}

// Combine two partial results (the order of u and w does not matter).
fn acc_merge(u: Acc, w: Acc) -> Acc {
  switch OP {
    case 2u: { return Acc(max(u.v, w.v), 0.0); }
    case 3u: { return Acc(min(u.v, w.v), 0.0); }
    case 4u: {
      let take_w = w.v > u.v || (w.v == u.v && w.a < u.a);
      return Acc(select(u.v, w.v, take_w), select(u.a, w.a, take_w));
    }
    case 5u: {
      // q = q_u (s_u/s)² + q_w (s_w/s)² with s = max(s_u, s_w); both empty: (0, 0).
      let s = max(u.a, w.a);
      if (s == 0.0) { return Acc(0.0, 0.0); }
      let ru = u.a / s;
      let rw = w.a / s;
      return Acc(u.v * ru * ru + w.v * rw * rw, s);
    }
    default: { return Acc(u.v + w.v, 0.0); }
  }
}

// Fold element xv at axis position r into the accumulator.
fn acc_add(u: Acc, xv: f32, r: u32) -> Acc {
  switch OP {
    case 2u: { return Acc(max(u.v, xv), 0.0); }
    case 3u: { return Acc(min(u.v, xv), 0.0); }
    case 4u: {
      // Serial r increases, so strict > keeps the first maximum.
      let take = xv > u.v || u.a == BIG;
      return Acc(select(u.v, xv, take), select(u.a, f32(r), take));
    }
    case 5u: {
      // One division: t = min/max of (|x|, s). |x| > s rescales q to the new scale.
      let ax = abs(xv);
      let m = max(ax, u.a);
      let t = select(0.0, min(ax, u.a) / m, m > 0.0);
      let t2 = t * t;
      return Acc(select(u.v + t2, 1.0 + u.v * t2, ax > u.a), m);
    }
    default: { return Acc(u.v + xv, 0.0); }
  }
}

fn acc_final(u: Acc) -> f32 {
  switch OP {
    case 1u: { return u.v / f32(p.count); }
    case 4u: { return u.a; }
    case 5u: { return u.a * sqrt(u.v); }
    default: { return u.v; }
  }
}

// Take axis element r of output (o, i) into the accumulator; gr is r's position in the
// original axis (for argmax) when this pass reads raw values.
fn take(u: Acc, o: u32, r: u32, i: u32, gr: u32) -> Acc {
  let at = (o * p.r_len + r) * p.inner + i;
  if (PAIRS_IN) { return acc_merge(u, Acc(x[2u * at], x[2u * at + 1u])); }
  return acc_add(u, x[at], gr);
}

// t is the linear (o, chunk, i) index; without a split it equals o * inner + i.
fn store(t: u32, u: Acc) {
  if (PAIRS_OUT) {
    y[2u * t] = u.v;
    y[2u * t + 1u] = u.a;
  } else {
    y[t] = acc_final(u);
  }
}

@compute @workgroup_size(WG)
fn reduce_forward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= p.outer * p.n_chunks * p.inner) { return; }
  let i = t % p.inner;
  let oc = t / p.inner;
  let c = oc % p.n_chunks;
  let o = oc / p.n_chunks;
  let r0 = c * p.chunk;
  let r1 = min(p.r_len, r0 + p.chunk);
  var u = acc_init();
  for (var b = r0; b < r1; b += BLOCK) {
    var w = acc_init();
    for (var r = b; r < min(r1, b + BLOCK); r++) { w = take(w, o, r, i, r); }
    u = acc_merge(u, w);
  }
  store(t, u);
}

var<workgroup> tree_v: array<f32, WG>;
var<workgroup> tree_a: array<f32, WG>;

@compute @workgroup_size(WG)
fn reduce_forward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = wid.y * nwg.x + wid.x; // one output (o, chunk, i) per workgroup: uniform, so the
  if (t >= p.outer * p.n_chunks * p.inner) { return; } // early exit keeps barriers uniform
  let i = t % p.inner;
  let oc = t / p.inner;
  let c = oc % p.n_chunks;
  let o = oc / p.n_chunks;
  let r0 = c * p.chunk;
  let r1 = min(p.r_len, r0 + p.chunk);
  var u = acc_init();
  for (var b = r0 + lid; b < r1; b += BLOCK * WG) {
    var w = acc_init();
    for (var r = b; r < min(r1, b + BLOCK * WG); r += WG) { w = take(w, o, r, i, r); }
    u = acc_merge(u, w);
  }
  tree_v[lid] = u.v;
  tree_a[lid] = u.a;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let m = acc_merge(Acc(tree_v[lid], tree_a[lid]), Acc(tree_v[lid + s], tree_a[lid + s]));
      tree_v[lid] = m.v;
      tree_a[lid] = m.a;
    }
    workgroupBarrier();
  }
  if (lid == 0u) { store(t, Acc(tree_v[0], tree_a[0])); }
}

// ---------------------------------------------------------------- backward

@group(0) @binding(3) var<storage, read> gy: array<f32>;        // (outer, inner) dL/dy
@group(0) @binding(4) var<storage, read> aux: array<f32>;       // (outer, inner): l2 the norm y, max/min r*
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;  // (outer, R, inner)

// dL/dx at axis position r (flat input index at) from g and aux of its output.
fn bwd_grad(gv: f32, av: f32, r: u32, at: u32) -> f32 {
  switch OP {
    case 1u: { return gv / f32(p.count); }
    case 2u, 3u: { return select(0.0, gv, f32(r) == av); }
    case 5u: { return select(0.0, gv * x[at] / av, av > 0.0); }
    default: { return gv; }
  }
}

@compute @workgroup_size(WG)
fn reduce_backward_v1(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = (wid.y * nwg.x + wid.x) * WG + lid;
  if (t >= p.outer * p.inner) { return; }
  let i = t % p.inner;
  let o = t / p.inner;
  let gv = gy[t];
  let av = aux[t];
  for (var r = 0u; r < p.r_len; r++) {
    let at = (o * p.r_len + r) * p.inner + i;
    dx[at] = bwd_grad(gv, av, r, at);
  }
}

@compute @workgroup_size(WG)
fn reduce_backward_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                      @builtin(num_workgroups) nwg: vec3<u32>) {
  let at = (wid.y * nwg.x + wid.x) * WG + lid;
  if (at >= p.outer * p.r_len * p.inner) { return; }
  let i = at % p.inner;
  let ro = at / p.inner; // o · R + r
  let r = ro % p.r_len;
  let t = (ro / p.r_len) * p.inner + i;
  dx[at] = bwd_grad(gy[t], aux[t], r, at);
}
