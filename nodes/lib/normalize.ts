/**
 * Normalisation of Binance user-data events into readable payloads.
 *
 * Pure functions: no Node-RED import, no I/O. Used by the Node-RED adapters
 * (nodes/*.ts) and unit-tested on their own.
 *
 * Conventions:
 *  - decimals stay strings exactly as the exchange sent them (a number that arrives
 *    as a JSON number is turned into its string form); `toNumbers()` converts the
 *    known decimal fields to numbers on request;
 *  - ids and times stay numbers (epoch ms);
 *  - absent fields are left out (no `undefined` keys in the payload), and nothing is
 *    invented for them: a field is derived only from raw fields that are present (events
 *    rebuilt from REST rows after a gap lack many keys);
 *  - spot `averagePrice` = cumulativeQuoteQuantity / cumulativeFilledQuantity, computed
 *    with exact integer arithmetic and rounded half-up to max(8, scale of Z) decimals,
 *    trailing zeros trimmed; it is "0" when nothing is filled (z present and 0), like the
 *    futures `ap` field, and absent when z or Z is absent.
 */

import { MARKETS, type Market } from './types';
import { ACCOUNT_REST, ERROR_CODE_REASONS, endpointWeight } from './exchange/facts';

export type Payload = Record<string, unknown>;
type Raw = Record<string, unknown>;

// ---------------------------------------------------------------------------
// small field readers

function dec(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Like text() but "" becomes undefined. */
function textNonEmpty(v: unknown): string | undefined {
  const t = text(v);
  return t === '' ? undefined : t;
}

function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

function obj(v: unknown): Raw | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;
}

function arr(v: unknown): Raw[] {
  return Array.isArray(v) ? v.filter((x): x is Raw => x !== null && typeof x === 'object') : [];
}

/**
 * A copy of `o` without the keys whose value is undefined (same key order). Copies into a
 * fresh object instead of deleting from `o`: `delete` on a large literal turns it into a
 * slow dictionary-mode object, which every consumer of the payload then pays for.
 */
function clean<T extends Payload>(o: T): T {
  const out: Payload = {};
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

export function isFutures(market: Market | string): boolean {
  return market === 'usdm-futures' || market === 'coinm-futures';
}

// ---------------------------------------------------------------------------
// exact decimal arithmetic on strings

interface Dec {
  int: bigint;
  scale: number;
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Plain decimals as the exchange sends them ("123", "-0.00400000"): no regular expression. */
function parsePlainDec(s: string): Dec | undefined {
  const n = s.length;
  const i = s.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  let dot = -1;
  for (let k = i; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c === 46 /* . */) {
      if (dot >= 0) return undefined;
      dot = k;
    } else if (c < 48 || c > 57) return undefined;
  }
  if (i === n || (dot === i && n === i + 1)) return undefined;
  const neg = i === 1;
  let digits: string;
  let scale = 0;
  if (dot < 0) digits = i === 0 ? s : s.slice(1);
  else {
    scale = n - dot - 1;
    digits = s.slice(i, dot) + s.slice(dot + 1);
    if (digits === '') return undefined;
  }
  const int = BigInt(digits);
  return { int: neg ? -int : int, scale };
}

function parseDec(s: string): Dec | undefined {
  const plain = parsePlainDec(s);
  if (plain) return plain;
  const m = DECIMAL_RE.exec(s.trim());
  if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return undefined;
  const sign = m[1] === '-' ? -1n : 1n;
  const frac = m[3] ?? '';
  let int = BigInt((m[2] || '0') + frac) * sign;
  let scale = frac.length;
  const exp = m[4] ? Number(m[4]) : 0;
  if (exp > 0) {
    if (exp >= scale) {
      int *= 10n ** BigInt(exp - scale);
      scale = 0;
    } else scale -= exp;
  } else if (exp < 0) scale -= exp;
  return { int, scale };
}

function formatDec(int: bigint, scale: number): string {
  const neg = int < 0n;
  let digits = (neg ? -int : int).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    let whole = digits.slice(0, digits.length - scale);
    const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
    if (whole === '') whole = '0';
    digits = frac ? `${whole}.${frac}` : whole;
  }
  return neg && digits !== '0' ? `-${digits}` : digits;
}

/**
 * a / b as a decimal string, rounded half-up (away from zero) to `scale` decimals,
 * trailing zeros trimmed. Returns undefined for unparsable input or b = 0.
 */
export function divideDecimals(a: string, b: string, scale = 8): string | undefined {
  const x = parseDec(a);
  const y = parseDec(b);
  if (!x || !y) return undefined;
  return divideParsed(x, y, scale);
}

function divideParsed(x: Dec, y: Dec, scale: number): string | undefined {
  if (y.int === 0n) return undefined;
  // a/b = (x.int / 10^x.scale) / (y.int / 10^y.scale) = x.int * 10^(y.scale - x.scale) / y.int
  let numer = x.int * 10n ** BigInt(scale);
  let denom = y.int;
  const shift = y.scale - x.scale;
  if (shift >= 0) numer *= 10n ** BigInt(shift);
  else denom *= 10n ** BigInt(-shift);
  if (denom < 0n) {
    numer = -numer;
    denom = -denom;
  }
  const neg = numer < 0n;
  const absN = neg ? -numer : numer;
  let q = absN / denom;
  const r = absN % denom;
  if (r * 2n >= denom) q += 1n;
  return formatDec(neg ? -q : q, scale);
}

/** a * b as an exact decimal string. */
export function multiplyDecimals(a: string, b: string): string | undefined {
  const x = parseDec(a);
  const y = parseDec(b);
  if (!x || !y) return undefined;
  return formatDec(x.int * y.int, x.scale + y.scale);
}

/** true when the string is a decimal equal to zero ("0", "0.00000000", "-0.0"). */
export function isZeroDecimal(v: unknown): boolean {
  const s = dec(v);
  if (s === undefined) return false;
  const d = parseDec(s);
  return d !== undefined && d.int === 0n;
}

/**
 * Spot average price Z/z. Undefined (field absent) when z or Z is absent, e.g. a fill rebuilt
 * from a trade-history row; "0" when both are present and z is zero (nothing filled yet).
 */
export function spotAveragePrice(cumQuote: string | undefined, cumQty: string | undefined): string | undefined {
  if (cumQty === undefined || cumQuote === undefined) return undefined;
  const qty = parseDec(cumQty);
  if (qty !== undefined && qty.int === 0n) return '0';
  const quote = parseDec(cumQuote);
  if (!quote || !qty) return undefined;
  return divideParsed(quote, qty, Math.max(8, quote.scale));
}

// ---------------------------------------------------------------------------
// order updates

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

/** USDⓈ-M / COIN-M `ORDER_TRADE_UPDATE` → readable payload (same names as spot where they mean the same). */
export function normalizeOrderTradeUpdate(raw: Raw): Payload {
  const o = obj(raw.o) ?? {};
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
  if (l !== undefined && L !== undefined && (v = multiplyDecimals(l, L)) !== undefined) out.lastQuoteQuantity = v;
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
  if ((v = dec(o.b)) !== undefined) out.bidsNotional = v;
  if ((v = dec(o.a)) !== undefined) out.asksNotional = v;
  if ((v = text(o.wt)) !== undefined) out.stopPriceWorkingType = v;
  if ((v = text(o.ot)) !== undefined) out.originalOrderType = v;
  if ((v = dec(o.AP)) !== undefined) out.activationPrice = v;
  if ((v = dec(o.cr)) !== undefined) out.callbackRate = v;
  if ((v = bool(o.pP)) !== undefined) out.priceProtect = v;
  if ((v = text(o.V)) !== undefined) out.selfTradePreventionMode = v;
  if ((v = text(o.pm)) !== undefined) out.priceMatch = v;
  if ((v = num(o.gtd)) !== undefined) out.goodTillDate = v;
  if ((v = num(o.M)) !== undefined) out.modifyId = v;
  if ((v = text(raw.fs)) !== undefined) out.businessUnit = v;
  return out;
}

/** Normalises an order update of any market (executionReport or ORDER_TRADE_UPDATE). */
export function normalizeOrderUpdate(raw: Raw): Payload {
  return raw.e === 'ORDER_TRADE_UPDATE' ? normalizeOrderTradeUpdate(raw) : normalizeExecutionReport(raw);
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

/** Futures `ALGO_UPDATE` (conditional / algo orders). */
export function normalizeAlgoUpdate(raw: Raw): Payload {
  const o = obj(raw.o) ?? {};
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


/** Futures `TRADE_LITE` (fast fill notice, no fee or PnL). */
export function normalizeTradeLite(raw: Raw): Payload {
  const l = dec(raw.l);
  const L = dec(raw.L);
  return clean({
    symbol: text(raw.s),
    side: text(raw.S),
    quantity: dec(raw.q),
    price: dec(raw.p),
    lastFilledQuantity: l,
    lastFilledPrice: L,
    lastQuoteQuantity: l !== undefined && L !== undefined ? multiplyDecimals(l, L) : undefined,
    isMaker: bool(raw.m),
    orderId: num(raw.i),
    clientOrderId: text(raw.c),
    tradeId: num(raw.t),
    eventTime: num(raw.E),
    transactionTime: num(raw.T),
  });
}

// ---------------------------------------------------------------------------
// balances and positions

export interface Balance extends Payload {
  asset: string;
}

export interface Position extends Payload {
  symbol: string;
  positionSide: string;
}

function normalizeFuturesBalance(b: Raw): Balance {
  return clean({
    asset: text(b.a) ?? '',
    walletBalance: dec(b.wb),
    crossWalletBalance: dec(b.cw),
    balanceChange: dec(b.bc),
  });
}

function normalizeFuturesPosition(p: Raw): Position {
  return clean({
    symbol: text(p.s) ?? '',
    positionSide: text(p.ps) ?? 'BOTH',
    positionAmount: dec(p.pa),
    entryPrice: dec(p.ep),
    breakEvenPrice: dec(p.bep),
    accumulatedRealized: dec(p.cr),
    unrealizedPnl: dec(p.up),
    marginType: text(p.mt),
    isolatedWallet: dec(p.iw),
    marginAsset: text(p.ma),
  });
}

/**
 * `outboundAccountPosition` (spot/margin) or futures `ACCOUNT_UPDATE` → payload with
 * `balances` (and, for futures, `positions` and `reason`).
 */
export function normalizeAccountPosition(raw: Raw): Payload {
  if (raw.e === 'ACCOUNT_UPDATE') {
    const a = obj(raw.a) ?? {};
    return clean({
      reason: text(a.m),
      balances: arr(a.B).map(normalizeFuturesBalance),
      positions: arr(a.P).map(normalizeFuturesPosition),
      accountAlias: text(raw.i),
      eventTime: num(raw.E),
      transactionTime: num(raw.T),
      // portfolio margin: 'UM' / 'CM' (connector types AccountUpdate.fs, PM 17.0.0, 2026-07-24)
      businessUnit: text(raw.fs),
    });
  }
  return clean({
    balances: arr(raw.B).map((b) => clean({ asset: text(b.a) ?? '', free: dec(b.f), locked: dec(b.l) }) as Balance),
    eventTime: num(raw.E),
    lastUpdateTime: num(raw.u),
  });
}

/** Futures `MARGIN_CALL` → { crossWalletBalance, positions[], eventTime }. */
export function normalizeMarginCall(raw: Raw): Payload {
  return clean({
    crossWalletBalance: dec(raw.cw),
    positions: arr(raw.p).map((p) =>
      clean({
        symbol: text(p.s) ?? '',
        positionSide: text(p.ps) ?? 'BOTH',
        positionAmount: dec(p.pa),
        marginType: text(p.mt),
        isolatedWallet: dec(p.iw),
        markPrice: dec(p.mp),
        unrealizedPnl: dec(p.up),
        maintenanceMargin: dec(p.mm),
      }),
    ),
    eventTime: num(raw.E),
  });
}

/** Futures ACCOUNT_UPDATE reasons grouped into the balance node's choices. */
export type BalanceReasonGroup = 'deposit' | 'withdraw' | 'transfer' | 'fundingFee';

export const FUTURES_REASON_GROUPS: Readonly<Record<string, BalanceReasonGroup>> = {
  DEPOSIT: 'deposit',
  ADMIN_DEPOSIT: 'deposit',
  WITHDRAW: 'withdraw',
  ADMIN_WITHDRAW: 'withdraw',
  WITHDRAW_REJECT: 'withdraw',
  MARGIN_TRANSFER: 'transfer',
  ASSET_TRANSFER: 'transfer',
  COIN_SWAP_DEPOSIT: 'transfer',
  COIN_SWAP_WITHDRAW: 'transfer',
  FUNDING_FEE: 'fundingFee',
};

export interface BalanceMessage {
  asset: string;
  payload: Payload;
}

/**
 * `balanceUpdate`, `externalLockUpdate` or futures `ACCOUNT_UPDATE` → one entry per asset.
 * For ACCOUNT_UPDATE only the balances are reported (one entry per B item), with `reason`.
 */
export function normalizeBalanceUpdates(raw: Raw): BalanceMessage[] {
  if (raw.e === 'ACCOUNT_UPDATE') {
    const a = obj(raw.a) ?? {};
    const reason = text(a.m);
    return arr(a.B).map((b) => {
      const asset = text(b.a) ?? '';
      return {
        asset,
        payload: clean({
          asset,
          reason,
          reasonGroup: reason === undefined ? undefined : FUTURES_REASON_GROUPS[reason],
          delta: dec(b.bc),
          walletBalance: dec(b.wb),
          crossWalletBalance: dec(b.cw),
          eventTime: num(raw.E),
          transactionTime: num(raw.T),
        }),
      };
    });
  }
  const asset = text(raw.a) ?? '';
  if (raw.e === 'externalLockUpdate') {
    return [{ asset, payload: clean({ asset, delta: dec(raw.d), eventTime: num(raw.E), transactionTime: num(raw.T) }) }];
  }
  return [{ asset, payload: clean({ asset, delta: dec(raw.d), eventTime: num(raw.E), clearTime: num(raw.T) }) }];
}

// ---------------------------------------------------------------------------
// every event type: the one table of the readable payloads we know

/**
 * The event types with a readable payload, and which normaliser makes it. A type not listed here
 * (GRID_UPDATE, whose `gu` fields are not documented in detail, and any type Binance adds later) is
 * passed on raw by `binance-user-event`. `balanceUpdate` / `externalLockUpdate` carry one asset, so
 * the single entry of normalizeBalanceUpdates() is their payload.
 */
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
  // portfolio margin
  riskLevelChange: normalizeRiskLevelChange,
  liabilityChange: normalizeLiabilityChange,
  openOrderLoss: normalizeOpenOrderLoss,
  CONDITIONAL_ORDER_TRADE_UPDATE: normalizeConditionalOrderTradeUpdate,
};

/** The readable payload of an event of any type, or undefined when we do not know the type. */
export function normalizeUserDataEvent(eventType: string, raw: Raw): Payload | undefined {
  const f = Object.prototype.hasOwnProperty.call(USER_EVENT_NORMALIZERS, eventType) ? USER_EVENT_NORMALIZERS[eventType] : undefined;
  return f ? f(raw) : undefined;
}

// ---------------------------------------------------------------------------
// balance sheet (snapshot mode)

export interface BalanceSheet {
  market: Market;
  balances: Map<string, Balance>;
  positions: Map<string, Position>;
  updatedAt?: number;
  reason?: string;
}

function positionKey(p: { symbol: string; positionSide: string }): string {
  return `${p.symbol}|${p.positionSide}`;
}

function marginAsset(a: Raw): Balance {
  return clean({
    asset: text(a.asset) ?? '',
    free: dec(a.free),
    locked: dec(a.locked),
    borrowed: dec(a.borrowed),
    interest: dec(a.interest),
    netAsset: dec(a.netAsset),
  });
}

/** The signed REST request that returns the account of each market (snapshot / key check). */
export const ACCOUNT_REQUESTS: Readonly<Record<Market, { path: string; weight: number }>> = Object.fromEntries(
  MARKETS.map((m) => [m, { path: ACCOUNT_REST[m].path, weight: endpointWeight(ACCOUNT_REST[m]) }]),
) as Record<Market, { path: string; weight: number }>;

/** Query parameters of the account request (isolated margin: `symbols`). */
export function accountRequestParams(market: Market, symbol?: string): Record<string, string> {
  return market === 'isolated-margin' && symbol ? { symbols: symbol } : {};
}

/**
 * Builds a balance sheet from the REST account response of the market:
 * spot `/api/v3/account` (balances[]), margin `/sapi/v1/margin/account` (userAssets[]),
 * isolated `/sapi/v1/margin/isolated/account` (assets[].baseAsset/quoteAsset),
 * futures `/fapi/v3/account` or `/dapi/v1/account` (assets[], positions[]).
 */
export function balanceSheetFromAccount(market: Market, account: unknown): BalanceSheet {
  const sheet: BalanceSheet = { market, balances: new Map(), positions: new Map() };
  const acc = obj(account) ?? {};
  const put = (b: Balance): void => {
    if (b.asset) sheet.balances.set(b.asset, b);
  };
  if (market === 'spot') {
    for (const b of arr(acc.balances)) put(clean({ asset: text(b.asset) ?? '', free: dec(b.free), locked: dec(b.locked) }));
    sheet.updatedAt = num(acc.updateTime);
  } else if (market === 'portfolio-margin') {
    // GET /papi/v1/balance: one row per asset (connector type AccountBalanceResponse1Inner).
    for (const a of Array.isArray(account) ? arr(account) : [acc]) {
      put(
        clean({
          asset: text(a.asset) ?? '',
          totalWalletBalance: dec(a.totalWalletBalance),
          crossMarginFree: dec(a.crossMarginFree),
          crossMarginLocked: dec(a.crossMarginLocked),
          crossMarginBorrowed: dec(a.crossMarginBorrowed),
          crossMarginInterest: dec(a.crossMarginInterest),
          umWalletBalance: dec(a.umWalletBalance),
          umUnrealizedPnl: dec(a.umUnrealizedPNL),
          cmWalletBalance: dec(a.cmWalletBalance),
          cmUnrealizedPnl: dec(a.cmUnrealizedPNL),
        }),
      );
      const t = num(a.updateTime);
      if (t !== undefined && (sheet.updatedAt === undefined || t > sheet.updatedAt)) sheet.updatedAt = t;
    }
  } else if (market === 'margin') {
    for (const a of arr(acc.userAssets)) put(marginAsset(a));
  } else if (market === 'isolated-margin') {
    for (const s of arr(acc.assets)) {
      for (const side of ['baseAsset', 'quoteAsset']) {
        const a = obj(s[side]);
        if (a) put(clean({ ...marginAsset(a), symbol: text(s.symbol) }));
      }
    }
  } else {
    for (const a of arr(acc.assets)) {
      put(
        clean({
          asset: text(a.asset) ?? '',
          walletBalance: dec(a.walletBalance),
          crossWalletBalance: dec(a.crossWalletBalance),
          availableBalance: dec(a.availableBalance),
          marginBalance: dec(a.marginBalance),
          unrealizedPnl: dec(a.unrealizedProfit),
        }),
      );
    }
    for (const p of arr(acc.positions)) {
      const pos: Position = clean({
        symbol: text(p.symbol) ?? '',
        positionSide: text(p.positionSide) ?? 'BOTH',
        positionAmount: dec(p.positionAmt),
        entryPrice: dec(p.entryPrice),
        breakEvenPrice: dec(p.breakEvenPrice),
        unrealizedPnl: dec(p.unrealizedProfit ?? p.unRealizedProfit),
        marginType: p.isolated === true ? 'isolated' : p.isolated === false ? 'cross' : undefined,
        isolatedWallet: dec(p.isolatedWallet),
      });
      if (pos.symbol) sheet.positions.set(positionKey(pos), pos);
    }
    sheet.updatedAt = num(acc.updateTime);
  }
  return sheet;
}

/**
 * Applies a normalised account-position payload (see normalizeAccountPosition) to the sheet.
 * Returns true when something changed.
 */
/**
 * Portfolio margin keeps one row per asset with a column per book (as GET /papi/v1/balance does):
 * margin free / locked → crossMarginFree / crossMarginLocked; UM / CM wallet → umWalletBalance /
 * cmWalletBalance (by the event's businessUnit, `fs`).
 */
function pmBalanceColumns(b: Balance, unit: unknown): Balance {
  const out: Balance = { asset: b.asset };
  const prefix = unit === 'CM' ? 'cm' : unit === 'UM' ? 'um' : undefined;
  for (const [k, v] of Object.entries(b)) {
    if (k === 'asset' || v === undefined) continue;
    if (prefix) out[`${prefix}${k[0].toUpperCase()}${k.slice(1)}`] = v;
    else if (k === 'free' || k === 'locked') out[`crossMargin${k[0].toUpperCase()}${k.slice(1)}`] = v;
    else out[k] = v;
  }
  return out;
}

export function applyToBalanceSheet(sheet: BalanceSheet, payload: Payload): boolean {
  let changed = false;
  const pm = sheet.market === 'portfolio-margin';
  const balances = Array.isArray(payload.balances) ? (payload.balances as Balance[]) : [];
  for (const raw of balances) {
    const b = pm ? pmBalanceColumns(raw, payload.businessUnit) : raw;
    if (!b.asset) continue;
    const prev = sheet.balances.get(b.asset) ?? { asset: b.asset };
    const next: Balance = { ...prev };
    for (const [k, v] of Object.entries(b)) if (k !== 'balanceChange' && v !== undefined) next[k] = v;
    sheet.balances.set(b.asset, next);
    changed = true;
  }
  const positions = Array.isArray(payload.positions) ? (payload.positions as Position[]) : [];
  for (const p of positions) {
    if (!p.symbol) continue;
    const key = positionKey(p);
    sheet.positions.set(key, { ...(sheet.positions.get(key) ?? {}), ...p, ...(pm && typeof payload.businessUnit === 'string' ? { businessUnit: payload.businessUnit } : {}) });
    changed = true;
  }
  if (typeof payload.eventTime === 'number') sheet.updatedAt = payload.eventTime;
  if (typeof payload.reason === 'string') sheet.reason = payload.reason;
  return changed;
}

/**
 * A balance is "zero" when every amount it has (free, locked, walletBalance, borrowed,
 * interest, netAsset, crossWalletBalance) is zero.
 */
export function isZeroBalance(b: Payload): boolean {
  const amounts = [
    'free',
    'locked',
    'walletBalance',
    'crossWalletBalance',
    'borrowed',
    'interest',
    'netAsset',
    'totalWalletBalance',
    'crossMarginFree',
    'crossMarginLocked',
    'umWalletBalance',
    'cmWalletBalance',
  ]
    .map((k) => b[k])
    .filter((v) => v !== undefined);
  return amounts.length > 0 && amounts.every(isZeroDecimal);
}

export function isZeroPosition(p: Payload): boolean {
  return p.positionAmount === undefined || isZeroDecimal(p.positionAmount);
}

export interface SheetOutputOptions {
  /** Asset filter (already built). */
  assetMatch?: (asset: string) => boolean;
  hideZero?: boolean;
}

/** Renders the sheet as a payload: { balances: [...], positions?: [...], updatedAt, reason }. */
export function renderBalanceSheet(sheet: BalanceSheet, opts: SheetOutputOptions = {}): Payload {
  const balances = [...sheet.balances.values()]
    .filter((b) => !opts.assetMatch || opts.assetMatch(b.asset))
    .filter((b) => !opts.hideZero || !isZeroBalance(b))
    .sort((a, b) => a.asset.localeCompare(b.asset));
  const out: Payload = { balances };
  if (isFutures(sheet.market) || sheet.market === 'portfolio-margin') {
    out.positions = [...sheet.positions.values()]
      .filter((p) => !opts.hideZero || !isZeroPosition(p))
      .sort((a, b) => positionKey(a).localeCompare(positionKey(b)));
  }
  if (sheet.updatedAt !== undefined) out.updatedAt = sheet.updatedAt;
  if (sheet.reason !== undefined) out.reason = sheet.reason;
  return out;
}

// ---------------------------------------------------------------------------
// number conversion

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

// ---------------------------------------------------------------------------
// credentials text

/**
 * Repairs a PEM private key pasted into a single-line (password) input: the browser drops
 * the line breaks, so the base64 body is re-wrapped at 64 characters between the BEGIN and
 * END lines. Literal "\n" sequences are turned into line breaks. Anything else is returned
 * trimmed and unchanged.
 */
export function normalizePem(pem: string | undefined): string | undefined {
  if (typeof pem !== 'string') return pem;
  let s = pem.trim().replace(/\\r\\n|\\n/g, '\n').replace(/\r\n?/g, '\n');
  const m = /^(-----BEGIN [A-Z0-9 ]+-----)([\s\S]*?)(-----END [A-Z0-9 ]+-----)$/.exec(s);
  if (!m) return s;
  const body = m[2];
  if (/\n/.test(body.trim()) || /:/.test(body)) {
    // already multi-line, or has RFC 1421 headers (Proc-Type/DEK-Info): keep the lines
    return `${m[1]}\n${body.trim()}\n${m[3]}\n`;
  }
  const b64 = body.replace(/\s+/g, '');
  const lines = b64.match(/.{1,64}/g) ?? [];
  s = `${m[1]}\n${lines.join('\n')}\n${m[3]}\n`;
  return s;
}

// ---------------------------------------------------------------------------
// node status

export type StatusFill = 'red' | 'green' | 'yellow' | 'blue' | 'grey';
export type StatusShape = 'ring' | 'dot';

/**
 * A node status as a catalog key (under `binance-account.status.`) with its variables, or
 * a literal short text (`text`) when no key fits.
 */
export interface StatusSpec {
  fill: StatusFill;
  shape: StatusShape;
  key?: string;
  vars?: Record<string, string | number>;
  text?: string;
  /**
   * Why (reconnecting): a catalog key under `binance-account.status.` whose text the adapter puts in
   * `vars.reason`; `vars.reason` is already set when the reason is a literal (e.g. "network error ENOTFOUND").
   */
  reasonKey?: string;
}

/** Short reasons for exchange error codes (catalog keys under `binance-account.status.`): exchange/facts.ts. */
export { ERROR_CODE_REASONS };

/** Shortens a text for a node status (Node-RED recommends under 20 characters). */
export function shortText(s: string, max = 20): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 1).trimEnd()}…`;
}

/** Node's network error codes: shown as "network error <code>". */
const NETWORK_ERRNO = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EPIPE|ERR_TLS_[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\b/;

/** How a connection ended (ws-connection's end reasons), in words. */
const CONNECTION_END_REASONS: Readonly<Record<string, string>> = {
  'server-close': 'closed by the server',
  watchdog: 'silent link (watchdog)',
};

/**
 * The short reason of a failure message for a status: a network error's code
 * ("POST /fapi/v1/listenKey: network error (ENOTFOUND)" → "network error ENOTFOUND"), else the first
 * clause of the message without its request prefix, shortened; undefined when there is nothing to say.
 */
export function failureReason(message: string): string | undefined {
  const ended = CONNECTION_END_REASONS[message.split(':')[0].trim()];
  if (ended && !NETWORK_ERRNO.test(message)) return ended;
  const errno = NETWORK_ERRNO.exec(message);
  if (errno) return `network error ${errno[1]}`;
  const http = /\bHTTP (\d{3})\b/.exec(message) ?? /Unexpected server response: (\d{3})/.exec(message);
  if (http) return `HTTP ${http[1]}`;
  const first = message.split(/[;\n]/)[0].replace(/^(GET|POST|PUT|DELETE) \S+: /, '').replace(/^connect failed: /, '').trim();
  return first ? shortText(first, 32) : undefined;
}

export interface StateLike {
  state: string;
  attempt?: number;
  code?: number;
  message?: string;
}

/**
 * Maps a stream state to a truthful node status:
 * connected → green dot; connecting → yellow ring; reconnecting → yellow ring "reconnecting (n)";
 * auth-error / error → red ring with a short reason; idle / stopped → grey ring.
 * `lastEventAt` (epoch ms) adds the time of the last event to "connected".
 */
export function statusForState(s: StateLike, lastEventAt?: number): StatusSpec {
  switch (s.state) {
    case 'connected':
      if (lastEventAt !== undefined) {
        return { fill: 'green', shape: 'dot', key: 'connected-at', vars: { time: formatClock(lastEventAt) } };
      }
      return { fill: 'green', shape: 'dot', key: 'connected' };
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', key: 'connecting' };
    case 'reconnecting': {
      const n = s.attempt ?? 1;
      const reasonKey = s.code !== undefined ? ERROR_CODE_REASONS[String(s.code)] : undefined;
      if (reasonKey) return { fill: 'yellow', shape: 'ring', key: 'reconnecting-because', vars: { n }, reasonKey };
      const reason = s.message !== undefined ? failureReason(s.message) : undefined;
      if (reason) return { fill: 'yellow', shape: 'ring', key: 'reconnecting-because', vars: { n, reason } };
      return { fill: 'yellow', shape: 'ring', key: 'reconnecting', vars: { n } };
    }
    case 'auth-error':
    case 'error': {
      const reason = s.code !== undefined ? ERROR_CODE_REASONS[String(s.code)] : undefined;
      if (reason) return { fill: 'red', shape: 'ring', key: reason };
      if (s.state === 'auth-error') return { fill: 'red', shape: 'ring', key: 'invalid-api-key' };
      if (s.message) return { fill: 'red', shape: 'ring', text: shortText(s.message) };
      return { fill: 'red', shape: 'ring', key: 'error' };
    }
    case 'stopped':
      return { fill: 'grey', shape: 'ring', key: 'stopped' };
    default:
      return { fill: 'grey', shape: 'ring', key: 'idle' };
  }
}

/** HH:MM:SS in local time. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Replaces `__name__` placeholders (Node-RED / i18next style) with the given values. */
export function interpolate(template: string, vars: Record<string, unknown> = {}): string {
  return template.replace(/__([A-Za-z0-9_]+?)__/g, (all, name: string) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : all,
  );
}

/** Looks up a dotted key in a message catalog; undefined when absent. */
export function lookupCatalog(catalog: unknown, key: string): string | undefined {
  let cur: unknown = catalog;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}
