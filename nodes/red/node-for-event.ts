/**
 * The node made for each event type, for the hint of an "events arrive but no node takes them"
 * warning (issue 13's unconsumed events). Types not listed are for `binance-user-event` only.
 */
const NODE_FOR_EVENT: Readonly<Record<string, string>> = {
  executionReport: 'binance-order-update',
  ORDER_TRADE_UPDATE: 'binance-order-update',
  listStatus: 'binance-order-update',
  ALGO_UPDATE: 'binance-order-update',
  TRADE_LITE: 'binance-order-update',
  outboundAccountPosition: 'binance-account-position',
  ACCOUNT_UPDATE: 'binance-account-position',
  MARGIN_CALL: 'binance-account-position',
  balanceUpdate: 'binance-balance-update',
  externalLockUpdate: 'binance-balance-update',
};

/** The node made for `eventType`, or undefined when only binance-user-event takes it. */
export function nodeForEvent(eventType: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(NODE_FOR_EVENT, eventType) ? NODE_FOR_EVENT[eventType] : undefined;
}
