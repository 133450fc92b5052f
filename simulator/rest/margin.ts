/**
 * REST of cross and isolated margin (`/sapi/v1`): userListenToken, margin myTrades, openOrders,
 * allOrders, order, account and isolated/account.
 */
import { fmt } from '../decimal';
import {
  ERR,
  splitSymbol,
  type SpotLike,
  type Json,
  type Balance,
  type KeyRec,
} from '../model';
import type { RouteTable } from './router';
import { ALL_ORDERS_RULES } from './queries';
import type { SimState } from '../state';

export class MarginRest {
  constructor(private readonly s: SimState) {}

  /** The routes of this room: "METHOD /path" → auth, permission, weight, handler. */
  routes(): RouteTable {
    return [
      [
        'GET /sapi/v1/margin/order',
        {
          auth: 'signed',
          perm: 'margin',
          weight: () => 10,
          handler: (p, k) => {
            const m = this.marginOf(p);
            return this.s.spot.spotOrderJson(this.s.queries.queryOrder(k!, m, p), m);
          },
        },
      ],
      [
        'GET /sapi/v1/margin/allOrders',
        {
          auth: 'signed',
          perm: 'margin',
          weight: () => 200,
          handler: (p, k) => {
            const m = this.marginOf(p);
            return this.s.queries.allOrdersOf(k!.accountId, m, p, ALL_ORDERS_RULES.margin).map((o) => this.s.spot.spotOrderJson(o, m));
          },
        },
      ],
      [
        'GET /sapi/v1/account/apiRestrictions',
        // "Get API Key Permission (USER_DATA)": weight(IP) 1, timestamp required; the documented
        // response fields (developers.binance.com/docs/wallet/account/api-key-permission, read 2026-12-02).
        { auth: 'signed', weight: () => 1, handler: (_p, k) => this.apiRestrictions(k!) },
      ],
      [
        'POST /sapi/v1/userListenToken',
        // "Create Margin Account listenToken (USER_STREAM)": API key; parameters symbol, isIsolated,
        // validity only (margin_trading/trade-data-stream, read 2026-12-02). A signature sent anyway is
        // verified (our client's default, LISTEN_TOKEN_SECURITY in nodes/lib/exchange/facts.ts), or
        // refused with -1104 (option userStreamUnreadParams 'refuse').
        { auth: 'user-stream', params: ['symbol', 'isIsolated', 'validity'], perm: 'margin', weight: () => 1, handler: (p, k) => this.restListenToken(k!, p) },
      ],
      [
        'GET /sapi/v1/margin/myTrades',
        { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.s.spot.restMyTrades(k!, this.marginOf(p), p) },
      ],
      [
        'GET /sapi/v1/margin/openOrders',
        { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.s.spot.restOpenOrders(k!, this.marginOf(p), p) },
      ],
      [
        'GET /sapi/v1/margin/account',
        { auth: 'signed', perm: 'margin', weight: () => 10, handler: (_p, k) => this.restMarginAccount(k!) },
      ],
      [
        'GET /sapi/v1/margin/isolated/account',
        { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.restIsolatedAccount(k!, p) },
      ],
    ];
  }

  marginOf(p: Record<string, string>): SpotLike {
    return String(p.isIsolated ?? '').toUpperCase() === 'TRUE' ? 'isolated-margin' : 'margin';
  }

  /** The key's own permissions (what it may do), as Binance's wallet endpoint answers them. */
  private apiRestrictions(k: KeyRec): Json {
    return {
      ipRestrict: false,
      createTime: k.createdAt,
      enableReading: true,
      enableWithdrawals: k.enableWithdrawals,
      enableInternalTransfer: false,
      enableMargin: k.enableMargin,
      enableFutures: k.enableFutures,
      permitsUniversalTransfer: false,
      enableVanillaOptions: false,
      enableSpotAndMarginTrading: k.canTrade,
      enablePortfolioMarginTrading: false,
    };
  }

  restListenToken(k: KeyRec, p: Record<string, string>): unknown {
    const isolated = String(p.isIsolated ?? '').toLowerCase() === 'true';
    if (isolated && !p.symbol) throw ERR.mandatory('symbol');
    let validity = this.s.opts.listenTokenMaxValidityMs;
    if (p.validity !== undefined) {
      validity = Number(p.validity);
      if (!Number.isFinite(validity) || validity <= 0) throw ERR.badParam('validity');
      validity = Math.min(validity, this.s.opts.listenTokenMaxValidityMs);
    }
    return this.s.wsApi.createListenToken(k.accountId, isolated ? 'isolated-margin' : 'margin', {
      symbol: p.symbol,
      validityMs: validity,
    });
  }

  private marginAssetJson(asset: string, b: Balance): Json {
    return {
      asset,
      borrowed: fmt(0n),
      free: fmt(b.free),
      interest: fmt(0n),
      locked: fmt(b.locked),
      netAsset: fmt(b.free + b.locked),
    };
  }

  restMarginAccount(k: KeyRec): unknown {
    const a = this.s.account(k.accountId);
    return {
      created: true,
      borrowEnabled: true,
      marginLevel: '999.00000000',
      collateralMarginLevel: '999.00000000',
      totalAssetOfBtc: '0.00000000',
      totalLiabilityOfBtc: '0.00000000',
      totalNetAssetOfBtc: '0.00000000',
      TotalCollateralValueInUSDT: '0.00000000',
      tradeEnabled: k.canTrade,
      transferInEnabled: true,
      transferOutEnabled: true,
      accountType: 'MARGIN_1',
      userAssets: [...a.margin.entries()]
        .sort((x, y) => x[0].localeCompare(y[0]))
        .map(([asset, b]) => this.marginAssetJson(asset, b)),
    };
  }

  restIsolatedAccount(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.s.account(k.accountId);
    const symbols = p.symbols ? p.symbols.split(',').map((s) => s.trim().toUpperCase()) : [...a.isolated.keys()];
    const assets = symbols.map((sym) => {
      const book = this.s.books.isolatedBook(a, sym);
      const { base, quote } = splitSymbol(sym);
      const side = (asset: string): Json => ({
        ...this.marginAssetJson(asset, book.get(asset) ?? { free: 0n, locked: 0n }),
        borrowEnabled: true,
        netAssetOfBtc: fmt(0n),
        repayEnabled: true,
        totalAsset: fmt((book.get(asset)?.free ?? 0n) + (book.get(asset)?.locked ?? 0n)),
      });
      return {
        baseAsset: side(base),
        quoteAsset: side(quote),
        symbol: sym,
        isolatedCreated: true,
        enabled: true,
        marginLevel: '999.00000000',
        marginLevelStatus: 'EXCESSIVE',
        marginRatio: '10.00000000',
        indexPrice: '0.00000000',
        liquidatePrice: '0.00000000',
        liquidateRate: '0.00000000',
        tradeEnabled: k.canTrade,
      };
    });
    return { assets, totalAssetOfBtc: fmt(0n), totalLiabilityOfBtc: fmt(0n), totalNetAssetOfBtc: fmt(0n) };
  }
}
