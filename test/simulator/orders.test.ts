/**
 * Simulator: single-order lookups (GET …/order on every market) and USDⓈ-M algo orders
 * (placeAlgoOrder / triggerAlgoOrder / cancelAlgoOrder, ALGO_UPDATE, /fapi/v1/algoOrder,
 * /fapi/v1/openAlgoOrders), as gap recovery uses them.
 */
import { strict as assert } from 'node:assert';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { WsClient, httpRequest, settle, signedRest, type Json } from './helpers';

describe('simulator: single-order lookups and algo orders', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;
  const clients: WsClient[] = [];

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount({ balances: { USDT: '100000', BTC: '10' }, futuresBalances: { USDT: '100000', BTC: '10' } }).id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await sim.stop();
  });

  function lastWeight(path: string): number | undefined {
    return [...sim.requests].reverse().find((r) => r.path === path)?.weight;
  }

  async function futuresStream(api: 'fapi' | 'dapi' = 'fapi'): Promise<WsClient> {
    const lk = await httpRequest(sim.restUrl, 'POST', `/${api}/v1/listenKey`, { apiKey: key.apiKey });
    const c = await WsClient.connect(`${sim.futuresWsUrl}/private/ws/${String(lk.json.listenKey)}`);
    clients.push(c);
    return c;
  }

  it('GET /api/v3/order: by orderId or origClientOrderId, the same row as allOrders, weight 4; -2013 / -1102', async () => {
    const o = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.5', price: '100', clientOrderId: 'my-order-1' });
    sim.fillOrder(o.orderId, { quantity: '0.2' });
    const all = await signedRest(sim, key, 'GET', '/api/v3/allOrders', [['symbol', 'BTCUSDT']]);
    const row = (all.body as Json[]).find((r) => r.orderId === o.orderId);
    assert.ok(row);

    const byId = await signedRest(sim, key, 'GET', '/api/v3/order', [['symbol', 'BTCUSDT'], ['orderId', String(o.orderId)]]);
    assert.equal(byId.status, 200);
    assert.deepEqual(byId.body, row);
    assert.equal(byId.json.status, 'PARTIALLY_FILLED');
    assert.equal(byId.json.executedQty, '0.20000000');
    assert.equal(byId.json.cummulativeQuoteQty, '20.00000000');
    assert.equal(lastWeight('/api/v3/order'), 4);

    const byClient = await signedRest(sim, key, 'GET', '/api/v3/order', [['symbol', 'btcusdt'], ['origClientOrderId', 'my-order-1']]);
    assert.deepEqual(byClient.body, row);
    const both = await signedRest(sim, key, 'GET', '/api/v3/order', [['symbol', 'BTCUSDT'], ['orderId', String(o.orderId)], ['origClientOrderId', 'my-order-1']]);
    assert.deepEqual(both.body, row);

    const notFound = { code: -2013, msg: 'Order does not exist.' };
    for (const params of [
      [['symbol', 'BTCUSDT'], ['orderId', '999']],
      [['symbol', 'BTCUSDT'], ['origClientOrderId', 'nope']],
      [['symbol', 'ETHUSDT'], ['orderId', String(o.orderId)]],
      [['symbol', 'BTCUSDT'], ['orderId', String(o.orderId)], ['origClientOrderId', 'other']],
    ] as Array<Array<[string, string]>>) {
      const r = await signedRest(sim, key, 'GET', '/api/v3/order', params);
      assert.equal(r.status, 400, JSON.stringify(params));
      assert.deepEqual(r.json, notFound, JSON.stringify(params));
    }
    // another account's order does not exist for this key
    const other = sim.createAccount().id;
    const otherKey = sim.createKey(other, 'hmac');
    const foreign = await signedRest(sim, otherKey, 'GET', '/api/v3/order', [['symbol', 'BTCUSDT'], ['orderId', String(o.orderId)]]);
    assert.deepEqual(foreign.json, notFound);
    // a margin order is not a spot order
    const m = sim.placeOrder(acct, { market: 'margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.1', price: '100' });
    const wrongMarket = await signedRest(sim, key, 'GET', '/api/v3/order', [['symbol', 'BTCUSDT'], ['orderId', String(m.orderId)]]);
    assert.deepEqual(wrongMarket.json, notFound);

    const noId = await signedRest(sim, key, 'GET', '/api/v3/order', [['symbol', 'BTCUSDT']]);
    assert.equal(noId.json.code, -1102);
    const noSymbol = await signedRest(sim, key, 'GET', '/api/v3/order', [['orderId', String(o.orderId)]]);
    assert.equal(noSymbol.json.code, -1102);
    const unsigned = await httpRequest(sim.restUrl, 'GET', `/api/v3/order?symbol=BTCUSDT&orderId=${o.orderId}&timestamp=${sim.serverTime()}`, { apiKey: key.apiKey });
    assert.equal(unsigned.json.code, -1102, 'signed endpoint');
  });

  it('GET /sapi/v1/margin/order (cross and isolated), weight 10', async () => {
    const cross = sim.placeOrder(acct, { market: 'margin', symbol: 'BTCUSDT', side: 'SELL', quantity: '1', price: '200' });
    sim.cancelOrder(cross.orderId);
    const r = await signedRest(sim, key, 'GET', '/sapi/v1/margin/order', [['symbol', 'BTCUSDT'], ['orderId', String(cross.orderId)]]);
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'CANCELED');
    assert.equal(r.json.isIsolated, false);
    assert.equal(r.json.clientOrderId, cross.clientOrderId);
    assert.equal(lastWeight('/sapi/v1/margin/order'), 10);

    const iso = sim.placeOrder(acct, { market: 'isolated-margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.1', price: '100' });
    const ri = await signedRest(sim, key, 'GET', '/sapi/v1/margin/order', [['symbol', 'BTCUSDT'], ['isIsolated', 'TRUE'], ['orderId', String(iso.orderId)]]);
    assert.equal(ri.json.status, 'NEW');
    assert.equal(ri.json.isIsolated, true);
    const wrong = await signedRest(sim, key, 'GET', '/sapi/v1/margin/order', [['symbol', 'BTCUSDT'], ['orderId', String(iso.orderId)]]);
    assert.equal(wrong.json.code, -2013, 'an isolated order is not found without isIsolated=TRUE');
  });

  for (const api of ['fapi', 'dapi'] as const) {
    it(`GET /${api}/v1/order: the futures order row, weight 1`, async () => {
      const market = api === 'fapi' ? 'usdm-futures' : 'coinm-futures';
      const symbol = api === 'fapi' ? 'BTCUSDT' : 'BTCUSD_PERP';
      const o = sim.placeOrder(acct, { market, symbol, side: 'BUY', quantity: '2', price: '50000', clientOrderId: `c-${api}` });
      sim.fillOrder(o.orderId, { quantity: '2' });
      const all = await signedRest(sim, key, 'GET', `/${api}/v1/allOrders`, [['symbol', symbol]]);
      const row = (all.body as Json[]).find((x) => x.orderId === o.orderId);
      const r = await signedRest(sim, key, 'GET', `/${api}/v1/order`, [['symbol', symbol], ['origClientOrderId', `c-${api}`]]);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, row);
      assert.equal(r.json.status, 'FILLED');
      assert.equal(r.json.avgPrice, '50000');
      assert.equal(r.json.executedQty, '2');
      assert.equal(lastWeight(`/${api}/v1/order`), 1);
      const missing = await signedRest(sim, key, 'GET', `/${api}/v1/order`, [['symbol', symbol], ['orderId', '12345']]);
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.json, { code: -2013, msg: 'Order does not exist.' });
    });
  }

  it('algo orders: NEW → TRIGGERED → order filled → FINISHED, with ALGO_UPDATE and REST views along the way', async () => {
    const c = await futuresStream();
    const algo = sim.placeAlgoOrder(acct, {
      symbol: 'BTCUSDT',
      side: 'SELL',
      type: 'STOP_MARKET',
      quantity: '0.5',
      triggerPrice: '48000',
      reduceOnly: true,
      clientAlgoId: 'stop-1',
    });
    assert.equal(algo.algoStatus, 'NEW');
    const newEv = await c.next((m) => m.e === 'ALGO_UPDATE');
    const o = newEv.o as Json;
    assert.equal(o.X, 'NEW');
    assert.equal(o.aid, algo.algoId);
    assert.equal(o.caid, 'stop-1');
    assert.equal(o.at, 'CONDITIONAL');
    assert.equal(o.o, 'STOP_MARKET');
    assert.equal(o.s, 'BTCUSDT');
    assert.equal(o.S, 'SELL');
    assert.equal(o.q, '0.5');
    assert.equal(o.tp, '48000');
    assert.equal(o.ai, '');
    assert.equal(o.R, true);
    assert.equal(typeof newEv.E, 'number');
    assert.equal(typeof newEv.T, 'number');

    // open algo orders: weight 1 with symbol, 40 without; only NEW ones
    const other = sim.placeAlgoOrder(acct, { symbol: 'ETHUSDT', side: 'BUY', type: 'TAKE_PROFIT', quantity: '1', triggerPrice: '2000', price: '1990' });
    const open = await signedRest(sim, key, 'GET', '/fapi/v1/openAlgoOrders', [['symbol', 'BTCUSDT']]);
    assert.equal(lastWeight('/fapi/v1/openAlgoOrders'), 1);
    assert.deepEqual((open.body as Json[]).map((r) => r.algoId), [algo.algoId]);
    const row = (open.body as Json[])[0];
    assert.equal(row.clientAlgoId, 'stop-1');
    assert.equal(row.algoType, 'CONDITIONAL');
    assert.equal(row.orderType, 'STOP_MARKET');
    assert.equal(row.algoStatus, 'NEW');
    assert.equal(row.triggerPrice, '48000');
    assert.equal(row.quantity, '0.5');
    assert.equal(row.actualOrderId, '');
    assert.equal(row.reduceOnly, true);
    const openAll = await signedRest(sim, key, 'GET', '/fapi/v1/openAlgoOrders');
    assert.equal(lastWeight('/fapi/v1/openAlgoOrders'), 40);
    assert.deepEqual((openAll.body as Json[]).map((r) => r.algoId), [algo.algoId, other.algoId]);
    const q = await signedRest(sim, key, 'GET', '/fapi/v1/algoOrder', [['algoId', String(algo.algoId)]]);
    assert.deepEqual(q.body, row);
    assert.equal(lastWeight('/fapi/v1/algoOrder'), 1);

    // trigger + fill
    const from = c.messages.length;
    const { order } = sim.triggerAlgoOrder(algo.algoId, { fillPrice: '47990' });
    assert.equal(order.status, 'FILLED');
    const finished = await c.next((m) => m.e === 'ALGO_UPDATE' && (m.o as Json).X === 'FINISHED', from);
    const seq = c.messages.slice(from).map((m) => `${String(m.e)}:${String(((m.o ?? {}) as Json).X ?? ((m.o ?? {}) as Json).x ?? '')}`);
    assert.deepEqual(seq.slice(0, 3), ['ALGO_UPDATE:TRIGGERING', 'ORDER_TRADE_UPDATE:NEW', 'ALGO_UPDATE:TRIGGERED']);
    assert.equal(seq.at(-1), 'ALGO_UPDATE:FINISHED');
    assert.ok(seq.indexOf('ORDER_TRADE_UPDATE:FILLED') > 2 && seq.indexOf('ORDER_TRADE_UPDATE:FILLED') < seq.length - 1, seq.join(' '));
    const placed = c.messages.slice(from).find((m) => m.e === 'ORDER_TRADE_UPDATE') as Json;
    const po = placed.o as Json;
    assert.equal(po.i, order.orderId);
    assert.equal(po.o, 'MARKET');
    assert.equal(po.ot, 'STOP_MARKET');
    assert.equal(po.c, 'stop-1');
    assert.equal(po.sp, '48000');
    const triggered = c.messages.slice(from).find((m) => m.e === 'ALGO_UPDATE' && (m.o as Json).X === 'TRIGGERED') as Json;
    assert.equal((triggered.o as Json).ai, String(order.orderId));
    assert.equal(typeof (triggered.o as Json).tt, 'number');
    assert.ok(((triggered.o as Json).tt as number) > 0);
    const fo = finished.o as Json;
    assert.equal(fo.ai, String(order.orderId));
    assert.equal(fo.aq, '0.5');
    assert.equal(fo.ap, '47990');
    assert.equal(fo.act, 'MARKET');

    const after = await signedRest(sim, key, 'GET', '/fapi/v1/openAlgoOrders', [['symbol', 'BTCUSDT']]);
    assert.deepEqual(after.body, [], 'a triggered algo order is no longer open');
    const done = await signedRest(sim, key, 'GET', '/fapi/v1/algoOrder', [['clientAlgoId', 'stop-1']]);
    assert.equal(done.json.algoStatus, 'FINISHED');
    assert.equal(done.json.actualOrderId, String(order.orderId));
    assert.equal(done.json.actualPrice, '47990');
    const actual = await signedRest(sim, key, 'GET', '/fapi/v1/order', [['symbol', 'BTCUSDT'], ['orderId', String(order.orderId)]]);
    assert.equal(actual.json.status, 'FILLED');
    assert.equal(actual.json.type, 'MARKET');
    assert.equal(actual.json.origType, 'STOP_MARKET');
    assert.equal(sim.getAlgoOrder(algo.algoId)?.algoStatus, 'FINISHED');
    assert.equal(sim.getAlgoOrder(algo.algoId)?.actualOrderId, order.orderId);

    // cancel the other one
    const from2 = c.messages.length;
    assert.equal(sim.cancelAlgoOrder(other.algoId).algoStatus, 'CANCELED');
    const canceled = await c.next((m) => m.e === 'ALGO_UPDATE', from2);
    assert.equal((canceled.o as Json).X, 'CANCELED');
    assert.equal((canceled.o as Json).aid, other.algoId);
    assert.equal((canceled.o as Json).o, 'TAKE_PROFIT');
    assert.equal((canceled.o as Json).p, '1990');
    assert.equal((canceled.o as Json).act, 'LIMIT');
    const q2 = await signedRest(sim, key, 'GET', '/fapi/v1/algoOrder', [['algoId', String(other.algoId)]]);
    assert.equal(q2.json.algoStatus, 'CANCELED');
    assert.deepEqual((await signedRest(sim, key, 'GET', '/fapi/v1/openAlgoOrders')).body, []);
    assert.throws(() => sim.cancelAlgoOrder(other.algoId), /CANCELED/);
    assert.throws(() => sim.triggerAlgoOrder(algo.algoId), /FINISHED/);

    const missing = await signedRest(sim, key, 'GET', '/fapi/v1/algoOrder', [['algoId', '42']]);
    assert.deepEqual(missing.json, { code: -2013, msg: 'Order does not exist.' });
    const noId = await signedRest(sim, key, 'GET', '/fapi/v1/algoOrder');
    assert.equal(noId.json.code, -1102);
  });

  it('a triggered LIMIT algo order rests on the book; canceling it finishes the algo order', async () => {
    const c = await futuresStream();
    const algo = sim.placeAlgoOrder(acct, { symbol: 'BTCUSDT', side: 'BUY', type: 'STOP', quantity: '1', triggerPrice: '51000', price: '51100' });
    const { order } = sim.triggerAlgoOrder(algo.algoId);
    assert.equal(order.status, 'NEW');
    assert.equal(order.type, 'LIMIT');
    assert.equal(order.price, '51100');
    const open = await signedRest(sim, key, 'GET', '/fapi/v1/openOrders', [['symbol', 'BTCUSDT']]);
    assert.deepEqual((open.body as Json[]).map((r) => [r.orderId, r.type, r.origType]), [[order.orderId, 'LIMIT', 'STOP']]);
    assert.equal(sim.getAlgoOrder(algo.algoId)?.algoStatus, 'TRIGGERED');
    const from = c.messages.length;
    sim.cancelOrder(order.orderId);
    const fin = await c.next((m) => m.e === 'ALGO_UPDATE', from);
    assert.equal((fin.o as Json).X, 'FINISHED');
    assert.equal((fin.o as Json).aq, '0');
    await settle();
    assert.equal(sim.getAlgoOrder(algo.algoId)?.algoStatus, 'FINISHED');
  });
});
