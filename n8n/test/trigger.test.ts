/**
 * The built Binance User Stream Trigger (n8n/dist, as n8n loads it) driven through a faithful
 * ITriggerFunctions (trigger-functions.ts) against our simulator on loopback, in real time:
 * activation, emits and their items, filters, decimals, deactivation, a reconnect with gap
 * recovery, exactly-once, cursors in static data across a restart, one shared stream, manual
 * mode, auth and configuration errors, the credential test, and no secret in anything that leaves.
 */
import assert from 'node:assert/strict';
import type { IDataObject } from 'n8n-workflow';
import { BinanceSimulator, FSTREAM_PRODUCTION_LIKE, type CreatedKey } from '../../simulator/index';
import { normalizeUserDataEvent } from '../../nodes/lib';
import { FUTURES_PATH_FORMS } from '../../nodes/lib/exchange/endpoints';
import { installClock, waitFor } from '../../test/support/fake-clock';
import { TriggerHarness, loadTriggerType, type FakeOptions } from './trigger-functions';

const STATIC_KEY = 'binanceUserStreamRecovery';

/**
 * The highest BTCUSDT trade id the trigger's saved state claims delivered: its safe cursor, or an
 * id in its delivered set (version 2: ids; version 3: ids and [from, to] ranges).
 */
function claimedIn(data: IDataObject, node = 'node:Binance User Stream Trigger'): number {
  type Saved = { lastTradeIds?: Record<string, number>; delivered?: Record<string, unknown>; deliveredRanges?: Record<string, unknown> };
  const st = (data[node] as IDataObject | undefined)?.[STATIC_KEY] as Saved | undefined;
  const nums = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(nums) : []);
  return Math.max(0, st?.lastTradeIds?.BTCUSDT ?? 0, ...nums(st?.delivered?.BTCUSDT), ...nums(st?.deliveredRanges?.BTCUSDT));
}

describe('n8n: Binance User Stream Trigger (built package, simulator)', function () {
  this.timeout(60_000);
  const type = loadTriggerType();
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;
  const open: TriggerHarness[] = [];

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount({ balances: { USDT: '1000000', BTC: '10', ETH: '100' } }).id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    for (const h of open.splice(0)) {
      await h.close();
      // nothing that left the trigger carries a secret
      for (const secret of [key.apiKey, key.apiSecret as string]) assert.ok(!h.everything().includes(secret), 'a secret left the trigger');
    }
    await sim.stop();
  });

  function credentials(over: IDataObject = {}): IDataObject {
    const urls = sim.urlsFor('spot');
    return { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: key.apiKey, apiSecret: key.apiSecret, ...over };
  }

  async function start(parameters: IDataObject = {}, extra: Partial<FakeOptions> = {}): Promise<TriggerHarness> {
    const h = new TriggerHarness(type, { parameters: { market: 'spot', ...parameters }, credentials: credentials(), ...extra });
    open.push(h);
    await h.activate();
    return h;
  }

  const subscribed = (n = 1) => waitFor(() => sim.subscriptions({ market: 'spot' }).length >= n, { timeoutMs: 15_000, message: 'subscription' });

  function fill(symbol = 'BTCUSDT', quantity = '0.5') {
    const o = sim.placeOrder(acct, { market: 'spot', symbol, side: 'BUY', quantity: '1', price: symbol === 'BTCUSDT' ? '50000' : '3000' });
    const t = sim.fillOrder(o.orderId, { quantity });
    return { order: o, trade: t, eventId: `fill:spot:${symbol}:${o.orderId}:${t.tradeId}` };
  }

  const ids = (h: TriggerHarness) => h.items().map((i) => i.eventId as string);

  it('activation: a fill is one emit of one item, the normalised payload plus eventId, eventType, market, recovered and raw', async () => {
    const h = await start();
    await subscribed();
    const f = fill();
    await waitFor(() => h.emitted.length === 1, { timeoutMs: 15_000, message: 'emit' });
    assert.equal(h.emitted[0].length, 1, 'one output');
    assert.equal(h.emitted[0][0].length, 1, 'one item');
    const item = h.items()[0];
    const raw = item.raw as Record<string, unknown>;
    assert.equal(raw.e, 'executionReport');
    // the same normaliser as the Node-RED nodes
    const { eventId, eventType, market, recovered, raw: rawField, ...payload } = item;
    assert.equal(rawField, raw);
    assert.deepEqual(payload, normalizeUserDataEvent('executionReport', raw));
    assert.equal(eventId, f.eventId);
    assert.equal(eventType, 'executionReport');
    assert.equal(market, 'spot');
    assert.equal(recovered, false);
    assert.equal(item.executionType, 'TRADE');
    assert.equal(item.tradeId, f.trade.tradeId);
    assert.equal(typeof item.lastFilledQuantity, 'string', 'decimals are strings by default');
  });

  const MARKET_CASES: Array<{ market: string; order: { market: 'spot' | 'margin' | 'isolated-margin' | 'usdm-futures' | 'coinm-futures'; symbol: string } }> = [
    { market: 'spot', order: { market: 'spot', symbol: 'BTCUSDT' } },
    { market: 'margin', order: { market: 'margin', symbol: 'BTCUSDT' } },
    { market: 'isolated-margin', order: { market: 'isolated-margin', symbol: 'BTCUSDT' } },
    { market: 'usdm-futures', order: { market: 'usdm-futures', symbol: 'BTCUSDT' } },
    { market: 'coinm-futures', order: { market: 'coinm-futures', symbol: 'BTCUSD_PERP' } },
    // portfolio margin: one stream for the UM, CM and margin books; a UM fill here
    { market: 'portfolio-margin', order: { market: 'usdm-futures', symbol: 'BTCUSDT' } },
  ];
  for (const c of MARKET_CASES) {
    it(`every market of the Node-RED account: ${c.market} fills`, async () => {
      const { id } = sim.createAccount({ balances: { USDT: '100000', BTC: '10' }, futuresBalances: { USDT: '100000', BTC: '10' } });
      sim.deposit(id, 'margin', 'USDT', '50000');
      sim.deposit(id, 'isolated-margin', 'USDT', '50000', { symbol: 'BTCUSDT' });
      const k = sim.createKey(id, 'hmac');
      const urls = sim.urlsFor(c.market as 'spot');
      const h = new TriggerHarness(type, {
        parameters: { market: c.market, ...(c.market === 'isolated-margin' ? { isolatedSymbol: 'BTCUSDT' } : {}) },
        credentials: { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: k.apiKey, apiSecret: k.apiSecret },
      });
      open.push(h);
      await h.activate();
      // subscribed: a WebSocket API subscription, or a listenKey stream open, of this account
      await waitFor(
        () =>
          sim.subscriptions({ accountId: id }).length > 0 ||
          (sim.listenKeys().some((l) => l.accountId === id) && sim.openConnections({ accountId: id }) > 0),
        { timeoutMs: 15_000, message: 'subscribed' },
      );
      const { trades } = sim.runOrderLifecycle(id, { ...c.order, side: 'BUY', quantity: '1', price: '100' });
      await waitFor(() => h.items().length >= trades.length, { timeoutMs: 30_000, message: `fills of ${c.market}` }).catch((err: Error) => {
        throw new Error(`${err.message}; items ${JSON.stringify(h.items().map((i) => i.eventId))}; connections ${JSON.stringify(sim.connections())}; log:\n${h.logs.filter((l) => !l.startsWith('debug')).join('\n')}`);
      });
      const fills = h.items();
      assert.deepEqual(fills.map((i) => i.tradeId), trades.map((t) => t.tradeId));
      for (const i of fills) {
        assert.equal(i.executionType, 'TRADE');
        assert.equal(i.market, c.market);
        assert.match(i.eventId as string, new RegExp(`^fill:${c.market}:${c.order.symbol}:`));
      }
    });
  }

  it('order updates: "fills only" by default drops NEW and CANCELED; "all" passes them; the symbol filter applies', async () => {
    const fills = await start({ symbols: 'ETH*' });
    const all = await start({ orderUpdates: 'all' }, { nodeName: 'All' });
    await subscribed();
    const o = sim.placeOrder(acct, { market: 'spot', symbol: 'ETHUSDT', side: 'SELL', quantity: '1', price: '3000' });
    sim.cancelOrder(o.orderId);
    const btc = fill('BTCUSDT');
    const eth = fill('ETHUSDT');
    await waitFor(() => all.items().length >= 6 && fills.items().length >= 1, { timeoutMs: 15_000, message: 'emits' });
    await waitFor(() => all.items().some((i) => i.eventId === eth.eventId), { timeoutMs: 15_000 });
    assert.deepEqual(ids(fills), [eth.eventId], 'fills only, ETH* only');
    const types = all.items().map((i) => i.executionType);
    assert.ok(types.includes('NEW') && types.includes('CANCELED') && types.includes('TRADE'), types.join());
    assert.ok(ids(all).includes(btc.eventId));
  });

  it('decimals as numbers; balances and positions; balance updates per asset', async () => {
    const numbers = await start({ decimals: 'numbers' });
    const positions = await start({ events: 'accountPosition', assets: 'BTC' }, { nodeName: 'Positions' });
    const deposits = await start({ events: 'balanceUpdates' }, { nodeName: 'Deposits' });
    await subscribed();
    const f = fill();
    sim.deposit(acct, 'spot', 'USDT', '25.5');
    await waitFor(() => numbers.items().length === 1 && positions.items().length >= 1 && deposits.items().length >= 1, { timeoutMs: 15_000, message: 'emits' });
    const n = numbers.items()[0];
    assert.equal(n.eventId, f.eventId);
    assert.equal(typeof n.lastFilledQuantity, 'number');
    assert.equal(n.lastFilledQuantity, 0.5);
    const p = positions.items()[0];
    assert.equal(p.eventType, 'outboundAccountPosition');
    assert.deepEqual((p.balances as Array<{ asset: string }>).map((b) => b.asset), ['BTC'], 'asset filter');
    const d = deposits.items().find((i) => i.eventType === 'balanceUpdate');
    assert.ok(d, 'a balanceUpdate item');
    assert.equal(d.asset, 'USDT');
    assert.equal(typeof d.delta, 'string', 'exact decimal string');
    assert.equal(Number(d.delta), 25.5);
  });

  it('one shared connection per credentials and market, however many triggers; deactivation closes it within seconds', async () => {
    const a = await start();
    const b = await start({}, { nodeName: 'Second' });
    await subscribed();
    assert.equal(sim.openConnections(), 1, 'one connection for two triggers');
    const f = fill();
    await waitFor(() => ids(a).includes(f.eventId) && ids(b).includes(f.eventId), { timeoutMs: 15_000 });
    await a.close();
    assert.equal(sim.openConnections(), 1, 'the other trigger still listens');
    await b.close();
    await waitFor(() => sim.openConnections() === 0, { timeoutMs: 5_000, message: 'closed after the last closeFunction' });
    const after = fill();
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!ids(a).includes(after.eventId) && !ids(b).includes(after.eventId), 'nothing emitted after close');
  });

  it('several workflows on one credential: one deactivated while fills are made gets them once when activated again, from its own cursors in its static data; the other gets every fill once; one connection', async () => {
    const dbA = { staticData: {} as IDataObject };
    const dbB = { staticData: {} as IDataObject };
    const a = await start({}, { db: dbA });
    const b = await start({}, { db: dbB });
    await subscribed();
    assert.equal(sim.openConnections(), 1, 'one connection for both workflows');
    const connId = sim.connections()[0].id;

    const f1 = fill();
    await waitFor(() => ids(a).includes(f1.eventId) && ids(b).includes(f1.eventId), { timeoutMs: 15_000, message: 'f1 to both' });
    // what n8n saved with the emit already covers the emitted fill (n8n saves nothing on deactivation)
    assert.equal(claimedIn(dbB.staticData), f1.trade.tradeId, 'saved with the emit');
    await b.close(); // deactivated
    open.splice(open.indexOf(b), 1);
    assert.equal(sim.openConnections(), 1, 'the other workflow still listens');

    const f2 = fill();
    const f3 = fill();
    await waitFor(() => ids(a).includes(f3.eventId), { timeoutMs: 15_000, message: 'f2, f3 to the active workflow' });

    // activated again: n8n loads its static data from the database
    const b2 = await start({}, { db: dbB });
    await waitFor(() => ids(b2).includes(f3.eventId), { timeoutMs: 30_000, message: 'f2, f3 to the reactivated workflow' }).catch((err: Error) => {
      throw new Error(`${err.message}; got ${JSON.stringify(ids(b2))}`);
    });
    const f4 = fill();
    await waitFor(() => ids(a).includes(f4.eventId) && ids(b2).includes(f4.eventId), { timeoutMs: 15_000, message: 'f4 to both' });
    await new Promise((r) => setTimeout(r, 500));

    assert.deepEqual(ids(a), [f1, f2, f3, f4].map((f) => f.eventId), 'the active workflow: every fill once');
    assert.ok(a.items().every((i) => i.recovered === false));
    assert.deepEqual(ids(b), [f1.eventId]);
    assert.deepEqual(ids(b2), [f2, f3, f4].map((f) => f.eventId), 'reactivated: what it missed, then live; f1 not again');
    assert.deepEqual(b2.items().map((i) => i.recovered), [true, true, false]);
    assert.deepEqual(sim.connections().map((c) => c.id), [connId], 'one connection all along');
    assert.equal(claimedIn(dbA.staticData), f4.trade.tradeId);
    assert.equal(claimedIn(dbB.staticData), f4.trade.tradeId);
  });

  it('a workflow deactivated and activated again three times while fills keep coming gets every fill exactly once across its activations; the other workflow gets every fill once, in order', async () => {
    const a = await start({}, { db: { staticData: {} } });
    const dbB = { staticData: {} as IDataObject };
    let b = await start({}, { db: dbB });
    await subscribed();
    const all: string[] = [];
    const gotB: string[] = [];
    const burst = (): void => {
      for (let i = 0; i < 5; i++) {
        const o = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000' });
        all.push(`fill:spot:BTCUSDT:${o.orderId}:${sim.fillOrder(o.orderId, { quantity: '0.01' }).tradeId}`);
      }
    };
    for (let round = 0; round < 3; round++) {
      burst();
      await waitFor(() => ids(b).length > 0, { timeoutMs: 15_000, message: 'some fills reached the workflow' });
      await b.close(); // deactivated, some fills of the burst still on their way
      open.splice(open.indexOf(b), 1);
      gotB.push(...ids(b));
      // nothing saved claims a fill the workflow did not emit
      assert.ok(claimedIn(dbB.staticData) <= Math.max(0, ...b.items().map((i) => i.tradeId as number)), `round ${round}: saved state claims an unemitted fill`);
      burst(); // while inactive
      await waitFor(() => all.every((id) => ids(a).includes(id)), { timeoutMs: 15_000, message: 'the other workflow got them' });
      b = await start({}, { db: dbB });
    }
    burst();
    const everything = (): string[] => [...gotB, ...ids(b)];
    await waitFor(() => all.every((id) => everything().includes(id) && ids(a).includes(id)), { timeoutMs: 30_000, message: 'every fill to both' }).catch((err: Error) => {
      throw new Error(`${err.message}; missing for the reactivated workflow ${JSON.stringify(all.filter((id) => !everything().includes(id)))}`);
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...everything()].sort(), [...all].sort(), 'each fill exactly once across the activations');
    assert.deepEqual(ids(a), all, 'the workflow that stayed: each once, in order');
    assert.equal(sim.openConnections(), 1);
  });

  it("each workflow's own recovery settings apply on the shared connection: one activated first without recovery does not switch it off for another", async () => {
    const off = await start({ options: { recovery: false } });
    const on = await start({}, { nodeName: 'Recovering' });
    await subscribed();
    assert.equal(sim.openConnections(), 1);
    const first = fill();
    await waitFor(() => ids(off).includes(first.eventId) && ids(on).includes(first.eventId), { timeoutMs: 15_000 });
    sim.dropConnections();
    const missed = fill(); // no socket is listening now
    await waitFor(() => ids(on).includes(missed.eventId), { timeoutMs: 30_000, message: 'recovered by the workflow with recovery' }).catch((err: Error) => {
      throw new Error(`${err.message}; got ${JSON.stringify(ids(on))}`);
    });
    const later = fill();
    await waitFor(() => ids(off).includes(later.eventId) && ids(on).includes(later.eventId), { timeoutMs: 15_000, message: 'live to both' });
    assert.deepEqual(ids(on), [first, missed, later].map((f) => f.eventId));
    assert.deepEqual(ids(off), [first, later].map((f) => f.eventId), 'recovery off: only what came live');
  });

  it('a reconnect with gap recovery: the fill missed while the socket was down comes recovered, every fill exactly once', async () => {
    const h = await start();
    await subscribed();
    const first = fill();
    await waitFor(() => ids(h).includes(first.eventId), { timeoutMs: 15_000 });
    sim.dropConnections();
    const missed = fill(); // no socket is listening now
    await waitFor(() => ids(h).includes(missed.eventId), { timeoutMs: 30_000, message: 'recovered' });
    const later = fill();
    await waitFor(() => ids(h).includes(later.eventId), { timeoutMs: 15_000, message: 'live after the recovery' });
    await new Promise((r) => setTimeout(r, 500));
    const got = ids(h).filter((id) => id.startsWith('fill:'));
    assert.deepEqual([...got].sort(), [first.eventId, missed.eventId, later.eventId].sort(), 'each fill exactly once');
    const rec = h.items().find((i) => i.eventId === missed.eventId) as IDataObject;
    assert.equal(rec.recovered, true);
    assert.equal(rec.tradeId, missed.trade.tradeId);
    assert.equal((h.items().find((i) => i.eventId === later.eventId) as IDataObject).recovered, false);
  });

  it('cursors live in the workflow static data, written just before each emit so n8n saves them with it; a restart recovers the fill made while stopped and repeats none that was emitted', async () => {
    const db = { staticData: {} as IDataObject };
    const h1 = await start({}, { db });
    await subscribed();
    const first = fill();
    await waitFor(() => ids(h1).includes(first.eventId), { timeoutMs: 15_000 });
    // n8n saved the static data with the emit, and it already covers the emitted fill
    assert.equal(claimedIn(db.staticData), first.trade.tradeId, 'saved with the emit');
    const second = fill();
    await waitFor(() => ids(h1).includes(second.eventId), { timeoutMs: 15_000 });
    assert.equal(claimedIn(db.staticData), second.trade.tradeId, 'saved with the next emit');
    await h1.close(); // n8n saves nothing on deactivation
    open.splice(open.indexOf(h1), 1);
    await waitFor(() => sim.openConnections() === 0, { timeoutMs: 5_000 });
    const whileStopped = fill();
    const h2 = await start({}, { db });
    await waitFor(() => ids(h2).includes(whileStopped.eventId), { timeoutMs: 30_000, message: 'recovered at start-up' });
    const later = fill();
    await waitFor(() => ids(h2).includes(later.eventId), { timeoutMs: 15_000, message: 'live after the recovery' });
    assert.deepEqual(ids(h2), [whileStopped.eventId, later.eventId], 'the fill made while stopped once, and none emitted before the stop again');
    assert.equal((h2.items().find((i) => i.eventId === whileStopped.eventId) as IDataObject).recovered, true);
  });

  it('a workflow deactivated before its first emit still recovers what was made while it was inactive (n8n saved the state after the activation)', async () => {
    const db = { staticData: {} as IDataObject };
    const h1 = await start({ options: { recoverySymbols: 'BTCUSDT' } }, { db });
    await subscribed();
    assert.ok(JSON.stringify(db.staticData).includes(STATIC_KEY), 'the state is in the database after the activation');
    await h1.close();
    open.splice(open.indexOf(h1), 1);
    await waitFor(() => sim.openConnections() === 0, { timeoutMs: 5_000 });
    const whileInactive = fill();
    const h2 = await start({ options: { recoverySymbols: 'BTCUSDT' } }, { db });
    await waitFor(() => ids(h2).includes(whileInactive.eventId), { timeoutMs: 30_000, message: 'recovered at start-up' });
    assert.deepEqual(ids(h2), [whileInactive.eventId]);
    assert.equal(h2.items()[0].recovered, true);
  });

  it('manual mode ("listen for test event"): the next wanted event is emitted, then n8n closes the trigger', async () => {
    const h = await start({}, { mode: 'manual' });
    await subscribed();
    sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '1' }); // NEW: not a fill
    const f = fill();
    const data = await h.manualResult;
    assert.equal(data?.[0][0].json.eventId, f.eventId);
    await waitFor(() => sim.openConnections() === 0, { timeoutMs: 5_000, message: 'closed after the test event' });
    assert.deepEqual(h.db.staticData, {}, 'a manual run keeps no cursors');
  });

  it('a key rejected while running: a failed execution with the core text, the workflow stays active; manual mode ends with emitError', async () => {
    const h = await start();
    await subscribed();
    sim.revokeKey(key.apiKey);
    sim.dropConnections();
    await waitFor(() => h.failedExecutions.length > 0, { timeoutMs: 20_000, message: 'failed execution' });
    assert.match(h.failedExecutions[0].message, /^Binance rejected the API key: invalid API key or permissions \(-?\d+\)/);
    assert.equal(h.errors.length, 0, 'not deactivated');
    await h.close();
    open.splice(open.indexOf(h), 1);

    const m = new TriggerHarness(type, { parameters: { market: 'spot' }, credentials: credentials(), mode: 'manual' });
    open.push(m);
    await m.activate();
    await assert.rejects(m.manualResult as Promise<unknown>, /Binance rejected the API key/);
  });

  it('invalid settings: activation fails with the same text as the Node-RED account', async () => {
    const h = new TriggerHarness(type, { parameters: { market: 'spot' }, credentials: credentials({ apiSecret: '' }) });
    await assert.rejects(h.activate(), (err: Error) => {
      assert.equal(err.message, 'Invalid Binance account configuration: The API secret is missing (HMAC key).');
      return true;
    });
    const iso = new TriggerHarness(type, { parameters: { market: 'isolated-margin', isolatedSymbol: '' }, credentials: credentials() });
    await assert.rejects(iso.activate(), /The symbol is missing \(isolated margin\)/);
    assert.equal(sim.openConnections(), 0);
  });

  it('futures Stream URL option (issue 22): the values of the Node-RED account, each one streams a USDⓈ-M fill on its URL form; an unknown one is a clear error', async () => {
    const collection = type.description.properties.find((p) => p.name === 'options') as { options?: Array<{ name: string; options?: Array<{ value: unknown }> }> };
    const prop = collection.options?.find((o) => o.name === 'futuresPathForm');
    assert.ok(prop, 'offered among the options');
    assert.deepEqual(prop.options?.map((o) => o.value).sort(), ['', ...FUTURES_PATH_FORMS].sort());
    const urls = sim.urlsFor('usdm-futures');
    const id = sim.createAccount({ futuresBalances: { USDT: '100000' } }).id;
    const k = sim.createKey(id, 'hmac');
    const creds = { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: k.apiKey, apiSecret: k.apiSecret };
    for (const form of FUTURES_PATH_FORMS) {
      sim.clearRequests();
      const h = new TriggerHarness(type, { parameters: { market: 'usdm-futures', options: { futuresPathForm: form } }, credentials: creds, nodeName: `T ${form}` });
      open.push(h);
      await h.activate();
      await waitFor(() => sim.openConnections({ accountId: id, market: 'usdm-futures' }) > 0, { timeoutMs: 15_000, message: `${form}: connected` });
      const connect = sim.requests.find((r) => r.kind === 'ws-connect');
      assert.ok(connect, `${form}: a stream connection`);
      if (form === 'ws-path') assert.match(connect.path, /^\/private\/ws\/[^/?]+$/);
      else assert.equal(connect.path, '/private/ws');
      assert.equal(connect.params.events !== undefined, form === 'ws-query', `${form}: events=`);
      const before = h.items().length;
      sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
      await waitFor(() => h.items().length > before, { timeoutMs: 15_000, message: `${form}: the fill` });
      await h.close();
      open.splice(open.indexOf(h), 1);
    }
    const bad = new TriggerHarness(type, { parameters: { market: 'usdm-futures', options: { futuresPathForm: 'private-ws' } }, credentials: creds });
    await assert.rejects(bad.activate(), (err: Error) => {
      assert.equal(err.message, 'Invalid Binance account configuration: unknown futures stream URL form "private-ws" (ws-query, ws-query-no-events, ws-path, or empty for the default ws-query)');
      return true;
    });
  });

  it('futures Stream URL (issue 22): a stream on a form production-like fstream leaves silent is logged once, with the other forms to try (fake clock)', async () => {
    const clock = installClock();
    const prod = await BinanceSimulator.start(FSTREAM_PRODUCTION_LIKE);
    try {
      const id = prod.createAccount({ futuresBalances: { USDT: '100000' } }).id;
      const k = prod.createKey(id, 'hmac');
      const urls = prod.urlsFor('usdm-futures');
      const h = new TriggerHarness(type, {
        parameters: { market: 'usdm-futures', options: { futuresPathForm: 'ws-path' } },
        credentials: { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: k.apiKey, apiSecret: k.apiSecret },
      });
      let active = false;
      void h.activate().then(() => (active = true));
      await waitFor(() => active && prod.openConnections({ kind: 'legacy', accountId: id }) === 1, { clock, stepMs: 5, timeoutMs: 30_000, message: 'connected, silent' });
      const silent = (): string[] => h.logs.filter((l) => l.startsWith('warn') && /has sent nothing on it since/.test(l));
      await waitFor(() => silent().length > 0, { clock, stepMs: 1_000, timeoutMs: 30_000, maxFakeMs: 300_000, message: 'the silent stream logged' });
      assert.match(silent()[0], /form ws-path is probably not served/);
      assert.match(silent()[0], /ws-query \(.*\), ws-query-no-events \(/);
      assert.match(silent()[0], /Futures Stream URL/);
      for (let i = 0; i < 400; i++) clock.tick(1_000);
      await waitFor(() => true, {});
      assert.equal(silent().length, 1, 'once per connection');
      let closed = false;
      void h.close().then(() => (closed = true));
      await waitFor(() => closed, { clock, stepMs: 5, timeoutMs: 30_000, message: 'closed' });
      for (const secret of [k.apiKey, k.apiSecret as string]) assert.ok(!h.everything().includes(secret), 'a secret left the trigger');
    } finally {
      await prod.stop();
      clock.uninstall();
    }
  });

  it('credential test: the core key check (OK for a good key, the reason for a bad secret)', async () => {
    const test = type.methods.credentialTest.binanceUserStreamApiTest;
    const ok = await test.call({}, { id: '1', name: 'k', type: 'binanceUserStreamApi', data: credentials() });
    assert.equal(ok.status, 'OK', ok.message);
    assert.match(ok.message, /^Key accepted/);
    const bad = await test.call({}, { id: '1', name: 'k', type: 'binanceUserStreamApi', data: credentials({ apiSecret: 'x'.repeat(64) }) });
    assert.equal(bad.status, 'Error');
    // the Node-RED Test connection's sentence for the problem, then the exchange's reason
    assert.match(bad.message, /^The signature was rejected: check the API secret \/ private key and the key type\. /);
    assert.ok(!bad.message.includes(key.apiKey) && !bad.message.includes('x'.repeat(64)), 'no secret in the answer');
  });
});
