/**
 * Lifecycle against the loopback simulator with fake timers (real sockets): long runs with expiry
 * and rotations, random socket kills, watchdog, serverShutdown, auth errors, 429, stop().
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket, type SimulatorOptions } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import type { AccountConfig } from '../../nodes/lib/types';
import { HALF_OPEN_DETECTION_MS, PONG_TIMEOUT_MS } from '../../nodes/lib/transport/ws-connection';
import { advance, installClock, settle, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture, StallProxy, attach, connKind, isFutures, seqs, simConfig, testEvent } from './helpers';
import { prng } from '../support/prng';

const HOUR = 3_600_000;
const MIN = 60_000;
const ALL: SimMarket[] = ['spot', 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures'];

describe('core lifecycle (fake timers, loopback simulator)', function () {
  this.timeout(180_000);
  let clock: Clock;
  let sim: BinanceSimulator;
  let manager: StreamManager | undefined;
  let log: LogCapture;
  let secrets: string[];

  async function setup(market: SimMarket, simOpts: SimulatorOptions = {}, extra: Partial<AccountConfig> = {}, keyType: AccountConfig['keyType'] = 'hmac') {
    clock = installClock();
    sim = await BinanceSimulator.start(simOpts);
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, market, keyType, extra);
    secrets = c.secrets;
    log = new LogCapture();
    manager = new StreamManager(c.config, { logger: log });
    const rec = attach(manager);
    return { accountId, config: c.config, rec, m: manager };
  }

  async function connected(m: StreamManager): Promise<void> {
    await waitFor(() => m.state === 'connected', { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
  }

  afterEach(async () => {
    try {
      if (manager) {
        const p = manager.stop();
        await advance(clock, 6_000, 500);
        await p;
      }
      await sim?.stop();
    } finally {
      manager = undefined;
      clock?.uninstall();
    }
    const text = log?.text() ?? '';
    for (const s of secrets ?? []) assert.ok(!text.includes(s), 'a secret leaked into the logs');
  });

  for (const market of ALL) {
    it(`${market}: 25 simulated hours with ${isFutures(market) ? 'listenKey expiry' : market === 'spot' ? 'a dropped connection' : 'listenToken expiry'} and two rotations: every event exactly once`, async () => {
      const simOpts: SimulatorOptions = market === 'margin' || market === 'isolated-margin' ? { listenTokenMaxValidityMs: 6 * HOUR } : {};
      const { accountId, rec, m } = await setup(market, simOpts, { rotateAfterMs: 9 * HOUR });
      m.acquire('c1');
      await connected(m);
      let seq = 0;
      const expected: number[] = [];
      const inject = (): void => {
        seq += 1;
        if (sim.injectEvent(accountId, market, testEvent(market, seq)) > 0) expected.push(seq);
      };
      // Right after each rotation the old connection still gets events: they must arrive once.
      let overlapDeliveries = 0;
      m.on('rotated', () => {
        seq += 1;
        const n = sim.injectEvent(accountId, market, testEvent(market, seq));
        if (n > 0) expected.push(seq);
        if (n > 1) overlapDeliveries += 1;
      });
      let expiredAt = -1;
      for (let t = 0; t < 25 * HOUR; t += 10 * MIN) {
        inject();
        if (t === 5 * HOUR) {
          expiredAt = Date.now();
          if (isFutures(market)) {
            for (const k of sim.listenKeys().filter((x) => x.accountId === accountId)) sim.expireListenKey(k.listenKey);
          } else if (market !== 'spot') {
            assert.ok(sim.expireListenToken({ accountId }) >= 1);
          } else {
            sim.dropConnections({ accountId });
          }
          inject(); // lost while down (not expected) or delivered after re-subscribe
        }
        await advance(clock, 10 * MIN, 5_000);
      }
      await settle(10, 5);
      assert.ok(expected.length >= 140, `most events delivered (${expected.length})`);
      assert.deepEqual(seqs(rec.events), expected, 'every delivered event exactly once, in order');
      assert.equal(rec.rotations.length, 2, 'two rotations');
      assert.ok(rec.rotations.every((r) => r.reason === 'max-age'));
      assert.equal(overlapDeliveries, 2, 'both rotations had an event sent on both connections');
      const expiryGap = rec.gaps.find((g) => g.from >= expiredAt - 60_000 && g.from <= expiredAt + 60_000);
      assert.ok(expiryGap, `a gap reported around the expiry: ${JSON.stringify(rec.gaps)}`);
      const reason = isFutures(market) ? 'listenKeyExpired' : market === 'spot' ? 'reconnect' : 'eventStreamTerminated';
      assert.equal(expiryGap.reason, reason);
      assert.ok(expiryGap.to >= expiryGap.from);
      assert.equal(rec.gaps.length, 1, `only the expiry gap: ${JSON.stringify(rec.gaps)}`);
      assert.equal(m.state, 'connected');
      assert.equal(sim.openConnections({ accountId, kind: connKind(market) }), 1);
      if (isFutures(market)) {
        const puts = sim.requests.filter((r) => r.kind === 'rest' && r.method === 'PUT' && /listenKey/.test(r.path));
        assert.ok(puts.length >= 45 && puts.length <= 52, `keepalive every 30 min (${puts.length})`);
      }
      if (market === 'margin' || market === 'isolated-margin') {
        const tokens = sim.requests.filter((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken');
        assert.ok(tokens.length >= 6, `tokens renewed before expiry (${tokens.length})`);
      }
    });
  }

  for (const market of ['spot', 'coinm-futures'] as SimMarket[]) {
    it(`${market}: default settings rotate at 23 h, before the server's 24 h limit, without a gap`, async () => {
      const { accountId, rec, m } = await setup(market);
      m.acquire('c1');
      await connected(m);
      const startedAt = Date.now();
      await advance(clock, 24 * HOUR + 30 * MIN, 5_000);
      assert.equal(rec.rotations.length, 1);
      const at = rec.rotations[0].at - startedAt;
      assert.ok(at >= 23 * HOUR && at < 23 * HOUR + MIN, `rotated after ${at} ms`);
      assert.equal(rec.gaps.length, 0);
      assert.ok(rec.states.every((s) => s.state !== 'reconnecting'));
      assert.equal(sim.openConnections({ accountId }), 1);
      sim.injectEvent(accountId, market, testEvent(market, 1));
      await waitFor(() => rec.events.length === 1);
    });
  }

  for (const market of ['spot', 'usdm-futures', 'margin'] as SimMarket[]) {
    it(`${market}: killing the socket at random (seeded) moments reconnects and re-subscribes`, async () => {
      const { accountId, rec, m } = await setup(market);
      m.acquire('c1');
      await connected(m);
      const rnd = prng(0xc0ffee + market.length);
      const subscribes = (): number =>
        sim.requests.filter((r) => (isFutures(market) ? r.kind === 'ws-connect' : r.kind === 'ws-api' && /^userDataStream\.subscribe/.test(r.method))).length;
      const before = subscribes();
      let seq = 0;
      for (let i = 0; i < 8; i++) {
        await advance(clock, Math.floor(rnd() * 20 * MIN), 5_000);
        assert.equal(sim.dropConnections({ accountId, kind: connKind(market) }), 1);
        await waitFor(() => m.state === 'reconnecting', { message: 'reconnecting after the kill' });
        const st = m.currentState;
        assert.equal(st.attempt, 1);
        assert.ok(st.delayMs !== undefined && st.delayMs <= 1_000, 'first retry within a second');
        await connected(m);
        seq += 1;
        assert.equal(sim.injectEvent(accountId, market, testEvent(market, seq)), 1);
        await waitFor(() => rec.events.length === seq);
      }
      assert.equal(subscribes() - before, 8, 're-subscribed after each kill');
      assert.equal(rec.gaps.length, 8);
      assert.ok(rec.gaps.every((g) => g.reason === 'reconnect' && g.to >= g.from));
      assert.deepEqual(seqs(rec.events), [1, 2, 3, 4, 5, 6, 7, 8]);
    });
  }

  /** Waits for the watchdog to trip on a link stalled at `stalledAt`; checks timing, log and recovery. */
  async function expectWatchdogTrip(
    market: SimMarket,
    accountId: string,
    rec: ReturnType<typeof attach>,
    m: StreamManager,
    stalledAt: number,
  ): Promise<void> {
    // our own pings find the dead link within HALF_OPEN_DETECTION_MS of its last frame
    await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 250, maxFakeMs: 60_000, timeoutMs: 30_000, message: 'watchdog gap' });
    const gap = rec.gaps[0];
    assert.equal(gap.reason, 'watchdog');
    assert.ok(gap.from <= stalledAt);
    const trippedAt = rec.states.find((s) => s.state === 'reconnecting')?.at ?? 0;
    assert.ok(trippedAt - gap.from >= PONG_TIMEOUT_MS, 'not before a ping went unanswered');
    assert.ok(trippedAt - gap.from <= HALF_OPEN_DETECTION_MS + 1_000, `within the half-open limit (${trippedAt - gap.from} ms)`);
    assert.ok(gap.to - gap.from <= 10_000, `replaced within 10 s (${gap.to - gap.from} ms)`);
    assert.match(log.text(), /^warn .*half-open link/m, 'the watchdog trip is a warning');
    assert.equal(m.state, 'connected');
    // the stalled server-side connection may linger; events reach the new one
    sim.injectEvent(accountId, market, testEvent(market, 1));
    await waitFor(() => rec.events.length === 1);
  }

  for (const market of ['spot', 'margin', 'usdm-futures', 'coinm-futures'] as SimMarket[]) {
    it(`${market}: a half-open link (simulator stall: no pong, no frame at all) trips the silence watchdog and reconnects`, async () => {
      const { accountId, rec, m } = await setup(market);
      m.acquire('c1');
      await connected(m);
      await advance(clock, 10 * MIN, 5_000);
      await advance(clock, 10_000, 250);
      assert.equal(rec.gaps.length, 0, 'healthy link: no watchdog trip');
      const stalledAt = Date.now();
      assert.equal(sim.stallConnections({ accountId, kind: connKind(market) }), 1);
      await expectWatchdogTrip(market, accountId, rec, m, stalledAt);
    });
  }

  it('spot: a half-open link at the TCP level (proxy drops every byte) trips the watchdog too', async () => {
    // Independent of the simulator's own stall emulation: nothing crosses the proxy in either direction.
    clock = installClock();
    sim = await BinanceSimulator.start();
    const proxy = await StallProxy.start(sim.port);
    try {
      const { id: accountId } = sim.createAccount();
      const c = simConfig(sim, accountId, 'spot');
      c.config.wsUrl = proxy.via(c.config.wsUrl!);
      secrets = c.secrets;
      log = new LogCapture();
      const m = (manager = new StreamManager(c.config, { logger: log }));
      const rec = attach(m);
      m.acquire('c1');
      await connected(m);
      await advance(clock, 10 * MIN, 5_000);
      await advance(clock, 10_000, 250);
      assert.equal(rec.gaps.length, 0, 'healthy link: no watchdog trip');
      const stalledAt = Date.now();
      assert.equal(proxy.stall(), 1);
      await expectWatchdogTrip('spot', accountId, rec, m, stalledAt);
    } finally {
      await proxy.close();
    }
  });

  for (const market of ['spot', 'margin'] as SimMarket[]) {
    it(`${market}: serverShutdown rotates make-before-break with nothing lost or duplicated`, async () => {
      const { accountId, rec, m } = await setup(market);
      m.acquire('c1');
      await connected(m);
      sim.injectEvent(accountId, market, testEvent(market, 1));
      let seq = 1;
      const deliveries: number[] = [];
      // Right when the new connection is subscribed (the old one not yet closed), events reach both.
      m.on('rotated', () => {
        for (let i = 0; i < 3; i++) {
          seq += 1;
          deliveries.push(sim.injectEvent(accountId, market, testEvent(market, seq)));
        }
      });
      sim.clearRequests();
      assert.equal(sim.sendServerShutdown({ accountId }), 1);
      // Events keep coming during the grace period.
      for (let i = 0; i < 20; i++) {
        seq += 1;
        deliveries.push(sim.injectEvent(accountId, market, testEvent(market, seq)));
        await advance(clock, 500, 250);
      }
      assert.ok(deliveries.includes(2), `events went to both connections during the overlap: ${deliveries.join(',')}`);
      // make-before-break: the new subscription precedes the unsubscribe of the old connection
      const order = sim.requests.map((r) => (r.kind === 'ws-api' ? r.method : r.kind)).filter((x) => /subscribe|ws-connect/.test(x));
      assert.ok(order.indexOf('ws-connect') < order.indexOf('userDataStream.unsubscribe'), order.join(' '));
      assert.ok(order.findIndex((x) => x.startsWith('userDataStream.subscribe')) < order.indexOf('userDataStream.unsubscribe'), order.join(' '));
      await advance(clock, 10_000, 1_000);
      seq += 1;
      assert.equal(sim.injectEvent(accountId, market, testEvent(market, seq)), 1, 'only the new connection is left');
      await waitFor(() => rec.events.length === seq);
      assert.deepEqual(seqs(rec.events), Array.from({ length: seq }, (_, i) => i + 1));
      assert.deepEqual(rec.rotations.map((r) => r.reason), ['serverShutdown']);
      assert.equal(rec.gaps.length, 0);
      assert.equal(sim.openConnections({ accountId }), 1);
      assert.ok(!rec.states.some((s) => s.state === 'reconnecting'));
    });
  }

  for (const market of ['spot', 'usdm-futures', 'margin'] as SimMarket[]) {
    it(`${market}: an invalid key gives the auth-error state and slow retries`, async () => {
      const { config, rec, m } = await setup(market, {}, { reconnect: { authRetryDelayMs: 5 * MIN } });
      sim.revokeKey(config.credentials.apiKey);
      sim.clearRequests();
      m.acquire('c1');
      await waitFor(() => m.state === 'auth-error', { message: 'auth-error' });
      const st = m.currentState;
      assert.match(st.message ?? '', /^invalid API key or permissions \(-2015\)$/);
      assert.equal(st.code, -2015);
      assert.equal(st.attempt, 1);
      assert.equal(st.delayMs, 5 * MIN);
      await advance(clock, 30 * MIN + 1_000, 5_000);
      const attempts = sim.requests.filter((r) => r.apiKey === config.credentials.apiKey && r.errorCode === -2015).length;
      assert.ok(attempts >= 6 && attempts <= 8, `about one attempt per 5 minutes (${attempts})`);
      assert.equal(m.state, 'auth-error');
      assert.equal(m.currentState.attempt, attempts);
      assert.ok(rec.states.every((s) => s.state !== 'connected'));
    });
  }

  it('spot: 429 on subscribe waits out retryAfter', async () => {
    const { rec, m } = await setup('spot');
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 429, code: -1003, msg: 'Too many requests.', retryAfterSec: 40 });
    sim.clearRequests();
    m.acquire('c1');
    await waitFor(() => m.state === 'reconnecting');
    const st = m.currentState;
    assert.equal(st.code, -1003);
    assert.ok(st.delayMs !== undefined && st.delayMs >= 39_000 && st.delayMs <= 41_000, `delay ${st.delayMs}`);
    await advance(clock, 38_000, 1_000);
    const subs = (): number => sim.requests.filter((r) => r.method === 'userDataStream.subscribe.signature').length;
    assert.equal(subs(), 1, 'no retry before retryAfter');
    await advance(clock, 4_000, 500);
    await connected(m);
    assert.equal(subs(), 2);
    assert.equal(rec.states.filter((s) => s.state === 'reconnecting').length, 1);
  });

  it("spot: a 418 on subscribe waits until the ban's retryAfter on the server's clock, even when ours runs ahead", async () => {
    // retryAfter is a timestamp of the exchange's clock (error.data.{serverTime, retryAfter},
    // web-socket-api.md "Rate limits", 2026-07-21). Our clock 90 s ahead of the exchange's: waiting
    // `retryAfter - Date.now()` would retry 90 s before the ban is lifted.
    const { m } = await setup('spot');
    sim.setClockOffset(-90_000);
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 418, code: -1003, msg: 'Way too many requests; IP banned.', retryAfterSec: 150 });
    sim.clearRequests();
    m.acquire('c1');
    await waitFor(() => m.state === 'reconnecting');
    const st = m.currentState;
    assert.equal(st.code, -1003);
    assert.ok(st.delayMs !== undefined && st.delayMs >= 149_000 && st.delayMs <= 151_000, `delay ${st.delayMs}`);
    const subs = (): number => sim.requests.filter((r) => r.method === 'userDataStream.subscribe.signature').length;
    await advance(clock, 145_000, 5_000);
    assert.equal(subs(), 1, 'no retry while banned');
    await advance(clock, 8_000, 1_000);
    await connected(m);
  });

  it('spot: a refused WebSocket handshake (418, no Retry-After) waits at least 2 minutes', async () => {
    const { m } = await setup('spot');
    sim.failNext({ path: '/ws-api/v3', httpStatus: 418, code: -1003, msg: 'Way too many requests; IP banned.' });
    sim.clearRequests();
    m.acquire('c1');
    await waitFor(() => m.state === 'reconnecting');
    assert.equal(m.currentState.code, -1003);
    assert.ok((m.currentState.delayMs ?? 0) >= 120_000, `delay ${m.currentState.delayMs}`);
    await advance(clock, 115_000, 5_000);
    assert.equal(sim.requests.filter((r) => r.kind === 'ws-connect').length, 1, 'no connection attempt while banned');
    await advance(clock, 10_000, 1_000);
    await connected(m);
  });

  for (const market of ['spot', 'usdm-futures'] as SimMarket[]) {
    it(`${market}: a refused WebSocket handshake (429 with Retry-After) waits that long`, async () => {
      const { m } = await setup(market);
      sim.failNext({ path: market === 'spot' ? '/ws-api/v3' : /^\/private\//, httpStatus: 429, code: -1003, retryAfterSec: 45 });
      sim.clearRequests();
      m.acquire('c1');
      await waitFor(() => m.state === 'reconnecting');
      assert.equal(m.currentState.code, -1003);
      const delay = m.currentState.delayMs ?? 0;
      assert.ok(delay >= 45_000 && delay <= 46_000, `delay ${delay}`);
      await advance(clock, 43_000, 1_000);
      assert.equal(sim.requests.filter((r) => r.kind === 'ws-connect').length, 1, 'no connection attempt before Retry-After');
      await advance(clock, 4_000, 500);
      await connected(m);
      assert.equal(sim.requests.filter((r) => r.kind === 'ws-connect').length, 2);
    });
  }

  it('usdm-futures: REST 429 on POST listenKey honours Retry-After', async () => {
    const { m } = await setup('usdm-futures');
    sim.failNext({ path: '/fapi/v1/listenKey', httpStatus: 429, code: -1003, retryAfterSec: 25 });
    sim.clearRequests();
    m.acquire('c1');
    await waitFor(() => m.state === 'reconnecting');
    assert.ok((m.currentState.delayMs ?? 0) >= 25_000);
    await advance(clock, 24_000, 1_000);
    assert.equal(sim.requests.filter((r) => r.method === 'POST' && r.path === '/fapi/v1/listenKey').length, 1);
    await advance(clock, 2_000, 500);
    await connected(m);
  });

  it('spot: -1021 re-syncs the clock offset and subscribes; signed REST too', async () => {
    const { accountId, rec, m } = await setup('spot');
    sim.setClockOffset(30_000); // server 30 s ahead: our timestamp is outside recvWindow
    m.acquire('c1');
    await connected(m);
    assert.ok(Math.abs(m.rest.clock.offsetMs - 30_000) < 2_000, `offset ${m.rest.clock.offsetMs}`);
    // The server clock jumps while we are connected: the next subscribe gets -1021 once.
    sim.setClockOffset(-40_000);
    sim.clearRequests();
    sim.dropConnections({ accountId });
    await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 200 });
    const subs = sim.requests.filter((r) => r.method === 'userDataStream.subscribe.signature');
    assert.deepEqual(subs.map((r) => r.errorCode), [-1021, undefined]);
    assert.ok(Math.abs(m.rest.clock.offsetMs + 40_000) < 2_000, `offset ${m.rest.clock.offsetMs}`);
    sim.setClockOffset(25_000);
    sim.clearRequests();
    const acct = await m.rest.request<{ balances?: unknown }>('GET', '/api/v3/account', {}, { security: 'signed' });
    assert.ok(acct.balances);
    assert.deepEqual(sim.requests.filter((r) => r.path === '/api/v3/account').map((r) => r.errorCode), [-1021, undefined]);
  });

  for (const market of ['spot', 'usdm-futures', 'isolated-margin'] as SimMarket[]) {
    it(`${market}: after stop() no connection is open and no timer is pending`, async () => {
      const { accountId, rec, m } = await setup(market);
      m.acquire('c1');
      m.acquire('c2');
      await connected(m);
      await advance(clock, 45 * MIN, 5_000);
      await m.release('c1');
      assert.equal(m.state, 'connected', 'still used by c2');
      const p = m.release('c2');
      await advance(clock, 100, 50);
      await p;
      assert.equal(m.state, 'stopped');
      assert.equal(m.consumerCount, 0);
      assert.equal(sim.openConnections({ accountId }), 0);
      await sim.stop();
      assert.equal(clock.countTimers(), 0, 'no timer left pending');
      assert.equal(rec.states.at(-1)?.state, 'stopped');
      manager = undefined;
    });
  }

  it('spot: stop() resolves within 5 s (fake) even when the connection is stalled', async () => {
    const { accountId, m } = await setup('spot');
    m.acquire('c1');
    await connected(m);
    sim.stallConnections({ accountId });
    let done = false;
    const p = m.stop().then(() => {
      done = true;
    });
    await advance(clock, 5_000, 250);
    assert.ok(done, 'stopped within 5 s');
    await p;
    await waitFor(() => sim.openConnections({ accountId }) === 0);
    manager = undefined;
  });
});
