import { strict as assert } from 'node:assert';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { signPayload } from '../../simulator/signing';
import { WsClient, httpRequest, signedRest, signingKeyOf, installClock, restoreClock, tick, type Json } from './helpers';

describe('simulator REST (signing, failures, weights, data)', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let hmac: CreatedKey;

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount().id;
    hmac = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    restoreClock();
    await sim.stop();
  });

  it('time endpoints answer unsigned with the simulator clock (clock offset applied)', async () => {
    sim.setClockOffset(12_345);
    for (const p of ['/api/v3/time', '/fapi/v1/time', '/dapi/v1/time']) {
      const before = Date.now();
      const r = await httpRequest(sim.restUrl, 'GET', p);
      assert.equal(r.status, 200);
      const t = r.json.serverTime as number;
      assert.ok(t >= before + 12_345 && t <= Date.now() + 12_345, p);
    }
    const r = await httpRequest(sim.restUrl, 'GET', '/api/v3/nothing');
    assert.equal(r.status, 404);
  });

  it('signature is over the percent-encoded query as sent: raw UTF-8 signing is rejected', async () => {
    const sym = '１２３４５６';
    const ok = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', sym]]);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, []);
    const ts = sim.serverTime();
    const raw = `symbol=${sym}&timestamp=${ts}`;
    const sigRaw = signPayload(signingKeyOf(hmac), raw);
    const bad = await httpRequest(sim.restUrl, 'GET', `/api/v3/myTrades?symbol=${encodeURIComponent(sym)}&timestamp=${ts}&signature=${sigRaw}`, { apiKey: hmac.apiKey });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { code: -1022, msg: 'Signature for this request is not valid.' });
    // parameter order matters (sent order, not sorted)
    const enc = `timestamp=${ts}&symbol=BTCUSDT`;
    const sigOrdered = signPayload(signingKeyOf(hmac), `symbol=BTCUSDT&timestamp=${ts}`);
    const reordered = await httpRequest(sim.restUrl, 'GET', `/api/v3/myTrades?${enc}&signature=${sigOrdered}`, { apiKey: hmac.apiKey });
    assert.equal(reordered.json.code, -1022);
  });

  it('Ed25519 base64 signature must be percent-encoded in the URL ("+" would read as a space)', async () => {
    const ed = sim.createKey(acct, 'ed25519');
    const ok = await signedRest(sim, ed, 'GET', '/api/v3/account');
    assert.equal(ok.status, 200);
    assert.equal(ok.json.accountType, 'SPOT');
    // find a timestamp whose signature contains '+' and send it un-encoded
    let ts = sim.serverTime();
    let sig = '';
    for (let i = 0; i < 200; i++, ts--) {
      sig = signPayload(signingKeyOf(ed), `timestamp=${ts}`);
      if (sig.includes('+')) break;
    }
    assert.ok(sig.includes('+'));
    const bad = await httpRequest(sim.restUrl, 'GET', `/api/v3/account?timestamp=${ts}&signature=${sig}`, { apiKey: ed.apiKey });
    assert.equal(bad.json.code, -1022);
    const good = await httpRequest(sim.restUrl, 'GET', `/api/v3/account?timestamp=${ts}&signature=${encodeURIComponent(sig)}`, { apiKey: ed.apiKey });
    assert.equal(good.status, 200);
  });

  it('RSA: POST with form body (query + body concatenated) creates a listenToken', async () => {
    const rsa = sim.createKey(acct, 'rsa');
    const ts = sim.serverTime();
    const query = 'isIsolated=FALSE';
    const body = `validity=60000&timestamp=${ts}`;
    const sig = signPayload(signingKeyOf(rsa), query + body);
    const r = await httpRequest(sim.restUrl, 'POST', `/sapi/v1/userListenToken?${query}`, {
      apiKey: rsa.apiKey,
      body: `${body}&signature=${encodeURIComponent(sig)}`,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(typeof r.json.token, 'string');
    assert.ok((r.json.expirationTime as number) <= sim.serverTime() + 60_000);
    const badSig = signPayload(signingKeyOf(rsa), `${query}&${body}`);
    const bad = await httpRequest(sim.restUrl, 'POST', `/sapi/v1/userListenToken?${query}`, {
      apiKey: rsa.apiKey,
      body: `${body}&signature=${encodeURIComponent(badSig)}`,
    });
    assert.equal(bad.json.code, -1022);
  });

  it('POST /sapi/v1/userListenToken is USER_STREAM as documented: the API key alone suffices', async () => {
    // "Create Margin Account listenToken (USER_STREAM)", parameters symbol / isIsolated / validity
    // only (margin_trading/trade-data-stream, read 2026-12-02); before, the simulator demanded a signature.
    const hmac = sim.createKey(acct, 'hmac');
    const r = await httpRequest(sim.restUrl, 'POST', '/sapi/v1/userListenToken?validity=60000', { apiKey: hmac.apiKey });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(typeof r.json.token, 'string');
    const none = await httpRequest(sim.restUrl, 'POST', '/sapi/v1/userListenToken');
    assert.equal(none.json.code, -2014, 'no key: refused');
    const forged = await httpRequest(sim.restUrl, 'POST', `/sapi/v1/userListenToken?timestamp=${sim.serverTime()}&signature=00`, { apiKey: hmac.apiKey });
    assert.equal(forged.json.code, -1022, 'a signature that is sent is checked');
  });

  it("userStreamUnreadParams 'refuse': userListenToken refuses parameters it does not list with -1104, takes the listed ones", async () => {
    // errors.md (binance-spot-api-docs a5e0bc3, 2026-07-21): -1104 "Not all sent parameters were read";
    // the endpoint lists symbol, isIsolated and validity only (margin_trading/trade-data-stream, read 2026-12-02).
    const strict = await BinanceSimulator.start({ userStreamUnreadParams: 'refuse' });
    try {
      const { id } = strict.createAccount();
      const hmac = strict.createKey(id, 'hmac');
      const signed = await signedRest(strict, hmac, 'POST', '/sapi/v1/userListenToken', [['validity', '60000']]);
      assert.equal(signed.json.code, -1104, JSON.stringify(signed.json));
      assert.match(String(signed.json.msg), /read '1' parameter\(s\) but was sent '3'/);
      const keyOnly = await httpRequest(strict.restUrl, 'POST', '/sapi/v1/userListenToken?validity=60000&isIsolated=true&symbol=BTCUSDT', { apiKey: hmac.apiKey });
      assert.equal(keyOnly.status, 200, JSON.stringify(keyOnly.json));
      assert.equal(typeof keyOnly.json.token, 'string');
    } finally {
      await strict.stop();
    }
  });

  it('auth and timing errors: -2014, -2015, -1102, -1131, -1021 (past and future), margin permission', async () => {
    let r = await httpRequest(sim.restUrl, 'GET', '/api/v3/account?timestamp=1&signature=00');
    assert.equal(r.status, 401);
    assert.equal(r.json.code, -2014);
    r = await signedRest(sim, { ...hmac, apiKey: 'n'.repeat(64) }, 'GET', '/api/v3/account');
    assert.equal(r.status, 401);
    assert.equal(r.json.code, -2015);
    const sig = signPayload(signingKeyOf(hmac), 'omitZeroBalances=true');
    r = await httpRequest(sim.restUrl, 'GET', `/api/v3/account?omitZeroBalances=true&signature=${sig}`, { apiKey: hmac.apiKey });
    assert.equal(r.json.code, -1102);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account', [], { recvWindow: 60_001 });
    assert.equal(r.json.code, -1131);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account', [], { timestamp: sim.serverTime() - 6000 });
    assert.equal(r.json.code, -1021);
    assert.equal(r.status, 400);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account', [], { timestamp: sim.serverTime() - 6000, recvWindow: 10_000 });
    assert.equal(r.status, 200);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account', [], { timestamp: sim.serverTime() + 2000 });
    assert.equal(r.json.code, -1021);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account', [], { timestamp: (sim.serverTime() - 100) * 1000 });
    assert.equal(r.status, 200, 'microsecond timestamps accepted');
    const noMargin = sim.createKey(acct, 'hmac', { enableMargin: false });
    r = await signedRest(sim, noMargin, 'GET', '/sapi/v1/margin/account');
    assert.equal(r.json.code, -2015);
    r = await signedRest(sim, hmac, 'GET', '/sapi/v1/margin/account');
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.json.userAssets));
  });

  it('failNext: 429 with Retry-After, 418, 5xx, -2015, -1021; regex paths and counts; then normal', async () => {
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 429, retryAfterSec: 9 });
    sim.failNext({ path: /myTrades$/, httpStatus: 418, count: 2 });
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503 });
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 400, code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' });
    const call = (): Promise<{ status: number; headers: Record<string, unknown>; json: Json }> =>
      signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT']]);
    let r = await call();
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '9');
    assert.equal(r.json.code, -1003);
    r = await call();
    assert.equal(r.status, 418);
    assert.ok(r.headers['retry-after'] !== undefined);
    r = await call();
    assert.equal(r.status, 418);
    r = await call();
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], undefined);
    r = await call();
    assert.deepEqual([r.status, r.json.code], [401, -2015]);
    r = await call();
    assert.deepEqual([r.status, r.json.code], [400, -1021]);
    r = await call();
    assert.equal(r.status, 200);
    const recs = sim.requests.filter((q) => q.path === '/api/v3/myTrades');
    assert.deepEqual(recs.map((q) => q.status), [429, 418, 418, 503, 401, 400, 200]);
    assert.deepEqual(recs.map((q) => q.errorCode), [-1003, -1003, -1003, -1001, -2015, -1021, undefined]);
    assert.equal(recs[6].params.symbol, 'BTCUSDT');
    assert.equal(recs[6].apiKey, hmac.apiKey);
    assert.equal(recs[6].method, 'GET');
    assert.equal(recs[6].weight, 20);
  });

  it('failNext on a WebSocket path rejects the upgrade', async () => {
    sim.failNext({ path: '/ws-api/v3', httpStatus: 429, retryAfterSec: 3 });
    await assert.rejects(WsClient.connect(sim.wsApiUrl), /429/);
    const c = await WsClient.connect(sim.wsApiUrl);
    assert.equal(sim.openConnections({ kind: 'ws-api' }), 1);
    c.close();
    assert.deepEqual(sim.requests.map((q) => [q.kind, q.status]), [['ws-connect', 429], ['ws-connect', 101]]);
  });

  it('X-MBX-USED-WEIGHT-1M is a rolling one-minute sum per API (weights per reference §6)', async () => {
    const clock = installClock();
    let r = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders'); // 80 without symbol
    assert.equal(r.headers['x-mbx-used-weight-1m'], '80');
    r = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders', [['symbol', 'BTCUSDT']]); // 6
    assert.equal(r.headers['x-mbx-used-weight-1m'], '86');
    r = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT'], ['orderId', '1']]); // 5
    assert.equal(r.headers['x-mbx-used-weight-1m'], '91');
    r = await signedRest(sim, hmac, 'GET', '/fapi/v1/openOrders'); // fapi pool: 40
    assert.equal(r.headers['x-mbx-used-weight-1m'], '40');
    await tick(clock, 30_000, 10_000);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account'); // 20
    assert.equal(r.headers['x-mbx-used-weight-1m'], '111');
    await tick(clock, 31_000, 10_000);
    r = await httpRequest(sim.restUrl, 'GET', '/api/v3/time');
    assert.equal(r.headers['x-mbx-used-weight-1m'], '21', 'the first three fell out of the window');
    assert.deepEqual(sim.requests.map((q) => q.weight), [80, 6, 5, 40, 20, 1]);
  });

  it('restWeightLimitPerMinute: over the limit → 429 -1003 with Retry-After until weight leaves the window', async () => {
    const clock = installClock();
    await sim.stop();
    sim = await BinanceSimulator.start({ restWeightLimitPerMinute: 100 });
    acct = sim.createAccount().id;
    hmac = sim.createKey(acct, 'hmac');
    let r = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders'); // 80
    assert.equal(r.status, 200);
    await tick(clock, 20_000, 10_000);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account'); // 100
    assert.equal(r.status, 200);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account'); // 120 > 100
    assert.equal(r.status, 429);
    assert.equal(r.json.code, -1003);
    assert.equal(r.headers['retry-after'], '40', 'the 80 leaves the window 40 s from now');
    r = await httpRequest(sim.restUrl, 'GET', '/fapi/v1/time');
    assert.equal(r.status, 200, 'other APIs have their own budget');
    await tick(clock, 41_000, 10_000);
    r = await signedRest(sim, hmac, 'GET', '/api/v3/account');
    assert.equal(r.status, 200);
  });

  it('margin openOrders / myTrades / account reflect simulator trading', async () => {
    const o = sim.placeOrder(acct, { market: 'margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.1', price: '20000' });
    sim.fillOrder(o.orderId, { quantity: '0.05' });
    const oo = await signedRest(sim, hmac, 'GET', '/sapi/v1/margin/openOrders', [['symbol', 'BTCUSDT']]);
    const rows = oo.body as Json[];
    assert.equal(rows.length, 1);
    assert.equal(rows[0].executedQty, '0.05000000');
    assert.equal(rows[0].status, 'PARTIALLY_FILLED');
    assert.equal(rows[0].isIsolated, false);
    const acc = await signedRest(sim, hmac, 'GET', '/sapi/v1/margin/account');
    const usdt = (acc.json.userAssets as Json[]).find((a) => a.asset === 'USDT')!;
    assert.equal(usdt.free, '8000.00000000');
    assert.equal(usdt.locked, '1000.00000000');
    // spot book is separate
    assert.equal(sim.balances(acct, 'spot').USDT.free, '10000.00000000');
  });
});

describe('simulator reconciliation extras (allOrders, positionRisk, balance, WS-API data methods)', () => {
  let sim: BinanceSimulator;
  afterEach(async () => {
    await sim.stop();
  });

  it('allOrders (spot, fapi), positionRisk / balance v3 and WS myTrades / account.status / openOrders.status', async () => {
    sim = await BinanceSimulator.start();
    const acct = sim.createAccount().id;
    const key = sim.createKey(acct, 'ed25519');
    const a = sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '100', outcome: 'canceled', fills: ['0.004'] });
    const b = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.02', price: '100' });
    let r = await signedRest(sim, key, 'GET', '/api/v3/allOrders', [['symbol', 'BTCUSDT']]);
    assert.deepEqual((r.body as Json[]).map((o) => [o.orderId, o.status, o.isWorking]), [[a.order.orderId, 'CANCELED', false], [b.orderId, 'NEW', true]]);
    r = await signedRest(sim, key, 'GET', '/api/v3/allOrders', [['symbol', 'BTCUSDT'], ['orderId', String(b.orderId)]]);
    assert.equal((r.body as Json[]).length, 1);
    assert.equal(sim.requests[sim.requests.length - 1].weight, 20);

    const f = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'ETHUSDT', side: 'SELL', quantity: '2', price: '3000' });
    r = await signedRest(sim, key, 'GET', '/fapi/v1/allOrders', [['symbol', 'ETHUSDT']]);
    assert.deepEqual((r.body as Json[]).map((o) => [o.orderId, o.status, o.avgPrice, o.cumQuote]), [[f.order.orderId, 'FILLED', '3000', '6000']]);
    r = await signedRest(sim, key, 'GET', '/fapi/v3/positionRisk');
    assert.deepEqual((r.body as Json[]).map((x) => [x.symbol, x.positionAmt, x.entryPrice]), [['ETHUSDT', '-2', '3000']]);
    r = await signedRest(sim, key, 'GET', '/fapi/v3/balance');
    assert.equal((r.body as Json[]).find((x) => x.asset === 'USDT')!.balance, '9998.80000000', '10000 - 0.02% (maker) of 6000');

    const c = await WsClient.connect(sim.wsApiUrl);
    try {
      const sign = (extra: Json): Json => {
        const params: Json = { ...extra, apiKey: key.apiKey, timestamp: sim.serverTime() };
        params.signature = signPayload(signingKeyOf(key), Object.keys(params).sort().map((k2) => `${k2}=${String(params[k2])}`).join('&'));
        return params;
      };
      let w = await c.request('myTrades', sign({ symbol: 'BTCUSDT' }));
      assert.deepEqual((w.result as Json[]).map((t) => t.id), a.trades.map((t) => t.tradeId));
      w = await c.request('openOrders.status', sign({ symbol: 'BTCUSDT' }));
      assert.deepEqual((w.result as Json[]).map((o) => o.orderId), [b.orderId]);
      w = await c.request('account.status', sign({ omitZeroBalances: true }));
      assert.equal((w.result as Json).accountType, 'SPOT');
      const bad = sign({ symbol: 'BTCUSDT' });
      bad.symbol = 'ETHUSDT';
      w = await c.request('myTrades', bad);
      assert.equal((w.error as Json).code, -1022);
      // after an Ed25519 session.logon the data methods need no signature
      await c.request('session.logon', sign({}));
      w = await c.request('myTrades', { symbol: 'BTCUSDT', timestamp: sim.serverTime() });
      assert.equal((w.result as Json[]).length, 1);
    } finally {
      c.close();
    }
  });
});

describe('simulator WS-API heartbeat and lifetime (fake timers)', () => {
  let sim: BinanceSimulator;
  afterEach(async () => {
    restoreClock();
    await sim.stop();
  });

  it('pings every wsApiPingIntervalMs; no pong within wsApiPongTimeoutMs → terminate; unsolicited pongs do not help', async () => {
    const clock = installClock();
    sim = await BinanceSimulator.start();
    const good = await WsClient.connect(sim.wsApiUrl);
    const deaf = await WsClient.connect(sim.wsApiUrl, { autoPong: false });
    await tick(clock, 19_000);
    assert.equal(good.pings, 0);
    await tick(clock, 1000);
    assert.equal(good.pings, 1);
    assert.equal(deaf.pings, 1);
    // the deaf client sends unsolicited pongs: they do not count
    const spam = setInterval(() => deaf.ws.pong(), 5000);
    try {
      await tick(clock, 59_000);
      assert.equal(deaf.closed, false);
      await tick(clock, 2000);
      await deaf.waitClosed();
    } finally {
      clearInterval(spam);
    }
    assert.equal(good.closed, false);
    assert.equal(good.pings, 4);
    assert.equal(sim.openConnections(), 1);
    good.close();
  });

  it('stalled connection: no pings, no termination; max lifetime closes a healthy socket after 24 h', async () => {
    const clock = installClock();
    sim = await BinanceSimulator.start({ maxConnectionLifetimeMs: 86_400_000 });
    const c = await WsClient.connect(sim.wsApiUrl);
    const s = await WsClient.connect(sim.wsApiUrl, { autoPong: false });
    await tick(clock, 1000);
    sim.stallConnections({});
    // un-stall c by reconnecting a fresh one; s stays stalled
    c.close();
    const fresh = await WsClient.connect(sim.wsApiUrl);
    await tick(clock, 600_000, 10_000);
    assert.equal(s.pings, 0);
    assert.equal(s.closed, false);
    assert.equal(fresh.pings, 30);
    await tick(clock, 86_400_000 - 601_000, 15_000);
    assert.equal(fresh.closed, false);
    await tick(clock, 2000);
    await fresh.waitClosed();
    assert.equal(fresh.closeCode, 1000);
    assert.equal(s.closed, false, 'a stalled socket is frozen, not closed');
    s.close();
  });
});
