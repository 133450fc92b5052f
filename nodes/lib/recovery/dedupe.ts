/**
 * De-duplication of user-data events across live, overlapping (make-before-break
 * rotation) and recovered (REST) deliveries. Framework-agnostic, no Node-RED import.
 *
 * Keys (see `dedupeKey`):
 *  - fills (`executionReport` / `ORDER_TRADE_UPDATE` with x = TRADE):
 *      (market, symbol, orderId, tradeId). A fill rebuilt from REST (`recovered`)
 *      carries the same s / i / t, so live and recovered copies collide whichever
 *      arrives first.
 *  - `TRADE_LITE` (futures fast fill): its own family, same identity fields, so a
 *    TRADE_LITE never suppresses the full ORDER_TRADE_UPDATE of the same trade.
 *  - other order events: (market, orderId, status, execType, eventTime).
 *    A recovered order-state event has no event time; its key uses the REST
 *    `updateTime` instead (own family, so it never collides with a live event).
 *  - anything else: (market, eventType, E, stable JSON of the event). An event without
 *    `E` that is not a fill (e.g. a recovered balance snapshot) has no stable identity
 *    and is always accepted.
 *
 * Memory is bounded: at most `maxEntries` keys are remembered; the oldest remembered key
 * is forgotten first (FIFO by first sighting: a duplicate does not refresh its key, so a
 * key is forgotten `maxEntries` new keys after it was first seen). Eviction is O(1): a ring
 * of the keys in insertion order, slot i holding the key to forget when it is reused.
 *
 * Storage (the hot path: one look-up per event, 100 000 remembered keys): the keys of fills,
 * TRADE_LITE and timed order events are exact numeric triples (family + market + interned
 * symbol / status / execution type, orderId, tradeId or event time) kept in typed arrays
 * with an open-addressing index, so remembering them creates no heap object for the garbage
 * collector to trace or promote (string keys cost about 450 bytes each in V8 and made the
 * scavenges promote them). They are used only when every part is a canonical integer
 * (a number, or a decimal string without sign or leading zero) or an interned name, so a
 * numeric triple matches exactly when the string key (`dedupeKey`) matches. Every other key
 * is kept in a Set as its compact form (events/bounded.ts: the key when short, else the first
 * 128 bits of its SHA-256), so a 100 KB event costs as little as a small one. Both kinds share
 * the one FIFO ring.
 *
 * Bounded in bytes (issue 24): the numeric keys live in typed arrays sized by `maxEntries`
 * (about 45 bytes per entry and 8 per index slot); the string keys are counted in estimated
 * bytes (`keyBytes`) and held within `maxKeyBytes`: beyond it the oldest string keys are
 * forgotten early (a later copy of such an event could then be delivered twice, never lost),
 * which is logged once and then at most every 10 minutes with a count. Fills never depend on
 * this window: the fill ledger (ledger.ts) de-duplicates them by their exact ids.
 */
import type { Logger, Market, UserDataEvent } from '../types';
import { isObj } from '../util';
import { compactKey, keyBytes, RateLimitedNotice } from '../events/bounded';

export interface EventDeduperOptions {
  /** Maximum remembered keys (default 100 000). */
  maxEntries?: number;
  /** Estimated bytes the string keys may hold (default 8 MiB). */
  maxKeyBytes?: number;
  /** Where forgetting early (over `maxKeyBytes`) is reported. */
  logger?: Logger;
}

export const DEFAULT_DEDUPE_MAX_ENTRIES = 100_000;
export const DEFAULT_DEDUPE_MAX_KEY_BYTES = 8 * 1024 * 1024;

type Obj = Record<string, unknown>;

/** String form of an id-like field; undefined when missing / null / empty. */
function idPart(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

/** Nesting beyond which an event has no content key (it is then always accepted): I5. */
export const MAX_KEY_DEPTH = 32;

/** Thrown by stableStringify for content nested deeper than MAX_KEY_DEPTH. */
class TooDeep extends Error {}

/** JSON with object keys sorted recursively (stable across key order); throws beyond MAX_KEY_DEPTH. */
export function stableStringify(value: unknown, depth = 0): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    if (typeof value === 'function' || typeof value === 'symbol') return 'null';
    return JSON.stringify(value);
  }
  if (depth >= MAX_KEY_DEPTH) throw new TooDeep('event nested too deeply for a content key');
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v, depth + 1)).join(',')}]`;
  const o = value as Obj;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(o[k], depth + 1)}`).join(',')}}`;
}

/** The content key of an event, or undefined when it is nested too deeply to have one. */
function contentKey(value: unknown): string | undefined {
  try {
    return stableStringify(value);
  } catch (err) {
    if (err instanceof TooDeep) return undefined;
    throw err;
  }
}

/** The order-shaped object of an order event: `raw` (spot/margin) or `raw.o` (futures). */
function orderPart(e: UserDataEvent): Obj | undefined {
  if (e.eventType === 'executionReport') return e.raw;
  if (e.eventType === 'ORDER_TRADE_UPDATE') return isObj(e.raw.o) ? e.raw.o : undefined;
  return undefined;
}

/** The trade id of a fill (execution type TRADE with a trade id other than -1), else undefined. */
function fillTradeId(order: Obj): string | undefined {
  if (order.x !== 'TRADE') return undefined;
  const tradeId = idPart(order.t);
  return tradeId === '-1' ? undefined : tradeId;
}

/**
 * The de-duplication key of an event, or undefined when the event has no stable
 * identity (then it is always accepted).
 */
export function dedupeKey(e: UserDataEvent): string | undefined {
  const m = e.market === 'portfolio-margin' ? `portfolio-margin/${pmBook(e)}` : e.market;
  const order = orderPart(e);
  if (order) {
    const symbol = idPart(order.s) ?? '';
    const orderId = idPart(order.i) ?? '';
    const tradeId = fillTradeId(order);
    if (tradeId !== undefined) {
      return `fill\u0000${m}\u0000${symbol}\u0000${orderId}\u0000${tradeId}`;
    }
    const status = idPart(order.X) ?? '';
    const execType = idPart(order.x) ?? '';
    const eventTime = idPart(e.raw.E);
    if (eventTime !== undefined) {
      return `order\u0000${m}\u0000${symbol}\u0000${orderId}\u0000${status}\u0000${execType}\u0000${eventTime}`;
    }
    if (e.recovered) {
      const rec = e.restRecord ?? {};
      const updated = idPart(rec.updateTime) ?? idPart(rec.time) ?? '';
      const z = idPart(order.z) ?? '';
      return `rstate\u0000${m}\u0000${symbol}\u0000${orderId}\u0000${status}\u0000${z}\u0000${updated}`;
    }
    // Neither fill nor timed event: identify by content.
    const content = contentKey(e.raw);
    return content === undefined ? undefined : `order-raw\u0000${m}\u0000${content}`;
  }
  if (e.eventType === 'TRADE_LITE') {
    const tradeId = idPart(e.raw.t);
    if (tradeId !== undefined) {
      return `lite\u0000${m}\u0000${idPart(e.raw.s) ?? ''}\u0000${idPart(e.raw.i) ?? ''}\u0000${tradeId}`;
    }
  }
  const eventTime = idPart(e.raw.E);
  if (eventTime === undefined) return undefined;
  const content = contentKey(e.raw);
  return content === undefined ? undefined : `other\u0000${m}\u0000${e.eventType}\u0000${eventTime}\u0000${content}`;
}

const MARKET_CODES: Record<Market, number> = {
  spot: 1,
  margin: 2,
  'isolated-margin': 3,
  'usdm-futures': 4,
  'coinm-futures': 5,
  // portfolio margin: one code per book (pmBook), so UM, CM and margin ids never collide
  'portfolio-margin': 6,
};
// 3 bits (see numericKey): 1–5 are the other markets, so the books take 6, 7 and 0.
const PM_BOOK_CODES: Record<string, number> = { MARGIN: 6, UM: 7, CM: 0 };

/**
 * The book of a portfolio-margin event: margin orders are executionReport, futures orders carry
 * `fs` ('UM' / 'CM'; Portfolio Margin user-data page, connector types OrderTradeUpdate.fs).
 */
export function pmBook(e: UserDataEvent): 'MARGIN' | 'UM' | 'CM' {
  if (e.eventType === 'executionReport' || e.eventType === 'outboundAccountPosition' || e.eventType === 'balanceUpdate') return 'MARGIN';
  return e.raw.fs === 'CM' ? 'CM' : 'UM';
}
const FAMILY_FILL = 1;
const FAMILY_ORDER = 2;
const FAMILY_LITE = 3;
/** Interned symbols per deduper (beyond: string keys; far above any exchange's symbol count). */
const MAX_SYMBOLS = 1 << 14;
/** Interned order statuses / execution types per deduper (beyond: string keys). */
const MAX_NAMES = 63;
/** Longest name interned (symbols, statuses; beyond: string keys): the tables stay within ~3 MB. */
const MAX_INTERNED_CHARS = 32;
const INITIAL_CAPACITY = 256;
const TWO_POW_32 = 4294967296;
const CANONICAL_INT = /^(?:0|[1-9]\d{0,15})$/;

/**
 * The integer an id-like part stands for, when it is a safe non-negative integer given as a
 * number or as its canonical decimal string (no sign, no leading zero): then two parts give
 * the same integer exactly when `idPart` gives them the same string. -1 otherwise (the event
 * then uses its string key).
 */
function canonicalInt(v: unknown): number {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  if (typeof v === 'string' && CANONICAL_INT.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : -1;
  }
  return -1;
}

/** The small integer standing for a non-empty name in `table` (added when new); -1 when the table is full. */
function intern(table: Map<string, number>, v: unknown, max: number): number {
  if (typeof v !== 'string' || v === '' || v.length > MAX_INTERNED_CHARS) return -1;
  let id = table.get(v);
  if (id === undefined) {
    if (table.size >= max) return -1;
    id = table.size;
    table.set(v, id);
  }
  return id;
}

function mix(h: number, x: number): number {
  h = Math.imul(h ^ (x >>> 0), 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ ((x / TWO_POW_32) >>> 0), 0x1b873593);
  return (h << 13) | (h >>> 19);
}

function hashTriple(a: number, b: number, c: number): number {
  let h = mix(mix(mix(0x9747b28c, a), b), c);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

function tableSizeFor(capacity: number): number {
  let size = 16;
  while (size < capacity * 2) size *= 2;
  return size;
}

/** Bounded set of recently seen event keys. */
export class EventDeduper {
  private readonly maxEntries: number;
  private duplicates = 0;

  // The FIFO ring: `count` slots used; once `count === maxEntries`, `next` is the oldest.
  private capacity = 0;
  private count = 0;
  private next = 0;
  /** Numeric keys per slot (unused for string slots). */
  private k0 = new Float64Array(0);
  private k1 = new Float64Array(0);
  private k2 = new Float64Array(0);
  private hashes = new Int32Array(0);
  /** Open-addressing index of the numeric slots: slot + 1, 0 = empty (linear probing). */
  private table = new Int32Array(0);
  private mask = 0;
  /** String keys (compact): key → nothing (look-up) and slot → key (eviction). */
  private readonly strSeen = new Set<string>();
  private strBySlot: Array<string | undefined> = [];
  /** 1 for a slot holding an indexed numeric key (0: a string key, or forgotten early, or unused). */
  private numeric = new Uint8Array(0);
  /** Estimated bytes of the string keys (keyBytes). */
  private strBytes = 0;
  private readonly maxKeyBytes: number;
  /** The string slots in the order of their keys (with the key's stamp): the oldest forgotten first. */
  private strQueueSlots: number[] = [];
  private strQueueStamps: number[] = [];
  private strQueueHead = 0;
  private strStamp = new Float64Array(0);
  private nextStamp = 1;
  private readonly overBudget: RateLimitedNotice;
  private readonly symbols = new Map<string, number>();
  private readonly names = new Map<string, number>();
  // The numeric key of the event being looked at (set by numericKey()).
  private a = 0;
  private b = 0;
  private c = 0;

  constructor(opts: EventDeduperOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = max;
    const maxBytes = opts.maxKeyBytes ?? DEFAULT_DEDUPE_MAX_KEY_BYTES;
    if (!(maxBytes > 0)) throw new RangeError('maxKeyBytes must be positive');
    this.maxKeyBytes = maxBytes;
    const mib = Math.round((maxBytes / 1048576) * 10) / 10;
    this.overBudget = new RateLimitedNotice(
      opts.logger,
      (since, total) =>
        `de-duplication: ${since} key(s) of non-fill events forgotten early to keep the window within ${mib} MiB (${total} since start); a repeat of one of them would be delivered again. Fills are not affected.`,
    );
    this.resize(Math.min(max, INITIAL_CAPACITY));
  }

  /** True for the first delivery of an event; false for a duplicate. */
  accept(e: UserDataEvent): boolean {
    if (this.numericKey(e)) {
      const h = hashTriple(this.a, this.b, this.c);
      if (this.findNumeric(h) >= 0) {
        this.duplicates++;
        return false;
      }
      const slot = this.claimSlot();
      this.k0[slot] = this.a;
      this.k1[slot] = this.b;
      this.k2[slot] = this.c;
      this.hashes[slot] = h;
      this.numeric[slot] = 1;
      this.insertIndex(slot, h);
      return true;
    }
    const full = dedupeKey(e);
    if (full === undefined) return true;
    const key = compactKey(full);
    if (this.strSeen.has(key)) {
      this.duplicates++;
      return false;
    }
    const slot = this.claimSlot();
    this.strSeen.add(key);
    this.strBySlot[slot] = key;
    this.strBytes += keyBytes(key);
    const stamp = this.nextStamp++;
    this.strStamp[slot] = stamp;
    this.strQueueSlots.push(slot);
    this.strQueueStamps.push(stamp);
    if (this.strBytes > this.maxKeyBytes) this.forgetEarly(slot);
    if (this.strQueueSlots.length > 2 * this.strSeen.size + 1_024) this.compactStrQueue();
    return true;
  }

  /** Forgets the oldest string keys (not `keep`, the one just added) until within maxKeyBytes. */
  private forgetEarly(keep: number): void {
    let n = 0;
    while (this.strBytes > this.maxKeyBytes && this.strQueueHead < this.strQueueSlots.length) {
      const i = this.strQueueHead++;
      const slot = this.strQueueSlots[i];
      if (slot === keep || this.strStamp[slot] !== this.strQueueStamps[i]) continue;
      if (this.dropString(slot)) n++;
    }
    if (n > 0) this.overBudget.note(n);
  }

  /** Removes the string key of a slot, if it holds one; the slot stays in the ring, empty. */
  private dropString(slot: number): boolean {
    const str = this.strBySlot[slot];
    if (str === undefined) return false;
    this.strBySlot[slot] = undefined;
    this.strStamp[slot] = 0;
    this.strSeen.delete(str);
    this.strBytes -= keyBytes(str);
    return true;
  }

  private compactStrQueue(): void {
    const slots: number[] = [];
    const stamps: number[] = [];
    for (let i = this.strQueueHead; i < this.strQueueSlots.length; i++) {
      const slot = this.strQueueSlots[i];
      if (this.strBySlot[slot] !== undefined && this.strStamp[slot] === this.strQueueStamps[i]) {
        slots.push(slot);
        stamps.push(this.strQueueStamps[i]);
      }
    }
    this.strQueueSlots = slots;
    this.strQueueStamps = stamps;
    this.strQueueHead = 0;
  }

  /** True when the event's key is currently remembered (does not record it). */
  has(e: UserDataEvent): boolean {
    if (this.numericKey(e)) return this.findNumeric(hashTriple(this.a, this.b, this.c)) >= 0;
    const key = dedupeKey(e);
    return key !== undefined && this.strSeen.has(compactKey(key));
  }

  /** Number of remembered keys. */
  get size(): number {
    return this.count;
  }

  /**
   * Bytes this window retains: its typed arrays and slot tables (fixed by `maxEntries`) and the
   * estimated bytes of its string keys (at most `maxKeyBytes` plus one key).
   */
  get retainedBytes(): number {
    const perSlot = 3 * 8 + 4 + 1 + 8 + 8; // k0..k2, hash, numeric flag, stamp, string slot
    return this.capacity * perSlot + this.table.length * 4 + (this.strQueueSlots.length - this.strQueueHead) * 16 + this.strBytes;
  }

  /** Estimated bytes of the string keys alone. */
  get keyBytes(): number {
    return this.strBytes;
  }

  /** String keys forgotten early to stay within maxKeyBytes, since start. */
  get forgottenEarly(): number {
    return this.overBudget.count;
  }

  /** Number of duplicates rejected so far. */
  get duplicateCount(): number {
    return this.duplicates;
  }

  clear(): void {
    this.strSeen.clear();
    this.strBySlot = [];
    this.strBytes = 0;
    this.strQueueSlots = [];
    this.strQueueStamps = [];
    this.strQueueHead = 0;
    this.count = 0;
    this.next = 0;
    this.resize(Math.min(this.maxEntries, INITIAL_CAPACITY));
  }

  // ------------------------------------------------------------------ keys

  /**
   * Sets a/b/c to the event's numeric key and returns true, or returns false when the
   * event is keyed by its string (see the header): families as in `dedupeKey`.
   */
  private numericKey(e: UserDataEvent): boolean {
    const market = e.market === 'portfolio-margin' ? PM_BOOK_CODES[pmBook(e)] : MARKET_CODES[e.market];
    if (market === undefined) return false;
    const order = orderPart(e);
    let family: number;
    let source: Obj;
    let third: unknown;
    let names = 0;
    if (order) {
      source = order;
      if (fillTradeId(order) !== undefined) {
        family = FAMILY_FILL;
        third = order.t;
      } else {
        family = FAMILY_ORDER;
        third = e.raw.E;
        if (third === undefined || third === null) return false; // rstate / order-raw
        const status = intern(this.names, order.X, MAX_NAMES);
        const execType = intern(this.names, order.x, MAX_NAMES);
        if (status < 0 || execType < 0) return false;
        names = status * 64 + execType;
      }
    } else if (e.eventType === 'TRADE_LITE') {
      source = e.raw;
      family = FAMILY_LITE;
      third = e.raw.t;
    } else {
      return false;
    }
    const orderId = canonicalInt(source.i);
    const last = canonicalInt(third);
    if (orderId < 0 || last < 0) return false;
    const symbol = intern(this.symbols, source.s, MAX_SYMBOLS);
    if (symbol < 0) return false;
    // family (2 bits) + market (3) + names (12) + symbol (24): 41 bits, exact in a double.
    this.a = ((symbol * 4096 + names) * 8 + market) * 4 + family;
    this.b = orderId;
    this.c = last;
    return true;
  }

  // ------------------------------------------------------------------ ring and index

  /** The slot for a new key: the next free one, or the oldest (forgotten first). */
  private claimSlot(): number {
    if (this.count < this.capacity) return this.count++;
    if (this.capacity < this.maxEntries) {
      this.resize(Math.min(this.maxEntries, this.capacity * 2));
      return this.count++;
    }
    const slot = this.next;
    this.next = slot + 1 === this.maxEntries ? 0 : slot + 1;
    if (this.strBySlot[slot] !== undefined) this.dropString(slot);
    else if (this.numeric[slot] === 1) {
      this.removeIndex(slot);
      this.numeric[slot] = 0;
    }
    return slot;
  }

  private findNumeric(h: number): number {
    const { table, mask, k0, k1, k2, hashes } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const entry = table[i];
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (hashes[slot] === h && k0[slot] === this.a && k1[slot] === this.b && k2[slot] === this.c) return slot;
    }
  }

  private insertIndex(slot: number, h: number): void {
    const { table, mask } = this;
    let i = h & mask;
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = slot + 1;
  }

  /** Removes a numeric slot from the index (backward-shift deletion keeps probes intact). */
  private removeIndex(slot: number): void {
    const { table, mask, hashes } = this;
    let i = hashes[slot] & mask;
    while (table[i] !== slot + 1) {
      if (table[i] === 0) return; // not indexed (cannot happen)
      i = (i + 1) & mask;
    }
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = hashes[table[j] - 1] & mask;
      // Move entry j into the hole at i unless its home lies cyclically in (i, j].
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        table[i] = table[j];
        i = j;
      }
    }
    table[i] = 0;
  }

  /** Grows (or resets) the ring to `capacity` slots, keeping the slots in use, and rebuilds the index. */
  private resize(capacity: number): void {
    const grow = (old: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const next = new Float64Array(capacity);
      next.set(old.subarray(0, Math.min(this.count, capacity)));
      return next;
    };
    this.k0 = grow(this.k0);
    this.k1 = grow(this.k1);
    this.k2 = grow(this.k2);
    this.strStamp = grow(this.strStamp);
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes.subarray(0, Math.min(this.count, capacity)));
    this.hashes = hashes;
    const numeric = new Uint8Array(capacity);
    numeric.set(this.numeric.subarray(0, Math.min(this.count, capacity)));
    this.numeric = numeric;
    while (this.strBySlot.length < capacity) this.strBySlot.push(undefined);
    this.capacity = capacity;
    const size = tableSizeFor(capacity);
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let slot = 0; slot < this.count; slot++) {
      if (this.numeric[slot] === 1) this.insertIndex(slot, this.hashes[slot]);
    }
  }
}
