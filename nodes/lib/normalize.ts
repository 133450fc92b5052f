/**
 * The event API (normalisation of Binance user-data events into readable payloads: events/*,
 * conventions in events/index.ts), re-exported, and the balance sheet of snapshot mode: built from
 * the REST account answer of each market (ACCOUNT_REQUESTS), updated by the balance / position
 * events, rendered as one payload. Pure functions: no Node-RED import, no I/O.
 */
import { MARKETS, type Market } from './types';
import { ACCOUNT_REST, endpointWeight } from './exchange/facts';
import { dec, num, text, obj, arr, clean, isFutures, type Payload, type Raw } from './events/fields';
import { isZeroDecimal } from './events/decimals';
import { type Balance, type Position } from './events/balances';

export * from './events';
export { normalizePem } from './exchange/credentials';

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

/**
 * Applies a normalised account-position payload (see normalizeAccountPosition) to the sheet.
 * Returns true when something changed.
 */
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
