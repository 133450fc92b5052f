/**
 * The exchange's symbol lists: spot (with the cross-margin pairs) and each futures family's
 * contracts. A few common symbols are listed from the start; a test adds others (`addSymbol`), and a
 * symbol an order is placed on is listed from then on (the simulator still creates symbols on the
 * fly, as before), so the lists name every symbol the simulator knows.
 */
import { splitSymbol, isFutures, type SimMarket, type SymbolList, type SymbolRec } from './model';
import type { SimState } from './state';

/** Listed at start: spot (all also cross-margin pairs) and futures contracts. */
const SEED: Record<SymbolList, readonly string[]> = {
  spot: ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'ETHBTC', 'BNBBTC', 'BNBETH'],
  'usdm-futures': ['BTCUSDT', 'ETHUSDT', 'BNBUSDT'],
  'coinm-futures': ['BTCUSD_PERP', 'ETHUSD_PERP'],
};

export class SymbolsRoom {
  constructor(private readonly s: SimState) {
    for (const [list, names] of Object.entries(SEED) as Array<[SymbolList, readonly string[]]>) {
      for (const n of names) this.add(n, { list });
    }
  }

  /** The list a market's symbols are in. */
  static listOf(market: SimMarket): SymbolList {
    return isFutures(market) ? market : 'spot';
  }

  /**
   * Lists a symbol (or changes a listed one). Base / quote default to the simulator's split of the
   * name (BTCUSDT → BTC / USDT, BTCUSD_PERP → BTC / USD); status 'TRADING'; `margin` (spot list:
   * also a cross-margin pair) true.
   */
  add(
    symbol: string,
    opts: { list?: SymbolList; baseAsset?: string; quoteAsset?: string; status?: string; margin?: boolean } = {},
  ): SymbolRec {
    const sym = symbol.toUpperCase();
    const list = opts.list ?? 'spot';
    const split = splitSymbol(sym);
    const old = this.s.symbols[list].get(sym);
    const rec: SymbolRec = {
      symbol: sym,
      baseAsset: (opts.baseAsset ?? old?.baseAsset ?? split.base).toUpperCase(),
      quoteAsset: (opts.quoteAsset ?? old?.quoteAsset ?? split.quote).toUpperCase(),
      status: opts.status ?? old?.status ?? 'TRADING',
      margin: opts.margin ?? old?.margin ?? true,
    };
    this.s.symbols[list].set(sym, rec);
    return { ...rec };
  }

  /** The symbol of an order being placed: listed when it was not yet (created on the fly). */
  ensure(symbol: string, market: SimMarket): void {
    const list = SymbolsRoom.listOf(market);
    if (!this.s.symbols[list].has(symbol.toUpperCase())) this.add(symbol, { list });
  }

  setStatus(symbol: string, status: string, list: SymbolList = 'spot'): void {
    const rec = this.s.symbols[list].get(symbol.toUpperCase());
    if (!rec) throw new Error(`unknown symbol ${symbol} in the ${list} list`);
    rec.status = status;
  }

  list(list: SymbolList = 'spot'): SymbolRec[] {
    return [...this.s.symbols[list].values()].map((r) => ({ ...r })).sort((a, b) => a.symbol.localeCompare(b.symbol));
  }

  get(symbol: string, list: SymbolList = 'spot'): SymbolRec | undefined {
    const r = this.s.symbols[list].get(symbol.toUpperCase());
    return r ? { ...r } : undefined;
  }
}
