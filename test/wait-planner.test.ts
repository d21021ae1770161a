// The sleep-before-wait estimate of the runtime (src/kernels/wait-planner.ts) on a simulated
// clock: GPU work of a known length per dispatch, waits that end when it is done.
import { describe, it, expect } from 'vitest';
import { WaitPlanner } from '../src/kernels/wait-planner.js';

/** A GPU that runs each dispatch for `ms` after the previous one, from when it is submitted. */
class FakeGpu {
  now = 0;
  dispatches = 0;
  private busyUntil = 0;
  submit(n: number, msEach: number): void {
    this.busyUntil = Math.max(this.busyUntil, this.now) + n * msEach;
    this.dispatches += n;
  }
  cpu(ms: number): void {
    this.now += ms;
  }
  /** One wait through the planner: returns how long it slept and how long the wait took in all. */
  wait(p: WaitPlanner): { nap: number; took: number } {
    const t0 = this.now;
    const nap = p.nap(t0, this.dispatches);
    this.now += nap;
    const t1 = this.now;
    this.now = Math.max(this.now, this.busyUntil); // Dawn's promise resolves when the GPU is done
    p.done(t0, nap, t1, this.now, this.dispatches);
    return { nap, took: this.now - t0 };
  }
}

describe('WaitPlanner', () => {
  it('sleeps through most of a repeated wait, never past its end', () => {
    const g = new FakeGpu();
    const p = new WaitPlanner();
    const naps: number[] = [];
    for (let i = 0; i < 8; i++) {
      g.submit(700, 1.3); // a training step
      g.cpu(50);
      const w = g.wait(p);
      naps.push(w.nap / w.took);
      expect(w.nap).toBeLessThanOrEqual(w.took);
    }
    expect(naps[0]).toBe(0); // nothing learned yet
    expect(naps[7]).toBeGreaterThan(0.5);
  });

  it('a short wait after long ones sleeps in proportion to its own work', () => {
    const g = new FakeGpu();
    const p = new WaitPlanner();
    for (let i = 0; i < 6; i++) {
      g.submit(3500, 1.3); // five steps, then the loss read back: ~4.5 s
      g.wait(p);
      g.submit(15, 1.3); // the monitor's kernels: ~20 ms
      const w = g.wait(p);
      if (i >= 2) {
        // The average of recent waits alone would sleep ~1.7 s here.
        expect(w.took).toBeLessThan(60);
      }
    }
  });

  it('a stretch of CPU-side work with few dispatches does not make the next wait oversleep', () => {
    const g = new FakeGpu();
    const p = new WaitPlanner();
    for (let i = 0; i < 4; i++) {
      g.submit(700, 1.3);
      g.wait(p);
    }
    g.cpu(5000); // k-NN on the CPU, then a few big kernels: ~600 ms per dispatch by the interval
    g.submit(10, 100);
    g.wait(p);
    g.submit(700, 1.3);
    const w = g.wait(p);
    // Bounded by the average of recent waits (~1 s), not 700 dispatches at ~300 ms.
    expect(w.took).toBeLessThan(2000);
  });

  it('halves its estimates after a nap that overslept', () => {
    const g = new FakeGpu();
    const p = new WaitPlanner();
    for (let i = 0; i < 6; i++) {
      g.submit(700, 1.3);
      g.wait(p);
    }
    const before = p.nap(g.now, g.dispatches + 700);
    g.submit(700, 0.1); // the work got much cheaper: the nap overshoots it
    expect(g.wait(p).nap).toBeGreaterThan(70);
    expect(p.nap(g.now, g.dispatches + 700)).toBeLessThan(0.6 * before);
  });
});
