/**
 * The user-data events of the ledger: spot `executionReport` and `outboundAccountPosition`,
 * futures `ORDER_TRADE_UPDATE` and `ACCOUNT_UPDATE`.
 */
import { mul, fmt, fmtTrim } from '../decimal';
import {
  type SimTrade,
  type SpotLike,
  type FuturesMarket,
  type Json,
  type Position,
  type Account,
  type OrderRec,
} from '../model';
import type { SimState } from '../state';

export class LedgerEvents {
  constructor(private readonly s: SimState) {}

  emitAccountPosition(a: Account, market: SpotLike, symbol: string | undefined, assets: string[], now: number): void {
    // spot account updateTime (GET /api/v3/account); margin accounts carry none
    if (market === 'spot') a.updatedAt = now;
    const book = this.s.books.spotBook(a, market, symbol ?? '');
    const uniq = [...new Set(assets)];
    this.s.wsApi.emitSpot(a.id, market, symbol, {
      e: 'outboundAccountPosition',
      E: now,
      u: now,
      B: uniq.map((asset) => {
        const b = this.s.books.bal(book, asset);
        return { a: asset, f: fmt(b.free), l: fmt(b.locked) };
      }),
    });
  }

  executionReport(
    o: OrderRec,
    x: string,
    now: number,
    t?: { trade: SimTrade; execId: number; lastQty: bigint; lastPrice: bigint; lastQuote: bigint; commission: bigint },
    extra: { cancelClientOrderId?: string; expiryReason?: string } = {},
  ): Json {
    const onBook = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
    return {
      e: 'executionReport',
      E: now,
      s: o.symbol,
      c: extra.cancelClientOrderId ?? o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.tif,
      q: fmt(o.qty),
      p: fmt(o.price),
      P: fmt(o.stopPrice),
      F: fmt(0n),
      g: -1,
      C: extra.cancelClientOrderId ? o.clientOrderId : '',
      x,
      X: o.status,
      r: 'NONE',
      i: o.orderId,
      l: fmt(t ? t.lastQty : 0n),
      z: fmt(o.executed),
      L: fmt(t ? t.lastPrice : 0n),
      n: fmt(t ? t.commission : 0n),
      N: t ? t.trade.commissionAsset : null,
      T: now,
      t: t ? t.trade.tradeId : -1,
      I: this.s.nextExecId++,
      w: onBook,
      m: t ? t.trade.isMaker : false,
      M: false,
      O: o.time,
      Z: fmt(o.cumQuote),
      Y: fmt(t ? t.lastQuote : 0n),
      Q: fmt(0n),
      W: o.time,
      V: 'EXPIRE_MAKER',
      eR: extra.expiryReason ?? 'NONE',
    };
  }

  orderTradeUpdate(
    o: OrderRec,
    x: string,
    now: number,
    t?: { trade: SimTrade; lastQty: bigint; lastPrice: bigint; commission: bigint; realized: bigint },
    extra: { expiryReason?: string } = {},
  ): Json {
    const inner: Json = {
      s: o.symbol,
      c: o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.tif,
      q: fmtTrim(o.qty),
      p: fmtTrim(o.price),
      ap: fmtTrim(this.s.books.avgPrice(o)),
      sp: fmtTrim(o.stopPrice),
      x,
      X: o.status,
      i: o.orderId,
      l: fmtTrim(t ? t.lastQty : 0n),
      z: fmtTrim(o.executed),
      L: fmtTrim(t ? t.lastPrice : 0n),
    };
    if (t) {
      inner.N = t.trade.commissionAsset;
      inner.n = fmtTrim(t.commission);
    }
    const remaining = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED' ? o.qty - o.executed : 0n;
    Object.assign(inner, {
      T: now,
      t: t ? t.trade.tradeId : 0,
      b: fmtTrim(o.side === 'BUY' ? mul(remaining, o.price) : 0n),
      a: fmtTrim(o.side === 'SELL' ? mul(remaining, o.price) : 0n),
      m: t ? t.trade.isMaker : false,
      R: o.reduceOnly,
      wt: 'CONTRACT_PRICE',
      ot: o.origType ?? o.type,
      ps: o.positionSide,
      cp: false,
      rp: fmtTrim(t ? t.realized : 0n),
      pP: false,
      si: 0,
      ss: 0,
      V: 'EXPIRE_MAKER',
      pm: 'NONE',
      gtd: 0,
      er: extra.expiryReason ?? '0',
    });
    // COIN-M: `ma` margin asset in the order and `i` account alias on the event
    // (coin-margined-futures/user-data-streams/Event-Order-Update; connector-python COIN-M
    // order_trade_update_o.py, 2026-08-22)
    if (o.market === 'coinm-futures') {
      inner.ma = this.s.books.marginAsset(o.market, o.symbol);
      return { e: 'ORDER_TRADE_UPDATE', E: now, T: now, i: `sim${this.s.account(o.accountId).uid}`, o: inner };
    }
    return { e: 'ORDER_TRADE_UPDATE', E: now, T: now, o: inner };
  }

  accountUpdate(
    a: Account,
    market: FuturesMarket,
    reason: string,
    balances: Array<{ asset: string; change: bigint }>,
    positions: Position[],
    now: number,
    /**
     * `a.S`, "Symbol associated with FUNDING_FEE event" (USDⓈ-M, COIN-M, PM: connector-python
     * CHANGELOGs 2026-08-07 / 2026-08-11).
     */
    fundingFeeSymbol?: string,
  ): Json {
    const fb = a.futures[market];
    const inner: Json = {
      m: reason,
      ...(fundingFeeSymbol !== undefined ? { S: fundingFeeSymbol } : {}),
      B: balances.map((b) => {
        const wb = fb.wallet.get(b.asset) ?? 0n;
        return { a: b.asset, wb: fmtTrim(wb), cw: fmtTrim(wb), bc: fmtTrim(b.change) };
      }),
      P: positions.map((p) => ({
        s: p.symbol,
        pa: fmtTrim(p.amt),
        ep: fmtTrim(p.entry),
        bep: fmtTrim(p.entry),
        cr: fmtTrim(p.realized),
        up: fmtTrim(this.s.books.unrealized(market, fb, p)),
        mt: 'cross',
        iw: '0',
        ps: p.positionSide,
      })),
    };
    const ev: Json = { e: 'ACCOUNT_UPDATE', E: now, T: now };
    if (market === 'coinm-futures') ev.i = `sim${a.uid}`;
    ev.a = inner;
    return ev;
  }
}
