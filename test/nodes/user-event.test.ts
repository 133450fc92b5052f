import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capturedLogs, collect, helper, nodeModules, rememberSecret, waitFor, type FlowNode } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, symbolFor, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown>; raw: Record<string, unknown> };

const settle = (ms = 150): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('binance-user-event, unconsumed events and COIN-M in each form (against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  async function load(a: TestAccount, nodes: FlowNode[], extra: Record<string, unknown> = {}): Promise<void> {
    await helper.load(nodeModules(), [TAB, accountNode(sim, a, extra), ...nodes], credentialsFor(a));
    await waitConnected();
  }

  it('every event type by default: readable payloads for known types (ACCOUNT_CONFIG_UPDATE, ALGO_UPDATE with ia), msg.topic = type, msg.raw', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [consumer('ue', 'binance-user-event', 'out'), helperNode('out')]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 1, ac: { s: 'BTCUSDT', l: 25 } });
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 2, ai: { j: true } });
    sim.injectEvent(a.accountId, 'usdm-futures', {
      e: 'ALGO_UPDATE',
      T: 3,
      o: { caid: 'c1', aid: 7, at: 'CONDITIONAL', o: 'TRAILING_STOP_MARKET', s: 'BTCUSDT', S: 'SELL', X: 'NEW', q: '0.01', ia: true },
    });
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: symbolFor('usdm-futures'), side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => out.msgs.some((m) => m.topic === 'TRADE_LITE') && out.msgs.some((m) => m.topic === 'ACCOUNT_UPDATE'), 5000, 'the fill events');
    const [lev, multi] = out.msgs.filter((m) => m.topic === 'ACCOUNT_CONFIG_UPDATE');
    assert.deepEqual({ ...lev.payload, eventTime: 0 }, { symbol: 'BTCUSDT', leverage: 25, eventTime: 0, transactionTime: 1 });
    assert.equal(lev.eventType, 'ACCOUNT_CONFIG_UPDATE');
    assert.equal((lev.raw.ac as Record<string, unknown>).l, 25);
    assert.equal(multi.payload.multiAssetsMode, true);
    const algo = out.msgs.find((m) => m.topic === 'ALGO_UPDATE')!;
    assert.equal(algo.payload.isActivated, true);
    assert.equal(algo.payload.algoId, 7);
    const fill = out.msgs.find((m) => m.topic === 'ORDER_TRADE_UPDATE' && m.payload.executionType === 'TRADE')!;
    assert.equal(fill.payload.symbol, symbolFor('usdm-futures'));
    assert.equal(fill.market, 'usdm-futures');
    assert.equal(fill.account, 'test account');
    assert.ok(out.msgs.every((m) => m.topic !== 'listenKeyExpired'));
  });

  it('an event type nobody knows reaches it raw (payload = the event, a copy), and is not counted as unconsumed', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [consumer('ue', 'binance-user-event', 'out'), consumer('st', 'binance-stream-status', 'stOut'), helperNode('out'), helperNode('stOut')]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    const st = collect('stOut') as unknown as { msgs: Msg[] };
    const ev = { e: 'BRAND_NEW_EVENT_2027', x: { y: '1.50' } };
    sim.injectEvent(a.accountId, 'spot', ev);
    await waitFor(() => out.msgs.length === 1, 5000, 'the unknown event');
    const m = out.msgs[0];
    assert.equal(m.topic, 'BRAND_NEW_EVENT_2027');
    assert.deepEqual(m.payload.x, { y: '1.50' });
    assert.equal(m.payload.e, 'BRAND_NEW_EVENT_2027');
    assert.notEqual(m.payload, m.raw, 'payload is a copy of raw');
    await settle();
    assert.equal(st.msgs.filter((x) => x.topic === 'unconsumed').length, 0);
  });

  it('event type list with wildcards: ACCOUNT_* passes ACCOUNT_CONFIG_UPDATE and ACCOUNT_UPDATE, not the order events', async function () {
    const a = newAccount(sim, 'coinm-futures');
    await load(a, [consumer('ue', 'binance-user-event', 'out', { eventTypes: 'account_*, GRID_UPDATE' }), helperNode('out')]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    sim.runOrderLifecycle(a.accountId, { market: 'coinm-futures', symbol: symbolFor('coinm-futures'), side: 'BUY', quantity: '1', price: '100' });
    sim.injectEvent(a.accountId, 'coinm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 1, ac: { s: 'BTCUSD_PERP', l: 5 } });
    sim.injectEvent(a.accountId, 'coinm-futures', { e: 'GRID_UPDATE', T: 2, gu: { si: 1 } });
    await waitFor(() => out.msgs.some((m) => m.topic === 'GRID_UPDATE'), 5000, 'GRID_UPDATE');
    await settle();
    assert.deepEqual([...new Set(out.msgs.map((m) => m.topic))].sort(), ['ACCOUNT_CONFIG_UPDATE', 'ACCOUNT_UPDATE', 'GRID_UPDATE']);
    const grid = out.msgs.find((m) => m.topic === 'GRID_UPDATE')!;
    assert.deepEqual({ ...grid.payload, eventTime: 0 }, { strategyId: 1, eventTime: 0, transactionTime: 2 }, 'GRID_UPDATE: its documented gu fields, readable (issue 22)');
  });

  it('events no node takes: stream status reports each type (first at once, then at most once a minute), the log notes it once', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [
      consumer('ou', 'binance-order-update', 'ouOut', { includeAlgoUpdates: true }),
      consumer('st', 'binance-stream-status', 'stOut'),
      helperNode('ouOut'),
      helperNode('stOut'),
    ]);
    const st = collect('stOut') as unknown as { msgs: Msg[] };
    const ou = collect('ouOut') as unknown as { msgs: Msg[] };
    const logsBefore = capturedLogs.length;
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 1, ac: { s: 'BTCUSDT', l: 10 } });
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 2, ac: { s: 'BTCUSDT', l: 20 } });
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'STRATEGY_UPDATE', T: 3, su: { si: 9, st: 'GRID', ss: 'NEW', s: 'BTCUSDT', ut: 3, c: 8 } });
    // made for binance-account-position, which this flow does not have
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ACCOUNT_UPDATE', T: 5, a: { m: 'ORDER', B: [{ a: 'USDT', wb: '1', cw: '1', bc: '0' }], P: [] } });
    // taken by the order update node (algo updates on): not unconsumed
    sim.injectEvent(a.accountId, 'usdm-futures', { e: 'ALGO_UPDATE', T: 4, o: { aid: 1, s: 'BTCUSDT', S: 'BUY', X: 'NEW' } });
    await waitFor(() => ou.msgs.length === 1 && st.msgs.filter((m) => m.topic === 'unconsumed').length >= 3, 5000, 'the unconsumed reports');
    await settle();
    const reports = st.msgs.filter((m) => m.topic === 'unconsumed').map((m) => m.payload);
    assert.deepEqual(
      reports.map((r) => [r.eventType, r.count, r.first]),
      [
        ['ACCOUNT_CONFIG_UPDATE', 1, true],
        ['STRATEGY_UPDATE', 1, true],
        ['ACCOUNT_UPDATE', 1, true],
      ],
    );
    assert.equal(reports[1].total, 3, 'the second ACCOUNT_CONFIG_UPDATE is counted, not reported again within the minute');
    const account = helper.getNode('acct') as unknown as { unconsumed: { snapshot(): Record<string, number> } };
    assert.deepEqual(account.unconsumed.snapshot(), { ACCOUNT_CONFIG_UPDATE: 2, STRATEGY_UPDATE: 1, ACCOUNT_UPDATE: 1 });
    const notes = capturedLogs.slice(logsBefore).map((l) => String(l.msg)).filter((t) => t.includes('no node takes them'));
    assert.equal(notes.filter((t) => t.includes('ACCOUNT_CONFIG_UPDATE')).length, 1, notes.join('\n'));
    assert.equal(notes.filter((t) => t.includes('STRATEGY_UPDATE')).length, 1, notes.join('\n'));
    // the hint names the node made for the type, else binance-user-event
    assert.match(notes.find((t) => t.includes('ACCOUNT_UPDATE ')) ?? '', /add a binance-account-position node/);
    assert.match(notes.find((t) => t.includes('STRATEGY_UPDATE')) ?? '', /add a binance-user-event node/);
  });

  it('COIN-M default form: /dapi/v1/listenKey + dstream /ws/<key>, fills reach binance-order-update', async function () {
    const a = newAccount(sim, 'coinm-futures');
    const since = sim.requests.length;
    await load(a, [consumer('ou', 'binance-order-update', 'out'), helperNode('out')]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    const { trades } = sim.runOrderLifecycle(a.accountId, { market: 'coinm-futures', symbol: symbolFor('coinm-futures'), side: 'BUY', quantity: '2', price: '100' });
    await waitFor(() => out.msgs.some((m) => m.payload.executionType === 'TRADE'), 5000, 'a COIN-M fill');
    assert.equal(out.msgs.find((m) => m.payload.executionType === 'TRADE')!.payload.tradeId, trades[0].tradeId);
    const mine = sim.requests.slice(since);
    assert.ok(mine.some((r) => r.kind === 'rest' && r.method === 'POST' && r.path === '/dapi/v1/listenKey'));
    assert.ok(mine.some((r) => r.kind === 'ws-connect' && /^\/ws\/[^/]+$/.test(r.path)));
    assert.ok(!mine.some((r) => r.kind === 'ws-connect' && r.path.startsWith('/private')));
  });

  it("COIN-M unified form (coinmApi 'fapi'): /fapi/v1/listenKey + fstream /private, fills reach binance-order-update", async function () {
    const { id } = sim.createAccount({ futuresBalances: { USDT: '100000', BTC: '10' }, coinmOnFapi: true });
    const key = sim.createKey(id, 'hmac');
    rememberSecret(key.apiKey, key.apiSecret);
    const a: TestAccount = { accountId: id, key, market: 'coinm-futures' };
    const since = sim.requests.length;
    await load(a, [consumer('ou', 'binance-order-update', 'out'), helperNode('out')], { coinmApi: 'fapi' });
    const out = collect('out') as unknown as { msgs: Msg[] };
    const { trades } = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: symbolFor('coinm-futures'), side: 'SELL', quantity: '1', price: '100' });
    await waitFor(() => out.msgs.some((m) => m.payload.executionType === 'TRADE'), 5000, 'a COIN-M fill on the unified form');
    const fill = out.msgs.find((m) => m.payload.executionType === 'TRADE')!;
    assert.equal(fill.payload.tradeId, trades[0].tradeId);
    assert.equal(fill.market, 'coinm-futures');
    const mine = sim.requests.slice(since);
    assert.ok(mine.some((r) => r.kind === 'rest' && r.method === 'POST' && r.path === '/fapi/v1/listenKey'));
    assert.ok(!mine.some((r) => r.kind === 'rest' && r.path === '/dapi/v1/listenKey'));
    assert.ok(mine.some((r) => r.kind === 'ws-connect' && r.path.startsWith('/private/ws')));
  });

  it("an unknown coinmApi is a configuration error, not a silent default", async function () {
    const a = newAccount(sim, 'coinm-futures');
    await helper.load(nodeModules(), [TAB, accountNode(sim, a, { coinmApi: 'papi' }), consumer('ou', 'binance-order-update', 'out'), helperNode('out')], credentialsFor(a));
    await waitFor(() => capturedLogs.some((l) => String(l.msg).includes('unknown COIN-M API family "papi" (dapi or fapi)')), 5000, 'the configuration error');
  });
});
