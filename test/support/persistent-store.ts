/**
 * A persistent Node-RED context store for tests: its data lives outside the runtime, so it
 * survives helper.unload()/load() as a file store survives a restart of Node-RED. It answers
 * asynchronously, as a persistent store does; `clean` is a no-op (a restarted runtime keeps
 * the context of nodes still in the flow). `usePersistentStore()` installs it as the context
 * store `persist` for the suite it is called in (the helper resets the context module on
 * every load(), so the configured stores are loaded again each time).
 */
import { helper } from './red';

type Cb = (err: unknown, ...values: unknown[]) => void;

export type PersistedData = Map<string, Map<string, unknown>>;

export function persistentStore(data: PersistedData): Record<string, unknown> {
  const scope = (s: string): Map<string, unknown> => {
    let m = data.get(s);
    if (!m) {
      m = new Map();
      data.set(s, m);
    }
    return m;
  };
  const later = (fn: () => void): void => {
    setImmediate(fn);
  };
  const copy = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));
  return {
    open: () => Promise.resolve(),
    close: () => Promise.resolve(),
    get(s: string, key: string | string[], cb?: Cb) {
      const keys = Array.isArray(key) ? key : [key];
      const values = keys.map((k) => copy(scope(s).get(k)));
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      later(() => cb(null, ...values));
    },
    set(s: string, key: string | string[], value: unknown, cb?: Cb) {
      const keys = Array.isArray(key) ? key : [key];
      const values = Array.isArray(key) ? (value as unknown[]) : [value];
      keys.forEach((k, i) => {
        if (values[i] === undefined) scope(s).delete(k);
        else scope(s).set(k, copy(values[i]));
      });
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      later(() => cb(null));
    },
    keys(s: string, cb: Cb) {
      later(() => cb(null, [...scope(s).keys()]));
    },
    delete(s: string) {
      data.delete(s);
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

/** Installs the store `persist` (over `data`) for the enclosing suite: call in a `before`, undo in an `after`. */
export function usePersistentStore(data: PersistedData): () => void {
  const h = helper as unknown as { _context: ContextModule; settings(s: Record<string, unknown>): unknown };
  const ctx = h._context;
  const origInit = ctx.init;
  h.settings({ contextStorage: { default: { module: 'memory' }, persist: { module: () => persistentStore(data) } } });
  ctx.init = function (settings: unknown): void {
    origInit.call(ctx, settings);
    void ctx.load();
  };
  return () => {
    ctx.init = origInit;
    h.settings({});
  };
}
