// How long to sleep before waiting on the GPU (see Runtime.idleWait): Dawn's Node binding spins
// the JS thread while a GPU promise is pending, and on a software adapter that thread takes CPU
// from the driver's workers. So the runtime sleeps, without spinning, for most of the time the
// pending work should still take, and only then asks Dawn for the promise.
//
// The expected time is the smaller of two estimates:
//  - what recent waits took (an average): right for a loop of similar waits, but alone, after a
//    long wait (five DINO steps) it made the next short one (a few monitor kernels) sleep for
//    seconds: the tiny DINO loop ran at 1.44 s per step against 0.87 s for the same steps
//    synced one by one (scripts/dino-loop-timing.ts at 7b3ad5a; with both estimates 0.81-0.87 s);
//  - the dispatches submitted since the last wait times the wall time per dispatch measured
//    over earlier waits, less the time since the last wait: right for a short wait after a
//    long one; too long after a stretch of CPU-side work, which the first estimate bounds.
// A nap that ends with the work already done (within 1 ms) halves both: it probably overslept.
export class WaitPlanner {
  private waitEstimateMs = 0;
  private msPerDispatch = 0;
  private lastWaitEnd = -1;
  private dispatchesAtLastWait = 0;

  /** Milliseconds to sleep before a wait that starts at `now` with `dispatches` submitted in all. */
  nap(now: number, dispatches: number): number {
    const pending = dispatches - this.dispatchesAtLastWait;
    const byRate = this.lastWaitEnd < 0 ? 0 : this.msPerDispatch * pending - (now - this.lastWaitEnd);
    const expected = Math.min(this.waitEstimateMs, byRate);
    return expected > 2 ? 0.75 * expected : 0;
  }

  /**
   * Record a finished wait: started at t0, slept `nap`, asked Dawn at t1, done at t2, with
   * `dispatches` submitted in all by then.
   */
  done(t0: number, nap: number, t1: number, t2: number, dispatches: number): void {
    const pending = dispatches - this.dispatchesAtLastWait;
    const overslept = nap > 0 && t2 - t1 < 1;
    if (overslept) {
      this.waitEstimateMs *= 0.5;
      this.msPerDispatch *= 0.5;
    } else {
      this.waitEstimateMs = 0.5 * this.waitEstimateMs + 0.5 * (t2 - t0);
      // Only waits that found the GPU busy say how long work takes (an instant return does
      // not), and only whole intervals (the first wait has none).
      if (pending > 0 && t2 - t1 >= 1 && this.lastWaitEnd >= 0) {
        const rate = (t2 - this.lastWaitEnd) / pending;
        this.msPerDispatch = this.msPerDispatch === 0 ? rate : 0.5 * this.msPerDispatch + 0.5 * rate;
      }
    }
    this.lastWaitEnd = t2;
    this.dispatchesAtLastWait = dispatches;
  }
}
