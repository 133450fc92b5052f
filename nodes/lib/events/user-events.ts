/** Every event type: the one table of the readable payloads we know. */
import type { Payload, Raw } from './fields';
import { normalizeAccountPosition, normalizeBalanceUpdates, normalizeMarginCall } from './balances';
import {
  normalizeAccountConfigUpdate,
  normalizeAlgoUpdate,
  normalizeConditionalOrderTriggerReject,
  normalizeExecutionReport,
  normalizeListStatus,
  normalizeOrderTradeUpdate,
  normalizeStrategyUpdate,
  normalizeTradeLite,
} from './orders';

/**
 * The event types with a readable payload, and which normaliser makes it. A type not listed here
 * (GRID_UPDATE, whose `gu` fields are not documented in detail, and any type Binance adds later) is
 * passed on raw by `binance-user-event`. `balanceUpdate` / `externalLockUpdate` carry one asset, so
 * the single entry of normalizeBalanceUpdates() is their payload.
 */
export const USER_EVENT_NORMALIZERS: Readonly<Record<string, (raw: Raw) => Payload>> = {
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
};

/** The readable payload of an event of any type, or undefined when we do not know the type. */
export function normalizeUserDataEvent(eventType: string, raw: Raw): Payload | undefined {
  const f = Object.prototype.hasOwnProperty.call(USER_EVENT_NORMALIZERS, eventType) ? USER_EVENT_NORMALIZERS[eventType] : undefined;
  return f ? f(raw) : undefined;
}
