/**
 * A tiny in-memory exchange implementing the REST calls recovery makes (spot and USDⓈ-M
 * semantics of fromId / startTime / endTime / limit), for unit tests that need behaviour the
 * simulator does not have (single-order lookups, algo orders, long histories).
 */
import type { HttpMethod, RestLike, RestParams } from '../../nodes/lib/exchange/weight-budget';

export interface FakeTrade {
  symbol: string;
  id: number;
  orderId: number;
  price: string;
  qty: string;
  time: number;
  side: 'BUY' | 'SELL';
}

export interface FakeOrder {
  symbol: string;
  orderId: number;
  status: string;
  executedQty: string;
  origQty: string;
  price: string;
  side: string;
  type: string;
  time: number;
  updateTime: number;
}

export class FakeExchange implements RestLike {
  trades: FakeTrade[] = [];
  orders = new Map<number, FakeOrder>();
  algo: Array<Record<string, unknown>> = [];
  calls: Array<{ path: string; params: RestParams }> = [];
  failOn?: (path: string, params: RestParams) => Error | undefined;
  private nextTrade = 100;
  private nextOrder = 1;

  constructor(private readonly futures = false) {}

  trade(symbol: string, time: number, orderId?: number, qty = '1'): FakeTrade {
    const t: FakeTrade = { symbol, id: this.nextTrade++, orderId: orderId ?? this.nextOrder++, price: '10', qty, time, side: 'BUY' };
    this.trades.push(t);
    return t;
  }

  order(symbol: string, status: string, time: number, executedQty = '0'): FakeOrder {
    const o: FakeOrder = {
      symbol,
      orderId: this.nextOrder++,
      status,
      executedQty,
      origQty: '5',
      price: '10',
      side: 'BUY',
      type: 'LIMIT',
      time,
      updateTime: time,
    };
    this.orders.set(o.orderId, o);
    return o;
  }

  async request<T>(_method: HttpMethod, path: string, params: RestParams = {}): Promise<T> {
    this.calls.push({ path, params: { ...params } });
    const err = this.failOn?.(path, params);
    if (err) throw err;
    return this.handle(path, params) as T;
  }

  private handle(path: string, p: RestParams): unknown {
    const open = (o: FakeOrder): boolean => o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
    switch (path) {
      case '/api/v3/myTrades':
      case '/fapi/v1/userTrades': {
        if (p.fromId !== undefined && (p.startTime !== undefined || p.endTime !== undefined) && this.futures) {
          throw new Error('fromId cannot be combined with startTime/endTime');
        }
        if (p.startTime !== undefined && p.endTime !== undefined) {
          const span = Number(p.endTime) - Number(p.startTime);
          if (span > (this.futures ? 7 : 1) * 86_400_000) throw new Error(`window too long: ${span}`);
        }
        const limit = Number(p.limit ?? 500);
        let list = this.trades.filter((t) => t.symbol === p.symbol).sort((a, b) => a.id - b.id);
        if (p.fromId !== undefined) list = list.filter((t) => t.id >= Number(p.fromId));
        if (p.startTime !== undefined) list = list.filter((t) => t.time >= Number(p.startTime));
        if (p.endTime !== undefined) list = list.filter((t) => t.time <= Number(p.endTime));
        return list.slice(0, limit).map((t) =>
          this.futures
            ? { symbol: t.symbol, id: t.id, orderId: t.orderId, side: t.side, price: t.price, qty: t.qty, realizedPnl: '0', commission: '0', commissionAsset: 'USDT', time: t.time, positionSide: 'BOTH', buyer: t.side === 'BUY', maker: false }
            : { symbol: t.symbol, id: t.id, orderId: t.orderId, orderListId: -1, price: t.price, qty: t.qty, quoteQty: '10', commission: '0', commissionAsset: 'USDT', time: t.time, isBuyer: t.side === 'BUY', isMaker: false, isBestMatch: true },
        );
      }
      case '/api/v3/openOrders':
      case '/fapi/v1/openOrders':
        return [...this.orders.values()].filter((o) => open(o) && (p.symbol === undefined || o.symbol === p.symbol)).map((o) => ({ ...o }));
      case '/api/v3/order':
      case '/fapi/v1/order': {
        const o = this.orders.get(Number(p.orderId));
        // the exchange's answer: -2013 "Order does not exist."
        if (!o || o.symbol !== p.symbol) throw Object.assign(new Error('Order does not exist.'), { code: -2013 });
        return { ...o };
      }
      case '/fapi/v1/openAlgoOrders':
        return this.algo.filter((a) => a.algoStatus === 'NEW' && (p.symbol === undefined || a.symbol === p.symbol));
      case '/fapi/v1/algoOrder': {
        const a = this.algo.find((x) => x.algoId === Number(p.algoId));
        if (!a) throw new Error('no such algo order');
        return a;
      }
      case '/api/v3/account':
        return { updateTime: 1, balances: [{ asset: 'USDT', free: '1', locked: '0' }] };
      case '/fapi/v3/account':
        return { assets: [{ asset: 'USDT', walletBalance: '1', crossWalletBalance: '1' }], positions: [] };
      default:
        throw new Error(`unknown path ${path}`);
    }
  }
}
