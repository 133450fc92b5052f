/**
 * What a recovery learns from the live stream: which symbols the account trades (least recently
 * seen dropped beyond a bound, with their ledger entries), the highest exchange event time seen,
 * and the orders seen open (handed to open-orders.ts). Recovered events are not tracked here: they
 * were tracked when they were recovered. Used by GapRecovery (gap-recovery.ts).
 */
import type { UserDataEvent } from '../types';
import { orderOf, type Books } from './books';
import { int, str } from './rest-rows';
import { algoOrderOf } from '../events/fields';

/** What the tracker updates besides itself. */
export interface LiveTrackingHost {
  /** An order seen with a status (open-orders.ts). */
  trackOrder(symbol: string, orderId: number, status: string, executedQty: string | undefined, algo: boolean): void;
  /** A symbol dropped from the bound (no longer queried after a gap; its cursor stays): made visible. */
  dropped(symbol: string): void;
  /** Something a snapshot holds changed. */
  changed(): void;
  /** A symbol seen for the first time on a live event (not in the table before). */
  firstSeenLive?(symbol: string): void;
}

/**
 * Event times further ahead of our clock than this are not taken as the last event time: a server
 * whose clock (or a frame) says year 3000 would otherwise make every later start-up gap empty.
 * Ignoring one is conservative (the next start recovers from an earlier time).
 */
export const MAX_EVENT_TIME_AHEAD_MS = 10 * 60_000;

export class LiveTracking {
  /** symbol → true, in insertion order = least recently seen first. */
  private readonly seen = new Map<string, true>();
  /** The symbol seen last (the usual case is a run of one symbol's events: nothing moves). */
  private lastSymbol?: string;
  private lastE?: number;

  constructor(
    private readonly books: Books,
    private readonly host: LiveTrackingHost,
    private readonly maxSymbols: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A time that may become the last event time (not implausibly far in the future). */
  private plausible(t: number): boolean {
    return t <= this.now() + MAX_EVENT_TIME_AHEAD_MS;
  }

  /** Highest exchange event time seen live (or restored). */
  get lastEventTime(): number | undefined {
    return this.lastE;
  }

  /** Raises the last event time (a restored state); never lowers it. */
  raiseLastEventTime(t: number): void {
    if (this.plausible(t) && (this.lastE === undefined || t > this.lastE)) this.lastE = t;
  }

  /** The symbols seen, least recently seen first. */
  symbols(): string[] {
    return [...this.seen.keys()];
  }

  /** One live event. Throws on a malformed event (the caller guards). */
  track(e: UserDataEvent): void {
    if (e.recovered) return;
    const E = int(e.raw.E);
    if (E !== undefined && (this.lastE === undefined || E > this.lastE) && this.plausible(E)) {
      this.lastE = E;
      this.host.changed();
    }
    const book = this.books.ofEvent(e);
    const algo = e.eventType === 'ALGO_UPDATE' ? algoOrderOf(e.raw) : undefined;
    if (algo) {
      const o = algo;
      const plain = str(o.s);
      const symbol = plain && this.books.qualify(book, plain);
      const aid = int(o.aid);
      if (symbol) this.see(symbol, true);
      if (symbol && aid !== undefined && typeof o.X === 'string') this.host.trackOrder(symbol, aid, o.X, undefined, true);
      return;
    }
    const order = orderOf(e);
    if (!order) {
      if (e.eventType === 'TRADE_LITE') {
        const s = str(e.raw.s);
        if (s) this.see(this.books.qualify(book, s), true);
      }
      return;
    }
    const plain = str(order.s);
    if (!plain) return;
    const symbol = this.books.qualify(book, plain);
    this.see(symbol, true);
    const orderId = int(order.i);
    if (orderId !== undefined && typeof order.X === 'string') {
      this.host.trackOrder(symbol, orderId, order.X, typeof order.z === 'string' ? order.z : undefined, false);
    }
  }

  /** A symbol of the account (recovery symbol form) becomes the most recently seen. */
  see(symbol: string, live = false): void {
    if (symbol === this.lastSymbol && this.seen.has(symbol)) return;
    this.lastSymbol = symbol;
    if (this.seen.has(symbol)) {
      this.seen.delete(symbol);
      this.seen.set(symbol, true);
      return;
    }
    this.seen.set(symbol, true);
    this.host.changed();
    if (live) this.host.firstSeenLive?.(symbol);
    while (this.seen.size > this.maxSymbols) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
      this.host.dropped(oldest);
    }
  }
}
