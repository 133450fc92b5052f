/**
 * A set of timers owned by one object, so that all of them can be cleared at once on stop.
 * Callbacks are wrapped: an exception thrown by a callback is reported, never re-thrown.
 */
import { clampDelay } from '../exchange/backoff';

export type TimerHandle = ReturnType<typeof setTimeout>;

export class TimerSet {
  private readonly timeouts = new Set<TimerHandle>();
  private readonly intervals = new Set<ReturnType<typeof setInterval>>();

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {}

  timeout(fn: () => void, ms: number): TimerHandle {
    const h = setTimeout(() => {
      this.timeouts.delete(h);
      this.run(fn);
    }, clampDelay(ms));
    this.timeouts.add(h);
    return h;
  }

  interval(fn: () => void, ms: number): ReturnType<typeof setInterval> {
    const h = setInterval(() => this.run(fn), Math.max(1, clampDelay(ms)));
    this.intervals.add(h);
    return h;
  }

  clear(h: TimerHandle | ReturnType<typeof setInterval> | undefined): void {
    if (h === undefined) return;
    if (this.timeouts.delete(h)) clearTimeout(h);
    else if (this.intervals.delete(h)) clearInterval(h);
  }

  clearAll(): void {
    for (const h of this.timeouts) clearTimeout(h);
    for (const h of this.intervals) clearInterval(h);
    this.timeouts.clear();
    this.intervals.clear();
  }

  get size(): number {
    return this.timeouts.size + this.intervals.size;
  }

  private run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      try {
        this.onError(err);
      } catch {
        // never throw out of a timer
      }
    }
  }
}

/**
 * Resolves with the promise's value, or with `fallback` after `ms` (the timer is cleared either way).
 * Used for the bounded waits of stop().
 */
export function withDeadline<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const h = setTimeout(() => resolve(fallback), clampDelay(ms));
    p.then(
      (v) => {
        clearTimeout(h);
        resolve(v);
      },
      () => {
        clearTimeout(h);
        resolve(fallback);
      },
    );
  });
}
