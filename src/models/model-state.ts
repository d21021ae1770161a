// Model + optimizer state as named host tensors (platform-neutral): what a checkpoint holds.
// Parameter names are the PyTorch names (a DINO/MeDiVLAD user can load them with
// torch's safetensors loader); optimizer moments are stored under `optim.m.<name>` /
// `optim.v.<name>` so the model tensors stay loadable on their own.
import type { ParameterStore } from './parameters.js';
import { loadStateDict, type StateDictEntry } from './checkpoint.js';
import type { AdamW } from '../train/optim.js';
import type { HostTensor } from './safetensors.js';

export async function modelState(store: ParameterStore, prefix = ''): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [n, t] of await store.stateDict()) out.set(prefix + n, t);
  return out;
}

/** AdamW moments per parameter (sliced from the flat buckets) and the step counts. */
export async function adamwState(opt: AdamW): Promise<{ tensors: Map<string, HostTensor>; steps: Record<string, number> }> {
  const tensors = new Map<string, HostTensor>();
  const steps: Record<string, number> = {};
  const store = opt.store;
  for (let bi = 0; bi < store.buckets.length; bi++) {
    const b = store.buckets[bi];
    const m = await opt.m[bi].toArray();
    const v = await opt.v[bi].toArray();
    b.segments.forEach((s, i) => {
      if (!s.param.trainable) return;
      tensors.set(`optim.m.${s.name}`, { shape: [...s.param.shape], data: m.slice(s.start, s.start + s.size) });
      tensors.set(`optim.v.${s.name}`, { shape: [...s.param.shape], data: v.slice(s.start, s.start + s.size) });
      steps[s.name] = opt.segmentSteps(bi)[i];
    });
  }
  return { tensors, steps };
}

/**
 * Load parameters by name into a store, checking every name and shape first; the error names
 * what is missing, unexpected or mis-shaped (tensors under `optim.` are ignored here).
 */
export function loadModelState(
  store: ParameterStore,
  found: ReadonlyMap<string, StateDictEntry>,
  opts: { file?: string; strict?: boolean; prefix?: string } = {},
): void {
  const prefix = opts.prefix ?? '';
  const expected = new Map<string, readonly number[]>();
  for (const [n, p] of store.module.namedParameters()) expected.set(prefix + n, p.shape);
  const model = new Map([...found].filter(([n]) => !n.startsWith('optim.') && n.startsWith(prefix)));
  const values = loadStateDict(expected, model, { file: opts.file, strict: opts.strict ?? true });
  store.loadValues(new Map([...values].map(([n, v]) => [n.slice(prefix.length), v])));
}

/** Restore AdamW moments and step counts saved by adamwState (names must match). */
export function loadAdamwState(opt: AdamW, found: ReadonlyMap<string, StateDictEntry>, steps: Record<string, number>, file?: string): void {
  const store = opt.store;
  store.buckets.forEach((b, bi) => {
    const m = new Float32Array(b.length);
    const v = new Float32Array(b.length);
    const st: number[] = [];
    for (const s of b.segments) {
      st.push(steps[s.name] ?? 0);
      if (!s.param.trainable) continue;
      for (const [key, dst] of [[`optim.m.${s.name}`, m], [`optim.v.${s.name}`, v]] as const) {
        const t = found.get(key);
        if (!t) throw new Error(`checkpoint ${file ?? ''}: optimizer state '${key}' is missing`);
        if (t.data.length !== s.size) throw new Error(`checkpoint ${file ?? ''}: optimizer state '${key}' has ${t.data.length} values, expected ${s.size}`);
        dst.set(t.data, s.start);
      }
    }
    b.param.rt.upload(opt.m[bi].buffer, m);
    b.param.rt.upload(opt.v[bi].buffer, v);
    opt.setSegmentSteps(bi, st);
  });
}
