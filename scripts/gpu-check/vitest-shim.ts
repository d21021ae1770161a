// Minimal vitest stand-in (describe/it/beforeAll/afterAll/expect) so the real test files run
// on the GPU machine without node_modules. Used only by the device check.
type Fn = () => unknown | Promise<unknown>;
const tests: { name: string; fn: Fn }[] = [];
const befores: Fn[] = [];
const afters: Fn[] = [];
const stack: string[] = [];
export function describe(name: string, fn: () => void): void {
  stack.push(name);
  fn();
  stack.pop();
}
export function it(name: string, fn: Fn, _t?: number): void {
  tests.push({ name: [...stack, name].join(' > '), fn });
}
export const test = it;
export function beforeAll(fn: Fn): void {
  befores.push(fn);
}
export function afterAll(fn: Fn): void {
  afters.push(fn);
}
export function beforeEach(): void {}
export function afterEach(): void {}
function deepEq(a: unknown, b: unknown): boolean {
  if (b && typeof b === 'object' && (b as { asymmetric?: (v: unknown) => boolean }).asymmetric) return (b as { asymmetric: (v: unknown) => boolean }).asymmetric(a);
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || !a || !b) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEq((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
function matchErr(e: unknown, m?: RegExp | string | Function): boolean {
  if (m === undefined) return true;
  const msg = e instanceof Error ? e.message : String(e);
  if (typeof m === 'string') return msg.includes(m);
  if (m instanceof RegExp) return m.test(msg);
  return e instanceof (m as new () => unknown);
}
function mk(v: unknown, msg: string | undefined, neg: boolean) {
  const check = (ok: boolean, what: string) => {
    if (ok === neg) throw new Error(`${msg ? msg + ': ' : ''}expected ${neg ? 'not ' : ''}${what}`);
  };
  const s = (x: unknown) => { try { return JSON.stringify(x)?.slice(0, 200); } catch { return String(x); } };
  return {
    toBe: (w: unknown) => check(Object.is(v, w), `${s(v)} to be ${s(w)}`),
    toEqual: (w: unknown) => check(deepEq(v, w), `${s(v)} to equal ${s(w)}`),
    // every key of w equals v's (one level; enough for the plans and options compared here)
    toMatchObject: (w: object) => check(Object.entries(w).every(([k, x]) => deepEq((v as Record<string, unknown>)[k], x)), `${s(v)} to match ${s(w)}`),
    toBeGreaterThan: (w: number) => check((v as number) > w, `${v} > ${w}`),
    toBeGreaterThanOrEqual: (w: number) => check((v as number) >= w, `${v} >= ${w}`),
    toBeLessThan: (w: number) => check((v as number) < w, `${v} < ${w}`),
    toBeLessThanOrEqual: (w: number) => check((v as number) <= w, `${v} <= ${w}`),
    toBeCloseTo: (w: number, d = 2) => check(Math.abs((v as number) - w) < 10 ** -d / 2, `${v} close to ${w}`),
    toBeFalsy: () => check(!v, `${s(v)} to be falsy`),
    toBeTruthy: () => check(!!v, `${s(v)} to be truthy`),
    toHaveLength: (n: number) => check((v as { length: number }).length === n, `length ${n}`),
    toBeNull: () => check(v === null, `${s(v)} to be null`),
    toBeUndefined: () => check(v === undefined, `${s(v)} to be undefined`),
    toBeInstanceOf: (c: Function) => check(v instanceof c, `instance of ${c.name}`),
    toContain: (w: unknown) => check((v as { includes: (x: unknown) => boolean }).includes(w), `${s(v)} to contain ${s(w)}`),
    toMatch: (re: RegExp | string) => check(typeof re === 'string' ? String(v).includes(re) : re.test(String(v)), `${String(v).slice(0, 200)} to match ${re}`),
    toThrow: (m?: RegExp | string) => {
      let threw = false;
      let err: unknown;
      try { (v as () => unknown)(); } catch (e) { threw = true; err = e; }
      check(threw && matchErr(err, m), `to throw ${m ?? ''} (got ${err instanceof Error ? err.message.slice(0, 200) : 'nothing'})`);
    },
  };
}
type M = ReturnType<typeof mk>;
export function expect(v: unknown, msg?: string): M & { not: M; rejects: { toThrow: (m?: RegExp | string) => Promise<void>; toBeInstanceOf: (c: Function) => Promise<void> } } {
  const rejects = {
    toThrow: async (m?: RegExp | string) => {
      try { await v; } catch (e) { if (!matchErr(e, m)) throw new Error(`expected rejection matching ${m}, got ${(e as Error).message}`); return; }
      throw new Error('expected a rejection');
    },
    toBeInstanceOf: async (c: Function) => {
      try { await v; } catch (e) { if (!(e instanceof c)) throw new Error(`expected rejection of ${c.name}`); return; }
      throw new Error('expected a rejection');
    },
  };
  return Object.assign(mk(v, msg, false), { not: mk(v, msg, true), rejects });
}
expect.closeTo = (w: number, d = 2) => ({ asymmetric: (v: unknown) => Math.abs((v as number) - w) < 10 ** -d / 2 });
let ranBefores = 0;
export async function runAll(filter?: RegExp): Promise<number> {
  let failed = 0;
  let passed = 0;
  for (; ranBefores < befores.length; ranBefores++) await befores[ranBefores]();
  for (const t of tests) {
    if (filter && !filter.test(t.name)) continue;
    const t0 = performance.now();
    try {
      await t.fn();
      passed++;
      console.log(`ok   ${t.name} (${(performance.now() - t0).toFixed(0)} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}: ${(e as Error).message.slice(0, 600)}`);
    }
  }
  for (const a of afters) await a();
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}
