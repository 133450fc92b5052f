/**
 * Persistence of the recovery cursor across Node-RED restarts.
 *
 * What is kept (small, JSON-safe): per symbol the safe trade cursor (every fill up to it was
 * delivered), the time cursor of symbols without one, the fills delivered above the cursor, the
 * last event time, the symbols seen, and the last delivered state of open orders (so a restart
 * does not emit unchanged order states again). See recovery/ledger.ts. An adapter brings its own
 * `StateStore` (Node-RED: nodes/red/context-store.ts, over the node's context).
 * No Node-RED import here.
 */
import type { Logger } from '../types';
import { errText, isObj } from '../util';
import type { PersistedRanges } from './id-ranges';

/**
 * Whose state it is: the stream it was written for. A state of another owner is never applied
 * (an account node switched from spot to USDⓈ-M, to the testnet or to another key keeps its
 * context: the old cursors would skip the new stream's fills). `key` is a fingerprint of the API
 * key (a hash prefix), never the key.
 */
export interface StateOwner {
  market: string;
  environment: string;
  /** The REST host recovery reads (custom URLs, the COIN-M family's host). */
  host: string;
  /** Isolated-margin symbol. */
  symbol?: string;
  key: string;
}

/** [symbol, orderId, status, executedQty, 1 = algo order]. */
export type PersistedOrder = [string, number, string, string | null, 0 | 1];

export interface PersistedRecoveryState {
  /**
   * 3: with its owner, legs at the cursor and exact ranges of delivered ids; 2 (delivered ids,
   * at most 2 000 per symbol) and 1 (highest trade id per symbol) are still read.
   */
  version: 1 | 2 | 3;
  /** Whose state it is (version 3). */
  owner?: StateOwner;
  /** symbol → safe trade cursor: every fill with an id below it was delivered, and at it the legs of `safeLegs`. */
  lastTradeIds: Record<string, number>;
  /** symbol → the legs delivered at its cursor (1 buyer, 2 seller) where not both (version 3). */
  safeLegs?: Record<string, number>;
  /** symbol → every fill before this time (epoch ms) was delivered (symbols without an id cursor). */
  since?: Record<string, number>;
  /** Version 2: symbol → trade ids delivered above its cursor (a restored id counts for both legs). */
  delivered?: Record<string, number[]>;
  /** Version 3: symbol → [buyer leg, seller leg] ids delivered above its cursor, as ranges (id-ranges.ts). */
  deliveredRanges?: Record<string, [PersistedRanges, PersistedRanges]>;
  /** Last delivered state of tracked open orders. */
  orders?: PersistedOrder[];
  /** Highest exchange event time (`E`, epoch ms) delivered. */
  lastEventTime?: number;
  /**
   * Where this line of streams began (exchange clock, epoch ms; version 3): no fill before it is
   * this stream's (a first start takes nothing from before it began, also after a restart).
   */
  origin?: number;
  /** Symbols seen in fills / order events (recovered at start-up too). */
  symbols: string[];
}

export interface StateStore {
  get(): Promise<PersistedRecoveryState | undefined>;
  set(s: PersistedRecoveryState): Promise<void>;
  /** Removes the saved state (a stream with recovery off: what it holds grows stale). */
  clear?(): Promise<void>;
}

/**
 * Validates an untrusted stored value. Returns undefined for anything that is not a
 * version-1 state (a corrupt or foreign value is ignored, not thrown on).
 */
export function parsePersistedState(value: unknown): PersistedRecoveryState | undefined {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o.version !== 1 && o.version !== 2 && o.version !== 3) return undefined;
  const lastTradeIds: Record<string, number> = {};
  if (typeof o.lastTradeIds === 'object' && o.lastTradeIds !== null && !Array.isArray(o.lastTradeIds)) {
    for (const [k, id] of Object.entries(o.lastTradeIds as Record<string, unknown>)) {
      if (k && typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) lastTradeIds[k] = id;
    }
  }
  const symbols = Array.isArray(o.symbols) ? o.symbols.filter((s): s is string => typeof s === 'string' && s !== '') : [];
  const state: PersistedRecoveryState = { version: o.version, lastTradeIds, symbols: [...new Set(symbols)] };
  const since = numberRecord(o.since, (n) => Number.isFinite(n) && n > 0);
  if (since) state.since = since;
  const owner = ownerOf(o.owner);
  if (owner) state.owner = owner;
  const safeLegs = numberRecord(o.safeLegs, (n) => n === 1 || n === 2);
  if (safeLegs) state.safeLegs = safeLegs;
  if (isObj(o.deliveredRanges)) {
    const ranges: Record<string, [PersistedRanges, PersistedRanges]> = {};
    for (const [k, legs] of Object.entries(o.deliveredRanges)) {
      if (k && Array.isArray(legs) && legs.length === 2 && Array.isArray(legs[0]) && Array.isArray(legs[1])) {
        ranges[k] = [legs[0] as PersistedRanges, legs[1] as PersistedRanges];
      }
    }
    if (Object.keys(ranges).length) state.deliveredRanges = ranges;
  }
  if (isObj(o.delivered)) {
    const delivered: Record<string, number[]> = {};
    for (const [k, ids] of Object.entries(o.delivered)) {
      if (!k || !Array.isArray(ids)) continue;
      const ok = ids.filter((id): id is number => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0);
      if (ok.length) delivered[k] = ok;
    }
    if (Object.keys(delivered).length) state.delivered = delivered;
  }
  if (Array.isArray(o.orders)) {
    const orders = o.orders.filter(
      (x): x is PersistedOrder =>
        Array.isArray(x) &&
        x.length === 5 &&
        typeof x[0] === 'string' &&
        x[0] !== '' &&
        typeof x[1] === 'number' &&
        Number.isSafeInteger(x[1]) &&
        typeof x[2] === 'string' &&
        (typeof x[3] === 'string' || x[3] === null) &&
        (x[4] === 0 || x[4] === 1),
    );
    if (orders.length) state.orders = orders;
  }
  if (typeof o.origin === 'number' && Number.isFinite(o.origin) && o.origin > 0) state.origin = o.origin;
  if (typeof o.lastEventTime === 'number' && Number.isFinite(o.lastEventTime) && o.lastEventTime > 0) {
    state.lastEventTime = o.lastEventTime;
  }
  return state;
}

function ownerOf(v: unknown): StateOwner | undefined {
  if (!isObj(v)) return undefined;
  const { market, environment, host, symbol, key } = v;
  if (typeof market !== 'string' || typeof environment !== 'string' || typeof host !== 'string' || typeof key !== 'string') return undefined;
  return { market, environment, host, key, ...(typeof symbol === 'string' && symbol ? { symbol } : {}) };
}

/** True when two owners name the same stream. */
export function sameOwner(a: StateOwner, b: StateOwner): boolean {
  return a.market === b.market && a.environment === b.environment && a.host === b.host && (a.symbol ?? '') === (b.symbol ?? '') && a.key === b.key;
}

/** The owner in words for the log (the key as its fingerprint). */
export function describeOwner(o: StateOwner): string {
  return `${o.market}${o.symbol ? ` ${o.symbol}` : ''}, ${o.environment} (${o.host}), key ${o.key}`;
}

function numberRecord(v: unknown, ok: (n: number) => boolean): Record<string, number> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(v)) if (k && typeof n === 'number' && ok(n)) out[k] = n;
  return Object.keys(out).length ? out : undefined;
}

/** In-memory StateStore (tests; also a fallback when no context is available). */
export class MemoryStateStore implements StateStore {
  private value?: string;
  sets = 0;

  constructor(initial?: PersistedRecoveryState) {
    if (initial) this.value = JSON.stringify(initial);
  }

  async get(): Promise<PersistedRecoveryState | undefined> {
    return this.value === undefined ? undefined : parsePersistedState(JSON.parse(this.value));
  }

  async set(s: PersistedRecoveryState): Promise<void> {
    this.sets++;
    // Copy through JSON, as a persistent store would.
    this.value = JSON.stringify(s);
  }
}

/**
 * Longest a read or write of the state store may take (a store that never answers is a failed
 * store, not a slow one). Context stores answer in milliseconds; a database behind one in less
 * than a second.
 */
export const STORE_DEADLINE_MS = 10_000;

/** Rejects when `p` has not settled within `ms`. */
export function storeDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const h = setTimeout(() => reject(new Error(`${what}: the context store did not answer within ${Math.round(ms / 1000)} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(h);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(h);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Reads a store within the deadline; rejects on an error or no answer. */
export function readState(store: StateStore, deadlineMs = STORE_DEADLINE_MS): Promise<PersistedRecoveryState | undefined> {
  let p: Promise<PersistedRecoveryState | undefined>;
  try {
    p = store.get();
  } catch (err) {
    p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return storeDeadline(p, deadlineMs, 'reading the recovery state');
}

/** What StatePersister needs from GapRecovery. */
export interface Snapshotting {
  snapshot(): PersistedRecoveryState;
  /** Increases whenever the snapshot changes. */
  readonly revision: number;
}

export interface StatePersisterOptions {
  source: Snapshotting;
  store: StateStore;
  /** Write at most this often while the state changes. Default 5000 ms. */
  intervalMs?: number;
  /** Longest one write may take. Default STORE_DEADLINE_MS. */
  deadlineMs?: number;
  /**
   * Write nothing until `allow()` (the state this store holds was not read yet: writing now would
   * overwrite the saved cursors with a state that does not know them).
   */
  blocked?: boolean;
  logger?: Logger;
  /** The last write failed (true) or a write succeeded again after failures (false). */
  onFailing?: (failing: boolean) => void;
}

/**
 * Writes the recovery state to a StateStore at most every `intervalMs` while it changes, at once
 * after `soon()` (fills were delivered: the crash window is one write), and once more on
 * `stop()`. One write at a time; writes asked for meanwhile become one. Every write has a
 * deadline. Store errors are logged, never thrown.
 */
export class StatePersister {
  private timer?: ReturnType<typeof setInterval>;
  private savedRevision = -1;
  private writing: Promise<void> = Promise.resolve();
  private queued = false;
  private soonAsked = false;
  private readonly intervalMs: number;
  private readonly deadlineMs: number;
  private blocked: boolean;
  private failures = 0;

  constructor(private readonly opts: StatePersisterOptions) {
    this.intervalMs = opts.intervalMs ?? 5000;
    this.deadlineMs = opts.deadlineMs ?? STORE_DEADLINE_MS;
    this.blocked = opts.blocked === true;
  }

  /** True while the last write failed (a restart would start from an older state). */
  get failing(): boolean {
    return this.failures > 0;
  }

  /** True until allow(): nothing is written. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  /** The store's state was read: writing may begin. */
  allow(): void {
    this.blocked = false;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.flush();
    }, this.intervalMs);
    if (typeof this.timer === 'object' && this.timer && 'unref' in this.timer) this.timer.unref();
  }

  /** Writes as soon as the store takes it (after the write in flight). */
  soon(): void {
    if (this.blocked || this.soonAsked) return;
    this.soonAsked = true;
    setImmediate(() => {
      this.soonAsked = false;
      void this.flush();
    });
  }

  /** Writes now if the state changed since the last write. Never rejects. */
  flush(): Promise<void> {
    if (this.queued) return this.writing;
    this.queued = true;
    this.writing = this.writing.then(async () => {
      this.queued = false;
      if (this.blocked) return;
      const rev = this.opts.source.revision;
      if (rev === this.savedRevision) return;
      try {
        let p: Promise<void>;
        try {
          p = this.opts.store.set(this.opts.source.snapshot());
        } catch (err) {
          p = Promise.reject(err instanceof Error ? err : new Error(String(err)));
        }
        await storeDeadline(p, this.deadlineMs, 'saving the recovery state');
        this.savedRevision = rev;
        if (this.failures > 0) {
          this.opts.logger?.info(`the recovery state is saved again (after ${this.failures} failed write(s))`);
          this.failures = 0;
          this.tellFailing(false);
        }
      } catch (err) {
        this.failures++;
        if (this.failures === 1) this.tellFailing(true);
        // the first failures, then one in a hundred: a store down for hours must not flood the log
        if (this.failures <= 3 || this.failures % 100 === 0) {
          this.opts.logger?.warn(`could not save recovery state (${this.failures} in a row): ${errText(err)}`);
        }
      }
    });
    return this.writing;
  }

  private tellFailing(failing: boolean): void {
    try {
      this.opts.onFailing?.(failing);
    } catch {
      // a listener's fault changes nothing here
    }
  }

  /**
   * Stops the timer and writes a final time; when that write fails (an error, or a store slower
   * than the deadline) once more, so that a store answering again within the close saves the
   * latest state: the final write may be the first one, and without it the next start knows
   * neither where this line of streams began nor where its last gap started (runtime schedule seed
   * 7215: the first write was slow, the fills of a reconnect found during the stop were lost at
   * the restart). Never rejects.
   */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    if (this.failures > 0 && !this.blocked && this.opts.source.revision !== this.savedRevision) await this.flush();
  }
}
