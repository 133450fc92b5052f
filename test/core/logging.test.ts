/**
 * Log levels of the core (Node-RED shows warn and error in the debug sidebar, so routine events
 * must not use them) and the listener limit of a StreamManager shared by many consumer nodes.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { WARN_AFTER_FAILURES } from '../../nodes/lib/stream/retry-policy';
import type { AccountConfig } from '../../nodes/lib/types';
import { advance, installClock, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture, attach, connKind, simConfig, testEvent } from './helpers';

const MIN = 60_000;
const HOUR = 3_600_000;

describe('core: log levels (fake timers, loopback simulator)', function () {
  this.timeout(60_000);
  let clock: Clock;
  let sim: BinanceSimulator;
  let m: StreamManager | undefined;
  let log: LogCapture;

  async function setup(market: SimMarket, extra: Partial<AccountConfig> = {}): Promise<{ accountId: string; config: AccountConfig; m: StreamManager; rec: ReturnType<typeof attach> }> {
    clock = installClock();
    sim = await BinanceSimulator.start();
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, market, 'hmac', extra);
    log = new LogCapture();
    m = new StreamManager(c.config, { logger: log });
    return { accountId, config: c.config, m, rec: attach(m) };
  }

  const lines = (level: string): string[] => log.lines.filter((l) => l.startsWith(`${level} `));

  afterEach(async () => {
    try {
      if (m) {
        const p = m.stop();
        await advance(clock, 6_000, 500);
        await p;
      }
      await sim?.stop();
    } finally {
      m = undefined;
      clock?.uninstall();
    }
  });

  for (const market of ['spot', 'margin', 'usdm-futures'] as SimMarket[]) {
    it(`${market}: server-initiated close, reconnect, rotations and serverShutdown log at info, never warn or error`, async () => {
      const { accountId, m: mgr, rec } = await setup(market, { rotateAfterMs: 2 * HOUR });
      mgr.acquire('c');
      await waitFor(() => mgr.state === 'connected', { clock, stepMs: 50 });
      // the server closes the connection (e.g. its 24 h limit, a restart): a routine reconnect
      assert.equal(sim.dropConnections({ accountId, kind: connKind(market) }), 1);
      await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 200 });
      // a make-before-break rotation by age
      await advance(clock, 2 * HOUR + MIN, 5_000);
      assert.equal(rec.rotations.length, 1);
      if (market !== 'usdm-futures') {
        assert.equal(sim.sendServerShutdown({ accountId }), 1);
        await advance(clock, 10_000, 500);
        assert.equal(rec.rotations.length, 2);
      }
      assert.equal(mgr.state, 'connected');
      assert.deepEqual(lines('warn'), [], 'no warning for routine events');
      assert.deepEqual(lines('error'), []);
      assert.ok(lines('info').some((l) => /connection ended .*reconnecting/.test(l)), log.text());
      assert.ok(lines('info').some((l) => /rotating the connection \(max-age\)/.test(l)), log.text());
      sim.injectEvent(accountId, market, testEvent(market, 1));
      await waitFor(() => rec.events.length === 1);
    });
  }

  it('spot: a watchdog trip and malformed frames are warnings', async () => {
    const { accountId, m: mgr, rec } = await setup('spot');
    mgr.acquire('c');
    await waitFor(() => mgr.state === 'connected', { clock, stepMs: 50 });
    assert.equal(sim.injectRaw({ accountId, kind: 'ws-api' }, '{"broken'), 1);
    await waitFor(() => lines('warn').length === 1, { clock, stepMs: 50 });
    assert.match(lines('warn')[0], /malformed frame ignored/);
    sim.stallConnections({ accountId });
    await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 1_000, timeoutMs: 20_000 });
    assert.equal(rec.gaps[0].reason, 'watchdog');
    assert.ok(lines('warn').some((l) => /half-open link/.test(l)), log.text());
    assert.deepEqual(lines('error'), []);
  });

  it('usdm-futures: an auth error is logged as an error once per entry into the state, its slow retries at info', async () => {
    const { config, m: mgr } = await setup('usdm-futures', { reconnect: { authRetryDelayMs: 5 * MIN } });
    sim.revokeKey(config.credentials.apiKey);
    mgr.acquire('c');
    await waitFor(() => mgr.state === 'auth-error', { clock, stepMs: 50 });
    await advance(clock, 21 * MIN, 5_000);
    assert.ok((mgr.currentState.attempt ?? 0) >= 4, `retried (${mgr.currentState.attempt})`);
    assert.equal(lines('error').length, 1, log.text());
    assert.match(lines('error')[0], /invalid API key or permissions \(-2015\); next attempt in 300 s/);
    assert.ok(lines('info').filter((l) => /invalid API key or permissions/.test(l)).length >= 3, log.text());
    assert.deepEqual(lines('warn'), []);
    assert.ok(!log.text().includes(config.credentials.apiKey));
  });

  it(`spot: failed connection attempts are info at first, warn from the ${WARN_AFTER_FAILURES}rd consecutive one; 429 warns at once`, async () => {
    const { m: mgr } = await setup('spot');
    sim.failNext({ path: '/ws-api/v3', httpStatus: 503, count: WARN_AFTER_FAILURES });
    mgr.acquire('c');
    await waitFor(() => mgr.state === 'connected', { clock, stepMs: 250, timeoutMs: 20_000 });
    const failed = log.lines.filter((l) => /connect failed/.test(l)).map((l) => l.split(' ')[0]);
    assert.deepEqual(failed, [...Array<string>(WARN_AFTER_FAILURES - 1).fill('info'), 'warn']);
    await mgr.stop();
    log.lines.length = 0;
    sim.failNext({ path: '/ws-api/v3', httpStatus: 429, code: -1003, retryAfterSec: 2 });
    mgr.acquire('c');
    await waitFor(() => mgr.state === 'connected', { clock, stepMs: 250, timeoutMs: 20_000 });
    assert.deepEqual(
      log.lines.filter((l) => /connect failed/.test(l)).map((l) => l.split(' ')[0]),
      ['warn'],
      'rate limited: abnormal',
    );
  });
});

describe('core: listeners', () => {
  it('a StreamManager takes any number of listeners (many consumer nodes on one account) without a leak warning', async () => {
    const sim = await BinanceSimulator.start();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const { id } = sim.createAccount();
      const mgr = new StreamManager(simConfig(sim, id, 'spot').config);
      assert.equal(mgr.getMaxListeners(), 0, 'no listener limit');
      for (let i = 0; i < 40; i++) {
        mgr.on('state', () => undefined);
        mgr.on('event', () => undefined);
      }
      await new Promise<void>((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
        [],
      );
    } finally {
      process.off('warning', onWarning);
      await sim.stop();
    }
  });
});
