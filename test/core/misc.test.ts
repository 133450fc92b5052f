/**
 * Registry sharing, key types, frame handling (malformed, control, envelopes), configuration
 * errors, rotation failures and futures keepalive failures.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { getSharedManager, sharedManagerCount, stopAllSharedManagers } from '../../nodes/lib/stream/registry';
import type { AccountConfig, KeyType } from '../../nodes/lib/types';
import { advance, installClock, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture, attach, seqs, simConfig, testEvent } from './helpers';

const MIN = 60_000;
const HOUR = 3_600_000;

describe('core: registry (one manager per account)', () => {
  let sim: BinanceSimulator;
  beforeEach(async () => {
    sim = await BinanceSimulator.start();
  });
  afterEach(async () => {
    await stopAllSharedManagers();
    await sim.stop();
  });

  it('shares one live manager per identity, drops it on stop, takes it back on restart', async () => {
    const { id: accountId } = sim.createAccount();
    const { config } = simConfig(sim, accountId, 'spot');
    const a = getSharedManager(config);
    const b = getSharedManager({ ...config, credentials: { ...config.credentials } });
    assert.equal(a, b, 'same identity → same manager');
    assert.match(a.id, /^spot:custom:[0-9a-f]{6}$/);
    assert.ok(!a.id.includes(config.credentials.apiKey));
    const other = simConfig(sim, accountId, 'spot');
    const c = getSharedManager(other.config);
    assert.notEqual(a, c, 'other key → other manager');
    const before = sharedManagerCount();

    a.acquire('n1');
    a.acquire('n2');
    a.acquire('n2');
    assert.equal(a.consumerCount, 2);
    await waitFor(() => a.state === 'connected');
    assert.equal(sim.openConnections({ accountId }), 1, 'one connection for two consumers');
    await a.release('n1');
    assert.equal(a.state, 'connected');
    await a.release('n2');
    assert.equal(a.state, 'stopped');
    assert.equal(sharedManagerCount(), before - 1, 'dropped from the registry when stopped');
    const fresh = getSharedManager(config);
    assert.notEqual(fresh, a, 'a stopped manager is not handed out');

    // A consumer that kept the stopped manager may start it again (config node kept across deploys).
    const d = getSharedManager(other.config);
    assert.equal(d, c);
    c.acquire('x');
    await waitFor(() => c.state === 'connected');
    const p = c.release('x');
    c.acquire('y'); // acquired while stopping: restarts once stopped
    await p;
    await waitFor(() => c.state === 'connected');
    assert.equal(getSharedManager(other.config), c, 'registered again after restart');
    await c.release('y');
    await waitFor(() => sim.openConnections({ accountId }) === 0);
  });
});

describe('core: key types, frames and configuration (real time)', () => {
  let sim: BinanceSimulator;
  let m: StreamManager | undefined;
  let log: LogCapture;
  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    log = new LogCapture();
  });
  afterEach(async () => {
    await m?.stop();
    m = undefined;
    await sim.stop();
  });

  const cases: Array<[SimMarket, KeyType, string | undefined]> = [
    ['spot', 'ed25519', undefined],
    ['spot', 'rsa', undefined],
    ['spot', 'ed25519', 'correct horse'],
    ['margin', 'rsa', 'battery staple'],
    ['isolated-margin', 'ed25519', undefined],
    ['usdm-futures', 'ed25519', undefined],
  ];
  for (const [market, keyType, passphrase] of cases) {
    it(`${market} with a${passphrase ? 'n encrypted' : ''} ${keyType} key subscribes`, async () => {
      const { id: accountId } = sim.createAccount();
      const c = simConfig(sim, accountId, market, keyType, passphrase ? { credentials: { apiKey: '', passphrase } } : {});
      if (passphrase) assert.match(c.config.credentials.privateKey ?? '', /ENCRYPTED/);
      m = new StreamManager(c.config, { logger: log });
      const rec = attach(m);
      m.acquire('c');
      await waitFor(() => m!.state === 'connected', { message: 'connected' });
      sim.injectEvent(accountId, market, testEvent(market, 7));
      await waitFor(() => rec.events.length === 1);
      assert.deepEqual(seqs(rec.events), [7]);
    });
  }

  it('malformed, binary and unknown frames are logged (redacted, truncated) and skipped', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'spot');
    m = new StreamManager(c.config, { logger: log });
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected');
    const key = c.config.credentials.apiKey;
    assert.equal(sim.injectRaw({ accountId }, `{not json ${key} ${'x'.repeat(1000)}`), 1);
    sim.injectRaw({ accountId }, Buffer.from([0xff, 0x00, 0x13]));
    sim.injectRaw({ accountId }, '[1,2,3]');
    sim.injectRaw({ accountId }, JSON.stringify({ subscriptionId: 0, event: { e: 'eventStreamTerminated', E: 1 } }).slice(0, 20));
    sim.injectEvent(accountId, 'spot', testEvent('spot', 1));
    await waitFor(() => rec.events.length === 1);
    assert.deepEqual(seqs(rec.events), [1]);
    assert.equal(m.state, 'connected');
    const warns = log.lines.filter((l) => l.startsWith('warn'));
    assert.ok(warns.some((l) => l.includes('malformed frame')));
    assert.ok(warns.every((l) => l.length < 400), 'truncated');
    assert.ok(!log.text().includes(key), 'redacted');
    assert.ok(log.text().includes('***'));
  });

  it('futures: combined-stream envelope removed; listenKeyExpired with E as a string → new stream + gap; not emitted as event', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'usdm-futures');
    m = new StreamManager(c.config, { logger: log });
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected');
    const key = sim.listenKeys().find((k) => k.accountId === accountId)!.listenKey;
    sim.injectRaw({ accountId, kind: 'futures' }, JSON.stringify({ stream: key, data: testEvent('usdm-futures', 1) }));
    await waitFor(() => rec.events.length === 1);
    assert.equal(rec.events[0].raw.stream, undefined);
    assert.equal(rec.events[0].eventType, 'ACCOUNT_CONFIG_UPDATE');
    sim.injectRaw({ accountId, kind: 'futures' }, JSON.stringify({ e: 'listenKeyExpired', E: String(Date.now()), listenKey: key }));
    await waitFor(() => rec.gaps.length === 1, { timeoutMs: 5_000 });
    assert.equal(rec.gaps[0].reason, 'listenKeyExpired');
    assert.ok(rec.events.every((e) => e.eventType !== 'listenKeyExpired'));
    sim.injectEvent(accountId, 'usdm-futures', testEvent('usdm-futures', 2));
    await waitFor(() => rec.events.length === 2);
    assert.ok(!log.text().includes(key), 'listenKey redacted from logs');
  });

  it("futures 'ws-path' form works too (USDⓈ-M)", async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'usdm-futures', 'hmac', { futuresPathForm: 'ws-path' });
    m = new StreamManager(c.config, { logger: log });
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected');
    const connect = sim.requests.filter((r) => r.kind === 'ws-connect').at(-1);
    assert.match(connect?.path ?? '', /^\/private\/ws\/\S+/);
    sim.injectEvent(accountId, 'usdm-futures', testEvent('usdm-futures', 3));
    await waitFor(() => rec.events.length === 1);
  });

  it('COIN-M default: /dapi/v1/listenKey and dstream /ws/<key>, events arrive (it streamed nothing on /private)', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'coinm-futures', 'hmac');
    m = new StreamManager(c.config, { logger: log });
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected');
    assert.ok(sim.requests.some((r) => r.kind === 'rest' && r.method === 'POST' && r.path === '/dapi/v1/listenKey'));
    const connect = sim.requests.filter((r) => r.kind === 'ws-connect').at(-1);
    assert.match(connect?.path ?? '', /^\/ws\/[^/?]+$/);
    assert.deepEqual(connect?.params, {}, 'no events= on dstream');
    sim.injectEvent(accountId, 'coinm-futures', testEvent('coinm-futures', 3));
    await waitFor(() => rec.events.length === 1);
    assert.equal(rec.events[0].market, 'coinm-futures');
  });

  it('isolated margin asks for its listenToken with isIsolated=true (BOOLEAN as documented, not TRUE)', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'isolated-margin', 'hmac');
    m = new StreamManager(c.config, { logger: log });
    m.acquire('c');
    await waitFor(() => m!.state === 'connected');
    const req = sim.requests.find((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken');
    assert.equal(req?.params.isIsolated, 'true');
    assert.equal(req?.params.symbol, 'BTCUSDT');
  });

  for (const form of ['ws-query', 'ws-path'] as const) {
    it(`COIN-M unified (coinmApi 'fapi', ${form}): /fapi/v1/listenKey and fstream /private, events arrive`, async () => {
      const { id: accountId } = sim.createAccount({ coinmOnFapi: true });
      const c = simConfig(sim, accountId, 'coinm-futures', 'hmac', { coinmApi: 'fapi', futuresPathForm: form });
      m = new StreamManager(c.config, { logger: log });
      const rec = attach(m);
      m.acquire('c');
      await waitFor(() => m!.state === 'connected');
      assert.ok(sim.requests.some((r) => r.kind === 'rest' && r.method === 'POST' && r.path === '/fapi/v1/listenKey'));
      assert.ok(!sim.requests.some((r) => r.kind === 'rest' && r.path === '/dapi/v1/listenKey'));
      const connect = sim.requests.filter((r) => r.kind === 'ws-connect').at(-1);
      assert.match(connect?.path ?? '', form === 'ws-path' ? /^\/private\/ws\/[^/?]+$/ : /^\/private\/ws$/);
      sim.injectEvent(accountId, 'coinm-futures', testEvent('coinm-futures', 4));
      await waitFor(() => rec.events.length === 1);
      assert.equal(rec.events[0].market, 'coinm-futures');
    });
  }

  for (const keyType of ['hmac', 'ed25519'] as const) {
    it(`margin (${keyType}): a server that refuses the unlisted timestamp/signature on userListenToken (-1104) gets the key-only form, once`, async () => {
      // Binance's page lists only symbol / isIsolated / validity for this USER_STREAM endpoint; whether
      // a signature sent anyway is ignored or refused (-1104, errors.md) is not documented (facts.ts
      // LISTEN_TOKEN_SECURITY). Before: the client sent it signed forever and never connected.
      const strict = await BinanceSimulator.start({ userStreamUnreadParams: 'refuse' });
      try {
        const { id: accountId } = strict.createAccount();
        const c = simConfig(strict, accountId, 'margin', keyType);
        m = new StreamManager(c.config, { logger: log });
        const rec = attach(m);
        m.acquire('c');
        await waitFor(() => m!.state === 'connected', { message: 'connected' });
        const tokenCalls = (): Array<{ params: Record<string, string> }> => strict.requests.filter((r) => r.kind === 'rest' && r.path === '/sapi/v1/userListenToken');
        assert.equal(tokenCalls().length, 2, 'the signed form, refused, then the key-only form');
        assert.ok('signature' in tokenCalls()[0].params);
        assert.ok(!('signature' in tokenCalls()[1].params) && !('timestamp' in tokenCalls()[1].params));
        strict.injectEvent(accountId, 'margin', testEvent('margin', 1));
        await waitFor(() => rec.events.length === 1);
        // the next token (a reconnect) goes key-only at once
        strict.dropConnections({ accountId });
        await waitFor(() => tokenCalls().length === 3 && m!.state === 'connected', { timeoutMs: 10_000, message: 'reconnected' });
        assert.ok(!('signature' in tokenCalls()[2].params), 'the form that worked is remembered');
      } finally {
        await m?.stop();
        m = undefined;
        await strict.stop();
      }
    });
  }

  it('configuration errors give the error state at once, without connecting', async () => {
    const bad: AccountConfig = {
      market: 'spot',
      environment: 'custom',
      restUrl: 'http://example.com',
      wsUrl: 'ws://example.com/ws-api/v3',
      keyType: 'hmac',
      credentials: { apiKey: 'k'.repeat(64), apiSecret: 's'.repeat(64) },
    };
    m = new StreamManager(bad);
    const rec = attach(m);
    m.acquire('c');
    assert.equal(m.state, 'error');
    assert.match(m.currentState.message ?? '', /https:\/\/.*loopback/);
    await m.stop();
    assert.equal(m.state, 'stopped');

    const noPem: AccountConfig = { ...simConfig(sim, sim.createAccount().id, 'spot', 'ed25519').config };
    noPem.credentials = { apiKey: noPem.credentials.apiKey, privateKey: 'garbage' };
    const m2 = new StreamManager(noPem);
    m2.acquire('c');
    assert.equal(m2.state, 'error');
    assert.match(m2.currentState.message ?? '', /not in PEM format/);
    await m2.stop();
    assert.equal(rec.states[0].state, 'error');
    await assert.rejects(m2.rest.request('GET', '/api/v3/account', {}, { security: 'signed' }), /PEM/);
  });

  it('rest: signed request works, errors are BinanceApiError without secrets', async () => {
    const { id: accountId } = sim.createAccount({ balances: { USDT: '100' } });
    const c = simConfig(sim, accountId, 'spot');
    m = new StreamManager(c.config, { logger: log });
    assert.ok((await m.rest.serverTime()) > 0);
    const acct = await m.rest.request<{ balances?: unknown[] }>('GET', '/api/v3/account', { omitZeroBalances: true }, { security: 'signed' });
    assert.ok(Array.isArray(acct.balances));
    sim.revokeKey(c.config.credentials.apiKey);
    await assert.rejects(m.rest.request('GET', '/api/v3/account', {}, { security: 'signed' }), (e: Error & { kind?: string; code?: number }) => {
      assert.equal(e.kind, 'auth');
      assert.equal(e.code, -2015);
      assert.ok(!e.message.includes(c.config.credentials.apiKey));
      return true;
    });
  });
});

describe('core: rotation failures and keepalive failures (fake timers)', function () {
  this.timeout(60_000);
  let clock: Clock;
  let sim: BinanceSimulator;
  let m: StreamManager | undefined;
  beforeEach(async () => {
    clock = installClock();
    sim = await BinanceSimulator.start();
  });
  afterEach(async () => {
    if (m) {
      const p = m.stop();
      await advance(clock, 6_000, 500);
      await p;
    }
    m = undefined;
    await sim.stop();
    clock.uninstall();
  });

  it('a failed rotation keeps the old connection and retries with growing delays (no gap)', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'spot', 'hmac', { rotateAfterMs: HOUR });
    m = new StreamManager(c.config);
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected', { clock, stepMs: 50 });
    await advance(clock, HOUR - 10_000, 5_000);
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 503, code: -1008, msg: 'Server busy', count: 3 });
    sim.clearRequests();
    await advance(clock, 2 * MIN, 1_000);
    const subs = sim.requests.filter((r) => r.method === 'userDataStream.subscribe.signature');
    assert.equal(subs.length, 4, 'three failures, then success');
    const gaps = subs.slice(1).map((r, i) => r.at - subs[i].at);
    assert.ok(gaps[1] > gaps[0] && gaps[2] > gaps[1], `growing delays ${gaps.join(',')}`);
    assert.equal(rec.rotations.length, 1);
    assert.equal(rec.gaps.length, 0);
    assert.equal(sim.openConnections({ accountId }), 1);
    assert.ok(rec.states.every((s) => s.state !== 'reconnecting'));
  });

  it("the old connection dying while rotations fail → gap 'rotation-failed' once back", async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'spot', 'hmac', { rotateAfterMs: HOUR });
    m = new StreamManager(c.config);
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected', { clock, stepMs: 50 });
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 503, code: -1008, msg: 'Server busy', count: 4 });
    await advance(clock, HOUR + 20_000, 5_000);
    sim.dropConnections({ accountId });
    await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 1_000, timeoutMs: 20_000 });
    assert.equal(rec.gaps[0].reason, 'rotation-failed');
    assert.equal(m.state, 'connected');
  });

  it('futures: keepalive every keepaliveIntervalMs; -1125 on PUT → new key, new stream, gap', async () => {
    const { id: accountId } = sim.createAccount();
    const c = simConfig(sim, accountId, 'usdm-futures', 'hmac', { keepaliveIntervalMs: 20 * MIN });
    m = new StreamManager(c.config);
    const rec = attach(m);
    m.acquire('c');
    await waitFor(() => m!.state === 'connected', { clock, stepMs: 50 });
    sim.clearRequests();
    await advance(clock, 61 * MIN, 5_000);
    const puts = sim.requests.filter((r) => r.method === 'PUT' && r.path === '/fapi/v1/listenKey');
    assert.equal(puts.length, 3);
    sim.failNext({ path: '/fapi/v1/listenKey', httpStatus: 400, code: -1125, msg: 'This listenKey does not exist.' });
    await advance(clock, 20 * MIN, 5_000);
    await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 500 });
    assert.equal(rec.gaps[0].reason, 'listenKeyExpired');
    assert.equal(m.state, 'connected');
    sim.injectEvent(accountId, 'usdm-futures', testEvent('usdm-futures', 1));
    await waitFor(() => rec.events.length === 1);
  });
});

describe('core: key revoked while connected (fake timers)', function () {
  this.timeout(60_000);
  it('margin: key revoked while connected → re-subscribe after eventStreamTerminated rejected → auth-error, slow retries', async () => {
    const clock = installClock();
    const sim = await BinanceSimulator.start();
    let m: StreamManager | undefined;
    try {
      const { id: accountId } = sim.createAccount();
      const c = simConfig(sim, accountId, 'margin');
      m = new StreamManager(c.config);
      const rec = attach(m);
      m.acquire('c');
      await waitFor(() => m!.state === 'connected', { clock, stepMs: 50 });
      sim.revokeKey(c.config.credentials.apiKey);
      assert.ok(sim.expireListenToken({ accountId }) >= 1);
      await waitFor(() => m!.state === 'auth-error', { clock, stepMs: 100 });
      assert.equal(m.currentState.code, -2015);
      assert.equal(m.currentState.delayMs, 5 * MIN);
      sim.clearRequests();
      await advance(clock, 16 * MIN, 5_000);
      const tokenRequests = sim.requests.filter((r) => r.path === '/sapi/v1/userListenToken').length;
      assert.ok(tokenRequests >= 3 && tokenRequests <= 4, `slow retries (${tokenRequests})`);
      assert.equal(rec.gaps.length, 0, 'no gap while still down');
      const p = m.stop();
      await advance(clock, 6_000, 500);
      await p;
    } finally {
      await sim.stop();
      clock.uninstall();
    }
  });
});
