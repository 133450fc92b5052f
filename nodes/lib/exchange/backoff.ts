/**
 * Exponential backoff with full jitter: the n-th delay is uniform in [0, min(cap, initial * 2^(n-1))].
 * The first retry therefore happens within `initialDelayMs` (about a second by default), the
 * delay never exceeds `maxDelayMs` (60 s by default), and there is no attempt limit.
 */
import type { ReconnectOptions } from '../types';

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

/**
 * Largest wait we accept from a server (`Retry-After`, WS-API `retryAfter`): 15 minutes. A larger
 * value (a typo, a hostile proxy, `Retry-After: 3000000`) would overflow setTimeout (which then fires
 * after 1 ms: a reconnect storm) or park the account for weeks; 15 minutes is long enough to sit out
 * a short ban, and one probe every 15 minutes during a long one is harmless.
 */
export const MAX_SERVER_DELAY_MS = 15 * 60_000;

/** Largest delay setTimeout honours (larger ones fire after 1 ms). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** A delay that setTimeout honours: finite, ≥ 0 and ≤ `max` (NaN → 0). */
export function clampDelay(ms: number, max: number = MAX_TIMER_DELAY_MS): number {
  if (!Number.isFinite(ms)) return ms === Infinity ? Math.min(max, MAX_TIMER_DELAY_MS) : 0;
  return Math.min(Math.max(0, ms), max, MAX_TIMER_DELAY_MS);
}

/** A server-given wait in ms, clamped to [0, MAX_SERVER_DELAY_MS]; undefined if absent or unreadable. */
export function serverDelay(ms: number | undefined): number | undefined {
  if (ms === undefined || Number.isNaN(ms)) return undefined;
  return clampDelay(ms, MAX_SERVER_DELAY_MS);
}

/**
 * `Retry-After` header → ms (clamped): delta-seconds, or an HTTP date (RFC 9110 §10.2.3).
 * Undefined when absent, empty or unreadable.
 */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v === 'number') return serverDelay(v * 1000);
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const s = v.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return serverDelay(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? serverDelay(at - now) : undefined;
}

/**
 * Waits after a rate-limit answer (429 / -1003) that named no wait: exponential from 30 s
 * (30 s, 60 s, 2 min, ...) up to MAX_SERVER_DELAY_MS, with the reconnect backoff as a floor. Retrying
 * a 429 within a second, as the plain reconnect backoff would, is how IPs get banned.
 */
export const RATE_LIMIT_INITIAL_DELAY_MS = 30_000;

/** The wait after the n-th consecutive rate-limit answer without Retry-After (1-based). */
export function rateLimitDelay(n: number): number {
  const exp = Math.min(Math.max(n, 1) - 1, 20);
  return Math.min(MAX_SERVER_DELAY_MS, RATE_LIMIT_INITIAL_DELAY_MS * 2 ** exp);
}
