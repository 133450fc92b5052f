/**
 * REST a recovery reads to find what a gap traded (issue 23): the symbol lists (spot
 * `GET /api/v3/exchangeInfo`, cross margin `GET /sapi/v1/margin/allPairs`), the futures income
 * histories (`/fapi/v1/income`, `/dapi/v1/income`, PM `/papi/v1/um/income`, `/papi/v1/cm/income`),
 * and portfolio margin's position lists and order histories. Spot / margin / futures allOrders and
 * positionRisk live in their venue's room (rules: queries.ts ALL_ORDERS_RULES).
 *
 * Sources (each as read 2026-12-07): binance-spot-api-docs a5e0bc3 (2026-07-21) rest-api.md
 * (exchangeInfo weight 20, parameters), errors.md (-1121, -1127); Binance's connector-js a9de9a9
 * (2026-07-24; weights of every futures, PM and margin endpoint, income row types); Binance's income
 * pages (stored copies, undated: limit "Default 100; max 1000", 7-day default and three-month history
 * on USDⓈ-M / PM UM, 200-day span on COIN-M / PM CM); `page` no longer accepted (npm `binance` 3.6.8
 * release, 2026-10-16, USDⓈ-M / COIN-M; Binance derivatives change log 2026-10-21, PM from 2026-10-28).
 */
import { fmt } from '../decimal';
import { ApiError, ERR, type FuturesMarket, type Json, type KeyRec, type SymbolRec } from '../model';
import { ALL_ORDERS_RULES } from './queries';
import type { RouteTable } from './router';
import type { SimState } from '../state';

const DAY = 86_400_000;

/** How a venue's income history answers (incomeOf). */
export interface IncomeRules {
  /** Longest startTime..endTime span accepted (undefined: no maximum documented). */
  maxSpanMs?: number;
  /** Without startTime and endTime: this recent span. */
  defaultSpanMs: number;
  /** Rows older than this are gone (undefined: kept). */
  retentionMs?: number;
  /** `tranId` as a number (USDⓈ-M) or a string (COIN-M, PM): connector-js response types. */
  tranIdNumber: boolean;
}

export const INCOME_RULES = {
  usdm: { defaultSpanMs: 7 * DAY, retentionMs: 89 * DAY, tranIdNumber: true },
  coinm: { maxSpanMs: 200 * DAY, defaultSpanMs: 200 * DAY, tranIdNumber: false },
  pmUm: { defaultSpanMs: 7 * DAY, retentionMs: 89 * DAY, tranIdNumber: false },
  pmCm: { maxSpanMs: 200 * DAY, defaultSpanMs: 200 * DAY, tranIdNumber: false },
} as const satisfies Record<string, IncomeRules>;

export class DiscoveryRest {
  constructor(private readonly s: SimState) {}

  routes(): RouteTable {
    const fut = (m: FuturesMarket, r: IncomeRules) => (p: Record<string, string>, k?: KeyRec) => this.incomeOf(k!, m, p, r);
    return [
      ['GET /api/v3/exchangeInfo', { auth: 'none', weight: () => 20, handler: (p) => this.exchangeInfo(p) }],
      // "Get All Cross Margin Pairs (MARKET_DATA)": weight(IP) 1, API key (connector-js margin-trading)
      ['GET /sapi/v1/margin/allPairs', { auth: 'apikey', weight: () => 1, handler: (p) => this.marginAllPairs(p) }],
      ['GET /fapi/v1/income', { auth: 'signed', perm: 'futures', weight: () => 30, handler: fut('usdm-futures', INCOME_RULES.usdm) }],
      ['GET /dapi/v1/income', { auth: 'signed', perm: 'futures', weight: () => 20, handler: fut('coinm-futures', INCOME_RULES.coinm) }],
      ['GET /papi/v1/um/income', { auth: 'signed', weight: () => 30, handler: fut('usdm-futures', INCOME_RULES.pmUm) }],
      ['GET /papi/v1/cm/income', { auth: 'signed', weight: () => 30, handler: fut('coinm-futures', INCOME_RULES.pmCm) }],
      ['GET /papi/v1/um/positionRisk', { auth: 'signed', weight: () => 5, handler: (p, k) => this.s.futures.restPositionRisk(k!, 'usdm-futures', p, 'v2') }],
      ['GET /papi/v1/cm/positionRisk', { auth: 'signed', weight: () => 1, handler: (p, k) => this.s.futures.restPositionRisk(k!, 'coinm-futures', p, 'coinm') }],
      [
        'GET /papi/v1/um/allOrders',
        {
          auth: 'signed',
          weight: () => 5,
          handler: (p, k) => this.s.queries.allOrdersOf(k!.accountId, 'usdm-futures', p, ALL_ORDERS_RULES.pmUm).map((o) => this.s.futures.futuresOrderJson(o, 'usdm-futures')),
        },
      ],
      [
        'GET /papi/v1/cm/allOrders',
        {
          auth: 'signed',
          weight: (p) => (p.pair ? 40 : 20),
          handler: (p, k) => this.s.queries.allOrdersOf(k!.accountId, 'coinm-futures', p, ALL_ORDERS_RULES.pmCm).map((o) => this.s.futures.futuresOrderJson(o, 'coinm-futures')),
        },
      ],
      [
        'GET /papi/v1/margin/allOrders',
        {
          auth: 'signed',
          weight: () => 100,
          handler: (p, k) => this.s.queries.allOrdersOf(k!.accountId, 'margin', p, ALL_ORDERS_RULES.pmMargin).map((o) => this.s.spot.spotOrderJson(o, 'margin')),
        },
      ],
    ];
  }

  /**
   * Income history rows of a futures book, as documented: `symbol`, `incomeType`, `startTime`,
   * `endTime` (inclusive), `limit` (default 100, max 1000). `page` is no longer accepted (refused here
   * with -1104, so a client that still sends it fails). Without times: the last `defaultSpanMs`;
   * startTime after endTime: -1023; a span over `maxSpanMs` (an omitted endTime is "now"): -1127.
   * Oldest first; from startTime the first `limit` rows, else the newest `limit`.
   */
  incomeOf(k: KeyRec, market: FuturesMarket, p: Record<string, string>, rules: IncomeRules): Json[] {
    if (p.page !== undefined) {
      const sent = Object.keys(p).filter((n) => n !== 'signature').length;
      throw ERR.unread(sent - 1, sent);
    }
    const limit = p.limit !== undefined ? Number(p.limit) : 100;
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000) throw ERR.badParam('limit');
    const now = this.s.serverTime();
    let from = p.startTime !== undefined ? Number(p.startTime) : undefined;
    let to = p.endTime !== undefined ? Number(p.endTime) : undefined;
    if ((from !== undefined && !Number.isFinite(from)) || (to !== undefined && !Number.isFinite(to))) throw ERR.badParam('startTime');
    if (from !== undefined && to !== undefined && from > to) throw ERR.startAfterEnd();
    if (from === undefined && to === undefined) {
      from = now - rules.defaultSpanMs;
      to = now;
    } else if (from === undefined) {
      from = (to as number) - rules.defaultSpanMs;
    }
    if (rules.maxSpanMs !== undefined && (to ?? now) - from > rules.maxSpanMs) throw ERR.interval(Math.round(rules.maxSpanMs / 3_600_000));
    const oldest = rules.retentionMs !== undefined ? now - rules.retentionMs : -Infinity;
    const symbol = p.symbol?.toUpperCase();
    const type = p.incomeType?.toUpperCase();
    const lo = from;
    const rows = this.s.incomeLog
      .filter(
        (r) =>
          r.accountId === k.accountId &&
          r.market === market &&
          r.time >= Math.max(lo, oldest) &&
          (to === undefined || r.time <= to) &&
          (!symbol || r.symbol === symbol) &&
          (!type || r.incomeType === type),
      )
      .sort((a, b) => a.time - b.time || a.tranId - b.tranId);
    const page = p.startTime !== undefined ? rows.slice(0, limit) : rows.slice(Math.max(0, rows.length - limit));
    return page.map((r) => ({
      symbol: r.symbol,
      incomeType: r.incomeType,
      income: fmt(r.income),
      asset: r.asset,
      info: r.info,
      time: r.time,
      tranId: rules.tranIdNumber ? r.tranId : String(r.tranId),
      tradeId: r.tradeId,
    }));
  }

  /**
   * GET /api/v3/exchangeInfo (weight 20, no key): `symbol` / `symbols` (JSON array; an unknown one:
   * -1121), `permissions` (SPOT / MARGIN filter; not with symbol(s)), `symbolStatus` (TRADING, HALT,
   * BREAK…; not with symbol(s): -1128), `showPermissionSets` (default true). Every spot-list symbol.
   */
  exchangeInfo(p: Record<string, string>): Json {
    const all = [...this.s.symbols.spot.values()].sort((a, b) => a.symbol.localeCompare(b.symbol));
    const wanted = parseSymbols(p);
    if (wanted && (p.symbolStatus !== undefined || p.permissions !== undefined)) throw ERR.combination();
    let list: SymbolRec[] = all;
    if (wanted) {
      list = wanted.map((n) => {
        const r = this.s.symbols.spot.get(n);
        if (!r) throw ERR.badSymbol();
        return r;
      });
    }
    if (p.symbolStatus !== undefined) list = list.filter((r) => r.status === p.symbolStatus);
    if (p.permissions !== undefined) {
      const perms = parseList(p.permissions);
      list = list.filter((r) => perms.includes('SPOT') || (r.margin && perms.includes('MARGIN')));
    }
    const showSets = String(p.showPermissionSets ?? 'true').toLowerCase() !== 'false';
    return {
      timezone: 'UTC',
      serverTime: this.s.serverTime(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
      ],
      exchangeFilters: [],
      symbols: list.map((r) => ({
        symbol: r.symbol,
        status: r.status,
        baseAsset: r.baseAsset,
        baseAssetPrecision: 8,
        quoteAsset: r.quoteAsset,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        baseCommissionPrecision: 8,
        quoteCommissionPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT', 'TAKE_PROFIT_LIMIT'],
        icebergAllowed: true,
        ocoAllowed: true,
        otoAllowed: true,
        quoteOrderQtyMarketAllowed: true,
        allowTrailingStop: true,
        cancelReplaceAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: r.margin,
        filters: [],
        permissions: [],
        permissionSets: showSets ? [r.margin ? ['SPOT', 'MARGIN'] : ['SPOT']] : [],
        defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
        allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
      })),
    };
  }

  /** GET /sapi/v1/margin/allPairs: the cross-margin pairs (`symbol` optional; unknown: -1121). */
  marginAllPairs(p: Record<string, string>): Json[] {
    const rows = [...this.s.symbols.spot.values()].filter((r) => r.margin).sort((a, b) => a.symbol.localeCompare(b.symbol));
    const sym = p.symbol?.toUpperCase();
    const out = sym ? rows.filter((r) => r.symbol === sym) : rows;
    if (sym && out.length === 0) throw ERR.badSymbol();
    return out.map((r) => ({
      id: idOf(r.symbol),
      symbol: r.symbol,
      base: r.baseAsset,
      quote: r.quoteAsset,
      isMarginTrade: true,
      isBuyAllowed: r.status === 'TRADING',
      isSellAllowed: r.status === 'TRADING',
    }));
  }
}

function parseList(v: string): string[] {
  const t = v.trim();
  if (t.startsWith('[')) {
    try {
      const a = JSON.parse(t) as unknown;
      if (Array.isArray(a)) return a.map((x) => String(x).toUpperCase());
    } catch {
      throw new ApiError(400, -1100, `Illegal characters found in parameter '${t.slice(0, 32)}'.`);
    }
  }
  return [t.toUpperCase()];
}

function parseSymbols(p: Record<string, string>): string[] | undefined {
  if (p.symbol !== undefined && p.symbols !== undefined) throw ERR.combination();
  if (p.symbol !== undefined) return [p.symbol.toUpperCase()];
  if (p.symbols !== undefined) return parseList(p.symbols);
  return undefined;
}

/** A stable numeric pair id from the symbol's name. */
function idOf(symbol: string): number {
  let h = 0;
  for (const c of symbol) h = (h * 31 + c.charCodeAt(0)) % 1_000_000_007;
  return h;
}
