/**
 * I6 in the core (issue 21): delivered means a consumer received it. Against the simulator, fake
 * timers where the redeploy grace's time matters:
 *  - the delivery pipeline paused (by any of several reasons) emits and records nothing; past
 *    maxBuffered it drops the oldest unrecorded and recovers their span at resume: every fill once;
 *  - a reliable stream with a consumer away keeps its events until the consumer is back;
 *  - the redeploy grace lasts through a told stop phase however long, its timer only a fallback
 *    counted from the stop phase's end;
 *  - an adopting user's settings replace the stream's; users that share it get the union.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimTrade } from '../../simulator/index';
import { DeliveryPipeline, GapRecovery } from '../../nodes/lib/recovery';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { existingReliableStream, reliableStreamFor } from '../../nodes/lib/stream/registry';
import { deployStopped, deployStopping, endUnadoptedGraces } from '../../nodes/lib/stream/redeploy-grace';
import { WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import type { AccountConfig, UserDataEvent } from '../../nodes/lib/types';
import { settle, waitFor, type Clock } from '../support/fake-clock';
import { fillKey, isFill, liveFillEvents, reliableStreamSuite, restClientFor } from './helpers';

const key = (t: SimTrade): string => `${t.symbol}/${t.orderId}/${t.tradeId}`;

describe('I6: delivered means a consumer received it (pipeline pause, consumers away, redeploy grace, settings)', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  let acct: string;

  const trade = (fills: string[], symbol = 'BTCUSDT'): SimTrade[] =>
    sim.runOrderLifecycle(acct, { market: 'spot', symbol, side: 'BUY', quantity: String(fills.reduce((a, b) => a + Number(b), 0)), price: '10', fills }).trades;

  describe('the delivery pipeline', function () {
    beforeEach(async () => {
      sim = await BinanceSimulator.start();
      acct = sim.createAccount({ balances: { USDT: '10000000' } }).id;
    });
    afterEach(async () => {
      await sim.stop();
    });

    function pipeline(maxBuffered: number): { p: DeliveryPipeline; out: UserDataEvent[]; recovery: GapRecovery } {
      const k = sim.createKey(acct, 'hmac');
      const recovery = new GapRecovery({ market: 'spot', rest: restClientFor(sim, 'spot', k), budget: new WeightBudget({ market: 'spot' }) });
      const out: UserDataEvent[] = [];
      const p = new DeliveryPipeline({ recovery, emit: (e) => out.push(e), maxBuffered });
      return { p, out, recovery };
    }

    it('paused by several reasons: nothing leaves until the last is lifted; then in order, each once', async () => {
      const { p, out } = pipeline(100);
      const first = trade(['1']);
      for (const e of liveFillEvents(sim, first)) p.live(e);
      p.pause('consumers');
      p.pause('redeploy');
      const held = trade(['1', '1']);
      for (const e of liveFillEvents(sim, held)) p.live(e);
      p.resume('consumers');
      assert.equal(out.length, 1, 'still paused for the redeploy');
      p.resume('redeploy');
      assert.deepEqual(out.map(fillKey), [...first, ...held].map(key));
    });

    it('past maxBuffered while paused: the oldest are dropped unrecorded (not emitted) and recovered at resume; every fill once', async () => {
      const { p, out, recovery } = pipeline(3);
      const first = trade(['1']);
      for (const e of liveFillEvents(sim, first)) p.live(e);
      assert.equal(out.length, 1);
      p.pause('consumers');
      const during = trade(['1', '1', '1', '1', '1', '1']);
      for (const e of liveFillEvents(sim, during)) p.live(e);
      assert.equal(out.length, 1, 'nothing leaves while paused, not even past the bound');
      assert.equal(recovery.lastTradeId('BTCUSDT'), first[0].tradeId, 'nothing dropped was recorded as delivered');
      p.resume('consumers');
      await p.idle();
      await waitFor(() => out.filter(isFill).length >= 7, { message: 'every fill' });
      await settle(10, 20);
      const keys = out.filter(isFill).map(fillKey);
      assert.deepEqual(keys, [...first, ...during].map(key), 'each once, in trade order');
      assert.ok(out.slice(1, 4).every((e) => e.recovered === true), 'the dropped ones came back from REST');
    });

    it('a new hold limit applies to what is held from then on', () => {
      const { p } = pipeline(100);
      p.setMaxHoldMs(1234);
      assert.equal(p.maxHoldMs, 1234);
      p.setMaxHoldMs(undefined);
      assert.equal(p.maxHoldMs, 5000);
    });
  });

  describe('the reliable stream (fake time)', function () {
    let clock: Clock;
    let config: AccountConfig;
    const { managers, streams, connected } = reliableStreamSuite((r) => ({ clock, sim, acct, config } = r), { endGraces: true });

    function open(opts: { symbols?: string[]; lookbackMs?: number; maxHoldMs?: number; recovery?: boolean } = {}, m?: StreamManager) {
      const manager = m ?? new StreamManager(config);
      if (!m) managers.push(manager);
      const s = reliableStreamFor(manager, { market: 'spot', budget: new WeightBudget({ market: 'spot' }), ...opts });
      if (!streams.includes(s)) streams.push(s);
      const out: UserDataEvent[] = [];
      s.on('event', (e) => out.push(e));
      return { m: manager, s, out };
    }

    it('a consumer away: its events are kept (state catching up) until it is back, then leave once, in order', async () => {
      const { m, s, out } = open();
      m.acquire('c1');
      await connected(m);
      await waitFor(() => s.state === 'connected', { clock, stepMs: 50 });
      s.consumerAway('h1/c1');
      const during = trade(['1', '1']);
      await waitFor(() => s.pipeline.heldCount >= 3, { clock, stepMs: 20, message: 'the events held' });
      assert.equal(out.filter(isFill).length, 0);
      await waitFor(() => s.state === 'recovering', { clock, stepMs: 20 });
      assert.match(s.currentState.message ?? '', /redeployed/);
      s.consumerBack('unknown');
      assert.equal(out.filter(isFill).length, 0, 'another key does not end the pause');
      s.consumerBack('h1/c1');
      assert.deepEqual(out.filter(isFill).map(fillKey), during.map(key));
      await waitFor(() => s.state === 'connected', { clock, stepMs: 20 });
    });

    it('the grace lasts through a told stop phase however long; its 10 s fallback counts from the start of the deploy', async () => {
      const { m, s, out } = open();
      m.acquire('old-consumer');
      await connected(m);
      deployStopping();
      await s.release();
      const during = trade(['1']);
      // A close of 60 s: far past the 10 s grace.
      for (let i = 0; i < 60; i++) {
        clock.tick(1000);
        await settle(2);
      }
      assert.equal(existingReliableStream(m), s, 'kept through the stop phase');
      await m.release('old-consumer');
      deployStopped();
      // The start phase: the account node adopts, its consumer registers, flows:started.
      const again = open({}, m);
      assert.equal(again.s, s, 'adopted');
      m.acquire('new-consumer');
      await endUnadoptedGraces();
      assert.equal(existingReliableStream(m), s, 'an adopted stream stays');
      assert.equal(out.filter(isFill).length, 0, 'kept until the new nodes listen');
      s.resume();
      await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 20 });
      assert.deepEqual(out.filter(isFill).map(fillKey), during.map(key));
    });

    it('without adoption the stream closes when the deploy has started, however long its start phase lasts (no fallback counts from the end of the stop phase)', async () => {
      const { m, s } = open();
      m.acquire('old-consumer');
      await connected(m);
      deployStopping();
      await s.release();
      clock.tick(30_000);
      await settle(5);
      assert.equal(existingReliableStream(m), s, 'kept while the stop phase lasts');
      deployStopped();
      clock.tick(30_000);
      await settle(5);
      assert.equal(existingReliableStream(m), s, 'kept while the deploy starts its nodes');
      await endUnadoptedGraces();
      await settle(5);
      assert.equal(existingReliableStream(m), undefined, 'closed once the deploy has started its nodes');
    });

    it('a start phase longer than the 10 s grace: the kept stream is adopted and its kept events leave once (seed 7205)', async () => {
      const { m, s, out } = open();
      m.acquire('old-consumer');
      await connected(m);
      deployStopping();
      await s.release();
      const during = trade(['1']);
      await m.release('old-consumer');
      deployStopped();
      // the deploy starts its nodes slowly (a module installed first, a large flow on a small device)
      for (let i = 0; i < 15; i++) {
        clock.tick(1000);
        await settle(2);
      }
      const again = open({}, m);
      assert.equal(again.s, s, 'adopted after a long start phase');
      m.acquire('new-consumer');
      await endUnadoptedGraces();
      assert.equal(out.filter(isFill).length, 0, 'kept until the new nodes listen');
      s.resume();
      await waitFor(() => out.filter(isFill).length === 1, { clock, stepMs: 20 });
      assert.deepEqual(out.filter(isFill).map(fillKey), during.map(key));
    });

    for (const on of [false, true]) {
      it(`recovery switched ${on ? 'on' : 'off'} by the adopting user: a new stream on the same connection, handed the kept events (each once)`, async () => {
        const { m, s } = open({ recovery: !on });
        m.acquire('old-consumer');
        await connected(m);
        await waitFor(() => s.state === 'connected', { clock, stepMs: 50 });
        const before = trade(['1']);
        await waitFor(() => s.pipeline.ledger.symbols().includes('BTCUSDT'), { clock, stepMs: 20, message: 'the first fill delivered' });
        await s.release();
        const kept = trade(['1', '1']);
        await waitFor(() => s.pipeline.heldCount >= 3, { clock, stepMs: 20, message: 'kept in the grace' });
        const next = reliableStreamFor(m, { market: 'spot', budget: new WeightBudget({ market: 'spot' }), recovery: on });
        streams.push(next);
        assert.notEqual(next, s, 'a new stream');
        assert.equal(s.isClosed, true);
        assert.equal(next.recovery !== undefined, on);
        const out: UserDataEvent[] = [];
        next.on('event', (e) => out.push(e));
        await m.release('old-consumer');
        m.acquire('new-consumer');
        assert.equal(m.state, 'connected', 'the connection was kept');
        next.resume();
        await waitFor(() => out.filter(isFill).length >= 2, { clock, stepMs: 50, message: 'the kept fills' });
        await next.idle();
        await settle(10, 20);
        assert.deepEqual(out.filter(isFill).map(fillKey), kept.map(key), 'the kept fills once; the one delivered before not again');
        assert.ok(!out.filter(isFill).map(fillKey).includes(key(before[0])));
      });
    }

    it('settings: an adopting user replaces symbols, look-back and hold limit; users sharing the stream get the union', async () => {
      const { m, s } = open({ symbols: ['AAAUSDT'], lookbackMs: 3_600_000, maxHoldMs: 5000 });
      const shared = open({ symbols: ['BBBUSDT'], lookbackMs: 7_200_000, maxHoldMs: 1000 }, m);
      assert.equal(shared.s, s);
      assert.deepEqual(s.recovery!.listedSymbols.sort(), ['AAAUSDT', 'BBBUSDT']);
      assert.equal(s.recovery!.lookbackMs, 7_200_000, 'the longer look-back');
      assert.equal(s.pipeline.maxHoldMs, 1000, 'the shorter hold limit');
      m.acquire('consumer');
      await connected(m);
      await s.release();
      await s.release();
      assert.equal(existingReliableStream(m), s, 'kept for a redeploy');
      const adopted = open({ symbols: ['CCCUSDT'], lookbackMs: 1_800_000 }, m);
      assert.equal(adopted.s, s);
      assert.deepEqual(s.recovery!.listedSymbols, ['CCCUSDT']);
      assert.equal(s.recovery!.lookbackMs, 1_800_000);
      assert.equal(s.pipeline.maxHoldMs, 5000, 'the default hold limit again');
    });
  });
});
