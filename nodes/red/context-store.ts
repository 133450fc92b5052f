/**
 * The recovery cursors in a Node-RED context: a StateStore (lib/persistence.ts) over the account
 * node's context. It works with the default memory store and with persistent stores, because it
 * always uses the callback forms of get/set.
 */
import { parsePersistedState, type PersistedRecoveryState, type StateStore } from '../lib/recovery/persistence';
import { asError } from '../lib/util';

/** The subset of a Node-RED context (node / flow / global) the store needs. */
export interface ContextLike {
  get(key: string, store: string | undefined, callback: (err: unknown, value: unknown) => void): void;
  set(key: string, value: unknown, store: string | undefined, callback: (err: unknown) => void): void;
}

/**
 * StateStore over a Node-RED context. `storeName` selects a context store
 * (undefined = the default one). The callback forms make it work with asynchronous
 * persistent stores (e.g. `localfilesystem`).
 */
export class ContextStateStore implements StateStore {
  constructor(
    private readonly context: ContextLike,
    private readonly key: string = 'binanceUserStreamRecovery',
    private readonly storeName?: string,
  ) {}

  get(): Promise<PersistedRecoveryState | undefined> {
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

  set(s: PersistedRecoveryState): Promise<void> {
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
