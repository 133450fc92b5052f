/**
 * Order events → readable payloads: spot/margin executionReport, futures ORDER_TRADE_UPDATE,
 * listStatus, ALGO_UPDATE, TRADE_LITE, and the futures account events around orders
 * (ACCOUNT_CONFIG_UPDATE, CONDITIONAL_ORDER_TRIGGER_REJECT, STRATEGY_UPDATE). Conventions:
 * events/index.ts.
 */
import { dec, num, text, textNonEmpty, bool, obj, arr, clean, algoOrderOf, type Payload, type Raw } from './fields';
import { multiplyDecimals, spotAveragePrice } from './decimals';
import type { Market } from '../types';

/**
 * Whether the quantities of a futures order event count contracts, not base asset: COIN-M, and the
 * portfolio-margin CM business unit (`fs` 'CM'). There `q`, `l`, `z` are contracts (connector-python
 * `derivatives_trading_coin_futures` websocket_streams models order_trade_update_o.py and the
 * userTrades model with its separate `base_qty`, 2026-08-22; audit 2026-12-07 §3 / G4), so `l × L`
 * is no quote quantity and `lastQuoteQuantity` is left out.
 */
export function countsContracts(raw: Raw, market?: Market | string): boolean {
  return market === 'coinm-futures' || raw.fs === 'CM';
}

/** Futures `er` expiry reason codes (USDⓈ-M / COIN-M docs). */
export const FUTURES_EXPIRY_REASONS: Readonly<Record<string, string>> = {
  '0': 'NONE',
  '1': 'SELF_TRADE_PREVENTION',
  '2': 'IOC_REMAINDER',
  '3': 'IOC_SELF_TRADE_PREVENTION',
  '4': 'REDUCE_ONLY_OR_POSITION_REVERSAL',
  '5': 'LIQUIDATION',
  '6': 'GTE_UNSATISFIED',
  '7': 'DELISTED',
};

/** Spot / margin `executionReport` → readable payload. */
export function normalizeExecutionReport(raw: Raw): Payload {
  const z = dec(raw.z);
  const Z = dec(raw.Z);
  // Only defined fields are assigned, in this order (see clean() for why not delete).
  const out: Payload = {};
  let v: unknown;
  if ((v = text(raw.s)) !== undefined) out.symbol = v;
  if ((v = text(raw.S)) !== undefined) out.side = v;
  if ((v = text(raw.o)) !== undefined) out.orderType = v;
  if ((v = text(raw.f)) !== undefined) out.timeInForce = v;
  if ((v = dec(raw.q)) !== undefined) out.quantity = v;
  if ((v = dec(raw.p)) !== undefined) out.price = v;
  if ((v = dec(raw.P)) !== undefined) out.stopPrice = v;
  if ((v = dec(raw.F)) !== undefined) out.icebergQuantity = v;
  if ((v = dec(raw.Q)) !== undefined) out.quoteOrderQuantity = v;
  if ((v = text(raw.x)) !== undefined) out.executionType = v;
  if ((v = text(raw.X)) !== undefined) out.orderStatus = v;
  if ((v = text(raw.r)) !== undefined) out.rejectReason = v;
  if ((v = text(raw.eR)) !== undefined) out.expiryReason = v;
  if ((v = num(raw.i)) !== undefined) out.orderId = v;
  if ((v = text(raw.c)) !== undefined) out.clientOrderId = v;
  if ((v = textNonEmpty(raw.C)) !== undefined) out.originalClientOrderId = v;
  if ((v = num(raw.g)) !== undefined) out.orderListId = v;
  if ((v = dec(raw.l)) !== undefined) out.lastFilledQuantity = v;
  if ((v = dec(raw.L)) !== undefined) out.lastFilledPrice = v;
  if ((v = dec(raw.Y)) !== undefined) out.lastQuoteQuantity = v;
  if (z !== undefined) out.cumulativeFilledQuantity = z;
  if (Z !== undefined) out.cumulativeQuoteQuantity = Z;
  if ((v = spotAveragePrice(Z, z)) !== undefined) out.averagePrice = v;
  if ((v = dec(raw.n)) !== undefined) out.commission = v;
  if (raw.N === null) out.commissionAsset = null;
  else if ((v = text(raw.N)) !== undefined) out.commissionAsset = v;
  if ((v = num(raw.t)) !== undefined) out.tradeId = v;
  if ((v = num(raw.I)) !== undefined) out.executionId = v;
  if ((v = bool(raw.m)) !== undefined) out.isMaker = v;
  if ((v = bool(raw.w)) !== undefined) out.isOnBook = v;
  if ((v = num(raw.E)) !== undefined) out.eventTime = v;
  if ((v = num(raw.T)) !== undefined) out.transactionTime = v;
  if ((v = num(raw.O)) !== undefined) out.orderCreationTime = v;
  if ((v = num(raw.W)) !== undefined) out.workingTime = v;
  if ((v = text(raw.V)) !== undefined) out.selfTradePreventionMode = v;
  if ((v = num(raw.d)) !== undefined) out.trailingDelta = v;
  if ((v = num(raw.D)) !== undefined) out.trailingTime = v;
  if ((v = num(raw.j)) !== undefined) out.strategyId = v;
  if ((v = num(raw.J)) !== undefined) out.strategyType = v;
  if ((v = num(raw.v)) !== undefined) out.preventedMatchId = v;
  if ((v = dec(raw.A)) !== undefined) out.preventedQuantity = v;
  if ((v = dec(raw.B)) !== undefined) out.lastPreventedQuantity = v;
  if ((v = num(raw.u)) !== undefined) out.tradeGroupId = v;
  if ((v = num(raw.U)) !== undefined) out.counterOrderId = v;
  if ((v = text(raw.Cs)) !== undefined) out.counterSymbol = v;
  if ((v = dec(raw.pl)) !== undefined) out.preventedExecutionQuantity = v;
  if ((v = dec(raw.pL)) !== undefined) out.preventedExecutionPrice = v;
  if ((v = dec(raw.pY)) !== undefined) out.preventedExecutionQuoteQuantity = v;
  if ((v = text(raw.b)) !== undefined) out.matchType = v;
  if ((v = num(raw.a)) !== undefined) out.allocationId = v;
  if ((v = text(raw.k)) !== undefined) out.workingFloor = v;
  if ((v = bool(raw.uS)) !== undefined) out.usedSor = v;
  if ((v = text(raw.gP)) !== undefined) out.pegPriceType = v;
  if ((v = text(raw.gOT)) !== undefined) out.pegOffsetType = v;
  if ((v = num(raw.gOV)) !== undefined) out.pegOffsetValue = v;
  if ((v = dec(raw.gp)) !== undefined) out.peggedPrice = v;
  return out;
}

/**
 * USDⓈ-M / COIN-M / portfolio-margin `ORDER_TRADE_UPDATE` → readable payload (same names as spot
 * where they mean the same). `market`: the account's market; COIN-M quantities are contracts (see
 * countsContracts), and COIN-M `b` / `a` are "Bid/Ask quantity of base asset", not notionals
 * (connector-python COIN-M order_trade_update_o.py, 2026-08-22; audit 2026-12-07 §3).
 */
export function normalizeOrderTradeUpdate(raw: Raw, market?: Market | string): Payload {
  const o = obj(raw.o) ?? {};
  const contracts = countsContracts(raw, market);
  const coinm = market === 'coinm-futures';
  const er = text(o.er);
  const l = dec(o.l);
  const L = dec(o.L);
  // Only defined fields are assigned, in this order (see clean() for why not delete).
  const out: Payload = {};
  let v: unknown;
  if ((v = text(o.s)) !== undefined) out.symbol = v;
  if ((v = text(o.S)) !== undefined) out.side = v;
  if ((v = text(o.o)) !== undefined) out.orderType = v;
  if ((v = text(o.f)) !== undefined) out.timeInForce = v;
  if ((v = dec(o.q)) !== undefined) out.quantity = v;
  if ((v = dec(o.p)) !== undefined) out.price = v;
  if ((v = dec(o.sp)) !== undefined) out.stopPrice = v;
  if ((v = text(o.x)) !== undefined) out.executionType = v;
  if ((v = text(o.X)) !== undefined) out.orderStatus = v;
  if (er !== undefined) out.expiryReason = FUTURES_EXPIRY_REASONS[er] ?? er;
  if ((v = num(o.i)) !== undefined) out.orderId = v;
  if ((v = text(o.c)) !== undefined) out.clientOrderId = v;
  if (l !== undefined) out.lastFilledQuantity = l;
  if (L !== undefined) out.lastFilledPrice = L;
  if (!contracts && l !== undefined && L !== undefined && (v = multiplyDecimals(l, L)) !== undefined) out.lastQuoteQuantity = v;
  if ((v = dec(o.z)) !== undefined) out.cumulativeFilledQuantity = v;
  if ((v = dec(o.ap)) !== undefined) out.averagePrice = v;
  if ((v = dec(o.n)) !== undefined) out.commission = v;
  if ((v = text(o.N)) !== undefined) out.commissionAsset = v;
  if ((v = num(o.t)) !== undefined) out.tradeId = v;
  if ((v = bool(o.m)) !== undefined) out.isMaker = v;
  if ((v = num(raw.E)) !== undefined) out.eventTime = v;
  if ((v = num(raw.T)) !== undefined) out.transactionTime = v;
  if ((v = num(o.T)) !== undefined) out.orderTradeTime = v;
  if ((v = text(o.ps)) !== undefined) out.positionSide = v;
  if ((v = bool(o.R)) !== undefined) out.reduceOnly = v;
  if ((v = bool(o.cp)) !== undefined) out.closePosition = v;
  if ((v = dec(o.rp)) !== undefined) out.realizedProfit = v;
  // (named keys, not computed ones: a computed key turns the payload into a slow dictionary object)
  if ((v = dec(o.b)) !== undefined) {
    if (coinm) out.bidsBaseQuantity = v;
    else out.bidsNotional = v;
  }
  if ((v = dec(o.a)) !== undefined) {
    if (coinm) out.asksBaseQuantity = v;
    else out.asksNotional = v;
  }
  if ((v = text(o.wt)) !== undefined) out.stopPriceWorkingType = v;
  if ((v = text(o.ot)) !== undefined) out.originalOrderType = v;
  if ((v = dec(o.AP)) !== undefined) out.activationPrice = v;
  if ((v = dec(o.cr)) !== undefined) out.callbackRate = v;
  if ((v = bool(o.pP)) !== undefined) out.priceProtect = v;
  if ((v = text(o.V)) !== undefined) out.selfTradePreventionMode = v;
  if ((v = text(o.pm)) !== undefined) out.priceMatch = v;
  if ((v = num(o.gtd)) !== undefined) out.goodTillDate = v;
  if ((v = num(o.M)) !== undefined) out.modifyId = v;
  // COIN-M `ma` margin asset (connector-python COIN-M order_trade_update_o.py, 2026-08-22)
  if ((v = text(o.ma)) !== undefined) out.marginAsset = v;
  // portfolio margin `st` / `si`: the strategy (conditional order) that placed this order, "only
  // pushed with conditional order triggered"; ties it to its CONDITIONAL_ORDER_TRADE_UPDATE
  // (PM connector types OrderTradeUpdateO, npm 19.0.0, 2026-09-21). USDⓈ-M sends an `si` it
  // documents as "ignore": read only together with `st`.
  if ((v = text(o.st)) !== undefined) {
    out.strategyType = v;
    if ((v = num(o.si)) !== undefined) out.strategyId = v;
  }
  // account alias: COIN-M and portfolio margin (PM OrderTradeUpdate.i, "ignore for UM")
  if ((v = textNonEmpty(raw.i)) !== undefined) out.accountAlias = v;
  if ((v = text(raw.fs)) !== undefined) out.businessUnit = v;
  return out;
}

/** Normalises an order update of any market (executionReport or ORDER_TRADE_UPDATE). */
export function normalizeOrderUpdate(raw: Raw, market?: Market | string): Payload {
  return raw.e === 'ORDER_TRADE_UPDATE' ? normalizeOrderTradeUpdate(raw, market) : normalizeExecutionReport(raw);
}

/** Spot `listStatus` (OCO/OTO list updates). */
export function normalizeListStatus(raw: Raw): Payload {
  return clean({
    symbol: text(raw.s),
    orderListId: num(raw.g),
    contingencyType: text(raw.c),
    listStatusType: text(raw.l),
    listOrderStatus: text(raw.L),
    listRejectReason: text(raw.r),
    listClientOrderId: text(raw.C),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
    orders: arr(raw.O).map((x) => clean({ symbol: text(x.s), orderId: num(x.i), clientOrderId: text(x.c) })),
  });
}

/**
 * Futures `ALGO_UPDATE` (conditional / algo orders): the order in `o` (USDⓈ-M, COIN-M) or `ao`
 * (portfolio margin, with the top-level `fs` as `businessUnit`; see algoOrderOf).
 */
export function normalizeAlgoUpdate(raw: Raw): Payload {
  const o = algoOrderOf(raw) ?? {};
  return clean({
    symbol: text(o.s),
    side: text(o.S),
    orderType: text(o.o),
    algoType: text(o.at),
    timeInForce: text(o.f),
    quantity: dec(o.q),
    price: dec(o.p),
    triggerPrice: dec(o.tp),
    algoStatus: text(o.X),
    algoId: num(o.aid),
    clientAlgoId: text(o.caid),
    orderId: num(o.ai),
    averagePrice: dec(o.ap),
    executedQuantity: dec(o.aq),
    actualOrderType: text(o.act),
    positionSide: text(o.ps),
    reduceOnly: bool(o.R),
    closePosition: bool(o.cp),
    priceProtect: bool(o.pP),
    stopPriceWorkingType: text(o.wt),
    selfTradePreventionMode: text(o.V),
    priceMatch: text(o.pm),
    triggerTime: num(o.tt),
    goodTillDate: num(o.gtd),
    failReason: textNonEmpty(o.rm),
    // `ia` (trailing stops: activated), added 2026-08-07, active since 2026-08-21: before the order
    // triggers (X stays NEW) a trailing stop may send two NEW events, one with ia:false then one with
    // ia:true (derivatives change log 2026-08-21,
    // https://developers.binance.com/en/docs/products/derivatives-trading-options/change-log).
    isActivated: bool(o.ia ?? raw.ia),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
    // portfolio margin: 'UM' / 'CM' (PM connector types AlgoOrderUpdate.fs, 2026-07-13)
    businessUnit: text(raw.fs),
  });
}

/**
 * Futures `ACCOUNT_CONFIG_UPDATE`: leverage of a symbol (`ac`) or the multi-assets mode (`ai`).
 * Fields: USDⓈ-M user-data "Event: Account Configuration Update" (reference §4.4).
 */
export function normalizeAccountConfigUpdate(raw: Raw): Payload {
  const ac = obj(raw.ac);
  const ai = obj(raw.ai);
  return clean({
    symbol: ac ? text(ac.s) : undefined,
    leverage: ac ? num(ac.l) : undefined,
    multiAssetsMode: ai ? bool(ai.j) : undefined,
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
    // portfolio margin: 'UM' / 'CM' (PM connector types AccountConfigUpdate.fs, npm 19.0.0, 2026-09-21)
    businessUnit: text(raw.fs),
  });
}

/**
 * Futures `CONDITIONAL_ORDER_TRIGGER_REJECT` `or{s, i, r}`. Deprecated since 2025-12-15: rejections of
 * conditional orders now come in ALGO_UPDATE (derivatives change log 2025-12-10,
 * https://developers.binance.com/docs/derivatives).
 */
export function normalizeConditionalOrderTriggerReject(raw: Raw): Payload {
  const o = obj(raw.or) ?? {};
  return clean({
    symbol: text(o.s),
    orderId: num(o.i),
    rejectReason: text(o.r),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}

/** Futures `STRATEGY_UPDATE` `su{si, st, ss, s, ut, c}` (reference §4.4). */
export function normalizeStrategyUpdate(raw: Raw): Payload {
  const u = obj(raw.su) ?? {};
  return clean({
    strategyId: num(u.si),
    strategyType: text(u.st),
    strategyStatus: text(u.ss),
    symbol: text(u.s),
    updateTime: num(u.ut),
    opCode: num(u.c),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}

/**
 * Futures `GRID_UPDATE` `gu{si, st, ss, s, r, up, uq, uf, mp, ut}`: documented (Binance's
 * usds-margined-futures/user-data-streams/Event-GRID-UPDATE page; connector types GridUpdateGu,
 * @binance/derivatives-trading-usds-futures 38.1.1, 2026-09-22; audit 2026-12-07 §3 / G7).
 */
export function normalizeGridUpdate(raw: Raw): Payload {
  const u = obj(raw.gu) ?? {};
  return clean({
    strategyId: num(u.si),
    strategyType: text(u.st),
    strategyStatus: text(u.ss),
    symbol: text(u.s),
    realizedPnl: dec(u.r),
    unmatchedAveragePrice: dec(u.up),
    unmatchedQuantity: dec(u.uq),
    unmatchedFee: dec(u.uf),
    matchedPnl: dec(u.mp),
    updateTime: num(u.ut),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}

/** Futures `TRADE_LITE` (fast fill notice, no fee or PnL). COIN-M: no lastQuoteQuantity (countsContracts). */
export function normalizeTradeLite(raw: Raw, market?: Market | string): Payload {
  const l = dec(raw.l);
  const L = dec(raw.L);
  const contracts = countsContracts(raw, market);
  return clean({
    symbol: text(raw.s),
    side: text(raw.S),
    quantity: dec(raw.q),
    price: dec(raw.p),
    lastFilledQuantity: l,
    lastFilledPrice: L,
    lastQuoteQuantity: !contracts && l !== undefined && L !== undefined ? multiplyDecimals(l, L) : undefined,
    isMaker: bool(raw.m),
    orderId: num(raw.i),
    clientOrderId: text(raw.c),
    tradeId: num(raw.t),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}
