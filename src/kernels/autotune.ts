// A small autotuner: time the registered variants of a kernel once per (adapter, shape class),
// keep the fastest, and answer later lookups from memory. Persistence is the caller's business:
// an injected TuneStore (Node: src/node/autotune-store.ts, one JSON file per adapter under
// ~/.cache/medivlad; the browser keeps choices in memory only). src/kernels never touches the
// filesystem, so the same code runs in the browser.
//
// Timing: each candidate is launched once to compile and warm up, then `repeat` times, each
// launch followed by a wait for the GPU (wall clock around onSubmittedWorkDone); the median
// decides. Candidates are interleaved round by round, so a burst of load on a shared machine
// hits all of them alike.
//
// A store is a cache, never a source of truth: whatever it returns is checked (an object of
// string choices), a bad entry or a failing load/save is reported through `warn` and ignored,
// and a cached choice the launcher cannot run is ignored by the launcher (matmul's
// chooseVersion checks the version name and its eligibility).
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

const defaultWarn = (msg: string): void => console.warn(msg);

export class Autotuner {
  private choices = new Map<string, string>();
  private loaded = false;

  constructor(
    private readonly rt: Pick<Runtime, 'adapter' | 'sync'>,
    private store?: TuneStore,
    /** Where problems with the store are reported (default console.warn); never thrown. */
    private readonly warn: (msg: string) => void = defaultWarn,
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
    let entries: unknown;
    try {
      entries = await this.store.load();
    } catch (e) {
      this.warn(`autotune: ignoring the tuning cache, it could not be read: ${(e as Error).message}`);
      return;
    }
    if (entries === undefined || entries === null) return;
    if (typeof entries !== 'object' || Array.isArray(entries)) {
      this.warn(`autotune: ignoring the tuning cache, it is not an object of choices`);
      return;
    }
    const bad: string[] = [];
    for (const [k, v] of Object.entries(entries)) {
      if (typeof v === 'string' && v.length > 0) this.choices.set(k, v);
      else bad.push(k);
    }
    if (bad.length) this.warn(`autotune: ignoring ${bad.length} malformed cache entr${bad.length === 1 ? 'y' : 'ies'} (${bad.slice(0, 3).join(', ')})`);
  }

  /** Forget every choice and detach the store (its file is left as it is). */
  reset(): void {
    this.choices.clear();
    this.store = undefined;
    this.loaded = false;
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

  /** Write the choices to the store, if one is attached; a failure is a warning. */
  async persist(): Promise<void> {
    if (!this.store) return;
    try {
      await this.store.save(this.entries());
    } catch (e) {
      this.warn(`autotune: could not save the tuning cache (choices stay in memory): ${(e as Error).message}`);
    }
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
    await this.persist();
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
