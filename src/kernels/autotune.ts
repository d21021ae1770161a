// A small autotuner: time the registered variants of a kernel once per (adapter, shape class),
// keep the fastest, and answer later lookups from memory. Persistence is the caller's business:
// an injected TuneStore (the CLI passes one backed by a JSON file; src/kernels never touches the
// filesystem, so the same code runs in the browser).
//
// Timing: each candidate is launched once to compile and warm up, then `repeat` times, each
// launch followed by a wait for the GPU (wall clock around onSubmittedWorkDone); the median
// decides. Candidates are interleaved round by round, so a burst of load on a shared machine
// hits all of them alike.
import type { Runtime } from './runtime.js';
import { adapterKey } from './adapter-info.js';

export interface TuneStore {
  load(): Record<string, string> | undefined | Promise<Record<string, string> | undefined>;
  save(entries: Record<string, string>): void | Promise<void>;
}

export interface TuneCandidate {
  name: string;
  /** Records one launch on the runtime (does not wait). */
  launch: () => void;
}

export interface TuneResult {
  best: string;
  /** Median ms per candidate. */
  ms: Record<string, number>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

export class Autotuner {
  private choices = new Map<string, string>();
  private loaded = false;

  constructor(
    private readonly rt: Runtime,
    private store?: TuneStore,
  ) {}

  /** Key prefix: the adapter, so choices from one machine never leak onto another. */
  key(kernel: string, shapeClass: string): string {
    return `${adapterKey(this.rt.adapter)}|${kernel}|${shapeClass}`;
  }

  /** Attach (or replace) the persistent store and read its entries. */
  async useStore(store: TuneStore): Promise<void> {
    this.store = store;
    this.loaded = false;
    await this.load();
  }

  async load(): Promise<void> {
    if (this.loaded || !this.store) return;
    this.loaded = true;
    const entries = (await this.store.load()) ?? {};
    for (const [k, v] of Object.entries(entries)) this.choices.set(k, v);
  }

  get(kernel: string, shapeClass: string): string | undefined {
    return this.choices.get(this.key(kernel, shapeClass));
  }

  set(kernel: string, shapeClass: string, choice: string): void {
    this.choices.set(this.key(kernel, shapeClass), choice);
  }

  entries(): Record<string, string> {
    return Object.fromEntries(this.choices);
  }

  /** Time the candidates (interleaved), remember the fastest, persist if a store is set. */
  async tune(kernel: string, shapeClass: string, candidates: TuneCandidate[], repeat = 3): Promise<TuneResult> {
    if (candidates.length === 0) throw new Error(`autotune ${kernel} [${shapeClass}]: no candidates`);
    await this.load();
    const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
    for (const c of candidates) c.launch(); // compile + warm caches
    await this.rt.sync();
    for (let r = 0; r < repeat; r++) {
      for (const c of candidates) {
        const t0 = performance.now();
        c.launch();
        await this.rt.sync();
        samples.get(c.name)!.push(performance.now() - t0);
      }
    }
    const ms: Record<string, number> = {};
    for (const [name, s] of samples) ms[name] = median(s);
    const best = candidates.map((c) => c.name).reduce((x, y) => (ms[y] < ms[x] ? y : x));
    this.set(kernel, shapeClass, best);
    if (this.store) await this.store.save(this.entries());
    return { best, ms };
  }
}

const tuners = new WeakMap<Runtime, Autotuner>();

/** The runtime's autotuner (in memory; call useStore() to persist). */
export function autotunerFor(rt: Runtime): Autotuner {
  let t = tuners.get(rt);
  if (!t) {
    t = new Autotuner(rt);
    tuners.set(rt, t);
  }
  return t;
}
