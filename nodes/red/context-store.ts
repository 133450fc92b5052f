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
 * Reads and writes of one context entry (node, store, key), in the order they were asked for,
 * across every ContextStateStore over it: an account node replaced by a deploy (another market or
 * key) may still be writing its last state to a slow store while the new node reads and writes
 * the same entry; the old write must not land after the new one (generated runtime schedule seed
 * 31337: a slow store, then a market change: the spot state overwrote the futures one, and the
 * next start discarded it and lost a fill). A read waits for the writes asked for before it; nothing
 * waits for a read (a read changes nothing, and a stream writes only after its own read has
 * answered: one read that never answers must hold up neither the next reads nor the writes that
 * follow them, case 6 of issue 21).
 */
const lastWrite = new Map<string, Promise<void>>();
/** The longest one read or write of an entry waits for the writes before it. */
const ORDER_WAIT_MS = 6 * STORE_DEADLINE_MS;

/** Settles when `run` does, or after ORDER_WAIT_MS: far longer than one operation's own deadline
 * (a slow write that landed after the next one would undo it: seed 31337 with 10.5 s writes), but
 * not for ever (one that never answers must not stop every later read and write). */
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

function serialized<T>(scope: string | undefined, kind: 'read' | 'write', op: () => Promise<T>): Promise<T> {
  if (scope === undefined) return op();
  const before = lastWrite.get(scope) ?? Promise.resolve();
  const run = before.then(op, op);
  if (kind === 'write') {
    const done = capped(run);
    lastWrite.set(scope, done);
    void done.then(() => {
      if (lastWrite.get(scope) === done) lastWrite.delete(scope);
    });
  }
  return run;
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
  }

  get(): Promise<PersistedRecoveryState | undefined> {
    return serialized(this.scope, 'read', () => this.read());
  }

  set(s: PersistedRecoveryState): Promise<void> {
    return serialized(this.scope, 'write', () => this.write(s));
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

  private write(s: PersistedRecoveryState): Promise<void> {
    // Store a plain JSON copy (persistent stores serialise anyway).
    const value: unknown = JSON.parse(JSON.stringify(s));
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
