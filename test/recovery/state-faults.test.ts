/**
 * Issue 21, the core's side (ReliableStream over the simulator, fake time): store faults are faults
 * (case 6), persisted state knows whose it is (case 3), one frame cannot move a cursor far (case 4),
 * no bound that forgets (case 5), and the cursors are written through once fills are delivered
 * (the crash window). What is checked is what a consumer and the store see: events, states, the
 * store's writes, the simulator's trades.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimTrade } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import { stateOwner } from '../../nodes/lib/stream/identity';
import { MemoryStateStore, STORE_DEADLINE_MS, type PersistedRecoveryState, type StateStore } from '../../nodes/lib/recovery/persistence';
import { STATE_FALLBACK_MS } from '../../nodes/lib/stream/saved-state';
import { FillLedger } from '../../nodes/lib/recovery/ledger';
import { WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import type { AccountConfig, UserDataEvent } from '../../nodes/lib/types';
import { settle, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture } from '../core/helpers';
import { fillKey, isFill, reliableStreamSuite } from './helpers';

const key = (t: SimTrade): string => `${t.symbol}/${t.orderId}/${t.tradeId}`;

/** A store whose reads fail (reject, or never answer) a number of times, then work; counts writes. */
class FaultyStore implements StateStore {
  readonly inner: MemoryStateStore;
  failReads: number;
  hangReads = 0;
  hangWrites = 0;
  writes = 0;
  reads = 0;
  constructor(initial?: PersistedRecoveryState, failReads = 0) {
    this.inner = new MemoryStateStore(initial);
    this.failReads = failReads;
  }
  get(): Promise<PersistedRecoveryState | undefined> {
    this.reads++;
    if (this.hangReads > 0) {
      this.hangReads--;
      return new Promise(() => undefined);
    }
    if (this.failReads > 0) {
      this.failReads--;
      return Promise.reject(new Error('store backend not up yet'));
    }
    return this.inner.get();
  }
  set(s: PersistedRecoveryState): Promise<void> {
    this.writes++;
    if (this.hangWrites > 0) {
      this.hangWrites--;
      return new Promise(() => undefined);
    }
    return this.inner.set(s);
  }
}

describe('issue 21 (core): store faults, state identity, absurd ids, exact records, write-through (simulator, fake time)', function () {
  this.timeout(60_000);
  let clock: Clock;
  let sim: BinanceSimulator;
  let acct: string;
  let config: AccountConfig;
  let log: LogCapture;
  const { managers, streams, connected } = reliableStreamSuite((r) => ({ clock, sim, acct, config } = r), { usdt: '100000000' });
  beforeEach(() => {
    log = new LogCapture();
  });

  function make(opts: { store?: StateStore; symbols?: string[]; owner?: ReturnType<typeof stateOwner> } = {}) {
    const m = new StreamManager(config);
    managers.push(m);
    const s = new ReliableStream(m, {
      market: 'spot',
      budget: new WeightBudget({ market: 'spot' }),
      logger: log,
      owner: opts.owner ?? stateOwner(config, config.restUrl),
      ...opts,
    });
    streams.push(s);
    const out: UserDataEvent[] = [];
    const states: Array<{ state: string; message?: string }> = [];
    s.on('event', (e) => out.push(e));
    s.on('state', (st) => states.push({ state: st.state, message: st.message }));
    return { m, s, out, states };
  }

  const trade = (symbol: string, fills: string[]): SimTrade[] =>
    sim.runOrderLifecycle(acct, { market: 'spot', symbol, side: 'BUY', quantity: String(fills.reduce((a, b) => a + Number(b), 0)), price: '10', fills }).trades;
  const fills = (out: UserDataEvent[]): string[] => out.filter(isFill).map(fillKey);

  /** A first run that saw one fill of `symbol` and saved its state; returns the saved state. */
  async function firstRun(symbol: string): Promise<PersistedRecoveryState> {
    const store = new MemoryStateStore();
    const first = make({ store });
    first.m.acquire('t');
    await connected(first.m);
    trade(symbol, ['1']);
    await waitFor(() => first.out.filter(isFill).length === 1, { clock, stepMs: 50 });
    await first.s.close();
    await first.m.release('t');
    const saved = await store.get();
    assert.ok(saved?.lastTradeIds[symbol] !== undefined, 'the first run saved its cursor');
    return saved;
  }

  it('case 6: a rejected read at start-up is retried, never a first start: the fills made while stopped are delivered, nothing saved before the read, the status says why', async () => {
    const saved = await firstRun('BNBUSDT');
    clock.tick(60_000);
    const missed = trade('BNBUSDT', ['1', '1']);
    const store = new FaultyStore(saved, 1);
    const { m, s, out, states } = make({ store });
    m.acquire('t');
    await connected(m);
    const live = trade('BNBUSDT', ['2']);
    // live events do not wait for a failing store (I2)
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 100, timeoutMs: 5_000, message: 'the live fill' });
    assert.equal(s.state, 'recovering');
    assert.match(s.currentState.message ?? '', /saved recovery state cannot be read \(store backend not up yet\)/);
    assert.equal(store.writes, 0, 'nothing is written before the saved state was read');
    assert.ok(log.lines.some((l) => /could not read the saved recovery state \(attempt 1\)/.test(l)));
    // the retry reads it: start-up recovery from the saved cursor
    await waitFor(() => fills(out).length === 3 && s.state === 'connected', { clock, stepMs: 200, timeoutMs: 20_000, message: 'recovered' });
    assert.deepEqual(fills(out), [...live, ...missed].map(key));
    assert.ok(states.some((x) => x.state === 'recovering'));
    await s.flush();
    const after = await store.inner.get();
    assert.equal(after?.lastTradeIds.BNBUSDT, live[0].tradeId, 'the saved cursor moved on over every fill, not back to a first start');
  });

  it('case 6: a store that never answers: each read times out, live events flow, and after the fall-back time the look-back is recovered', async () => {
    const store = new FaultyStore(undefined, 0);
    store.hangReads = 1_000;
    const whileStopped = trade('ADAUSDT', ['1']); // before this start, inside the look-back
    clock.tick(60_000);
    const { m, s, out } = make({ store, symbols: ['ADAUSDT'] });
    m.acquire('t');
    await connected(m);
    const live = trade('ETHUSDT', ['1']);
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 200, timeoutMs: STORE_DEADLINE_MS + 10_000, message: 'live fill despite the store' });
    await waitFor(() => /did not answer within/.test(s.currentState.message ?? ''), { clock, stepMs: 200, timeoutMs: STORE_DEADLINE_MS + 10_000, message: 'the reason shown' });
    assert.equal(s.state, 'recovering');
    assert.deepEqual(fills(out), live.map(key), 'nothing recovered yet: the saved state may still be read');
    await waitFor(() => log.lines.some((l) => /recovering from the look-back/.test(l)), {
      clock,
      stepMs: 1_000,
      timeoutMs: STATE_FALLBACK_MS + 4 * STORE_DEADLINE_MS + 60_000,
      message: 'fall-back recovery',
    });
    // the listed symbol's fill made before this start is recovered from the look-back
    await waitFor(() => fills(out).length === 2, { clock, stepMs: 200, timeoutMs: 10_000, message: 'look-back recovery' });
    assert.deepEqual(fills(out), [...live, ...whileStopped].map(key));
    // recovered without the saved cursors: it may have been delivered before the restart (attack B8)
    const recovered = out.filter(isFill).filter((e) => e.recovered);
    assert.deepEqual(recovered.map((e) => e.possibleDuplicate), [true], 'the fall-back fill is flagged a possible duplicate');
    assert.ok(out.filter(isFill).filter((e) => !e.recovered).every((e) => e.possibleDuplicate === undefined), 'live fills are not flagged');
    assert.equal(s.state, 'recovering', 'still catching up: the saved state is unknown');
    assert.equal(store.writes, 0, 'the unread state is never overwritten');
  });

  it('a write that never answers has a deadline: the next writes go on', async () => {
    const store = new FaultyStore();
    store.hangWrites = 1;
    const { m, out } = make({ store });
    m.acquire('t');
    await connected(m);
    trade('XRPUSDT', ['1']);
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 50 });
    await waitFor(() => store.writes >= 1, { clock, stepMs: 100, timeoutMs: 5_000, message: 'first write' });
    trade('XRPUSDT', ['1']);
    await waitFor(() => store.writes >= 2, { clock, stepMs: 500, timeoutMs: STORE_DEADLINE_MS + 10_000, message: 'a write after the hung one' });
    assert.ok(log.lines.some((l) => /saving the recovery state: the context store did not answer within 10 s/.test(l)));
    await waitFor(() => store.inner.sets >= 1, { clock, stepMs: 100, timeoutMs: 5_000 });
    const st = await store.inner.get();
    assert.equal(st?.lastTradeIds.XRPUSDT, sim.trades(acct, 'spot', 'XRPUSDT')[1].tradeId);
  });

  it('write-through: a delivered fill is written to the store at once, not at the next 5 s interval', async () => {
    const store = new FaultyStore();
    const { m, out } = make({ store });
    m.acquire('t');
    await connected(m);
    await settle(10, 5);
    const t = trade('DOTUSDT', ['1']);
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 10 });
    // no fake time passes: the write follows the delivery in the same real-time turn
    for (let i = 0; i < 20 && (await store.inner.get())?.lastTradeIds.DOTUSDT === undefined; i++) await settle(2, 2);
    assert.equal((await store.inner.get())?.lastTradeIds.DOTUSDT, t[0].tradeId);
  });

  it("case 3: a saved state of another stream (market, host or key) is discarded with a warning, never applied", async () => {
    // the state a spot stream of ANOTHER key wrote, with a cursor far above this account's fills
    const other: PersistedRecoveryState = {
      version: 3,
      owner: { ...stateOwner(config, config.restUrl), key: 'aaaaaaaaaaaa' },
      lastTradeIds: { BTCUSDT: 9_000_000 },
      symbols: ['BTCUSDT'],
      lastEventTime: Date.now() - 60_000,
    };
    const { m, s, out } = make({ store: new MemoryStateStore(other) });
    m.acquire('t');
    await connected(m);
    trade('BTCUSDT', ['1']);
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 50 });
    assert.ok(log.lines.some((l) => /saved recovery state belongs to another stream .*key aaaaaaaaaaaa.*discarded/.test(l)), log.lines.join('\n'));
    assert.ok(!log.lines.some((l) => l.includes(config.credentials.apiKey)), 'the key itself is never logged');
    // a reconnect: the missed fills are recovered from this stream's own cursor
    sim.dropConnections({ accountId: acct });
    await waitFor(() => m.state !== 'connected', { timeoutMs: 5_000 });
    const missed = trade('BTCUSDT', ['1', '1']);
    await connected(m);
    await waitFor(() => fills(out).length === 3 && s.state === 'connected', { clock, stepMs: 100, timeoutMs: 10_000 });
    assert.deepEqual(fills(out).slice(1), missed.map(key));
  });

  it('case 4: one live frame with trade id 2^50 does not move the cursor; fills missed later are recovered', async () => {
    const { m, s, out } = make();
    m.acquire('t');
    await connected(m);
    trade('BTCUSDT', ['1']);
    await waitFor(() => fills(out).length === 1, { clock, stepMs: 50 });
    sim.injectEvent(acct, 'spot', {
      e: 'executionReport', E: Date.now(), s: 'BTCUSDT', S: 'BUY', i: 999_999, t: 2 ** 50, x: 'TRADE', X: 'FILLED', l: '1', L: '10',
    });
    await waitFor(() => fills(out).length === 2, { clock, stepMs: 50, message: 'the bogus fill is delivered (once)' });
    assert.ok(log.lines.some((l) => /far above what the exchange's history confirmed/.test(l)));
    const afterIt = trade('BTCUSDT', ['1']);
    await waitFor(() => fills(out).length === 3, { clock, stepMs: 50 });
    sim.dropConnections({ accountId: acct });
    await waitFor(() => m.state !== 'connected', { timeoutMs: 5_000 });
    const missed = trade('BTCUSDT', ['1', '1', '1']);
    await connected(m);
    await waitFor(() => fills(out).length === 6 && s.state === 'connected', { clock, stepMs: 200, timeoutMs: 60_000, message: 'missed fills recovered' });
    assert.deepEqual(fills(out).slice(2), [...afterIt, ...missed].map(key));
    const saved = s.recovery!.snapshot();
    assert.ok(saved.lastTradeIds.BTCUSDT < 2 ** 40, 'the saved cursor is not the bogus id');
  });
});

describe('issue 21 (core): the ledger records delivered fills exactly, whatever the count', () => {
  it('case 5: 25 000 live fills while the symbol is not live-safe: all known, persisted exactly and compactly, restored exactly', () => {
    const l = new FillLedger();
    l.restore({ safe: { BTCUSDT: 1000 } }); // restored: not live-safe until a recovery
    for (let id = 1001; id <= 26_000; id++) l.delivered('BTCUSDT', id, id % 3 === 0 ? 1 : 0, true, false, true);
    for (let id = 1001; id <= 26_000; id++) assert.ok(l.isDelivered('BTCUSDT', id, id % 3 === 0 ? 1 : 0), `fill ${id}`);
    assert.ok(!l.isDelivered('BTCUSDT', 26_001, 0));
    assert.ok(!l.isDelivered('BTCUSDT', 1001, 1), 'the other leg of a delivered id is not taken as delivered');
    const snap = l.snapshot();
    const persisted = JSON.stringify(snap.delivered);
    const back = new FillLedger();
    back.restore(JSON.parse(JSON.stringify(snap)) as typeof snap);
    for (let id = 1001; id <= 26_000; id++) assert.ok(back.isDelivered('BTCUSDT', id, id % 3 === 0 ? 1 : 0), `restored fill ${id}`);
    assert.ok(!back.isDelivered('BTCUSDT', 1001, 1));
    // consecutive ids of one leg are one range: alternating legs here still stay far below one entry per fill
    assert.ok(persisted.length < 25_000 * 8, `persisted ${persisted.length} bytes`);
    const run = new FillLedger();
    run.restore({ safe: { ETHUSDT: 5 } });
    for (let id = 6; id <= 30_005; id++) run.delivered('ETHUSDT', id, 0, true, false, true);
    assert.deepEqual(run.deliveredAbove('ETHUSDT'), { fills: 30_000, ranges: 1 });
    assert.deepEqual(run.snapshot().delivered.ETHUSDT, [[[6, 30_005]], []]);
  });

  it('a burst of 2 000 live fills received at the instant a gap starts: the gap moves the cursor back, and every one of them stays known (REST brings none again)', () => {
    const l = new FillLedger();
    const T = 1_800_000_000_000;
    l.delivered('BTCUSDT', 1000, 0, true, false, true, T - 10); // first seen while caught up: live-safe
    for (let id = 1001; id <= 3000; id++) l.delivered('BTCUSDT', id, id % 2 ? 1 : 0, true, false, true, T);
    assert.equal(l.resumeFrom('BTCUSDT').fromId, 3000, 'the cursor followed the live fills');
    l.openGap(T); // the dead session's last frame came at T: fills received at T may follow a missed one
    assert.ok((l.resumeFrom('BTCUSDT').fromId ?? Infinity) <= 1001, 'the cursor went back');
    const again = [];
    for (let id = 1001; id <= 3000; id++) if (!l.isDelivered('BTCUSDT', id, id % 2 ? 1 : 0)) again.push(id);
    assert.deepEqual(again, [], 'none of them would be delivered a second time from REST');
    assert.ok(!l.isDelivered('BTCUSDT', 3001, 0));
  });

  it('live copies of fills a recovery delivered (held behind it, or a rotation overlap) are duplicates, however many', () => {
    const l = new FillLedger();
    l.restore({ safe: { ETHUSDT: 100 } });
    for (let id = 101; id <= 2100; id++) l.delivered('ETHUSDT', id, 0, false, false); // recovered
    l.commit({ symbol: 'ETHUSDT', maxId: 2100, complete: true, epoch: l.epoch });
    const twice = [];
    for (let id = 101; id <= 2100; id++) if (!l.isDeliveredLive('ETHUSDT', id, 0)) twice.push(id);
    assert.deepEqual(twice, []);
    assert.ok(!l.isDeliveredLive('ETHUSDT', 2101, 0));
  });
});
