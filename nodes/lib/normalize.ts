/**
 * The event API (normalisation of Binance user-data events into readable payloads: events/*,
 * conventions in events/index.ts), re-exported, and the balance sheet of snapshot mode: built from
 * the REST account answer of each market (ACCOUNT_REQUESTS), updated by the balance / position
 * events, rendered as one payload. Pure functions: no Node-RED import, no I/O.
 */
import type { Market } from './types';
import { dec, num, text, obj, arr, clean, isFutures, type Payload, type Raw } from './events/fields';
import { isZeroDecimal } from './events/decimals';
import { type Balance, type Position } from './events/balances';

export * from './events';
export { normalizePem } from './credentials';

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
export const ACCOUNT_REQUESTS: Readonly<Record<Market, { path: string; weight: number }>> = {
  spot: { path: '/api/v3/account', weight: 20 },
  margin: { path: '/sapi/v1/margin/account', weight: 10 },
  'isolated-margin': { path: '/sapi/v1/margin/isolated/account', weight: 10 },
  'usdm-futures': { path: '/fapi/v3/account', weight: 5 },
  'coinm-futures': { path: '/dapi/v1/account', weight: 5 },
};

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
export function applyToBalanceSheet(sheet: BalanceSheet, payload: Payload): boolean {
  let changed = false;
  const balances = Array.isArray(payload.balances) ? (payload.balances as Balance[]) : [];
  for (const b of balances) {
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
    sheet.positions.set(key, { ...(sheet.positions.get(key) ?? {}), ...p });
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
  const amounts = ['free', 'locked', 'walletBalance', 'crossWalletBalance', 'borrowed', 'interest', 'netAsset']
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
  if (isFutures(sheet.market)) {
    out.positions = [...sheet.positions.values()]
      .filter((p) => !opts.hideZero || !isZeroPosition(p))
      .sort((a, b) => positionKey(a).localeCompare(positionKey(b)));
  }
  if (sheet.updatedAt !== undefined) out.updatedAt = sheet.updatedAt;
  if (sheet.reason !== undefined) out.reason = sheet.reason;
  return out;
}
