/**
 * A persistent Node-RED context store whose reads and writes can fail, be slow or never answer
 * (a database or file backend that is not up yet, overloaded, or hung). Its data lives outside
 * the runtime (a `PersistedData` map), so it survives helper.unload()/load() as a file store
 * survives a restart of Node-RED; it answers asynchronously, as a persistent store does.
 *
 * `useFaultyStore(store)` installs it as the context store `persist` for the enclosing suite
 * (default store: memory), the same way `usePersistentStore` does (the helper resets the context
 * module on every load(), so the configured stores are loaded again each time).
 */
import { helper } from './red';
import type { PersistedData } from './persistent-store';

type Cb = (err: unknown, ...values: unknown[]) => void;

/** What the next matching calls do: fail (an error), hang (never answer) or answer `delayMs` late. */
export interface StoreFault {
  mode: 'fail' | 'hang' | 'delay';
  /** How many calls (default 1). */
  count?: number;
  delayMs?: number;
}

interface PendingFault extends StoreFault {
  left: number;
}

export class FaultyStore {
  readonly data: PersistedData;
  /** Every get / set the runtime made, in order (scope and key only). */
  readonly calls: Array<{ op: 'get' | 'set'; scope: string; keys: string[]; outcome: 'ok' | 'fail' | 'hang' | 'delay' }> = [];
  private readonly faults: { get: PendingFault[]; set: PendingFault[] } = { get: [], set: [] };

  constructor(data: PersistedData = new Map()) {
    this.data = data;
  }

  /** The next `count` reads do what `fault` says. */
  onGet(fault: StoreFault): void {
    this.faults.get.push({ ...fault, left: fault.count ?? 1 });
  }

  /** The next `count` writes do what `fault` says (a failed or hung write changes nothing). */
  onSet(fault: StoreFault): void {
    this.faults.set.push({ ...fault, left: fault.count ?? 1 });
  }

  /** No more faults: every later call answers normally. */
  heal(): void {
    this.faults.get.length = 0;
    this.faults.set.length = 0;
  }

  /** The Node-RED context store module instance over `data`. */
  module(): Record<string, unknown> {
    const scope = (s: string): Map<string, unknown> => {
      let m = this.data.get(s);
      if (!m) {
        m = new Map();
        this.data.set(s, m);
      }
      return m;
    };
    const copy = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));
    const take = (op: 'get' | 'set'): PendingFault | undefined => {
      const f = this.faults[op][0];
      if (!f) return undefined;
      f.left--;
      if (f.left <= 0) this.faults[op].shift();
      return f;
    };
    /** Runs `answer` as the pending fault of `op` says; `effect` is the write (not done on failure or hang). */
    const run = (op: 'get' | 'set', s: string, keys: string[], cb: Cb, answer: () => unknown[], effect?: () => void): void => {
      const f = take(op);
      const outcome = f?.mode ?? 'ok';
      this.calls.push({ op, scope: s, keys, outcome });
      if (outcome === 'hang') return;
      if (outcome === 'fail') {
        setImmediate(() => cb(new Error(`context store unavailable (${op} ${keys.join(',')})`)));
        return;
      }
      const reply = (): void => {
        effect?.();
        cb(null, ...answer());
      };
      if (outcome === 'delay') setTimeout(reply, f?.delayMs ?? 1000);
      else setImmediate(reply);
    };
    return {
      open: () => Promise.resolve(),
      close: () => Promise.resolve(),
      get: (s: string, key: string | string[], cb?: Cb) => {
        if (!cb) throw new Error('this store is asynchronous: pass a callback');
        const keys = Array.isArray(key) ? key : [key];
        // the value is read when the answer is given (a delayed read sees the data of that moment)
        run('get', s, keys, cb, () => keys.map((k) => copy(scope(s).get(k))));
      },
      set: (s: string, key: string | string[], value: unknown, cb?: Cb) => {
        if (!cb) throw new Error('this store is asynchronous: pass a callback');
        const keys = Array.isArray(key) ? key : [key];
        const values = (Array.isArray(key) ? (value as unknown[]) : [value]).map(copy);
        run('set', s, keys, cb, () => [], () => {
          keys.forEach((k, i) => {
            if (values[i] === undefined) scope(s).delete(k);
            else scope(s).set(k, values[i]);
          });
        });
      },
      keys: (s: string, cb: Cb) => {
        setImmediate(() => cb(null, [...scope(s).keys()]));
      },
      delete: (s: string) => {
        this.data.delete(s);
        return Promise.resolve();
      },
      clean: () => Promise.resolve(),
    };
  }
}

interface ContextModule {
  init(settings: unknown): void;
  load(): Promise<void>;
}

/** Installs `store` as the context store `persist` for the enclosing suite: call in a `before`, undo in an `after`. */
export function useFaultyStore(store: FaultyStore): () => void {
  const h = helper as unknown as { _context: ContextModule; settings(s: Record<string, unknown>): unknown };
  const ctx = h._context;
  const origInit = ctx.init;
  h.settings({ contextStorage: { default: { module: 'memory' }, persist: { module: () => store.module() } } });
  ctx.init = function (settings: unknown): void {
    origInit.call(ctx, settings);
    void ctx.load();
  };
  return () => {
    ctx.init = origInit;
    h.settings({});
  };
}
