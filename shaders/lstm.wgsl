// lstm: the elementwise part of one step of the Bi-LSTM recurrence, fused, forward and backward
// (src/kernels/lstm.ts; the autograd op that runs the recurrence is src/autograd/ops/lstm.ts).
// A dispatch is one step t of both directions: rows r = d·B + b (d = 0 forward, 1 backward),
// one invocation per (row, hidden unit j). The products with W_hh are matmuls between steps.
//
// Math (torch.nn.LSTM, gates in torch's order i, f, g, o; xw = W_ih x_t + b_ih + b_hh):
//   z = xw_t + h_{t-1} W_hh^T                         (h_0 = c_0 = 0: no product at t = 0)
//   i, f, o = σ(z_i, z_f, z_o);  g = tanh(z_g);  c_t = f c_{t-1} + i g;  h_t = o tanh(c_t)
// Backward, from dh_t (the output's gradient at the last step, else dz_{t+1} W_hh) and dc_t
// (0 at the last step):
//   τ = tanh(c_t);  dc = dc_t + dh_t o (1 - τ²);  dz_o = dh_t τ o (1 - o)
//   dz_i = dc g i (1 - i);  dz_f = dc c_{t-1} f (1 - f);  dz_g = dc i (1 - g²);  dc_{t-1} = dc f
// Layouts (floats): xw and dxw (2, S, B, 4H), direction-major: the input projection's layout,
//   so dxw is its gradient as it is; gates (S, 2, B, 4H) after the nonlinearities (the
//   backward needs i, f, g, o, not z), cs and hs (S, 2, B, H) time-major, so that h_t is one
//   dense (2, B, H) block for the next step's product; hw, dz (2, B, 4H) and dh, dc, dc_prev
//   (2, B, H) dense, one step.
// Work per step: 2·B·H invocations, ~30 FLOPs and 3 exp each; ~10 floats read and written per
// invocation. It replaces about eight elementwise launches forward (sigmoid, tanh, slices,
// products, sums) and three times that backward; on a software adapter each launch costs more
// than its arithmetic at these sizes (B = 8, H = 128: 2048 invocations).
// Measured (`bench lstm --repeat 7 --save` at d5d032e, lavapipe, idle; the whole Bi-LSTM, S 15,
// B 8): forward + backward 28.5 ms against 93.2 ms composed at D = H = 128 (paired 3.04x),
// 142 against 384 ms at D = H = 384 (paired 2.24x); bench/README.md.

struct Params {
  b: u32,  // videos B
  s: u32,  // steps S
  h: u32,  // hidden H
  t: u32,  // this step
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xw: array<f32>;
@group(0) @binding(2) var<storage, read> hw: array<f32>;            // h_{t-1} W_hh^T (2, B, 4H); unread at t = 0
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
@group(0) @binding(4) var<storage, read_write> cs: array<f32>;
@group(0) @binding(5) var<storage, read_write> hs: array<f32>;
@group(0) @binding(6) var<storage, read> dh: array<f32>;            // dL/dh_t (2, B, H)
@group(0) @binding(7) var<storage, read> dc: array<f32>;            // dL/dc_t (2, B, H); unread at t = S - 1
@group(0) @binding(8) var<storage, read_write> dxw: array<f32>;     // dL/dz (2, S, B, 4H)
@group(0) @binding(9) var<storage, read_write> dz: array<f32>;      // dL/dz_t (2, B, 4H), for dh_{t-1}
@group(0) @binding(10) var<storage, read_write> dc_prev: array<f32>; // dL/dc_{t-1} (2, B, H)

override WG: u32 = 64u;

fn sigmoid_(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

// tanh from exp(-2|x|): never overflows (as elementwise.wgsl's tanh_).
fn tanh_(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// Element (row r, column col) of step t: in xw / dxw (direction-major, rows r = d·B + b), and in
// gates / cs / hs (time-major) with a row width w.
fn dir_major(r: u32, col: u32, w: u32) -> u32 {
  let d = r / p.b;
  return ((d * p.s + p.t) * p.b + (r - d * p.b)) * w + col;
}
fn time_major(t: u32, r: u32, col: u32, w: u32) -> u32 { return (t * 2u * p.b + r) * w + col; }

@compute @workgroup_size(WG)
fn lstm_cell_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= 2u * p.b * p.h) { return; }
  let r = e / p.h;
  let j = e - r * p.h;
  let H = p.h;
  var z = vec4<f32>(xw[dir_major(r, j, 4u * H)], xw[dir_major(r, H + j, 4u * H)],
                    xw[dir_major(r, 2u * H + j, 4u * H)], xw[dir_major(r, 3u * H + j, 4u * H)]);
  var c_prev = 0.0;
  if (p.t > 0u) {
    let hb = r * 4u * H + j;
    z += vec4<f32>(hw[hb], hw[hb + H], hw[hb + 2u * H], hw[hb + 3u * H]);
    c_prev = cs[time_major(p.t - 1u, r, j, H)];
  }
  let i = sigmoid_(z.x);
  let f = sigmoid_(z.y);
  let g = tanh_(z.z);
  let o = sigmoid_(z.w);
  let c = f * c_prev + i * g;
  let gb = time_major(p.t, r, j, 4u * H);
  gates[gb] = i;
  gates[gb + H] = f;
  gates[gb + 2u * H] = g;
  gates[gb + 3u * H] = o;
  cs[time_major(p.t, r, j, H)] = c;
  hs[time_major(p.t, r, j, H)] = o * tanh_(c);
}

@compute @workgroup_size(WG)
fn lstm_cell_backward(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= 2u * p.b * p.h) { return; }
  let r = e / p.h;
  let j = e - r * p.h;
  let H = p.h;
  let gb = time_major(p.t, r, j, 4u * H);
  let i = gates[gb];
  let f = gates[gb + H];
  let g = gates[gb + 2u * H];
  let o = gates[gb + 3u * H];
  let c = cs[time_major(p.t, r, j, H)];
  var c_prev = 0.0;
  if (p.t > 0u) { c_prev = cs[time_major(p.t - 1u, r, j, H)]; }
  let dht = dh[e];
  var dct = 0.0;
  if (p.t + 1u < p.s) { dct = dc[e]; }
  let tc = tanh_(c);
  let dcs = dct + dht * o * (1.0 - tc * tc);
  let d = vec4<f32>(dcs * g * i * (1.0 - i), dcs * c_prev * f * (1.0 - f), dcs * i * (1.0 - g * g), dht * tc * o * (1.0 - o));
  dxw[dir_major(r, j, 4u * H)] = d.x;
  dxw[dir_major(r, H + j, 4u * H)] = d.y;
  dxw[dir_major(r, 2u * H + j, 4u * H)] = d.z;
  dxw[dir_major(r, 3u * H + j, 4u * H)] = d.w;
  let zb = r * 4u * H + j;
  dz[zb] = d.x;
  dz[zb + H] = d.y;
  dz[zb + 2u * H] = d.z;
  dz[zb + 3u * H] = d.w;
  dc_prev[e] = dcs * f;
}
