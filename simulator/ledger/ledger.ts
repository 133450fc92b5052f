/**
 * The ledger of orders and fills, one for spot, margin and futures: placeOrder (funds locked on
 * spot-like books), fillOrder (commission, balances or position and realised PnL, the trade log),
 * cancel / expire, deposits, withdrawals, funding fees, margin calls, and the read-outs (getOrder,
 * balances, positions, trades). The events it pushes are built in ledger/events.ts.
 */
import { dec, mul, div, abs, min, fmt, fmtTrim } from '../decimal';
import { randomAlnum } from '../signing';
import {
  isSpotLike,
  isFutures,
  splitSymbol,
  coinmContractSize,
  SPOT_DECIMALS,
  type SimMarket,
  type SimOrder,
  type SimTrade,
  type FuturesMarket,
  type OrderRec,
} from '../model';
import type { SimState } from '../state';

export class LedgerRoom {
  constructor(private readonly s: SimState) {}

  private snapshot(o: OrderRec): SimOrder {
    const fut = isFutures(o.market);
    const f = fut ? fmtTrim : (x: bigint) => fmt(x, SPOT_DECIMALS);
    const s: SimOrder = {
      orderId: o.orderId,
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      market: o.market,
      accountId: o.accountId,
      side: o.side,
      status: o.status,
      type: o.type,
      timeInForce: o.tif,
      price: f(o.price),
      origQty: f(o.qty),
      executedQty: f(o.executed),
      cumQuote: f(o.cumQuote),
      stopPrice: f(o.stopPrice),
      time: o.time,
      updateTime: o.updateTime,
    };
    if (fut) {
      s.positionSide = o.positionSide;
      s.reduceOnly = o.reduceOnly;
    }
    return s;
  }

  /** Current state of an order (snapshot). */
  getOrder(orderId: number): SimOrder | undefined {
    const o = this.s.orders.get(orderId);
    return o ? this.snapshot(o) : undefined;
  }

  /** Balances of a spot-like book as strings (free/locked), or futures wallet balances. */
  balances(accountId: string, market: SimMarket, symbol?: string): Record<string, { free: string; locked: string }> {
    const a = this.s.account(accountId);
    const out: Record<string, { free: string; locked: string }> = {};
    if (isFutures(market)) {
      for (const [asset, wb] of a.futures[market].wallet) out[asset] = { free: fmt(wb), locked: fmt(0n) };
      return out;
    }
    if (market === 'isolated-margin' && !symbol) throw new Error('symbol required for isolated-margin');
    for (const [asset, b] of this.s.books.spotBook(a, market, symbol ?? '')) out[asset] = { free: fmt(b.free), locked: fmt(b.locked) };
    return out;
  }

  /** Futures positions of an account (strings). */
  positions(accountId: string, market: FuturesMarket): Array<{ symbol: string; positionSide: string; positionAmt: string; entryPrice: string }> {
    const a = this.s.account(accountId);
    return [...a.futures[market].positions.values()].map((p) => ({
      symbol: p.symbol,
      positionSide: p.positionSide,
      positionAmt: fmtTrim(p.amt),
      entryPrice: fmtTrim(p.entry),
    }));
  }

  placeOrder(
    accountId: string,
    o: {
      market: SimMarket;
      symbol: string;
      side: 'BUY' | 'SELL';
      type?: string;
      quantity: string;
      price?: string;
      timeInForce?: string;
      clientOrderId?: string;
      positionSide?: 'BOTH' | 'LONG' | 'SHORT';
      reduceOnly?: boolean;
      stopPrice?: string;
      /** Futures: the original order type shown as `ot` / `origType` (e.g. STOP_MARKET of a triggered algo order). */
      origType?: string;
    },
  ): SimOrder {
    const a = this.s.account(accountId);
    const symbol = o.symbol.toUpperCase();
    const type = (o.type ?? (o.price !== undefined ? 'LIMIT' : 'MARKET')).toUpperCase();
    const qty = dec(o.quantity);
    if (qty <= 0n) throw new Error('quantity must be positive');
    const price = o.price !== undefined ? dec(o.price) : 0n;
    if (type === 'LIMIT' && price <= 0n) throw new Error('LIMIT order needs a price');
    const now = this.s.serverTime();
    this.s.symbolsRoom.ensure(symbol, o.market);
    const rec: OrderRec = {
      orderId: this.s.nextOrderId++,
      clientOrderId: o.clientOrderId ?? randomAlnum(22),
      accountId,
      market: o.market,
      symbol,
      side: o.side,
      type,
      tif: o.timeInForce ?? 'GTC',
      price,
      stopPrice: o.stopPrice !== undefined ? dec(o.stopPrice) : 0n,
      qty,
      executed: 0n,
      cumQuote: 0n,
      lockedRemaining: 0n,
      status: 'NEW',
      positionSide: o.positionSide ?? 'BOTH',
      reduceOnly: o.reduceOnly ?? false,
      origType: isFutures(o.market) && o.origType !== undefined ? o.origType.toUpperCase() : undefined,
      time: now,
      updateTime: now,
    };
    if (isSpotLike(o.market)) {
      const book = this.s.books.spotBook(a, o.market, symbol);
      const { base, quote } = splitSymbol(symbol);
      let changed: string | undefined;
      if (rec.side === 'BUY' && price > 0n) {
        const need = mul(qty, price);
        const b = this.s.books.bal(book, quote);
        if (b.free < need) throw new Error(`insufficient ${quote} balance`);
        b.free -= need;
        b.locked += need;
        rec.lockedRemaining = need;
        changed = quote;
      } else if (rec.side === 'SELL') {
        const b = this.s.books.bal(book, base);
        if (b.free < qty) throw new Error(`insufficient ${base} balance`);
        b.free -= qty;
        b.locked += qty;
        rec.lockedRemaining = qty;
        changed = base;
      }
      this.s.orders.set(rec.orderId, rec);
      this.s.wsApi.emitSpot(accountId, o.market, symbol, this.s.events.executionReport(rec, 'NEW', now));
      if (changed) this.s.events.emitAccountPosition(a, o.market, symbol, [changed], now);
    } else {
      this.s.orders.set(rec.orderId, rec);
      this.s.streams.emitFutures(accountId, o.market as FuturesMarket, this.s.events.orderTradeUpdate(rec, 'NEW', now));
    }
    return this.snapshot(rec);
  }

  /**
   * The rule spot and futures fills share: the order advances by `qty` (`cum` = quote amount, or
   * COIN-M base amount), FILLED with the last fill, and the trade enters the trade log.
   */
  private recordFill(
    o: OrderRec,
    qty: bigint,
    cum: bigint,
    last: boolean,
    now: number,
    f: Pick<SimTrade, 'tradeId' | 'quantity' | 'price' | 'commission' | 'commissionAsset' | 'isMaker' | 'quoteQty' | 'realizedPnl' | 'positionSide'>,
  ): SimTrade {
    o.executed += qty;
    o.cumQuote += cum;
    o.status = last ? 'FILLED' : 'PARTIALLY_FILLED';
    o.updateTime = now;
    const trade: SimTrade = {
      tradeId: f.tradeId,
      orderId: o.orderId,
      symbol: o.symbol,
      market: o.market,
      quantity: f.quantity,
      price: f.price,
      commission: f.commission,
      commissionAsset: f.commissionAsset,
      isMaker: f.isMaker,
      time: now,
      accountId: o.accountId,
      side: o.side,
      quoteQty: f.quoteQty,
      realizedPnl: f.realizedPnl,
    };
    if (f.positionSide !== undefined) trade.positionSide = f.positionSide;
    this.s.tradeLog.push(trade);
    return trade;
  }

  /**
   * Records one futures income history row (GET /fapi/v1/income …): rows of a zero amount are left
   * out unless the option `incomeZeroAmounts` is 'include'.
   */
  addIncome(accountId: string, market: FuturesMarket, r: { symbol?: string; incomeType: string; income: bigint; asset: string; time: number; tradeId?: number; info?: string }): void {
    if (r.income === 0n && this.s.opts.incomeZeroAmounts !== 'include') return;
    this.s.incomeLog.push({
      tranId: this.s.nextTranId++,
      accountId,
      market,
      symbol: r.symbol ?? '',
      incomeType: r.incomeType,
      income: r.income,
      asset: r.asset,
      info: r.info ?? r.incomeType,
      time: r.time,
      tradeId: r.tradeId !== undefined ? String(r.tradeId) : '',
    });
  }

  /**
   * Fills `quantity` of an order. `commission` overrides the simulator's fee (spot 0.1 % of what is
   * received, futures 0.02 % maker / 0.05 % taker of the notional), e.g. '0' for a zero-fee fill.
   */
  fillOrder(orderId: number, f: { quantity: string; price?: string; maker?: boolean; commission?: string }): SimTrade {
    const o = this.s.orders.get(orderId);
    if (!o) throw new Error(`unknown order ${orderId}`);
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw new Error(`order ${orderId} is ${o.status}`);
    const a = this.s.account(o.accountId);
    const qty = dec(f.quantity);
    if (qty <= 0n || qty > o.qty - o.executed) throw new Error('fill quantity must be > 0 and ≤ the remaining quantity');
    const price = f.price !== undefined ? dec(f.price) : o.price;
    if (price <= 0n) throw new Error('fill price required for an order without price');
    const maker = f.maker ?? o.type === 'LIMIT';
    const now = this.s.serverTime();
    const tradeId = this.s.books.nextTradeId(a, o.market);
    const { base, quote } = splitSymbol(o.symbol);
    const last = o.executed + qty === o.qty;

    if (isSpotLike(o.market)) {
      const book = this.s.books.spotBook(a, o.market, o.symbol);
      const quoteQty = mul(qty, price);
      let commission: bigint;
      let commissionAsset: string;
      const qb = this.s.books.bal(book, quote);
      const bb = this.s.books.bal(book, base);
      if (o.side === 'BUY') {
        commission = f.commission !== undefined ? dec(f.commission) : mul(qty, dec('0.001'));
        commissionAsset = base;
        if (o.price > 0n) {
          const release = last ? o.lockedRemaining : mul(qty, o.price);
          o.lockedRemaining -= release;
          qb.locked -= release;
          qb.free += release - quoteQty;
        } else {
          if (qb.free < quoteQty) throw new Error(`insufficient ${quote} balance`);
          qb.free -= quoteQty;
        }
        bb.free += qty - commission;
      } else {
        commission = f.commission !== undefined ? dec(f.commission) : mul(quoteQty, dec('0.001'));
        commissionAsset = quote;
        const release = last ? o.lockedRemaining : qty;
        o.lockedRemaining -= release;
        bb.locked -= release;
        bb.free += release - qty;
        qb.free += quoteQty - commission;
      }
      const trade = this.recordFill(o, qty, quoteQty, last, now, {
        tradeId,
        quantity: fmt(qty),
        price: fmt(price),
        commission: fmt(commission),
        commissionAsset,
        isMaker: maker,
        quoteQty: fmt(quoteQty),
        realizedPnl: '0',
      });
      const er = this.s.events.executionReport(o, 'TRADE', now, {
        trade,
        execId: 0,
        lastQty: qty,
        lastPrice: price,
        lastQuote: quoteQty,
        commission,
      });
      this.s.wsApi.emitSpot(o.accountId, o.market, o.symbol, er);
      this.s.events.emitAccountPosition(a, o.market, o.symbol, [base, quote], now);
      return { ...trade };
    }

    const market = o.market as FuturesMarket;
    const fb = a.futures[market];
    const asset = this.s.books.marginAsset(market, o.symbol);
    const cs = coinmContractSize(o.symbol);
    const notional = market === 'usdm-futures' ? mul(qty, price) : div(mul(qty, cs), price);
    const commission = f.commission !== undefined ? dec(f.commission) : mul(notional, dec(maker ? '0.0002' : '0.0005'));
    // position
    const pkey = `${o.symbol}|${o.positionSide}`;
    let pos = fb.positions.get(pkey);
    if (!pos) {
      pos = { symbol: o.symbol, positionSide: o.positionSide, amt: 0n, entry: 0n, realized: 0n, updateTime: now };
      fb.positions.set(pkey, pos);
    }
    const delta = o.side === 'BUY' ? qty : -qty;
    let realized = 0n;
    let reduces = false;
    if (pos.amt === 0n || pos.amt > 0n === delta > 0n) {
      const absAmt = abs(pos.amt);
      pos.entry = div(mul(absAmt, pos.entry) + mul(qty, price), absAmt + qty);
      pos.amt += delta;
    } else {
      reduces = true;
      const closeQty = min(abs(pos.amt), qty);
      const sign = pos.amt > 0n ? 1n : -1n;
      if (market === 'usdm-futures') {
        realized = mul(price - pos.entry, closeQty) * sign;
      } else {
        const n = mul(closeQty, cs);
        realized = (div(n, pos.entry) - div(n, price)) * sign;
      }
      pos.amt += delta;
      if (pos.amt === 0n) pos.entry = 0n;
      else if (pos.amt > 0n !== sign > 0n) pos.entry = price;
    }
    pos.realized += realized;
    pos.updateTime = now;
    fb.marks.set(o.symbol, price);
    fb.wallet.set(asset, (fb.wallet.get(asset) ?? 0n) + realized - commission);
    const trade = this.recordFill(o, qty, notional, last, now, {
      tradeId,
      quantity: fmtTrim(qty),
      price: fmtTrim(price),
      commission: fmt(commission),
      commissionAsset: asset,
      isMaker: maker,
      quoteQty: fmtTrim(notional),
      realizedPnl: fmtTrim(realized),
      positionSide: o.positionSide,
    });
    // income history: the realised PnL (only a fill that reduces a position realises any) and the commission
    if (reduces) {
      this.addIncome(o.accountId, market, { symbol: o.symbol, incomeType: 'REALIZED_PNL', income: realized, asset, time: now, tradeId });
    }
    this.addIncome(o.accountId, market, { symbol: o.symbol, incomeType: 'COMMISSION', income: -commission, asset, time: now, tradeId });
    this.s.streams.emitFutures(
      o.accountId,
      market,
      this.s.events.orderTradeUpdate(o, 'TRADE', now, { trade, lastQty: qty, lastPrice: price, commission, realized }),
    );
    this.s.streams.emitFutures(o.accountId, market, {
      e: 'TRADE_LITE',
      E: now,
      T: now,
      s: o.symbol,
      q: fmtTrim(o.qty),
      p: fmtTrim(o.price),
      m: maker,
      c: o.clientOrderId,
      S: o.side,
      L: fmtTrim(price),
      l: fmtTrim(qty),
      t: tradeId,
      i: orderId,
    });
    const positions = market === 'coinm-futures' ? [...fb.positions.values()] : [pos];
    this.s.streams.emitFutures(o.accountId, market, this.s.events.accountUpdate(a, market, 'ORDER', [{ asset, change: 0n }], positions, now));
    if (last) this.s.algo.finishAlgoOf(o, now);
    return { ...trade };
  }

  private endOrder(orderId: number, status: 'CANCELED' | 'EXPIRED', expiryReason?: string): void {
    const o = this.s.orders.get(orderId);
    if (!o) throw new Error(`unknown order ${orderId}`);
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw new Error(`order ${orderId} is ${o.status}`);
    const a = this.s.account(o.accountId);
    const now = this.s.serverTime();
    o.status = status;
    o.updateTime = now;
    if (isSpotLike(o.market)) {
      const book = this.s.books.spotBook(a, o.market, o.symbol);
      const { base, quote } = splitSymbol(o.symbol);
      const asset = o.side === 'BUY' ? quote : base;
      const released = o.lockedRemaining;
      if (released > 0n) {
        const b = this.s.books.bal(book, asset);
        b.locked -= released;
        b.free += released;
        o.lockedRemaining = 0n;
      }
      const er =
        status === 'CANCELED'
          ? this.s.events.executionReport(o, 'CANCELED', now, undefined, { cancelClientOrderId: randomAlnum(22) })
          : this.s.events.executionReport(o, 'EXPIRED', now, undefined, {
              expiryReason:
                expiryReason ??
                (o.tif === 'IOC' ? 'UNFILLED_IOC_QUANTITY_EXPIRED' : o.tif === 'FOK' ? 'UNFILLED_FOK_ORDER_EXPIRED' : 'EXCHANGE_CANCELED'),
            });
      this.s.wsApi.emitSpot(o.accountId, o.market, o.symbol, er);
      if (released > 0n) this.s.events.emitAccountPosition(a, o.market, o.symbol, [asset], now);
    } else {
      const er = status === 'EXPIRED' ? { expiryReason: expiryReason ?? (o.tif === 'IOC' ? '2' : '0') } : {};
      this.s.streams.emitFutures(o.accountId, o.market as FuturesMarket, this.s.events.orderTradeUpdate(o, status, now, undefined, er));
      this.s.algo.finishAlgoOf(o, now);
    }
  }

  cancelOrder(orderId: number): void {
    this.endOrder(orderId, 'CANCELED');
  }

  expireOrder(orderId: number, expiryReason?: string): void {
    this.endOrder(orderId, 'EXPIRED', expiryReason);
  }

  runOrderLifecycle(
    accountId: string,
    o: {
      market: SimMarket;
      symbol: string;
      side: 'BUY' | 'SELL';
      quantity: string;
      price: string;
      fills?: string[];
      outcome?: 'filled' | 'canceled' | 'expired';
      /** Commission of each fill (fillOrder `commission`), e.g. '0' for zero-fee fills. */
      commission?: string;
    },
  ): { order: SimOrder; trades: SimTrade[] } {
    const outcome = o.outcome ?? 'filled';
    const placed = this.placeOrder(accountId, {
      market: o.market,
      symbol: o.symbol,
      side: o.side,
      type: 'LIMIT',
      quantity: o.quantity,
      price: o.price,
    });
    const trades: SimTrade[] = [];
    const total = dec(o.quantity);
    let done = 0n;
    for (const q of o.fills ?? []) {
      trades.push(this.fillOrder(placed.orderId, { quantity: q, commission: o.commission }));
      done += dec(q);
    }
    if (outcome === 'filled' && done < total) {
      trades.push(this.fillOrder(placed.orderId, { quantity: fmt(total - done), commission: o.commission }));
    } else if (outcome === 'canceled') {
      this.cancelOrder(placed.orderId);
    } else if (outcome === 'expired') {
      this.expireOrder(placed.orderId);
    }
    return { order: this.getOrder(placed.orderId)!, trades };
  }

  private balanceChange(accountId: string, market: SimMarket, asset: string, delta: bigint, reason: string, symbol?: string): void {
    const a = this.s.account(accountId);
    const now = this.s.serverTime();
    const A = asset.toUpperCase();
    if (isSpotLike(market)) {
      const sym = market === 'isolated-margin' ? this.s.books.pickIsolatedSymbol(a, A, symbol) : undefined;
      const b = this.s.books.bal(this.s.books.spotBook(a, market, sym ?? ''), A);
      if (b.free + delta < 0n) throw new Error(`insufficient ${A} balance`);
      b.free += delta;
      this.s.wsApi.emitSpot(accountId, market, sym, { e: 'balanceUpdate', E: now, a: A, d: fmt(delta), T: now });
      this.s.events.emitAccountPosition(a, market, sym, [A], now);
      return;
    }
    const fb = a.futures[market];
    const wb = (fb.wallet.get(A) ?? 0n) + delta;
    if (wb < 0n && reason === 'WITHDRAW') throw new Error(`insufficient ${A} balance`);
    fb.wallet.set(A, wb);
    this.addIncome(accountId, market, {
      symbol: reason === 'FUNDING_FEE' ? symbol?.toUpperCase() : undefined,
      incomeType: reason === 'FUNDING_FEE' ? 'FUNDING_FEE' : 'TRANSFER',
      income: delta,
      asset: A,
      time: now,
      info: reason,
    });
    const ev = this.s.events.accountUpdate(a, market, reason, [{ asset: A, change: delta }], [], now, reason === 'FUNDING_FEE' ? symbol?.toUpperCase() : undefined);
    this.s.streams.emitFutures(accountId, market, ev);
  }

  deposit(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.balanceChange(accountId, market, asset, abs(dec(amount)), 'DEPOSIT', opts.symbol);
  }

  withdraw(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.balanceChange(accountId, market, asset, -abs(dec(amount)), 'WITHDRAW', opts.symbol);
  }

  fundingFee(accountId: string, market: FuturesMarket, asset: string, amount: string, symbol?: string): void {
    this.balanceChange(accountId, market, asset, dec(amount), 'FUNDING_FEE', symbol);
  }

  marginCall(accountId: string, market: FuturesMarket, symbol: string): void {
    const a = this.s.account(accountId);
    const fb = a.futures[market];
    const sym = symbol.toUpperCase();
    let list = [...fb.positions.values()].filter((p) => p.symbol === sym);
    if (list.length === 0) list = [{ symbol: sym, positionSide: 'BOTH', amt: 0n, entry: 0n, realized: 0n, updateTime: 0 }];
    const asset = this.s.books.marginAsset(market, sym);
    const mark = fb.marks.get(sym) ?? 0n;
    this.s.streams.emitFutures(accountId, market, {
      e: 'MARGIN_CALL',
      E: this.s.serverTime(),
      cw: fmtTrim(fb.wallet.get(asset) ?? 0n),
      p: list.map((p) => ({
        s: p.symbol,
        ps: p.positionSide,
        pa: fmtTrim(p.amt),
        mt: 'CROSSED',
        iw: '0',
        mp: fmtTrim(mark),
        up: fmtTrim(this.s.books.unrealized(market, fb, p)),
        mm: fmtTrim(mul(abs(mul(p.amt, mark)), dec('0.004'))),
      })),
    });
  }

  trades(accountId: string, market: SimMarket, symbol?: string): SimTrade[] {
    return this.s.tradeLog
      .filter((t) => t.accountId === accountId && t.market === market && (!symbol || t.symbol === symbol.toUpperCase()))
      .map((t) => ({ ...t }));
  }
}
