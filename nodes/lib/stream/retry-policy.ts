/**
 * When and how loudly a stream tries again: THE place that answers "what happens after a failed
 * connect, a dropped connection or a failed rotation".
 *
 *  - A failed connect: exponential backoff with full jitter (exchange/backoff.ts: first retry
 *    within ~1 s, cap 60 s, forever), at least the server's Retry-After / retryAfter (clamped);
 *    418 without a wait: 2 min; 429 without one: rateLimitDelay (doubling).
 *  - Auth errors: state `auth-error`, retried every authRetryDelayMs (default 5 min).
 *  - HTTP 451 (restricted location): state `error` saying so, retried every 10 minutes.
 *  - A credentials error (the key cannot sign): state `error`, no retry (a redeploy fixes it).
 *  - A dropped connection: the backoff, logged as routine.
 *  - A failed rotation while the old connection works: retried in ≥ 5 s, doubling, capped.
 *  - Log levels: info for routine (a first failure, the slow retries of a state already shown),
 *    warn for abnormal (from the WARN_AFTER_FAILURES-th failure in a row, 429/418), error once per
 *    entry into auth-error / error.
 * A confirmed subscription resets every counter (`reset()`).
 */
import { Backoff, rateLimitDelay } from '../exchange/backoff';
import type { Redactor } from '../exchange/redact';
import { BinanceApiError } from '../transport/rest';
import { CredentialsError } from '../exchange/signing';
import type { ReconnectOptions, StateChange, StreamState } from '../types';
import { errText } from '../util';

/** Minimum delay before retrying a failed rotation while the old session still works. */
const ROTATION_RETRY_MIN_MS = 5_000;
/** Fallback wait when the server banned us (418) without saying for how long. */
const BANNED_FALLBACK_MS = 120_000;
/**
 * Retry delay while Binance refuses service from this location (HTTP 451): slow, since only a
 * change of network (VPN, server location) helps; the status says so meanwhile.
 */
export const RESTRICTED_RETRY_DELAY_MS = 10 * 60_000;
export const RESTRICTED_MESSAGE = 'Binance is not available from this location (HTTP 451, restricted location)';
/** From this many consecutive failed attempts on, connect / rotation failures are logged at warn. */
export const WARN_AFTER_FAILURES = 3;
export const AUTH_ERROR_MESSAGE = 'invalid API key or permissions';

export type LogLevel = 'info' | 'warn' | 'error';

/** What to do after a failure: the state to show, what to log, and when to try again. */
export interface RetryPlan {
  state: StreamState;
  change: Omit<StateChange, 'state' | 'previous' | 'at'>;
  level: LogLevel;
  line: string;
  /** Undefined: no retry. */
  delayMs?: number;
}

export class RetryPolicy {
  private readonly backoff: Backoff;
  private authAttempts = 0;
  /** Consecutive rate-limit answers that named no wait (429 without Retry-After). */
  private rateLimitAttempts = 0;
  private rotationAttempts = 0;

  constructor(private readonly reconnect: ReconnectOptions) {
    this.backoff = new Backoff(reconnect.initialDelayMs, reconnect.maxDelayMs);
  }

  /** A confirmed subscription (or a fresh start): every counter back to zero. */
  reset(): void {
    this.backoff.reset();
    this.authAttempts = 0;
    this.rateLimitAttempts = 0;
    this.rotationAttempts = 0;
  }

  /** A connect (or re-subscribe) failed with `err`, in the state `current`. */
  afterFailure(err: unknown, current: StreamState, redactor: Redactor): RetryPlan {
    if (err instanceof CredentialsError) {
      const msg = redactor.apply(err.message);
      return { state: 'error', change: { message: msg }, level: 'error', line: `credentials error: ${msg}` };
    }
    const e = err instanceof BinanceApiError ? err : undefined;
    if (e?.kind === 'restricted') {
      const delay = Math.max(RESTRICTED_RETRY_DELAY_MS, e.retryAfterMs ?? 0);
      return {
        state: 'error',
        change: { delayMs: delay, code: e.httpStatus ?? e.code, message: RESTRICTED_MESSAGE },
        level: current === 'error' ? 'info' : 'error',
        line: `${RESTRICTED_MESSAGE}; next attempt in ${Math.round(delay / 1000)} s`,
        delayMs: delay,
      };
    }
    if (e?.kind === 'auth') {
      this.authAttempts += 1;
      const delay = this.reconnect.authRetryDelayMs;
      const code = e.code ?? e.httpStatus;
      const text = `${AUTH_ERROR_MESSAGE}${code !== undefined ? ` (${code})` : ''}`;
      // error once when the auth-error state is entered; the slow retries that follow are routine
      return {
        state: 'auth-error',
        change: { attempt: this.authAttempts, delayMs: delay, code, message: text },
        level: current === 'auth-error' ? 'info' : 'error',
        line: `${text}; next attempt in ${Math.round(delay / 1000)} s`,
        delayMs: delay,
      };
    }
    const message = redactor.clip(errText(err), 300);
    let delay = this.backoff.next();
    // server-given waits are clamped (BinanceApiError, MAX_SERVER_DELAY_MS)
    if (e?.retryAfterMs !== undefined) delay = Math.max(delay, e.retryAfterMs);
    else if (e?.kind === 'banned') delay = Math.max(delay, BANNED_FALLBACK_MS);
    else if (e?.kind === 'rate-limit') delay = Math.max(delay, rateLimitDelay(++this.rateLimitAttempts));
    const abnormal = e?.kind === 'rate-limit' || e?.kind === 'banned' || this.backoff.attempt >= WARN_AFTER_FAILURES;
    return {
      state: 'reconnecting',
      change: { attempt: this.backoff.attempt, delayMs: delay, code: e?.code ?? e?.httpStatus, message },
      level: abnormal ? 'warn' : 'info',
      line: `connect failed: ${message}; retry ${this.backoff.attempt} in ${delay} ms`,
      delayMs: delay,
    };
  }

  /** The current connection ended (routine: server close, lifetime, expiry ...). `why` is redacted. */
  afterEnd(why: string): RetryPlan & { delayMs: number } {
    const delay = this.backoff.next();
    return {
      state: 'reconnecting',
      change: { attempt: this.backoff.attempt, delayMs: delay, message: why },
      level: 'info',
      line: `connection ended (${why}); reconnecting in ${delay} ms`,
      delayMs: delay,
    };
  }

  /** A rotation succeeded. */
  rotated(): void {
    this.rotationAttempts = 0;
  }

  /** The log level of a failed rotation (the old connection still works: one failure is routine). */
  rotationFailureLevel(): LogLevel {
    return this.rotationAttempts + 1 >= WARN_AFTER_FAILURES ? 'warn' : 'info';
  }

  /** A rotation failed while the old session still works: when to try again. */
  afterRotationFailure(err: unknown): number {
    this.rotationAttempts += 1;
    const exp = Math.min(this.reconnect.maxDelayMs, ROTATION_RETRY_MIN_MS * 2 ** Math.min(this.rotationAttempts - 1, 10));
    return Math.max(ROTATION_RETRY_MIN_MS, exp, err instanceof BinanceApiError ? (err.retryAfterMs ?? 0) : 0);
  }
}
