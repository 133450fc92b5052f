/**
 * REST request-weight accounting for gap recovery.
 *
 * Binance limits REST request weight per IP and minute (spot/margin 6000, USDⓈ-M and
 * COIN-M futures 2400). Recovery must never use it all up: the budget lets recovery
 * spend at most `fraction` (default 50 %) of the limit in any 60 s window, and also
 * pauses when the exchange-reported usage of the current minute
 * (`X-MBX-USED-WEIGHT-1M`, fed via `observeUsedWeight`) gets near the limit.
 * On 429 / 418 (rate limited / IP banned) every user of the budget waits out
 * `Retry-After` before the next request.
 *
 * Waiting uses the global `setTimeout` at call time, so fake timers work.
 */
import type { Logger, Market } from '../types';
import { UNKNOWN_PATH_WEIGHT, WEIGHT_LIMITS_PER_MINUTE, weightOf, weightPoolOf, type WeightPool } from './facts';

/** Parameters of a REST call (query / form). */
export type RestParams = Record<string, string | number | boolean | undefined>;

/**
 * Minimal REST client interface recovery needs (the core's RestClient fits it, or an
 * adapter over it). `opts` is passed through untouched.
 */
export interface RestLike {
  request<T>(method: HttpMethod, path: string, params?: RestParams, opts?: RestRequestOptionsLike): Promise<T>;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Options passed through to the REST client (the subset of rest.ts's options recovery uses). */
export interface RestRequestOptionsLike {
  security?: 'none' | 'apiKey' | 'signed';
  weight?: number;
}

/** Per-IP limits per weight pool and the weights of the endpoints live in exchange/facts.ts. */
export const SPOT_WEIGHT_LIMIT_PER_MIN = WEIGHT_LIMITS_PER_MINUTE.api;
export const FUTURES_WEIGHT_LIMIT_PER_MIN = WEIGHT_LIMITS_PER_MINUTE.futures;

export function defaultWeightLimit(market: Market): number {
  return WEIGHT_LIMITS_PER_MINUTE[weightPoolOf(market)];
}

/** Request weight of a REST endpoint (exchange/facts.ts REST); unknown paths count as `fallback`. */
export function restWeight(path: string, params: RestParams = {}, fallback = UNKNOWN_PATH_WEIGHT): number {
  return weightOf(path, params, fallback);
}

export interface WeightBudgetOptions {
  market: Market;
  /** The exchange's per-IP limit per minute. Default by market (6000 / 2400). */
  limitPerMinute?: number;
  /** Share of the limit recovery may spend in any 60 s window. Default 0.5. */
  fraction?: number;
  /**
   * Pause when the exchange-reported usage of the current minute plus the next
   * request would exceed this share of the limit. Default 0.8.
   */
  headerCeiling?: number;
  /** Wait after a 429 without Retry-After. Default 60 s. */
  defaultRateLimitWaitMs?: number;
  /** Wait after a 418 without Retry-After. Default 120 s. */
  defaultBanWaitMs?: number;
  /** How often one request is retried after 429/418 before giving up. Default 5. */
  maxRateLimitRetries?: number;
  now?: () => number;
  /**
   * Where a budget of one stream says that it paused. A shared budget has none: it outlives the
   * stream that created it (holding that stream's logger kept its closed node, and everything the
   * node held, for the life of the process, and logged a later stream's pause under the closed
   * node); each request names its own logger instead (`run`, BudgetedRest's `logger`).
   */
  logger?: Logger;
}

export interface RateLimitInfo {
  banned: boolean;
  retryAfterMs?: number;
}

/**
 * Recognises a rate-limit error: `BinanceApiError` with kind 'rate-limit' / 'banned',
 * or anything carrying HTTP status 429 / 418 or code -1003.
 */
export function rateLimitInfo(err: unknown): RateLimitInfo | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, unknown>;
  const status = typeof e.status === 'number' ? e.status : typeof e.httpStatus === 'number' ? e.httpStatus : undefined;
  const banned = e.kind === 'banned' || status === 418;
  const limited = banned || e.kind === 'rate-limit' || status === 429 || e.code === -1003;
  if (!limited) return undefined;
  const ra = e.retryAfterMs;
  return { banned, retryAfterMs: typeof ra === 'number' && Number.isFinite(ra) && ra >= 0 ? ra : undefined };
}

const WINDOW_MS = 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms));
  });
}

/** Per-IP-minute weight budget shared by all recovery requests of one REST host. */
export class WeightBudget {
  readonly market: Market;
  readonly limitPerMinute: number;
  /** Most weight recovery spends in any 60 s window. */
  readonly cap: number;
  private readonly headerCeiling: number;
  private readonly defaultRateLimitWaitMs: number;
  private readonly defaultBanWaitMs: number;
  private readonly maxRetries: number;
  private readonly now: () => number;
  private readonly logger?: Logger;
  private ledger: Array<{ at: number; weight: number }> = [];
  private header?: { used: number; at: number };
  private pausedUntil = 0;
  /** How long the last pause was asked to last (a clock set back never lengthens it). */
  private pausedForMs = 0;
  /** FIFO of acquirers. */
  private queue: Promise<void> = Promise.resolve();
  private spentTotal = 0;
  private waitsTotal = 0;

  constructor(opts: WeightBudgetOptions) {
    this.market = opts.market;
    this.limitPerMinute = opts.limitPerMinute ?? defaultWeightLimit(opts.market);
    const fraction = opts.fraction ?? 0.5;
    if (!(fraction > 0 && fraction <= 1)) throw new RangeError('fraction must be in (0, 1]');
    this.cap = Math.max(1, Math.floor(this.limitPerMinute * fraction));
    this.headerCeiling = opts.headerCeiling ?? 0.8;
    this.defaultRateLimitWaitMs = opts.defaultRateLimitWaitMs ?? 60_000;
    this.defaultBanWaitMs = opts.defaultBanWaitMs ?? 120_000;
    this.maxRetries = opts.maxRateLimitRetries ?? 5;
    this.now = opts.now ?? (() => Date.now());
    this.logger = opts.logger;
  }

  /** Weight recovery spent in the last 60 s. */
  spentInWindow(): number {
    this.prune(this.now());
    return this.ledger.reduce((s, x) => s + x.weight, 0);
  }

  /** Weight recovery spent since creation. */
  get totalSpent(): number {
    return this.spentTotal;
  }

  /** How many times a request had to wait (budget, header or Retry-After). */
  get waits(): number {
    return this.waitsTotal;
  }

  /** Epoch ms until which requests are held back after a 429/418 (0 = none). */
  get blockedUntil(): number {
    return this.pausedUntil;
  }

  /** Feed the exchange's `X-MBX-USED-WEIGHT-1M` value (IP usage of the current minute). */
  observeUsedWeight(used: number, at: number = this.now()): void {
    if (!Number.isFinite(used) || used < 0) return;
    this.header = { used, at };
  }

  /** Hold back every request until `retryAfterMs` has passed (after 429 / 418); `logger` says so (default the budget's). */
  pause(retryAfterMs: number, banned = false, logger: Logger | undefined = this.logger): void {
    const until = this.now() + Math.max(0, retryAfterMs);
    if (until > this.pausedUntil) {
      this.pausedUntil = until;
      this.pausedForMs = Math.max(0, retryAfterMs);
    }
    logger?.warn(
      `REST ${banned ? 'IP banned (418)' : 'rate limited (429)'}; recovery requests paused for ${Math.ceil(retryAfterMs / 1000)} s`,
    );
  }

  /** Resolves when `weight` may be spent now; records it as spent. FIFO among callers. */
  acquire(weight: number): Promise<void> {
    const w = Math.max(0, Math.ceil(weight));
    const turn = this.queue.then(() => this.waitFor(w));
    // Keep the chain alive even if a waiter is abandoned.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /**
   * Runs `fn` (one REST request of `weight`) inside the budget. On a rate-limit error
   * waits out Retry-After (default 60 s / 120 s for a ban) and retries, at most
   * `maxRateLimitRetries` times; other errors propagate. `logger` (the requesting stream's; default
   * the budget's) says when requests are paused.
   */
  async run<T>(weight: number, fn: () => Promise<T>, logger?: Logger): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.acquire(weight);
      try {
        return await fn();
      } catch (err) {
        const rl = rateLimitInfo(err);
        if (!rl || attempt >= this.maxRetries) throw err;
        this.pause(rl.retryAfterMs ?? (rl.banned ? this.defaultBanWaitMs : this.defaultRateLimitWaitMs), rl.banned, logger ?? this.logger);
      }
    }
  }

  private prune(now: number): void {
    // The clock was set back (NTP, a restored system time): spending stamped "in the future" counts
    // as spent now, and a pause ends no later than its own length from now; neither may hold
    // requests back for as long as the clock jumped.
    if (this.ledger.length > 0 && this.ledger[this.ledger.length - 1].at > now) {
      this.ledger = this.ledger.map((x) => (x.at > now ? { at: now, weight: x.weight } : x));
    }
    if (this.pausedUntil > now + this.pausedForMs) this.pausedUntil = now + this.pausedForMs;
    if (this.header && this.header.at > now) this.header = undefined;
    const cutoff = now - WINDOW_MS;
    let i = 0;
    while (i < this.ledger.length && this.ledger[i].at <= cutoff) i++;
    if (i > 0) this.ledger = this.ledger.slice(i);
  }

  /** How long to wait before `weight` may be spent; 0 = now. */
  private delayFor(weight: number, now: number): number {
    this.prune(now);
    if (now < this.pausedUntil) return this.pausedUntil - now;
    const spent = this.ledger.reduce((s, x) => s + x.weight, 0);
    if (this.ledger.length > 0 && spent + weight > this.cap) {
      // Wait until enough old entries leave the window.
      let free = this.cap - spent;
      for (const entry of this.ledger) {
        free += entry.weight;
        if (free >= weight) return entry.at + WINDOW_MS - now + 1;
      }
      return this.ledger[this.ledger.length - 1].at + WINDOW_MS - now + 1;
    }
    if (this.header) {
      const minute = Math.floor(now / WINDOW_MS);
      if (Math.floor(this.header.at / WINDOW_MS) === minute) {
        // Our own spending since the header was read is already inside `used` only
        // partly; add it to be safe.
        const since = this.ledger.filter((x) => x.at > this.header!.at).reduce((s, x) => s + x.weight, 0);
        if (this.header.used + since + weight > this.limitPerMinute * this.headerCeiling) {
          return (minute + 1) * WINDOW_MS - now + 1;
        }
      }
    }
    return 0;
  }

  private async waitFor(weight: number): Promise<void> {
    for (;;) {
      const now = this.now();
      const d = this.delayFor(weight, now);
      if (d <= 0) {
        this.ledger.push({ at: now, weight });
        this.spentTotal += weight;
        return;
      }
      this.waitsTotal++;
      await sleep(d);
    }
  }
}

export interface BudgetedRestOptions {
  budget: WeightBudget;
  /** Weight of one request; default `restWeight(path, params)`. */
  weightOf?: (method: HttpMethod, path: string, params: RestParams) => number;
  /**
   * Reads the last `X-MBX-USED-WEIGHT-1M` the client saw. Default: the inner client's
   * `usedWeight1m` property (RestClient has one), stamped with the budget's clock.
   */
  usedWeight?: () => { used: number; at: number } | undefined;
  /** The requesting stream's logger: says when a 429/418 pauses the (possibly shared) budget. */
  logger?: Logger;
}

/** A RestLike that routes every request through a WeightBudget. */
export class BudgetedRest implements RestLike {
  constructor(
    private readonly inner: RestLike,
    private readonly opts: BudgetedRestOptions,
  ) {}

  get budget(): WeightBudget {
    return this.opts.budget;
  }

  request<T>(method: HttpMethod, path: string, params: RestParams = {}, opts?: RestRequestOptionsLike): Promise<T> {
    const weight = opts?.weight ?? (this.opts.weightOf ? this.opts.weightOf(method, path, params) : restWeight(path, params));
    return this.opts.budget.run(weight, async () => {
      try {
        return await this.inner.request<T>(method, path, params, opts);
      } finally {
        this.readHeader();
      }
    }, this.opts.logger);
  }

  private readHeader(): void {
    if (this.opts.usedWeight) {
      const h = this.opts.usedWeight();
      if (h) this.opts.budget.observeUsedWeight(h.used, h.at);
      return;
    }
    const used = (this.inner as { usedWeight1m?: unknown }).usedWeight1m;
    if (typeof used === 'number') this.opts.budget.observeUsedWeight(used);
  }
}

/**
 * The exchange's weight pool of a market (limits are per IP and pool). USDⓈ-M and COIN-M share one
 * ('futures') since the CM–UM integration (exchange/facts.ts WEIGHT_LIMITS_PER_MINUTE).
 */
export function weightPool(market: Market): WeightPool {
  return weightPoolOf(market);
}

const sharedBudgets = new Map<string, WeightBudget>();

/**
 * Forgets the shared budgets: what a new process starts with. For tests that play several
 * processes in one (a later simulator can get an earlier one's port, and so its budget).
 */
export function forgetSharedBudgets(): void {
  sharedBudgets.clear();
}

/**
 * One WeightBudget per exchange and weight pool, shared by every account using it (the limits are
 * per IP, not per account). `restUrl` is the REST base the recovery requests go to. The exchange is
 * named by the host, except that Binance's USDⓈ-M and COIN-M hosts of one environment are ONE
 * exchange for the 'futures' pool (fapi/dapi.binance.com, testnet.binancefuture.com, demo-fapi/
 * demo-dapi.binance.com): they share one limit since the CM–UM integration.
 */
export function sharedWeightBudget(restUrl: string, market: Market, opts: Omit<WeightBudgetOptions, 'market' | 'logger'> = {}): WeightBudget {
  let host = restUrl;
  try {
    host = new URL(restUrl).host;
  } catch {
    // keep the raw string as the key
  }
  const pool = weightPool(market);
  if (pool === 'futures') host = host.replace(/^(demo-)?[fd]api\./, '$1futures.');
  const key = `${host}|${pool}`;
  let b = sharedBudgets.get(key);
  if (!b) {
    b = new WeightBudget({ ...opts, market });
    sharedBudgets.set(key, b);
  }
  return b;
}
