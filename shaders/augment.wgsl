// augment: DINO multi-crop augmentation on the GPU, a batch of crops per launch.
//
// Math (per crop n, host-sampled parameters in prm[n * 16 ..], layout in src/kernels/augment.ts):
//   resized crop: out(i, o) = sum_r sum_q wy(i, r) wx(o', q) x(y0 + r, x0 + q) over the box
//     (x0, y0, w, h), o' = S-1-o when flipped. Weights are PyTorch/PIL's antialiased bicubic:
//     scale = w / S, centre = scale (o + 0.5), support = 2 max(scale, 1),
//     taps q in [trunc(centre - support + 0.5), trunc(centre + support + 0.5)) clipped to the box,
//     wx = k((q - centre + 0.5) / max(scale, 1)) / sum, k the Keys cubic with coefficient A.
//     Downscaling widens the filter by the factor (antialias); upscaling is plain bicubic with
//     renormalised weights at the borders.
//   colour (torchvision ColorJitter, applied only when the crop's jitter flag is set, ops in the
//     per-crop order): brightness clamp(f x), contrast clamp(f x + (1 - f) mean(gray)),
//     saturation clamp(f x + (1 - f) gray(x)), hue: RGB -> HSV, h += f (mod 1), -> RGB;
//     gray = 0.2989 r + 0.587 g + 0.114 b. For C = 1, gray = x and hue is a no-op.
//     Then RandomGrayscale (x <- gray(x) in every channel) when the flag is set.
//   blur: torchvision GaussianBlur(9, sigma): g_k = exp(-k^2 / (2 sigma^2)) / sum, k in -4..4,
//     reflect padding (x[-k] = x[k]); sigma = 0 means no blur for that crop.
//   finish: solarize (x >= 0.5 -> 1 - x) when flagged, then (x - mean_c) / std_c.
//
// Shapes: x (B, C, H, W) source images; crops n in [0, NC), each reading source image src(n);
//   t (NC, C, H, S) horizontal-pass scratch (row r = box row r, rows >= h unused);
//   y (NC, C, S, S) the crops; u (NC, C, S, S) blur scratch.
// Threads: resize_h / resize_v / blur_h / blur_v_finish: one output element per thread, 1-D
//   grid folded into x * y. colour: one workgroup per crop (the contrast mean is a reduction
//   over the whole crop), each thread owns pixels tid, tid + WG, ... in all channels.
// Traffic: resize_h reads ~4 max(scale, 1) taps per output (cached rows) and writes 4 bytes;
//   resize_v the same; colour reads and writes each element once per jitter op (<= 4, + 1 for
//   contrast's mean); blur 9 taps per output per pass. All memory/latency bound, ~10 FLOP/tap.
//
// | version  | idea                                                            | measured (bench/augment.ts, MultiCrop.generate, B 32) | adapter          | commit      |
// |----------|-----------------------------------------------------------------|--------------------------------------------------------|------------------|-------------|
// | as above | separable resize, weights on the fly; workgroup-per-crop colour | lus 224/96: 1853 ms (17 img/s); tiny 64/32: 182 ms (175 img/s) | lavapipe (2 CPU) | uncommitted |

override WG: u32 = 256u;

struct Params {
  n: u32,        // NC crops
  c: u32,        // C channels
  h: u32,        // H source height
  w: u32,        // W source width
  s: u32,        // S crop size
  finish: u32,   // colour: also solarize + normalize (no crop in this launch is blurred)
  a: f32,        // cubic coefficient A (-0.75 PyTorch's plain bicubic, -0.5 PIL / antialias)
  _pad: u32,
  mean: vec4<f32>,
  stdv: vec4<f32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> prm: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const P_SRC = 0u;
const P_X0 = 1u;
const P_Y0 = 2u;
const P_W = 3u;
const P_H = 4u;
const P_FLIP = 5u;
const P_JITTER = 6u;
const P_BRIGHT = 7u;
const P_CONTRAST = 8u;
const P_SAT = 9u;
const P_HUE = 10u;
const P_ORDER = 11u;
const P_GRAY = 12u;
const P_SOLAR = 13u;
const P_SIGMA = 14u;
const STRIDE = 16u;

fn pr(n: u32, k: u32) -> f32 {
  return prm[n * STRIDE + k];
}

fn flat_id(lid: vec3<u32>, wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// Keys cubic convolution kernel with coefficient a (support [-2, 2]).
fn cubic(t: f32, a: f32) -> f32 {
  let x = abs(t);
  if (x < 1.0) { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0; }
  if (x < 2.0) { return (((x - 5.0) * x + 8.0) * x - 4.0) * a; }
  return 0.0;
}

// sum_q k(q) v(q) / sum_q k(q) along one axis of length len (box size), for output o of s.
// src_base + q * step addresses tap q in `x` (horizontal pass) or `y` scratch (vertical pass).
struct Taps { lo: i32, hi: i32, centre: f32, inv: f32 }

fn taps(o: u32, len: u32, s: u32) -> Taps {
  let scale = f32(len) / f32(s);
  let centre = scale * (f32(o) + 0.5);
  let support = 2.0 * max(scale, 1.0);
  let lo = max(i32(centre - support + 0.5), 0);
  let hi = min(i32(centre + support + 0.5), i32(len));
  return Taps(lo, hi, centre, 1.0 / max(scale, 1.0));
}

// Pass 1: t[n, c, r, o] = horizontal resample of source row y0 + r of crop n.
@compute @workgroup_size(WG)
fn resize_h(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(lid, wid, nwg);
  if (i >= p.n * p.c * p.h * p.s) { return; }
  let o = i % p.s;
  let r = (i / p.s) % p.h;
  let c = (i / (p.s * p.h)) % p.c;
  let n = i / (p.s * p.h * p.c);
  let bh = u32(pr(n, P_H));
  if (r >= bh) { return; } // beyond the box: never read by resize_v
  let bw = u32(pr(n, P_W));
  let ox = select(o, p.s - 1u - o, pr(n, P_FLIP) != 0.0); // hflip: output column o shows o'
  let t = taps(ox, bw, p.s);
  let row = ((u32(pr(n, P_SRC)) * p.c + c) * p.h + u32(pr(n, P_Y0)) + r) * p.w + u32(pr(n, P_X0));
  var acc = 0.0;
  var tot = 0.0;
  for (var q = t.lo; q < t.hi; q++) {
    let k = cubic((f32(q) - t.centre + 0.5) * t.inv, p.a);
    acc += k * x[row + u32(q)];
    tot += k;
  }
  y[i] = select(acc, acc / tot, tot != 0.0);
}

// Pass 2: y[n, c, i, o] = vertical resample of t[n, c, :, o] (x binds the scratch t).
@compute @workgroup_size(WG)
fn resize_v(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(lid, wid, nwg);
  if (i >= p.n * p.c * p.s * p.s) { return; }
  let o = i % p.s;
  let oy = (i / p.s) % p.s;
  let nc = i / (p.s * p.s); // n * C + c
  let n = nc / p.c;
  let t = taps(oy, u32(pr(n, P_H)), p.s);
  let col = nc * p.h * p.s + o;
  var acc = 0.0;
  var tot = 0.0;
  for (var q = t.lo; q < t.hi; q++) {
    let k = cubic((f32(q) - t.centre + 0.5) * t.inv, p.a);
    acc += k * x[col + u32(q) * p.s];
    tot += k;
  }
  y[i] = select(acc, acc / tot, tot != 0.0);
}

// ---------------------------------------------------------------- colour (one workgroup per crop)

var<workgroup> red: array<f32, WG>;

fn gray3(v: vec3<f32>) -> f32 {
  return 0.2989 * v.x + 0.587 * v.y + 0.114 * v.z;
}

// torchvision's _rgb2hsv / _hsv2rgb with the hue shifted by f, mod 1.
fn hue_shift(v: vec3<f32>, f: f32) -> vec3<f32> {
  let maxc = max(v.x, max(v.y, v.z));
  let minc = min(v.x, min(v.y, v.z));
  let eqc = maxc == minc;
  let cr = maxc - minc;
  let sat = cr / select(maxc, 1.0, eqc);
  let d = select(cr, 1.0, eqc);
  let rc = (maxc - v.x) / d;
  let gc = (maxc - v.y) / d;
  let bc = (maxc - v.z) / d;
  var h = 0.0;
  if (maxc == v.x) { h = bc - gc; } else if (maxc == v.y) { h = 2.0 + rc - bc; } else { h = 4.0 + gc - rc; }
  h = fract(h / 6.0 + 1.0);
  h = fract(h + f);
  let h6 = h * 6.0;
  let fi = floor(h6);
  let fr = h6 - fi;
  let sector = u32(fi) % 6u;
  let pp = clamp(maxc * (1.0 - sat), 0.0, 1.0);
  let qq = clamp(maxc * (1.0 - sat * fr), 0.0, 1.0);
  let tt = clamp(maxc * (1.0 - sat * (1.0 - fr)), 0.0, 1.0);
  switch sector {
    case 0u: { return vec3<f32>(maxc, tt, pp); }
    case 1u: { return vec3<f32>(qq, maxc, pp); }
    case 2u: { return vec3<f32>(pp, maxc, tt); }
    case 3u: { return vec3<f32>(pp, qq, maxc); }
    case 4u: { return vec3<f32>(tt, pp, maxc); }
    default: { return vec3<f32>(maxc, pp, qq); }
  }
}

fn finish_value(n: u32, c: u32, v: f32) -> f32 {
  let sol = select(v, 1.0 - v, pr(n, P_SOLAR) != 0.0 && v >= 0.5);
  return (sol - p.mean[c]) / p.stdv[c];
}

// In place on y: jitter ops in the crop's order, grayscale, and (finish) solarize + normalize.
@compute @workgroup_size(WG)
fn colour(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let n = wid.x;
  let tid = lid.x;
  let hw = p.s * p.s;
  let base = n * p.c * hw;
  let rgb = p.c == 3u;
  let jitter = pr(n, P_JITTER) != 0.0;
  let order = u32(pr(n, P_ORDER));
  for (var k = 0u; k < 4u; k++) {
    let op = select(4u, (order >> (2u * k)) & 3u, jitter); // 4: nothing
    // Contrast blends with the mean gray of the crop *as it is now*: a workgroup reduction.
    // The barriers sit outside the branch so that control flow stays uniform.
    var part = 0.0;
    if (op == 1u) {
      for (var px = tid; px < hw; px += WG) {
        if (rgb) {
          part += gray3(vec3<f32>(y[base + px], y[base + hw + px], y[base + 2u * hw + px]));
        } else {
          part += y[base + px];
        }
      }
    }
    red[tid] = part;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
      if (tid < st) { red[tid] += red[tid + st]; }
      workgroupBarrier();
    }
    let mean = red[0] / f32(hw);
    workgroupBarrier(); // everyone has read red[0] before the next op overwrites it
    let f = pr(n, P_BRIGHT + min(op, 3u));
    for (var px = tid; px < hw && op != 4u; px += WG) {
      if (rgb) {
        var v = vec3<f32>(y[base + px], y[base + hw + px], y[base + 2u * hw + px]);
        switch op {
          case 0u: { v = clamp(f * v, vec3<f32>(0.0), vec3<f32>(1.0)); }
          case 1u: { v = clamp(f * v + (1.0 - f) * mean, vec3<f32>(0.0), vec3<f32>(1.0)); }
          case 2u: { v = clamp(f * v + (1.0 - f) * gray3(v), vec3<f32>(0.0), vec3<f32>(1.0)); }
          default: { v = hue_shift(v, f); }
        }
        y[base + px] = v.x;
        y[base + hw + px] = v.y;
        y[base + 2u * hw + px] = v.z;
      } else {
        for (var c = 0u; c < p.c; c++) {
          let v = y[base + c * hw + px];
          var r = v;
          switch op {
            case 0u: { r = clamp(f * v, 0.0, 1.0); }
            case 1u: { r = clamp(f * v + (1.0 - f) * mean, 0.0, 1.0); }
            case 2u: { r = clamp(v, 0.0, 1.0); } // blend with gray = itself
            default: { } // hue: no-op without colour
          }
          y[base + c * hw + px] = r;
        }
      }
    }
  }
  let gray = rgb && pr(n, P_GRAY) != 0.0;
  if (!gray && p.finish == 0u) { return; }
  for (var px = tid; px < hw; px += WG) {
    if (gray) {
      let g = gray3(vec3<f32>(y[base + px], y[base + hw + px], y[base + 2u * hw + px]));
      for (var c = 0u; c < 3u; c++) { y[base + c * hw + px] = g; }
    }
    if (p.finish != 0u) {
      for (var c = 0u; c < p.c; c++) { y[base + c * hw + px] = finish_value(n, c, y[base + c * hw + px]); }
    }
  }
}

// ---------------------------------------------------------------- blur (+ finish)

// The 9 normalised Gaussian weights for sigma (torchvision: x = linspace(-4, 4, 9)).
fn gauss(k: i32, sigma: f32) -> f32 {
  var tot = 0.0;
  for (var j = -4; j <= 4; j++) { tot += exp(-0.5 * f32(j * j) / (sigma * sigma)); }
  return exp(-0.5 * f32(k * k) / (sigma * sigma)) / tot;
}

fn reflect(i: i32, len: i32) -> u32 {
  var j = select(i, -i, i < 0);
  j = select(j, 2 * (len - 1) - j, j >= len);
  return u32(j);
}

// Horizontal pass: y[n, c, i, o] = sum_k g_k x[n, c, i, reflect(o + k)] (or a copy when sigma = 0).
@compute @workgroup_size(WG)
fn blur_h(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(lid, wid, nwg);
  if (i >= p.n * p.c * p.s * p.s) { return; }
  let n = i / (p.c * p.s * p.s);
  let sigma = pr(n, P_SIGMA);
  if (sigma == 0.0) { y[i] = x[i]; return; }
  let o = i32(i % p.s);
  let row = i - u32(o);
  var acc = 0.0;
  for (var k = -4; k <= 4; k++) { acc += gauss(k, sigma) * x[row + reflect(o + k, i32(p.s))]; }
  y[i] = acc;
}

// Vertical pass, then solarize and normalize: y[n, c, i, o] = finish(sum_k g_k x[n, c, reflect(i + k), o]).
@compute @workgroup_size(WG)
fn blur_v_finish(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_id(lid, wid, nwg);
  if (i >= p.n * p.c * p.s * p.s) { return; }
  let n = i / (p.c * p.s * p.s);
  let c = (i / (p.s * p.s)) % p.c;
  let sigma = pr(n, P_SIGMA);
  var v = x[i];
  if (sigma != 0.0) {
    let o = i % p.s;
    let r = i32((i / p.s) % p.s);
    let plane = i - (i % (p.s * p.s));
    v = 0.0;
    for (var k = -4; k <= 4; k++) { v += gauss(k, sigma) * x[plane + reflect(r + k, i32(p.s)) * p.s + o]; }
  }
  y[i] = finish_value(n, c, v);
}
