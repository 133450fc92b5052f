/**
 * REST of spot (`/api/v3`): time, ping, myTrades, openOrders, allOrders, order, account.
 */
import { fmt } from '../decimal';
import {
  ERR,
  type SpotLike,
  type Json,
  type Balance,
  type KeyRec,
  type OrderRec,
} from '../model';
import type { RouteTable } from './router';
import { ALL_ORDERS_RULES } from './queries';
import type { SimState } from '../state';

export class SpotRest {
  constructor(private readonly s: SimState) {}

  /** The routes of this room: "METHOD /path" → auth, permission, weight, handler. */
  routes(): RouteTable {
    return [
      ['GET /api/v3/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.s.serverTime() }) }],
      ['GET /api/v3/ping', { auth: 'none', weight: () => 1, handler: () => ({}) }],
      [
        'GET /api/v3/myTrades',
        { auth: 'signed', weight: (p) => (p.orderId ? 5 : 20), handler: (p, k) => this.restMyTrades(k!, 'spot', p) },
      ],
      [
        'GET /api/v3/openOrders',
        { auth: 'signed', weight: (p) => (p.symbol ? 6 : 80), handler: (p, k) => this.restOpenOrders(k!, 'spot', p) },
      ],
      ['GET /api/v3/account', { auth: 'signed', weight: () => 20, handler: (p, k) => this.restSpotAccount(k!, p) }],
      [
        'GET /api/v3/order',
        { auth: 'signed', weight: () => 4, handler: (p, k) => this.spotOrderJson(this.s.queries.queryOrder(k!, 'spot', p), 'spot') },
      ],
      [
        'GET /api/v3/allOrders',
        { auth: 'signed', weight: () => 20, handler: (p, k) => this.s.queries.allOrdersOf(k!.accountId, 'spot', p, ALL_ORDERS_RULES.spot).map((o) => this.spotOrderJson(o, 'spot')) },
      ],
    ];
  }

  restMyTrades(k: KeyRec, market: SpotLike, p: Record<string, string>): unknown {
    const trades = this.s.queries.filterTrades(k.accountId, market, p, false);
    return trades.map((t) => {
      const base: Json = {
        symbol: t.symbol,
        id: t.tradeId,
        orderId: t.orderId,
        orderListId: -1,
        price: t.price,
        qty: t.quantity,
        quoteQty: t.quoteQty,
        commission: t.commission,
        commissionAsset: t.commissionAsset,
        time: t.time,
        isBuyer: t.side === 'BUY',
        isMaker: t.isMaker,
        isBestMatch: true,
      };
      if (market !== 'spot') {
        delete base.orderListId;
        delete base.quoteQty;
        base.isIsolated = market === 'isolated-margin';
      }
      return base;
    });
  }

  spotOrderJson(o: OrderRec, market: SpotLike): Json {
    const open = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
    const r: Json = {
      symbol: o.symbol,
      orderId: o.orderId,
      orderListId: -1,
      clientOrderId: o.clientOrderId,
      price: fmt(o.price),
      origQty: fmt(o.qty),
      executedQty: fmt(o.executed),
      cummulativeQuoteQty: fmt(o.cumQuote),
      status: o.status,
      timeInForce: o.tif,
      type: o.type,
      side: o.side,
      stopPrice: fmt(o.stopPrice),
      icebergQty: fmt(0n),
      time: o.time,
      updateTime: o.updateTime,
      isWorking: open,
      workingTime: o.time,
      origQuoteOrderQty: fmt(0n),
      selfTradePreventionMode: 'EXPIRE_MAKER',
    };
    if (market !== 'spot') r.isIsolated = market === 'isolated-margin';
    return r;
  }

  restOpenOrders(k: KeyRec, market: SpotLike, p: Record<string, string>): unknown {
    if (market === 'isolated-margin' && !p.symbol) throw ERR.mandatory('symbol');
    return this.s.queries.openOrdersOf(k.accountId, market, p.symbol).map((o) => this.spotOrderJson(o, market));
  }

  private spotBalancesJson(m: Map<string, Balance>, omitZero: boolean): Json[] {
    const out: Json[] = [];
    for (const [asset, b] of [...m.entries()].sort((a, c) => a[0].localeCompare(c[0]))) {
      if (omitZero && b.free === 0n && b.locked === 0n) continue;
      out.push({ asset, free: fmt(b.free), locked: fmt(b.locked) });
    }
    return out;
  }

  restSpotAccount(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.s.account(k.accountId);
    return {
      makerCommission: 10,
      takerCommission: 10,
      buyerCommission: 0,
      sellerCommission: 0,
      commissionRates: { maker: '0.00100000', taker: '0.00100000', buyer: '0.00000000', seller: '0.00000000' },
      canTrade: k.canTrade,
      canWithdraw: true,
      canDeposit: true,
      brokered: false,
      requireSelfTradePrevention: false,
      preventSor: false,
      updateTime: a.updatedAt,
      accountType: 'SPOT',
      balances: this.spotBalancesJson(a.spot, String(p.omitZeroBalances).toLowerCase() === 'true'),
      permissions: ['SPOT'],
      uid: a.uid,
    };
  }
}
