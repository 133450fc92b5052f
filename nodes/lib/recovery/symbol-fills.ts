/**
 * The fills of one recovery symbol since its ledger cursor: where the query starts (by trade id
 * from `safe + 1`, or by time from the symbol's time cursor or the gap start), the pages read
 * (trade-pages.ts), the events not delivered yet, and the cursor commit the delivery pipeline
 * applies once they were delivered (invariant I4). Used by GapRecovery (gap-recovery.ts).
 */
import type { Logger, UserDataEvent } from '../types';
import { ERROR_CODES } from '../exchange/facts';
import { BOTH_LEGS, idOf, legBit, legOfKey, type CursorCommit, type FillLedger } from './ledger';
import type { Books } from './books';
import { readTradePages } from './trade-pages';
import { fillEventFromRow, int, type Row } from './rest-rows';
import { errText } from '../util';

export interface SymbolFillsSource {
  ledger: FillLedger;
  books: Books;
  /** One trade page of a recovery symbol with these query parameters. */
  page(symbol: string, params: Record<string, number>): Promise<Row[]>;
  /** Since when every fill of a symbol without any cursor is taken as delivered. */
  coveredSince: number;
  /**
   * Where the line of streams began (the exchange's clock, gap-recovery.ts origin): no fill older
   * than this is delivered, by time or by id — those came before the line began (a start without
   * a saved state: FIRST_START_MARGIN_MS; a stale cursor merged in later: attack C3 on issue 21).
   */
  notBefore?: number;
  pageLimit: number;
  maxPages: number;
  clockSlackMs: number;
  now(): number;
  logger?: Logger;
}

/** The recovery's frame for every symbol. */
export interface FillsWindow {
  /** Gap start minus the clock slack, no earlier than `floor`. */
  gapFrom: number;
  /** Gap start minus the clock slack (not clamped). */
  gapStart?: number;
  /** Look-back limit: nothing older is recovered. */
  floor: number;
  epoch: number;
}

export interface SymbolFills {
  events: UserDataEvent[];
  /** Moves the cursor once `events` were delivered (none for an invalid symbol). */
  commit?: CursorCommit;
  /** 'complete': every page read; 'incomplete': retry from the same cursor; 'invalid': not a symbol here. */
  outcome: 'complete' | 'incomplete' | 'invalid';
  error?: string;
}

export async function recoverSymbolFills(src: SymbolFillsSource, symbol: string, w: FillsWindow): Promise<SymbolFills> {
  const resume = src.ledger.resumeFrom(symbol);
  const queryStart = src.now();
  let fromId: number | undefined;
  let fromTime: number | undefined;
  /** By time, but from this id if the rows by time begin after it (trade-pages.ts). */
  let anchorId: number | undefined;
  // A known id cursor always counts, however old the gap (a retry after a days-long ban, a restart
  // after a long stop): the look-back bounds where a recovery starts from nothing, not where a
  // cursor stops counting (issue 21, case 7).
  if (resume.fromId !== undefined) {
    fromId = resume.fromId;
  } else if (resume.since !== undefined) {
    // a known time cursor counts too: from it, however old
    fromTime = Math.min(w.gapFrom, resume.since - src.clockSlackMs);
  } else {
    const start = Math.min(w.gapStart ?? w.gapFrom, src.coveredSince - src.clockSlackMs);
    fromTime = Math.max(w.floor, start);
    if (start < w.floor && resume.firstDelivered !== undefined) {
      // from nothing the look-back may start after a fill already delivered (and those after it
      // may be missing: issue 21 case 7): every fill from it counts. By time still where the
      // look-back reaches before it (a restart whose state read failed, then a live fill: the fill
      // made while stopped lies before it, runtime schedule seed 31337)
      anchorId = resume.firstDelivered;
    }
  }
  const { book } = src.books.split(symbol);
  // rows by fill key (id and leg, ledger.ts fillKey)
  const byId = new Map<number, Row>();
  let complete: boolean;
  let error: string | undefined;
  try {
    complete = await readTradePages(
      {
        page: (params) => src.page(symbol, params),
        pageLimit: src.pageLimit,
        windowMs: book.api.tradeWindowMs,
        maxPages: src.maxPages,
        clockSlackMs: src.clockSlackMs,
        now: src.now,
        logger: src.logger,
        label: symbol,
      },
      { fromId, fromTime, anchorId },
      byId,
    );
  } catch (err) {
    error = `${symbol} fills: ${errText(err)}`;
    if ((err as { code?: unknown }).code === ERROR_CODES.BAD_SYMBOL) {
      // Invalid symbol (e.g. a typo in the config list): retrying cannot help.
      src.logger?.warn(`recovery: ${symbol} is not a valid symbol here; no fills recovered for it`);
      return { events: [], outcome: 'invalid', error };
    }
    src.logger?.warn(`recovery: fills of ${symbol} incomplete, retried from the same cursor: ${errText(err)}`);
    complete = false;
  }
  // Rows fetched are contiguous from the cursor (pages in id order): the highest one is covered.
  const keys = [...byId.keys()].sort((a, b) => a - b);
  const events: UserDataEvent[] = [];
  for (const k of keys) {
    if (src.ledger.isDelivered(symbol, idOf(k), legOfKey(k))) continue;
    const row = byId.get(k)!;
    const t = int(row.time);
    // by time: nothing older than the look-back (by id from a cursor: every fill after it counts),
    // and on a start without a saved state nothing from before the start
    const byTime = fromId === undefined && (anchorId === undefined || idOf(k) < anchorId);
    if (byTime && resume.since === undefined && t !== undefined && t < w.floor) continue;
    // before the line of streams began: never this stream's, also below a time cursor (which a
    // query filtered so set: a key change, two drops, the fill made just before the change came
    // again, runtime schedule seed 20261207), and also by id: a cursor merged in from a stale
    // state (a store switched back after a restart) lies below fills delivered before the
    // restart (attack C3 on issue 21); a cursor of the line's own lies after its origin anyway
    if (src.notBefore !== undefined && t !== undefined && t < src.notBefore) continue;
    events.push(src.books.asAccountEvent(book, fillEventFromRow(book.rowMarket, row, src.now())));
  }
  const maxId = keys.length ? idOf(keys[keys.length - 1]) : undefined;
  // Read to the end: every leg of the last id is here. Stopped early: only the legs read.
  let maxIdLegs = BOTH_LEGS;
  if (!complete && maxId !== undefined) maxIdLegs = keys.filter((k) => idOf(k) === maxId).reduce((m, k) => m | legBit(legOfKey(k)), 0);
  const commit: CursorCommit = {
    symbol,
    complete,
    epoch: w.epoch,
    coveredUntil: queryStart - src.clockSlackMs,
    ...(maxId !== undefined ? { maxId, maxIdLegs } : {}),
    // by time from nothing, not finished: the retries go on from here (runtime schedule seed 6000)
    ...(!complete && fromId === undefined && resume.since === undefined && fromTime !== undefined ? { queriedFrom: fromTime } : {}),
  };
  return { events, commit, outcome: complete ? 'complete' : 'incomplete', ...(error ? { error } : {}) };
}
