import { strict as assert } from 'node:assert';
import { BinanceSimulator, FSTREAM_PRODUCTION_LIKE, type CreatedKey } from '../../simulator/index';
import { WsClient, httpRequest, signedRest, installClock, restoreClock, tick, settle, type Json } from './helpers';

describe('simulator futures listenKey + /private streams', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;
  const clients: WsClient[] = [];
  async function connect(path: string, opts?: { autoPong?: boolean }): Promise<WsClient> {
    const c = await WsClient.connect(`${sim.futuresWsUrl}${path}`, opts);
    clients.push(c);
    return c;
  }
  async function newKey(api: 'fapi' | 'dapi' = 'fapi', k: CreatedKey = key): Promise<string> {
    const r = await httpRequest(sim.restUrl, 'POST', `/${api}/v1/listenKey`, { apiKey: k.apiKey });
    assert.equal(r.status, 200);
    return r.json.listenKey as string;
  }

  beforeEach(async () => {
    sim = await BinanceSimulator.start({ listenKeyValidityMs: 3_600_000 });
    acct = sim.createAccount({ futuresBalances: { USDT: '1000', BTC: '2' } }).id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    restoreClock();
    for (const c of clients.splice(0)) c.close();
    await sim.stop();
  });

  it('POST returns the same active key (extended); PUT extends; DELETE removes; -1125 afterwards; -2015/-2014', async () => {
    const k1 = await newKey();
    const exp1 = sim.listenKeys()[0].expiresAt;
    const k2 = await newKey();
    assert.equal(k2, k1);
    assert.equal(sim.listenKeys().length, 1);
    assert.ok(sim.listenKeys()[0].expiresAt >= exp1);
    let r = await httpRequest(sim.restUrl, 'PUT', '/fapi/v1/listenKey', { apiKey: key.apiKey });
    assert.equal(r.status, 200);
    assert.equal(r.json.listenKey, k1);
    // a dapi key is a different key (per-path market)
    const d = await newKey('dapi');
    assert.notEqual(d, k1);
    assert.deepEqual(sim.listenKeys().map((x) => x.market).sort(), ['coinm-futures', 'usdm-futures']);
    const c = await connect(`/private/ws/${k1}`);
    r = await httpRequest(sim.restUrl, 'DELETE', '/fapi/v1/listenKey', { apiKey: key.apiKey });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {});
    await c.waitClosed();
    r = await httpRequest(sim.restUrl, 'PUT', '/fapi/v1/listenKey', { apiKey: key.apiKey });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json, { code: -1125, msg: 'This listenKey does not exist.' });
    r = await httpRequest(sim.restUrl, 'PUT', `/fapi/v1/listenKey?listenKey=${d}`, { apiKey: key.apiKey });
    assert.equal(r.json.code, -1125, 'a dapi key is unknown on fapi');
    r = await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: 'z'.repeat(64) });
    assert.equal(r.status, 401);
    assert.equal(r.json.code, -2015);
    r = await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey');
    assert.equal(r.status, 401);
    assert.equal(r.json.code, -2014);
    const noFut = sim.createKey(acct, 'hmac', { enableFutures: false });
    r = await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: noFut.apiKey });
    assert.equal(r.json.code, -2015);
    // unknown key on connect → upgrade rejected
    await assert.rejects(connect(`/private/ws?listenKey=${'q'.repeat(64)}`), /400/);
  });

  it('expiry after validity sends listenKeyExpired on every /private form (events= only when listed); PUT keeps it alive', async () => {
    const clock = installClock();
    const k = await newKey();
    const a = await connect(`/private/ws?listenKey=${k}&events=ORDER_TRADE_UPDATE/listenKeyExpired`);
    // events= is an allow-list: listenKeyExpired not listed → not delivered
    const unlisted = await connect(`/private/ws?listenKey=${k}&events=ORDER_TRADE_UPDATE`);
    const b = await connect(`/private/ws/${k}`);
    const comb = await connect(`/private/stream?streams=${k}`);
    await tick(clock, 50 * 60_000, 30_000);
    const put = await httpRequest(sim.restUrl, 'PUT', '/fapi/v1/listenKey', { apiKey: key.apiKey });
    assert.equal(put.status, 200);
    await tick(clock, 50 * 60_000, 30_000);
    assert.equal(sim.listenKeys().length, 1, 'extended by PUT');
    assert.equal(a.messages.length + b.messages.length + comb.messages.length, 0);
    await tick(clock, 11 * 60_000, 30_000);
    const ea = await a.next((m) => m.e === 'listenKeyExpired');
    const eb = await b.next((m) => m.e === 'listenKeyExpired');
    const ec = await comb.next((m) => (m.data as Json | undefined)?.e === 'listenKeyExpired');
    assert.equal(ea.listenKey, k);
    assert.equal(typeof ea.E, 'number');
    assert.equal(eb.listenKey, k);
    assert.equal(ec.stream, k);
    assert.equal(unlisted.messages.length, 0, 'listenKeyExpired is not delivered when events= does not list it');
    assert.equal(sim.listenKeys().length, 0);
    const r = await httpRequest(sim.restUrl, 'PUT', '/fapi/v1/listenKey', { apiKey: key.apiKey });
    assert.equal(r.json.code, -1125);
    // nothing is delivered afterwards, a new POST gives a new key
    sim.deposit(acct, 'usdm-futures', 'USDT', '1');
    await settle();
    assert.equal(b.messages.length, 1);
    assert.notEqual(await newKey(), k);
  });

  it('expireListenKey (control) sends listenKeyExpired at once and forgets the key', async () => {
    const k = await newKey();
    const b = await connect(`/private/ws/${k}`);
    sim.expireListenKey(k);
    const m = await b.next();
    assert.deepEqual(Object.keys(m), ['e', 'E', 'listenKey']);
    assert.equal(sim.listenKeys().length, 0);
    await assert.rejects(connect(`/private/ws/${k}`), /400/);
  });

  it('USDⓈ-M order lifecycle: ORDER_TRADE_UPDATE, TRADE_LITE, ACCOUNT_UPDATE m=ORDER; userTrades ids match; events filter', async () => {
    const k = await newKey();
    const all = await connect(`/private/ws?listenKey=${k}`);
    const filtered = await connect(`/private/ws?listenKey=${k}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE`);
    const legacy = await connect(`/ws/${k}`);
    const open = sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000' });
    const t1 = sim.fillOrder(open.orderId, { quantity: '0.004' });
    const t2 = sim.fillOrder(open.orderId, { quantity: '0.006', maker: false });
    const close = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.01', price: '51000' });
    await all.next((m) => m.e === 'ACCOUNT_UPDATE' && all.messages.filter((x) => x.e === 'ACCOUNT_UPDATE').length === 3);
    const types = all.messages.map((m) => `${m.e}${m.e === 'ORDER_TRADE_UPDATE' ? ':' + String((m.o as Json).x) : ''}`);
    assert.deepEqual(types, [
      'ORDER_TRADE_UPDATE:NEW', 'ORDER_TRADE_UPDATE:TRADE', 'TRADE_LITE', 'ACCOUNT_UPDATE',
      'ORDER_TRADE_UPDATE:TRADE', 'TRADE_LITE', 'ACCOUNT_UPDATE',
      'ORDER_TRADE_UPDATE:NEW', 'ORDER_TRADE_UPDATE:TRADE', 'TRADE_LITE', 'ACCOUNT_UPDATE',
    ]);
    const trades = all.messages.filter((m) => m.e === 'ORDER_TRADE_UPDATE' && (m.o as Json).x === 'TRADE').map((m) => m.o as Json);
    assert.deepEqual(trades.map((o) => o.t), [t1.tradeId, t2.tradeId, close.trades[0].tradeId]);
    for (const f of ['s', 'c', 'S', 'o', 'f', 'q', 'p', 'ap', 'sp', 'x', 'X', 'i', 'l', 'z', 'L', 'N', 'n', 'T', 't', 'b', 'a', 'm', 'R', 'wt', 'ot', 'ps', 'cp', 'rp', 'pP', 'si', 'ss', 'V', 'pm', 'gtd', 'er']) {
      assert.ok(f in trades[0], `o.${f}`);
    }
    assert.equal(trades[1].X, 'FILLED');
    assert.equal(trades[1].ap, '50000');
    assert.equal(trades[2].rp, '10', '0.01 * (51000 - 50000)');
    assert.equal(trades[0].n, '0.04', 'maker 0.02% of 200');
    const lite = all.messages.find((m) => m.e === 'TRADE_LITE')!;
    assert.deepEqual(Object.keys(lite), ['e', 'E', 'T', 's', 'q', 'p', 'm', 'c', 'S', 'L', 'l', 't', 'i']);
    const au = all.messages.filter((m) => m.e === 'ACCOUNT_UPDATE').map((m) => m.a as Json);
    assert.equal(au[0].m, 'ORDER');
    assert.deepEqual((au[1].P as Json[])[0], { s: 'BTCUSDT', pa: '0.01', ep: '50000', bep: '50000', cr: '0', up: '0', mt: 'cross', iw: '0', ps: 'BOTH' });
    assert.equal((au[2].P as Json[])[0].pa, '0');
    // wallet: 1000 - 0.04 (maker) - 0.15 (taker 0.05% of 300) - 0.102 (maker on 510) + 10
    assert.equal((au[2].B as Json[])[0].wb, '1009.708');
    assert.equal(sim.balances(acct, 'usdm-futures').USDT.free, '1009.70800000');
    // filtered stream: no TRADE_LITE; legacy stream: nothing at all
    await filtered.next((m) => m.e === 'ACCOUNT_UPDATE' && filtered.messages.filter((x) => x.e === 'ACCOUNT_UPDATE').length === 3);
    assert.ok(filtered.messages.every((m) => m.e === 'ORDER_TRADE_UPDATE' || m.e === 'ACCOUNT_UPDATE'));
    assert.equal(filtered.messages.length, all.messages.length - 3);
    await settle();
    assert.equal(legacy.messages.length, 0);
    assert.equal(legacy.pings, 0);

    const ut = await signedRest(sim, key, 'GET', '/fapi/v1/userTrades', [['symbol', 'BTCUSDT']]);
    assert.equal(ut.status, 200);
    assert.equal(ut.headers['x-mbx-used-weight-1m'], String(1 + 5), 'POST listenKey 1 + userTrades 5');
    const rows = ut.body as Json[];
    assert.deepEqual(rows.map((r) => r.id), [t1.tradeId, t2.tradeId, close.trades[0].tradeId]);
    assert.deepEqual(Object.keys(rows[0]), ['symbol', 'id', 'orderId', 'side', 'price', 'qty', 'realizedPnl', 'quoteQty', 'commission', 'commissionAsset', 'time', 'positionSide', 'buyer', 'maker']);
    const combo = await signedRest(sim, key, 'GET', '/fapi/v1/userTrades', [['symbol', 'BTCUSDT'], ['fromId', '1'], ['startTime', '1']]);
    assert.equal(combo.status, 400);
    const acc = await signedRest(sim, key, 'GET', '/fapi/v3/account');
    assert.equal(acc.json.totalWalletBalance, '1009.70800000');
    assert.deepEqual(acc.json.positions, [], 'v3 lists only symbols with a position or open orders');
    sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.002', price: '52000' });
    assert.deepEqual(sim.positions(acct, 'usdm-futures'), [{ symbol: 'BTCUSDT', positionSide: 'BOTH', positionAmt: '-0.002', entryPrice: '52000' }]);
    const v3 = await signedRest(sim, key, 'GET', '/fapi/v3/account');
    assert.deepEqual((v3.json.positions as Json[]).map((p) => [p.symbol, p.positionAmt]), [['BTCUSDT', '-0.002']]);
    const v2 = await signedRest(sim, key, 'GET', '/fapi/v2/account');
    assert.equal(v2.json.canTrade, true);
    assert.equal((v2.json.positions as Json[])[0].entryPrice, '52000');
    const oo = await signedRest(sim, key, 'GET', '/fapi/v1/openOrders', [['symbol', 'BTCUSDT']]);
    assert.deepEqual(oo.body, []);
    const algo = await signedRest(sim, key, 'GET', '/fapi/v1/openAlgoOrders');
    assert.deepEqual(algo.body, []);
  });

  it('combined stream wraps {stream,data}; deposit / withdraw / funding fee / margin call / cancel / expire', async () => {
    const k = await newKey();
    const comb = await connect(`/private/stream?streams=${k}`);
    sim.deposit(acct, 'usdm-futures', 'USDT', '100');
    sim.withdraw(acct, 'usdm-futures', 'USDT', '50');
    sim.fundingFee(acct, 'usdm-futures', 'USDT', '-0.5');
    sim.marginCall(acct, 'usdm-futures', 'BTCUSDT');
    const o = sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'ETHUSDT', side: 'SELL', quantity: '1', price: '3000', positionSide: 'SHORT' });
    sim.cancelOrder(o.orderId);
    const o2 = sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'ETHUSDT', side: 'SELL', quantity: '1', price: '3000', timeInForce: 'IOC' });
    sim.expireOrder(o2.orderId);
    await comb.next((m) => ((m.data as Json).o as Json | undefined)?.X === 'EXPIRED');
    for (const m of comb.messages) assert.equal(m.stream, k);
    const data = comb.messages.map((m) => m.data as Json);
    const reasons = data.filter((d) => d.e === 'ACCOUNT_UPDATE').map((d) => [(d.a as Json).m, ((d.a as Json).B as Json[])[0].bc, ((d.a as Json).B as Json[])[0].wb]);
    assert.deepEqual(reasons, [['DEPOSIT', '100', '1100'], ['WITHDRAW', '-50', '1050'], ['FUNDING_FEE', '-0.5', '1049.5']]);
    const mc = data.find((d) => d.e === 'MARGIN_CALL')!;
    assert.deepEqual(Object.keys((mc.p as Json[])[0]), ['s', 'ps', 'pa', 'mt', 'iw', 'mp', 'up', 'mm']);
    const ends = data.filter((d) => d.e === 'ORDER_TRADE_UPDATE').map((d) => d.o as Json);
    assert.deepEqual(ends.map((x) => [x.x, x.X, x.ps]), [['NEW', 'NEW', 'SHORT'], ['CANCELED', 'CANCELED', 'SHORT'], ['NEW', 'NEW', 'BOTH'], ['EXPIRED', 'EXPIRED', 'BOTH']]);
    assert.equal(ends[3].er, '2');
  });

  it('COIN-M on /dapi + dstream /ws/<key>: ACCOUNT_UPDATE has i and all positions; commission in base asset; userTrades', async () => {
    const k = await newKey('dapi');
    const c = await connect(`/ws/${k}`);
    sim.runOrderLifecycle(acct, { market: 'coinm-futures', symbol: 'ETHUSD_PERP', side: 'BUY', quantity: '10', price: '2000' });
    const { trades } = sim.runOrderLifecycle(acct, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'BUY', quantity: '2', price: '50000' });
    await c.next((m) => m.e === 'ACCOUNT_UPDATE' && ((m.a as Json).P as Json[]).length === 2);
    const au = c.messages.filter((m) => m.e === 'ACCOUNT_UPDATE').pop()!;
    assert.equal(typeof au.i, 'string');
    assert.equal(((au.a as Json).B as Json[])[0].a, 'BTC');
    assert.equal(trades[0].commissionAsset, 'BTC');
    assert.equal(trades[0].commission, '0.00000080', '2 contracts * 100 USD / 50000 * 0.0002');
    const ut = await signedRest(sim, key, 'GET', '/dapi/v1/userTrades', [['symbol', 'BTCUSD_PERP']]);
    assert.deepEqual((ut.body as Json[]).map((r) => r.id), [trades[0].tradeId]);
    assert.equal((ut.body as Json[])[0].baseQty, '0.004');
    const acc = await signedRest(sim, key, 'GET', '/dapi/v1/account');
    assert.equal((acc.json.positions as Json[]).length, 2);
  });

  it('hosts as documented: dstream /ws/<key> and /stream?streams= stream, dstream has no /private; fstream /ws/<key> is silent', async () => {
    const d = await newKey('dapi');
    const f = await newKey('fapi');
    await assert.rejects(connect(`/private/ws/${d}`), /404/);
    await assert.rejects(connect(`/private/ws?listenKey=${d}`), /404/);
    const dws = await connect(`/ws/${d}`);
    const dcomb = await connect(`/stream?streams=${d}`);
    const fLegacy = await connect(`/ws/${f}`);
    const fPrivate = await connect(`/private/ws/${f}`);
    sim.deposit(acct, 'coinm-futures', 'BTC', '1');
    const a = await dws.next((m) => m.e === 'ACCOUNT_UPDATE');
    assert.equal(((a.a as Json).m), 'DEPOSIT');
    const c = await dcomb.next((m) => (m.data as Json | undefined)?.e === 'ACCOUNT_UPDATE');
    assert.equal(c.stream, d);
    sim.deposit(acct, 'usdm-futures', 'USDT', '1');
    const u = await fPrivate.next((m) => m.e === 'ACCOUNT_UPDATE');
    assert.equal(((u.a as Json).B as Json[])[0].a, 'USDT', 'a /fapi key carries no COIN-M events unless the account is unified');
    await settle();
    assert.equal(fLegacy.messages.length, 0, 'legacy fstream path stays silent');
    assert.ok(dws.messages.every((m) => ((m.a as Json).B as Json[])[0].a === 'BTC'), 'a /dapi key carries no USDⓈ-M events');
  });

  it('an account created with coinmOnFapi (unified) gets its COIN-M events on the /fapi key too', async () => {
    const uni = sim.createAccount({ coinmOnFapi: true }).id;
    const k2 = sim.createKey(uni, 'hmac', { enableFutures: true });
    const f = (await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: k2.apiKey })).json.listenKey as string;
    const c = await connect(`/private/ws?listenKey=${f}&events=ACCOUNT_UPDATE`);
    sim.deposit(uni, 'coinm-futures', 'BTC', '1');
    const u = await c.next((m) => m.e === 'ACCOUNT_UPDATE');
    assert.equal(((u.a as Json).B as Json[])[0].a, 'BTC');
  });

  it('server pings futures streams every futuresPingIntervalMs and terminates without pongs; max lifetime', async () => {
    const clock = installClock();
    await sim.stop();
    sim = await BinanceSimulator.start({ futuresPingIntervalMs: 180_000, futuresPongTimeoutMs: 600_000, maxConnectionLifetimeMs: 86_400_000 });
    acct = sim.createAccount().id;
    key = sim.createKey(acct, 'ed25519');
    const k = await newKey();
    const good = await connect(`/private/ws/${k}`);
    const deaf = await connect(`/private/ws/${k}`, { autoPong: false });
    await tick(clock, 180_000, 10_000);
    assert.equal(good.pings, 1);
    assert.equal(deaf.pings, 1);
    await tick(clock, 540_000, 10_000);
    assert.equal(good.pings, 4);
    assert.equal(deaf.closed, false, 'still within 10 min of the first unanswered ping');
    await tick(clock, 70_000, 10_000);
    await deaf.waitClosed();
    assert.equal(deaf.closeCode, 1006, 'terminated, no close frame');
    assert.equal(good.closed, false);
    // keep the key alive and run to 24 h: the server closes the socket
    for (let h = 0; h < 24; h++) {
      await httpRequest(sim.restUrl, 'PUT', '/fapi/v1/listenKey', { apiKey: key.apiKey });
      await tick(clock, 3_600_000, 60_000);
    }
    await good.waitClosed();
    assert.equal(good.closeCode, 1000);
  });

  it('production-like fstream (FSTREAM_PRODUCTION_LIKE): the path form is accepted and stays silent (no event, no ping, no listenKeyExpired); the query forms deliver', async () => {
    const clock = installClock();
    await sim.stop();
    sim = await BinanceSimulator.start({ ...FSTREAM_PRODUCTION_LIKE, futuresPingIntervalMs: 180_000, listenKeyValidityMs: 3_600_000 });
    acct = sim.createAccount({ futuresBalances: { USDT: '1000' } }).id;
    key = sim.createKey(acct, 'hmac');
    const k = await newKey();
    const path = await connect(`/private/ws/${k}`);
    const query = await connect(`/private/ws?listenKey=${k}&events=ACCOUNT_UPDATE/listenKeyExpired`);
    const bare = await connect(`/private/ws?listenKey=${k}`);
    sim.deposit(acct, 'usdm-futures', 'USDT', '5');
    await query.next((m) => m.e === 'ACCOUNT_UPDATE');
    await bare.next((m) => m.e === 'ACCOUNT_UPDATE');
    await tick(clock, 200_000, 10_000);
    assert.equal(query.pings, 1);
    assert.equal(bare.pings, 1);
    sim.expireListenKey(k);
    await query.next((m) => m.e === 'listenKeyExpired');
    await bare.next((m) => m.e === 'listenKeyExpired');
    await settle();
    assert.equal(path.messages.length, 0, 'no event, no listenKeyExpired');
    assert.equal(path.pings, 0, 'not even a ping');
    assert.equal(path.closed, false, 'accepted and kept open');
  });

  it('one /private connection carries several listenKeys (SUBSCRIBE / LIST_SUBSCRIPTIONS / UNSUBSCRIBE)', async () => {
    const k1 = await newKey();
    const other = sim.createAccount().id;
    const k2 = await newKey('fapi', sim.createKey(other, 'hmac'));
    const c = await connect(`/private/ws?listenKey=${k1}`);
    c.ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: [k2], id: 1 }));
    assert.deepEqual(await c.next((m) => m.id === 1), { result: null, id: 1 });
    c.ws.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 2 }));
    assert.deepEqual((await c.next((m) => m.id === 2)).result, [k1, k2]);
    c.ws.send(JSON.stringify({ method: 'SUBSCRIBE', params: ['nope'], id: 3 }));
    assert.equal(((await c.next((m) => m.id === 3)).error as Json).code, 2);
    sim.deposit(other, 'usdm-futures', 'USDT', '7');
    const ev = await c.next((m) => m.e === 'ACCOUNT_UPDATE');
    assert.equal((((ev.a as Json).B as Json[])[0]).bc, '7');
    c.ws.send(JSON.stringify({ method: 'UNSUBSCRIBE', params: [k2], id: 4 }));
    await c.next((m) => m.id === 4);
    const n = c.messages.length;
    sim.deposit(other, 'usdm-futures', 'USDT', '1');
    await settle();
    assert.equal(c.messages.length, n);
    c.ws.send('{oops');
    assert.equal(((await c.next((m) => m.id === null && m.error !== undefined)).error as Json).code, 3);
  });
});
