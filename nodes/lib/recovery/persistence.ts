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

/** [symbol, orderId, status, executedQty, 1 = algo order]. */
export type PersistedOrder = [string, number, string, string | null, 0 | 1];

export interface PersistedRecoveryState {
  /** 2 since the delivery-pipeline rebuild; 1 (highest trade id per symbol) is still read. */
  version: 1 | 2;
  /** symbol → safe trade cursor: every fill with an id up to it was delivered. */
  lastTradeIds: Record<string, number>;
  /** symbol → every fill before this time (epoch ms) was delivered (symbols without an id cursor). */
  since?: Record<string, number>;
  /** symbol → trade ids delivered above its cursor. */
  delivered?: Record<string, number[]>;
  /** Last delivered state of tracked open orders. */
  orders?: PersistedOrder[];
  /** Highest exchange event time (`E`, epoch ms) delivered. */
  lastEventTime?: number;
  /** Symbols seen in fills / order events (recovered at start-up too). */
  symbols: string[];
}

export interface StateStore {
  get(): Promise<PersistedRecoveryState | undefined>;
  set(s: PersistedRecoveryState): Promise<void>;
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
  if (o.version !== 1 && o.version !== 2) return undefined;
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
  if (typeof o.lastEventTime === 'number' && Number.isFinite(o.lastEventTime) && o.lastEventTime > 0) {
    state.lastEventTime = o.lastEventTime;
  }
  return state;
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
  logger?: Logger;
}

/**
 * Writes the recovery state to a StateStore at most every `intervalMs` while it
 * changes, and once more on `stop()`. Store errors are logged, never thrown.
 */
export class StatePersister {
  private timer?: ReturnType<typeof setInterval>;
  private savedRevision = -1;
  private writing: Promise<void> = Promise.resolve();
  private readonly intervalMs: number;

  constructor(private readonly opts: StatePersisterOptions) {
    this.intervalMs = opts.intervalMs ?? 5000;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.flush();
    }, this.intervalMs);
    if (typeof this.timer === 'object' && this.timer && 'unref' in this.timer) this.timer.unref();
  }

  /** Writes now if the state changed since the last write. Never rejects. */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      const rev = this.opts.source.revision;
      if (rev === this.savedRevision) return;
      try {
        await this.opts.store.set(this.opts.source.snapshot());
        this.savedRevision = rev;
      } catch (err) {
        this.opts.logger?.warn(`could not save recovery state: ${errText(err)}`);
      }
    });
    return this.writing;
  }

  /** Stops the timer and writes a final time. Never rejects. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
