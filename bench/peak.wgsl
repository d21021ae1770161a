// peak: the adapter's measured ceilings, for the "fraction of peak" of every bench row.
//
// peak_fma: each thread runs ITERS rounds of 8 independent vec4 FMA chains,
//   a_j = fma(a_j, m, c)  (m = 0.999999, c = 1e-6: the values stay near 1, never denormal),
//   then writes the sum of its chains (so the compiler cannot drop the loop; iters is a uniform,
//   so it cannot fold it either). FLOP = threads * iters * 8 chains * 4 lanes * 2 (an FMA is 2).
//   8 chains hide the FMA latency (4 cycles, 2 ports on x86 = 8 in flight; on GPUs they
//   add instruction-level parallelism to the warps in flight). No memory traffic but one store.
// peak_copy: dst[i] = src[i] over n vec4s, a grid-stride loop (each thread copies every
//   `stride`-th vec4, so any buffer size fits the grid). Bytes = 32 per vec4 (16 read + 16
//   written): the streaming bandwidth a memory-bound kernel can hope for.
//
// Not a kernel the engine ships: bench/peak.ts times it once per `medivlad bench` run.

override WG: u32 = 64u;

struct Params {
  iters: u32,
  n: u32,       // vec4s to copy
  stride: u32,  // threads in the grid (copy)
  _pad: u32,
  m: f32,
  c: f32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> fma_out: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn peak_fma(@builtin(global_invocation_id) gid: vec3<u32>) {
  let seed = f32(gid.x) * 1e-7;
  var a0 = vec4<f32>(1.0 + seed, 1.1 + seed, 1.2 + seed, 1.3 + seed);
  var a1 = a0 + 0.01;
  var a2 = a0 + 0.02;
  var a3 = a0 + 0.03;
  var a4 = a0 + 0.04;
  var a5 = a0 + 0.05;
  var a6 = a0 + 0.06;
  var a7 = a0 + 0.07;
  let m = vec4<f32>(p.m);
  let c = vec4<f32>(p.c);
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
    a4 = fma(a4, m, c);
    a5 = fma(a5, m, c);
    a6 = fma(a6, m, c);
    a7 = fma(a7, m, c);
  }
  fma_out[gid.x] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

@group(0) @binding(2) var<storage, read> copy_src: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> copy_dst: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn peak_copy(@builtin(global_invocation_id) gid: vec3<u32>) {
  for (var i = gid.x; i < p.n; i += p.stride) {
    copy_dst[i] = copy_src[i];
  }
}
