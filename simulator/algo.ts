/**
 * Algo (conditional) orders of USDⓈ-M and, since the CM–UM integration, COIN-M: the Algo Service
 * (placeAlgoOrder, triggerAlgoOrder, cancelAlgoOrder, getAlgoOrder), ALGO_UPDATE events, the book
 * order a trigger places, FINISHED once that order is done, and the REST rows of
 * GET /fapi|/dapi/v1/algoOrder and openAlgoOrders.
 */
import { dec, fmtTrim } from './decimal';
import { randomAlnum } from './signing';
import {
  ERR,
  isFutures,
  type SimOrder,
  type SimAlgoOrder,
  type FuturesMarket,
  type Json,
  type KeyRec,
  type OrderRec,
  type AlgoStatus,
  type AlgoRec,
} from './model';
import type { RouteTable } from './rest/router';
import type { SimState } from './state';

/** The order type the matching engine gets when a conditional order triggers. */
function actualType(algoType: string): string {
  return algoType === 'STOP' || algoType === 'TAKE_PROFIT' ? 'LIMIT' : 'MARKET';
}

export class AlgoRoom {
  constructor(private readonly s: SimState) {}

  /** The routes of this room: "METHOD /path" → auth, permission, weight, handler. */
  routes(): RouteTable {
    return [
      // Algo (conditional) orders: USDⓈ-M since 2025-12-09 (derivatives change log); COIN-M since the
      // CM–UM integration ("Important CM-UM Integration Notice" §C.5, effective 2026-06-30:
      // POST/DELETE /dapi/v1/algoOrder, GET /dapi/v1/openAlgoOrders; GET /dapi/v1/algoOrder as third-party
      // COIN-M clients use it). Weights as USDⓈ-M's (1 with a symbol / 40 without; 1).
      ...(['fapi', 'dapi'] as const).flatMap((api): RouteTable => {
        const market: FuturesMarket = api === 'fapi' ? 'usdm-futures' : 'coinm-futures';
        return [
          [
            `GET /${api}/v1/openAlgoOrders`,
            { auth: 'signed', perm: 'futures', weight: (p) => (p.symbol ? 1 : 40), handler: (p, k) => this.restOpenAlgoOrders(k!, market, p) },
          ],
          [
            `GET /${api}/v1/algoOrder`,
            { auth: 'signed', perm: 'futures', weight: () => 1, handler: (p, k) => this.algoOrderJson(this.queryAlgoOrder(k!, market, p)) },
          ],
        ];
      }),
    ];
  }

  private algoSnapshot(r: AlgoRec): SimAlgoOrder {
    const s: SimAlgoOrder = {
      algoId: r.algoId,
      clientAlgoId: r.clientAlgoId,
      accountId: r.accountId,
      symbol: r.symbol,
      side: r.side,
      positionSide: r.positionSide,
      orderType: r.type,
      timeInForce: r.tif,
      quantity: fmtTrim(r.qty),
      price: fmtTrim(r.price),
      triggerPrice: fmtTrim(r.triggerPrice),
      algoStatus: r.status,
      createTime: r.createTime,
      updateTime: r.updateTime,
      triggerTime: r.triggerTime,
    };
    if (r.actualOrderId !== undefined) s.actualOrderId = r.actualOrderId;
    return s;
  }

  /** Executed quantity and average price of the order a triggered algo order placed. */
  private algoExecution(r: AlgoRec): { qty: bigint; avg: bigint } {
    const o = r.actualOrderId !== undefined ? this.s.orders.get(r.actualOrderId) : undefined;
    return o ? { qty: o.executed, avg: this.s.books.avgPrice(o) } : { qty: 0n, avg: 0n };
  }

  /** REST row of GET /fapi/v1/algoOrder and /fapi/v1/openAlgoOrders. */
  algoOrderJson(r: AlgoRec): Json {
    const ex = this.algoExecution(r);
    return {
      algoId: r.algoId,
      clientAlgoId: r.clientAlgoId,
      algoType: 'CONDITIONAL',
      orderType: r.type,
      symbol: r.symbol,
      side: r.side,
      positionSide: r.positionSide,
      timeInForce: r.tif,
      quantity: fmtTrim(r.qty),
      algoStatus: r.status,
      actualOrderId: r.actualOrderId !== undefined ? String(r.actualOrderId) : '',
      actualPrice: fmtTrim(ex.avg),
      triggerPrice: fmtTrim(r.triggerPrice),
      price: fmtTrim(r.price),
      icebergQuantity: null,
      tpTriggerPrice: '0',
      tpPrice: '0',
      slTriggerPrice: '0',
      slPrice: '0',
      tpOrderType: '',
      selfTradePreventionMode: 'EXPIRE_MAKER',
      workingType: r.workingType,
      priceMatch: 'NONE',
      closePosition: r.closePosition,
      priceProtect: r.priceProtect,
      reduceOnly: r.reduceOnly,
      createTime: r.createTime,
      updateTime: r.updateTime,
      triggerTime: r.triggerTime,
      goodTillDate: 0,
    };
  }

  /** ALGO_UPDATE event (reference §4.4). */
  private algoUpdate(r: AlgoRec, now: number, rejectReason = ''): Json {
    const ex = this.algoExecution(r);
    return {
      e: 'ALGO_UPDATE',
      E: now,
      T: now,
      o: {
        caid: r.clientAlgoId,
        aid: r.algoId,
        at: 'CONDITIONAL',
        o: r.type,
        s: r.symbol,
        S: r.side,
        ps: r.positionSide,
        f: r.tif,
        q: fmtTrim(r.qty),
        X: r.status,
        ai: r.actualOrderId !== undefined ? String(r.actualOrderId) : '',
        ap: fmtTrim(ex.avg),
        aq: fmtTrim(ex.qty),
        act: actualType(r.type),
        tp: fmtTrim(r.triggerPrice),
        p: fmtTrim(r.price),
        V: 'EXPIRE_MAKER',
        wt: r.workingType,
        pm: 'NONE',
        cp: r.closePosition,
        pP: r.priceProtect,
        R: r.reduceOnly,
        tt: r.triggerTime,
        gtd: 0,
        rm: rejectReason,
      },
    };
  }

  private setAlgoStatus(r: AlgoRec, status: AlgoStatus, now: number): void {
    r.status = status;
    r.updateTime = now;
    this.s.streams.emitFutures(r.accountId, r.market, this.algoUpdate(r, now));
  }

  private algoRec(algoId: number): AlgoRec {
    const r = this.s.algoOrders.get(algoId);
    if (!r) throw new Error(`unknown algo order ${algoId}`);
    return r;
  }

  /** A triggered algo order whose order left the book (filled, canceled, expired) is FINISHED. */
  finishAlgoOf(o: OrderRec, now: number): void {
    if (!isFutures(o.market)) return;
    for (const r of this.s.algoOrders.values()) {
      if (r.actualOrderId === o.orderId && r.status === 'TRIGGERED') this.setAlgoStatus(r, 'FINISHED', now);
    }
  }

  queryAlgoOrder(k: KeyRec, market: FuturesMarket, p: Record<string, string>): AlgoRec {
    const hasId = p.algoId !== undefined && p.algoId !== '';
    const hasClient = p.clientAlgoId !== undefined && p.clientAlgoId !== '';
    if (!hasId && !hasClient) throw ERR.orderIdOrClientId('clientAlgoId', 'algoId');
    let r: AlgoRec | undefined;
    if (hasId) {
      const id = Number(p.algoId);
      if (!Number.isSafeInteger(id)) throw ERR.badParam('algoId');
      r = this.s.algoOrders.get(id);
    } else {
      r = [...this.s.algoOrders.values()].find((x) => x.accountId === k.accountId && x.clientAlgoId === p.clientAlgoId);
    }
    if (!r || r.accountId !== k.accountId || r.market !== market) throw ERR.noOrder();
    return r;
  }

  /** GET /fapi/v1/openAlgoOrders: algo orders not yet triggered (NEW), optionally of one symbol / algoId. */
  restOpenAlgoOrders(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    const symbol = p.symbol?.toUpperCase();
    if (p.algoType !== undefined && p.algoType !== '' && p.algoType !== 'CONDITIONAL') throw ERR.badParam('algoType');
    const algoId = p.algoId !== undefined && p.algoId !== '' ? Number(p.algoId) : undefined;
    return [...this.s.algoOrders.values()]
      .filter(
        (r) =>
          r.accountId === k.accountId &&
          r.market === market &&
          r.status === 'NEW' &&
          (!symbol || r.symbol === symbol) &&
          (algoId === undefined || r.algoId === algoId),
      )
      .sort((a, b) => a.algoId - b.algoId)
      .map((r) => this.algoOrderJson(r));
  }

  /**
   * Places a USDⓈ-M conditional order in the simulated Algo Service (not the order book): it shows
   * in GET /fapi/v1/openAlgoOrders and /fapi/v1/algoOrder, and ALGO_UPDATE (NEW) is pushed.
   */
  placeAlgoOrder(
    accountId: string,
    o: {
      symbol: string;
      side: 'BUY' | 'SELL';
      /** STOP_MARKET (default), TAKE_PROFIT_MARKET, STOP, TAKE_PROFIT, TRAILING_STOP_MARKET. */
      type?: string;
      quantity: string;
      triggerPrice: string;
      /** Limit price of STOP / TAKE_PROFIT. */
      price?: string;
      timeInForce?: string;
      positionSide?: 'BOTH' | 'LONG' | 'SHORT';
      reduceOnly?: boolean;
      closePosition?: boolean;
      priceProtect?: boolean;
      workingType?: 'CONTRACT_PRICE' | 'MARK_PRICE';
      clientAlgoId?: string;
      /** 'usdm-futures' (default) or 'coinm-futures' (COIN-M algo orders, CM-UM Integration Notice §C.5). */
      market?: FuturesMarket;
    },
  ): SimAlgoOrder {
    this.s.account(accountId);
    const market: FuturesMarket = o.market ?? 'usdm-futures';
    const type = (o.type ?? 'STOP_MARKET').toUpperCase();
    if (!['STOP_MARKET', 'TAKE_PROFIT_MARKET', 'STOP', 'TAKE_PROFIT', 'TRAILING_STOP_MARKET'].includes(type)) {
      throw new Error(`unsupported algo order type ${type}`);
    }
    const qty = dec(o.quantity);
    if (qty <= 0n) throw new Error('quantity must be positive');
    const triggerPrice = dec(o.triggerPrice);
    if (triggerPrice <= 0n) throw new Error('triggerPrice must be positive');
    const price = o.price !== undefined ? dec(o.price) : 0n;
    if (actualType(type) === 'LIMIT' && price <= 0n) throw new Error(`${type} needs a price`);
    const now = this.s.serverTime();
    const r: AlgoRec = {
      algoId: this.s.nextAlgoId++,
      clientAlgoId: o.clientAlgoId ?? randomAlnum(22),
      accountId,
      market,
      symbol: o.symbol.toUpperCase(),
      side: o.side,
      positionSide: o.positionSide ?? 'BOTH',
      type,
      tif: o.timeInForce ?? 'GTC',
      qty,
      price,
      triggerPrice,
      workingType: o.workingType ?? 'CONTRACT_PRICE',
      reduceOnly: o.reduceOnly ?? false,
      closePosition: o.closePosition ?? false,
      priceProtect: o.priceProtect ?? false,
      status: 'NEW',
      createTime: now,
      updateTime: now,
      triggerTime: 0,
    };
    this.s.algoOrders.set(r.algoId, r);
    this.s.streams.emitFutures(accountId, market, this.algoUpdate(r, now));
    return this.algoSnapshot(r);
  }

  /**
   * Triggers a NEW algo order: ALGO_UPDATE TRIGGERING, the order enters the book (ORDER_TRADE_UPDATE
   * NEW, `ot` = the algo type), ALGO_UPDATE TRIGGERED with `ai` = its orderId. With `fillPrice` the
   * order is then filled completely, which finishes the algo order (ALGO_UPDATE FINISHED).
   */
  triggerAlgoOrder(algoId: number, opts: { fillPrice?: string } = {}): { algo: SimAlgoOrder; order: SimOrder } {
    const r = this.algoRec(algoId);
    if (r.status !== 'NEW') throw new Error(`algo order ${algoId} is ${r.status}`);
    const now = this.s.serverTime();
    r.triggerTime = now;
    this.setAlgoStatus(r, 'TRIGGERING', now);
    const actual = actualType(r.type);
    const order = this.s.ledger.placeOrder(r.accountId, {
      market: r.market,
      symbol: r.symbol,
      side: r.side,
      type: actual,
      quantity: fmtTrim(r.qty),
      price: actual === 'LIMIT' ? fmtTrim(r.price) : undefined,
      timeInForce: r.tif,
      clientOrderId: r.clientAlgoId,
      positionSide: r.positionSide as 'BOTH' | 'LONG' | 'SHORT',
      reduceOnly: r.reduceOnly,
      stopPrice: fmtTrim(r.triggerPrice),
      origType: r.type,
    });
    r.actualOrderId = order.orderId;
    this.setAlgoStatus(r, 'TRIGGERED', now);
    if (opts.fillPrice !== undefined) this.s.ledger.fillOrder(order.orderId, { quantity: order.origQty, price: opts.fillPrice, maker: false });
    return { algo: this.algoSnapshot(r), order: this.s.ledger.getOrder(order.orderId)! };
  }

  /** Cancels a NEW algo order (ALGO_UPDATE CANCELED). */
  cancelAlgoOrder(algoId: number): SimAlgoOrder {
    const r = this.algoRec(algoId);
    if (r.status !== 'NEW') throw new Error(`algo order ${algoId} is ${r.status}`);
    this.setAlgoStatus(r, 'CANCELED', this.s.serverTime());
    return this.algoSnapshot(r);
  }

  /** Current state of an algo order (snapshot). */
  getAlgoOrder(algoId: number): SimAlgoOrder | undefined {
    const r = this.s.algoOrders.get(algoId);
    return r ? this.algoSnapshot(r) : undefined;
  }
}
