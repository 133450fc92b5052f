/**
 * Fake timers for tests that combine hours of simulated time with real sockets.
 *
 * Only setTimeout/clearTimeout/setInterval/clearInterval/Date are faked; setImmediate,
 * process.nextTick and queueMicrotask stay real, so socket I/O keeps running. `advance()` moves
 * the fake clock in steps and lets real I/O settle between steps (a few real setImmediate turns
 * and a short real delay captured before the fake clock was installed).
 */
import * as FakeTimers from '@sinonjs/fake-timers';

export type Clock = ReturnType<typeof FakeTimers.install>;

// Captured at module load, before any test installs fake timers.
const realSetTimeout: typeof setTimeout = globalThis.setTimeout;
const realSetImmediate: typeof setImmediate = globalThis.setImmediate;

/** Real (monotonic) milliseconds, unaffected by the fake Date. */
export function realNow(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** Installs fake timers for the timer functions and Date only (I/O keeps running). */
export function installClock(opts: { now?: number } = {}): Clock {
  return FakeTimers.install({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    now: opts.now ?? Date.now(),
  });
}

/** Waits for `ms` of REAL time (works while fake timers are installed). */
export function realDelay(ms: number): Promise<void> {
  return new Promise<void>((resolve) => realSetTimeout(resolve, ms));
}

/** Lets pending real I/O run: `turns` setImmediate turns, then optionally a short real delay. */
export async function settle(turns = 5, realMs = 0): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => realSetImmediate(r));
  if (realMs > 0) await realDelay(realMs);
}

/**
 * Advances the fake clock by `ms` in steps of `stepMs`, firing the timers due in each step and
 * letting real I/O settle after each step.
 */
export async function advance(clock: Clock, ms: number, stepMs = 1_000, settleTurns = 5): Promise<void> {
  let left = ms;
  while (left > 0) {
    const s = Math.min(stepMs, left);
    clock.tick(s);
    left -= s;
    await settle(settleTurns);
  }
  await settle(settleTurns, 1);
}

export interface WaitForOptions {
  /** Real-time limit, ms (default 5000). */
  timeoutMs?: number;
  /** If set, the fake clock is advanced by `stepMs` between polls (for conditions that need timers). */
  clock?: Clock;
  stepMs?: number;
  /** Fake-time limit when a clock is given (default: unlimited within the real-time limit). */
  maxFakeMs?: number;
  message?: string;
}

/**
 * Polls `predicate` (sync or async) until it returns true. Without a clock only real I/O runs;
 * with a clock, fake time moves `stepMs` per poll. Rejects after `timeoutMs` of real time.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, opts: WaitForOptions = {}): Promise<void> {
  const deadline = realNow() + (opts.timeoutMs ?? 5_000);
  let fakeSpent = 0;
  for (;;) {
    if (await predicate()) return;
    if (realNow() > deadline || (opts.maxFakeMs !== undefined && fakeSpent >= opts.maxFakeMs)) {
      throw new Error(`waitFor timed out${opts.message ? `: ${opts.message}` : ''}`);
    }
    if (opts.clock) {
      const step = opts.stepMs ?? 100;
      opts.clock.tick(step);
      fakeSpent += step;
      await settle(3);
    } else {
      await settle(3, 2);
    }
  }
}
