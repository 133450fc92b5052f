/**
 * The trade histories ("books") an account's recovery reads, and how a recovery names a symbol in
 * them. Every market has one book (id ''); portfolio margin has three — UM, CM and MARGIN — with
 * their own trade-id spaces on one stream, and the same symbol name (e.g. BTCUSDT) can exist in two.
 * So inside the recovery and in the ledger a portfolio-margin symbol is qualified by its book
 * (`UM:BTCUSDT`, `MARGIN:BTCUSDT`); every other market uses the plain symbol.
 */
import type { Market, UserDataEvent } from '../types';
import { PM_RECOVERY_BOOKS, type RecoverableMarket, type RecoveryRest } from '../exchange/facts';
import { pmBook } from './dedupe';
import { apiFor, int, str, type MarketApi, type Row } from './rest-rows';
import { isObj } from '../util';
import { isFillId, legOf, type Leg } from './ledger';

/** One trade history a recovery reads. */
export interface Book {
  id: '' | 'UM' | 'CM' | 'MARGIN';
  rowMarket: RecoverableMarket;
  api: MarketApi;
}

/** Reads the order part of an order event (spot/margin: raw; futures: raw.o). */
export function orderOf(e: UserDataEvent): Row | undefined {
  if (e.eventType === 'executionReport') return e.raw;
  if (e.eventType === 'ORDER_TRADE_UPDATE' && isObj(e.raw.o)) return e.raw.o;
  return undefined;
}

/**
 * The (symbol, trade id, leg) of a fill event (live or recovered), else undefined; on portfolio
 * margin the symbol is qualified by the book (see the file comment). The leg is the order's side:
 * a self-trade is two fills with one trade id (ledger.ts `Leg`).
 */
export function fillIdentity(e: UserDataEvent): { symbol: string; id: number; leg: Leg } | undefined {
  const o = orderOf(e);
  if (!o || o.x !== 'TRADE') return undefined;
  const symbol = str(o.s);
  const id = int(o.t);
  if (symbol === undefined || !isFillId(id)) return undefined;
  return { symbol: e.market === 'portfolio-margin' ? `${pmBook(e)}:${symbol}` : symbol, id, leg: legOf(o.S) };
}

/** The books of one account and the naming of recovery symbols in them. */
export class Books {
  readonly list: readonly Book[];
  private readonly pm: boolean;

  /** `endpoints`: the account's recovery endpoints (default: the facts table's entry for the market). */
  constructor(market: Market, endpoints?: RecoveryRest) {
    this.pm = market === 'portfolio-margin';
    this.list = this.pm
      ? PM_RECOVERY_BOOKS.map((b) => ({ id: b.id, rowMarket: b.rowMarket, api: apiFor(b.rowMarket, b.rest) }))
      : [{ id: '', rowMarket: market as RecoverableMarket, api: apiFor(market, endpoints) }];
  }

  /** The only book (every market but portfolio margin); undefined with several. */
  get single(): Book | undefined {
    return this.pm ? undefined : this.list[0];
  }

  /** The symbol as the recovery keys it: qualified by the book on portfolio margin (`UM:BTCUSDT`). */
  qualify(book: Book['id'], symbol: string): string {
    return book ? `${book}:${symbol}` : symbol;
  }

  /** The book and the exchange's symbol of a recovery symbol. */
  split(q: string): { book: Book; symbol: string } {
    if (!this.pm) return { book: this.list[0], symbol: q };
    const i = q.indexOf(':');
    const id = i > 0 ? q.slice(0, i) : '';
    return { book: this.list.find((b) => b.id === id) ?? this.list[0], symbol: i > 0 ? q.slice(i + 1) : q };
  }

  /** The book of a live event (portfolio margin: executionReport = MARGIN, else `fs`). */
  ofEvent(e: UserDataEvent): Book['id'] {
    return this.pm ? pmBook(e) : '';
  }

  /**
   * Symbols listed in the config as recovery symbols. Portfolio margin: `UM:X`, `CM:X`, `MARGIN:X`
   * name a book; a plain symbol with `_` (BTCUSD_PERP, delivery contracts) is CM, any other is UM
   * and MARGIN.
   */
  qualifyListed(listed: readonly string[]): string[] {
    if (!this.pm) return [...listed];
    const out: string[] = [];
    for (const s of listed) {
      if (/^(UM|CM|MARGIN):/.test(s)) out.push(s);
      else if (s.includes('_')) out.push(`CM:${s}`);
      else out.push(`UM:${s}`, `MARGIN:${s}`);
    }
    return out;
  }

  /** Marks a row-built event as the account's (portfolio margin: market and `fs` of the book). */
  asAccountEvent(book: Book, e: UserDataEvent): UserDataEvent {
    if (!this.pm) return e;
    e.market = 'portfolio-margin';
    if (book.id === 'UM' || book.id === 'CM') e.raw = { fs: book.id, ...e.raw };
    return e;
  }
}
