/** Every event type: the one table of the readable payloads we know. */
import type { Market } from '../types';
import { arr, bool, clean, dec, num, obj, text, type Payload, type Raw } from './fields';
import { normalizeAccountPosition, normalizeBalanceUpdates, normalizeMarginCall } from './balances';
import {
  normalizeAccountConfigUpdate,
  normalizeAlgoUpdate,
  normalizeConditionalOrderTriggerReject,
  normalizeExecutionReport,
  normalizeGridUpdate,
  normalizeListStatus,
  normalizeOrderTradeUpdate,
  normalizeStrategyUpdate,
  normalizeTradeLite,
} from './orders';

/**
 * Portfolio margin `riskLevelChange` (uniMMR level u, risk level s: MARGIN_CALL / REDUCE_ONLY /
 * FORCE_LIQUIDATION, equity eq, actual equity ae, maintenance margin m; Portfolio Margin user-data
 * page, connector types RiskLevelChange, 17.0.0 2026-07-24).
 */
export function normalizeRiskLevelChange(raw: Raw): Payload {
  return clean({
    riskLevel: text(raw.s),
    uniMMR: dec(raw.u),
    accountEquity: dec(raw.eq),
    actualEquity: dec(raw.ae),
    maintenanceMargin: dec(raw.m),
    eventTime: num(raw.E),
  });
}

/** Portfolio margin `liabilityChange` (asset a, type t, transaction T, principal p, interest i, total liability l). */
export function normalizeLiabilityChange(raw: Raw): Payload {
  return clean({
    asset: text(raw.a),
    type: text(raw.t),
    transactionId: num(raw.T),
    principal: dec(raw.p),
    interest: dec(raw.i),
    totalLiability: dec(raw.l),
    eventTime: num(raw.E),
  });
}

/** Portfolio margin `openOrderLoss` (O: [{a: asset, o: amount}]). */
export function normalizeOpenOrderLoss(raw: Raw): Payload {
  return clean({
    losses: arr(raw.O).map((x) => clean({ asset: text(x.a) ?? '', amount: dec(x.o) })),
    eventTime: num(raw.E),
  });
}

/** Portfolio margin `CONDITIONAL_ORDER_TRADE_UPDATE` (fs, so: the strategy order). */
export function normalizeConditionalOrderTradeUpdate(raw: Raw): Payload {
  const o = obj(raw.so) ?? {};
  return clean({
    businessUnit: text(raw.fs),
    symbol: text(o.s),
    strategyClientOrderId: text(o.c),
    strategyId: num(o.si),
    side: text(o.S),
    strategyType: text(o.st),
    timeInForce: text(o.f),
    quantity: dec(o.q),
    price: dec(o.p),
    stopPrice: dec(o.sp),
    strategyStatus: text(o.os),
    orderBookTime: num(o.T),
    updateTime: num(o.ut),
    reduceOnly: bool(o.R),
    stopPriceWorkingType: text(o.wt),
    positionSide: text(o.ps),
    closePosition: bool(o.cp),
    activationPrice: dec(o.AP),
    callbackRate: dec(o.cr),
    orderId: num(o.i),
    selfTradePreventionMode: text(o.V),
    goodTillDate: num(o.gtd),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}

/**
 * The event types with a readable payload, and which normaliser makes it (`market`: the account's
 * market, for the fields whose meaning depends on it). A type not listed here (any type Binance
 * adds later) is passed on raw by `binance-user-event`. `balanceUpdate` / `externalLockUpdate`
 * carry one asset, so the single entry of normalizeBalanceUpdates() is their payload.
 */
export const USER_EVENT_NORMALIZERS: Readonly<Record<string, (raw: Raw, market?: Market | string) => Payload>> = {
  executionReport: normalizeExecutionReport,
  ORDER_TRADE_UPDATE: normalizeOrderTradeUpdate,
  listStatus: normalizeListStatus,
  ALGO_UPDATE: normalizeAlgoUpdate,
  TRADE_LITE: normalizeTradeLite,
  outboundAccountPosition: normalizeAccountPosition,
  ACCOUNT_UPDATE: normalizeAccountPosition,
  MARGIN_CALL: normalizeMarginCall,
  balanceUpdate: (raw) => normalizeBalanceUpdates(raw)[0]?.payload ?? {},
  externalLockUpdate: (raw) => normalizeBalanceUpdates(raw)[0]?.payload ?? {},
  ACCOUNT_CONFIG_UPDATE: normalizeAccountConfigUpdate,
  CONDITIONAL_ORDER_TRIGGER_REJECT: normalizeConditionalOrderTriggerReject,
  STRATEGY_UPDATE: normalizeStrategyUpdate,
  GRID_UPDATE: normalizeGridUpdate,
  // portfolio margin
  riskLevelChange: normalizeRiskLevelChange,
  liabilityChange: normalizeLiabilityChange,
  openOrderLoss: normalizeOpenOrderLoss,
  CONDITIONAL_ORDER_TRADE_UPDATE: normalizeConditionalOrderTradeUpdate,
};

/** The readable payload of an event of any type (of an account of `market`), or undefined when we do not know the type. */
export function normalizeUserDataEvent(eventType: string, raw: Raw, market?: Market | string): Payload | undefined {
  const f = Object.prototype.hasOwnProperty.call(USER_EVENT_NORMALIZERS, eventType) ? USER_EVENT_NORMALIZERS[eventType] : undefined;
  return f ? f(raw, market) : undefined;
}
