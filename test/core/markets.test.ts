import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { waitFor } from '../support/fake-clock';
import { LogCapture, attach, connKind, isFutures, seqs, simConfig, testEvent } from './helpers';

const MARKETS: SimMarket[] = ['spot', 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures'];

/** A fresh simulator per test; the test's manager is stopped after it. */
function simulatorPerTest(started: (s: BinanceSimulator) => void, current: () => StreamManager | undefined, reset: () => void): void {
  let sim: BinanceSimulator | undefined;
  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    started(sim);
  });
  afterEach(async () => {
    await current()?.stop();
    reset();
    await sim?.stop();
  });
}

describe('core: every market subscribes and delivers events (real time, loopback simulator)', function () {
  let sim: BinanceSimulator;
  let manager: StreamManager | undefined;
  simulatorPerTest((x) => (sim = x), () => manager, () => (manager = undefined));

  for (const market of MARKETS) {
    it(`${market}: subscribes, delivers injected events without envelope, stops cleanly`, async () => {
      const { id: accountId } = sim.createAccount();
      const { config, secrets } = simConfig(sim, accountId, market);
      const log = new LogCapture();
      manager = new StreamManager(config, { logger: log });
      const rec = attach(manager);
      manager.acquire('consumer-1');
      await waitFor(() => manager!.state === 'connected', { message: `${market} connected` });
      assert.equal(sim.openConnections({ accountId, market, kind: connKind(market) }), 1);

      for (let i = 1; i <= 3; i++) assert.equal(sim.injectEvent(accountId, market, testEvent(market, i)), 1);
      await waitFor(() => rec.events.length === 3, { message: 'three events' });
      assert.deepEqual(seqs(rec.events), [1, 2, 3]);
      for (const e of rec.events) {
        assert.equal(e.market, market);
        assert.equal(e.eventType, isFutures(market) ? 'ACCOUNT_CONFIG_UPDATE' : 'balanceUpdate');
        assert.equal(e.raw.subscriptionId, undefined);
        assert.equal(e.raw.event, undefined);
      }
      assert.deepEqual(rec.states.map((s) => s.state), ['connecting', 'connected']);
      assert.equal(rec.gaps.length, 0);

      await manager.release('consumer-1');
      assert.equal(manager.state, 'stopped');
      await waitFor(() => sim.openConnections({ accountId }) === 0, { message: 'no connection left' });
      if (isFutures(market)) {
        // the key is shared by every client of the account: left to expire, never DELETEd
        assert.equal(sim.listenKeys().filter((k) => k.accountId === accountId).length, 1, 'listenKey kept');
        assert.ok(!sim.requests.some((r) => r.kind === 'rest' && r.method === 'DELETE'), 'no DELETE');
      }
      else assert.ok(sim.requests.some((r) => r.kind === 'ws-api' && r.method === 'userDataStream.unsubscribe'), 'unsubscribed');
      const text = log.text();
      for (const s of secrets) assert.ok(!text.includes(s), 'no secret in logs');
    });
  }
});

describe('core: the margin listenToken request in the form the server wants (LISTEN_TOKEN_SECURITY)', function () {
  let sim: BinanceSimulator;
  let manager: StreamManager | undefined;
  simulatorPerTest((x) => (sim = x), () => manager, () => (manager = undefined));

  for (const code of [-1106, -1101]) {
    it(`a parameter error (${code}) to the signed form: asked once more with the API key only, and that form kept`, async () => {
      const { id: accountId } = sim.createAccount();
      const { config } = simConfig(sim, accountId, 'margin');
      const log = new LogCapture();
      manager = new StreamManager(config, { logger: log });
      // a server reading the page strictly: "USER_STREAM", so timestamp/signature are not wanted
      // (-1104 with the simulator's own strict reading: test/core/misc.test.ts)
      sim.failNext({ path: '/sapi/v1/userListenToken', httpStatus: 400, code, msg: 'Parameter signature sent when not required.' });
      manager.acquire('consumer-1');
      await waitFor(() => manager!.state === 'connected', { message: 'margin connected' });
      const asked = (): Array<Record<string, string>> =>
        sim.requests.filter((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken').map((r) => r.params);
      assert.deepEqual(
        asked().map((p) => 'signature' in p),
        [true, false],
        'signed first (the default), then the key alone',
      );
      assert.match(log.text(), /the server refused the signed request \(.*-11\d\d.*\); asking with the API key only/);
      // a reconnect asks in the learnt form at once
      sim.dropConnections({ accountId });
      await waitFor(() => asked().length === 3 && manager!.state === 'connected', { message: 'reconnected' });
      assert.equal('signature' in asked()[2], false);
    });
  }

  it('an auth error is not taken for a form problem (asked once, auth-error shown)', async () => {
    const { id: accountId } = sim.createAccount();
    const { config } = simConfig(sim, accountId, 'margin');
    manager = new StreamManager(config);
    sim.failNext({ path: '/sapi/v1/userListenToken', httpStatus: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    manager.acquire('consumer-1');
    await waitFor(() => manager!.state === 'auth-error', { message: 'auth-error' });
    assert.equal(sim.requests.filter((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken').length, 1);
  });
});
