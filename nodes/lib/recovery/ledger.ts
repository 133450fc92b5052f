/**
 * The fill ledger: which fills have reached the flow, per symbol, and from where a recovery must
 * start. THE place that answers "how is a fill de-duplicated" and "where does a recovery resume".
 *
 * Per symbol:
 *  - `safe`: every fill of the symbol with a trade id < safe has been delivered, and at `safe`
 *    the legs of `safeLegs` (invariant I4: it never passes an undelivered fill). It moves only
 *      (a) at a recovery's commit, after the REST rows it fetched were delivered (REST pages are
 *          contiguous from the cursor, so the highest fetched id is covered: both legs if the
 *          pages were read to the end), or
 *      (b) on a live fill while the symbol is *live-safe*: its last recovery completed in the
 *          current connection epoch (no gap since), so every fill up to this one was either
 *          fetched by that recovery or arrived live on this connection. Not during a rotation
 *          overlap (two sockets may deliver out of order).
 *  - `delivered`: fills delivered above `safe` (live fills while not live-safe, recovered fills
 *    before their commit), per leg, as exact ranges of ids (id-ranges.ts): a retry that fetches
 *    them again from `safe + 1` cannot deliver a second copy, however many there are — nothing is
 *    forgotten to stay small (consecutive ids cost one range), in memory and persisted.
 *  - `since`: for a symbol without a trade-id cursor: every fill before this time was delivered
 *    (time-based queries start there).
 *
 * Fills are keyed by trade id and leg (a self-trade's buyer and seller share one id: `Leg`).
 * A fill fetched over REST is a duplicate exactly when `id < safe`, at `safe` with a leg of
 * `safeLegs`, or in `delivered`
 * (REST pages are contiguous by id). A LIVE fill is a duplicate exactly when its id is in
 * `delivered` or among the symbol's last RECENT_PER_SYMBOL delivered ids: live duplicates are
 * copies seen within seconds (a rotation overlap, a held event also fetched by a recovery), and a
 * live fill below the cursor that was never delivered is delivered — an exchange whose trade ids
 * do not grow (a test double, one bogus frame with a huge id) must not silence later fills.
 *
 * A single frame cannot move a cursor far: a live fill whose id lies far above the symbol's cursor
 * (more than MAX_LIVE_JUMP), or above MAX_PLAUSIBLE_TRADE_ID for a symbol without one, is delivered
 * and recorded exactly, but the cursor stays and the symbol stops being live-safe until the
 * exchange's own history confirms where it stands (a recovery of the symbol: `onSuspicious`). One
 * bogus id (2^50) can then neither hide later fills nor make recoveries start above them.
 *
 * Epochs: `openGap()` starts a new epoch whenever the stream may have missed something (the
 * connection went down, a gap was reported); every symbol stops being live-safe until a recovery
 * of the new epoch commits it.
 *
 * A gap reported late: when a gap is reported with its start (`openGap(from)`) after live fills
 * received since that start already moved a cursor (no hold came first: the WS API's
 * eventStreamTerminated ends a subscription on a live connection, and the new subscription's
 * first events can precede the gap report), the cursor goes back to where it stood at `from`;
 * the fills delivered above it stay known (the delivered set), so the recovery fetches only what
 * is missing (I4). Live advances are remembered for LATE_GAP_WINDOW_MS, at most
 * MAX_LIVE_ADVANCES per symbol.
 */

import { IdRanges, type PersistedRanges } from './id-ranges';

/**
 * The legs of a trade. One trade id can be two fills of the account — a self-trade, "two orders
 * of the same account filled by one trade" (binance-spot-api-docs faqs/stp_faq.md, Scenario A,
 * a5e0bc3 2026-07-21): the buyer's and the seller's. The exact sets key a fill by its id and leg.
 */
export type Leg = 0 | 1;
/** The leg of a fill from its side ('SELL' = 1, anything else = 0: the buyer). */
export function legOf(side: unknown): Leg {
  return side === 'SELL' ? 1 : 0;
}
/** Highest trade id a fill key can hold (id * 2 + leg stays a safe integer). */
export const MAX_FILL_ID = 2 ** 51;
/** A trade id the ledger keys (beyond MAX_FILL_ID no exchange's id: such a fill is de-duplicated as an event). */
export function isFillId(id: number | undefined): id is number {
  return id !== undefined && id >= 0 && id <= MAX_FILL_ID;
}
/** One number for a fill's id and leg; keys sort in id order. */
export function fillKey(id: number, leg: Leg): number {
  return id * 2 + leg;
}
/** The trade id of a fill key. */
export function idOf(key: number): number {
  return Math.floor(key / 2);
}
/** The leg of a fill key. */
export function legOfKey(key: number): Leg {
  return (key % 2) as Leg;
}

/**
 * A live fill this far above the symbol's safe cursor does not move it (see "A single frame cannot
 * move a cursor far"). Binance's busiest symbols make a few million trades a day (their ids count
 * every trade of the symbol), so this is weeks of a busy market; a real jump that large only costs
 * one REST query from the old cursor (it returns the account's own fills only).
 */
export const MAX_LIVE_JUMP = 100_000_000;
/**
 * The highest trade id a live fill of a symbol without a cursor is trusted with (2^40 ≈ 1.1e12;
 * Binance's busiest symbols counted about 6e9 trades in 2026).
 */
export const MAX_PLAUSIBLE_TRADE_ID = 2 ** 40;
/** Delivered ids remembered per symbol whatever the cursor (live duplicates), at most. */
export const RECENT_PER_SYMBOL = 512;
/** How long a live cursor move can still be undone by a gap that began before it. */
export const LATE_GAP_WINDOW_MS = 10 * 60_000;
/** Live cursor moves remembered per symbol for that, at most (the oldest is forgotten first). */
export const MAX_LIVE_ADVANCES = 4_096;

/** Both legs as a mask (see SymbolCursor.safeLegs). */
export const BOTH_LEGS = 3;
/** One leg as a mask bit. */
export function legBit(leg: Leg): number {
  return 1 << leg;
}

/** A live fill moved the safe cursor: when it was received, and where the cursor stood before. */
interface LiveAdvance {
  at: number;
  prev: number | undefined;
  prevLegs: number;
}

/** Delivered fills above the cursor, by leg (exact ranges of ids). */
type DeliveredLegs = [IdRanges, IdRanges];

interface SymbolCursor {
  /** Every fill below this id was delivered, and at it the legs of `safeLegs`. */
  safe?: number;
  /**
   * The legs at `safe` known delivered (mask of legBit). A live fill moves the cursor to its own
   * id and leg only: the other leg of a self-trade may still be missing (a recovery then starts AT
   * the cursor). REST rows read to the end hold every leg of their last id (BOTH_LEGS).
   */
  safeLegs: number;
  since?: number;
  /** Delivered fills above `safe`: ids per leg, exact. */
  delivered: DeliveredLegs;
  /** The last RECENT_PER_SYMBOL fills delivered, as keys (in memory only), below the cursor or not. */
  recent: Set<number>;
  /** Epoch in which the symbol is live-safe; -1: not live-safe. */
  liveSafeEpoch: number;
  /** Recent live moves of `safe`, oldest first (see "A gap reported late"). */
  advances: LiveAdvance[];
  /**
   * The fills that moved `safe` live, in two generations of LATE_GAP_WINDOW_MS / 2 each: when a
   * late gap moves the cursor back, every one of them above it is known delivered again, exactly
   * (not only the last few: a burst of thousands must not come a second time from REST).
   */
  liveNow: DeliveredLegs;
  liveBefore?: DeliveredLegs;
  liveNowSince: number;
  /**
   * The highest trade id a recovery in this process read to from the cursor (REST pages are
   * contiguous): every fill of the exchange's history up to it was delivered, so a live copy of
   * one arriving later (held behind the recovery, a rotation overlap) is a duplicate.
   */
  confirmed?: number;
}

export interface LedgerSnapshot {
  safe: Record<string, number>;
  /** Legs at the cursor (mask) where they are not both. */
  safeLegs: Record<string, number>;
  since: Record<string, number>;
  /** Fills delivered above the cursor: [buyer leg, seller leg] ranges of ids. */
  delivered: Record<string, [PersistedRanges, PersistedRanges]>;
}

/** What restore() reads: a snapshot, or a version-2 state's ids (a restored id counts for both legs). */
export interface LedgerRestore {
  safe?: Record<string, number>;
  safeLegs?: Record<string, number>;
  since?: Record<string, number>;
  delivered?: Record<string, unknown>;
  deliveredIds?: Record<string, number[]>;
}

/** What a recovery hands back per symbol, applied after its rows were delivered. */
export interface CursorCommit {
  symbol: string;
  /** Highest trade id fetched contiguously from the cursor (REST pages). */
  maxId?: number;
  /** The legs at `maxId` that were fetched (mask); default both: the pages were read to the end. */
  maxIdLegs?: number;
  /** The query covered every fill up to this time (local clock, minus slack). */
  coveredUntil?: number;
  /** Every page was fetched (no error): the symbol becomes live-safe if no gap came since. */
  complete: boolean;
  /** `ledger.epoch` when the recovery started. */
  epoch: number;
  /**
   * A symbol without a cursor queried by time from here: every fill before it was delivered or is
   * not this stream's. Kept as its time cursor even when the query did not finish, so a retry
   * (or a restart) goes on from it however long REST stays down, not from the look-back.
   */
  queriedFrom?: number;
}

export class FillLedger {
  /** Bumped by openGap(). */
  epoch = 1;
  /** A live fill too far above its symbol's cursor was delivered (the cursor stays until a recovery). */
  onSuspicious?: (symbol: string, id: number) => void;
  /**
   * The epoch in which every symbol's last recovery completed (nothing can be missing): only
   * then is a symbol first seen live trusted from its first fill. A fresh ledger starts caught up
   * (nothing before the stream's start is ours); a restored one does not (its start-up gap opens
   * a new epoch).
   */
  private caughtUpEpoch = 1;
  private readonly cursors = new Map<string, SymbolCursor>();
  private rev = 0;

  /** Increases whenever the snapshot would change. */
  get revision(): number {
    return this.rev;
  }

  /**
   * A gap may have begun: no symbol is live-safe until a recovery of the new epoch commits it.
   * `from`: when it began, if that may lie before now; cursors moved by live fills received
   * since then go back (see "A gap reported late").
   */
  openGap(from?: number): void {
    this.epoch++;
    if (from === undefined || !Number.isFinite(from)) return;
    for (const c of this.cursors.values()) {
      const i = c.advances.findIndex((a) => a.at >= from);
      if (i < 0) continue;
      const { prev: back, prevLegs } = c.advances[i];
      c.advances.length = i;
      if (c.safe === undefined || (back !== undefined && back >= c.safe)) continue;
      // every fill delivered live above the cursor it goes back to stays known, exactly
      for (const gen of [c.liveBefore, c.liveNow]) {
        if (!gen) continue;
        for (const leg of [0, 1] as const) gen[leg].copyAbove(c.delivered[leg], back ?? -1);
      }
      for (const k of c.recent) if (back === undefined || idOf(k) >= back) c.delivered[legOfKey(k)].add(idOf(k));
      c.safe = back;
      c.safeLegs = prevLegs;
      this.prune(c);
      this.rev++;
    }
  }

  /** Every recovery of `epoch` completed: nothing is missing (if no gap began since). */
  markCaughtUp(epoch: number): void {
    if (epoch === this.epoch) this.caughtUpEpoch = epoch;
  }

  /** True while no gap began since every recovery completed. */
  get caughtUp(): boolean {
    return this.caughtUpEpoch === this.epoch;
  }

  private cursor(symbol: string, create: boolean): SymbolCursor | undefined {
    let c = this.cursors.get(symbol);
    if (!c && create) {
      c = {
        safeLegs: BOTH_LEGS,
        delivered: [new IdRanges(), new IdRanges()],
        recent: new Set(),
        liveSafeEpoch: -1,
        advances: [],
        liveNow: [new IdRanges(), new IdRanges()],
        liveNowSince: Date.now(),
      };
      this.cursors.set(symbol, c);
    }
    return c;
  }

  /** True when this fill (fetched over REST) reached the flow already: at or below the cursor, or delivered. */
  isDelivered(symbol: string, id: number, leg: Leg): boolean {
    const c = this.cursors.get(symbol);
    return c !== undefined && this.covers(c, id, leg);
  }

  /** isDelivered on a symbol's cursor. */
  private covers(c: SymbolCursor, id: number, leg: Leg): boolean {
    if (c.safe !== undefined && (id < c.safe || (id === c.safe && (c.safeLegs & legBit(leg)) !== 0))) return true;
    return c.delivered[leg].has(id);
  }

  /** True when this LIVE fill reached the flow already: delivered, exactly (see the module doc). */
  isDeliveredLive(symbol: string, id: number, leg: Leg): boolean {
    const c = this.cursors.get(symbol);
    if (!c) return false;
    if (c.confirmed !== undefined && id <= c.confirmed) return true;
    return c.delivered[leg].has(id) || c.recent.has(fillKey(id, leg));
  }

  /**
   * Records a delivered fill. A live fill outside a rotation overlap may move the safe cursor
   * (see the module doc). `trustNew`: the stream is connected, so a symbol first seen now, while
   * the ledger is caught up (no recovery pending), is live-safe from this fill on. `at`: when a
   * live fill was received (a gap reported later that began before it undoes its cursor move).
   */
  delivered(symbol: string, id: number, leg: Leg, live: boolean, overlapping: boolean, trustNew = false, at = Date.now()): void {
    const existed = this.cursors.has(symbol);
    const c = this.cursor(symbol, true)!;
    const key = fillKey(id, leg);
    c.recent.add(key);
    if (c.recent.size > RECENT_PER_SYMBOL) {
      const oldest = c.recent.values().next().value;
      if (oldest !== undefined) c.recent.delete(oldest);
    }
    if (!existed && live && trustNew && this.caughtUp && c.safe === undefined) c.liveSafeEpoch = this.epoch;
    let moved = false;
    if (live && !overlapping && c.liveSafeEpoch === this.epoch) {
      if (c.safe === undefined ? id > MAX_PLAUSIBLE_TRADE_ID : id > c.safe + MAX_LIVE_JUMP) {
        // one frame cannot move the cursor far: kept exactly, confirmed by the next recovery
        c.liveSafeEpoch = -1;
        this.suspicious(symbol, id);
      } else if (c.safe === undefined || id > c.safe) {
        this.noteAdvance(c, at);
        this.setSafe(c, id, legBit(leg));
        this.noteLive(c, id, leg, at);
        moved = true;
      } else if (id === c.safe) {
        c.safeLegs |= legBit(leg);
        this.noteLive(c, id, leg, at);
        moved = true;
      }
    }
    if (!moved && !this.covers(c, id, leg)) c.delivered[leg].add(id);
    this.rev++;
  }

  private suspicious(symbol: string, id: number): void {
    try {
      this.onSuspicious?.(symbol, id);
    } catch {
      // a listener's fault changes nothing here
    }
  }

  /** Remembers a fill that moved the cursor live (two generations: see SymbolCursor.liveNow). */
  private noteLive(c: SymbolCursor, id: number, leg: Leg, at: number): void {
    if (at - c.liveNowSince > LATE_GAP_WINDOW_MS / 2) {
      c.liveBefore = c.liveNow;
      c.liveNow = [new IdRanges(), new IdRanges()];
      c.liveNowSince = at;
    }
    c.liveNow[leg].add(id);
  }

  /** Remembers where the cursor stood before a live move, for a gap reported late. */
  private noteAdvance(c: SymbolCursor, at: number): void {
    const a = c.advances;
    const last = a.at(-1);
    // one entry per instant is enough: a gap that began then goes back to the earliest
    if (!last || last.at < at) a.push({ at, prev: c.safe, prevLegs: c.safeLegs });
    let drop = 0;
    while (drop < a.length && a[drop].at < at - LATE_GAP_WINDOW_MS) drop++;
    if (drop > 0) a.splice(0, drop);
    // beyond the count, the second oldest goes: the oldest keeps where the cursor stood before
    // both, so a late gap goes back at least as far as it must (the fills above are known: liveNow)
    if (a.length > MAX_LIVE_ADVANCES) a.splice(1, a.length - MAX_LIVE_ADVANCES);
  }

  /** Moves the cursor to `id` with the legs `legs` delivered there. */
  private setSafe(c: SymbolCursor, id: number, legs: number): void {
    c.safe = id;
    c.safeLegs = legs;
    this.prune(c);
  }

  /** Drops delivered fills the cursor covers; those at the cursor's id become its legs. */
  private prune(c: SymbolCursor): void {
    if (c.safe === undefined) return;
    for (const leg of [0, 1] as const) {
      const d = c.delivered[leg];
      if (d.size === 0) continue;
      if (d.has(c.safe)) c.safeLegs |= legBit(leg);
      d.deleteUpTo(c.safe);
    }
  }

  /** Applies a recovery's result for one symbol (after its rows were delivered). */
  commit(k: CursorCommit): void {
    const c = this.cursor(k.symbol, true)!;
    const legs = k.maxIdLegs ?? BOTH_LEGS;
    if (k.maxId !== undefined) {
      const top = legs === BOTH_LEGS ? k.maxId : k.maxId - 1;
      if (c.confirmed === undefined || top > c.confirmed) c.confirmed = top;
    }
    if (k.maxId !== undefined && (c.safe === undefined || k.maxId > c.safe)) {
      c.safe = k.maxId;
      c.safeLegs = legs;
    } else if (k.maxId !== undefined && k.maxId === c.safe) {
      c.safeLegs |= legs;
    }
    this.prune(c);
    if (!k.complete && k.queriedFrom !== undefined && c.safe === undefined && c.since === undefined) c.since = k.queriedFrom;
    if (k.complete) {
      if (k.coveredUntil !== undefined && (c.since === undefined || k.coveredUntil > c.since)) c.since = k.coveredUntil;
      if (k.epoch === this.epoch) c.liveSafeEpoch = this.epoch;
    }
    this.rev++;
  }

  /** Where a recovery of `symbol` starts: the id after the safe cursor, or the time cursor. */
  resumeFrom(symbol: string): { fromId?: number; since?: number; firstDelivered?: number } {
    const c = this.cursors.get(symbol);
    if (!c) return {};
    // at the cursor while a leg there may be missing (a self-trade's other leg)
    if (c.safe !== undefined) return { fromId: c.safeLegs === BOTH_LEGS ? c.safe + 1 : c.safe };
    // no cursor, but fills delivered (live while nothing could be trusted): the lowest is an anchor
    const lows = [c.delivered[0].min(), c.delivered[1].min()].filter((x): x is number => x !== undefined);
    const firstDelivered = lows.length ? Math.min(...lows) : undefined;
    return { ...(c.since !== undefined ? { since: c.since } : {}), ...(firstDelivered !== undefined ? { firstDelivered } : {}) };
  }

  /** Highest trade id known delivered (safe cursor or above it). */
  highestDelivered(symbol: string): number | undefined {
    const c = this.cursors.get(symbol);
    if (!c) return undefined;
    let max = c.safe;
    for (const d of c.delivered) {
      const m = d.max();
      if (m !== undefined && (max === undefined || m > max)) max = m;
    }
    return max;
  }

  symbols(): string[] {
    return [...this.cursors.keys()];
  }

  /** Fills recorded above the symbol's cursor, and the ranges they take (diagnostics, tests). */
  deliveredAbove(symbol: string): { fills: number; ranges: number } {
    const c = this.cursors.get(symbol);
    if (!c) return { fills: 0, ranges: 0 };
    return { fills: c.delivered[0].size + c.delivered[1].size, ranges: c.delivered[0].rangeCount + c.delivered[1].rangeCount };
  }

  snapshot(): LedgerSnapshot {
    const out: LedgerSnapshot = { safe: {}, safeLegs: {}, since: {}, delivered: {} };
    for (const [s, c] of this.cursors) {
      if (c.safe !== undefined) {
        out.safe[s] = c.safe;
        if (c.safeLegs !== BOTH_LEGS) out.safeLegs[s] = c.safeLegs;
      } else if (c.since !== undefined) out.since[s] = c.since;
      if (c.delivered[0].size + c.delivered[1].size > 0) out.delivered[s] = [c.delivered[0].toPersisted(), c.delivered[1].toPersisted()];
    }
    return out;
  }

  /**
   * Merges a persisted state: cursors only move forward. A symbol whose cursor this moves is no
   * longer live-safe (what lies between is unknown until a recovery).
   */
  restore(s: LedgerRestore): void {
    for (const [symbol, id] of Object.entries(s.safe ?? {})) {
      if (!Number.isSafeInteger(id) || id < 0) continue;
      const c = this.cursor(symbol, true)!;
      const legs = s.safeLegs?.[symbol];
      const restoredLegs = legs === 1 || legs === 2 ? legs : BOTH_LEGS;
      if (c.safe === undefined || id > c.safe) {
        this.setSafe(c, id, restoredLegs);
        c.liveSafeEpoch = -1;
      } else if (id === c.safe) {
        c.safeLegs |= restoredLegs;
      }
    }
    for (const [symbol, t] of Object.entries(s.since ?? {})) {
      if (!Number.isFinite(t)) continue;
      const c = this.cursor(symbol, true)!;
      if (c.since === undefined || t > c.since) {
        c.since = t;
        if (c.safe === undefined) c.liveSafeEpoch = -1;
      }
    }
    for (const [symbol, legs] of Object.entries(s.delivered ?? {})) {
      if (!Array.isArray(legs) || legs.length !== 2) continue;
      const c = this.cursor(symbol, true)!;
      c.delivered[0].addPersisted(legs[0]);
      c.delivered[1].addPersisted(legs[1]);
      this.prune(c);
    }
    for (const [symbol, ids] of Object.entries(s.deliveredIds ?? {})) {
      if (!Array.isArray(ids)) continue;
      const c = this.cursor(symbol, true)!;
      for (const id of ids) {
        if (!Number.isSafeInteger(id) || !isFillId(id) || (c.safe !== undefined && id <= c.safe)) continue;
        // version 2 kept ids: both legs there count as delivered
        c.delivered[0].add(id);
        c.delivered[1].add(id);
      }
    }
    this.rev++;
  }
}
