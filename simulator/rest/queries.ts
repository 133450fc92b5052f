/**
 * The order and trade queries every venue's REST answers share: trades by symbol / pair, time and
 * fromId, open orders, allOrders pages, and the single-order look-up (orderId / origClientOrderId).
 */
import {
  ERR,
  type SimMarket,
  type SimTrade,
  type KeyRec,
  type OrderRec,
} from '../model';
import type { SimState } from '../state';

const DAY = 86_400_000;

/** How a venue's allOrders answers (allOrdersOf). */
export interface AllOrdersRules {
  symbol: 'required' | 'optional' | 'symbolOrPair';
  /** Longest startTime..endTime span accepted (ms). */
  maxSpanMs: number;
  /** Without startTime, endTime and orderId: only this recent span (undefined: everything). */
  defaultSpanMs?: number;
  maxLimit: number;
  /** Futures: CANCELED / EXPIRED without fills vanish 3 days after creation, every order after 90 days. */
  futuresRetention?: boolean;
  /** Spot: CANCELED / EXPIRED without fills are archived 90 days after their last update. */
  spotArchive?: boolean;
}

/**
 * The venues' rules: spot (binance-spot-api-docs rest-api.md a5e0bc3: "can't be longer than 24
 * hours", limit max 1000), cross / isolated margin and PM margin (connector-js margin-trading: "Less
 * than 24 hours"; "Otherwise the orders within 24 hours are returned"; max limit 500), USDⓈ-M, COIN-M
 * and PM UM / CM (All Orders pages / connector-js: "less then 7 days (default as the recent 7 days)",
 * max 1000; USDⓈ-M `symbol` optional since 2026-08-25, derivatives change log).
 */
export const ALL_ORDERS_RULES = {
  spot: { symbol: 'required', maxSpanMs: DAY, maxLimit: 1000, spotArchive: true },
  margin: { symbol: 'required', maxSpanMs: DAY - 1, defaultSpanMs: DAY, maxLimit: 500 },
  usdm: { symbol: 'optional', maxSpanMs: 7 * DAY - 1, defaultSpanMs: 7 * DAY, maxLimit: 1000, futuresRetention: true },
  coinm: { symbol: 'symbolOrPair', maxSpanMs: 7 * DAY - 1, defaultSpanMs: 7 * DAY, maxLimit: 1000, futuresRetention: true },
  pmUm: { symbol: 'required', maxSpanMs: 7 * DAY - 1, defaultSpanMs: 7 * DAY, maxLimit: 1000, futuresRetention: true },
  pmCm: { symbol: 'symbolOrPair', maxSpanMs: 7 * DAY - 1, maxLimit: 1000, futuresRetention: true },
  pmMargin: { symbol: 'required', maxSpanMs: DAY - 1, maxLimit: 500 },
} as const satisfies Record<string, AllOrdersRules>;

function hidden(o: OrderRec, rules: AllOrdersRules, now: number): boolean {
  const finalUnfilled = (o.status === 'CANCELED' || o.status === 'EXPIRED') && o.executed === 0n;
  if (rules.futuresRetention) return (finalUnfilled && o.time + 3 * DAY < now) || o.time + 90 * DAY < now;
  if (rules.spotArchive) return finalUnfilled && o.updateTime + 90 * DAY < now;
  return false;
}

export class RestQueries {
  constructor(private readonly s: SimState) {}

  filterTrades(accountId: string, market: SimMarket, p: Record<string, string>, futures: boolean): SimTrade[] {
    if (!p.symbol && !(futures && p.pair)) throw ERR.mandatory('symbol');
    if (market === 'isolated-margin' && !p.symbol) throw ERR.mandatory('symbol');
    const limit = p.limit !== undefined ? Number(p.limit) : 500;
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000) throw ERR.badParam('limit');
    if (futures && p.fromId !== undefined && (p.startTime !== undefined || p.endTime !== undefined)) throw ERR.combination();
    const symbol = p.symbol?.toUpperCase();
    const pair = p.pair?.toUpperCase();
    let list = this.s.tradeLog.filter(
      (t) =>
        t.accountId === accountId &&
        t.market === market &&
        (symbol ? t.symbol === symbol : pair ? t.symbol.startsWith(pair) : true),
    );
    if (p.orderId !== undefined) list = list.filter((t) => t.orderId === Number(p.orderId));
    if (p.startTime !== undefined) list = list.filter((t) => t.time >= Number(p.startTime));
    if (p.endTime !== undefined) list = list.filter((t) => t.time <= Number(p.endTime));
    if (futures && p.fromId === undefined && p.startTime === undefined && p.endTime === undefined) {
      const from = this.s.serverTime() - 7 * 86_400_000;
      list = list.filter((t) => t.time >= from);
    }
    list.sort((a, b) => a.tradeId - b.tradeId);
    if (p.fromId !== undefined) {
      const from = Number(p.fromId);
      return list.filter((t) => t.tradeId >= from).slice(0, limit);
    }
    if (p.startTime !== undefined) return list.slice(0, limit);
    return list.slice(Math.max(0, list.length - limit));
  }

  openOrdersOf(accountId: string, market: SimMarket, symbol?: string): OrderRec[] {
    return [...this.s.orders.values()]
      .filter(
        (o) =>
          o.accountId === accountId &&
          o.market === market &&
          (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') &&
          (!symbol || o.symbol === symbol.toUpperCase()),
      )
      .sort((a, b) => a.orderId - b.orderId);
  }

  /**
   * GET …/allOrders as each venue documents it (`rules`): `symbol` required, optional (USDⓈ-M since
   * 2026-08-25) or symbol-or-pair (COIN-M); `startTime..endTime` (an omitted endTime is "now") at most
   * `maxSpanMs`, else -1127; without times and orderId only the last `defaultSpanMs`; limit default
   * 500, at most `maxLimit`; orders the exchange no longer returns are left out (futures: CANCELED /
   * EXPIRED without a fill created more than 3 days ago, any order created more than 90 days ago; spot:
   * CANCELED / EXPIRED without a fill last updated more than 90 days ago). Times filter the order's
   * creation time. Rows oldest first: from orderId / startTime the first `limit`, else the newest `limit`.
   */
  allOrdersOf(accountId: string, market: SimMarket, p: Record<string, string>, rules: AllOrdersRules): OrderRec[] {
    const pair = rules.symbol === 'symbolOrPair' ? p.pair?.toUpperCase() : undefined;
    if (!p.symbol && !pair && rules.symbol !== 'optional') throw ERR.mandatory('symbol');
    const limit = p.limit !== undefined ? Number(p.limit) : 500;
    if (!Number.isInteger(limit) || limit <= 0 || limit > rules.maxLimit) throw ERR.badParam('limit');
    const now = this.s.serverTime();
    let from = p.startTime !== undefined ? Number(p.startTime) : undefined;
    let to = p.endTime !== undefined ? Number(p.endTime) : undefined;
    if (from !== undefined && to !== undefined && from > to) throw ERR.startAfterEnd();
    if (from !== undefined && (to ?? now) - from > rules.maxSpanMs) throw ERR.interval(Math.round(rules.maxSpanMs / 3_600_000));
    if (from === undefined && to === undefined && p.orderId === undefined && rules.defaultSpanMs !== undefined) {
      from = now - rules.defaultSpanMs;
      to = now;
    }
    const symbol = p.symbol?.toUpperCase();
    let list = [...this.s.orders.values()].filter(
      (o) =>
        o.accountId === accountId &&
        o.market === market &&
        (symbol ? o.symbol === symbol : pair ? o.symbol.startsWith(pair) : true) &&
        !hidden(o, rules, now),
    );
    if (p.orderId !== undefined) list = list.filter((o) => o.orderId >= Number(p.orderId));
    if (from !== undefined) list = list.filter((o) => o.time >= from);
    if (to !== undefined) list = list.filter((o) => o.time <= to);
    list.sort((a, b) => a.orderId - b.orderId);
    if (p.orderId !== undefined || p.startTime !== undefined) return list.slice(0, limit);
    return list.slice(Math.max(0, list.length - limit));
  }

  /**
   * The order of a single-order query (GET …/order): by orderId, else by origClientOrderId; with
   * both, the order found by id must carry that client id. -2013 when there is no such order.
   */
  queryOrder(k: KeyRec, market: SimMarket, p: Record<string, string>): OrderRec {
    if (!p.symbol) throw ERR.mandatory('symbol');
    const hasId = p.orderId !== undefined && p.orderId !== '';
    const hasClient = p.origClientOrderId !== undefined && p.origClientOrderId !== '';
    if (!hasId && !hasClient) throw ERR.orderIdOrClientId();
    const symbol = p.symbol.toUpperCase();
    const mine = (o: OrderRec | undefined): o is OrderRec =>
      o !== undefined && o.accountId === k.accountId && o.market === market && o.symbol === symbol;
    let o: OrderRec | undefined;
    if (hasId) {
      const id = Number(p.orderId);
      if (!Number.isSafeInteger(id)) throw ERR.badParam('orderId');
      o = this.s.orders.get(id);
      if (mine(o) && hasClient && o.clientOrderId !== p.origClientOrderId) o = undefined;
    } else {
      o = [...this.s.orders.values()].find((x) => mine(x) && x.clientOrderId === p.origClientOrderId);
    }
    if (!mine(o)) throw ERR.noOrder();
    return o;
  }
}
