/**
 * A gap reported after the live events that follow it (margin listenToken expiry): the WS API
 * sends `eventStreamTerminated`, the connection stays up, we subscribe again and report the gap
 * once the new subscription is confirmed. A fill at the instant the new subscription starts is
 * sent right after its answer, so it can reach the pipeline before the gap report. It must not
 * let the cursor pass the fills made while no subscription existed (I4).
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimTrade } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import { WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import type { GapEvent, UserDataEvent } from '../../nodes/lib/types';
import { installClock, settle, waitFor, type Clock } from '../support/fake-clock';
import { simConfig } from '../core/helpers';
import { fillKey, isFill } from './helpers';

const key = (t: SimTrade): string => `${t.symbol}/${t.orderId}/${t.tradeId}`;

describe('recovery: a gap reported after the new subscription’s first fill (margin eventStreamTerminated, simulator, fake time)', function () {
  this.timeout(60_000);
  let clock: Clock;
  let sim: BinanceSimulator;

  let close: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    clock = installClock();
    sim = await BinanceSimulator.start();
  });
  afterEach(async () => {
    try {
      await close?.();
      close = undefined;
    } finally {
      clock.uninstall();
      await sim.stop();
    }
  });

  /** A margin account's stream with recovery of BTCUSDT, connected and caught up. */
  async function open() {
    const acct = sim.createAccount({ balances: { USDT: '10000000' } }).id;
    const { config } = simConfig(sim, acct, 'margin');
    const m = new StreamManager(config);
    const s = new ReliableStream(m, { market: 'margin', symbols: ['BTCUSDT'], budget: new WeightBudget({ market: 'margin' }) });
    const out: UserDataEvent[] = [];
    const gaps: GapEvent[] = [];
    s.on('event', (e) => out.push(e));
    s.on('gap', (g) => gaps.push(g));
    close = async () => {
      await s.close();
      const p = m.stop();
      for (let i = 0; i < 30; i++) {
        clock.tick(250);
        await settle(5);
      }
      await p;
    };
    const trade = (qty: string): SimTrade[] =>
      sim.runOrderLifecycle(acct, { market: 'margin', symbol: 'BTCUSDT', side: 'BUY', quantity: qty, price: '10', fills: [qty] }).trades;
    const wait = (p: () => boolean, message: string, maxFakeMs?: number): Promise<void> =>
      waitFor(p, { clock, stepMs: 50, timeoutMs: 10_000, maxFakeMs, message });
    m.acquire('t');
    await wait(() => m.state === 'connected' && !s.recovering, 'connected');
    return { acct, m, s, out, gaps, trade, wait };
  }


  it('the fills made while unsubscribed are recovered, in order before the new subscription’s first fill; never a green dot meanwhile', async () => {
    const { acct, s, out, gaps, wait, trade, m } = await open();
    const before = trade('1');
    await wait(() => out.filter(isFill).length === 1, 'first fill live');

    // the token expires: the subscription ends, the connection stays; the new token takes 3 s
    let first: SimTrade[] = [];
    sim.delayNext({ path: '/sapi/v1/userListenToken', ms: 3_000 });
    sim.afterNext({ wsMethod: 'userDataStream.subscribe.listenToken', run: () => (first = trade('3')) });
    assert.equal(sim.expireListenToken({ accountId: acct }), 1);
    const missed = trade('2'); // no subscription: never sent
    await wait(() => s.state !== 'connected', 'not connected', 1_000);
    assert.equal(s.state, 'recovering', 'no green dot while no subscription delivers events');
    assert.equal(m.state, 'connected', 'the connection itself stays');
    await wait(() => gaps.length === 1 && !s.recovering && s.state === 'connected', 'gap recovered');
    await settle(10, 5);

    assert.equal(gaps[0].reason, 'eventStreamTerminated');
    assert.equal(first.length, 1, 'a fill at the new subscription’s start');
    const got = out.filter(isFill).map(fillKey);
    assert.deepEqual(got, [...before, ...missed, ...first].map(key), 'every fill once, in exchange order (the new subscription’s first fill waited for the gap)');
    // the missed fill recovered (the first one may come from either copy: the REST rows cover it too)
    assert.deepEqual(out.filter(isFill).slice(0, 2).map((e) => e.recovered === true), [false, true]);
  });

  it('a rotation that replaces the ended subscription before it was subscribed again reports its gap: the missed fill is recovered, the status turns green', async () => {
    const { acct, s, out, gaps, wait, trade } = await open();
    // the subscribing again waits 20 s for its token; meanwhile the server announces a shutdown
    sim.delayNext({ path: '/sapi/v1/userListenToken', ms: 20_000 });
    assert.equal(sim.expireListenToken({ accountId: acct }), 1);
    const missed = trade('2');
    await wait(() => s.state === 'recovering', 'recovering', 1_000);
    assert.equal(sim.sendServerShutdown(), 1); // (the connection has no subscription: no account to filter by)
    await wait(() => gaps.length >= 1 && !s.recovering && s.state === 'connected', 'rotated and recovered');
    assert.equal(gaps[0].reason, 'eventStreamTerminated');
    const later = trade('3');
    await wait(() => out.filter(isFill).length === 2, 'both fills');
    await settle(10, 5);
    assert.deepEqual(out.filter(isFill).map(fillKey), [...missed, ...later].map(key));
    assert.equal(s.state, 'connected');
  });

  it('subscribing again fails (the token request times out): the reconnect’s gap starts when the subscription ended, not at the last frame', async () => {
    const { acct, s, out, gaps, wait, trade } = await open();
    sim.delayNext({ path: '/sapi/v1/userListenToken', ms: 60_000 });
    const endedAt = sim.serverTime();
    assert.equal(sim.expireListenToken({ accountId: acct }), 1);
    const missed = trade('1');
    // the token request times out: the session ends, the stream reconnects
    await wait(() => gaps.length === 1 && !s.recovering && s.state === 'connected', 'reconnected and recovered');
    assert.equal(gaps[0].from, endedAt, 'from the end of the subscription, not the last frame (pings)');
    await settle(10, 5);
    assert.deepEqual(out.filter(isFill).map(fillKey), missed.map(key));
  });
});
