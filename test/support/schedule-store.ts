/**
 * A persistent Node-RED context store with faults, for the runtime property suite: its data lives
 * outside the runtime (it survives helper.unload()/load() as a file store survives a restart), it
 * answers asynchronously, and reads and writes can be made slow (answered `ms` later on the timer
 * functions in use, so a fake clock moves them), failing (an error in the callback, nothing
 * written) or never answering (the callback is never called, nothing written) for the next
 * `count` calls. A slow answer still pending when the test ends the runtime's process
 * (`processEnded()`, a restart) never lands. `installFaultyStore()` installs it as the context store `persist` of every later
 * helper.load (the helper resets the context module on each load).
 */
import { helper } from './red';

type Cb = (err: unknown, ...values: unknown[]) => void;

export type StoreFaultKind = 'slow' | 'fail' | 'hang';

export interface StoreFault {
  kind: StoreFaultKind;
  /** slow: the answer comes this many ms later. */
  ms?: number;
  /** How many calls it affects (default 1). */
  count?: number;
}

/** The data and the faults of one store; the test swaps `current` per schedule. */
export class FaultyStoreState {
  readonly data = new Map<string, Map<string, unknown>>();
  readonly faults: { read: Array<StoreFault & { left: number }>; write: Array<StoreFault & { left: number }> } = { read: [], write: [] };
  /** Calls met, for the trace: `read fail`, `write hang`, … */
  readonly events: string[] = [];
  reads = 0;
  writes = 0;
  writesOk = 0;
  /** Bumped when the process "ends" (`processEnded()`): slow answers of an older one never land. */
  generation = 0;

  /** The runtime's process ended: what it still waited for never completes (a late write never lands). */
  processEnded(): void {
    this.generation++;
  }

  add(op: 'read' | 'write', f: StoreFault): void {
    this.faults[op].push({ ...f, left: f.count ?? 1 });
  }

  clear(): void {
    this.faults.read.length = 0;
    this.faults.write.length = 0;
  }

  /** True while a fault of `op` is pending. */
  pending(op: 'read' | 'write'): boolean {
    return this.faults[op].length > 0;
  }

  take(op: 'read' | 'write'): StoreFault | undefined {
    const list = this.faults[op];
    const f = list[0];
    if (!f) return undefined;
    f.left--;
    if (f.left <= 0) list.shift();
    this.events.push(`${op} ${f.kind}${f.ms !== undefined ? ` ${f.ms} ms` : ''}`);
    return f;
  }

  /** The value saved under `key` in any scope (what a restarted runtime would read). */
  saved(key: string): unknown {
    for (const m of this.data.values()) if (m.has(key)) return m.get(key);
    return undefined;
  }
}

const copy = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));

export function faultyStore(state: () => FaultyStoreState): Record<string, unknown> {
  const scope = (s: string): Map<string, unknown> => {
    const data = state().data;
    let m = data.get(s);
    if (!m) {
      m = new Map();
      data.set(s, m);
    }
    return m;
  };
  /** Answers as the fault says: now (next turn), later, with an error, or never. */
  const answer = (f: StoreFault | undefined, ok: () => void, cb: Cb, what: string): void => {
    if (f?.kind === 'hang') return;
    if (f?.kind === 'fail') {
      setImmediate(() => cb(new Error(`context store unavailable (${what})`)));
      return;
    }
    if (f?.kind === 'slow') {
      const st = state();
      const generation = st.generation;
      setTimeout(() => {
        if (st.generation === generation) ok();
      }, f.ms ?? 1_000);
      return;
    }
    setImmediate(ok);
  };
  return {
    open: () => Promise.resolve(),
    close: () => Promise.resolve(),
    get(s: string, key: string | string[], cb?: Cb) {
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      const st = state();
      st.reads++;
      const keys = Array.isArray(key) ? key : [key];
      answer(st.take('read'), () => cb(null, ...keys.map((k) => copy(scope(s).get(k)))), cb, 'read');
    },
    set(s: string, key: string | string[], value: unknown, cb?: Cb) {
      if (!cb) throw new Error('this store is asynchronous: pass a callback');
      const st = state();
      st.writes++;
      const keys = Array.isArray(key) ? key : [key];
      const values = Array.isArray(key) ? (value as unknown[]) : [value];
      const snapshot = values.map(copy);
      const write = (): void => {
        keys.forEach((k, i) => {
          if (snapshot[i] === undefined) scope(s).delete(k);
          else scope(s).set(k, snapshot[i]);
        });
        st.writesOk++;
        cb(null);
      };
      answer(st.take('write'), write, cb, 'write');
    },
    keys(s: string, cb: Cb) {
      setImmediate(() => cb(null, [...scope(s).keys()]));
    },
    delete(s: string) {
      state().data.delete(s);
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
 * Installs the store `persist` (over `state()`, asked on every call) for every later load: call in
 * a `before`, call the returned function in an `after`.
 */
export function installFaultyStore(state: () => FaultyStoreState): () => void {
  const h = helper as unknown as { _context: ContextModule; settings(s: Record<string, unknown>): unknown };
  const ctx = h._context;
  const origInit = ctx.init;
  h.settings({ contextStorage: { default: { module: 'memory' }, persist: { module: () => faultyStore(state) } } });
  ctx.init = function (settings: unknown): void {
    origInit.call(ctx, settings);
    void ctx.load();
  };
  return () => {
    ctx.init = origInit;
    h.settings({});
  };
}
