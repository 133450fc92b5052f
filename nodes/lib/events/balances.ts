/**
 * Balance and position events → readable payloads: outboundAccountPosition and futures
 * ACCOUNT_UPDATE (balances, positions), MARGIN_CALL, balanceUpdate / externalLockUpdate and the
 * futures reasons grouped for binance-balance-update (one message per asset).
 */
import { dec, num, text, textNonEmpty, obj, arr, clean, type Payload, type Raw } from './fields';

export interface Balance extends Payload {
  asset: string;
}

export interface Position extends Payload {
  symbol: string;
  positionSide: string;
}

export function normalizeFuturesBalance(b: Raw): Balance {
  return clean({
    asset: text(b.a) ?? '',
    walletBalance: dec(b.wb),
    crossWalletBalance: dec(b.cw),
    balanceChange: dec(b.bc),
  });
}

export function normalizeFuturesPosition(p: Raw): Position {
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
 * `ACCOUNT_UPDATE.a.S`, "Symbol associated with FUNDING_FEE event" (USDⓈ-M, COIN-M and portfolio
 * margin: connector-python CHANGELOGs, COIN-M 12.0.1 2026-08-07, USDⓈ-M 17.0.1 and PM 12.0.1
 * 2026-08-11; @binance/derivatives-trading-usds-futures 38.1.1 AccountUpdateA.S; audit 2026-12-07
 * G3). For a cross-margin funding fee `P` is empty, so no other field names the symbol.
 */
function fundingFeeSymbol(a: Raw): string | undefined {
  return textNonEmpty(a.S);
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
      // `a.S`: the symbol of a FUNDING_FEE change (see fundingFeeSymbol)
      symbol: fundingFeeSymbol(a),
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
    // portfolio margin `U` "Time updateID" (PM connector types OutboundAccountPosition.U, npm 19.0.0,
    // 2026-09-21; PM page Event-Margin-Account-Update)
    updateId: num(raw.U),
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
    const symbol = fundingFeeSymbol(a);
    return arr(a.B).map((b) => {
      const asset = text(b.a) ?? '';
      return {
        asset,
        payload: clean({
          asset,
          reason,
          reasonGroup: reason === undefined ? undefined : FUTURES_REASON_GROUPS[reason],
          symbol,
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
  // portfolio margin `U` "Event updateId" (PM connector types BalanceUpdate.U, npm 19.0.0, 2026-09-21)
  return [{ asset, payload: clean({ asset, delta: dec(raw.d), eventTime: num(raw.E), clearTime: num(raw.T), updateId: num(raw.U) }) }];
}
