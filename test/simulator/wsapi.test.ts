import { strict as assert } from 'node:assert';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { WsClient, httpRequest, signedRest, subscribeParams, installClock, restoreClock, tick, settle, type Json, type Clock } from './helpers';

describe('simulator WebSocket API (/ws-api/v3)', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let hmac: CreatedKey;
  const clients: WsClient[] = [];
  async function connect(url?: string, opts?: { autoPong?: boolean }): Promise<WsClient> {
    const c = await WsClient.connect(url ?? sim.wsApiUrl, opts);
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount({ balances: { USDT: '1000', BTC: '0.5' } }).id;
    hmac = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    restoreClock();
    for (const c of clients.splice(0)) c.close();
    await sim.stop();
  });

  for (const keyType of ['hmac', 'ed25519', 'rsa'] as const) {
    it(`subscribe.signature succeeds with a ${keyType} key and events flow in the envelope`, async () => {
      const key = keyType === 'hmac' ? hmac : sim.createKey(acct, keyType, keyType === 'rsa' ? { passphrase: 'secret-pw' } : {});
      const c = await connect();
      const r = await c.request('userDataStream.subscribe.signature', subscribeParams(key, sim.serverTime(), 5000));
      assert.equal(r.status, 200);
      assert.deepEqual(r.result, { subscriptionId: 0 });
      assert.ok(Array.isArray(r.rateLimits));
      const n = sim.deposit(acct, 'spot', 'USDT', '5');
      assert.equal(n, undefined);
      const ev = await c.next((m) => (m.event as Json | undefined)?.e === 'balanceUpdate');
      assert.equal(ev.subscriptionId, 0);
      assert.equal((ev.event as Json).d, '5.00000000');
    });
  }

  it('rejects unknown and revoked keys with -2015, bad signatures with -1022, stale/future timestamps with -1021', async () => {
    const c = await connect();
    const unknown = { ...hmac, apiKey: 'x'.repeat(64) };
    let r = await c.request('userDataStream.subscribe.signature', subscribeParams(unknown, sim.serverTime()));
    assert.equal(r.status, 400);
    assert.equal((r.error as Json).code, -2015);

    const wrongSecret = { ...hmac, apiSecret: 'y'.repeat(64) };
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(wrongSecret, sim.serverTime()));
    assert.equal((r.error as Json).code, -1022);

    // parameter changed after signing → -1022
    const p = subscribeParams(hmac, sim.serverTime(), 5000);
    p.recvWindow = 6000;
    r = await c.request('userDataStream.subscribe.signature', p);
    assert.equal((r.error as Json).code, -1022);

    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime() - 10_000, 5000));
    assert.equal((r.error as Json).code, -1021);
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime() + 1500));
    assert.equal((r.error as Json).code, -1021);
    // inside a larger recvWindow it is fine
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime() - 10_000, 20_000));
    assert.equal(r.status, 200);
    // recvWindow above the maximum
    const c2 = await connect();
    r = await c2.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime(), 70_000));
    assert.equal((r.error as Json).code, -1131);

    // clock offset: the simulator clock runs 5 s ahead, a local timestamp is stale with recvWindow 1000
    sim.setClockOffset(5000);
    r = await c2.request('userDataStream.subscribe.signature', subscribeParams(hmac, Date.now(), 1000));
    assert.equal((r.error as Json).code, -1021);
    sim.setClockOffset(0);

    sim.revokeKey(hmac.apiKey);
    r = await c2.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal((r.error as Json).code, -2015);
    const rest = await signedRest(sim, hmac, 'GET', '/api/v3/account');
    assert.equal(rest.status, 401);
    assert.equal(rest.json.code, -2015);
  });

  it('second subscription of the same account on one connection → -2035; two accounts → ids 0 and 1', async () => {
    const c = await connect();
    let r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.deepEqual(r.result, { subscriptionId: 0 });
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(sim.createKey(acct, 'hmac'), sim.serverTime()));
    assert.equal((r.error as Json).code, -2035);
    const other = sim.createAccount().id;
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(sim.createKey(other, 'hmac'), sim.serverTime()));
    assert.deepEqual(r.result, { subscriptionId: 1 });
    r = await c.request('session.subscriptions');
    assert.deepEqual(r.result, [{ subscriptionId: 0 }, { subscriptionId: 1 }]);
    // events are routed per account
    sim.deposit(other, 'spot', 'BTC', '1');
    const ev = await c.next((m) => (m.event as Json | undefined)?.e === 'balanceUpdate');
    assert.equal(ev.subscriptionId, 1);
  });

  it('order lifecycle: NEW, partial fills, FILLED with consistent balances; myTrades returns the same trade ids', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    const { order, trades } = sim.runOrderLifecycle(acct, {
      market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000', fills: ['0.004', '0.003'],
    });
    assert.equal(order.status, 'FILLED');
    assert.equal(trades.length, 3);
    await c.next((m) => (m.event as Json | undefined)?.e === 'executionReport' && (m.event as Json).X === 'FILLED');
    await c.next((m, ) => (m.event as Json | undefined)?.e === 'outboundAccountPosition' && c.events().filter((e) => e.e === 'outboundAccountPosition').length >= 4);
    const evs = c.events();
    const ers = evs.filter((e) => e.e === 'executionReport');
    assert.deepEqual(ers.map((e) => e.x), ['NEW', 'TRADE', 'TRADE', 'TRADE']);
    assert.deepEqual(ers.map((e) => e.X), ['NEW', 'PARTIALLY_FILLED', 'PARTIALLY_FILLED', 'FILLED']);
    assert.equal(ers[0].t, -1);
    assert.equal(ers[0].N, null);
    assert.equal(ers[0].q, '0.01000000');
    assert.equal(ers[0].p, '50000.00000000');
    const fills = ers.slice(1);
    assert.deepEqual(fills.map((e) => e.t), trades.map((t) => t.tradeId));
    assert.deepEqual(fills.map((e) => e.l), ['0.00400000', '0.00300000', '0.00300000']);
    assert.equal(fills[2].z, '0.01000000');
    assert.equal(fills[2].Z, '500.00000000');
    assert.equal(fills[0].Y, '200.00000000');
    assert.equal(fills[0].N, 'BTC');
    assert.equal(fills[0].n, '0.00000400');
    for (const f of ['e', 'E', 's', 'c', 'S', 'o', 'f', 'q', 'p', 'P', 'F', 'g', 'C', 'x', 'X', 'r', 'i', 'l', 'z', 'L', 'n', 'N', 'T', 't', 'I', 'w', 'm', 'M', 'O', 'Z', 'Y', 'Q', 'W', 'V', 'eR']) {
      assert.ok(f in fills[0], `executionReport has ${f}`);
    }
    // every event is wrapped with the subscription id; envelope only has these two keys
    for (const m of c.messages.filter((x) => x.event)) assert.deepEqual(Object.keys(m).sort(), ['event', 'subscriptionId']);
    // the last outboundAccountPosition has the final balances: USDT 1000-500, BTC 0.5+0.01-0.00001
    const oaps = evs.filter((e) => e.e === 'outboundAccountPosition');
    const last = oaps[oaps.length - 1].B as Json[];
    assert.deepEqual(last.find((b) => b.a === 'USDT'), { a: 'USDT', f: '500.00000000', l: '0.00000000' });
    assert.deepEqual(last.find((b) => b.a === 'BTC'), { a: 'BTC', f: '0.50999000', l: '0.00000000' });
    // after NEW, USDT 500 locked
    assert.deepEqual((oaps[0].B as Json[])[0], { a: 'USDT', f: '500.00000000', l: '500.00000000' });

    const mt = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT']]);
    assert.equal(mt.status, 200);
    const rows = mt.body as Json[];
    assert.deepEqual(rows.map((r) => r.id), trades.map((t) => t.tradeId));
    assert.deepEqual(Object.keys(rows[0]), ['symbol', 'id', 'orderId', 'orderListId', 'price', 'qty', 'quoteQty', 'commission', 'commissionAsset', 'time', 'isBuyer', 'isMaker', 'isBestMatch']);
    assert.equal(rows[0].orderId, order.orderId);
    const from = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT'], ['fromId', String(trades[1].tradeId)]]);
    assert.deepEqual((from.body as Json[]).map((r) => r.id), [trades[1].tradeId, trades[2].tradeId]);
    const acc = await signedRest(sim, hmac, 'GET', '/api/v3/account', [['omitZeroBalances', 'true']]);
    const bal = acc.json.balances as Json[];
    assert.deepEqual(bal.find((b) => b.asset === 'USDT'), { asset: 'USDT', free: '500.00000000', locked: '0.00000000' });
  });

  it('cancel and expiry: CANCELED carries the original id in C, EXPIRED carries eR; locked funds released; openOrders', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    const o1 = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.1', price: '60000', clientOrderId: 'mine-1' });
    const o2 = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.1', price: '61000', timeInForce: 'IOC' });
    const open = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders', [['symbol', 'BTCUSDT']]);
    assert.deepEqual((open.body as Json[]).map((o) => o.orderId), [o1.orderId, o2.orderId]);
    assert.equal(open.headers['x-mbx-used-weight-1m'] !== undefined, true);
    sim.fillOrder(o1.orderId, { quantity: '0.04' });
    sim.cancelOrder(o1.orderId);
    sim.expireOrder(o2.orderId);
    await c.next((m) => (m.event as Json | undefined)?.x === 'EXPIRED');
    const ers = c.events().filter((e) => e.e === 'executionReport');
    const canceled = ers.find((e) => e.x === 'CANCELED')!;
    assert.equal(canceled.C, 'mine-1');
    assert.notEqual(canceled.c, 'mine-1');
    assert.equal(canceled.z, '0.04000000');
    const expired = ers.find((e) => e.x === 'EXPIRED')!;
    assert.equal(expired.eR, 'UNFILLED_IOC_QUANTITY_EXPIRED');
    assert.equal(sim.balances(acct, 'spot').BTC.locked, '0.00000000');
    assert.equal(sim.balances(acct, 'spot').BTC.free, '0.46000000');
    const open2 = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders');
    assert.deepEqual(open2.body, []);
    assert.throws(() => sim.cancelOrder(o1.orderId), /CANCELED/);
  });

  it('listenToken: REST token, subscribe, margin events, seamless renewal, expiry → eventStreamTerminated', async () => {
    const clock: Clock = installClock();
    try {
      const c = await connect();
      const tokRes = await signedRest(sim, hmac, 'POST', '/sapi/v1/userListenToken', [['validity', '600000']]);
      assert.equal(tokRes.status, 200);
      const token = tokRes.json.token as string;
      assert.equal(tokRes.json.expirationTime, sim.serverTime() + 600_000);
      let r = await c.request('userDataStream.subscribe.listenToken', { listenToken: token });
      assert.deepEqual(r.result, { subscriptionId: 0, expirationTime: tokRes.json.expirationTime });
      r = await c.request('userDataStream.subscribe.listenToken', { listenToken: 'nope' });
      assert.equal((r.error as Json).code, -1209);
      sim.runOrderLifecycle(acct, { market: 'margin', symbol: 'ETHUSDT', side: 'BUY', quantity: '1', price: '100' });
      await c.next((m) => (m.event as Json | undefined)?.X === 'FILLED');
      assert.ok(c.events().every((e) => e.e !== 'executionReport' || e.s === 'ETHUSDT'));
      // spot events do not reach a margin subscription
      const before = c.events().length;
      sim.deposit(acct, 'spot', 'USDT', '1');
      await settle();
      assert.equal(c.events().length, before);

      // renewal with a fresh token before expiry: new id, old one silently replaced, no doubles
      await tick(clock, 300_000, 10_000);
      const tok2 = await signedRest(sim, hmac, 'POST', '/sapi/v1/userListenToken', [['validity', '600000']]);
      r = await c.request('userDataStream.subscribe.listenToken', { listenToken: tok2.json.token });
      assert.equal((r.result as Json).subscriptionId, 1);
      r = await c.request('session.subscriptions');
      assert.deepEqual(r.result, [{ subscriptionId: 1 }]);
      sim.deposit(acct, 'margin', 'USDT', '2');
      await c.next((m) => (m.event as Json | undefined)?.e === 'balanceUpdate');
      assert.equal(c.messages.filter((m) => (m.event as Json | undefined)?.e === 'balanceUpdate').length, 1);
      // the first token's expiry passes: nothing terminated (it was replaced)
      await tick(clock, 310_000, 10_000);
      assert.equal(c.events().filter((e) => e.e === 'eventStreamTerminated').length, 0);
      // the second token expires → eventStreamTerminated for subscription 1
      await tick(clock, 300_000, 10_000);
      const term = await c.next((m) => (m.event as Json | undefined)?.e === 'eventStreamTerminated');
      assert.equal(term.subscriptionId, 1);
      r = await c.request('session.subscriptions');
      assert.deepEqual(r.result, []);
      // expired token cannot be reused
      r = await c.request('userDataStream.subscribe.listenToken', { listenToken: tok2.json.token });
      assert.equal((r.error as Json).code, -1209);
      assert.equal(c.closed, false, 'pongs kept the connection alive through 15 minutes');
    } finally {
      clock.uninstall();
    }
  });

  it('listenToken isolated: symbol required; events of that symbol only; expireListenToken ends it', async () => {
    const c = await connect();
    const bad = await signedRest(sim, hmac, 'POST', '/sapi/v1/userListenToken', [['isIsolated', 'true']]);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, -1102);
    const t = await signedRest(sim, hmac, 'POST', '/sapi/v1/userListenToken', [['isIsolated', 'true'], ['symbol', 'BTCUSDT']]);
    const r = await c.request('userDataStream.subscribe.listenToken', { listenToken: t.json.token });
    assert.equal((r.result as Json).subscriptionId, 0);
    sim.runOrderLifecycle(acct, { market: 'isolated-margin', symbol: 'ETHUSDT', side: 'BUY', quantity: '1', price: '10' });
    sim.runOrderLifecycle(acct, { market: 'isolated-margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '10000' });
    await c.next((m) => (m.event as Json | undefined)?.X === 'FILLED');
    assert.ok(c.events().filter((e) => e.e === 'executionReport').every((e) => e.s === 'BTCUSDT'));
    const iso = await signedRest(sim, hmac, 'GET', '/sapi/v1/margin/isolated/account', [['symbols', 'BTCUSDT']]);
    assert.equal(((iso.json.assets as Json[])[0].quoteAsset as Json).free, '990.00000000');
    const mt = await signedRest(sim, hmac, 'GET', '/sapi/v1/margin/myTrades', [['symbol', 'BTCUSDT'], ['isIsolated', 'TRUE']]);
    assert.equal((mt.body as Json[]).length, 1);
    assert.equal((mt.body as Json[])[0].isIsolated, true);
    assert.equal(sim.expireListenToken({ accountId: acct }), 1);
    const term = await c.next((m) => (m.event as Json | undefined)?.e === 'eventStreamTerminated');
    assert.equal(term.subscriptionId, 0);
    assert.equal(sim.subscriptions().length, 0);
  });

  it('unsubscribe one or all → {} and eventStreamTerminated per ended subscription; -2036 for unknown', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    const tok = sim.createListenToken(acct, 'margin');
    await c.request('userDataStream.subscribe.listenToken', { listenToken: tok.token });
    let r = await c.request('userDataStream.unsubscribe', { subscriptionId: 0 });
    assert.deepEqual(r.result, {});
    assert.equal(c.messages.filter((m) => (m.event as Json | undefined)?.e === 'eventStreamTerminated' && m.subscriptionId === 0).length, 1);
    r = await c.request('userDataStream.unsubscribe', { subscriptionId: 7 });
    assert.equal((r.error as Json).code, -2036);
    r = await c.request('userDataStream.unsubscribe');
    assert.deepEqual(r.result, {});
    await c.next((m) => (m.event as Json | undefined)?.e === 'eventStreamTerminated' && m.subscriptionId === 1);
    r = await c.request('session.subscriptions');
    assert.deepEqual(r.result, []);
    // no events after unsubscribe
    const n = c.messages.length;
    sim.deposit(acct, 'spot', 'USDT', '1');
    await settle();
    assert.equal(c.messages.length, n);
  });

  it('malformed JSON, unknown method, time, returnRateLimits=false; recorded requests', async () => {
    const c = await connect(`${sim.wsApiUrl}?returnRateLimits=false`);
    c.ws.send('{not json');
    const bad = await c.next((m) => m.status === 400);
    assert.equal((bad.error as Json).code, -1000);
    assert.equal(bad.id, null);
    let r = await c.request('does.not.exist');
    assert.equal((r.error as Json).code, -1100);
    r = await c.request('time');
    assert.equal(typeof (r.result as Json).serverTime, 'number');
    assert.equal(r.rateLimits, undefined);
    const kinds = sim.requests.map((q) => `${q.kind}:${q.method}`);
    assert.deepEqual(kinds, ['ws-connect:GET', 'ws-api:(malformed)', 'ws-api:does.not.exist', 'ws-api:time']);
    assert.equal(sim.requests[0].path, '/ws-api/v3');
    assert.equal(sim.requests[2].errorCode, -1100);
    assert.equal(c.closed, false, 'connection survives bad input');
  });

  it('failNext on a WS-API method: 429 with retryAfter, then 418, then normal', async () => {
    const c = await connect();
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 429, retryAfterSec: 7 });
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 418 });
    let r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(r.status, 429);
    assert.equal((r.error as Json).code, -1003);
    const data = (r.error as Json).data as Json;
    assert.equal(r.retryAfter, undefined, 'no top-level retryAfter (the docs show it in error.data)');
    assert.ok(typeof data.serverTime === 'number' && Math.abs(data.serverTime - sim.serverTime()) < 5000);
    assert.equal(data.retryAfter, (data.serverTime as number) + 7000);
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(r.status, 418);
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(r.status, 200);
    assert.equal(sim.requests.filter((q) => q.kind === 'ws-api').map((q) => q.status).join(','), '429,418,200');
  });

  it('serverShutdown: event without subscriptionId, then the socket closes after the grace delay', async () => {
    const clock = installClock();
    try {
      const c = await connect();
      await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
      assert.equal(sim.sendServerShutdown({ accountId: acct }), 1);
      const m = await c.next((x) => (x.event as Json | undefined)?.e === 'serverShutdown');
      assert.equal('subscriptionId' in m, false);
      await tick(clock, 4000);
      assert.equal(c.closed, false);
      await tick(clock, 1500);
      await c.waitClosed();
      assert.equal(sim.openConnections({ kind: 'ws-api' }), 0);
    } finally {
      clock.uninstall();
    }
  });

  it('openConnections / connections / dropConnections by filter', async () => {
    const c1 = await connect();
    const c2 = await connect();
    await c1.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(sim.openConnections(), 2);
    assert.equal(sim.openConnections({ accountId: acct }), 1);
    assert.equal(sim.openConnections({ accountId: acct, market: 'margin' }), 0);
    assert.deepEqual(
      sim.connections({ accountId: acct }).map((x) => [x.kind, x.accountId, x.market, x.subscriptions]),
      [['ws-api', acct, 'spot', 1]],
    );
    assert.equal(sim.dropConnections({ accountId: acct }), 1);
    await c1.waitClosed();
    assert.equal(c1.closeCode, 1006);
    assert.equal(c2.closed, false);
    await settle();
    assert.equal(sim.openConnections(), 1);
  });

  it('stallConnections: events and responses stop, nothing is closed', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(sim.stallConnections({ accountId: acct }), 1);
    const n = c.messages.length;
    assert.equal(sim.deposit(acct, 'spot', 'USDT', '1'), undefined);
    c.ws.send(JSON.stringify({ id: 'x', method: 'time' }));
    await settle(50);
    assert.equal(c.messages.length, n);
    assert.equal(c.closed, false);
    assert.equal(sim.injectEvent(acct, 'spot', { e: 'externalLockUpdate', a: 'BTC', d: '1', T: 1 }), 0);
  });

  it('injectEvent wraps in the envelope; injectRaw sends frames as-is', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal(sim.injectEvent(acct, 'spot', { e: 'externalLockUpdate', E: 5, a: 'BTC', d: '0.1', T: 4 }), 1);
    const m = await c.next((x) => (x.event as Json | undefined)?.e === 'externalLockUpdate');
    assert.deepEqual(m, { subscriptionId: 0, event: { e: 'externalLockUpdate', E: 5, a: 'BTC', d: '0.1', T: 4 } });
    assert.equal(sim.injectRaw({ kind: 'ws-api' }, '{"broken'), 1);
    await c.next((x) => x.__unparsable === '{"broken');
    const ok = await httpRequest(sim.restUrl, 'GET', '/api/v3/time');
    assert.equal(ok.status, 200);
  });

  it('injectRawBatch sends every frame in order to each matching connection', async () => {
    const c = await connect();
    await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    const frames = Array.from({ length: 50 }, (_, i) => JSON.stringify({ subscriptionId: 0, event: { e: 'externalLockUpdate', E: i, a: 'BTC', d: '1', T: i } }));
    assert.equal(sim.injectRawBatch({ kind: 'ws-api' }, frames), 50);
    await c.next((x) => (x.event as Json | undefined)?.E === 49);
    const got = c.events().filter((e) => e.e === 'externalLockUpdate').map((e) => e.E);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i), 'every frame once, in order');
    assert.equal(sim.injectRawBatch({ kind: 'futures' }, frames), 0, 'no futures connection matches');
  });

  it('session.logon (Ed25519 only) → userDataStream.subscribe; -2035 with a .signature twin; logout ends it', async () => {
    const ed = sim.createKey(acct, 'ed25519');
    const c = await connect();
    let r = await c.request('userDataStream.subscribe');
    assert.equal((r.error as Json).code, -1002);
    r = await c.request('session.logon', subscribeParams(hmac, sim.serverTime()));
    assert.equal(r.status, 400);
    assert.equal((r.error as Json).code, -2028);
    r = await c.request('session.logon', subscribeParams(ed, sim.serverTime()));
    assert.equal(r.status, 200);
    assert.equal((r.result as Json).apiKey, ed.apiKey);
    r = await c.request('userDataStream.subscribe');
    assert.deepEqual(r.result, { subscriptionId: 0 });
    r = await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
    assert.equal((r.error as Json).code, -2035);
    r = await c.request('session.status');
    assert.equal((r.result as Json).userDataStream, true);
    sim.deposit(acct, 'spot', 'BTC', '0.1');
    const ev = await c.next((m) => (m.event as Json | undefined)?.e === 'balanceUpdate');
    assert.equal(ev.subscriptionId, 0);
    r = await c.request('session.logout');
    assert.equal((r.result as Json).apiKey, null);
    assert.equal((r.result as Json).userDataStream, false);
    await c.next((m) => (m.event as Json | undefined)?.e === 'eventStreamTerminated' && m.subscriptionId === 0);
    // a revoked key cannot subscribe after logon
    r = await c.request('session.logon', subscribeParams(ed, sim.serverTime()));
    assert.equal(r.status, 200);
    sim.revokeKey(ed.apiKey);
    r = await c.request('userDataStream.subscribe');
    assert.deepEqual([r.status, (r.error as Json).code], [401, -2015]);
  });

  it('never crashes on hostile input (binary frames, wrong shapes, bad encodings)', async () => {
    const c = await connect();
    c.ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    for (const frame of ['[]', 'null', '42', '"x"', '{"id":{"a":1},"method":7}', '{"method":"userDataStream.subscribe.signature","params":[1,2]}',
      '{"id":"u","method":"userDataStream.unsubscribe","params":{"subscriptionId":"zz"}}',
      '{"id":"s","method":"userDataStream.subscribe.signature","params":{"apiKey":{},"timestamp":"abc","signature":"%%%"}}']) {
      c.ws.send(frame);
    }
    const r = await c.request('time');
    assert.equal(r.status, 200);
    const errs = c.messages.filter((m) => m.status === 400);
    assert.equal(errs.length, 9);
    const bad = await httpRequest(sim.restUrl, 'GET', '/api/v3/account?timestamp=1&signature=%E0%A4%A', { apiKey: hmac.apiKey });
    assert.equal(bad.json.code, -1022);
    const f = await WsClient.connect(`${sim.futuresWsUrl}/ws/whatever`);
    f.ws.send('garbage');
    f.close();
    assert.equal((await httpRequest(sim.restUrl, 'GET', '/api/v3/time')).status, 200);
  });

  it('accepts the documented request verbatim (doc key registered, clock set to the doc timestamp)', async () => {
    const K = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';
    sim.registerKey(acct, { apiKey: K, keyType: 'hmac', apiSecret: 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j' });
    sim.setClockOffset(1747385641636 + 200 - Date.now());
    const c = await connect();
    c.ws.send(
      '{"id":"1","method":"userDataStream.subscribe.signature","params":{"apiKey":"' + K +
        '","timestamp":1747385641636,"recvWindow":5000,"signature":"49601ffc5b0122c3c7ee3ea85ef7d6cd76256f5191a57c976418faa32e917653"}}',
    );
    const r = await c.next((m) => m.id === '1');
    assert.deepEqual(r.result, { subscriptionId: 0 });
    sim.setClockOffset(0);
    const c2 = await connect();
    c2.ws.send(
      '{"id":"2","method":"userDataStream.subscribe.signature","params":{"apiKey":"' + K +
        '","timestamp":1747385641636,"recvWindow":5000,"signature":"49601ffc5b0122c3c7ee3ea85ef7d6cd76256f5191a57c976418faa32e917653"}}',
    );
    assert.equal(((await c2.next((m) => m.id === '2')).error as Json).code, -1021, 'the same request is stale today');
  });
});
