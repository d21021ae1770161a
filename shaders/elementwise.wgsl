// elementwise: y = f(x) and y = g(a, b), with broadcasting and arbitrary strides.
//
// Math: unary ops f (OP, see src/kernels/elementwise.ts for the table):
//   neg, exp, log, tanh, gelu (exact erf form: 0.5 x erfc(-x / sqrt 2)), sqrt, rsqrt, abs, relu,
//   sigmoid, recip, square, x + alpha, x * alpha, pow(x, alpha), clamp(x, alpha, beta), copy.
// binary ops g: add, sub, mul, div, max, min, pow, lt, le, gt, ge, eq, ne (1.0 / 0.0),
//   axpby (alpha a + beta b); and the backward maps (saved u, gradient g):
//   gelu_bwd (Phi(x) + x phi(x)) g, tanh_bwd (1 - y^2) g, sigmoid_bwd y (1 - y) g, relu_bwd [x > 0] g.
//
// Shapes: the output is dense with N elements and shape (d0..d7) (rank padded to 8 with
//   leading 1s). Each input has 8 element strides (0 on broadcast dims) and an element offset.
// Threads: strided v1 one output element per thread; strided v2 a run of RUN elements along
//   the innermost dim (dims collapsed on the host first); contig, fill and axpby 4 consecutive
//   elements per thread (scalar loads: on lavapipe a vec4 load costs as much as four scalar
//   ones, measured with a vec4 variant of the contig entries: no gain, not kept). Workgroups
//   of WG threads on a 2-D grid (x * y), since 65535 groups in x cap 1-D at 16.7 M.
// Traffic: 8 (unary) or 12 (binary) bytes per output element; ~1 FLOP each: memory bound.
// The op is an override constant, so every op is its own specialised pipeline (no switch
// at run time) while one pipeline per op serves every shape.
//
// `npx medivlad bench elementwise` times v2 against v1 in one run (lavapipe, 2 CPUs):
// | version        | idea                                   | measured | adapter | commit |
// |----------------|----------------------------------------|----------|---------|--------|
// | *_strided (v1) | index decomposition over 8 dims, 1 element per thread | patchify (16,3,64,64) 2.64 ms, transpose 1001² 14.9 ms | lavapipe | 7b3ad5a |
// | *_strided_v2   | collapsed dims, reciprocal division, constant uniform indices, runs of 8 | 0.58 ms (4.6x), 3.09 ms (4.8x) | lavapipe | (this) |
// | *_contig       | dense inputs, 4 scalar elements per thread | add (1040,512) 1.3-1.7 ms, 3.7-4.9 GB/s | lavapipe | (this) |
// | axpby_inplace  | 1 element per thread (retired)         | 1.92 GB/s | lavapipe | 339a071 |
// | axpby_inplace  | 4 elements per thread                  | 3.61 GB/s | lavapipe | 7b3ad5a |
// | fill           | 1 element per thread (retired)         | (826496) 4.2-4.8 ms | lavapipe | 7b3ad5a |
// | fill           | 4 elements per thread                  | 1.5-1.6 ms (~2.9x) | lavapipe | (this) |
//
// Also here, since they are the same index arithmetic: copy_strided (any strided view into
// any strided destination: concat, stack, slice assignment), gather (index_select) and its
// backward gather_add, fill, and the in-place axpby_inplace (grad accumulation, EMA).

override OP: u32 = 0u;
override WG: u32 = 256u;
override FASTDIV: bool = true; // strided v2: thread count < 2^24 (src/kernels/strided.ts)
override RUN: u32 = 8u;          // strided v2: elements per thread along the innermost dim, set by
                                 // src/kernels/strided.ts (8 measured 1.0-1.8x faster than 4 there)

struct Params {
  n: u32,          // output elements
  a_off: u32,      // element offset of input a (strided entries)
  b_off: u32,      // element offset of input b
  rank: u32,       // strided v2: dims left after collapsing (the last `rank` of the 8)
  alpha: f32,
  beta: f32,
  chunks: u32,     // strided v2: runs per innermost row, ceil(d7 / RUN)
  rchunks: f32,    // fl(1 / chunks)
  shape_lo: vec4<u32>, // output dims 0..3 (rank padded to 8 at the front)
  shape_hi: vec4<u32>, // output dims 4..7
  as_lo: vec4<u32>,    // a strides
  as_hi: vec4<u32>,
  bs_lo: vec4<u32>,    // b strides (unused by unary)
  bs_hi: vec4<u32>,
  rinv_lo: vec4<f32>,  // strided v2: fl(1 / d) per output dim, for udiv
  rinv_hi: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// erfc(z) with relative error below 1.2e-7 for all z (a Chebyshev fit of
// erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), z >= 0; reflected for z < 0).
// Using erfc keeps gelu accurate in the negative tail, where 1 + erf(x) cancels.
fn erfc_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(poly);
  return select(2.0 - r, r, x >= 0.0);
}

// tanh from exp(-2|x|): never overflows (WGSL's tanh may return NaN past |x| ~ 44 on some drivers).
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// pow that follows C's pow for negative bases with integer exponents.
fn pow_(x: f32, e: f32) -> f32 {
  if (x >= 0.0) { return pow(x, e); }
  // NaN, as in C. (A literal NaN is rejected by WGSL's constant evaluation, so the bit
  // pattern is built from a runtime value.)
  if (e != floor(e)) { return bitcast<f32>(0x7fc00000u | (u32(abs(e)) & 0u)); }
  let m = pow(-x, e);
  return select(m, -m, (i32(e) & 1) == 1);
}

fn unary(x: f32) -> f32 {
  switch OP {
    case 0u: { return -x; }
    case 1u: { return exp(x); }
    case 2u: { return log(x); }
    case 3u: { return tanh_(x); }
    case 4u: { return 0.5 * x * erfc_(-x * 0.70710678118654752); }
    case 5u: { return sqrt(x); }
    case 6u: { return inverseSqrt(x); }
    case 7u: { return abs(x); }
    case 8u: { return max(x, 0.0); }
    case 9u: { return 1.0 / (1.0 + exp(-x)); }
    case 10u: { return 1.0 / x; }
    case 11u: { return x * x; }
    case 12u: { return x + p.alpha; }
    case 13u: { return x * p.alpha; }
    case 14u: { return pow_(x, p.alpha); }
    case 15u: { return clamp(x, p.alpha, p.beta); }
    default: { return x; }
  }
}

fn binary(u: f32, v: f32) -> f32 {
  switch OP {
    case 0u: { return u + v; }
    case 1u: { return u - v; }
    case 2u: { return u * v; }
    case 3u: { return u / v; }
    case 4u: { return max(u, v); }
    case 5u: { return min(u, v); }
    case 6u: { return pow_(u, v); }
    case 7u: { return select(0.0, 1.0, u < v); }
    case 8u: { return select(0.0, 1.0, u <= v); }
    case 9u: { return select(0.0, 1.0, u > v); }
    case 10u: { return select(0.0, 1.0, u >= v); }
    case 11u: { return select(0.0, 1.0, u == v); }
    case 12u: { return select(0.0, 1.0, u != v); }
    case 13u: { return p.alpha * u + p.beta * v; }
    // Backward rules as binary maps of (saved value, upstream gradient g = v):
    case 14u: { // d gelu(x)/dx * g = (Phi(x) + x phi(x)) g, with u = x
      let cdf = 0.5 * erfc_(-u * 0.70710678118654752);
      let pdf = 0.39894228040143268 * exp(-0.5 * u * u);
      return (cdf + u * pdf) * v;
    }
    case 15u: { return (1.0 - u * u) * v; }  // tanh, u = y
    case 16u: { return u * (1.0 - u) * v; }  // sigmoid, u = y
    default: { return select(0.0, v, u > 0.0); } // relu, u = x
  }
}

fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Element offset of output index i in an input with strides (s_lo, s_hi) and offset off.
fn strided_index(i: u32, s_lo: vec4<u32>, s_hi: vec4<u32>, off: u32) -> u32 {
  var rem = i;
  var at = off;
  for (var d = 7; d >= 0; d--) {
    let dim = select(p.shape_lo[d & 3], p.shape_hi[d & 3], d >= 4);
    let st = select(s_lo[d & 3], s_hi[d & 3], d >= 4);
    at += (rem % dim) * st;
    rem /= dim;
  }
  return at;
}

@compute @workgroup_size(WG)
fn unary_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  y[i] = unary(a[strided_index(i, p.as_lo, p.as_hi, p.a_off)]);
}

@compute @workgroup_size(WG)
fn binary_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                  @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let u = a[strided_index(i, p.as_lo, p.as_hi, p.a_off)];
  let v = b[strided_index(i, p.bs_lo, p.bs_hi, p.b_off)];
  y[i] = binary(u, v);
}

// ---- strided v2 (src/kernels/strided.ts): the host collapsed the dims (rank of them, at the
// end of the 8) and passes fl(1/d) per dim. Thread t owns the run of up to RUN elements
// starting at column RUN·(t mod chunks) of innermost row t / chunks. Uniforms are indexed by
// constants only (coord's d is a literal at every call, so NIR folds d & 3 and the selects):
// on lavapipe a load at a dynamic address is a loop over the SIMD lanes.

// ⌊x / d⌋ given r = fl(1/d): the product is within one of it while x < 2^24 (FASTDIV, checked by
// the host), and the remainder's sign and size say which way to correct.
fn udiv(x: u32, d: u32, r: f32) -> u32 {
  if (!FASTDIV) { return x / d; }
  var q = u32(f32(x) * r);
  let rem = i32(x) - i32(q * d);
  q = select(q, q - 1u, rem < 0);
  q = select(q, q + 1u, rem >= i32(d));
  return q;
}

// Peel the coordinate of dim d (a literal) off *rem and add it to the offsets (a, b).
fn coord(d: u32, rem: ptr<function, u32>, at: ptr<function, vec2<u32>>) {
  let dim = select(p.shape_lo[d & 3u], p.shape_hi[d & 3u], d >= 4u);
  let r = select(p.rinv_lo[d & 3u], p.rinv_hi[d & 3u], d >= 4u);
  let sa = select(p.as_lo[d & 3u], p.as_hi[d & 3u], d >= 4u);
  let sb = select(p.bs_lo[d & 3u], p.bs_hi[d & 3u], d >= 4u);
  let q = udiv(*rem, dim, r);
  let x = *rem - q * dim;
  *at += x * vec2<u32>(sa, sb);
  *rem = q;
}

// Start of thread t's run: (a offset, b offset, output index, length); length 0 past the end.
fn run_start(t: u32) -> vec4<u32> {
  let row = udiv(t, p.chunks, p.rchunks);
  let c0 = RUN * (t - row * p.chunks);
  let inner = p.shape_hi.w;
  if (row * inner >= p.n) { return vec4<u32>(0u); }
  var at = vec2<u32>(p.a_off, p.b_off) + c0 * vec2<u32>(p.as_hi.w, p.bs_hi.w);
  var rem = row;
  // Dims 6 .. 8 - rank, innermost first; the outermost takes the whole rest (no division).
  if (p.rank > 2u) { coord(6u, &rem, &at); }
  if (p.rank > 3u) { coord(5u, &rem, &at); }
  if (p.rank > 4u) { coord(4u, &rem, &at); }
  if (p.rank > 5u) { coord(3u, &rem, &at); }
  if (p.rank > 6u) { coord(2u, &rem, &at); }
  if (p.rank > 7u) { coord(1u, &rem, &at); }
  if (p.rank > 1u) {
    let top = 8u - p.rank;  // dynamic, but one access per run
    at += rem * vec2<u32>(select(p.as_lo[top & 3u], p.as_hi[top & 3u], top >= 4u), select(p.bs_lo[top & 3u], p.bs_hi[top & 3u], top >= 4u));
  }
  return vec4<u32>(at, row * inner + c0, min(RUN, inner - c0));
}

@compute @workgroup_size(WG)
fn unary_strided_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = run_start(linear_id(wid, lid, nwg));
  let sa = p.as_hi.w;
  if (r.w == RUN) {
    for (var k = 0u; k < RUN; k++) { y[r.z + k] = unary(a[r.x + k * sa]); }
  } else {
    for (var k = 0u; k < r.w; k++) { y[r.z + k] = unary(a[r.x + k * sa]); }
  }
}

@compute @workgroup_size(WG)
fn binary_strided_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                     @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = run_start(linear_id(wid, lid, nwg));
  let sa = p.as_hi.w;
  let sb = p.bs_hi.w;
  if (r.w == RUN) {
    for (var k = 0u; k < RUN; k++) { y[r.z + k] = binary(a[r.x + k * sa], b[r.y + k * sb]); }
  } else {
    for (var k = 0u; k < r.w; k++) { y[r.z + k] = binary(a[r.x + k * sa], b[r.y + k * sb]); }
  }
}

// copy_strided in v2: b's strides and offset are the destination window's.
@compute @workgroup_size(WG)
fn copy_strided_v2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = run_start(linear_id(wid, lid, nwg));
  let sa = p.as_hi.w;
  let sb = p.bs_hi.w;
  if (r.w == RUN) {
    for (var k = 0u; k < RUN; k++) { y[r.y + k * sb] = a[r.x + k * sa]; }
  } else {
    for (var k = 0u; k < r.w; k++) { y[r.y + k * sb] = a[r.x + k * sa]; }
  }
}

// Dense inputs (row-major from a_off / b_off: a slice or a parameter in its bucket qualifies)
// and dense output: 4 consecutive elements per thread; the tail (n % 4) is handled by
// the last thread one element at a time.
@compute @workgroup_size(WG)
fn unary_contig(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = linear_id(wid, lid, nwg) * 4u;
  if (base >= p.n) { return; }
  let m = min(4u, p.n - base);
  for (var k = 0u; k < m; k++) { y[base + k] = unary(a[p.a_off + base + k]); }
}

@compute @workgroup_size(WG)
fn binary_contig(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = linear_id(wid, lid, nwg) * 4u;
  if (base >= p.n) { return; }
  let m = min(4u, p.n - base);
  for (var k = 0u; k < m; k++) { y[base + k] = binary(a[p.a_off + base + k], b[p.b_off + base + k]); }
}

// y[strided(i; bs, b_off)] = a[strided(i; as, a_off)] for the i-th element of the shape:
// a strided view copied into a strided window of y (concat, stack, slice assignment).
@compute @workgroup_size(WG)
fn copy_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  y[strided_index(i, p.bs_lo, p.bs_hi, p.b_off)] = a[strided_index(i, p.as_lo, p.as_hi, p.a_off)];
}

// index_select along one dim: a is dense (outer, dim, inner) with shape_lo = (outer, n_idx, inner, dim),
// b holds the indices as u32 bit patterns, y is dense (outer, n_idx, inner), n_idx = shape_lo.y.
@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let n_idx = p.shape_lo.y;
  let inner = p.shape_lo.z;
  let dim = p.shape_lo.w;
  let c = i % inner;
  let j = (i / inner) % n_idx;
  let o = i / (inner * n_idx);
  let src = bitcast<u32>(b[j]);
  // Out-of-range indices were rejected on the host; clamp anyway so a bad buffer cannot read
  // outside the tensor.
  y[i] = a[(o * dim + min(src, dim - 1u)) * inner + c];
}

// y[i] = alpha: zeros, ones, gradient reset. 4 elements per thread.
@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = linear_id(wid, lid, nwg) * 4u;  // 4 per thread, as axpby_inplace
  if (base >= p.n) { return; }
  let m = min(4u, p.n - base);
  for (var k = 0u; k < m; k++) { y[p.b_off + base + k] = p.alpha; }
}

// In place y = beta * y + alpha * a, over a dense window of y starting at b_off and a dense a
// starting at a_off: gradient accumulation (1, 1) and the teacher EMA (m, 1 - m).
// 4 consecutive elements per thread: on lavapipe each thread's loads are a loop over the SIMD
// lanes, so fewer, longer threads amortise that (EMA over 21.7 M parameters ~4x faster there).
@compute @workgroup_size(WG)
fn axpby_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let base = linear_id(wid, lid, nwg) * 4u;
  if (base >= p.n) { return; }
  let m = min(4u, p.n - base);
  for (var k = 0u; k < m; k++) {
    let j = p.b_off + base + k;
    y[j] = p.beta * y[j] + p.alpha * a[p.a_off + base + k];
  }
}

// Backward of gather: dx[o, d, c] = sum over j with idx[j] == d of g[o, j, c]. One thread per
// element of dx loops over the indices, so repeated indices add up without atomics and the
// sum order is fixed (deterministic). a = g (outer, n_idx, inner), b = indices, y = dx.
@compute @workgroup_size(WG)
fn gather_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                   @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  let n_idx = p.shape_lo.y;
  let inner = p.shape_lo.z;
  let dim = p.shape_lo.w;
  let c = i % inner;
  let d = (i / inner) % dim;
  let o = i / (inner * dim);
  var acc = 0.0;
  for (var j = 0u; j < n_idx; j++) {
    if (bitcast<u32>(b[j]) == d) { acc += a[(o * n_idx + j) * inner + c]; }
  }
  y[i] = acc;
}

// Sum a dense tensor g of shape F (bs_lo/hi, padded to 8) down to a broadcast-compatible
// shape T (shape_lo/hi; T_d is F_d or 1): y[t] = sum of g over the dims where T_d = 1 < F_d.
// g's strides are as_lo/hi. Used for the gradient of a broadcast input. One thread per output
// element, reduced serially in a fixed order (deterministic).
@compute @workgroup_size(WG)
fn sum_to(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= p.n) { return; }
  var base = 0u;
  var rem = i;
  var count = 1u;
  for (var d = 7; d >= 0; d--) {
    let t = select(p.shape_lo[d & 3], p.shape_hi[d & 3], d >= 4);
    let f = select(p.bs_lo[d & 3], p.bs_hi[d & 3], d >= 4);
    let st = select(p.as_lo[d & 3], p.as_hi[d & 3], d >= 4);
    base += (rem % t) * st;
    rem /= t;
    if (t == 1u) { count *= f; }
  }
  var acc = 0.0;
  for (var r = 0u; r < count; r++) {
    var at = base;
    var q = r;
    for (var d = 7; d >= 0; d--) {
      let t = select(p.shape_lo[d & 3], p.shape_hi[d & 3], d >= 4);
      if (t == 1u) {
        let f = select(p.bs_lo[d & 3], p.bs_hi[d & 3], d >= 4);
        let st = select(p.as_lo[d & 3], p.as_hi[d & 3], d >= 4);
        at += (q % f) * st;
        q /= f;
      }
    }
    acc += a[at];
  }
  y[i] = acc;
}
