/**
 * ReliableStream (nodes/lib/reliable-stream.ts) against the simulator with fake timers:
 * state sequence with `recovering`, start-up recovery from a persisted state (events that
 * arrive while the store is read are queued behind it), restart of the same manager,
 * sharing per manager, and the pass-through mode.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimTrade } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { ReliableStream, type RecoveryReport } from '../../nodes/lib/stream/reliable-stream';
import { existingReliableStream, reliableStreamFor } from '../../nodes/lib/stream/registry';
import { MemoryStateStore, type PersistedRecoveryState, type StateStore } from '../../nodes/lib/recovery/persistence';
import { WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import type { AccountConfig, GapEvent, UserDataEvent } from '../../nodes/lib/types';
import { settle, waitFor, type Clock } from '../support/fake-clock';
import { fillKey, isFill, reliableStreamSuite } from './helpers';

const key = (t: SimTrade): string => `${t.symbol}/${t.orderId}/${t.tradeId}`;

/** A store whose get() answers only when released (a slow persistent store). */
class SlowStore implements StateStore {
  private release?: () => void;
  readonly inner: MemoryStateStore;
  constructor(initial?: PersistedRecoveryState) {
    this.inner = new MemoryStateStore(initial);
  }
  get(): Promise<PersistedRecoveryState | undefined> {
    return new Promise((resolve) => {
      this.release = () => void this.inner.get().then(resolve);
    });
  }
  set(s: PersistedRecoveryState): Promise<void> {
    return this.inner.set(s);
  }
  answer(): void {
    this.release?.();
  }
}

describe('reliable stream: recovery wired to the stream manager (simulator, fake time)', function () {
  this.timeout(60_000);
  let clock: Clock;
  let sim: BinanceSimulator;
  let acct: string;
  let config: AccountConfig;
  const { managers, streams, connected } = reliableStreamSuite((r) => ({ clock, sim, acct, config } = r));

  function make(opts: { store?: StateStore; symbols?: string[]; recovery?: boolean } = {}) {
    const m = new StreamManager(config);
    managers.push(m);
    const s = new ReliableStream(m, { market: 'spot', budget: new WeightBudget({ market: 'spot' }), ...opts });
    streams.push(s);
    const out: UserDataEvent[] = [];
    const states: string[] = [];
    const gaps: GapEvent[] = [];
    const reports: RecoveryReport[] = [];
    s.on('event', (e) => out.push(e));
    s.on('state', (st) => states.push(st.state));
    s.on('gap', (g) => gaps.push(g));
    s.on('recovery', (r) => reports.push(r));
    return { m, s, out, states, gaps, reports };
  }

  const quiet = (s: ReliableStream): Promise<void> =>
    waitFor(() => !s.recovering, { clock, stepMs: 100, timeoutMs: 10_000, message: 'recovery done' });
  const trade = (symbol: string, fills: string[]): SimTrade[] =>
    sim.runOrderLifecycle(acct, { market: 'spot', symbol, side: 'BUY', quantity: String(fills.reduce((a, b) => a + Number(b), 0)), price: '10', fills }).trades;
  /** Drops the connection and waits until the manager noticed it. */
  const drop = async (m: StreamManager): Promise<void> => {
    assert.ok(sim.dropConnections({ accountId: acct }) >= 1);
    await waitFor(() => m.state !== 'connected', { timeoutMs: 5_000, message: 'drop noticed' });
  };

  it('a drop: reconnecting → recovering → connected; missed fills recovered before the newer live ones', async () => {
    const { m, s, out, states, gaps, reports } = make({ symbols: ['ETHUSDT'] });
    m.acquire('t');
    await connected(m);
    const live1 = trade('BTCUSDT', ['1']);
    await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 50 });
    await drop(m);
    const missed = [...trade('BTCUSDT', ['1', '2']), ...trade('ETHUSDT', ['3'])];
    await connected(m);
    await settle(5);
    assert.equal(s.state, 'recovering', 'catching up while the recovery runs');
    assert.ok(s.recovering);
    const live2 = trade('BTCUSDT', ['1']); // on the new connection, during the recovery
    await quiet(s);
    await waitFor(() => s.state === 'connected', { clock, stepMs: 50 });
    await settle(10, 5);
    assert.deepEqual(out.filter(isFill).map(fillKey), [...live1, ...missed, ...live2].map(key));
    assert.deepEqual(out.filter(isFill).map((e) => e.recovered === true), [false, true, true, true, false]);
    const tail = states.slice(states.lastIndexOf('reconnecting'));
    assert.deepEqual(tail, ['reconnecting', 'recovering', 'connected']);
    assert.equal(gaps.length, 1);
    assert.deepEqual(reports.map((r) => r.phase), ['started', 'finished']);
    assert.equal(reports[1].stats?.fills, 3);
    assert.ok(s.recoveredCount >= 3);
  });

  it('start-up: fills made while stopped are recovered from the persisted cursors, before live events that came meanwhile', async () => {
    // first run: one live fill, state saved on close
    const first = make({ store: new MemoryStateStore() });
    first.m.acquire('t');
    await connected(first.m);
    const seen = trade('BNBUSDT', ['1']);
    await waitFor(() => first.out.filter(isFill).length === 1, { clock, stepMs: 50 });
    const saved = first.s.recovery!.snapshot();
    assert.equal(saved.lastTradeIds.BNBUSDT, seen[0].tradeId);
    await first.m.release('t');
    // "Node-RED stopped": fills happen
    clock.tick(60_000);
    const missed = trade('BNBUSDT', ['1', '1', '1']);
    clock.tick(60_000);
    // second run, with a store that answers late
    const store = new SlowStore(saved);
    const second = make({ store });
    second.m.acquire('t');
    await connected(second.m);
    const liveMeanwhile = trade('BNBUSDT', ['2']);
    await settle(10, 5);
    assert.equal(second.out.length, 0, 'nothing leaves before the persisted state is read');
    store.answer();
    await waitFor(() => second.reports.some((r) => r.phase === 'finished'), { clock, stepMs: 100, timeoutMs: 10_000 });
    await settle(10, 5);
    assert.equal(second.gaps[0].reason, 'startup');
    assert.deepEqual(second.out.filter(isFill).map(fillKey), [...missed, ...liveMeanwhile].map(key));
  });

  it('the same manager started again after a stop: the time it was stopped is recovered (restart gap)', async () => {
    const { m, s, out, gaps } = make();
    m.acquire('a');
    await connected(m);
    trade('XRPUSDT', ['1']);
    await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 50 });
    const stopping = m.release('a');
    for (let i = 0; i < 30; i++) {
      clock.tick(250);
      await settle(5);
    }
    await stopping;
    assert.equal(m.state, 'stopped');
    const missed = trade('XRPUSDT', ['1', '1']);
    m.acquire('b');
    await connected(m);
    await quiet(s);
    await settle(10, 5);
    assert.equal(gaps[gaps.length - 1].reason, 'restart');
    assert.deepEqual(out.filter(isFill).slice(1).map(fillKey), missed.map(key));
  });

  it('a recovery that fails for a symbol is retried until it succeeds; live fills flow meanwhile, the status says catching up', async () => {
    const { m, s, out, reports } = make();
    m.acquire('t');
    await connected(m);
    trade('ADAUSDT', ['1']);
    await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 50 });
    await drop(m);
    const missed = trade('ADAUSDT', ['1', '1']);
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 500, code: -1000, msg: 'internal error' });
    await connected(m);
    await waitFor(() => reports.some((r) => r.phase === 'finished'), { clock, stepMs: 100, timeoutMs: 10_000 });
    assert.ok((reports.find((r) => r.phase === 'finished')?.stats?.errors.length ?? 0) > 0, 'the first recovery had an error');
    const live = trade('ADAUSDT', ['1']); // newer than the missed ones, arrives before the retry
    await waitFor(() => out.filter(isFill).length === 2, { clock, stepMs: 50, message: 'the live fill (not held for a retry)' });
    assert.equal(s.state, 'recovering', 'not shown connected while fills are missing');
    assert.match(s.currentState.message ?? '', /not fetched yet/);
    await waitFor(() => reports.filter((r) => r.phase === 'finished').length === 2, { clock, stepMs: 500, timeoutMs: 10_000, message: 'the retry' });
    await settle(10, 5);
    assert.equal(reports[reports.length - 1].gap.reason, 'recovery-retry');
    // every fill exactly once: the live one first, then the missed ones, marked recovered
    assert.deepEqual(out.filter(isFill).slice(1).map(fillKey), [...live, ...missed].map(key));
    assert.deepEqual(out.filter(isFill).slice(1).map((e) => e.recovered === true), [false, true, true]);
    await waitFor(() => s.state === 'connected', { clock, stepMs: 50 });
  });

  it('one reliable stream per manager: symbols merged, closed by the last release', async () => {
    const m = new StreamManager(config);
    managers.push(m);
    const a = reliableStreamFor(m, { market: 'spot', symbols: ['AAAUSDT'] });
    const b = reliableStreamFor(m, { market: 'spot', symbols: ['BBBUSDT'] });
    assert.equal(a, b);
    assert.deepEqual(a.recovery!.listedSymbols.sort(), ['AAAUSDT', 'BBBUSDT']);
    // a consumer of the old flow still holds the manager (a redeploy restarts it, not removes it)
    m.acquire('old-flow-node');
    await connected(m);
    await a.release();
    assert.equal(existingReliableStream(m), a, 'still used by the second account node');
    await b.release();
    assert.equal(existingReliableStream(m), a, 'kept for the redeploy grace');
    clock.tick(10_000);
    await settle(10, 5);
    assert.equal(existingReliableStream(m), undefined, 'closed after the grace');
  });

  it('no redeploy grace when nothing runs to keep, or when the account is gone for good', async () => {
    for (const how of ['no consumer', 'keep: false'] as const) {
      const m = new StreamManager(config);
      managers.push(m);
      const a = reliableStreamFor(m, { market: 'spot' });
      if (how === 'keep: false') {
        m.acquire('node');
        await connected(m);
      }
      await a.release(undefined, { keep: how === 'no consumer' });
      assert.equal(existingReliableStream(m), undefined, `${how}: closed at once`);
      assert.equal(m.consumerCount, how === 'no consumer' ? 0 : 1, `${how}: no grace consumer holds the manager`);
    }
  });

  it('recovery off: events pass through, no REST history queried at a gap', async () => {
    const { m, out } = make({ recovery: false });
    m.acquire('t');
    await connected(m);
    await drop(m);
    trade('BTCUSDT', ['1']);
    await connected(m);
    sim.clearRequests();
    const live = trade('BTCUSDT', ['1']);
    await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 50 });
    await settle(10, 5);
    assert.deepEqual(out.filter(isFill).map(fillKey), live.map(key));
    assert.equal(sim.requests.filter((r) => r.kind === 'rest' && /myTrades/.test(r.path)).length, 0);
  });
});
