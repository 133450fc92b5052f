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

  allOrdersOf(accountId: string, market: SimMarket, p: Record<string, string>): OrderRec[] {
    if (!p.symbol && !(market === 'coinm-futures' && p.pair) && market !== 'usdm-futures') throw ERR.mandatory('symbol');
    const limit = p.limit !== undefined ? Number(p.limit) : 500;
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000) throw ERR.badParam('limit');
    const symbol = p.symbol?.toUpperCase();
    const pair = p.pair?.toUpperCase();
    let list = [...this.s.orders.values()].filter(
      (o) =>
        o.accountId === accountId &&
        o.market === market &&
        (symbol ? o.symbol === symbol : pair ? o.symbol.startsWith(pair) : true),
    );
    if (p.orderId !== undefined) list = list.filter((o) => o.orderId >= Number(p.orderId));
    if (p.startTime !== undefined) list = list.filter((o) => o.time >= Number(p.startTime));
    if (p.endTime !== undefined) list = list.filter((o) => o.time <= Number(p.endTime));
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
