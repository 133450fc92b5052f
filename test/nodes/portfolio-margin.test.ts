/**
 * Portfolio margin through the nodes against the simulator: the account takes its listenKey from
 * /papi/v1/listenKey and streams on /pm/ws/<listenKey> (Portfolio Margin user-data page, reference
 * §5); UM and CM futures orders (`fs`), margin orders (executionReport), balances and the PM risk
 * events reach the existing nodes with readable payloads.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capturedLogs, collect, helper, nodeModules, rememberSecret, waitFor, watchStatus, type FlowNode } from '../support/red';
import { forgetSharedBudgets } from '../../nodes/lib/exchange/weight-budget';
import { accountNode, consumer, credentialsFor, helperNode, redWithSimulator, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown>; raw: Record<string, unknown> };

function pmAccount(sim: BinanceSimulator): TestAccount {
  const { id } = sim.createAccount({
    balances: { USDT: '100000', BTC: '10' },
    futuresBalances: { USDT: '100000', BTC: '10' },
  });
  // The margin book of a PM account is the account's cross-margin book in the simulator.
  sim.deposit(id, 'margin', 'USDT', '50000');
  sim.deposit(id, 'margin', 'BTC', '5');
  const key = sim.createKey(id, 'hmac');
  rememberSecret(key.apiKey, key.apiSecret);
  sim.clearRequests();
  return { accountId: id, key, market: 'margin' };
}

function pmNode(sim: BinanceSimulator, a: TestAccount, extra: Record<string, unknown> = {}): FlowNode {
  return { ...accountNode(sim, a), market: 'portfolio-margin', wsUrl: sim.urlsFor('portfolio-margin').wsUrl, ...extra };
}

describe('portfolio margin (binance-account market "portfolio-margin", against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  it('papi listenKey + /pm/ws stream; UM / CM orders (businessUnit), margin orders, balances and risk events reach the nodes', async function () {
    const a = pmAccount(sim);
    await helper.load(
      nodeModules(),
      [
        TAB,
        pmNode(sim, a),
        consumer('ou', 'binance-order-update', 'orders'),
        consumer('ap', 'binance-account-position', 'positions'),
        consumer('bu', 'binance-balance-update', 'balances'),
        consumer('ue', 'binance-user-event', 'events', { eventTypes: 'riskLevelChange, liabilityChange, openOrderLoss, CONDITIONAL_ORDER_TRADE_UPDATE' }),
        helperNode('orders'),
        helperNode('positions'),
        helperNode('balances'),
        helperNode('events'),
      ],
      credentialsFor(a),
    );
    await waitConnected();
    const posts = sim.requests.filter((r) => r.kind === 'rest' && r.method === 'POST');
    assert.deepEqual([...new Set(posts.map((r) => r.path))], ['/papi/v1/listenKey']);
    const ws = sim.requests.filter((r) => r.kind === 'ws-connect');
    assert.equal(ws.length, 1);
    assert.match(ws[0].path, /^\/pm\/ws\/[A-Za-z0-9]{64}$/);

    const orders = collect('orders') as unknown as { msgs: Msg[] };
    const positions = collect('positions') as unknown as { msgs: Msg[] };
    const balances = collect('balances') as unknown as { msgs: Msg[] };
    const events = collect('events') as unknown as { msgs: Msg[] };

    const um = sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    const cm = sim.runOrderLifecycle(a.accountId, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'SELL', quantity: '2', price: '100' });
    const mg = sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.5', price: '100' });
    sim.deposit(a.accountId, 'margin', 'USDT', '7');
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'riskLevelChange', u: '1.99', s: 'MARGIN_CALL', eq: '30.2', ae: '30.2', m: '15.1' });
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'liabilityChange', a: 'USDT', t: 'BORROW', T: 55, p: '1.03', i: '0', l: '1.03' });
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'openOrderLoss', O: [{ a: 'BUSD', o: '-0.1232313' }] });

    const fillOf = (orderId: number): Msg | undefined => orders.msgs.find((m) => m.payload.orderId === orderId && m.payload.executionType === 'TRADE');
    await waitFor(() => [um, cm, mg].every((x) => fillOf(x.order.orderId)), 5000, 'the three fills');
    const umFill = fillOf(um.order.orderId)!;
    assert.equal(umFill.payload.businessUnit, 'UM');
    assert.equal(umFill.eventType, 'ORDER_TRADE_UPDATE');
    assert.equal(umFill.market, 'portfolio-margin');
    assert.equal(fillOf(cm.order.orderId)!.payload.businessUnit, 'CM');
    assert.equal(fillOf(cm.order.orderId)!.payload.symbol, 'BTCUSD_PERP');
    const mgFill = fillOf(mg.order.orderId)!;
    assert.equal(mgFill.eventType, 'executionReport');
    assert.equal(mgFill.payload.symbol, 'BTCUSDT');
    assert.equal(mgFill.payload.lastFilledQuantity, '0.50000000');

    await waitFor(
      () =>
        positions.msgs.some((m) => m.eventType === 'ACCOUNT_UPDATE' && m.payload.businessUnit === 'UM') &&
        positions.msgs.some((m) => m.eventType === 'ACCOUNT_UPDATE' && m.payload.businessUnit === 'CM') &&
        positions.msgs.some((m) => m.eventType === 'outboundAccountPosition'),
      5000,
      'UM, CM and margin balance events',
    );
    await waitFor(() => balances.msgs.some((m) => m.eventType === 'balanceUpdate'), 5000, 'the margin deposit');
    const dep = balances.msgs.find((m) => m.eventType === 'balanceUpdate')!;
    assert.equal(dep.payload.asset, 'USDT');
    assert.equal(dep.payload.delta, '7.00000000');

    await waitFor(() => events.msgs.length >= 3, 5000, 'the risk events');
    const byTopic = new Map(events.msgs.map((m) => [m.topic, m.payload]));
    assert.deepEqual({ ...byTopic.get('riskLevelChange'), eventTime: 0 }, {
      riskLevel: 'MARGIN_CALL',
      uniMMR: '1.99',
      accountEquity: '30.2',
      actualEquity: '30.2',
      maintenanceMargin: '15.1',
      eventTime: 0,
    });
    assert.equal(byTopic.get('liabilityChange')!.totalLiability, '1.03');
    assert.equal(byTopic.get('liabilityChange')!.type, 'BORROW');
    assert.deepEqual(byTopic.get('openOrderLoss')!.losses, [{ asset: 'BUSD', amount: '-0.1232313' }]);
  });

  // The PM stream nests an algo order under `ao` with a top-level `fs` (Binance's PM connector types
  // AlgoOrderUpdate / algo-order-update-ao.ts, 2026-07-13; python PM CHANGELOG 12.0.1, 2026-08-11).
  // Read from `o` only, every PM algo update had only its two times, one shared eventId
  // `algo:portfolio-margin:::`, and a symbol filter dropped it.
  it('ALGO_UPDATE {fs, ao}: each algo state reaches binance-order-update (algo updates on, symbol filter) and binance-user-event with its symbol, side, status, businessUnit and own eventId', async function () {
    const a = pmAccount(sim);
    await helper.load(
      nodeModules(),
      [
        TAB,
        pmNode(sim, a),
        consumer('ou', 'binance-order-update', 'orders', { includeAlgoUpdates: true, symbols: 'BTCUSDT' }),
        consumer('ue', 'binance-user-event', 'events', { eventTypes: 'ALGO_UPDATE' }),
        helperNode('orders'),
        helperNode('events'),
      ],
      credentialsFor(a),
    );
    await waitConnected();
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    const events = collect('events') as unknown as { msgs: Msg[] };

    const um = sim.placeAlgoOrder(a.accountId, { symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', quantity: '1', triggerPrice: '90', clientAlgoId: 'pm-stop-1' });
    const cm = sim.placeAlgoOrder(a.accountId, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'BUY', type: 'TAKE_PROFIT', quantity: '3', price: '95', triggerPrice: '96' });
    sim.triggerAlgoOrder(um.algoId, { fillPrice: '90' });
    sim.cancelAlgoOrder(cm.algoId);

    const umStates = ['NEW', 'TRIGGERING', 'TRIGGERED', 'FINISHED'];
    await waitFor(() => events.msgs.length >= umStates.length + 2, 5000, 'every algo update in binance-user-event');
    await waitFor(() => orders.msgs.filter((m) => m.eventType === 'ALGO_UPDATE').length >= umStates.length, 5000, 'the UM algo updates in binance-order-update');
    // the frame on the wire is the documented one
    assert.ok(events.msgs.every((m) => m.raw.ao !== undefined && m.raw.o === undefined && typeof m.raw.fs === 'string'), JSON.stringify(events.msgs[0]?.raw));

    const algoOrders = orders.msgs.filter((m) => m.eventType === 'ALGO_UPDATE');
    assert.deepEqual(algoOrders.map((m) => m.payload.algoStatus), umStates, 'the CM algo order is filtered out by symbol, none of the UM ones');
    for (const m of algoOrders) {
      assert.equal(m.topic, 'BTCUSDT');
      assert.equal(m.payload.symbol, 'BTCUSDT');
      assert.equal(m.payload.side, 'SELL');
      assert.equal(m.payload.orderType, 'STOP_MARKET');
      assert.equal(m.payload.algoId, um.algoId);
      assert.equal(m.payload.clientAlgoId, 'pm-stop-1');
      assert.equal(m.payload.quantity, '1');
      assert.equal(m.payload.triggerPrice, '90');
      assert.equal(m.payload.businessUnit, 'UM');
      assert.equal(m.eventId, `algo:portfolio-margin:BTCUSDT:${um.algoId}:${String(m.payload.algoStatus)}`);
    }
    assert.equal(algoOrders[3].payload.executedQuantity, '1');
    assert.equal(typeof algoOrders[2].payload.orderId, 'number', 'TRIGGERED names the order it placed');

    const ids = events.msgs.map((m) => String(m.eventId));
    assert.equal(new Set(ids).size, ids.length, `one eventId per algo order state: ${ids.join(', ')}`);
    const cmMsgs = events.msgs.filter((m) => m.payload.symbol === 'BTCUSD_PERP');
    assert.deepEqual(cmMsgs.map((m) => m.payload.algoStatus), ['NEW', 'CANCELED']);
    for (const m of cmMsgs) {
      assert.equal(m.payload.businessUnit, 'CM');
      assert.equal(m.payload.side, 'BUY');
      assert.equal(m.payload.price, '95');
      assert.equal(m.eventId, `algo:portfolio-margin:BTCUSD_PERP:${cm.algoId}:${String(m.payload.algoStatus)}`);
    }
  });

  it('snapshot output: balances from /papi/v1/balance, one row per asset with a column per book, updated by UM and margin events', async function () {
    const a = pmAccount(sim);
    await helper.load(
      nodeModules(),
      [TAB, pmNode(sim, a), consumer('ap', 'binance-account-position', 'positions', { output: 'snapshot' }), helperNode('positions')],
      credentialsFor(a),
    );
    const positions = collect('positions') as unknown as { msgs: Msg[] };
    await waitConnected();
    await waitFor(() => positions.msgs.length >= 1, 5000, 'the first snapshot');
    assert.ok(sim.requests.some((r) => r.path === '/papi/v1/balance' && r.status === 200));
    const rowOf = (m: Msg, asset: string): Record<string, unknown> | undefined =>
      (m.payload.balances as Array<Record<string, unknown>>).find((b) => b.asset === asset);
    const first = rowOf(positions.msgs[0], 'USDT')!;
    assert.equal(first.crossMarginFree, '150000.00000000');
    assert.equal(first.umWalletBalance, '100000.00000000');
    assert.equal(first.cmWalletBalance, '100000.00000000');

    sim.deposit(a.accountId, 'usdm-futures', 'USDT', '25');
    sim.deposit(a.accountId, 'margin', 'USDT', '3');
    await waitFor(
      () => {
        const last = positions.msgs[positions.msgs.length - 1];
        const row = rowOf(last, 'USDT');
        return Number(row?.umWalletBalance) === 100025 && Number(row?.crossMarginFree) === 150003;
      },
      5000,
      'the UM and margin columns updated',
    );
    const row = rowOf(positions.msgs[positions.msgs.length - 1], 'USDT')!;
    assert.equal(row.cmWalletBalance, '100000.00000000', 'a UM event does not touch the CM column');
    assert.equal(row.walletBalance, undefined, 'no column without a book');
  });

  it('listenKeyExpired: a new key from /papi/v1/listenKey and a new /pm/ws stream', async function () {
    const a = pmAccount(sim);
    // Recovery off: this test is about the key; the weight budget of the papi pool is shared by
    // every account on the host (per IP), and the recovery test below spends it.
    await helper.load(nodeModules(), [TAB, pmNode(sim, a, { recovery: false }), consumer('ou', 'binance-order-update', 'orders'), helperNode('orders')], credentialsFor(a));
    await waitConnected();
    const [first] = sim.listenKeys().filter((k) => k.market === 'portfolio-margin' && k.accountId === a.accountId);
    assert.ok(first);
    sim.expireListenKey(first.listenKey);
    // keys of other tests' accounts stay (listenKeys are not deleted on stop): this account's only
    await waitFor(() => sim.listenKeys().some((k) => k.market === 'portfolio-margin' && k.accountId === a.accountId && k.listenKey !== first.listenKey), 8000, 'a new key');
    await waitConnected();
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    await waitFor(() => sim.requests.filter((r) => r.kind === 'ws-connect' && r.path.startsWith('/pm/ws/')).length === 2, 8000, 'the new stream');
    await waitFor(() => sim.openConnections({ accountId: a.accountId, market: 'portfolio-margin' }) === 1, 8000, 'the old stream closed');
    const um = sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => orders.msgs.some((m) => m.payload.orderId === um.order.orderId), 5000, 'events on the new stream');
    assert.equal(sim.requests.filter((r) => r.kind === 'ws-connect' && r.path.startsWith('/pm/ws/')).length, 2);
  });

  it('a gap: UM, CM and margin fills missed meanwhile are recovered from papi, each once, with msg.recovered and businessUnit', async function () {
    const a = pmAccount(sim);
    await helper.load(
      nodeModules(),
      [TAB, pmNode(sim, a, { recoverySymbols: 'BTCUSD_PERP' }), consumer('ou', 'binance-order-update', 'orders'), helperNode('orders')],
      credentialsFor(a),
    );
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    await waitConnected();
    // BTCUSDT becomes known in UM and in margin by live fills (the same symbol name in two books).
    const liveUm = sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' }).trades;
    const liveMg = sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.1', price: '100' }).trades;
    const fills = (): Msg[] => orders.msgs.filter((m) => m.payload.executionType === 'TRADE' || (m.recovered === true && m.payload.tradeId !== undefined));
    await waitFor(() => fills().length === 2, 5000, 'the live fills');

    sim.clearRequests();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    const missed = [
      ...sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '2', price: '101', fills: ['1', '1'] }).trades.map((t) => ['UM', t] as const),
      ...sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.1', price: '101' }).trades.map((t) => ['MARGIN', t] as const),
      // CM: only listed in the account node
      ...sim.runOrderLifecycle(a.accountId, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'BUY', quantity: '3', price: '100' }).trades.map((t) => ['CM', t] as const),
    ];
    await waitFor(() => fills().length === 2 + missed.length, 10_000, 'the recovered fills');
    await new Promise((r) => setTimeout(r, 200));
    const recovered = fills().slice(2);
    assert.ok(recovered.every((m) => m.recovered === true && m.market === 'portfolio-margin'));
    const key = (m: Msg): string => `${String(m.payload.businessUnit ?? 'MARGIN')}/${String(m.payload.symbol)}/${String(m.payload.tradeId)}`;
    assert.deepEqual(recovered.map(key).sort(), missed.map(([b, t]) => `${b}/${t.symbol}/${t.tradeId}`).sort(), 'every missed fill once');
    assert.equal(fills().length, 2 + missed.length, 'no duplicate of the live fills');
    assert.ok(liveUm.length === 1 && liveMg.length === 1);
    const paths = new Set(sim.requests.filter((r) => r.kind === 'rest').map((r) => r.path));
    for (const p of ['/papi/v1/um/userTrades', '/papi/v1/cm/userTrades', '/papi/v1/margin/myTrades']) assert.ok(paths.has(p), `${p} queried`);
    assert.ok(![...paths].some((p) => p.startsWith('/fapi/v1/user') || p.startsWith('/sapi/') || p.startsWith('/dapi/')), [...paths].join(' '));
    assert.ok(sim.requests.filter((r) => r.kind === 'rest').every((r) => r.status === 200));
  });

  // The follow-up for a symbol first seen live after a gap (attack round 5 L6, H23e's idle case)
  // on portfolio margin. It was off there (d8fd10b) because it re-read every book's open orders:
  // margin open orders without a symbol count as 1500 of the 3000 recovery may spend a minute, so
  // the follow-up waited a minute for the weight budget and the package test's PM nodes stayed
  // "catching up". Without the follow-up the fill in the gap is lost; with the re-read it comes a
  // minute late (after this test's wait).
  it('a margin-book symbol first seen live after a gap was recovered without it: its fill in the gap is recovered by the follow-up, once, which reads only its open orders again; status green', async function () {
    // the earlier tests' recoveries spent weight on this simulator's host within the minute (one
    // budget per host, as Binance's limit is per IP): this test starts from a fresh minute
    forgetSharedBudgets();
    const a = pmAccount(sim);
    await helper.load(nodeModules(), [TAB, pmNode(sim, a), consumer('ou', 'binance-order-update', 'orders'), helperNode('orders')], credentialsFor(a));
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    const statuses = watchStatus('ou');
    await waitConnected();
    const green = (): boolean => statuses.at(-1)?.fill === 'green';
    await waitFor(green, 5000, 'green after the start');
    sim.clearRequests();
    const was = statuses.length;
    const dropped = sim.dropConnections({ accountId: a.accountId });
    assert.ok(dropped >= 1);
    // ETHUSDT of the margin book (never seen, not listed, and the margin book has no discovery)
    // fills while the stream is down; nothing of it stays open
    const inGap = sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.1', price: '100' }).trades;
    await waitFor(() => statuses.slice(was).some((s) => s.fill !== 'green') && green(), 10_000, `the reconnect recovered (green again): ${JSON.stringify(statuses)}`);
    // margin open orders without a symbol: 1500 of the 3000 weight recovery may spend a minute
    const openReads = (): number => sim.requests.filter((r) => r.kind === 'rest' && r.path === '/papi/v1/margin/openOrders' && r.params.symbol === undefined).length;
    assert.equal(openReads(), 1, 'the reconnect read all margin open orders');
    const fillKey = (m: Msg): string => `${String(m.payload.tradeId)}/${m.recovered === true}`;
    const fills = (): Msg[] => orders.msgs.filter((m) => m.payload.symbol === 'ETHUSDT' && (m.payload.executionType === 'TRADE' || (m.recovered === true && m.payload.tradeId !== undefined)));
    assert.equal(fills().length, 0, 'the reconnect did not know ETHUSDT');
    // its first live fill: ETHUSDT is new since the gap, the follow-up asks it from the gap's start
    const live = sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.1', price: '101' }).trades;
    await waitFor(() => fills().length === inGap.length + live.length, 10_000, 'the live fill and the gap fill').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(fills().map(fillKey))}; ${sim.requests.map((r) => `${r.kind} ${r.path} ${r.status}`).join(', ')}; ${JSON.stringify(statuses)}`);
    });
    await waitFor(green, 5000, 'green after the follow-up');
    assert.deepEqual(fills().map(fillKey).sort(), [...inGap.map((t) => `${t.tradeId}/true`), ...live.map((t) => `${t.tradeId}/false`)].sort(), 'each fill once; the gap fill recovered');
    assert.equal(openReads(), 1, 'the follow-up read the margin open orders of ETHUSDT only');
    assert.ok(sim.requests.some((r) => r.path === '/papi/v1/margin/openOrders' && r.params.symbol === 'ETHUSDT'), 'ETHUSDT\'s open orders read');
    assert.ok(sim.requests.some((r) => r.kind === 'rest' && r.path === '/papi/v1/margin/myTrades'), 'margin trades asked');
    assert.ok(sim.requests.filter((r) => r.kind === 'rest').every((r) => r.status === 200));
  });

  it('testnet: a clear configuration error (Binance has no portfolio-margin testnet)', async function () {
    const a = pmAccount(sim);
    await helper.load(nodeModules(), [TAB, pmNode(sim, a, { environment: 'testnet' }), consumer('ou', 'binance-order-update', 'orders'), helperNode('orders')], credentialsFor(a));
    await waitFor(() => capturedLogs.some((l) => /portfolio-margin has no testnet environment/.test(String(l.msg))), 5000, 'the error');
    assert.equal(sim.requests.filter((r) => r.path.startsWith('/papi/')).length, 0);
  });
});
