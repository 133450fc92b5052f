import assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import {
  MemoryStateStore,
  StatePersister,
  parsePersistedState,
  type PersistedRecoveryState,
  type StateStore,
} from '../../nodes/lib/recovery/persistence';
import { ContextStateStore, type ContextLike } from '../../nodes/red/context-store';
import { GapRecovery } from '../../nodes/lib/recovery';
import { FakeExchange } from './fake-exchange';
import { LogCapture } from './helpers';

/** A context like Node-RED's with an asynchronous (persistent-like) store: callbacks fire later, values are serialised. */
class AsyncContext implements ContextLike {
  readonly data = new Map<string, string>();
  readonly storesUsed: Array<string | undefined> = [];
  failSet = false;
  get(key: string, store: string | undefined, cb: (err: unknown, value: unknown) => void): void {
    this.storesUsed.push(store);
    setImmediate(() => {
      const v = this.data.get(`${store ?? 'default'}:${key}`);
      cb(null, v === undefined ? undefined : JSON.parse(v));
    });
  }
  set(key: string, value: unknown, store: string | undefined, cb: (err: unknown) => void): void {
    this.storesUsed.push(store);
    setImmediate(() => {
      if (this.failSet) return cb(new Error('disk full'));
      this.data.set(`${store ?? 'default'}:${key}`, JSON.stringify(value));
      cb(null);
    });
  }
}

const STATE: PersistedRecoveryState = { version: 1, lastTradeIds: { BTCUSDT: 42, ETHUSDT: 7 }, lastEventTime: 1_700_000_000_000, symbols: ['BTCUSDT', 'ETHUSDT', 'BNBUSDT'] };

describe('recovery/persistence', () => {
  it('parsePersistedState keeps valid fields and rejects foreign or corrupt values', () => {
    assert.deepEqual(parsePersistedState(STATE), STATE);
    assert.deepEqual(parsePersistedState(JSON.stringify(STATE)), STATE);
    assert.equal(parsePersistedState(undefined), undefined);
    assert.equal(parsePersistedState('{nope'), undefined);
    assert.equal(parsePersistedState({ version: 4, lastTradeIds: {}, symbols: [] }), undefined);
    assert.deepEqual(parsePersistedState({ version: 1, lastTradeIds: { A: 1, B: -1, C: 'x', D: 1.5 }, symbols: ['A', 3, '', 'A'], lastEventTime: 'x' }), {
      version: 1,
      lastTradeIds: { A: 1 },
      symbols: ['A'],
    });
  });

  it('MemoryStateStore round-trips through JSON', async () => {
    const s = new MemoryStateStore();
    assert.equal(await s.get(), undefined);
    await s.set(STATE);
    const back = await s.get();
    assert.deepEqual(back, STATE);
    assert.notEqual(back, STATE);
  });

  it("ContextStateStore: a replaced node's slow last write cannot land after the new node's write or before its read (one order per entry)", async () => {
    const data = new Map<string, unknown>();
    const delays = [300, 0, 0];
    const ctx: ContextLike = {
      get: (key, _store, cb) => setImmediate(() => cb(null, data.get(key))),
      set: (key, value, _store, cb) => {
        const ms = delays.shift() ?? 0;
        setTimeout(() => {
          data.set(key, value);
          cb(null);
        }, ms);
      },
    };
    const spot = { version: 3 as const, lastTradeIds: { BTCUSDT: 1 }, symbols: ['BTCUSDT'] };
    const futures = { version: 3 as const, lastTradeIds: { ETHUSDT: 2 }, symbols: ['ETHUSDT'] };
    const oldNode = new ContextStateStore(ctx, 'rec', undefined, 'acct');
    const newNode = new ContextStateStore(ctx, 'rec', undefined, 'acct');
    const last = oldNode.set(spot); // slow: 300 ms
    const read = await newNode.get();
    assert.deepEqual(read?.lastTradeIds, { BTCUSDT: 1 }, 'the new node reads what the old one wrote last');
    await newNode.set(futures);
    await last;
    assert.deepEqual((await newNode.get())?.lastTradeIds, { ETHUSDT: 2 }, 'the new write is the one that stays');
  });

  it('ContextStateStore: a write that never answers does not stop the next from landing; one that lands after a later one is followed by the latest again', async () => {
    const data = new Map<string, unknown>();
    // write 1 never answers, write 2 lands at once; write 3 lands late (after write 4)
    const plan: Array<number | 'hang'> = ['hang', 0, 200, 0];
    const ctx: ContextLike = {
      get: (key, _store, cb) => setImmediate(() => cb(null, data.get(key))),
      set: (key, value, _store, cb) => {
        const p = plan.shift() ?? 0;
        if (p === 'hang') return;
        setTimeout(() => {
          data.set(key, value);
          cb(null);
        }, p);
      },
    };
    const state = (id: number): PersistedRecoveryState => ({ version: 3, lastTradeIds: { BTCUSDT: id }, symbols: ['BTCUSDT'] });
    const a = new ContextStateStore(ctx, 'rec', undefined, 'hung');
    void a.set(state(1));
    await a.set(state(2));
    assert.deepEqual(data.get('rec'), JSON.parse(JSON.stringify(state(2))), 'the write after a hung one landed');
    const late = a.set(state(3));
    await a.set(state(4));
    await late;
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual((data.get('rec') as PersistedRecoveryState).lastTradeIds, { BTCUSDT: 4 }, 'the latest state is the one that stays');
  });

  it('ContextStateStore works with an asynchronous store and a named store', async () => {
    const ctx = new AsyncContext();
    const store = new ContextStateStore(ctx, 'rec', 'file');
    assert.equal(await store.get(), undefined);
    await store.set(STATE);
    assert.deepEqual(await store.get(), STATE);
    assert.ok(ctx.data.has('file:rec'));
    assert.deepEqual([...new Set(ctx.storesUsed)], ['file']);
    // default store
    const def = new ContextStateStore(ctx);
    await def.set(STATE);
    assert.ok(ctx.data.has('default:binanceUserStreamRecovery'));
    ctx.failSet = true;
    await assert.rejects(def.set(STATE), /disk full/);
  });

  it('GapRecovery state survives a restart through a context store', async () => {
    const ctx = new AsyncContext();
    const r1 = new GapRecovery({ market: 'spot', rest: new FakeExchange() });
    r1.observe({ market: 'spot', eventType: 'executionReport', raw: { e: 'executionReport', E: 5, s: 'BTCUSDT', i: 1, t: 9, x: 'TRADE', X: 'FILLED' }, receivedAt: 0 });
    await new ContextStateStore(ctx).set(r1.snapshot());
    const r2 = new GapRecovery({ market: 'spot', rest: new FakeExchange() });
    r2.restore(await new ContextStateStore(ctx).get());
    assert.equal(r2.lastTradeId('BTCUSDT'), 9);
    assert.equal(r2.lastEventTime, 5);
  });

  describe('StatePersister', () => {
    let clock: ReturnType<typeof FakeTimers.install>;
    beforeEach(() => {
      clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
    });
    afterEach(() => clock.uninstall());

    it('writes only when the state changed, at most every intervalMs, and once more on stop', async () => {
      const recovery = new GapRecovery({ market: 'spot', rest: new FakeExchange() });
      const store = new MemoryStateStore();
      const p = new StatePersister({ source: recovery, store, intervalMs: 5000 });
      p.start();
      await clock.tickAsync(5000);
      assert.equal(store.sets, 1); // initial state written once
      await clock.tickAsync(20_000);
      assert.equal(store.sets, 1); // unchanged: no writes
      recovery.observe({ market: 'spot', eventType: 'executionReport', raw: { e: 'executionReport', E: 5, s: 'BTCUSDT', i: 1, t: 9, x: 'TRADE', X: 'FILLED' }, receivedAt: 0 });
      recovery.observe({ market: 'spot', eventType: 'executionReport', raw: { e: 'executionReport', E: 6, s: 'BTCUSDT', i: 1, t: 10, x: 'TRADE', X: 'FILLED' }, receivedAt: 0 });
      await clock.tickAsync(5000);
      assert.equal(store.sets, 2);
      assert.equal((await store.get())?.lastTradeIds.BTCUSDT, 10);
      recovery.observe({ market: 'spot', eventType: 'executionReport', raw: { e: 'executionReport', E: 7, s: 'BTCUSDT', i: 1, t: 11, x: 'TRADE', X: 'FILLED' }, receivedAt: 0 });
      await p.stop();
      assert.equal(store.sets, 3);
      assert.equal((await store.get())?.lastTradeIds.BTCUSDT, 11);
      await clock.tickAsync(60_000);
      assert.equal(store.sets, 3); // timer stopped
    });

    it('stop(): a final write past its deadline is made once more, so a store that answers again holds the latest state (seed 7215)', async () => {
      const recovery = new GapRecovery({ market: 'spot', rest: new FakeExchange() });
      const saved = new MemoryStateStore();
      let calls = 0;
      // the first write never answers within the deadline (a slow store), the next ones do
      const store: StateStore = {
        get: () => saved.get(),
        set: (s) => (++calls === 1 ? new Promise<void>(() => undefined) : saved.set(s)),
      };
      const p = new StatePersister({ source: recovery, store, intervalMs: 5000, deadlineMs: 10_000, logger: new LogCapture() });
      p.start();
      recovery.observe({ market: 'spot', eventType: 'executionReport', raw: { e: 'executionReport', E: 5, s: 'BTCUSDT', i: 1, t: 9, x: 'TRADE', X: 'FILLED' }, receivedAt: 0 });
      // the stop comes before any interval write: its write is the first one
      const stopped = p.stop();
      await clock.tickAsync(10_000);
      await stopped;
      assert.equal(calls, 2);
      assert.equal((await saved.get())?.lastTradeIds.BTCUSDT, 9);
      assert.equal(p.failing, false);
    });

    it('a failing store is logged, never thrown', async () => {
      const logger = new LogCapture();
      const failing: StateStore = {
        get: async () => undefined,
        set: async () => {
          throw new Error('store offline');
        },
      };
      const p = new StatePersister({ source: new GapRecovery({ market: 'spot', rest: new FakeExchange() }), store: failing, logger });
      await p.flush();
      await p.stop();
      assert.ok(logger.lines.some((l) => l.startsWith('warn') && l.includes('store offline')));
    });
  });
});
