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
 * of the keys in insertion order, slot i holding the key to forget when it is reused (a
 * Map/Set evicted via `keys().next()` walks the deleted entries V8 keeps at its front).
 */
import type { UserDataEvent } from './types';

export interface EventDeduperOptions {
  /** Maximum remembered keys (default 100 000). */
  maxEntries?: number;
}

export const DEFAULT_DEDUPE_MAX_ENTRIES = 100_000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** String form of an id-like field; undefined when missing / null / empty. */
function idPart(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string' && v !== '') return v;
  return undefined;
}

/** JSON with object keys sorted recursively (stable across key order). */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint') return JSON.stringify(value.toString());
    if (typeof value === 'function' || typeof value === 'symbol') return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const o = value as Obj;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(',')}}`;
}

/** The order-shaped object of an order event: `raw` (spot/margin) or `raw.o` (futures). */
function orderPart(e: UserDataEvent): Obj | undefined {
  if (e.eventType === 'executionReport') return e.raw;
  if (e.eventType === 'ORDER_TRADE_UPDATE') return isObj(e.raw.o) ? e.raw.o : undefined;
  return undefined;
}

/**
 * The de-duplication key of an event, or undefined when the event has no stable
 * identity (then it is always accepted).
 */
export function dedupeKey(e: UserDataEvent): string | undefined {
  const m = e.market;
  const order = orderPart(e);
  if (order) {
    const symbol = idPart(order.s) ?? '';
    const orderId = idPart(order.i) ?? '';
    const tradeId = idPart(order.t);
    if (order.x === 'TRADE' && tradeId !== undefined && tradeId !== '-1') {
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
    return `order-raw\u0000${m}\u0000${stableStringify(e.raw)}`;
  }
  if (e.eventType === 'TRADE_LITE') {
    const tradeId = idPart(e.raw.t);
    if (tradeId !== undefined) {
      return `lite\u0000${m}\u0000${idPart(e.raw.s) ?? ''}\u0000${idPart(e.raw.i) ?? ''}\u0000${tradeId}`;
    }
  }
  const eventTime = idPart(e.raw.E);
  if (eventTime === undefined) return undefined;
  return `other\u0000${m}\u0000${e.eventType}\u0000${eventTime}\u0000${stableStringify(e.raw)}`;
}

/** Bounded set of recently seen event keys. */
export class EventDeduper {
  private readonly maxEntries: number;
  private readonly seen = new Set<string>();
  /** Keys in insertion order; once full, `ring[next]` is the oldest and is overwritten next. */
  private ring: string[] = [];
  private next = 0;
  private duplicates = 0;

  constructor(opts: EventDeduperOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_DEDUPE_MAX_ENTRIES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = max;
  }

  /** True for the first delivery of an event; false for a duplicate. */
  accept(e: UserDataEvent): boolean {
    const key = dedupeKey(e);
    if (key === undefined) return true;
    if (this.seen.has(key)) {
      this.duplicates++;
      return false;
    }
    if (this.ring.length < this.maxEntries) {
      this.ring.push(key);
    } else {
      this.seen.delete(this.ring[this.next]);
      this.ring[this.next] = key;
      this.next = this.next + 1 === this.maxEntries ? 0 : this.next + 1;
    }
    this.seen.add(key);
    return true;
  }

  /** True when the event's key is currently remembered (does not record it). */
  has(e: UserDataEvent): boolean {
    const key = dedupeKey(e);
    return key !== undefined && this.seen.has(key);
  }

  /** Number of remembered keys. */
  get size(): number {
    return this.seen.size;
  }

  /** Number of duplicates rejected so far. */
  get duplicateCount(): number {
    return this.duplicates;
  }

  clear(): void {
    this.seen.clear();
    this.ring = [];
    this.next = 0;
  }
}
