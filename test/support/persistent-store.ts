/**
 * A persistent Node-RED context store for tests, with faults. Its data lives outside the runtime
 * (a `PersistedData` map), so it survives helper.unload()/load() as a file store survives a
 * restart of Node-RED. It answers asynchronously, as a persistent store does (a write lands when
 * it is answered); `clean` is a no-op (a restarted runtime keeps the context of nodes still in the
 * flow).
 *
 * Faults (a database or file backend that is not up yet, overloaded or hung), for the next `count`
 * reads or writes: `slow` (answered `ms` later on the timer functions in use, so a fake clock moves
 * it), `fail` (an error in the callback, nothing written) or `hang` (the callback is never called,
 * nothing written). A slow answer still pending when the test ends the runtime's process
 * (`processEnded()`, a restart) never lands.
 *
 * `usePersistentStore(store)` installs it as the context store `persist` (default store: memory)
 * of every later helper.load (the helper resets the context module on each load, so the configured
 * stores are loaded again each time).
 */
import { helper } from './red';

type Cb = (err: unknown, ...values: unknown[]) => void;

export type PersistedData = Map<string, Map<string, unknown>>;

export type StoreOp = 'read' | 'write';
export type StoreFaultKind = 'slow' | 'fail' | 'hang';

export interface StoreFault {
  kind: StoreFaultKind;
  /** slow: the answer comes this many ms later (default 1000). */
  ms?: number;
  /** How many calls it affects (default 1). */
  count?: number;
}

/** One get or set the runtime made (scope and keys only), and what the store did with it. */
export interface StoreCall {
  op: StoreOp;
  scope: string;
  keys: string[];
  outcome: 'ok' | StoreFaultKind;
  /** The fault's `ms`, where it gave one. */
  ms?: number;
}

const copy = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));

export class PersistentStore {
  readonly data: PersistedData;
  /** Every get / set the runtime made, in order. */
  readonly calls: StoreCall[] = [];
  /** Writes that landed (answered without error). */
  writesOk = 0;
  private readonly faults: Record<StoreOp, Array<StoreFault & { left: number }>> = { read: [], write: [] };
  /** Bumped when the process "ends" (`processEnded()`): slow answers of an older one never land. */
  private generation = 0;

  constructor(data: PersistedData = new Map()) {
    this.data = data;
  }

  /** The next `count` calls of `op` do what `fault` says (after the faults already pending). */
  add(op: StoreOp, fault: StoreFault): void {
    this.faults[op].push({ ...fault, left: fault.count ?? 1 });
  }

  /** No more faults: every later call answers normally. */
  clear(): void {
    this.faults.read.length = 0;
    this.faults.write.length = 0;
  }

  /** True while a fault of `op` is pending. */
  pending(op: StoreOp): boolean {
    return this.faults[op].length > 0;
  }

  /** The runtime's process ended: what it still waited for never completes (a late write never lands). */
  processEnded(): void {
    this.generation++;
  }

  /** The value saved under `key` in any scope (what a restarted runtime would read). */
  saved(key: string): unknown {
    for (const m of this.data.values()) if (m.has(key)) return m.get(key);
    return undefined;
  }

  private scope(s: string): Map<string, unknown> {
    let m = this.data.get(s);
    if (!m) {
      m = new Map();
      this.data.set(s, m);
    }
    return m;
  }

  private take(op: StoreOp): StoreFault | undefined {
    const list = this.faults[op];
    const f = list[0];
    if (!f) return undefined;
    f.left--;
    if (f.left <= 0) list.shift();
    return f;
  }

  // The module's side (storeModule below): one call, its read, its write.

  /** One call: logged, then answered as the pending fault of `op` says (now, later, with an error, or never). */
  call(op: StoreOp, s: string, keys: string[], cb: Cb, ok: () => void): void {
    const f = this.take(op);
    this.calls.push({ op, scope: s, keys, outcome: f?.kind ?? 'ok', ...(f?.ms !== undefined ? { ms: f.ms } : {}) });
    if (f?.kind === 'hang') return;
    if (f?.kind === 'fail') {
      setImmediate(() => cb(new Error(`context store unavailable (${op} ${keys.join(',')})`)));
      return;
    }
    if (f?.kind === 'slow') {
      const generation = this.generation;
      setTimeout(() => {
        if (this.generation === generation) ok();
      }, f.ms ?? 1_000);
      return;
    }
    setImmediate(ok);
  }

  /** Reads `keys` of scope `s` (at the moment of the answer: a slow read sees the data of that moment). */
  read(s: string, keys: string[]): unknown[] {
    return keys.map((k) => copy(this.scope(s).get(k)));
  }

  /** Writes `values` (copied by the caller) to `keys` of scope `s`; undefined deletes. */
  write(s: string, keys: string[], values: unknown[]): void {
    keys.forEach((k, i) => {
      if (values[i] === undefined) this.scope(s).delete(k);
      else this.scope(s).set(k, values[i]);
    });
    this.writesOk++;
  }

  keysOf(s: string): string[] {
    return [...this.scope(s).keys()];
  }
}

/** A Node-RED context store module over `store()`, asked on every call (a test may swap it between runs). */
function storeModule(store: () => PersistentStore): Record<string, unknown> {
  return {
    open: () => Promise.resolve(),
    close: () => Promise.resolve(),
    get(s: string, key: string | string[], cb?: Cb) {
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      const st = store();
      const keys = Array.isArray(key) ? key : [key];
      st.call('read', s, keys, cb, () => cb(null, ...st.read(s, keys)));
    },
    set(s: string, key: string | string[], value: unknown, cb?: Cb) {
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      const st = store();
      const keys = Array.isArray(key) ? key : [key];
      // what is written is what was passed at the call (a slow write lands that value)
      const values = (Array.isArray(key) ? (value as unknown[]) : [value]).map(copy);
      st.call('write', s, keys, cb, () => {
        st.write(s, keys, values);
        cb(null);
      });
    },
    keys(s: string, cb: Cb) {
      const st = store();
      setImmediate(() => cb(null, st.keysOf(s)));
    },
    delete(s: string) {
      store().data.delete(s);
      return Promise.resolve();
    },
    clean() {
      return Promise.resolve();
    },
  };
}

interface ContextModule {
  init(settings: unknown): void;
  load(): Promise<void>;
}

/**
 * Installs the context store `persist` over `store` (or over the store `store()` returns at each
 * call, for a suite that swaps it per run) for every later load: call in a `before`, call the
 * returned function in an `after`.
 */
export function usePersistentStore(store: PersistentStore | (() => PersistentStore)): () => void {
  const current = typeof store === 'function' ? store : () => store;
  const h = helper as unknown as { _context: ContextModule; settings(s: Record<string, unknown>): unknown };
  const ctx = h._context;
  const origInit = ctx.init;
  h.settings({ contextStorage: { default: { module: 'memory' }, persist: { module: () => storeModule(current) } } });
  ctx.init = function (settings: unknown): void {
    origInit.call(ctx, settings);
    void ctx.load();
  };
  return () => {
    ctx.init = origInit;
    h.settings({});
  };
}
