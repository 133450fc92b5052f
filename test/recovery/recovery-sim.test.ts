import assert from 'node:assert/strict';
import { BinanceSimulator, type CreatedKey, type SimMarket, type SimTrade } from '../../simulator/index';
import { EventDeduper } from '../../nodes/lib/recovery/dedupe';
import { GapRecovery, DeliveryPipeline } from '../../nodes/lib/recovery';
import { MemoryStateStore } from '../../nodes/lib/recovery/persistence';
import type { UserDataEvent } from '../../nodes/lib/types';
import { RestClient } from '../../nodes/lib/transport/rest';
import { Redactor } from '../../nodes/lib/exchange/redact';
import { createSigner } from '../../nodes/lib/exchange/signing';
import { HostRest } from '../../nodes/lib/stream/reliable-stream';
import { RECOVERY_REST } from '../../nodes/lib/exchange/facts';
import { fillKey, isFill, liveFillEvent, liveFillEvents, maxWindowWeight, LogCapture, restClientFor } from './helpers';

const SPOT_FILL_KEYS = new Set(['e', 's', 'S', 'i', 't', 'l', 'L', 'Y', 'n', 'N', 'T', 'm', 'x', 'g']);
const FUT_FILL_KEYS = new Set(['s', 'S', 'i', 't', 'l', 'L', 'n', 'N', 'T', 'm', 'x', 'rp', 'ps']);

function fills(n: number, q = '0.001'): string[] {
  return Array.from({ length: n }, () => q);
}

describe('recovery against the simulator (REST over loopback)', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount({
      balances: { USDT: '100000000', BTC: '100000', ETH: '100000', BNB: '100000', XRP: '10000000' },
      futuresBalances: { USDT: '100000000', BTC: '10000' },
    }).id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    await sim.stop();
  });

  function lifecycle(market: SimMarket, symbol: string, n: number, outcome: 'filled' | 'canceled' = 'filled'): SimTrade[] {
    const q = 0.001 * (n + (outcome === 'canceled' ? 1 : 0));
    return sim.runOrderLifecycle(acct, { market, symbol, side: 'BUY', quantity: q.toFixed(3), price: '10', fills: fills(n), outcome }).trades;
  }

  it('spot: fills made while offline are recovered exactly once, in trade-id order, across seen/listed/open-order symbols, paging beyond 1000', async () => {
    const logger = new LogCapture();
    const rest = restClientFor(sim, 'spot', key);
    const recovery = new GapRecovery({ market: 'spot', rest, symbols: ['ETHUSDT'], logger });
    const deduper = new EventDeduper();
    const delivered: UserDataEvent[] = [];
    const deliver = (e: UserDataEvent): void => {
      if (deduper.accept(e)) delivered.push(e);
    };

    // live phase: BTCUSDT fills seen on the stream
    const liveTrades = lifecycle('spot', 'BTCUSDT', 3);
    for (const e of liveFillEvents(sim, liveTrades)) {
      recovery.observe(e);
      deliver(e);
    }
    const gapFrom = Date.now();

    // offline: 1205 fills on BTCUSDT (seen), 4 on ETHUSDT (listed), an open BNBUSDT order with 2
    // fills (open orders), 3 on XRPUSDT (never seen, not listed, nothing open: not recoverable)
    const offline: SimTrade[] = [];
    for (let i = 0; i < 5; i++) offline.push(...lifecycle('spot', 'BTCUSDT', 241));
    offline.push(...lifecycle('spot', 'ETHUSDT', 4));
    const bnb = sim.placeOrder(acct, { market: 'spot', symbol: 'BNBUSDT', side: 'BUY', quantity: '1', price: '10' });
    offline.push(sim.fillOrder(bnb.orderId, { quantity: '0.1' }), sim.fillOrder(bnb.orderId, { quantity: '0.2' }));
    const xrp = lifecycle('spot', 'XRPUSDT', 3);

    sim.clearRequests();
    const recovered = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' });
    // an overlapping live copy of the last BTC fill (e.g. arriving after the reconnect) and a replay
    // of the pre-gap live fills must not produce duplicates
    const lastBtc = offline.filter((t) => t.symbol === 'BTCUSDT').at(-1)!;
    for (const e of [...recovered, liveFillEvent(lastBtc), ...liveFillEvents(sim, liveTrades)]) deliver(e);

    const deliveredFills = delivered.filter(isFill);
    const keys = deliveredFills.map(fillKey);
    assert.equal(new Set(keys).size, keys.length, 'no fill delivered twice');
    const expected = [...liveTrades, ...offline].map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`);
    assert.deepEqual([...keys].sort(), [...expected].sort(), 'every fill except the unrecoverable XRPUSDT ones');
    for (const t of xrp) assert.ok(!keys.includes(`${t.symbol}/${t.orderId}/${t.tradeId}`));

    // exchange order per symbol (by trade id) in the recovered list
    const recFills = recovered.filter(isFill);
    assert.equal(recFills.length, offline.length);
    for (const symbol of ['BTCUSDT', 'ETHUSDT', 'BNBUSDT']) {
      const ids = recFills.filter((e) => e.raw.s === symbol).map((e) => e.raw.t as number);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `${symbol} in trade-id order`);
      assert.deepEqual(ids, offline.filter((t) => t.symbol === symbol).map((t) => t.tradeId));
    }

    // shape: only REST fields under event keys, nothing invented
    for (const e of recFills) {
      assert.equal(e.recovered, true);
      assert.equal(e.market, 'spot');
      assert.equal(e.eventType, 'executionReport');
      assert.ok(e.restRecord && typeof e.restRecord.id === 'number');
      for (const k of Object.keys(e.raw)) assert.ok(SPOT_FILL_KEYS.has(k), `unexpected key ${k}`);
      for (const k of ['E', 'X', 'z', 'Z', 'c', 'q', 'p', 'o', 'O']) assert.equal(e.raw[k], undefined, `invented ${k}`);
    }
    const t0 = offline[0];
    const first = recFills.find((e) => e.raw.t === t0.tradeId)!;
    assert.deepEqual(first.raw, {
      e: 'executionReport',
      s: t0.symbol,
      S: 'BUY',
      i: t0.orderId,
      t: t0.tradeId,
      l: t0.quantity,
      L: t0.price,
      Y: t0.quoteQty,
      n: t0.commission,
      N: t0.commissionAsset,
      T: t0.time,
      m: t0.isMaker,
      g: -1,
      x: 'TRADE',
    });

    // order state of the open BNBUSDT order (unknown before): only REST fields
    const states = recovered.filter((e) => e.eventType === 'executionReport' && !isFill(e));
    assert.equal(states.length, 1);
    assert.equal(states[0].raw.s, 'BNBUSDT');
    assert.equal(states[0].raw.X, 'PARTIALLY_FILLED');
    assert.equal(states[0].raw.z, '0.30000000');
    assert.equal(states[0].raw.x, undefined, 'no execution type on a state event');
    assert.equal(states[0].raw.E, undefined);

    // one balance snapshot
    const bal = recovered.filter((e) => e.eventType === 'outboundAccountPosition');
    assert.equal(bal.length, 1);
    assert.equal(bal[0].raw.E, undefined);
    const B = bal[0].raw.B as Array<Record<string, unknown>>;
    assert.ok(B.some((b) => b.a === 'BNB'));

    // REST calls: paging (fromId) beyond 1000 on BTCUSDT; no call for XRPUSDT; weights in limits
    const tradeCalls = sim.requests.filter((r) => r.kind === 'rest' && r.path === '/api/v3/myTrades');
    const btcCalls = tradeCalls.filter((r) => r.params.symbol === 'BTCUSDT');
    assert.equal(btcCalls.length, 2);
    // at the last live fill's id (it vouches for its own leg only: a self-trade's other may follow)
    assert.equal(btcCalls[0].params.fromId, String(liveTrades.at(-1)!.tradeId));
    // a full page (the live row again, then 999 offline ones) continues at its last id (a self-trade's other leg may follow it)
    assert.equal(btcCalls[1].params.fromId, String(offline.filter((t) => t.symbol === 'BTCUSDT')[998].tradeId));
    assert.ok(tradeCalls.every((r) => r.params.symbol !== 'XRPUSDT'));
    const eth = tradeCalls.filter((r) => r.params.symbol === 'ETHUSDT');
    assert.ok(eth[0].params.startTime !== undefined && eth[0].params.fromId === undefined, 'no known id: by time');
    assert.ok(sim.requests.every((r) => r.status === 200));
    assert.ok(maxWindowWeight(sim.requests, 'api') <= 3000);

    // a second gap with nothing new: no fills, and trades queried from the advanced cursors
    sim.clearRequests();
    const again = await recovery.recover({ from: Date.now() - 1000, to: Date.now(), reason: 'watchdog' });
    assert.equal(again.filter(isFill).length, 0);
    const btc2 = sim.requests.find((r) => r.path === '/api/v3/myTrades' && r.params.symbol === 'BTCUSDT');
    assert.equal(btc2?.params.fromId, String(lastBtc.tradeId + 1));
    assert.ok(!logger.lines.some((l) => l.startsWith('warn') || l.startsWith('error')), logger.lines.join('\n'));
  });

  it('usdm: userTrades by fromId (never combined with times), paging, open orders, ACCOUNT_UPDATE snapshot', async () => {
    const rest = restClientFor(sim, 'usdm-futures', key);
    const recovery = new GapRecovery({ market: 'usdm-futures', rest, symbols: ['ETHUSDT'] });
    const live = lifecycle('usdm-futures', 'BTCUSDT', 2);
    for (const e of liveFillEvents(sim, live)) recovery.observe(e);
    const gapFrom = Date.now();
    const offline: SimTrade[] = [];
    offline.push(...lifecycle('usdm-futures', 'BTCUSDT', 1001));
    offline.push(...lifecycle('usdm-futures', 'ETHUSDT', 3));
    const open = sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'BNBUSDT', side: 'SELL', quantity: '2', price: '10' });
    offline.push(sim.fillOrder(open.orderId, { quantity: '1' }));

    sim.clearRequests();
    const recovered = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'listenKeyExpired' });
    const recFills = recovered.filter(isFill);
    assert.deepEqual(
      recFills.map(fillKey),
      [...offline].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.tradeId - b.tradeId)).map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`),
    );
    for (const e of recFills) {
      assert.equal(e.eventType, 'ORDER_TRADE_UPDATE');
      assert.deepEqual(Object.keys(e.raw).sort(), ['T', 'e', 'o']);
      const o = e.raw.o as Record<string, unknown>;
      for (const k of Object.keys(o)) assert.ok(FUT_FILL_KEYS.has(k), `unexpected key ${k}`);
      for (const k of ['X', 'z', 'ap', 'c', 'q', 'p']) assert.equal(o[k], undefined, `invented ${k}`);
    }
    const bnbFill = recFills.find((e) => (e.raw.o as Record<string, unknown>).s === 'BNBUSDT')!;
    assert.equal((bnbFill.raw.o as Record<string, unknown>).S, 'SELL');
    assert.equal((bnbFill.raw.o as Record<string, unknown>).ps, 'BOTH');
    assert.equal((bnbFill.raw.o as Record<string, unknown>).rp, offline.at(-1)!.realizedPnl);

    const userTrades = sim.requests.filter((r) => r.path === '/fapi/v1/userTrades');
    for (const r of userTrades) {
      assert.ok(!(r.params.fromId !== undefined && (r.params.startTime !== undefined || r.params.endTime !== undefined)));
    }
    assert.equal(userTrades.filter((r) => r.params.symbol === 'BTCUSDT').length, 2);
    assert.ok(sim.requests.some((r) => r.path === '/fapi/v1/openAlgoOrders'));
    assert.ok(sim.requests.every((r) => r.status === 200), JSON.stringify(sim.requests.filter((r) => r.status !== 200)));

    const states = recovered.filter((e) => e.eventType === 'ORDER_TRADE_UPDATE' && !isFill(e));
    assert.equal(states.length, 1);
    const so = states[0].raw.o as Record<string, unknown>;
    assert.equal(so.i, open.orderId);
    assert.equal(so.X, 'PARTIALLY_FILLED');
    assert.equal(states[0].raw.E, undefined);
    const acc = recovered.filter((e) => e.eventType === 'ACCOUNT_UPDATE');
    assert.equal(acc.length, 1);
    const a = acc[0].raw.a as { B: Array<Record<string, unknown>>; P: Array<Record<string, unknown>>; m?: unknown };
    assert.equal(a.m, undefined, 'no invented reason');
    assert.ok(a.B.some((b) => b.a === 'USDT' && typeof b.wb === 'string'));
    assert.ok(maxWindowWeight(sim.requests, 'fapi') <= 1200);
  });

  it('margin and isolated margin: trades from /sapi with isIsolated=TRUE&symbol', async () => {
    const rest = restClientFor(sim, 'margin', key);
    const cross = new GapRecovery({ market: 'margin', rest, symbols: ['BTCUSDT'] });
    const gapFrom = Date.now();
    const t = lifecycle('margin', 'BTCUSDT', 3);
    sim.clearRequests();
    const rec = await cross.recover({ from: gapFrom, to: Date.now(), reason: 'eventStreamTerminated' });
    assert.deepEqual(rec.filter(isFill).map(fillKey), t.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    assert.equal(rec.filter(isFill)[0].raw.Y, undefined, 'margin myTrades has no quoteQty');
    assert.ok(rec.some((e) => e.eventType === 'outboundAccountPosition'));
    assert.ok(sim.requests.every((r) => r.status === 200), JSON.stringify(sim.requests.filter((r) => r.status !== 200)));

    sim.deposit(acct, 'isolated-margin', 'USDT', '1000', { symbol: 'ETHUSDT' });
    const iso = new GapRecovery({ market: 'isolated-margin', rest, isolatedSymbol: 'ETHUSDT' });
    const gap2 = Date.now();
    const ti = lifecycle('isolated-margin', 'ETHUSDT', 2);
    sim.clearRequests();
    const rec2 = await iso.recover({ from: gap2, to: Date.now(), reason: 'reconnect' });
    assert.deepEqual(rec2.filter(isFill).map(fillKey), ti.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    const rest2 = sim.requests.filter((r) => r.kind === 'rest');
    assert.ok(rest2.length > 0);
    for (const r of rest2.filter((x) => x.path !== '/sapi/v1/margin/isolated/account')) {
      assert.equal(r.params.isIsolated, 'TRUE');
      assert.equal(r.params.symbol, 'ETHUSDT');
    }
    assert.ok(rest2.every((r) => r.status === 200), JSON.stringify(rest2.filter((r) => r.status !== 200)));
    assert.ok(rec2.some((e) => e.eventType === 'outboundAccountPosition'));
  });

  it('coinm: userTrades on /dapi', async () => {
    const rest = restClientFor(sim, 'coinm-futures', key);
    const recovery = new GapRecovery({ market: 'coinm-futures', rest, symbols: ['BTCUSD_PERP'] });
    const gapFrom = Date.now();
    const t = lifecycle('coinm-futures', 'BTCUSD_PERP', 2);
    sim.clearRequests();
    const rec = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' });
    assert.deepEqual(rec.filter(isFill).map(fillKey), t.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    assert.ok(rec.some((e) => e.eventType === 'ACCOUNT_UPDATE'));
    assert.ok(sim.requests.every((r) => r.status === 200), JSON.stringify(sim.requests.filter((r) => r.status !== 200)));
  });

  it('coinm: algo orders (/dapi/v1/openAlgoOrders, /dapi/v1/algoOrder since the CM–UM integration) are reconciled', async () => {
    const rest = restClientFor(sim, 'coinm-futures', key);
    const recovery = new GapRecovery({ market: 'coinm-futures', rest, symbols: ['BTCUSD_PERP'] });
    // Seen live before the gap: a COIN-M stop order that is then cancelled during the gap.
    const gone = sim.placeAlgoOrder(acct, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'SELL', quantity: '1', triggerPrice: '9' });
    recovery.observe({
      market: 'coinm-futures',
      eventType: 'ALGO_UPDATE',
      raw: { e: 'ALGO_UPDATE', E: Date.now(), o: { aid: gone.algoId, s: 'BTCUSD_PERP', X: 'NEW' } },
      receivedAt: Date.now(),
    });
    const gapFrom = Date.now();
    sim.cancelAlgoOrder(gone.algoId);
    const fresh = sim.placeAlgoOrder(acct, { market: 'coinm-futures', symbol: 'ETHUSD_PERP', side: 'BUY', quantity: '2', triggerPrice: '11' });
    sim.clearRequests();
    const rec = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' });
    const algo = rec.filter((e) => e.eventType === 'ALGO_UPDATE').map((e) => {
      const o = e.raw.o as Record<string, unknown>;
      return `${String(o.aid)}/${String(o.s)}/${String(o.X)}`;
    });
    assert.deepEqual(algo.sort(), [`${fresh.algoId}/ETHUSD_PERP/NEW`, `${gone.algoId}/BTCUSD_PERP/CANCELED`].sort());
    const paths = sim.requests.map((r) => r.path);
    assert.ok(paths.includes('/dapi/v1/openAlgoOrders'), paths.join(' '));
    assert.ok(paths.includes('/dapi/v1/algoOrder'), paths.join(' '));
    assert.ok(!paths.some((p) => p.startsWith('/fapi/')), 'COIN-M algo orders are not read from /fapi');
    // The order the new one would place: its symbol is found and queried for fills.
    assert.ok(recovery.lastStats!.symbols.includes('ETHUSD_PERP'));
    assert.ok(sim.requests.every((r) => r.status === 200), JSON.stringify(sim.requests.filter((r) => r.status !== 200)));
  });

  it('unified COIN-M: recovery requests go to the host the table names (HostRest), not the listenKey host', async () => {
    // The account's own client points at a host where nothing listens (as fapi would answer 404 for
    // /dapi paths); recovery must reach the simulator through HostRest only.
    const own = new RestClient({
      baseUrl: 'http://127.0.0.1:9',
      apiKey: key.apiKey,
      signer: createSigner('hmac', { apiKey: key.apiKey, apiSecret: key.apiSecret }),
      recvWindow: 10_000,
      timePath: '/dapi/v1/time',
      redactor: new Redactor([key.apiKey, key.apiSecret]),
    });
    const rest = new HostRest(own, sim.urlsFor('coinm-futures').restUrl);
    const recovery = new GapRecovery({ market: 'coinm-futures', rest, endpoints: RECOVERY_REST['coinm-futures'], symbols: ['BTCUSD_PERP'] });
    const gapFrom = Date.now();
    const t = lifecycle('coinm-futures', 'BTCUSD_PERP', 2);
    sim.clearRequests();
    const rec = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' });
    assert.deepEqual(rec.filter(isFill).map(fillKey), t.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    assert.deepEqual(recovery.lastStats!.errors, []);
    assert.ok(sim.requests.some((r) => r.path === '/dapi/v1/userTrades' && r.status === 200));
    assert.ok(typeof rest.usedWeight1m === 'number', 'X-MBX-USED-WEIGHT-1M passed through for the budget');
  });

  it('429 with Retry-After: backs off, then completes; 418 likewise', async () => {
    const rest = restClientFor(sim, 'spot', key);
    const recovery = new GapRecovery({ market: 'spot', rest, symbols: ['BTCUSDT'] });
    const gapFrom = Date.now();
    const t = lifecycle('spot', 'BTCUSDT', 2);
    sim.clearRequests();
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 429, retryAfterSec: 1 });
    const rec = await recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' });
    assert.deepEqual(rec.filter(isFill).map(fillKey), t.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    const calls = sim.requests.filter((r) => r.path === '/api/v3/myTrades');
    assert.equal(calls.length, 2);
    assert.equal(calls[0].status, 429);
    assert.equal(calls[1].status, 200);
    assert.ok(calls[1].at - calls[0].at >= 1000, 'waited out Retry-After');
    assert.ok(recovery.budget.blockedUntil > 0);

    const t2 = lifecycle('spot', 'BTCUSDT', 1);
    sim.clearRequests();
    sim.failNext({ path: '/api/v3/account', httpStatus: 418, retryAfterSec: 1 });
    const rec2 = await recovery.recover({ from: Date.now() - 1000, to: Date.now(), reason: 'reconnect' });
    assert.deepEqual(rec2.filter(isFill).map(fillKey), t2.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`));
    const acc = sim.requests.filter((r) => r.path === '/api/v3/account');
    assert.deepEqual(acc.map((r) => r.status), [418, 200]);
    assert.ok(acc[1].at - acc[0].at >= 1000);
  });

  it('a failing symbol is retried from the same cursor at the next gap (no fill lost, none doubled)', async () => {
    const logger = new LogCapture();
    const rest = restClientFor(sim, 'spot', key);
    const recovery = new GapRecovery({ market: 'spot', rest, symbols: ['BTCUSDT'], logger });
    const pipeline = new DeliveryPipeline({ recovery, emit: (e) => out.push(e) });
    const out: UserDataEvent[] = [];
    const first = lifecycle('spot', 'BTCUSDT', 1);
    for (const e of liveFillEvents(sim, first)) pipeline.live(e);
    const missed = lifecycle('spot', 'BTCUSDT', 3);
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 500 });
    await pipeline.gap({ from: Date.now() - 1000, to: Date.now(), reason: 'reconnect' });
    assert.ok(logger.lines.some((l) => l.startsWith('warn') && l.includes('BTCUSDT')));
    // a later live fill moves the live cursor past the missed ones...
    const later = lifecycle('spot', 'BTCUSDT', 1);
    for (const e of liveFillEvents(sim, later)) pipeline.live(e);
    // ...but the next recovery still starts from the failed cursor
    await pipeline.gap({ from: Date.now() - 1000, to: Date.now(), reason: 'reconnect' });
    const keys = out.filter(isFill).map(fillKey);
    assert.deepEqual(
      [...keys].sort(),
      [...first, ...missed, ...later].map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`).sort(),
    );
  });

  it('restart: fills made while Node-RED was stopped are recovered from the persisted cursor', async () => {
    const store = new MemoryStateStore();
    const rest = restClientFor(sim, 'spot', key);
    // first run
    const r1 = new GapRecovery({ market: 'spot', rest, symbols: ['ETHUSDT'] });
    const live = [...lifecycle('spot', 'BTCUSDT', 2), ...lifecycle('spot', 'BNBUSDT', 1)];
    for (const e of liveFillEvents(sim, live)) r1.observe(e);
    await store.set(r1.snapshot());
    // Node-RED stopped; trading goes on
    const whileStopped = [...lifecycle('spot', 'BTCUSDT', 4), ...lifecycle('spot', 'BNBUSDT', 2), ...lifecycle('spot', 'ETHUSDT', 1)];
    // second run: a fresh instance restores the state and recovers the start-up gap
    const r2 = new GapRecovery({ market: 'spot', rest, symbols: ['ETHUSDT'] });
    assert.equal(r2.startupGap(), undefined, 'nothing persisted yet: no start-up gap');
    r2.restore(await store.get());
    const gap = r2.startupGap();
    assert.ok(gap);
    assert.equal(gap.reason, 'startup');
    assert.equal(gap.from, live.at(-1)!.time);
    const rec = await r2.recover(gap);
    const keys = rec.filter(isFill).map(fillKey);
    assert.deepEqual([...keys].sort(), whileStopped.map((x) => `${x.symbol}/${x.orderId}/${x.tradeId}`).sort());
  });
});
