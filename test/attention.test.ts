// Fused attention (shaders/attention.wgsl) vs the float64 reference (test/reference/attention.ts).
// The reference backward is checked by finite differences first; then every kernel version,
// odd N (1, 3, 17, 100; the subgroup versions also 67, 145, 161: several row and key blocks
// with tails) and the ViT N (65, 145, 785), Dh in {8, 16, 64}, the packed qkv layout, chunked
// launches (the one-pass backward's dQ accumulator included), attention maps, and the
// autograd ops.
import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { getRuntime } from '../src/kernels/current.js';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/close.js';
import { randomArray } from './helpers/random.js';
import { refGradFD, gpuGrads, toF64 } from './helpers/gradcheck.js';
import { Tensor } from '../src/autograd/tensor.js';
import {
  attentionForward, attentionForwardPacked, attentionBackward, attentionBackwardPacked, attentionProbs, attentionProbsPacked,
  FORWARD_VERSIONS, BACKWARD_VERSIONS, attentionSubgroupSize, attentionSource, isOnePass, type AttentionOpts,
  tuneAttention, planAttention, defaultPlan, attentionShapeClass,
} from '../src/kernels/attention.js';
import { autotunerFor } from '../src/kernels/autotune.js';
import { initNode } from '../src/node/index.js';
import { nodeTuneStore } from '../src/node/autotune-store.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attention, attentionPacked, attentionMaps } from '../src/autograd/ops/attention.js';
import {
  attentionForwardRef, attentionBackwardRef, attentionProbsRef, unpackQkvRef, headsToTokensRef, tokensToHeadsRef, packQkvRef,
} from './reference/attention.js';
import type { Runtime } from '../src/kernels/runtime.js';
import { reflectShader } from '../src/kernels/shader-reflection.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await gpu();
  rt.poison = true;
});
afterAll(() => {
  rt.poison = false;
});

const REL = 1e-4;

interface Case {
  B: number;
  H: number;
  N: number;
  d: number;
}

const label = (c: Case) => `B ${c.B} H ${c.H} N ${c.N} Dh ${c.d}`;

function inputs(c: Case, seed: number): Float32Array[] {
  const n = c.B * c.H * c.N * c.d;
  return [0, 1, 2, 3].map((i) => randomArray(n, seed * 10 + i)); // q, k, v, dO
}

async function checkDense(c: Case, opts: AttentionOpts, seed: number, backward = true): Promise<void> {
  const { B, H, N, d } = c;
  const shape = [B, H, N, d];
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const [qa, ka, va, ga] = inputs(c, seed);
  const [q, k, v, g] = [qa, ka, va, ga].map((a) => Tensor.fromArray(a, shape));
  const ref = attentionForwardRef(qa, ka, va, B * H, N, d, scale);
  const { o, lse } = attentionForward(q, k, v, opts);
  const tag = `${label(c)} ${JSON.stringify(opts)}`;
  expectClose(await o.toArray(), ref.o, { rel: REL, what: `O ${tag}` });
  expectClose(await lse.toArray(), ref.lse, { rel: REL, what: `L ${tag}` });
  if (backward) {
    const want = attentionBackwardRef(qa, ka, va, ga, B * H, N, d, scale);
    const got = attentionBackward(q, k, v, o, lse, g, opts);
    // With N = 1 the softmax is constant, so dQ and dK are exactly 0 and a relative bound
    // means nothing: the kernels' dP - D then cancels to rounding (1e-8), held to 1e-6.
    const zero = N === 1 ? { atol: 1e-6 } : {};
    expectClose(await got.dq!.toArray(), want.dq, { rel: REL, what: `dQ ${tag}`, ...zero });
    expectClose(await got.dk!.toArray(), want.dk, { rel: REL, what: `dK ${tag}`, ...zero });
    expectClose(await got.dv!.toArray(), want.dv, { rel: REL, what: `dV ${tag}` });
    for (const t of [got.dq, got.dk, got.dv]) t!.dispose();
  }
  for (const t of [q, k, v, g, o, lse]) t.dispose();
}

describe('attention reference', () => {
  it('analytic backward matches central differences of the forward', () => {
    const B = 2, N = 5, d = 3, scale = 0.7;
    const [q, k, v] = [1, 2, 3].map((s) => toF64(randomArray(B * N * d, s)));
    const w = randomArray(B * N * d, 4);
    const fd = refGradFD((xs) => attentionForwardRef(xs[0], xs[1], xs[2], B, N, d, scale).o, [q, k, v], w);
    const an = attentionBackwardRef(q, k, v, w, B, N, d, scale);
    expectClose(an.dq, fd[0], { rel: 1e-7, what: 'dQ' });
    expectClose(an.dk, fd[1], { rel: 1e-7, what: 'dK' });
    expectClose(an.dv, fd[2], { rel: 1e-7, what: 'dV' });
  });
});

// Pipelines dominate this file's time on lavapipe (it compiles each on first use, 0.3-5 s):
// every version runs at Dh = 64 with odd N; the planned versions also at Dh = 8 and 16.
describe('fused attention vs float64 reference (dense (B, H, N, Dh))', () => {
  const oddN: Case[] = [
    { B: 1, H: 1, N: 1, d: 64 },
    { B: 1, H: 2, N: 3, d: 64 },
    { B: 2, H: 1, N: 17, d: 64 },
    { B: 1, H: 2, N: 100, d: 64 },
  ];
  // The subgroup versions (forward v4, backward v3) run where subgroups are 4 or 8 wide
  // (lavapipe); elsewhere (NVIDIA: 32) the launcher must refuse them with a clear error.
  const refusesSubgroups = (subgroupVersion: boolean) => subgroupVersion && attentionSubgroupSize(getRuntime()) === null;
  for (const fwd of FORWARD_VERSIONS) {
    it(`forward v${fwd}, odd N`, async () => {
      if (refusesSubgroups(fwd >= 4 && fwd <= 6)) {
        await expect(checkDense(oddN[1], { fwd }, 100, false)).rejects.toThrow(/subgroups of a fixed size/);
        return;
      }
      for (const [i, c] of oddN.entries()) await checkDense(c, { fwd }, 100 + i, false);
      // Blocks and tiles off the defaults, and a scale off Dh^-0.5.
      if (fwd === 2 || fwd === 3) await checkDense({ B: 1, H: 1, N: 33, d: 64 }, { fwd, wg: 16, kb: 4, tk: 8, scale: 0.9 }, 7, false);
      // The subgroup versions: several row blocks with a tail, several heads, Dh = 16.
      if (fwd >= 4) {
        await checkDense({ B: 1, H: 3, N: 145, d: 64 }, { fwd, scale: 0.3 }, 13, false);
        // v7 takes any Dh up to 64 (its tiles are zero-padded): one not a multiple of 4.
        if (fwd === 7) await checkDense({ B: 2, H: 1, N: 33, d: 6 }, { fwd }, 19, false);
        await checkDense({ B: 2, H: 1, N: 161, d: 16 }, { fwd }, 14, false);
        // Dh = 12 and 4: a multiple of 4 but not of 8, and the smallest.
        await checkDense({ B: 1, H: 2, N: 37, d: 12 }, { fwd }, 17, false);
        await checkDense({ B: 1, H: 1, N: 70, d: 4 }, { fwd }, 18, false);
      }
    });
  }
  for (const ver of BACKWARD_VERSIONS) {
    it(`backward v${ver} (dK/dV and dQ), odd N`, async () => {
      if (refusesSubgroups(ver >= 3 && ver <= 6)) {
        await expect(checkDense(oddN[1], { fwd: 1, dkdv: ver, dq: ver }, 200, true)).rejects.toThrow(/subgroups of a fixed size/);
        return;
      }
      for (const [i, c] of oddN.entries()) await checkDense(c, { fwd: 1, dkdv: ver, dq: ver }, 200 + i, true);
      if (ver === 2) await checkDense({ B: 1, H: 1, N: 33, d: 64 }, { fwd: 1, dkdv: ver, dq: ver, wg: 16, kb: 3, scale: 0.9 }, 8, true);
      // The subgroup versions: several key blocks of 32 with a tail (v4 sums dQ over them),
      // several heads, a scale off Dh^-0.5.
      if (ver >= 3) {
        const fwd = ver === 7 ? 7 : 4;
        await checkDense({ B: 1, H: 3, N: 67, d: 64 }, { fwd, dkdv: ver, dq: ver, scale: 0.3 }, 9, true);
        await checkDense({ B: 2, H: 1, N: 161, d: 64 }, { fwd, dkdv: ver, dq: ver }, 10, true);
      }
      // v7: Dh below 64 and not a multiple of 4 (zero-padded tiles, columns past Dh not stored).
      if (ver === 7) {
        await checkDense({ B: 1, H: 2, N: 45, d: 16 }, { fwd: 7, dkdv: 7, dq: 7 }, 20, true);
        await checkDense({ B: 2, H: 1, N: 19, d: 6 }, { fwd: 7, dkdv: 7, dq: 7 }, 21, true);
      }
    });
  }
  it('backward v4..v6: only dQ, or only dK and dV, asked for', async () => {
    if (attentionSubgroupSize(getRuntime()) !== 8) return; // v4..v6 need subgroups of 8 (refusal tested below)
    const c = { B: 1, H: 2, N: 45, d: 64 };
    const shape = [c.B, c.H, c.N, c.d];
    const scale = 1 / 8;
    const [qa, ka, va, ga] = inputs(c, 11);
    const [q, k, v, g] = [qa, ka, va, ga].map((a) => Tensor.fromArray(a, shape));
    const want = attentionBackwardRef(qa, ka, va, ga, c.B * c.H, c.N, c.d, scale);
    const { o, lse } = attentionForward(q, k, v);
    for (const ver of [4, 5, 6] as const) {
    const opts = { dkdv: ver, dq: ver };
    const onlyQ = attentionBackward(q, k, v, o, lse, g, opts, { q: true, kv: false });
    expect(onlyQ.dk).toBeNull();
    expectClose(await onlyQ.dq!.toArray(), want.dq, { rel: REL, what: `dQ alone (v${ver})` });
    const onlyKV = attentionBackward(q, k, v, o, lse, g, opts, { q: false, kv: true });
    expect(onlyKV.dq).toBeNull();
    expectClose(await onlyKV.dk!.toArray(), want.dk, { rel: REL, what: `dK without dQ (v${ver})` });
    expectClose(await onlyKV.dv!.toArray(), want.dv, { rel: REL, what: `dV without dQ (v${ver})` });
    for (const t of [onlyQ.dq, onlyKV.dk, onlyKV.dv]) t!.dispose();
    }
    for (const t of [q, k, v, g, o, lse]) t.dispose();
    // Key splits: one, and more than the key passes (capped at one split per pass).
    for (const keySplits of [1, 3, 100]) await checkDense({ B: 1, H: 2, N: 161, d: 64 }, { dkdv: 5, dq: 5, keySplits }, 15, true);
    // v6: 128 keys per pass (four blocks of 32), so N = 290 has three passes; the last (keys
    // 256..383) has two live blocks, the second holding keys 288 and 289 only (the ViT-shape test
    // below covers a last pass with one live block).
    for (const keySplits of [1, 2, 100]) await checkDense({ B: 1, H: 2, N: 290, d: 64 }, { dkdv: 6, dq: 6, keySplits }, 16, true);
    await expect(checkDense({ B: 1, H: 1, N: 9, d: 64 }, { fwd: 4, dkdv: 4, dq: 3 }, 12, true)).rejects.toThrow(/must be the same version/);
  });
  it('planned versions, Dh = 8 and 16, odd N', async () => {
    for (const [i, c] of [
      { B: 1, H: 1, N: 1, d: 8 }, { B: 1, H: 2, N: 3, d: 16 }, { B: 2, H: 1, N: 17, d: 8 }, { B: 1, H: 2, N: 100, d: 16 },
    ].entries()) {
      await checkDense(c, {}, 300 + i, true);
    }
  });
  it('ViT shapes N = 65, 145 and 785 (planned versions)', async () => {
    await checkDense({ B: 2, H: 1, N: 65, d: 64 }, {}, 310, true);
    await checkDense({ B: 1, H: 2, N: 145, d: 64 }, {}, 311, true);
    await checkDense({ B: 1, H: 1, N: 785, d: 64 }, {}, 312, true);
  });
});

describe('packed qkv (B, N, 3·H·Dh) in, (B, N, H·Dh) out', () => {
  async function checkPacked(c: Case, opts: AttentionOpts, seed: number): Promise<void> {
    const { B, H, N, d } = c;
    const scale = 1 / Math.sqrt(d);
    const qkvA = randomArray(B * N * 3 * H * d, seed);
    const gA = randomArray(B * N * H * d, seed + 1);
    const [qh, kh, vh] = unpackQkvRef(qkvA, B, N, H, d);
    const gh = tokensToHeadsRef(gA, B, N, H, d);
    const ref = attentionForwardRef(qh, kh, vh, B * H, N, d, scale);
    const bw = attentionBackwardRef(qh, kh, vh, gh, B * H, N, d, scale);
    const qkv = Tensor.fromArray(qkvA, [B, N, 3 * H * d]);
    const g = Tensor.fromArray(gA, [B, N, H * d]);
    const { o, lse } = attentionForwardPacked(qkv, H, opts);
    expect(o.shape).toEqual([B, N, H * d]);
    const tag = `${label(c)} ${JSON.stringify(opts)}`;
    expectClose(await o.toArray(), headsToTokensRef(ref.o, B, N, H, d), { rel: REL, what: `packed O ${tag}` });
    expectClose(await lse.toArray(), ref.lse, { rel: REL, what: `packed L ${tag}` });
    const dqkv = attentionBackwardPacked(qkv, o, lse, g, H, opts);
    expectClose(await dqkv.toArray(), packQkvRef([bw.dq, bw.dk, bw.dv], B, N, H, d), { rel: REL, what: `packed dQKV ${tag}` });
    for (const t of [qkv, g, o, lse, dqkv]) t.dispose();
  }

  it('forward and backward, every version', async () => {
    await checkPacked({ B: 2, H: 3, N: 17, d: 16 }, {}, 400);
    for (const ver of BACKWARD_VERSIONS) {
      if (ver >= 3 && ver <= 6 && attentionSubgroupSize(getRuntime()) === null) continue; // covered by the refusal tests above
      await checkPacked({ B: 1, H: 2, N: 10, d: 64 }, { fwd: ver === 7 ? 7 : ver >= 3 ? 4 : ver, dkdv: ver, dq: ver }, 410 + ver);
    }
  });

  it('chunked launches (binding windows smaller than the tensors, unaligned starts)', async () => {
    // A 4 KiB binding limit forces one image per chunk (N·3·H·Dh·4 = 3264 bytes per image,
    // not a multiple of the 256-byte offset alignment, so windows start mid-image).
    await checkPacked({ B: 5, H: 2, N: 17, d: 8 }, { maxBindingBytes: 4096 }, 420);
    // Dh = 6: not a multiple of 4, so the fallback version takes the packed views.
    await checkPacked({ B: 3, H: 2, N: 9, d: 6 }, { maxBindingBytes: 2048 }, 421);
    // The tiled version over chunks (windows start mid-image: the view offsets travel as uniforms).
    await checkPacked({ B: 5, H: 2, N: 37, d: 12 }, { fwd: 7, dkdv: 7, dq: 7, maxBindingBytes: 16384 }, 423);
    // The one-pass backward over chunks: its dQ accumulator is windowed like the views.
    if (attentionSubgroupSize(getRuntime()) === 8) {
      for (const ver of [4, 5, 6] as const) await checkPacked({ B: 5, H: 2, N: 37, d: 16 }, { fwd: 5, dkdv: ver, dq: ver, maxBindingBytes: 16384 }, 422);
    }
  });
});

describe('attention autotuning', () => {
  it('tuneAttention times the eligible versions; planAttention then takes the fastest, and ignores choices it cannot run', async () => {
    const tuner = autotunerFor(rt);
    const c = { B: 1, H: 3, N: 23, d: 16 };
    const shape = [c.B, c.H, c.N, c.d];
    const [q, k, v, g] = inputs(c, 30).map((a) => Tensor.fromArray(a, shape));
    const views = [q, k, v, g];
    try {
      const r = await tuneAttention(q, k, v, g, 1);
      for (const t of [r.fwd, r.bwd]) {
        expect(Object.keys(t.ms).length).toBeGreaterThan(0);
        expect(t.ms[t.best]).toBe(Math.min(...Object.values(t.ms)));
      }
      // A software adapter with subgroups of 8 (lavapipe) times the subgroup versions and v7.
      if (attentionSubgroupSize(rt) === 8) expect(Object.keys(r.fwd.ms).sort()).toEqual(['4', '5', '6', '7']);
      const plan = planAttention(rt, c.N, c.d, views, c.B * c.H);
      expect([plan.fwd, plan.dkdv, plan.dq]).toEqual([Number(r.fwd.best), Number(r.bwd.best), Number(r.bwd.best)]);
      await checkDense(c, {}, 30, true); // the tuned plan, end to end
      // Choices that are no version, or that this device or these operands cannot run.
      const cls = attentionShapeClass(c.N, c.d, c.B * c.H);
      tuner.set('attention-fwd', cls, '99');
      tuner.set('attention-bwd', cls, 'v1');
      expect(planAttention(rt, c.N, c.d, views, c.B * c.H)).toEqual(defaultPlan(rt, c.N, c.d, views));
      tuner.set('attention-fwd', attentionShapeClass(c.N, 6, 3), '6'); // subgroup version, Dh % 4 != 0
      expect(planAttention(rt, c.N, 6, [], 3).fwd).toBe(defaultPlan(rt, c.N, 6).fwd);
      tuner.set('attention-fwd', cls, '7');
      tuner.set('attention-bwd', cls, '7');
      expect(planAttention(rt, c.N, c.d, views, c.B * c.H)).toMatchObject({ fwd: 7, dkdv: 7, dq: 7 });
    } finally {
      tuner.reset();
      for (const t of views) t.dispose();
    }
  });

  it("initNode({ tuneCache: true }) reads the adapter's disk cache: a choice there reaches planAttention", async () => {
    const tuner = autotunerFor(rt);
    const saved = process.env.MEDIVLAD_CACHE_DIR;
    const dir = mkdtempSync(join(tmpdir(), 'medivlad-tune-'));
    const cls = attentionShapeClass(40, 8, 2);
    try {
      await nodeTuneStore(rt.adapter, { dir }).save({ [tuner.key('attention-fwd', cls)]: '7', [tuner.key('attention-bwd', cls)]: '7' });
      expect(planAttention(rt, 40, 8, [], 2).fwd).not.toBe(7); // not read yet
      process.env.MEDIVLAD_CACHE_DIR = dir;
      expect(await initNode({ tuneCache: true })).toBe(rt);
      expect(planAttention(rt, 40, 8, [], 2)).toMatchObject({ fwd: 7, dkdv: 7, dq: 7 });
    } finally {
      if (saved === undefined) delete process.env.MEDIVLAD_CACHE_DIR;
      else process.env.MEDIVLAD_CACHE_DIR = saved;
      tuner.reset();
    }
  });
});

describe('attention maps', () => {
  it('P = softmax(s Q K^T) for dense and packed inputs', async () => {
    const B = 2, H = 3, N = 17, d = 16;
    const [qa, ka] = [1, 2].map((s) => randomArray(B * H * N * d, 500 + s));
    const q = Tensor.fromArray(qa, [B, H, N, d]);
    const k = Tensor.fromArray(ka, [B, H, N, d]);
    const P = attentionProbs(q, k);
    expectClose(await P.toArray(), attentionProbsRef(qa, ka, B * H, N, d, 0.25), { rel: REL, what: 'P' });
    const qkvA = randomArray(B * N * 3 * H * d, 510);
    const qkv = Tensor.fromArray(qkvA, [B, N, 3 * H * d]);
    const [qh, kh] = unpackQkvRef(qkvA, B, N, H, d);
    const Pp = attentionProbsPacked(qkv, H);
    expectClose(await Pp.toArray(), attentionProbsRef(qh, kh, B * H, N, d, 0.25), { rel: REL, what: 'packed P' });
    const Pm = attentionMaps(qkv, H, 0.3);
    expectClose(await Pm.toArray(), attentionProbsRef(qh, kh, B * H, N, d, 0.3), { rel: REL, what: 'attentionMaps, scale 0.3' });
    for (const t of [q, k, P, qkv, Pp, Pm]) t.dispose();
  });
});

describe('autograd ops vs finite differences of the reference', () => {
  it('attention(q, k, v, scale) on (B, H, N, Dh)', async () => {
    const B = 1, H = 2, N = 5, d = 8, scale = 0.6;
    const shape = [B, H, N, d];
    const datas = [1, 2, 3].map((s) => randomArray(B * H * N * d, 600 + s));
    const w = randomArray(B * H * N * d, 604);
    const fd = refGradFD((xs) => attentionForwardRef(xs[0], xs[1], xs[2], B * H, N, d, scale).o, datas.map(toF64), w);
    const { out, grads } = await gpuGrads(([q, k, v]) => attention(q, k, v, scale), datas.map((data) => ({ data, shape })), w);
    expectClose(out, attentionForwardRef(datas[0], datas[1], datas[2], B * H, N, d, scale).o, { rel: REL, what: 'forward' });
    grads.forEach((g, i) => expectClose(g!, fd[i], { rel: REL, what: `d/d ${'qkv'[i]}` }));
  });

  it('attentionPacked(qkv, heads, scale) on (B, N, 3·H·Dh)', async () => {
    const B = 2, H = 2, N = 4, d = 3, scale = 0.8;
    const data = randomArray(B * N * 3 * H * d, 610);
    const w = randomArray(B * N * H * d, 611);
    const f = (xs: Float64Array[]) => {
      const [q, k, v] = unpackQkvRef(xs[0], B, N, H, d);
      return headsToTokensRef(attentionForwardRef(q, k, v, B * H, N, d, scale).o, B, N, H, d);
    };
    const fd = refGradFD(f, [toF64(data)], w);
    const { out, grads } = await gpuGrads(([x]) => attentionPacked(x, H, scale), [{ data, shape: [B, N, 3 * H * d] }], w);
    expectClose(out, f([toF64(data)]), { rel: REL, what: 'packed forward' });
    expectClose(grads[0]!, fd[0], { rel: REL, what: 'd/d qkv' });
  });

  it('saved tensors are freed by backward; only q gets a gradient when k, v are constants', async () => {
    const live0 = rt.counters.bytesLive;
    const shape = [1, 2, 7, 8];
    const datas = [1, 2, 3].map((s) => randomArray(2 * 7 * 8, 620 + s));
    const w = randomArray(2 * 7 * 8, 624);
    const { grads } = await gpuGrads(([q, k, v]) => attention(q, k, v), datas.map((data, i) => ({ data, shape, wantGrad: i === 0 })), w);
    expect(grads[0]).not.toBeNull();
    expect(grads[1]).toBeNull();
    expect(grads[2]).toBeNull();
    const want = attentionBackwardRef(datas[0], datas[1], datas[2], w, 2, 7, 8, 1 / Math.sqrt(8));
    expectClose(grads[0]!, want.dq, { rel: REL, what: 'dQ alone' });
    expect(rt.counters.bytesLive).toBe(live0);
  });
});

describe('attention.wgsl header', () => {
  it('its version table lists exactly the versioned entry points of the shader', () => {
    const source = attentionSource(true);
    const entries = [...reflectShader('attention', source).keys()].filter((e) => /_v\d+$/.test(e)).sort();
    const rows = [...source.matchAll(/^\/\/ \| (\w+_v\d+)\s+\|/gm)].map((m) => m[1]).sort();
    expect(rows).toEqual(entries);
    // v4 and v5 are one pass (attention_bwd_vN); v1..v3 are a dK/dV pass and a dQ pass.
    expect(entries).toEqual([
      ...FORWARD_VERSIONS.map((v) => `attention_forward_v${v}`),
      ...BACKWARD_VERSIONS.flatMap((v) => (isOnePass(v) ? [`attention_bwd_v${v}`] : [`attention_bwd_dkdv_v${v}`, `attention_bwd_dq_v${v}`])),
    ].sort());
  });
});
