/**
 * Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, initial * 2^(n-1))].
 * The first retry therefore happens within `initialDelayMs` (about a second by default), the
 * delay never exceeds `maxDelayMs` (60 s by default), and there is no attempt limit.
 */
import type { ReconnectOptions } from './types';

export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  authRetryDelayMs: 5 * 60_000,
};

export function reconnectOptions(partial?: Partial<ReconnectOptions>): ReconnectOptions {
  const o = { ...DEFAULT_RECONNECT, ...(partial ?? {}) };
  const pos = (v: number, d: number): number => (Number.isFinite(v) && v >= 0 ? v : d);
  const initialDelayMs = pos(o.initialDelayMs, DEFAULT_RECONNECT.initialDelayMs);
  return {
    initialDelayMs,
    maxDelayMs: Math.max(initialDelayMs, pos(o.maxDelayMs, DEFAULT_RECONNECT.maxDelayMs)),
    authRetryDelayMs: pos(o.authRetryDelayMs, DEFAULT_RECONNECT.authRetryDelayMs),
  };
}

export class Backoff {
  private attempts = 0;

  constructor(
    private readonly initialDelayMs: number,
    private readonly maxDelayMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Number of delays handed out since the last reset. */
  get attempt(): number {
    return this.attempts;
  }

  /** Upper bound of the delay of attempt `n` (1-based). */
  ceiling(n: number): number {
    const exp = Math.min(n - 1, 30);
    return Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** exp);
  }

  /** Counts one more attempt and returns its delay in ms (full jitter). */
  next(): number {
    this.attempts += 1;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.floor(r * this.ceiling(this.attempts));
  }

  /** Called after a successful subscribe. */
  reset(): void {
    this.attempts = 0;
  }
}
