/**
 * Gap recovery: after the stream was (or may have been) down, rebuild what was missed
 * from REST history, so every fill reaches the flow exactly once.
 *
 * Integration (stream manager / node):
 *   recovery.observe(e)            for each live event (tracks cursors);
 *   await recovery.recover(gap)    on each `gap` event (returns recovered events);
 *   deduper.accept(e)              on every live and recovered event before emitting.
 * `RecoveryPipeline` (below) does exactly that and also holds live events back while a
 * recovery runs, so fills leave in exchange order per symbol.
 *
 * Cursors: the starting trade id of a recovery is the highest id known delivered
 * WITHOUT a hole before `gap.from`: ids restored from the store or reached by an
 * earlier recovery, and live fills whose `receivedAt` is <= `gap.from`. Live fills
 * received after the gap started (the new connection may deliver some before the
 * manager emits `gap`) never move it. Call `recover()` synchronously from the `gap`
 * handler (the pipeline does); `gap.from` and `receivedAt` must use the same local clock.
 * When the cursor is unknown the query goes by time from `gap.from` (minus a clock
 * slack); the copies of fills that were already delivered are dropped by the deduper.
 *
 * What is recovered (per market, reference §6):
 *  - fills from spot `/api/v3/myTrades`, margin `/sapi/v1/margin/myTrades`, USDⓈ-M
 *    `/fapi/v1/userTrades`, COIN-M `/dapi/v1/userTrades`: from the last trade id seen
 *    per symbol (`fromId = last + 1`), or, when no id is known, from the gap start
 *    (clamped to the look-back) in time windows of the API's maximum span. Pages of
 *    `limit` (1000) are fetched until a short page. Symbols queried = seen ∪ listed in
 *    the config ∪ symbols with open orders: never every symbol of the exchange.
 *  - order states: open orders (and USDⓈ-M open algo orders) whose state differs from
 *    what was seen live; orders seen open live but no longer open are looked up one by
 *    one (at most `maxOrderLookups` per recovery) for their final state.
 *  - balances: one snapshot from the account endpoint.
 *
 * Recovered events carry `recovered: true`, the REST row in `restRecord`, and a `raw`
 * that is shaped like the exchange's event but holds ONLY the fields REST gave, under
 * the event's keys. Nothing is invented: no `E`, no order status on a fill, no
 * cumulative quantity, no execution type on an order-state event.
 *
 * What cannot be recovered:
 *  - fills of a symbol never seen, not listed in the config and without an open order
 *    at recovery time (in 'auto' open-order scope, also symbols with open orders that
 *    are not yet known once the per-symbol query is cheaper than the global one);
 *  - order events other than fills and the current state of orders (e.g. the NEW,
 *    CANCELED, AMENDMENT events of an order placed and canceled during the gap, unless
 *    it was seen open before the gap);
 *  - fills older than the look-back (default 24 h) or the API's history limit
 *    (futures: about 3 months), intermediate balance / position updates and their
 *    reasons (only the current snapshot), TRADE_LITE, listStatus, balanceUpdate,
 *    ACCOUNT_CONFIG_UPDATE, MARGIN_CALL and similar events.
 */
import type { GapEvent, Logger, Market, UserDataEvent } from './types';
import type { PersistedRecoveryState } from './persistence';
import { BudgetedRest, WeightBudget, type RestLike, type RestParams } from './weight-budget';
import { EventDeduper } from './dedupe';

export const DEFAULT_LOOKBACK_MS = 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export type OpenOrdersScope = 'auto' | 'all' | 'per-symbol';

export interface GapRecoveryOptions {
  market: Market;
  rest: RestLike;
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

type Row = Record<string, unknown>;

interface TrackedOrder {
  symbol: string;
  orderId: number;
  status: string;
  executedQty?: string;
  algo: boolean;
}

const LIVE_FILL_HISTORY = 64;

/**
 * The last LIVE_FILL_HISTORY live fills of a symbol (local receive time, trade id), in a ring of
 * typed arrays (one per symbol, nothing allocated per fill), and what was dropped from it.
 */
class LiveFillHistory {
  private readonly at = new Float64Array(LIVE_FILL_HISTORY);
  private readonly id = new Float64Array(LIVE_FILL_HISTORY);
  private count = 0;
  private next = 0;
  /** Highest id dropped from the ring, and the latest receive time among the dropped. */
  baseline: number | undefined;
  baselineAt = -Infinity;

  add(at: number, id: number): void {
    const i = this.next;
    if (this.count === LIVE_FILL_HISTORY) {
      const droppedId = this.id[i];
      const droppedAt = this.at[i];
      if (this.baseline === undefined || droppedId > this.baseline) this.baseline = droppedId;
      if (droppedAt > this.baselineAt) this.baselineAt = droppedAt;
    } else {
      this.count++;
    }
    this.at[i] = at;
    this.id[i] = id;
    this.next = i + 1 === LIVE_FILL_HISTORY ? 0 : i + 1;
  }

  /** Highest id known received at or before `t` (ring and dropped baseline). */
  highestAtOrBefore(t: number): number | undefined {
    let live = this.baseline !== undefined && this.baselineAt <= t ? this.baseline : undefined;
    for (let k = 0; k < this.count; k++) {
      if (this.at[k] <= t && (live === undefined || this.id[k] > live)) live = this.id[k];
    }
    return live;
  }
}

interface RetryCursor {
  fromId?: number;
  fromTime?: number;
}

interface MarketApi {
  family: 'spot' | 'margin' | 'usdm' | 'coinm';
  trades: string;
  openOrders: string;
  openAlgoOrders?: string;
  algoOrder?: string;
  order: string;
  account: string;
  /** Longest startTime..endTime span the trade query accepts. */
  tradeWindowMs: number;
  perSymbolOpenOrdersWeight: number;
  allOpenOrdersWeight: number;
  fillEvent: 'executionReport' | 'ORDER_TRADE_UPDATE';
  balanceEvent: 'outboundAccountPosition' | 'ACCOUNT_UPDATE';
}

function apiFor(market: Market): MarketApi {
  switch (market) {
    case 'spot':
      return {
        family: 'spot',
        trades: '/api/v3/myTrades',
        openOrders: '/api/v3/openOrders',
        order: '/api/v3/order',
        account: '/api/v3/account',
        tradeWindowMs: DAY_MS - 1,
        perSymbolOpenOrdersWeight: 6,
        allOpenOrdersWeight: 80,
        fillEvent: 'executionReport',
        balanceEvent: 'outboundAccountPosition',
      };
    case 'margin':
    case 'isolated-margin':
      return {
        family: 'margin',
        trades: '/sapi/v1/margin/myTrades',
        openOrders: '/sapi/v1/margin/openOrders',
        order: '/sapi/v1/margin/order',
        account: market === 'isolated-margin' ? '/sapi/v1/margin/isolated/account' : '/sapi/v1/margin/account',
        tradeWindowMs: DAY_MS - 1,
        perSymbolOpenOrdersWeight: 10,
        allOpenOrdersWeight: 10,
        fillEvent: 'executionReport',
        balanceEvent: 'outboundAccountPosition',
      };
    case 'usdm-futures':
      return {
        family: 'usdm',
        trades: '/fapi/v1/userTrades',
        openOrders: '/fapi/v1/openOrders',
        openAlgoOrders: '/fapi/v1/openAlgoOrders',
        algoOrder: '/fapi/v1/algoOrder',
        order: '/fapi/v1/order',
        account: '/fapi/v3/account',
        tradeWindowMs: 7 * DAY_MS - 1,
        perSymbolOpenOrdersWeight: 1,
        allOpenOrdersWeight: 40,
        fillEvent: 'ORDER_TRADE_UPDATE',
        balanceEvent: 'ACCOUNT_UPDATE',
      };
    case 'coinm-futures':
      return {
        family: 'coinm',
        trades: '/dapi/v1/userTrades',
        openOrders: '/dapi/v1/openOrders',
        order: '/dapi/v1/order',
        account: '/dapi/v1/account',
        tradeWindowMs: 7 * DAY_MS - 1,
        perSymbolOpenOrdersWeight: 1,
        allOpenOrdersWeight: 40,
        fillEvent: 'ORDER_TRADE_UPDATE',
        balanceEvent: 'ACCOUNT_UPDATE',
      };
  }
}

// ---------------------------------------------------------------------------
// small readers

function isObj(v: unknown): v is Row {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rows(v: unknown): Row[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function decEq(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) && x === y;
}

/** Copies `row[restKey]` to `out[eventKey]` for each pair whose value is present (not undefined/null). */
function mapFields(row: Row, pairs: ReadonlyArray<readonly [string, string]>, out: Row = {}): Row {
  for (const [from, to] of pairs) {
    const v = row[from];
    if (v !== undefined && v !== null) out[to] = v;
  }
  return out;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
  'FILLED',
  'CANCELED',
  'EXPIRED',
  'REJECTED',
  'EXPIRED_IN_MATCH',
  // algo orders
  'FINISHED',
  'TRIGGERED',
]);

// REST row → event keys --------------------------------------------------------

const SPOT_FILL_FIELDS = [
  ['symbol', 's'],
  ['orderId', 'i'],
  ['id', 't'],
  ['qty', 'l'],
  ['price', 'L'],
  ['quoteQty', 'Y'],
  ['commission', 'n'],
  ['commissionAsset', 'N'],
  ['time', 'T'],
  ['isMaker', 'm'],
  ['orderListId', 'g'],
] as const;

const FUTURES_FILL_FIELDS = [
  ['symbol', 's'],
  ['side', 'S'],
  ['orderId', 'i'],
  ['id', 't'],
  ['qty', 'l'],
  ['price', 'L'],
  ['commission', 'n'],
  ['commissionAsset', 'N'],
  ['time', 'T'],
  ['maker', 'm'],
  ['realizedPnl', 'rp'],
  ['positionSide', 'ps'],
] as const;

const SPOT_ORDER_FIELDS = [
  ['symbol', 's'],
  ['clientOrderId', 'c'],
  ['side', 'S'],
  ['type', 'o'],
  ['timeInForce', 'f'],
  ['origQty', 'q'],
  ['price', 'p'],
  ['stopPrice', 'P'],
  ['icebergQty', 'F'],
  ['orderListId', 'g'],
  ['status', 'X'],
  ['orderId', 'i'],
  ['executedQty', 'z'],
  ['cummulativeQuoteQty', 'Z'],
  ['time', 'O'],
  ['isWorking', 'w'],
  ['workingTime', 'W'],
  ['origQuoteOrderQty', 'Q'],
  ['selfTradePreventionMode', 'V'],
  ['trailingDelta', 'd'],
  ['trailingTime', 'D'],
  ['strategyId', 'j'],
  ['strategyType', 'J'],
  ['preventedMatchId', 'v'],
  ['preventedQuantity', 'A'],
  ['usedSor', 'uS'],
  ['workingFloor', 'k'],
] as const;

const FUTURES_ORDER_FIELDS = [
  ['symbol', 's'],
  ['clientOrderId', 'c'],
  ['side', 'S'],
  ['type', 'o'],
  ['timeInForce', 'f'],
  ['origQty', 'q'],
  ['price', 'p'],
  ['avgPrice', 'ap'],
  ['stopPrice', 'sp'],
  ['status', 'X'],
  ['orderId', 'i'],
  ['executedQty', 'z'],
  ['reduceOnly', 'R'],
  ['workingType', 'wt'],
  ['origType', 'ot'],
  ['positionSide', 'ps'],
  ['closePosition', 'cp'],
  ['activatePrice', 'AP'],
  ['priceRate', 'cr'],
  ['priceProtect', 'pP'],
  ['selfTradePreventionMode', 'V'],
  ['priceMatch', 'pm'],
  ['goodTillDate', 'gtd'],
] as const;

const ALGO_ORDER_FIELDS = [
  ['clientAlgoId', 'caid'],
  ['algoId', 'aid'],
  ['algoType', 'at'],
  ['orderType', 'o'],
  ['symbol', 's'],
  ['side', 'S'],
  ['positionSide', 'ps'],
  ['timeInForce', 'f'],
  ['quantity', 'q'],
  ['algoStatus', 'X'],
  ['actualOrderId', 'ai'],
  ['actualPrice', 'ap'],
  ['triggerPrice', 'tp'],
  ['price', 'p'],
  ['selfTradePreventionMode', 'V'],
  ['workingType', 'wt'],
  ['priceMatch', 'pm'],
  ['closePosition', 'cp'],
  ['priceProtect', 'pP'],
  ['reduceOnly', 'R'],
  ['goodTillDate', 'gtd'],
] as const;

/** A recovered fill event from one trade-history row (see module doc). */
export function fillEventFromRow(market: Market, row: Row, receivedAt: number): UserDataEvent {
  if (market === 'usdm-futures' || market === 'coinm-futures') {
    const o = mapFields(row, FUTURES_FILL_FIELDS);
    if (o.S === undefined && typeof row.buyer === 'boolean') o.S = row.buyer ? 'BUY' : 'SELL';
    o.x = 'TRADE';
    const raw: Row = { e: 'ORDER_TRADE_UPDATE' };
    if (row.time !== undefined && row.time !== null) raw.T = row.time;
    raw.o = o;
    return { market, eventType: 'ORDER_TRADE_UPDATE', raw, recovered: true, restRecord: { ...row }, receivedAt };
  }
  const raw: Row = { e: 'executionReport' };
  mapFields(row, SPOT_FILL_FIELDS, raw);
  if (typeof row.isBuyer === 'boolean') raw.S = row.isBuyer ? 'BUY' : 'SELL';
  else if (typeof row.side === 'string') raw.S = row.side;
  raw.x = 'TRADE';
  return { market, eventType: 'executionReport', raw, recovered: true, restRecord: { ...row }, receivedAt };
}

/** A recovered order-state event from an order row (openOrders / order query). */
export function orderStateEventFromRow(market: Market, row: Row, receivedAt: number): UserDataEvent {
  if (market === 'usdm-futures' || market === 'coinm-futures') {
    const raw: Row = { e: 'ORDER_TRADE_UPDATE', o: mapFields(row, FUTURES_ORDER_FIELDS) };
    return { market, eventType: 'ORDER_TRADE_UPDATE', raw, recovered: true, restRecord: { ...row }, receivedAt };
  }
  const raw: Row = { e: 'executionReport' };
  mapFields(row, SPOT_ORDER_FIELDS, raw);
  return { market, eventType: 'executionReport', raw, recovered: true, restRecord: { ...row }, receivedAt };
}

/** A recovered ALGO_UPDATE-shaped event from an open algo order row (USDⓈ-M). */
export function algoStateEventFromRow(market: Market, row: Row, receivedAt: number): UserDataEvent {
  const raw: Row = { e: 'ALGO_UPDATE', o: mapFields(row, ALGO_ORDER_FIELDS) };
  return { market, eventType: 'ALGO_UPDATE', raw, recovered: true, restRecord: { ...row }, receivedAt };
}

/** A recovered balance snapshot event from an account response. */
export function balanceEventFromAccount(market: Market, account: Row, receivedAt: number): UserDataEvent | undefined {
  if (market === 'usdm-futures' || market === 'coinm-futures') {
    const B = rows(account.assets).map((a) =>
      mapFields(a, [
        ['asset', 'a'],
        ['walletBalance', 'wb'],
        ['crossWalletBalance', 'cw'],
      ]),
    );
    const P = rows(account.positions).map((p) =>
      mapFields(p, [
        ['symbol', 's'],
        ['positionAmt', 'pa'],
        ['entryPrice', 'ep'],
        ['breakEvenPrice', 'bep'],
        ['unrealizedProfit', 'up'],
        ['isolatedWallet', 'iw'],
        ['positionSide', 'ps'],
      ]),
    );
    if (B.length === 0 && P.length === 0) return undefined;
    const a: Row = { B, P };
    const raw: Row = { e: 'ACCOUNT_UPDATE', a };
    return { market, eventType: 'ACCOUNT_UPDATE', raw, recovered: true, restRecord: { ...account }, receivedAt };
  }
  let B: Row[];
  if (market === 'isolated-margin') {
    B = [];
    for (const pair of rows(account.assets)) {
      for (const side of [pair.baseAsset, pair.quoteAsset]) {
        if (isObj(side))
          B.push(
            mapFields(side, [
              ['asset', 'a'],
              ['free', 'f'],
              ['locked', 'l'],
            ]),
          );
      }
    }
  } else {
    const list = market === 'spot' ? rows(account.balances) : rows(account.userAssets);
    B = list.map((b) =>
      mapFields(b, [
        ['asset', 'a'],
        ['free', 'f'],
        ['locked', 'l'],
      ]),
    );
  }
  const raw: Row = { e: 'outboundAccountPosition' };
  if (account.updateTime !== undefined && account.updateTime !== null) raw.u = account.updateTime;
  raw.B = B;
  return { market, eventType: 'outboundAccountPosition', raw, recovered: true, restRecord: { ...account }, receivedAt };
}

// ---------------------------------------------------------------------------

/** Reads the order part of an order event (spot/margin: raw; futures: raw.o). */
function orderOf(e: UserDataEvent): Row | undefined {
  if (e.eventType === 'executionReport') return e.raw;
  if (e.eventType === 'ORDER_TRADE_UPDATE' && isObj(e.raw.o)) return e.raw.o;
  return undefined;
}

export class GapRecovery {
  readonly market: Market;
  private readonly api: MarketApi;
  private readonly rest: RestLike;
  readonly budget: WeightBudget;
  private listed: string[];
  private readonly isolatedSymbol?: string;
  private cancelled = false;
  /**
   * Since when every fill of a symbol without a trade cursor is known delivered: the end
   * of the last recovery (or the creation). Time-based queries start no later than this,
   * so a fill lost on a link that still looked alive shortly before the gap is found.
   */
  private coveredSince: number;
  readonly lookbackMs: number;
  private readonly logger?: Logger;
  private readonly now: () => number;
  private readonly pageLimit: number;
  private readonly clockSlackMs: number;
  private readonly scope: OpenOrdersScope;
  private readonly maxOrderLookups: number;
  private readonly includeAccount: boolean;
  private readonly maxSymbols: number;
  private readonly maxTrackedOrders: number;
  private readonly maxPages: number;

  /** Highest trade id delivered per symbol (any source). */
  private readonly lastTradeIds = new Map<string, number>();
  /**
   * Cursors below which every fill is known delivered: restored from the store or
   * advanced by a recovery (REST pages are contiguous). Live fills are not contiguous
   * across a gap, so they count only when received before the gap started.
   */
  private readonly safeCursors = new Map<string, number>();
  /** Recent live fills per symbol with their local receive time. */
  private readonly liveFills = new Map<string, LiveFillHistory>();
  /** Cursors of the recoveries not finished yet (for a conservative snapshot). */
  private readonly inflight = new Set<{ cursors: Map<string, number>; from: number }>();
  /** symbol → last seen (insertion order = LRU). */
  private readonly symbolsSeen = new Map<string, true>();
  private lastE?: number;
  private readonly orders = new Map<string, TrackedOrder>();
  /** The symbol inserted last into symbolsSeen (LRU fast path). */
  private lastSymbol?: string;
  /** The order tracked last and its key in `orders` (LRU fast path; its key is reused). */
  private lastOrder?: { key: string; symbol: string; orderId: number; algo: boolean };
  private readonly retry = new Map<string, RetryCursor>();
  private rev = 0;
  private recoveries = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private requestCount = 0;
  /** Statistics of the last finished recovery. */
  lastStats?: RecoveryStats;

  constructor(opts: GapRecoveryOptions) {
    this.market = opts.market;
    this.api = apiFor(opts.market);
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
    this.scope = opts.openOrdersScope ?? 'auto';
    this.maxOrderLookups = opts.maxOrderLookups ?? 50;
    this.includeAccount = opts.includeAccount ?? true;
    this.maxSymbols = opts.maxSymbols ?? 1000;
    this.maxTrackedOrders = opts.maxTrackedOrders ?? 10_000;
    this.maxPages = opts.maxPagesPerSymbol ?? 10_000;
    this.coveredSince = this.now();
  }

  /** True while some symbol's fills are incomplete (a failed query is retried from its cursor). */
  get incomplete(): boolean {
    return this.retry.size > 0;
  }

  /** Increases whenever `snapshot()` would change (for StatePersister). */
  get revision(): number {
    return this.rev;
  }

  /** Highest trade id delivered for a symbol. */
  lastTradeId(symbol: string): number | undefined {
    return this.lastTradeIds.get(symbol);
  }

  /** Highest exchange event time seen live. */
  get lastEventTime(): number | undefined {
    return this.lastE;
  }

  /** Symbols a recovery queries for fills right now (before open-order discovery). */
  knownSymbols(): string[] {
    if (this.isolatedSymbol) return [this.isolatedSymbol];
    const set = new Set<string>([...this.symbolsSeen.keys(), ...this.listed]);
    for (const o of this.orders.values()) set.add(o.symbol);
    for (const s of this.retry.keys()) set.add(s);
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
   * Stops recovery requests (the stream was stopped): a running recovery fails its
   * remaining requests at once (the affected symbols are retried at the next recovery
   * from the same cursor). `resume()` allows requests again.
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

  /** Tracks cursors from one live event. Never throws. */
  observe(e: UserDataEvent): void {
    try {
      this.observeUnsafe(e);
    } catch (err) {
      this.logger?.debug(`recovery: could not observe ${e?.eventType}: ${errText(err)}`);
    }
  }

  private observeUnsafe(e: UserDataEvent): void {
    // Recovered events moved the cursors when they were recovered.
    if (e.recovered) return;
    const E = int(e.raw.E);
    if (E !== undefined && !e.recovered && (this.lastE === undefined || E > this.lastE)) {
      this.lastE = E;
      this.rev++;
    }
    if (e.eventType === 'ALGO_UPDATE' && isObj(e.raw.o)) {
      const o = e.raw.o;
      const symbol = str(o.s);
      const aid = int(o.aid);
      if (symbol) this.seeSymbol(symbol);
      if (symbol && aid !== undefined && typeof o.X === 'string') this.trackOrder(symbol, aid, o.X, undefined, true);
      return;
    }
    const order = orderOf(e);
    if (!order) {
      if (e.eventType === 'TRADE_LITE') {
        // A TRADE_LITE precedes the full fill; it must not move the trade cursor.
        const s = str(e.raw.s);
        if (s) this.seeSymbol(s);
      }
      return;
    }
    const symbol = str(order.s);
    if (!symbol) return;
    this.seeSymbol(symbol);
    const orderId = int(order.i);
    const tradeId = int(order.t);
    if (order.x === 'TRADE' && tradeId !== undefined && tradeId >= 0) {
      this.advanceTradeId(symbol, tradeId);
      this.noteLiveFill(symbol, tradeId, typeof e.receivedAt === 'number' ? e.receivedAt : this.now());
    }
    if (orderId !== undefined && typeof order.X === 'string') {
      this.trackOrder(symbol, orderId, order.X, typeof order.z === 'string' ? order.z : undefined, false);
    }
  }

  private seeSymbol(symbol: string): void {
    // Already the most recent (the usual case: events of one symbol in a row): nothing moves.
    // Only seeSymbol inserts, so the last key inserted and still present is the most recent.
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
      this.lastTradeIds.delete(oldest);
      this.safeCursors.delete(oldest);
      this.liveFills.delete(oldest);
    }
  }

  private noteLiveFill(symbol: string, id: number, at: number): void {
    let h = this.liveFills.get(symbol);
    if (!h) {
      h = new LiveFillHistory();
      this.liveFills.set(symbol, h);
    }
    h.add(at, id);
  }

  private advanceSafe(symbol: string, id: number): void {
    const cur = this.safeCursors.get(symbol);
    if (cur === undefined || id > cur) this.safeCursors.set(symbol, id);
    this.advanceTradeId(symbol, id);
  }

  /**
   * The trade cursor of `symbol` as of a gap that started at `gapFrom`: the highest id
   * known delivered without a hole (safe cursor, or live fills received up to gapFrom).
   */
  private cursorAt(symbol: string, gapFrom: number): number | undefined {
    let c = this.safeCursors.get(symbol);
    const h = this.liveFills.get(symbol);
    if (h) {
      const live = h.highestAtOrBefore(gapFrom);
      if (live !== undefined && (c === undefined || live > c)) c = live;
    }
    return c;
  }

  private advanceTradeId(symbol: string, id: number): void {
    const last = this.lastTradeIds.get(symbol);
    if (last === undefined || id > last) {
      this.lastTradeIds.set(symbol, id);
      this.rev++;
    }
  }

  private orderKey(symbol: string, orderId: number, algo: boolean): string {
    return `${algo ? 'algo' : 'order'}\u0000${symbol}\u0000${orderId}`;
  }

  private trackOrder(symbol: string, orderId: number, status: string, executedQty: string | undefined, algo: boolean): void {
    // Events of one order usually come in a row: reuse its key (already hashed) then.
    const last = this.lastOrder;
    const sameAsLast = last !== undefined && last.orderId === orderId && last.symbol === symbol && last.algo === algo;
    const key = sameAsLast ? last.key : this.orderKey(symbol, orderId, algo);
    if (TERMINAL_STATUSES.has(status)) {
      this.orders.delete(key);
      return;
    }
    // The most recently tracked order (e.g. NEW then PARTIALLY_FILLED of one order): it is
    // already last in the LRU order, so set() replaces its record in place (no delete +
    // re-insert). Records are never mutated: a recovery may hold one across an await.
    // Only trackOrder inserts, so the last key inserted and still present is the most recent.
    if (sameAsLast && this.orders.has(key)) {
      this.orders.set(key, { symbol, orderId, status, executedQty, algo });
      return;
    }
    this.lastOrder = { key, symbol, orderId, algo };
    this.orders.delete(key);
    this.orders.set(key, { symbol, orderId, status, executedQty, algo });
    while (this.orders.size > this.maxTrackedOrders) {
      const oldest = this.orders.keys().next().value;
      if (oldest === undefined) break;
      this.orders.delete(oldest);
    }
  }

  // ------------------------------------------------------------------ persistence

  /** The state to persist (conservative: pending retries move cursors back). */
  snapshot(): PersistedRecoveryState {
    const lastTradeIds: Record<string, number> = {};
    for (const [s, id] of this.lastTradeIds) lastTradeIds[s] = id;
    let lastEventTime = this.lastE;
    // A recovery still running: its missed fills are not delivered yet.
    for (const f of this.inflight) {
      for (const s of Object.keys(lastTradeIds)) {
        const c = f.cursors.get(s);
        if (c === undefined) delete lastTradeIds[s];
        else if (c < lastTradeIds[s]) lastTradeIds[s] = c;
      }
      if (lastEventTime !== undefined && f.from < lastEventTime) lastEventTime = f.from;
    }
    for (const [s, r] of this.retry) {
      if (r.fromId !== undefined) {
        const cur = lastTradeIds[s];
        const safe = r.fromId - 1;
        if (cur === undefined || safe < cur) {
          if (safe >= 0) lastTradeIds[s] = safe;
          else delete lastTradeIds[s];
        }
      }
      if (r.fromTime !== undefined && lastEventTime !== undefined && r.fromTime < lastEventTime) lastEventTime = r.fromTime;
    }
    const state: PersistedRecoveryState = { version: 1, lastTradeIds, symbols: [...this.symbolsSeen.keys()] };
    if (lastEventTime !== undefined) state.lastEventTime = lastEventTime;
    return state;
  }

  /** Loads a persisted state (merging: cursors only move forward). */
  restore(s: PersistedRecoveryState | undefined): void {
    if (!s || s.version !== 1) return;
    for (const [symbol, id] of Object.entries(s.lastTradeIds ?? {})) {
      if (typeof id === 'number' && Number.isSafeInteger(id)) {
        this.seeSymbol(symbol);
        this.advanceSafe(symbol, id);
      }
    }
    for (const symbol of s.symbols ?? []) if (typeof symbol === 'string' && symbol) this.seeSymbol(symbol);
    if (typeof s.lastEventTime === 'number' && (this.lastE === undefined || s.lastEventTime > this.lastE)) {
      this.lastE = s.lastEventTime;
    }
    this.rev++;
  }

  /**
   * The gap to recover at start-up: from the last event time (clamped to the look-back)
   * to `now`. Undefined when nothing was ever persisted (first start: nothing was missed).
   */
  startupGap(now: number = this.now()): GapEvent | undefined {
    if (this.lastE === undefined && this.lastTradeIds.size === 0) return undefined;
    const floor = now - this.lookbackMs;
    const from = this.lastE === undefined ? floor : Math.max(this.lastE, floor);
    return { from: Math.min(from, now), to: now, reason: 'startup' };
  }

  // ------------------------------------------------------------------ recover

  /**
   * Reconciles over REST after a gap. Calls are serialised (a second gap waits for the
   * first). Never rejects: failures are logged, what was recovered is returned, and
   * symbols that failed are retried from the same cursor at the next recovery.
   */
  recover(gap: GapEvent): Promise<UserDataEvent[]> {
    // The trade cursors as of the gap start, taken now: live fills received after the gap
    // started (post-reconnect), or observed after this call, must not move the starting
    // point past the missed ones.
    const cursors = new Map<string, number>();
    for (const [symbol, max] of this.lastTradeIds) {
      const c = this.cursorAt(symbol, gap.from);
      if (c !== undefined) cursors.set(symbol, Math.min(c, max));
    }
    const flight = { cursors, from: gap.from };
    this.inflight.add(flight);
    this.rev++;
    const run = this.chain.then(() => this.doRecover(gap, cursors));
    this.chain = run.catch(() => undefined);
    const landed = (): void => {
      this.inflight.delete(flight);
      this.rev++;
    };
    void run.then(landed, landed);
    return run.catch((err: unknown) => {
      this.logger?.error(`recovery failed: ${errText(err)}`);
      return [];
    });
  }

  private async get<T>(path: string, params: RestParams): Promise<T> {
    if (this.cancelled) throw new Error('recovery cancelled (stream stopped)');
    this.requestCount++;
    return this.rest.request<T>('GET', path, params, { security: 'signed' });
  }

  private isolatedParams(): RestParams {
    return this.isolatedSymbol ? { isIsolated: 'TRUE' } : {};
  }

  private async doRecover(gap: GapEvent, cursors: Map<string, number>): Promise<UserDataEvent[]> {
    const startedAt = this.now();
    const requestsBefore = this.requestCount;
    const errors: string[] = [];
    const first = this.recoveries === 0;
    this.recoveries++;
    const floor = startedAt - this.lookbackMs;
    const gapFrom = Math.max(gap.from - this.clockSlackMs, floor);
    const beyondLookback = gap.from - this.clockSlackMs < floor;

    const known = this.knownSymbols();

    // 1. open orders (also discovers symbols with open orders)
    let openRows: Row[] | undefined;
    let openCovered: Set<string> | 'all' = new Set();
    try {
      const r = await this.fetchOpenOrders(known, first);
      openRows = r.rows;
      openCovered = r.covered;
    } catch (err) {
      errors.push(`open orders: ${errText(err)}`);
      this.logger?.warn(`recovery: open orders not reconciled: ${errText(err)}`);
    }
    let algoRows: Row[] | undefined;
    let algoCovered: Set<string> | 'all' = new Set();
    if (this.api.openAlgoOrders) {
      try {
        const r = await this.fetchOpenAlgoOrders(known, first);
        algoRows = r.rows;
        algoCovered = r.covered;
      } catch (err) {
        errors.push(`open algo orders: ${errText(err)}`);
        this.logger?.warn(`recovery: open algo orders not reconciled: ${errText(err)}`);
      }
    }

    // 2. symbols to query for fills
    const symbols = new Set(known);
    if (!this.isolatedSymbol) {
      for (const r of [...(openRows ?? []), ...(algoRows ?? [])]) {
        const s = str(r.symbol);
        if (s) symbols.add(s);
      }
    }
    const symbolList = [...symbols].sort();

    // 3. fills, in trade-id order per symbol
    const out: UserDataEvent[] = [];
    let fills = 0;
    for (const symbol of symbolList) {
      const got = await this.recoverFills(symbol, cursors.get(symbol), gapFrom, floor, beyondLookback, errors);
      fills += got.length;
      out.push(...got);
    }

    // 4. order states
    let orderStates = 0;
    if (openRows) {
      const ev = await this.reconcileOrders(openRows, openCovered, false, errors);
      orderStates += ev.length;
      out.push(...ev);
    }
    if (algoRows) {
      const ev = await this.reconcileOrders(algoRows, algoCovered, true, errors);
      orderStates += ev.length;
      out.push(...ev);
    }

    // 5. balances
    let balanceSnapshot = false;
    if (this.includeAccount) {
      try {
        const params: RestParams =
          this.market === 'isolated-margin'
            ? { symbols: this.isolatedSymbol }
            : this.market === 'spot'
              ? { omitZeroBalances: 'true' }
              : {};
        const account = await this.get<unknown>(this.api.account, params);
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

    if (gap.to > this.coveredSince) this.coveredSince = gap.to;
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
    return out;
  }

  private chooseAll(known: string[], first: boolean, perSymbolWeight: number, allWeight: number): boolean {
    if (this.isolatedSymbol) return false;
    if (this.scope === 'all') return true;
    if (this.scope === 'per-symbol') return false;
    return first || known.length === 0 || known.length * perSymbolWeight >= allWeight;
  }

  private async fetchOpenOrders(known: string[], first: boolean): Promise<{ rows: Row[]; covered: Set<string> | 'all' }> {
    const all = this.chooseAll(known, first, this.api.perSymbolOpenOrdersWeight, this.api.allOpenOrdersWeight);
    if (all) {
      return { rows: rows(await this.get<unknown>(this.api.openOrders, {})), covered: 'all' };
    }
    const out: Row[] = [];
    const covered = new Set<string>();
    for (const symbol of known) {
      out.push(...rows(await this.get<unknown>(this.api.openOrders, { ...this.isolatedParams(), symbol })));
      covered.add(symbol);
    }
    return { rows: out, covered };
  }

  private async fetchOpenAlgoOrders(known: string[], first: boolean): Promise<{ rows: Row[]; covered: Set<string> | 'all' }> {
    const path = this.api.openAlgoOrders!;
    const all = this.chooseAll(known, first, 1, 40);
    if (all) return { rows: rows(await this.get<unknown>(path, {})), covered: 'all' };
    const out: Row[] = [];
    const covered = new Set<string>();
    for (const symbol of known) {
      out.push(...rows(await this.get<unknown>(path, { symbol })));
      covered.add(symbol);
    }
    return { rows: out, covered };
  }

  /** One trade page. */
  private async tradePage(symbol: string, params: RestParams): Promise<Row[]> {
    const p: RestParams = { ...this.isolatedParams(), symbol, ...params, limit: this.pageLimit };
    return rows(await this.get<unknown>(this.api.trades, p));
  }

  private async recoverFills(
    symbol: string,
    last: number | undefined,
    gapFrom: number,
    floor: number,
    beyondLookback: boolean,
    errors: string[],
  ): Promise<UserDataEvent[]> {
    const retry = this.retry.get(symbol);
    // Exclusive lower bound of trade ids to deliver.
    let minExclusive: number | undefined;
    let fromId: number | undefined;
    let fromTime: number | undefined;
    if (retry?.fromId !== undefined) {
      fromId = retry.fromId;
      minExclusive = retry.fromId - 1;
    } else if (last !== undefined && !beyondLookback) {
      fromId = last + 1;
      minExclusive = last;
    } else {
      fromTime = Math.max(floor, Math.min(gapFrom, this.coveredSince - this.clockSlackMs, retry?.fromTime ?? gapFrom));
      minExclusive = last;
    }
    const startCursor: RetryCursor = fromId !== undefined ? { fromId } : { fromTime };
    const byId = new Map<number, Row>();
    let pages = 0;
    let stoppedAt: number | undefined;
    try {
      if (fromId === undefined && fromTime !== undefined) {
        // The exchange clock may run ahead of ours.
        const end = this.now() + this.clockSlackMs;
        let ws = fromTime;
        while (ws <= end) {
          const we = Math.min(ws + this.api.tradeWindowMs, end);
          const page = await this.tradePage(symbol, { startTime: ws, endTime: we });
          pages++;
          let maxId: number | undefined;
          for (const r of page) {
            const id = int(r.id);
            if (id === undefined) continue;
            byId.set(id, r);
            if (maxId === undefined || id > maxId) maxId = id;
          }
          if (maxId !== undefined) {
            // Continue by id from here on (covers the rest of this window and later ones).
            fromId = maxId + 1;
            if (page.length < this.pageLimit && we >= end) fromId = undefined;
            break;
          }
          ws = we + 1;
        }
      }
      while (fromId !== undefined) {
        if (pages >= this.maxPages) {
          this.logger?.warn(`recovery: ${symbol}: stopped after ${pages} pages; continued at the next gap`);
          stoppedAt = fromId;
          break;
        }
        const page = await this.tradePage(symbol, { fromId });
        pages++;
        let maxId: number | undefined;
        for (const r of page) {
          const id = int(r.id);
          if (id === undefined) continue;
          byId.set(id, r);
          if (maxId === undefined || id > maxId) maxId = id;
        }
        if (page.length < this.pageLimit || maxId === undefined) break;
        fromId = maxId + 1;
      }
      if (stoppedAt !== undefined) this.retry.set(symbol, { fromId: stoppedAt });
      else this.retry.delete(symbol);
    } catch (err) {
      errors.push(`${symbol} fills: ${errText(err)}`);
      if ((err as { code?: unknown }).code === -1121) {
        // Invalid symbol (e.g. a typo in the config list): retrying cannot help.
        this.logger?.warn(`recovery: ${symbol} is not a valid symbol here; no fills recovered for it`);
        this.retry.delete(symbol);
        return [];
      }
      this.logger?.warn(`recovery: fills of ${symbol} incomplete, retried at the next gap: ${errText(err)}`);
      // Rows fetched so far are contiguous from the cursor: deliver them, retry after them.
      const got = [...byId.keys()];
      const maxGot = got.length ? Math.max(...got) : undefined;
      this.retry.set(symbol, maxGot !== undefined ? { fromId: maxGot + 1 } : startCursor);
    }
    const ids = [...byId.keys()].filter((id) => minExclusive === undefined || id > minExclusive).sort((a, b) => a - b);
    const out: UserDataEvent[] = [];
    for (const id of ids) {
      const row = byId.get(id)!;
      const t = int(row.time);
      if (t !== undefined && t < floor) continue;
      out.push(fillEventFromRow(this.market, row, this.now()));
    }
    if (ids.length) {
      this.seeSymbol(symbol);
      this.advanceSafe(symbol, ids[ids.length - 1]);
    }
    return out;
  }

  private async reconcileOrders(
    restRows: Row[],
    covered: Set<string> | 'all',
    algo: boolean,
    errors: string[],
  ): Promise<UserDataEvent[]> {
    const out: UserDataEvent[] = [];
    const present = new Set<string>();
    const now = this.now();
    for (const row of restRows) {
      const symbol = str(row.symbol);
      const id = int(algo ? row.algoId : row.orderId);
      const status = str(algo ? row.algoStatus : row.status);
      if (!symbol || id === undefined || !status) continue;
      const key = this.orderKey(symbol, id, algo);
      present.add(key);
      const tracked = this.orders.get(key);
      const executedQty = algo ? undefined : str(row.executedQty);
      if (!tracked || tracked.status !== status || !decEq(tracked.executedQty, executedQty)) {
        out.push(algo ? algoStateEventFromRow(this.market, row, now) : orderStateEventFromRow(this.market, row, now));
      }
      this.seeSymbol(symbol);
      this.trackOrder(symbol, id, status, executedQty, algo);
    }
    // Orders seen open live that are no longer open: look up their final state.
    const vanished = [...this.orders.entries()].filter(
      ([key, o]) => o.algo === algo && !present.has(key) && (covered === 'all' || covered.has(o.symbol)),
    );
    let looked = 0;
    for (const [key, o] of vanished) {
      if (looked >= this.maxOrderLookups) {
        this.logger?.warn(`recovery: ${vanished.length - looked} closed order(s) not looked up (limit ${this.maxOrderLookups})`);
        break;
      }
      looked++;
      try {
        let row: unknown;
        if (algo) {
          row = await this.get<unknown>(this.api.algoOrder!, { algoId: o.orderId });
        } else {
          row = await this.get<unknown>(this.api.order, { ...this.isolatedParams(), symbol: o.symbol, orderId: o.orderId });
        }
        if (!isObj(row)) continue;
        const status = str(algo ? row.algoStatus : row.status);
        if (!status) continue;
        const executedQty = algo ? undefined : str(row.executedQty);
        if (status !== o.status || !decEq(o.executedQty, executedQty)) {
          out.push(algo ? algoStateEventFromRow(this.market, row, this.now()) : orderStateEventFromRow(this.market, row, this.now()));
        }
        this.trackOrder(o.symbol, o.orderId, status, executedQty, algo);
      } catch (err) {
        errors.push(`order ${o.symbol}/${o.orderId}: ${errText(err)}`);
        this.logger?.warn(`recovery: final state of order ${o.orderId} (${o.symbol}) unknown: ${errText(err)}`);
        // Forget it: it is not open any more, and looking it up failed.
        this.orders.delete(key);
      }
    }
    return out;
  }
}

// ---------------------------------------------------------------------------

export interface RecoveryPipelineOptions {
  recovery: GapRecovery;
  /** Default: a new EventDeduper. */
  deduper?: EventDeduper;
  /** Receives every event exactly once, live and recovered, in order. */
  emit: (e: UserDataEvent) => void;
  logger?: Logger;
  /** Live events held back while a recovery runs, at most. Default 100 000. */
  maxBuffered?: number;
  /**
   * Asked when a recovery ends: true keeps live events held back (as by hold()) until the
   * next gap() or release(), e.g. while some symbol's fills are incomplete and a retry is
   * coming, so fills still leave in exchange order. Default: never.
   */
  holdAfter?: () => boolean;
}

/**
 * Glue for the stream manager: live events are observed and de-duplicated; while a
 * recovery runs, live events are held back and released after the recovered ones, so
 * fills leave in exchange order per symbol (recovered fills are older than the live
 * fills that arrive after the reconnect).
 */
export class RecoveryPipeline {
  readonly recovery: GapRecovery;
  readonly deduper: EventDeduper;
  private readonly emitFn: (e: UserDataEvent) => void;
  private readonly logger?: Logger;
  private readonly maxBuffered: number;
  private readonly holdAfter?: () => boolean;
  private pending = 0;
  private held = false;
  private buffer: UserDataEvent[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(opts: RecoveryPipelineOptions) {
    this.recovery = opts.recovery;
    this.deduper = opts.deduper ?? new EventDeduper();
    this.emitFn = opts.emit;
    this.logger = opts.logger;
    this.maxBuffered = opts.maxBuffered ?? 100_000;
    this.holdAfter = opts.holdAfter;
  }

  /** True while a recovery runs (live events are being held back). */
  get recovering(): boolean {
    return this.pending > 0;
  }

  /** True while live events are held back (hold() or a recovery running). */
  get holding(): boolean {
    return this.pending > 0 || this.held;
  }

  /**
   * The stream went down (e.g. state 'reconnecting'): hold live events back until the
   * next gap is recovered, so events of the new connection that arrive before the gap
   * is reported still leave after the recovered (older) fills. `release()` undoes it
   * when no gap will follow (stop).
   */
  hold(): void {
    this.held = true;
  }

  /** Ends a hold() without a gap; held events leave now (unless a recovery runs). */
  release(): void {
    this.held = false;
    if (this.pending === 0) this.flush();
  }

  /** A live event from the stream. */
  live(e: UserDataEvent): void {
    this.recovery.observe(e);
    if (this.pending > 0 || this.held) {
      this.buffer.push(e);
      if (this.buffer.length > this.maxBuffered) {
        this.logger?.warn('recovery: too many live events held back; releasing the oldest');
        this.out(this.buffer.shift()!);
      }
      return;
    }
    this.out(e);
  }

  /** A gap reported by the stream. Resolves when its recovered events were emitted. Never rejects. */
  gap(g: GapEvent): Promise<void> {
    this.pending++;
    this.held = false;
    // Live events held back so far and received up to the gap start are older than what
    // this recovery finds (its cursors include them): they leave before its results, right
    // after the results of the recoveries before it. Later ones wait for this recovery.
    const before: UserDataEvent[] = [];
    const after: UserDataEvent[] = [];
    for (const e of this.buffer) (typeof e.receivedAt === 'number' && e.receivedAt > g.from ? after : before).push(e);
    this.buffer = after;
    // Called now (not when the previous recovery ends), so the cursors are those of the gap.
    const recovering = this.recovery.recover(g);
    const run = this.chain.then(async () => {
      for (const e of before) this.out(e);
      let recovered: UserDataEvent[] = [];
      try {
        recovered = await recovering;
      } catch (err) {
        this.logger?.error(`recovery failed: ${errText(err)}`);
      }
      for (const e of recovered) this.out(e);
      this.pending--;
      if (this.pending === 0 && this.holdAfter) {
        try {
          if (this.holdAfter()) this.held = true;
        } catch {
          // keep going
        }
      }
      if (this.pending === 0 && !this.held) this.flush();
    });
    this.chain = run.catch(() => undefined);
    return this.chain;
  }

  /** Waits for all recoveries started so far. */
  idle(): Promise<void> {
    return this.chain;
  }

  private flush(): void {
    const held = this.buffer;
    this.buffer = [];
    for (const e of held) this.out(e);
  }

  private out(e: UserDataEvent): void {
    if (!this.deduper.accept(e)) return;
    try {
      this.emitFn(e);
    } catch (err) {
      this.logger?.error(`recovery: event consumer threw: ${errText(err)}`);
    }
  }
}
