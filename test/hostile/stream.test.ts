/**
 * Hostile networks, stream level: a StreamManager against the hostile server (and the simulator
 * where the exchange's own behaviour matters), with fake timers for the long waits.
 */
import assert from 'node:assert/strict';
import { MAX_SERVER_DELAY_MS, RATE_LIMIT_INITIAL_DELAY_MS } from '../../nodes/lib/exchange/backoff';
import { WARN_BURST } from '../../nodes/lib/exchange/log-limit';
import { lookupCatalog, statusForState } from '../../nodes/red/status';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { RESTRICTED_RETRY_DELAY_MS } from '../../nodes/lib/stream/retry-policy';
import type { AccountConfig, Market } from '../../nodes/lib/types';
import { CLIENT_PING_INTERVAL_MS, HALF_OPEN_DETECTION_MS } from '../../nodes/lib/transport/ws-connection';
import { BinanceSimulator } from '../../simulator/index';
import { LogCapture, attach, simConfig, testEvent } from '../core/helpers';
import { advance, installClock, realDelay, settle, waitFor, type Clock } from '../support/fake-clock';
import { HostileServer } from './server';

const API_KEY = 'hostileStreamKey' + 'Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8L9z0X1c2V3b4N5';
const SECRET = 'hostileStreamSecret' + 'm1N2b3V4c5X6z7L8k9J0h1G2f3D4s5A6p7O8i9U0y1T2r3';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const catalog = require('../../nodes/locales/en-US/binance-account.json') as unknown;
const BINANCE_451 =
  '{"code":0,"msg":"Service unavailable from a restricted location according to \'b. Eligibility\' in https://www.binance.com/en/terms. Please contact customer service if you believe you received this message in error."}';

function hostileConfig(h: HostileServer, market: Market = 'spot', extra: Partial<AccountConfig> = {}): AccountConfig {
  return {
    market,
    environment: 'custom',
    restUrl: h.restUrl,
    wsUrl: market === 'spot' ? h.wsApiUrl : h.futuresWsUrl,
    keyType: 'hmac',
    credentials: { apiKey: API_KEY, apiSecret: SECRET },
    ...extra,
  };
}

describe('hostile networks: the stream', function () {
  let hostile: HostileServer;
  let clock: Clock | undefined;
  let manager: StreamManager | undefined;
  let log: LogCapture;

  beforeEach(async () => {
    hostile = await HostileServer.start();
    log = new LogCapture();
  });
  afterEach(async () => {
    try {
      if (manager) {
        const stopping = manager.stop();
        if (clock) await advance(clock, 6_000, 500);
        await stopping;
      }
    } finally {
      manager = undefined;
      clock?.uninstall();
      clock = undefined;
      await hostile.close();
    }
    for (const s of [API_KEY, SECRET]) assert.ok(!log.text().includes(s.slice(0, 10)), 'no part of a secret in the logs');
  });

  function start(config: AccountConfig, opts: { restTimeoutMs?: number } = {}): ReturnType<typeof attach> & { m: StreamManager } {
    const m = (manager = new StreamManager(config, { logger: log, ...opts }));
    const rec = attach(m);
    m.acquire('test');
    return { ...rec, m };
  }

  const handshakes = (): number => hostile.requests.filter((r) => r.method === 'UPGRADE').length;

  it('a trickled clock sync does not leave the account in connecting: it is abandoned, logged, and the stream connects', async () => {
    hostile.on('GET', '/api/v3/time', (_req, res) => {
      // a valid answer that would take 10 s to arrive in full
      const body = `{"serverTime":1700000000000}${' '.repeat(372)}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      hostile.trickle(res, body, 25);
    });
    const { m } = start(hostileConfig(hostile), { restTimeoutMs: 300 });
    await waitFor(() => m.state === 'connected', { timeoutMs: 5_000, message: 'connected despite the trickled clock sync' });
    assert.match(log.text(), /^info .*clock sync failed/m);
  });

  it('Retry-After: 3000000 on the handshake is clamped: one wait of the maximum, no reconnect storm', async () => {
    clock = installClock();
    hostile.onUpgradeRequest((_req, socket) =>
      HostileServer.refuseUpgrade(socket, 429, { 'Retry-After': '3000000' }, '{"code":-1003,"msg":"Too many requests."}'),
    );
    const { m } = start(hostileConfig(hostile));
    await waitFor(() => m.state === 'reconnecting', { clock, stepMs: 50 });
    assert.equal(m.currentState.delayMs, MAX_SERVER_DELAY_MS, 'clamped to the maximum');
    await advance(clock, 3_000, 250);
    assert.equal(handshakes(), 1, 'no further attempt within 3 s (setTimeout overflow would fire at once)');
    await advance(clock, MAX_SERVER_DELAY_MS - 3_000 + 1_000, 30_000);
    assert.equal(handshakes(), 2, 'the next attempt after the clamped wait');
  });

  it('429 without Retry-After backs off exponentially from 30 s, not within a second', async () => {
    clock = installClock();
    hostile.onUpgradeRequest((_req, socket) => HostileServer.refuseUpgrade(socket, 429, {}, '{"code":-1003,"msg":"Too many requests."}'));
    const { m, states } = start(hostileConfig(hostile));
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      await waitFor(() => states.filter((s) => s.state === 'reconnecting').length > i, { clock, stepMs: 1_000, maxFakeMs: 20 * 60_000, timeoutMs: 20_000 });
      delays.push(states.filter((s) => s.state === 'reconnecting')[i].delayMs ?? -1);
    }
    assert.deepEqual(delays, [1, 2, 4, 8].map((f) => f * RATE_LIMIT_INITIAL_DELAY_MS));
    assert.ok(log.lines.some((l) => /^warn .*429/.test(l)));
    assert.equal(m.state, 'reconnecting');
  });

  for (const where of ['handshake', 'rest'] as const) {
    it(`HTTP 451 (${where === 'handshake' ? 'WebSocket handshake' : 'REST listenKey'}): a red status that says so, retried every ${RESTRICTED_RETRY_DELAY_MS / 60_000} minutes`, async () => {
      clock = installClock();
      let attempts = 0;
      if (where === 'handshake') {
        hostile.onUpgradeRequest((_req, socket) => {
          attempts++;
          HostileServer.refuseUpgrade(socket, 451, {}, BINANCE_451);
        });
      } else {
        hostile.on('POST', '/fapi/v1/listenKey', (_req, res) => {
          attempts++;
          res.writeHead(451, { 'content-type': 'application/json' }).end(BINANCE_451);
        });
      }
      const { m } = start(hostileConfig(hostile, where === 'handshake' ? 'spot' : 'usdm-futures'));
      await waitFor(() => attempts === 1 && m.state !== 'connecting', { clock, stepMs: 50 });
      assert.equal(m.state, 'error');
      assert.equal(m.currentState.code, 451);
      assert.match(m.currentState.message ?? '', /not available from this location/);
      const status = statusForState(m.currentState);
      assert.equal(status.fill, 'red');
      assert.equal(status.key, 'restricted-location');
      assert.equal(lookupCatalog(catalog, `binance-account.status.${status.key}`), 'restricted location');
      assert.equal(m.currentState.delayMs, RESTRICTED_RETRY_DELAY_MS);
      assert.equal(log.lines.filter((l) => l.startsWith('error ')).length, 1, 'one error line');
      await advance(clock, RESTRICTED_RETRY_DELAY_MS - 1_000, 30_000);
      assert.equal(attempts, 1, 'not retried every minute');
      await advance(clock, 2_000, 500);
      assert.equal(attempts, 2, 'retried slowly');
      assert.equal(m.state, 'error');
      assert.equal(log.lines.filter((l) => l.startsWith('error ')).length, 1, 'the slow retries are not errors again');
    });
  }

  it('a refused handshake with the key straddling the cut of its error text: neither the state nor the log holds any part of it', async () => {
    clock = installClock();
    hostile.onUpgradeRequest((_req, socket) =>
      HostileServer.refuseUpgrade(socket, 400, {}, JSON.stringify({ code: -1100, msg: `${'m'.repeat(190)}${API_KEY}${'n'.repeat(400)}` })),
    );
    const { m } = start(hostileConfig(hostile));
    await waitFor(() => m.state === 'reconnecting', { clock, stepMs: 50 });
    const text = `${m.currentState.message ?? ''}\n${log.text()}`;
    assert.match(m.currentState.message ?? '', /HTTP 400 -1100 m+\*\*\*/);
    assert.ok(!text.includes(API_KEY.slice(0, 8)), text);
  });

  it('a WS-API subscribe error with the key straddling a cut: neither the state nor the log holds any part of it', async () => {
    clock = installClock();
    // the error text is cut at 500 characters: put the key across the cut
    hostile.subscribeAnswer = (id) => ({ id, status: 400, error: { code: -1100, msg: `${'m'.repeat(440)}${API_KEY}${'n'.repeat(400)}` } });
    const { m } = start(hostileConfig(hostile));
    await waitFor(() => m.state === 'reconnecting', { clock, stepMs: 50 });
    const text = `${m.currentState.message ?? ''}\n${log.text()}`;
    assert.match(m.currentState.message ?? '', /userDataStream\.subscribe\.signature failed: 400 -1100 m+/);
    assert.ok(!text.includes(API_KEY.slice(0, 8)), text);
  });

  it(`a flood of malformed and binary frames logs at most ${WARN_BURST} warnings of each kind, then one summary with the count`, async () => {
    hostile.onFrame = (conn, text) => {
      if (!text.includes('subscribe.signature')) return;
      setImmediate(() => {
        for (let i = 0; i < 500; i++) conn.ws.send(`{"broken ${i}`);
        for (let i = 0; i < 500; i++) conn.ws.send(Buffer.from([1, 2, 3, i & 0xff]), { binary: true });
        conn.ws.send(JSON.stringify({ subscriptionId: 1, event: { e: 'balanceUpdate', E: 1, a: 'USDT', d: '1', T: 1 } }));
      });
    };
    const { m, events } = start(hostileConfig(hostile));
    await waitFor(() => events.length === 1, { timeoutMs: 10_000, message: 'the event after the flood' });
    const warns = (re: RegExp): string[] => log.lines.filter((l) => l.startsWith('warn ') && re.test(l));
    // (a binary frame is also a malformed one: 1000 malformed frames in all)
    assert.equal(warns(/malformed frame ignored/).length, WARN_BURST, log.text().slice(0, 2_000));
    assert.equal(warns(/unexpected binary frame/).length, WARN_BURST);
    await m.stop();
    manager = undefined;
    assert.ok(log.lines.some((l) => /^warn .*malformed frame: 997 more like this in the last \d+ s \(not logged\)/.test(l)), log.text().slice(-2_000));
    assert.ok(log.lines.some((l) => /^warn .*unexpected binary frame: 497 more like this/.test(l)));
    assert.ok(log.lines.length < 100, `the log stays short (${log.lines.length} lines)`);
  });

  for (const market of ['spot', 'usdm-futures'] as Market[]) {
    it(`${market}: a frozen socket (half-open: no pong, no frame) is replaced within 10 s by our own pings; re-subscribed, gap reported`, async () => {
      clock = installClock();
      hostile.freezeNextAfterSubscribe = 1;
      const { m, gaps, events } = start(hostileConfig(hostile, market));
      await waitFor(() => m.state === 'connected', { clock, stepMs: 50 });
      const frozenAt = Date.now();
      assert.equal(hostile.wsConnections[0].frozen, true);
      // 10 s of fake time, in fine steps (real I/O runs between them)
      await advance(clock, 10_000, 250);
      assert.equal(gaps.length, 1, `replaced within 10 s (gaps: ${JSON.stringify(gaps)}; log: ${log.text().slice(-1_500)})`);
      assert.equal(gaps[0].reason, 'watchdog');
      assert.ok(gaps[0].from <= frozenAt && gaps[0].to - frozenAt <= 10_000);
      assert.ok(gaps[0].to - gaps[0].from <= 10_000, 'down for at most 10 s');
      assert.equal(m.state, 'connected');
      assert.equal(hostile.wsConnections.length, 2, 'a new connection');
      if (market === 'spot') assert.ok(hostile.wsConnections[1].frames.some((f) => f.includes('userDataStream.subscribe.signature')), 're-subscribed');
      assert.match(log.text(), /^warn .*half-open link/m);
      // the new connection works
      const fresh = hostile.wsConnections[1];
      fresh.ws.send(JSON.stringify(market === 'spot' ? { subscriptionId: 2, event: testEvent('spot', 1) } : testEvent('usdm-futures', 1)));
      await waitFor(() => events.length === 1, { clock, stepMs: 50 });
      // within Binance's per-connection message limit (futures: 10 incoming messages/s, pings included)
      const pingsBefore = fresh.pings;
      await advance(clock, 60_000, 250);
      const pings = fresh.pings - pingsBefore;
      assert.ok(pings >= 1 && pings <= 60_000 / CLIENT_PING_INTERVAL_MS + 1, `${pings} pings in 60 s`);
      assert.ok(HALF_OPEN_DETECTION_MS < 10_000);
    });
  }

  it('stop() aborts REST calls in flight through manager.rest, and no timer of the stopped account survives', async () => {
    clock = installClock();
    let hung = 0;
    hostile.on('GET', '/fapi/v1/userTrades', () => {
      hung++; // never answered
    });
    const { m } = start(hostileConfig(hostile, 'usdm-futures'));
    await waitFor(() => m.state === 'connected', { clock, stepMs: 50 });
    const call = m.rest.request('GET', '/fapi/v1/userTrades', { symbol: 'BTCUSDT' }, { security: 'signed' });
    const settled = call.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    await waitFor(() => hung === 1, { timeoutMs: 5_000 });
    const stopping = m.stop();
    await advance(clock, 6_000, 500);
    await stopping;
    manager = undefined;
    const r = await Promise.race([settled, realDelay(2_000).then(() => 'still pending')]);
    assert.match(r, /GET \/fapi\/v1\/userTrades: aborted \(the account was stopped\)/);
    await settle(5);
    assert.equal(clock.countTimers(), 0, 'no timer left');
    assert.equal(m.state, 'stopped');
  });

  describe('a margin listenToken with an expiry no real token has (simulator)', () => {
    let sim: BinanceSimulator;
    afterEach(async () => {
      await sim.stop();
    });

    // A token "valid" for 3 000 years: its renewal delay overflowed setTimeout, which Node then
    // fires at once — a renewal loop (14 token requests and subscriptions in 4 s before the fix).
    it('an expiry years ahead renews no sooner than for a 24-hour token: one token request, one subscription', async () => {
      sim = await BinanceSimulator.start({ listenTokenMaxValidityMs: 1e14 });
      const { id } = sim.createAccount();
      const { config } = simConfig(sim, id, 'margin');
      const m = (manager = new StreamManager(config, { logger: log }));
      m.acquire('a');
      await waitFor(() => m.state === 'connected', { timeoutMs: 5_000 });
      await realDelay(1_500);
      const tokens = sim.requests.filter((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken').length;
      const subs = sim.requests.filter((r) => r.kind === 'ws-api' && r.method === 'userDataStream.subscribe.listenToken').length;
      assert.deepEqual({ tokens, subs, state: m.state }, { tokens: 1, subs: 1, state: 'connected' });
    });
  });

  describe('a futures listenKey shared by two clients of one account (simulator)', () => {
    let sim: BinanceSimulator;
    afterEach(async () => {
      await sim.stop();
    });

    it('stopping one does not DELETE the key: the other keeps its stream, without a gap', async () => {
      sim = await BinanceSimulator.start();
      const { id } = sim.createAccount();
      const { config } = simConfig(sim, id, 'usdm-futures');
      const a = new StreamManager(config, { logger: log });
      const b = (manager = new StreamManager(config, { logger: log }));
      const ra = attach(a);
      const rb = attach(b);
      a.acquire('a');
      b.acquire('b');
      await waitFor(() => a.state === 'connected' && b.state === 'connected', { timeoutMs: 5_000 });
      assert.equal(new Set(sim.listenKeys().filter((k) => k.accountId === id).map((k) => k.listenKey)).size, 1, 'one key for both');
      await a.stop();
      assert.equal(sim.requests.filter((r) => r.method === 'DELETE').length, 0, 'no DELETE');
      assert.equal(sim.injectEvent(id, 'usdm-futures', testEvent('usdm-futures', 1)), 1);
      await waitFor(() => rb.events.length === 1, { timeoutMs: 5_000, message: 'the other client still receives' });
      await realDelay(50);
      assert.equal(rb.gaps.length, 0);
      assert.equal(b.state, 'connected');
      assert.equal(ra.events.length, 0);
    });
  });
});
