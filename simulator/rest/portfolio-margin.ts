/**
 * REST of Portfolio Margin (`/papi/v1`), modelled over the account's UM / CM / margin books.
 * Paths and weights: Binance's connector clients/derivatives-trading-portfolio-margin 17.0.0
 * (2026-07-24), each endpoint's "Weight"; listenKey: Portfolio Margin user-data page (60 min, -1125),
 * reference §5.
 */
import { fmt } from '../decimal';
import { type KeyRec } from '../model';
import type { RouteTable } from './router';
import type { SimState } from '../state';

export class PortfolioMarginRest {
  constructor(private readonly s: SimState) {}

  /** The routes of this room: "METHOD /path" → auth, permission, weight, handler. */
  routes(): RouteTable {
    return [
      // Portfolio margin (papi), modelled over the account's UM / CM / margin books. Paths and weights:
      // Binance's connector clients/derivatives-trading-portfolio-margin 17.0.0 (2026-07-24), each
      // endpoint's "Weight"; listenKey: Portfolio Margin user-data page (60 min, -1125), reference §5.
      ['POST /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (_p, k) => this.s.streams.restListenKeyPost(k!, 'portfolio-margin') }],
      ['PUT /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (p, k) => this.s.streams.restListenKeyPut(k!, 'portfolio-margin', p) }],
      ['DELETE /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (p, k) => this.s.streams.restListenKeyDelete(k!, 'portfolio-margin', p) }],
      ['GET /papi/v1/um/userTrades', { auth: 'signed', weight: () => 5, handler: (p, k) => this.s.futures.restUserTrades(k!, 'usdm-futures', p) }],
      ['GET /papi/v1/cm/userTrades', { auth: 'signed', weight: (p) => (p.pair ? 40 : 20), handler: (p, k) => this.s.futures.restUserTrades(k!, 'coinm-futures', p) }],
      ['GET /papi/v1/margin/myTrades', { auth: 'signed', weight: () => 5, handler: (p, k) => this.s.spot.restMyTrades(k!, 'margin', p) }],
      ['GET /papi/v1/um/openOrders', { auth: 'signed', weight: (p) => (p.symbol ? 1 : 40), handler: (p, k) => this.s.futures.restFuturesOpenOrders(k!, 'usdm-futures', p) }],
      ['GET /papi/v1/cm/openOrders', { auth: 'signed', weight: (p) => (p.symbol ? 1 : 40), handler: (p, k) => this.s.futures.restFuturesOpenOrders(k!, 'coinm-futures', p) }],
      ['GET /papi/v1/margin/openOrders', { auth: 'signed', weight: () => 5, handler: (p, k) => this.s.spot.restOpenOrders(k!, 'margin', p) }],
      ['GET /papi/v1/um/order', { auth: 'signed', weight: () => 1, handler: (p, k) => this.s.futures.futuresOrderJson(this.s.queries.queryOrder(k!, 'usdm-futures', p), 'usdm-futures') }],
      ['GET /papi/v1/cm/order', { auth: 'signed', weight: () => 1, handler: (p, k) => this.s.futures.futuresOrderJson(this.s.queries.queryOrder(k!, 'coinm-futures', p), 'coinm-futures') }],
      ['GET /papi/v1/margin/order', { auth: 'signed', weight: () => 10, handler: (p, k) => this.s.spot.spotOrderJson(this.s.queries.queryOrder(k!, 'margin', p), 'margin') }],
      ['GET /papi/v1/um/account', { auth: 'signed', weight: () => 5, handler: (_p, k) => this.s.futures.restFuturesAccount(k!, 'usdm-futures', 1) }],
      ['GET /papi/v1/cm/account', { auth: 'signed', weight: () => 5, handler: (_p, k) => this.s.futures.restFuturesAccount(k!, 'coinm-futures', 1) }],
      ['GET /papi/v1/balance', { auth: 'signed', weight: () => 20, handler: (p, k) => this.restPmBalance(k!, p) }],
    ];
  }

  /**
   * GET /papi/v1/balance: one row per asset (connector type AccountBalanceResponse1Inner:
   * asset, totalWalletBalance, crossMarginAsset, crossMarginBorrowed, crossMarginFree,
   * crossMarginInterest, crossMarginLocked, umWalletBalance, umUnrealizedPNL, cmWalletBalance,
   * cmUnrealizedPNL, updateTime, negativeBalance). Modelled: margin book + UM / CM wallets.
   */
  restPmBalance(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.s.account(k.accountId);
    const assets = new Set<string>([...a.margin.keys(), ...a.futures['usdm-futures'].wallet.keys(), ...a.futures['coinm-futures'].wallet.keys()]);
    const now = this.s.serverTime();
    const rows = [...assets]
      .filter((asset) => !p.asset || p.asset === asset)
      .sort()
      .map((asset) => {
        const m = a.margin.get(asset);
        const free = m?.free ?? 0n;
        const locked = m?.locked ?? 0n;
        const um = a.futures['usdm-futures'].wallet.get(asset) ?? 0n;
        const cm = a.futures['coinm-futures'].wallet.get(asset) ?? 0n;
        return {
          asset,
          totalWalletBalance: fmt(free + locked + um + cm),
          crossMarginAsset: fmt(free + locked),
          crossMarginBorrowed: fmt(0n),
          crossMarginFree: fmt(free),
          crossMarginInterest: fmt(0n),
          crossMarginLocked: fmt(locked),
          umWalletBalance: fmt(um),
          umUnrealizedPNL: fmt(0n),
          cmWalletBalance: fmt(cm),
          cmUnrealizedPNL: fmt(0n),
          updateTime: now,
          negativeBalance: fmt(0n),
        };
      });
    return p.asset ? (rows[0] ?? {}) : rows;
  }
}
