/** Decimal strings to numbers on request (`toNumbers`), for the known decimal fields only. */
/** Field names whose values are decimal strings (converted by toNumbers). */
export const DECIMAL_FIELDS: ReadonlySet<string> = new Set([
  'quantity',
  'price',
  'stopPrice',
  'icebergQuantity',
  'quoteOrderQuantity',
  'lastFilledQuantity',
  'lastFilledPrice',
  'lastQuoteQuantity',
  'cumulativeFilledQuantity',
  'cumulativeQuoteQuantity',
  'averagePrice',
  'commission',
  'realizedProfit',
  'bidsNotional',
  'asksNotional',
  'bidsBaseQuantity',
  'asksBaseQuantity',
  'activationPrice',
  'callbackRate',
  'triggerPrice',
  'executedQuantity',
  'preventedQuantity',
  'lastPreventedQuantity',
  'preventedExecutionQuantity',
  'preventedExecutionPrice',
  'preventedExecutionQuoteQuantity',
  'peggedPrice',
  'free',
  'locked',
  'borrowed',
  'interest',
  'netAsset',
  'delta',
  'walletBalance',
  'crossWalletBalance',
  'balanceChange',
  'availableBalance',
  'marginBalance',
  'unrealizedPnl',
  'positionAmount',
  'entryPrice',
  'breakEvenPrice',
  'accumulatedRealized',
  'isolatedWallet',
  'markPrice',
  'maintenanceMargin',
  // GRID_UPDATE
  'realizedPnl',
  'unmatchedAveragePrice',
  'unmatchedQuantity',
  'unmatchedFee',
  'matchedPnl',
  // portfolio margin
  'totalWalletBalance',
  'crossMarginFree',
  'crossMarginLocked',
  'crossMarginBorrowed',
  'crossMarginInterest',
  'umWalletBalance',
  'umCrossWalletBalance',
  'umUnrealizedPnl',
  'cmWalletBalance',
  'cmCrossWalletBalance',
  'cmUnrealizedPnl',
  'uniMMR',
  'accountEquity',
  'actualEquity',
  'principal',
  'totalLiability',
  'amount',
]);

const PLAIN_DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Returns a deep copy of the payload with every known decimal field (DECIMAL_FIELDS,
 * also inside arrays/objects such as balances[]) converted from string to number.
 * Strings that are not decimals are left as they are.
 */
export function toNumbers<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, k);
      return out;
    }
    if (key !== undefined && typeof v === 'string' && DECIMAL_FIELDS.has(key) && PLAIN_DECIMAL.test(v)) return Number(v);
    return v;
  };
  return walk(value) as T;
}
