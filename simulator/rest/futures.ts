/**
 * REST of USDⓈ-M (`/fapi`) and COIN-M (`/dapi`) futures: time, userTrades, allOrders, order,
 * openOrders, positionRisk, balance and account (v1 / v2 / v3 forms). listenKeys: futures-streams.ts;
 * algo orders: algo.ts.
 */
import { mul, fmt, fmtTrim } from '../decimal';
import { type FuturesMarket, type Json, type KeyRec, type OrderRec, type Position } from '../model';
import type { RouteTable } from './router';
import { ALL_ORDERS_RULES } from './queries';
import type { SimState } from '../state';

export class FuturesRest {
  constructor(private readonly s: SimState) {}

  /** The routes of this room: "METHOD /path" → auth, permission, weight, handler. */
  routes(): RouteTable {
    return [
      ['GET /fapi/v1/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.s.serverTime() }) }],
      ['GET /dapi/v1/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.s.serverTime() }) }],
      ...(['fapi', 'dapi'] as const).flatMap((api): RouteTable => {
        const market: FuturesMarket = api === 'fapi' ? 'usdm-futures' : 'coinm-futures';
        return [
          [
            `POST /${api}/v1/listenKey`,
            { auth: 'apikey', perm: 'futures', weight: () => 1, handler: (_p, k) => this.s.streams.restListenKeyPost(k!, market) },
          ],
          [
            `PUT /${api}/v1/listenKey`,
            { auth: 'apikey', perm: 'futures', weight: () => 1, handler: (p, k) => this.s.streams.restListenKeyPut(k!, market, p) },
          ],
          [
            `DELETE /${api}/v1/listenKey`,
            { auth: 'apikey', perm: 'futures', weight: () => 1, handler: (p, k) => this.s.streams.restListenKeyDelete(k!, market, p) },
          ],
          // userTrades and allOrders: 5 on both since the CM migration (COIN-M before 2026-06-30: 20 with
          // a symbol, 40 with a pair; Binance's connector-js coin-futures 19.0.0 trade-api.ts, 2026-07-22)
          [
            `GET /${api}/v1/userTrades`,
            {
              auth: 'signed',
              perm: 'futures',
              weight: () => 5,
              handler: (p, k) => this.restUserTrades(k!, market, p),
            },
          ],
          [
            `GET /${api}/v1/allOrders`,
            {
              auth: 'signed',
              perm: 'futures',
              weight: () => 5,
              handler: (p, k) => this.s.queries.allOrdersOf(k!.accountId, market, p, api === 'fapi' ? ALL_ORDERS_RULES.usdm : ALL_ORDERS_RULES.coinm).map((o) => this.futuresOrderJson(o, market)),
            },
          ],
          [
            `GET /${api}/${api === 'fapi' ? 'v3' : 'v1'}/positionRisk`,
            { auth: 'signed', perm: 'futures', weight: () => (api === 'fapi' ? 5 : 1), handler: (p, k) => this.restPositionRisk(k!, market, p, api === 'fapi' ? 'v3' : 'coinm') },
          ],
          [
            `GET /${api}/${api === 'fapi' ? 'v3' : 'v1'}/balance`,
            { auth: 'signed', perm: 'futures', weight: () => (api === 'fapi' ? 5 : 1), handler: (_p, k) => this.restFuturesBalance(k!, market) },
          ],
          [
            `GET /${api}/v1/order`,
            {
              auth: 'signed',
              perm: 'futures',
              weight: () => 1,
              handler: (p, k) => this.futuresOrderJson(this.s.queries.queryOrder(k!, market, p), market),
            },
          ],
          [
            `GET /${api}/v1/openOrders`,
            {
              auth: 'signed',
              perm: 'futures',
              weight: (p) => (p.symbol ? 1 : 40),
              handler: (p, k) => this.restFuturesOpenOrders(k!, market, p),
            },
          ],
        ];
      }),
      [
        'GET /fapi/v3/account',
        { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'usdm-futures', 3) },
      ],
      [
        'GET /fapi/v2/positionRisk',
        { auth: 'signed', perm: 'futures', weight: () => 5, handler: (p, k) => this.restPositionRisk(k!, 'usdm-futures', p, 'v2') },
      ],
      [
        'GET /fapi/v2/balance',
        { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesBalance(k!, 'usdm-futures') },
      ],
      [
        'GET /fapi/v2/account',
        { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'usdm-futures', 2) },
      ],
      [
        'GET /dapi/v1/account',
        { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'coinm-futures', 1) },
      ],
    ];
  }

  restUserTrades(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    const trades = this.s.queries.filterTrades(k.accountId, market, p, true);
    return trades.map((t) => {
      const o: Json = {
        symbol: t.symbol,
        id: t.tradeId,
        orderId: t.orderId,
        side: t.side,
        price: t.price,
        qty: t.quantity,
        realizedPnl: t.realizedPnl,
      };
      if (market === 'usdm-futures') {
        o.quoteQty = t.quoteQty;
      } else {
        o.pair = t.symbol.replace(/_.*$/, '');
        o.marginAsset = t.commissionAsset;
        o.baseQty = t.quoteQty;
      }
      Object.assign(o, {
        commission: t.commission,
        commissionAsset: t.commissionAsset,
        time: t.time,
        positionSide: t.positionSide ?? 'BOTH',
        buyer: t.side === 'BUY',
        maker: t.isMaker,
      });
      return o;
    });
  }

  restFuturesOpenOrders(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    return this.s.queries.openOrdersOf(k.accountId, market, p.symbol).map((o) => this.futuresOrderJson(o, market));
  }

  futuresOrderJson(o: OrderRec, market: FuturesMarket): Json {
    const r: Json = {
      avgPrice: fmtTrim(o.executed > 0n ? this.s.books.avgPrice(o) : 0n),
      clientOrderId: o.clientOrderId,
    };
    if (market === 'usdm-futures') r.cumQuote = fmtTrim(o.cumQuote);
    else r.cumBase = fmtTrim(o.cumQuote);
    Object.assign(r, {
      executedQty: fmtTrim(o.executed),
      orderId: o.orderId,
      origQty: fmtTrim(o.qty),
      origType: o.origType ?? o.type,
      price: fmtTrim(o.price),
      reduceOnly: o.reduceOnly,
      side: o.side,
      positionSide: o.positionSide,
      status: o.status,
      stopPrice: fmtTrim(o.stopPrice),
      closePosition: false,
      symbol: o.symbol,
      time: o.time,
      timeInForce: o.tif,
      type: o.type,
      updateTime: o.updateTime,
      workingType: 'CONTRACT_PRICE',
      priceProtect: false,
    });
    if (market === 'usdm-futures') {
      Object.assign(r, { priceMatch: 'NONE', selfTradePreventionMode: 'EXPIRE_MAKER', goodTillDate: 0 });
    } else {
      r.pair = o.symbol.replace(/_.*$/, '');
    }
    return r;
  }

  /**
   * Position information. 'v3' (GET /fapi/v3/positionRisk): only symbols with a position or open
   * orders ([CJS] usds-futures "Position Information V3"); 'v2' (GET /fapi/v2/positionRisk, PM UM, whose
   * page example shows zero rows): every position the account has had; 'coinm' (GET /dapi/v1/positionRisk, PM CM): `marginAsset` / `pair`,
   * and without them every TRADING contract of the list, zero rows included ([CJS] coin-futures).
   * `updateTime` is the position's last change (0 for a row never traded).
   */
  restPositionRisk(k: KeyRec, market: FuturesMarket, p: Record<string, string>, form: 'v3' | 'v2' | 'coinm' = market === 'usdm-futures' ? 'v3' : 'coinm'): unknown {
    const a = this.s.account(k.accountId);
    const book = a.futures[market];
    const sym = form === 'coinm' ? undefined : p.symbol?.toUpperCase();
    const pair = form === 'coinm' ? p.pair?.toUpperCase() : undefined;
    const marginAsset = form === 'coinm' ? p.marginAsset?.toUpperCase() : undefined;
    const rows: Position[] = [...book.positions.values()];
    if (form === 'coinm') {
      const held = new Set(rows.map((x) => x.symbol));
      for (const r of this.s.symbols[market].values()) {
        if (r.status === 'TRADING' && !held.has(r.symbol)) rows.push({ symbol: r.symbol, positionSide: 'BOTH', amt: 0n, entry: 0n, realized: 0n, updateTime: 0 });
      }
    }
    return rows
      .filter((x) => {
        if (sym && x.symbol !== sym) return false;
        if (pair && x.symbol.replace(/_.*$/, '') !== pair) return false;
        if (marginAsset && this.s.books.marginAsset(market, x.symbol) !== marginAsset) return false;
        if (form === 'v3') return x.amt !== 0n || this.s.queries.openOrdersOf(a.id, market, x.symbol).length > 0;
        return true;
      })
      .sort((x, y) => x.symbol.localeCompare(y.symbol))
      .map((x) => {
        const mark = book.marks.get(x.symbol) ?? x.entry;
        return {
          symbol: x.symbol,
          positionSide: x.positionSide,
          positionAmt: fmtTrim(x.amt),
          entryPrice: fmtTrim(x.entry),
          breakEvenPrice: fmtTrim(x.entry),
          markPrice: fmtTrim(mark),
          unRealizedProfit: fmt(this.s.books.unrealized(market, book, x)),
          liquidationPrice: '0',
          isolatedMargin: '0',
          notional: fmt(mul(x.amt, mark)),
          marginAsset: this.s.books.marginAsset(market, x.symbol),
          isolatedWallet: '0',
          initialMargin: '0',
          maintMargin: '0',
          adl: 0,
          updateTime: x.updateTime,
        };
      });
  }

  restFuturesBalance(k: KeyRec, market: FuturesMarket): unknown {
    const a = this.s.account(k.accountId);
    const book = a.futures[market];
    return [...book.wallet.entries()].map(([asset, wb]) => ({
      accountAlias: `sim${a.uid}`,
      asset,
      balance: fmt(wb),
      crossWalletBalance: fmt(wb),
      crossUnPnl: fmt(0n),
      availableBalance: fmt(wb),
      maxWithdrawAmount: fmt(wb),
      marginAvailable: true,
      updateTime: this.s.serverTime(),
    }));
  }

  restFuturesAccount(k: KeyRec, market: FuturesMarket, version: number): unknown {
    const a = this.s.account(k.accountId);
    const book = a.futures[market];
    const now = this.s.serverTime();
    const upByAsset = new Map<string, bigint>();
    for (const p of book.positions.values()) {
      const asset = this.s.books.marginAsset(market, p.symbol);
      upByAsset.set(asset, (upByAsset.get(asset) ?? 0n) + this.s.books.unrealized(market, book, p));
    }
    const assets = [...book.wallet.entries()].map(([asset, wb]) => {
      const up = upByAsset.get(asset) ?? 0n;
      const r: Json = {
        asset,
        walletBalance: fmt(wb),
        unrealizedProfit: fmt(up),
        marginBalance: fmt(wb + up),
        maintMargin: fmt(0n),
        initialMargin: fmt(0n),
        positionInitialMargin: fmt(0n),
        openOrderInitialMargin: fmt(0n),
        crossWalletBalance: fmt(wb),
        crossUnPnl: fmt(up),
        availableBalance: fmt(wb + up),
        maxWithdrawAmount: fmt(wb),
        updateTime: now,
      };
      if (version === 2) r.marginAvailable = true;
      return r;
    });
    const positions = [...book.positions.values()]
      .filter((p) => version !== 3 || p.amt !== 0n || this.s.queries.openOrdersOf(a.id, market, p.symbol).length > 0)
      .map((p) => {
        const up = this.s.books.unrealized(market, book, p);
        const mark = book.marks.get(p.symbol) ?? p.entry;
        if (version === 3) {
          return {
            symbol: p.symbol,
            positionSide: p.positionSide,
            positionAmt: fmtTrim(p.amt),
            unrealizedProfit: fmt(up),
            isolatedMargin: '0',
            notional: fmt(mul(p.amt, mark)),
            isolatedWallet: '0',
            initialMargin: '0',
            maintMargin: '0',
            updateTime: now,
          };
        }
        return {
          symbol: p.symbol,
          initialMargin: '0',
          maintMargin: '0',
          unrealizedProfit: fmt(up),
          positionInitialMargin: '0',
          openOrderInitialMargin: '0',
          leverage: '20',
          isolated: false,
          entryPrice: fmtTrim(p.entry),
          breakEvenPrice: fmtTrim(p.entry),
          maxNotional: '1000000',
          positionSide: p.positionSide,
          positionAmt: fmtTrim(p.amt),
          notional: fmt(mul(p.amt, mark)),
          isolatedWallet: '0',
          updateTime: now,
        };
      });
    // totals are USD-denominated: only stablecoin wallets count (no price feed in the simulator)
    const stable = (asset: string): boolean => ['USDT', 'USDC', 'FDUSD', 'BUSD'].includes(asset);
    const totalWb = [...book.wallet.entries()].filter(([x]) => stable(x)).reduce((x, [, y]) => x + y, 0n);
    const totalUp = [...upByAsset.entries()].filter(([x]) => stable(x)).reduce((x, [, y]) => x + y, 0n);
    if (market === 'coinm-futures') {
      return { assets, positions, canDeposit: true, canTrade: k.canTrade, canWithdraw: true, feeTier: 0, updateTime: now };
    }
    const totals: Json = {
      totalInitialMargin: fmt(0n),
      totalMaintMargin: fmt(0n),
      totalWalletBalance: fmt(totalWb),
      totalUnrealizedProfit: fmt(totalUp),
      totalMarginBalance: fmt(totalWb + totalUp),
      totalPositionInitialMargin: fmt(0n),
      totalOpenOrderInitialMargin: fmt(0n),
      totalCrossWalletBalance: fmt(totalWb),
      totalCrossUnPnl: fmt(totalUp),
      availableBalance: fmt(totalWb + totalUp),
      maxWithdrawAmount: fmt(totalWb),
    };
    if (version === 3) return { ...totals, assets, positions };
    return {
      feeTier: 0,
      feeBurn: false,
      canTrade: k.canTrade,
      canDeposit: true,
      canWithdraw: true,
      updateTime: 0,
      multiAssetsMargin: false,
      tradeGroupId: -1,
      ...totals,
      assets,
      positions,
    };
  }
}
