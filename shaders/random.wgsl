// random: counter-based random numbers on the GPU, and the masks built from them
// (dropout, drop-path). Counter-based means the value at index i is a pure function of
// (seed, stream, i): nothing is stored, the backward pass regenerates the forward's mask,
// and results do not depend on the thread mapping.
//
// Generator: u = hash(hash(seed ^ stream * 0x9E3779B9) + i) with a 3-round multiply-xorshift
// integer hash (the "lowbias32" constants); uniform = (u >> 8) * 2^-24 in [0, 1).
// The same function in TypeScript is src/kernels/random.ts (hostUniform), tested bit-exact.
//
// Ops (each is linear in x, so forward and backward are the same launch):
//   dropout:   y_i = x_i * [u_i >= p] / (1 - p)
//   drop_path: y_{r,:} = x_{r,:} * [u_r >= p] / (1 - p), one draw per sample r (row of R elems)
// Shapes: x, y dense with N elements; drop_path rows of R elements.
// Threads: one element per thread; 8 bytes per element, memory bound.
//
// | version   | idea                      | measured | adapter | commit |
// |-----------|---------------------------|----------|---------|--------|
// | as above  | element per thread        | -        | -       | -      |

override WG: u32 = 256u;

struct Params {
  n: u32,       // N elements
  row: u32,     // R: elements per sample (drop_path)
  seed: u32,
  stream: u32,
  p: f32,       // drop probability
  lo: f32,      // uniform_fill range
  hi: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn hash32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

fn uniform01(i: u32) -> f32 {
  let key = hash32(u.seed ^ (u.stream * 0x9E3779B9u));
  return f32(hash32(key + i) >> 8u) * (1.0 / 16777216.0);
}

fn linear_id(wid: vec3<u32>, lid: u32, nwg: vec3<u32>) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn uniform_fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
                @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u.n) { return; }
  y[i] = u.lo + (u.hi - u.lo) * uniform01(i);
}

@compute @workgroup_size(WG)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u.n) { return; }
  let keep = uniform01(i) >= u.p;
  y[i] = select(0.0, x[i] / (1.0 - u.p), keep);
}

@compute @workgroup_size(WG)
fn drop_path(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(wid, lid, nwg);
  if (i >= u.n) { return; }
  let keep = uniform01(i / u.row) >= u.p;
  y[i] = select(0.0, x[i] / (1.0 - u.p), keep);
}
