/**
 * The recovery cursors in a Node-RED context: a StateStore (lib/persistence.ts) over the account
 * node's context. It works with the default memory store and with persistent stores, because it
 * always uses the callback forms of get/set.
 */
import { parsePersistedState, STORE_DEADLINE_MS, type PersistedRecoveryState, type StateStore } from '../lib/recovery/persistence';
import { asError } from '../lib/util';

/** The subset of a Node-RED context (node / flow / global) the store needs. */
export interface ContextLike {
  get(key: string, store: string | undefined, callback: (err: unknown, value: unknown) => void): void;
  set(key: string, value: unknown, store: string | undefined, callback: (err: unknown) => void): void;
}

/**
 * The writes of one context entry (node, store, key) land in the order they were asked for, across
 * every ContextStateStore over it: an account node replaced by a deploy (another market or key) may
 * still be writing its last state to a slow store while the new node writes the same entry, and a
 * write given up at its deadline may still land after the next one. A write does not wait for the
 * ones before it (one that never answers must not stop the entry being saved: a restart then began
 * as a first start, runtime schedule seed 20261207); instead a write that lands after a later one
 * has landed is followed by the latest value once more (a slow store, then a market change: the
 * spot state overwrote the futures one and the next start discarded it, seed 31337). A read waits
 * for the writes asked for before it (the replaced node's last state), at most ORDER_WAIT_MS;
 * nothing waits for a read (case 6 of issue 21: one read that never answers holds up nothing).
 */
interface EntryWrites {
  /** Sequence of the last write asked for. */
  asked: number;
  /** Highest sequence that landed. */
  landed: number;
  /** The last write asked for (sequence `asked`), to be done again after a stale one landed. */
  latest?: () => Promise<void>;
  /** Writes asked for and not ended (or given up after ORDER_WAIT_MS): what a read waits for. */
  pending: Set<Promise<void>>;
  /** Writes asked for and not ended, however long they take (a late one may still land). */
  inflight: number;
}
const entries = new Map<string, EntryWrites>();
/**
 * How long after a write began a read still waits for it: the write's own deadline. Past it the
 * writer counts the write as failed, and a read that waited longer ran into its own deadline and
 * its retries; after 30 s of those the start-up recovery falls back to the look-back and repeats
 * fills (one hung write of a replaced node, then a key change: runtime schedule seed 777). A write
 * slower than its deadline that lands later is overwritten by the latest state (above).
 */
const ORDER_WAIT_MS = STORE_DEADLINE_MS;

/** Settles when `run` does, or ORDER_WAIT_MS after the write began. */
function capped(run: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ORDER_WAIT_MS);
    const end = (): void => {
      clearTimeout(timer);
      resolve();
    };
    void run.then(end, end);
  });
}

/**
 * Forgets every entry's writes in flight: what a new process starts with. For tests that play a
 * restart of Node-RED inside one process (a write of the ended "process" that never answers must
 * not hold up the reads of the next one, whose timers may never run out on a fake clock).
 */
export function forgetStoreOrder(): void {
  entries.clear();
  lastWritten.clear();
  newestWriter.clear();
  processLife++;
}

/**
 * Per entry: the newest ContextStateStore (by creation) that asked to write it. An older one (an
 * account node replaced by a deploy) writes nothing more once a newer one has: its final write,
 * made once more after a deadline (seed 7215), landed after the new node's writes and put the old
 * market's state back (soak seed 68001: a spot node's last write hung, a deploy switched the
 * account to USDⓈ-M; the next start found the spot state, discarded it, and the USDⓈ-M fill made
 * while Node-RED was stopped was lost).
 */
const newestWriter = new Map<string, number>();
let storesMade = 0;

/**
 * The "process" a ContextStateStore was made in: bumped by forgetStoreOrder() (tests that play a
 * restart inside one process). A store of an ended one writes nothing more — a dead process cannot
 * — so an old account node still retrying its final write cannot overwrite the next life's state
 * (runtime schedule seed 46001: two hung writes, then that retry landed two restarts later and
 * rolled the saved cursors back).
 */
let processLife = 0;

/**
 * The last state written per entry, in this process. Node-RED deletes a node's context when the
 * node closes unless a context store is configured in settings.js (its default memory context),
 * so an account node redeployed with a setting that opens a new stream (the futures URL form, a
 * URL) read nothing and began as a first start: the fills made during the deploy were lost
 * (attack on issue 22, A3). A read takes this copy when there is one: it is never older than what
 * the store holds (this process wrote both), and newer when writes failed or have not landed (the
 * store's older state made a new stream deliver again the fills of the failed writes: attack on
 * issue 21, round 3, C2). The account node drops it when it is deleted, and a restart of Node-RED
 * starts without it (as the memory store does).
 */
const lastWritten = new Map<string, unknown>();

function entry(scope: string): EntryWrites {
  let e = entries.get(scope);
  if (!e) {
    e = { asked: 0, landed: 0, pending: new Set(), inflight: 0 };
    entries.set(scope, e);
  }
  return e;
}

function orderedWrite(scope: string | undefined, write: () => Promise<void>): Promise<void> {
  if (scope === undefined) return write();
  const e = entry(scope);
  const seq = ++e.asked;
  e.latest = write;
  e.inflight++;
  const run = write().then(() => {
    if (entries.get(scope) !== e) return;
    if (seq > e.landed) {
      e.landed = seq;
    } else if (e.latest && e.asked > seq) {
      // landed after a later write: the entry holds an older state; the latest once more
      void orderedWrite(scope, e.latest).catch(() => undefined);
    }
  });
  const done = capped(run);
  e.pending.add(done);
  const forgetIfIdle = (): void => {
    // kept while a write may still land (a late one must be followed by the latest: seed 5003)
    if (e.inflight === 0 && e.pending.size === 0 && e.asked === e.landed && entries.get(scope) === e) entries.delete(scope);
  };
  void done.then(() => {
    e.pending.delete(done);
    forgetIfIdle();
  });
  const settled = (): void => {
    e.inflight--;
    forgetIfIdle();
  };
  void run.then(settled, settled);
  return run;
}

function orderedRead<T>(scope: string | undefined, read: () => Promise<T>): Promise<T> {
  const e = scope === undefined ? undefined : entries.get(scope);
  if (!e || e.pending.size === 0) return read();
  return Promise.all([...e.pending]).then(read, read);
}

/**
 * StateStore over a Node-RED context. `storeName` selects a context store
 * (undefined = the default one). The callback forms make it work with asynchronous
 * persistent stores (e.g. `localfilesystem`). `scope` (the node's id) puts the reads and writes of
 * every store over the same entry in one order.
 */
export class ContextStateStore implements StateStore {
  private readonly scope: string | undefined;

  constructor(
    private readonly context: ContextLike,
    private readonly key: string = 'binanceUserStreamRecovery',
    private readonly storeName?: string,
    scope?: string,
  ) {
    this.scope = scope === undefined ? undefined : `${scope}\u0000${storeName ?? ''}\u0000${key}`;
    this.life = processLife;
    this.serial = ++storesMade;
  }

  private readonly life: number;
  private readonly serial: number;

  /** False once a newer store over the same entry has written it (this one was replaced). */
  private mayWrite(): boolean {
    if (this.scope === undefined) return true;
    const newest = newestWriter.get(this.scope);
    if (newest !== undefined && newest > this.serial) return false;
    newestWriter.set(this.scope, this.serial);
    return true;
  }

  /** The node was deleted: its last state is not kept for a next stream of this process. */
  forget(): void {
    if (this.scope !== undefined) lastWritten.delete(this.scope);
  }

  get(): Promise<PersistedRecoveryState | undefined> {
    // what this process wrote last is the freshest state there is (no need to wait for the store)
    const mine = this.scope === undefined ? undefined : lastWritten.get(this.scope);
    if (mine !== undefined) return Promise.resolve(parsePersistedState(mine));
    return orderedRead(this.scope, () => this.read());
  }

  /** Removes the saved state, in order with the writes (a stream with recovery off). */
  clear(): Promise<void> {
    if (!this.mayWrite()) return Promise.resolve();
    if (this.scope !== undefined) lastWritten.delete(this.scope);
    return orderedWrite(this.scope, () => this.remove());
  }

  set(s: PersistedRecoveryState): Promise<void> {
    if (this.life !== processLife || !this.mayWrite()) return Promise.resolve();
    return orderedWrite(this.scope, () => this.write(s));
  }

  private read(): Promise<PersistedRecoveryState | undefined> {
    return new Promise((resolve, reject) => {
      try {
        this.context.get(this.key, this.storeName, (err, value) => {
          if (err) reject(asError(err));
          else resolve(parsePersistedState(value));
        });
      } catch (err) {
        reject(asError(err));
      }
    });
  }

  private remove(): Promise<void> {
    return this.put(undefined);
  }

  private write(s: PersistedRecoveryState): Promise<void> {
    // Store a plain JSON copy (persistent stores serialise anyway).
    const value: unknown = JSON.parse(JSON.stringify(s));
    if (this.scope !== undefined) lastWritten.set(this.scope, value);
    return this.put(value);
  }

  /** Sets the entry (undefined removes it). */
  private put(value: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        this.context.set(this.key, value, this.storeName, (err) => {
          if (err) reject(asError(err));
          else resolve();
        });
      } catch (err) {
        reject(asError(err));
      }
    });
  }
}
