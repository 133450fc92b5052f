/**
 * Gap recovery: after the stream was (or may have been) down, fetch from REST history what was
 * missed — fills from each symbol's cursor in the ledger, the state of open orders that changed,
 * a balance snapshot — and hand it back as a batch. The batch's cursor commits are applied by the
 * delivery pipeline only after its events were delivered (invariant I4), so a cursor never moves
 * past a fill that did not reach the flow. What is and is not recovered: docs/recovery.md.
 *
 * Symbols queried = seen on the stream ∪ listed in the config ∪ with open orders ∪ those whose
 * last recovery failed: never every symbol of the exchange. Per symbol (ledger.resumeFrom):
 * from `safe + 1` by trade id, or, without an id cursor, by time from the symbol's time cursor
 * (or the gap start) in windows of the API's maximum span, then by id; pages of `pageLimit` until
 * a short page. A failed query keeps the symbol's cursor where it is and marks the symbol
 * incomplete: the stream retries it (from the same cursor) until it succeeds.
 */
import type { GapEvent, Logger, Market, UserDataEvent } from '../types';
import type { PersistedRecoveryState } from './persistence';
import { BudgetedRest, WeightBudget, type RestLike, type RestParams } from '../exchange/weight-budget';
import { ERROR_CODES, PM_RECOVERY_BOOKS, type RecoveryRest } from '../exchange/facts';
import { FillLedger, type CursorCommit } from './ledger';
import { readTradePages } from './trade-pages';
import { OpenOrders, type Book, type OpenOrdersScope } from './open-orders';
import { pmBook } from './dedupe';
import {
  apiFor,
  balanceEventFromAccount,
  fillEventFromRow,
  int,
  rows,
  str,
  type Row,
} from './rest-rows';
import { errText, isObj } from '../util';

export const DEFAULT_LOOKBACK_MS = 24 * 60 * 60 * 1000;

export type { OpenOrdersScope } from './open-orders';

export interface GapRecoveryOptions {
  market: Market;
  rest: RestLike;
  /**
   * The endpoints to read (ResolvedEndpoints.recovery.rest: the facts table's entry for the account).
   * Default: the table's entry for the market.
   */
  endpoints?: RecoveryRest;
  /** Symbols listed in the config node (always queried). */
  symbols?: string[];
  /** Isolated-margin symbol (market 'isolated-margin'); then only this symbol is queried. */
  isolatedSymbol?: string;
  /** How far back recovery reaches (gap start and start-up). Default 24 h. */
  lookbackMs?: number;
  /** Weight budget; every REST call goes through it. Default: a new one for the market. */
  budget?: WeightBudget;
  logger?: Logger;
  now?: () => number;
  /** Page size of trade queries. Default 1000 (the API maximum). */
  pageLimit?: number;
  /** Subtracted from the gap start for time-based queries (clock skew). Default 5000 ms. */
  clockSlackMs?: number;
  /**
   * Open-order query: 'all' = one call without symbol (discovers symbols); 'per-symbol' =
   * one call per known symbol; 'auto' (default) = 'all' at the first recovery and
   * whenever it weighs no more than the per-symbol calls, else per symbol.
   */
  openOrdersScope?: OpenOrdersScope;
  /** Orders seen open live but gone from openOrders that are looked up per recovery. Default 50. */
  maxOrderLookups?: number;
  /** Fetch the balance snapshot. Default true. */
  includeAccount?: boolean;
  /** Bound of the tracked symbols (least recently seen dropped). Default 1000. */
  maxSymbols?: number;
  /** Bound of the tracked open orders. Default 10 000. */
  maxTrackedOrders?: number;
  /** Safety bound of trade pages per symbol and recovery. Default 10 000. */
  maxPagesPerSymbol?: number;
}

export interface RecoveryStats {
  gap: GapEvent;
  startedAt: number;
  finishedAt: number;
  symbols: string[];
  fills: number;
  orderStates: number;
  balanceSnapshot: boolean;
  requests: number;
  errors: string[];
}

/** Orders persisted with the cursors (the most recently tracked), at most. */
const MAX_PERSISTED_ORDERS = 2_000;

/** A recovery's result: its events, and the cursor commits to apply once they were delivered. */
export interface RecoveryBatch {
  gap: GapEvent;
  events: UserDataEvent[];
  commits: CursorCommit[];
  /** Every fill query succeeded. */
  complete?: boolean;
  /** The ledger epoch when the recovery was requested. */
  epoch?: number;
}

/** Reads the order part of an order event (spot/margin: raw; futures: raw.o). */
function orderOf(e: UserDataEvent): Row | undefined {
  if (e.eventType === 'executionReport') return e.raw;
  if (e.eventType === 'ORDER_TRADE_UPDATE' && isObj(e.raw.o)) return e.raw.o;
  return undefined;
}

/**
 * The (symbol, trade id) of a fill event (live or recovered), else undefined. Portfolio margin has
 * three trade-id spaces on one stream (UM, CM, margin: the same symbol name, e.g. BTCUSDT, can be
 * in two), so its ledger symbol is qualified by the book: `UM:BTCUSDT`, `MARGIN:BTCUSDT`.
 */
export function fillIdentity(e: UserDataEvent): { symbol: string; id: number } | undefined {
  const o = orderOf(e);
  if (!o || o.x !== 'TRADE') return undefined;
  const symbol = str(o.s);
  const id = int(o.t);
  if (symbol === undefined || id === undefined || id < 0) return undefined;
  return { symbol: e.market === 'portfolio-margin' ? `${pmBook(e)}:${symbol}` : symbol, id };
}

export class GapRecovery {
  readonly market: Market;
  /** Which fills were delivered, and where recoveries resume (see ledger.ts). */
  readonly ledger: FillLedger;
  private readonly books: Book[];
  private readonly rest: RestLike;
  readonly budget: WeightBudget;
  private listed: string[];
  private readonly isolatedSymbol?: string;
  private cancelled = false;
  /**
   * Since when every fill of a symbol without any cursor is taken as delivered: the end of the
   * last complete recovery (or the creation). Time-based queries start no later than this.
   */
  private coveredSince: number;
  /** When this recovery started covering the account (the stream's start). */
  private readonly createdAt: number;
  readonly lookbackMs: number;
  private readonly logger?: Logger;
  private readonly now: () => number;
  private readonly pageLimit: number;
  private readonly clockSlackMs: number;
  private readonly includeAccount: boolean;
  private readonly maxSymbols: number;
  private readonly maxPages: number;

  /** symbol → last seen (insertion order = LRU). */
  private readonly symbolsSeen = new Map<string, true>();
  private lastE?: number;
  /** Orders seen open, reconciled after a gap (open-orders.ts). */
  private readonly openOrders: OpenOrders;
  /** The symbol inserted last into symbolsSeen (LRU fast path). */
  private lastSymbol?: string;
  /** Symbols whose last fill query failed (retried from their cursor). */
  private readonly failed = new Set<string>();
  /** Every gap requested and not committed yet (its start bounds the persisted event time). */
  private readonly uncommitted = new Set<GapEvent>();
  private rev = 0;
  private recoveries = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private requestCount = 0;
  /** Statistics of the last finished recovery. */
  lastStats?: RecoveryStats;

  constructor(opts: GapRecoveryOptions) {
    this.market = opts.market;
    this.books =
      opts.market === 'portfolio-margin'
        ? PM_RECOVERY_BOOKS.map((b) => ({ id: b.id, rowMarket: b.rowMarket, api: apiFor(b.rowMarket, b.rest) }))
        : [{ id: '', rowMarket: opts.market, api: apiFor(opts.market, opts.endpoints) }];
    this.ledger = new FillLedger();
    this.isolatedSymbol = opts.isolatedSymbol ? opts.isolatedSymbol.toUpperCase() : undefined;
    if (opts.market === 'isolated-margin' && !this.isolatedSymbol) {
      throw new Error('isolated-margin recovery needs isolatedSymbol');
    }
    this.budget = opts.budget ?? new WeightBudget({ market: opts.market, now: opts.now, logger: opts.logger });
    this.rest = opts.rest instanceof BudgetedRest ? opts.rest : new BudgetedRest(opts.rest, { budget: this.budget });
    this.listed = [...new Set((opts.symbols ?? []).map((s) => s.trim().toUpperCase()).filter((s) => s !== ''))];
    this.lookbackMs = opts.lookbackMs ?? DEFAULT_LOOKBACK_MS;
    this.logger = opts.logger;
    this.now = opts.now ?? (() => Date.now());
    this.pageLimit = opts.pageLimit ?? 1000;
    this.clockSlackMs = opts.clockSlackMs ?? 5000;
    this.includeAccount = opts.includeAccount ?? true;
    this.maxSymbols = opts.maxSymbols ?? 1000;
    this.maxPages = opts.maxPagesPerSymbol ?? 10_000;
    this.coveredSince = this.now();
    this.createdAt = this.coveredSince;
    this.openOrders = new OpenOrders(
      {
        get: <T>(path: string, params: RestParams) => this.get<T>(path, params),
        qualify: (book, symbol) => this.qualify(book, symbol),
        split: (q) => this.split(q),
        seeSymbol: (symbol) => this.seeSymbol(symbol),
        asAccountEvent: (book, e) => this.asAccountEvent(book, e),
        isolatedParams: () => this.isolatedParams(),
        changed: () => {
          this.rev++;
        },
      },
      {
        scope: opts.openOrdersScope ?? 'auto',
        isolated: this.isolatedSymbol !== undefined,
        maxOrderLookups: opts.maxOrderLookups ?? 50,
        maxTrackedOrders: opts.maxTrackedOrders ?? 10_000,
        logger: opts.logger,
        now: this.now,
      },
    );
  }

  /** True while some symbol's fills are incomplete (a failed query is retried from its cursor). */
  get incomplete(): boolean {
    return this.failed.size > 0;
  }

  /** Increases whenever `snapshot()` would change (for StatePersister). */
  get revision(): number {
    return this.rev + this.ledger.revision;
  }

  /** Highest trade id delivered for a symbol. */
  lastTradeId(symbol: string): number | undefined {
    return this.ledger.highestDelivered(symbol);
  }

  /** Highest exchange event time seen live. */
  get lastEventTime(): number | undefined {
    return this.lastE;
  }

  /** The symbol as the recovery keys it: qualified by the book on portfolio margin (`UM:BTCUSDT`). */
  private qualify(book: Book['id'], symbol: string): string {
    return book ? `${book}:${symbol}` : symbol;
  }

  /** The book and the exchange's symbol of a recovery symbol. */
  private split(q: string): { book: Book; symbol: string } {
    if (this.books.length === 1) return { book: this.books[0], symbol: q };
    const i = q.indexOf(':');
    const id = i > 0 ? q.slice(0, i) : '';
    return { book: this.books.find((b) => b.id === id) ?? this.books[0], symbol: i > 0 ? q.slice(i + 1) : q };
  }

  /** The book of a live event (portfolio margin: executionReport = MARGIN, else `fs`). */
  private bookOfEvent(e: UserDataEvent): Book['id'] {
    return this.books.length === 1 ? '' : pmBook(e);
  }

  /**
   * Listed symbols as recovery symbols. Portfolio margin: `UM:X`, `CM:X`, `MARGIN:X` name a book;
   * a plain symbol with `_` (BTCUSD_PERP, delivery contracts) is CM, any other is UM and MARGIN.
   */
  private listedQualified(): string[] {
    if (this.books.length === 1) return this.listed;
    const out: string[] = [];
    for (const s of this.listed) {
      if (/^(UM|CM|MARGIN):/.test(s)) out.push(s);
      else if (s.includes('_')) out.push(`CM:${s}`);
      else out.push(`UM:${s}`, `MARGIN:${s}`);
    }
    return out;
  }

  /** Symbols a recovery queries for fills right now (before open-order discovery). */
  knownSymbols(): string[] {
    if (this.isolatedSymbol) return [this.isolatedSymbol];
    const set = new Set<string>([...this.symbolsSeen.keys(), ...this.listedQualified()]);
    for (const symbol of this.openOrders.symbols()) set.add(symbol);
    for (const s of this.failed) set.add(s);
    return [...set].sort();
  }

  /** Adds symbols to always reconcile (e.g. a second config node on the same account). */
  addSymbols(symbols: string[]): void {
    const add = symbols.map((s) => s.trim().toUpperCase()).filter((s) => s !== '');
    this.listed = [...new Set([...this.listed, ...add])];
  }

  /** Symbols listed in the configuration (always reconciled). */
  get listedSymbols(): string[] {
    return [...this.listed];
  }

  /**
   * Stops recovery requests (the stream was stopped): a running recovery fails its remaining
   * requests at once (the affected symbols keep their cursors). `resume()` allows requests again.
   */
  cancel(): void {
    this.cancelled = true;
  }

  resume(): void {
    this.cancelled = false;
  }

  /** Number of REST requests made so far. */
  get requests(): number {
    return this.requestCount;
  }

  // ------------------------------------------------------------------ observe

  /**
   * One live event that was delivered (direct use without the delivery pipeline): tracks it and
   * records a fill in the ledger. Never throws.
   */
  observe(e: UserDataEvent): void {
    this.track(e);
    try {
      const f = e.recovered ? undefined : fillIdentity(e);
      if (f && !this.ledger.isDelivered(f.symbol, f.id)) this.ledger.delivered(f.symbol, f.id, true, false, true);
    } catch (err) {
      this.logger?.debug(`recovery: could not record ${String(e?.eventType)}: ${errText(err)}`);
    }
  }

  /** Tracks symbols, the last event time and open orders from one live event. Never throws. */
  track(e: UserDataEvent): void {
    try {
      this.trackUnsafe(e);
    } catch (err) {
      this.logger?.debug(`recovery: could not observe ${String(e?.eventType)}: ${errText(err)}`);
    }
  }

  private trackUnsafe(e: UserDataEvent): void {
    // Recovered events were tracked when they were recovered.
    if (e.recovered) return;
    const E = int(e.raw.E);
    if (E !== undefined && (this.lastE === undefined || E > this.lastE)) {
      this.lastE = E;
      this.rev++;
    }
    const book = this.bookOfEvent(e);
    if (e.eventType === 'ALGO_UPDATE' && isObj(e.raw.o)) {
      const o = e.raw.o;
      const plain = str(o.s);
      const symbol = plain && this.qualify(book, plain);
      const aid = int(o.aid);
      if (symbol) this.seeSymbol(symbol);
      if (symbol && aid !== undefined && typeof o.X === 'string') this.openOrders.track(symbol, aid, o.X, undefined, true);
      return;
    }
    const order = orderOf(e);
    if (!order) {
      if (e.eventType === 'TRADE_LITE') {
        const s = str(e.raw.s);
        if (s) this.seeSymbol(this.qualify(book, s));
      }
      return;
    }
    const plain = str(order.s);
    if (!plain) return;
    const symbol = this.qualify(book, plain);
    this.seeSymbol(symbol);
    const orderId = int(order.i);
    if (orderId !== undefined && typeof order.X === 'string') {
      this.openOrders.track(symbol, orderId, order.X, typeof order.z === 'string' ? order.z : undefined, false);
    }
  }

  private seeSymbol(symbol: string): void {
    // Already the most recent (the usual case: events of one symbol in a row): nothing moves.
    if (symbol === this.lastSymbol && this.symbolsSeen.has(symbol)) return;
    this.lastSymbol = symbol;
    if (this.symbolsSeen.has(symbol)) {
      this.symbolsSeen.delete(symbol);
      this.symbolsSeen.set(symbol, true);
      return;
    }
    this.symbolsSeen.set(symbol, true);
    this.rev++;
    while (this.symbolsSeen.size > this.maxSymbols) {
      const oldest = this.symbolsSeen.keys().next().value;
      if (oldest === undefined) break;
      this.symbolsSeen.delete(oldest);
      this.ledger.forget(oldest);
    }
  }

  // ------------------------------------------------------------------ persistence

  /**
   * The state to persist. Conservative: the trade cursors are the ledger's safe cursors (never
   * past an undelivered fill); the last event time is no later than the start of any gap whose
   * recovery has not committed.
   */
  snapshot(): PersistedRecoveryState {
    const l = this.ledger.snapshot();
    // Never saw an event: what happened since this recovery started covering is still ours (a
    // restart must recover it: the stream may have been half-open or down all along).
    let lastEventTime = this.lastE ?? this.createdAt;
    for (const g of this.uncommitted) if (lastEventTime === undefined || g.from < lastEventTime) lastEventTime = g.from;
    const orders = this.openOrders.persisted(MAX_PERSISTED_ORDERS);
    const state: PersistedRecoveryState = { version: 2, lastTradeIds: l.safe, symbols: [...this.symbolsSeen.keys()] };
    if (Object.keys(l.since).length) state.since = l.since;
    if (Object.keys(l.delivered).length) state.delivered = l.delivered;
    if (orders.length) state.orders = orders;
    if (lastEventTime !== undefined) state.lastEventTime = lastEventTime;
    return state;
  }

  /** Loads a persisted state (merging: cursors only move forward). */
  restore(s: PersistedRecoveryState | undefined): void {
    if (!s || (s.version !== 1 && s.version !== 2)) return;
    for (const symbol of Object.keys(s.lastTradeIds ?? {})) this.seeSymbol(symbol);
    for (const symbol of s.symbols ?? []) if (typeof symbol === 'string' && symbol) this.seeSymbol(symbol);
    this.ledger.restore({ safe: s.lastTradeIds, since: s.since, delivered: s.delivered });
    this.openOrders.restore(s.orders ?? []);
    if (typeof s.lastEventTime === 'number' && (this.lastE === undefined || s.lastEventTime > this.lastE)) {
      this.lastE = s.lastEventTime;
    }
    this.rev++;
  }

  /**
   * The gap to recover at start-up: from the last event time (clamped to the look-back) to `now`.
   * Undefined when nothing was ever persisted (first start: nothing was missed).
   */
  startupGap(now: number = this.now()): GapEvent | undefined {
    if (this.lastE === undefined && this.ledger.symbols().length === 0) return undefined;
    const floor = now - this.lookbackMs;
    const from = this.lastE === undefined ? floor : Math.max(this.lastE, floor);
    return { from: Math.min(from, now), to: now, reason: 'startup' };
  }

  // ------------------------------------------------------------------ recover

  /**
   * Reconciles after a gap and commits the cursors at once (direct use: the caller delivers the
   * events). Never rejects.
   */
  async recover(gap: GapEvent): Promise<UserDataEvent[]> {
    const batch = await this.recoverBatch(gap);
    this.commit(batch);
    return batch.events;
  }

  /**
   * Reconciles after a gap; the caller delivers `events` and then calls `commit(batch)`. Calls
   * are serialised (a second gap waits for the first). Never rejects: failures are logged, what
   * was recovered is returned, and symbols that failed keep their cursors (`incomplete`).
   */
  recoverBatch(gap: GapEvent): Promise<RecoveryBatch> {
    const epoch = this.ledger.epoch;
    this.uncommitted.add(gap);
    this.rev++;
    const run = this.chain.then(() => this.doRecover(gap, epoch));
    this.chain = run.catch(() => undefined);
    return run.catch((err: unknown): RecoveryBatch => {
      this.logger?.error(`recovery failed: ${errText(err)}`);
      return { gap, events: [], commits: [] };
    });
  }

  /** Applies a batch's cursor commits (after its events were delivered). */
  commit(batch: RecoveryBatch): void {
    for (const c of batch.commits) this.ledger.commit(c);
    if (batch.complete && batch.epoch !== undefined && this.failed.size === 0) this.ledger.markCaughtUp(batch.epoch);
    this.uncommitted.delete(batch.gap);
    this.rev++;
  }

  private async get<T>(path: string, params: RestParams): Promise<T> {
    if (this.cancelled) throw new Error('recovery cancelled (stream stopped)');
    this.requestCount++;
    return this.rest.request<T>('GET', path, params, { security: 'signed' });
  }

  private isolatedParams(): RestParams {
    return this.isolatedSymbol ? { isIsolated: 'TRUE' } : {};
  }

  private async doRecover(gap: GapEvent, epoch: number): Promise<RecoveryBatch> {
    const startedAt = this.now();
    const requestsBefore = this.requestCount;
    const errors: string[] = [];
    const first = this.recoveries === 0;
    this.recoveries++;
    const floor = startedAt - this.lookbackMs;
    const gapFrom = Math.max(gap.from - this.clockSlackMs, floor);
    const beyondLookback = gap.from - this.clockSlackMs < floor;

    const known = this.knownSymbols();

    // 1. open orders per book (also discovers symbols with open orders)
    const open: Array<{ book: Book; algo: boolean; rows: Row[]; covered: Set<string> | 'all' }> = [];
    for (const book of this.books) {
      const bookKnown = known.map((q) => this.split(q)).filter((x) => x.book === book).map((x) => x.symbol);
      const label = book.id ? `${book.id} ` : '';
      try {
        open.push({ book, algo: false, ...(await this.openOrders.fetchOpen(book, bookKnown, first)) });
      } catch (err) {
        errors.push(`${label}open orders: ${errText(err)}`);
        this.logger?.warn(`recovery: ${label}open orders not reconciled: ${errText(err)}`);
      }
      if (book.api.openAlgoOrders) {
        try {
          open.push({ book, algo: true, ...(await this.openOrders.fetchOpenAlgo(book, bookKnown, first)) });
        } catch (err) {
          errors.push(`${label}open algo orders: ${errText(err)}`);
          this.logger?.warn(`recovery: ${label}open algo orders not reconciled: ${errText(err)}`);
        }
      }
    }

    // 2. symbols to query for fills
    const symbols = new Set(known);
    if (!this.isolatedSymbol) {
      for (const o of open) {
        for (const r of o.rows) {
          const s = str(r.symbol);
          if (s) symbols.add(this.qualify(o.book.id, s));
        }
      }
    }
    const symbolList = [...symbols].sort();

    // 3. fills, in trade-id order per symbol
    const out: UserDataEvent[] = [];
    const commits: CursorCommit[] = [];
    let fills = 0;
    for (const symbol of symbolList) {
      const got = await this.recoverFills(symbol, gapFrom, floor, beyondLookback, epoch, errors);
      fills += got.events.length;
      out.push(...got.events);
      if (got.commit) commits.push(got.commit);
    }

    // 4. order states
    let orderStates = 0;
    for (const o of open) {
      const ev = await this.openOrders.reconcile(o.book, o.rows, o.covered, o.algo, errors);
      orderStates += ev.length;
      out.push(...ev);
    }

    // 5. balances (one account per market; portfolio margin: the account-position node reloads its own)
    let balanceSnapshot = false;
    if (this.includeAccount && this.books.length === 1) {
      try {
        const params: RestParams =
          this.market === 'isolated-margin'
            ? { symbols: this.isolatedSymbol }
            : this.market === 'spot'
              ? { omitZeroBalances: 'true' }
              : {};
        const account = await this.get<unknown>(this.books[0].api.account, params);
        if (isObj(account)) {
          const ev = balanceEventFromAccount(this.market, account, this.now());
          if (ev) {
            out.push(ev);
            balanceSnapshot = true;
          }
        }
      } catch (err) {
        errors.push(`account: ${errText(err)}`);
        this.logger?.warn(`recovery: balances not reconciled: ${errText(err)}`);
      }
    }

    if (this.failed.size === 0 && gap.to > this.coveredSince) this.coveredSince = gap.to;
    this.lastStats = {
      gap,
      startedAt,
      finishedAt: this.now(),
      symbols: symbolList,
      fills,
      orderStates,
      balanceSnapshot,
      requests: this.requestCount - requestsBefore,
      errors,
    };
    this.logger?.info(
      `recovery (${gap.reason}): ${fills} fill(s) over ${symbolList.length} symbol(s), ${orderStates} order state(s)` +
        `${balanceSnapshot ? ', balances' : ''}; ${this.lastStats.requests} REST call(s)${errors.length ? `; ${errors.length} error(s)` : ''}`,
    );
    return { gap, events: out, commits, complete: commits.every((c) => c.complete), epoch };
  }

  /** One trade page of a recovery symbol. */
  private async tradePage(q: string, params: RestParams): Promise<Row[]> {
    const { book, symbol } = this.split(q);
    const p: RestParams = { ...this.isolatedParams(), symbol, ...params, limit: this.pageLimit };
    return rows(await this.get<unknown>(book.api.trades, p));
  }

  /** Marks a row-built event as the account's (portfolio margin: market and `fs` of the book). */
  private asAccountEvent(book: Book, e: UserDataEvent): UserDataEvent {
    if (this.market !== 'portfolio-margin') return e;
    e.market = 'portfolio-margin';
    if (book.id === 'UM' || book.id === 'CM') e.raw = { fs: book.id, ...e.raw };
    return e;
  }

  /**
   * The fills of one symbol from its ledger cursor: the events not delivered yet, and the commit
   * that moves the cursor once they are.
   */
  private async recoverFills(
    symbol: string,
    gapFrom: number,
    floor: number,
    beyondLookback: boolean,
    epoch: number,
    errors: string[],
  ): Promise<{ events: UserDataEvent[]; commit?: CursorCommit }> {
    const resume = this.ledger.resumeFrom(symbol);
    const queryStart = this.now();
    let fromId: number | undefined;
    let fromTime: number | undefined;
    if (resume.fromId !== undefined && !beyondLookback) {
      fromId = resume.fromId;
    } else {
      const since = resume.since ?? this.coveredSince;
      fromTime = Math.max(floor, Math.min(gapFrom, since - this.clockSlackMs));
    }
    const byId = new Map<number, Row>();
    let complete: boolean;
    try {
      complete = await readTradePages(
        {
          page: (params) => this.tradePage(symbol, params),
          pageLimit: this.pageLimit,
          windowMs: this.split(symbol).book.api.tradeWindowMs,
          maxPages: this.maxPages,
          clockSlackMs: this.clockSlackMs,
          now: this.now,
          logger: this.logger,
          label: symbol,
        },
        { fromId, fromTime },
        byId,
      );
    } catch (err) {
      errors.push(`${symbol} fills: ${errText(err)}`);
      if ((err as { code?: unknown }).code === ERROR_CODES.BAD_SYMBOL) {
        // Invalid symbol (e.g. a typo in the config list): retrying cannot help.
        this.logger?.warn(`recovery: ${symbol} is not a valid symbol here; no fills recovered for it`);
        this.failed.delete(symbol);
        return { events: [] };
      }
      this.logger?.warn(`recovery: fills of ${symbol} incomplete, retried from the same cursor: ${errText(err)}`);
      complete = false;
    }
    if (complete) this.failed.delete(symbol);
    else this.failed.add(symbol);
    // Rows fetched are contiguous from the cursor (pages in id order): the highest one is covered.
    const ids = [...byId.keys()].sort((a, b) => a - b);
    const events: UserDataEvent[] = [];
    for (const id of ids) {
      if (this.ledger.isDelivered(symbol, id)) continue;
      const row = byId.get(id)!;
      const t = int(row.time);
      if (t !== undefined && t < floor) continue;
      const book = this.split(symbol).book;
      events.push(this.asAccountEvent(book, fillEventFromRow(book.rowMarket, row, this.now())));
    }
    if (ids.length) this.seeSymbol(symbol);
    const commit: CursorCommit = {
      symbol,
      complete,
      epoch,
      coveredUntil: queryStart - this.clockSlackMs,
      ...(ids.length ? { maxId: ids[ids.length - 1] } : {}),
    };
    return { events, commit };
  }

}

