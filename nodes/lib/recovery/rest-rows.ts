/**
 * REST rows → events: the per-market recovery endpoints (from the facts table), and the builders that
 * turn trade, order and account rows into events shaped like the exchange's (only the fields REST
 * returned, under the event's keys; nothing invented). Facts: reference §6.
 */
import type { Market, UserDataEvent } from '../types';
import { isObj } from '../util';
import { endpointWeight, RECOVERY_REST, type RecoverableMarket, type RecoveryRest } from '../exchange/facts';

export type Row = Record<string, unknown>;

/** A market's recovery endpoints (exchange/facts.ts RECOVERY_REST) and the event shapes of its rows. */
export interface MarketApi {
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
  perSymbolOpenAlgoOrdersWeight: number;
  allOpenAlgoOrdersWeight: number;
  fillEvent: 'executionReport' | 'ORDER_TRADE_UPDATE';
  balanceEvent: 'outboundAccountPosition' | 'ACCOUNT_UPDATE';
}

const FAMILY: Record<RecoverableMarket, MarketApi['family']> = {
  spot: 'spot',
  margin: 'margin',
  'isolated-margin': 'margin',
  'usdm-futures': 'usdm',
  'coinm-futures': 'coinm',
};

/**
 * The recovery endpoints of a market: from `rest` (ResolvedEndpoints.recovery.rest, the table's
 * entry for the account) or the table itself. Portfolio margin has no recovery yet (throws).
 */
export function apiFor(market: Market, rest?: RecoveryRest): MarketApi {
  if (market === 'portfolio-margin') throw new Error('portfolio-margin: recovery reads its books (PM_RECOVERY_BOOKS), not one market API');
  const r = rest ?? RECOVERY_REST[market];
  const family = FAMILY[market];
  const futures = family === 'usdm' || family === 'coinm';
  return {
    family,
    trades: r.trades.path,
    openOrders: r.openOrders.path,
    ...(r.openAlgoOrders ? { openAlgoOrders: r.openAlgoOrders.path } : {}),
    ...(r.algoOrder ? { algoOrder: r.algoOrder.path } : {}),
    order: r.order.path,
    account: r.account.path,
    tradeWindowMs: r.tradeWindowMs,
    perSymbolOpenOrdersWeight: endpointWeight(r.openOrders, { symbol: 'X' }),
    allOpenOrdersWeight: endpointWeight(r.openOrders),
    perSymbolOpenAlgoOrdersWeight: r.openAlgoOrders ? endpointWeight(r.openAlgoOrders, { symbol: 'X' }) : 0,
    allOpenAlgoOrdersWeight: r.openAlgoOrders ? endpointWeight(r.openAlgoOrders) : 0,
    fillEvent: futures ? 'ORDER_TRADE_UPDATE' : 'executionReport',
    balanceEvent: futures ? 'ACCOUNT_UPDATE' : 'outboundAccountPosition',
  };
}

// ---------------------------------------------------------------------------
// small readers
export function rows(v: unknown): Row[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

export function int(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function decEq(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) && x === y;
}

/** Copies `row[restKey]` to `out[eventKey]` for each pair whose value is present (not undefined/null). */
export function mapFields(row: Row, pairs: ReadonlyArray<readonly [string, string]>, out: Row = {}): Row {
  for (const [from, to] of pairs) {
    const v = row[from];
    if (v !== undefined && v !== null) out[to] = v;
  }
  return out;
}

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
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

/**
 * The side of a trade row: spot/margin `isBuyer`, futures `side` or `buyer`. A self-trade is two
 * rows of one trade id, told apart by it.
 */
export function rowSide(row: Row): string | undefined {
  if (typeof row.isBuyer === 'boolean') return row.isBuyer ? 'BUY' : 'SELL';
  if (typeof row.side === 'string') return row.side;
  if (typeof row.buyer === 'boolean') return row.buyer ? 'BUY' : 'SELL';
  return undefined;
}

/** A recovered fill event from one trade-history row (see module doc). */
export function fillEventFromRow(market: Market, row: Row, receivedAt: number): UserDataEvent {
  if (market === 'usdm-futures' || market === 'coinm-futures') {
    const o = mapFields(row, FUTURES_FILL_FIELDS);
    if (o.S === undefined) {
      const side = rowSide(row);
      if (side !== undefined) o.S = side;
    }
    o.x = 'TRADE';
    const raw: Row = { e: 'ORDER_TRADE_UPDATE' };
    if (row.time !== undefined && row.time !== null) raw.T = row.time;
    raw.o = o;
    return { market, eventType: 'ORDER_TRADE_UPDATE', raw, recovered: true, restRecord: { ...row }, receivedAt };
  }
  const raw: Row = { e: 'executionReport' };
  mapFields(row, SPOT_FILL_FIELDS, raw);
  const side = rowSide(row);
  if (side !== undefined) raw.S = side;
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

