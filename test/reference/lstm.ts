// float64 reference for the Bi-LSTM recurrence (shaders/lstm.wgsl, src/autograd/ops/lstm.ts):
// plain loops over directions d, steps t, rows b and units j, in torch's gate order i, f, g, o.
//   xw (2, S, B, 4H) = input projections (direction 1's frames already reversed),
//   whh (2, 4H, H); returns h_{S-1} (2, B, H), and the backward through time from its gradient.

const sig = (x: number) => 1 / (1 + Math.exp(-x));

export interface LstmRefShape {
  S: number;
  B: number;
  H: number;
}

interface Steps {
  gates: Float64Array[]; // per t: (2, B, 4H) i, f, g, o after the nonlinearities
  cs: Float64Array[]; // per t: (2, B, H)
  hs: Float64Array[]; // per t: (2, B, H)
}

function run(xw: ArrayLike<number>, whh: ArrayLike<number>, sh: LstmRefShape): Steps {
  const { S, B, H } = sh;
  const st: Steps = { gates: [], cs: [], hs: [] };
  for (let t = 0; t < S; t++) {
    const gates = new Float64Array(2 * B * 4 * H);
    const c = new Float64Array(2 * B * H);
    const h = new Float64Array(2 * B * H);
    for (let d = 0; d < 2; d++) {
      for (let b = 0; b < B; b++) {
        const r = d * B + b;
        for (let j = 0; j < H; j++) {
          const z = [0, 1, 2, 3].map((q) => {
            let v = xw[((d * S + t) * B + b) * 4 * H + q * H + j];
            if (t > 0) for (let k = 0; k < H; k++) v += st.hs[t - 1][r * H + k] * whh[(d * 4 * H + q * H + j) * H + k];
            return v;
          });
          const [i, f, g, o] = [sig(z[0]), sig(z[1]), Math.tanh(z[2]), sig(z[3])];
          const cp = t > 0 ? st.cs[t - 1][r * H + j] : 0;
          c[r * H + j] = f * cp + i * g;
          h[r * H + j] = o * Math.tanh(c[r * H + j]);
          [i, f, g, o].forEach((v, q) => (gates[r * 4 * H + q * H + j] = v));
        }
      }
    }
    st.gates.push(gates);
    st.cs.push(c);
    st.hs.push(h);
  }
  return st;
}

/** h_{S-1} of both directions, (2, B, H). */
export function lstmRecurrenceRef(xw: ArrayLike<number>, whh: ArrayLike<number>, sh: LstmRefShape): Float64Array {
  const st = run(xw, whh, sh);
  return st.hs[sh.S - 1];
}

/** dL/dxw (2, S, B, 4H) and dL/dwhh (2, 4H, H) for dL/dh_{S-1} = gh (2, B, H). */
export function lstmRecurrenceBackwardRef(
  xw: ArrayLike<number>, whh: ArrayLike<number>, gh: ArrayLike<number>, sh: LstmRefShape,
): { dxw: Float64Array; dwhh: Float64Array } {
  const { S, B, H } = sh;
  const st = run(xw, whh, sh);
  const dxw = new Float64Array(2 * S * B * 4 * H);
  const dwhh = new Float64Array(2 * 4 * H * H);
  let dh = Float64Array.from(gh);
  let dc = new Float64Array(2 * B * H);
  for (let t = S - 1; t >= 0; t--) {
    const dz = new Float64Array(2 * B * 4 * H);
    const dcp = new Float64Array(2 * B * H);
    for (let r = 0; r < 2 * B; r++) {
      for (let j = 0; j < H; j++) {
        const [i, f, g, o] = [0, 1, 2, 3].map((q) => st.gates[t][r * 4 * H + q * H + j]);
        const c = st.cs[t][r * H + j];
        const cp = t > 0 ? st.cs[t - 1][r * H + j] : 0;
        const tc = Math.tanh(c);
        const dcs = dc[r * H + j] + dh[r * H + j] * o * (1 - tc * tc);
        const d = [dcs * g * i * (1 - i), dcs * cp * f * (1 - f), dcs * i * (1 - g * g), dh[r * H + j] * tc * o * (1 - o)];
        d.forEach((v, q) => (dz[r * 4 * H + q * H + j] = v));
        dcp[r * H + j] = dcs * f;
      }
    }
    for (let d = 0; d < 2; d++) {
      for (let b = 0; b < B; b++) {
        for (let col = 0; col < 4 * H; col++) dxw[((d * S + t) * B + b) * 4 * H + col] = dz[(d * B + b) * 4 * H + col];
      }
    }
    const dhp = new Float64Array(2 * B * H);
    if (t > 0) {
      for (let d = 0; d < 2; d++) {
        for (let b = 0; b < B; b++) {
          const r = d * B + b;
          for (let row = 0; row < 4 * H; row++) {
            const v = dz[r * 4 * H + row];
            for (let k = 0; k < H; k++) {
              dhp[r * H + k] += v * whh[(d * 4 * H + row) * H + k];
              dwhh[(d * 4 * H + row) * H + k] += v * st.hs[t - 1][r * H + k];
            }
          }
        }
      }
    }
    dh = dhp;
    dc = dcp;
  }
  return { dxw, dwhh };
}
