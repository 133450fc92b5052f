import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capturedLogs, collect, helper, nodeModules, waitFor, type FlowNode } from '../support/red';
import { accountNode, redWithSimulator, consumer, credentialsFor, helperNode, isFutures, MARKETS, newAccount, symbolFor, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

describe('binance-order-update (against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  async function load(a: TestAccount, props: Record<string, unknown> = {}): Promise<{ msgs: Msg[] }> {
    const flow: FlowNode[] = [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out', props), helperNode('out')];
    await helper.load(nodeModules(), flow, credentialsFor(a));
    const out = collect('out') as unknown as { msgs: Msg[] };
    await waitConnected();
    return out;
  }

  for (const market of MARKETS) {
    it(`${market}: a partially then fully filled order gives NEW, TRADE, TRADE with readable fields`, async function () {
      const a = newAccount(sim, market);
      const out = await load(a);
      const symbol = symbolFor(market);
      const { order, trades } = sim.runOrderLifecycle(a.accountId, { market, symbol, side: 'BUY', quantity: '1', price: '100', fills: ['0.4'] });
      await waitFor(() => out.msgs.length >= 3, 5000, 'three order updates');
      const msgs = out.msgs.slice(0, 3);
      const expectedType = isFutures(market) ? 'ORDER_TRADE_UPDATE' : 'executionReport';
      for (const m of msgs) {
        assert.equal(m.topic, symbol);
        assert.equal(m.eventType, expectedType);
        assert.equal(m.market, market);
        assert.equal(m.account, 'test account');
        assert.equal((m.raw as { e: string }).e, expectedType);
        assert.equal(m.payload.symbol, symbol);
        assert.equal(m.payload.side, 'BUY');
        assert.equal(m.payload.orderType, 'LIMIT');
        assert.equal(m.payload.orderId, order.orderId);
        assert.equal(m.payload.clientOrderId, order.clientOrderId);
        assert.equal(typeof m.payload.quantity, 'string', 'decimals stay strings');
        assert.equal(Number(m.payload.quantity), 1);
        assert.equal(Number(m.payload.price), 100);
        assert.equal(typeof m.payload.eventTime, 'number');
      }
      assert.deepEqual(msgs.map((m) => m.payload.executionType), ['NEW', 'TRADE', 'TRADE']);
      assert.deepEqual(msgs.map((m) => m.payload.orderStatus), ['NEW', 'PARTIALLY_FILLED', 'FILLED']);
      assert.deepEqual(msgs.slice(1).map((m) => m.payload.tradeId), trades.map((t) => t.tradeId));
      assert.equal(Number(msgs[1].payload.lastFilledQuantity), 0.4);
      assert.equal(Number(msgs[2].payload.lastFilledQuantity), 0.6);
      assert.equal(Number(msgs[2].payload.cumulativeFilledQuantity), 1);
      assert.equal(Number(msgs[2].payload.averagePrice), 100);
      assert.equal(Number(msgs[1].payload.commission), Number(trades[0].commission));
      assert.equal(msgs[1].payload.commissionAsset, trades[0].commissionAsset);
      assert.equal(msgs[1].payload.isMaker, trades[0].isMaker);
      if (isFutures(market)) {
        assert.equal(msgs[0].payload.positionSide, 'BOTH');
        assert.equal(typeof msgs[0].payload.reduceOnly, 'boolean');
        assert.equal(typeof msgs[2].payload.realizedProfit, 'string');
        assert.equal(typeof msgs[0].payload.transactionTime, 'number');
      } else {
        assert.equal(msgs[0].payload.averagePrice, '0', 'nothing filled yet');
        assert.equal(Number(msgs[2].payload.cumulativeQuoteQuantity), 100);
        assert.equal(typeof msgs[0].payload.orderCreationTime, 'number');
      }
      // only order updates: account/balance events of the same trades are not emitted here
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(out.msgs.length, 3);
    });
  }

  for (const keyType of ['ed25519', 'rsa'] as const) {
    it(`an encrypted ${keyType} PEM pasted on one line (editor password field) works`, async function () {
      const a = newAccount(sim, 'margin', keyType, 'my passphrase 1');
      const creds = credentialsFor(a);
      creds.acct.privateKey = creds.acct.privateKey.replace(/\r?\n/g, '');
      await helper.load(
        nodeModules(),
        [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out', { executionTypes: 'fills' }), helperNode('out')],
        creds,
      );
      const out = collect('out') as unknown as { msgs: Msg[] };
      await waitConnected();
      sim.runOrderLifecycle(a.accountId, { market: 'margin', symbol: 'ETHUSDT', side: 'SELL', quantity: '1', price: '2000' });
      await waitFor(() => out.msgs.length >= 1, 5000, 'a fill');
      assert.equal(out.msgs[0].payload.symbol, 'ETHUSDT');
    });
  }

  for (const form of ['ws-path', 'ws-query', 'ws-query-no-events'] as const) {
    it(`futures stream URL setting futuresPathForm=${form} connects on that /private form and delivers fills`, async function () {
      const a = newAccount(sim, 'usdm-futures');
      sim.clearRequests();
      const flow: FlowNode[] = [
        TAB,
        accountNode(sim, a, { futuresPathForm: form }),
        consumer('ou', 'binance-order-update', 'out', { executionTypes: 'fills' }),
        helperNode('out'),
      ];
      await helper.load(nodeModules(), flow, credentialsFor(a));
      const out = collect('out') as unknown as { msgs: Msg[] };
      await waitConnected();
      const connects = sim.requests.filter((r) => r.kind === 'ws-connect');
      assert.equal(connects.length, 1);
      if (form === 'ws-path') assert.match(connects[0].path, /^\/private\/ws\/[^/?]+$/);
      else assert.match(connects[0].path, /^\/private\/ws$/);
      // the query forms: with the events= allow-list, or without it (every type)
      assert.equal(connects[0].params.events !== undefined, form === 'ws-query');
      assert.equal(connects[0].params.listenKey !== undefined, form !== 'ws-path');
      sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
      await waitFor(() => out.msgs.length >= 1, 5000, 'a fill');
      assert.equal(out.msgs[0].payload.executionType, 'TRADE');
    });
  }

  it('an unknown futuresPathForm is a configuration error, not a silent default', async function () {
    const a = newAccount(sim, 'usdm-futures');
    const flow: FlowNode[] = [TAB, accountNode(sim, a, { futuresPathForm: 'legacy' }), consumer('ou', 'binance-order-update', 'out'), helperNode('out')];
    await helper.load(nodeModules(), flow, credentialsFor(a));
    const ou = helper.getNode('ou') as unknown as {
      status: { getCalls(): Array<{ args: Array<{ fill?: string; text?: string }>; thisValue: unknown }> };
    };
    const mine = (): Array<{ fill?: string; text?: string }> =>
      ou.status.getCalls().filter((c) => (c.thisValue as { id?: string })?.id === 'ou').map((c) => c.args[0]);
    await waitFor(() => mine().some((st) => st?.fill === 'red'), 5000, 'red status');
    assert.ok(!mine().some((st) => st?.fill === 'green'), 'never shown connected');
    assert.equal(sim.openConnections(), 0);
    // the log says why and which values there are
    await waitFor(
      () => capturedLogs.some((l) => /unknown futures stream URL form "legacy" \(ws-query, ws-query-no-events, ws-path, or empty for the default ws-query\)/.test(String(l.msg))),
      5000,
      'the reason in the log',
    );
  });

  // Cross and isolated margin have no testnet or demo at Binance (no /sapi on the spot testnet, none
  // in ccxt's demo URL table; audit 2026-12-07 G8): a clear configuration error, as portfolio margin
  // gets, instead of listenToken requests failing in a loop.
  for (const [market, environment] of [['margin', 'testnet'], ['isolated-margin', 'demo']] as const) {
    it(`${market} on ${environment}: a clear configuration error, never a connection attempt`, async function () {
      const a = newAccount(sim, market);
      const logsBefore = capturedLogs.length;
      const flow: FlowNode[] = [TAB, accountNode(sim, a, { environment }), consumer('ou', 'binance-order-update', 'out'), helperNode('out')];
      await helper.load(nodeModules(), flow, credentialsFor(a));
      const ou = helper.getNode('ou') as unknown as {
        status: { getCalls(): Array<{ args: Array<{ fill?: string; text?: string }>; thisValue: unknown }> };
      };
      const mine = (): Array<{ fill?: string; text?: string }> =>
        ou.status.getCalls().filter((c) => (c.thisValue as { id?: string })?.id === 'ou').map((c) => c.args[0]);
      const refused = new RegExp(`${market} has no ${environment} environment at Binance`);
      await waitFor(() => capturedLogs.some((l) => refused.test(String(l.msg))), 5000, 'the configuration error in the log');
      await waitFor(() => mine().some((st) => st?.fill === 'red'), 5000, 'red status');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(!mine().some((st) => st?.fill === 'green' || st?.fill === 'yellow'), `never connecting: ${JSON.stringify(mine())}`);
      const mineLogs = capturedLogs.slice(logsBefore).map((l) => String(l.msg));
      assert.equal(mineLogs.filter((l) => /listenToken|network error/i.test(l)).length, 0, `no token request: ${mineLogs.join(' | ')}`);
    });
  }

  // An exchange whose trade ids do not grow per symbol (a test double, a bogus frame): a live fill
  // below the highest id seen was taken as a duplicate and silently dropped.
  for (const market of ['spot', 'usdm-futures'] as const) {
    it(`${market}: live fills whose trade ids do not grow are each delivered once (a repeat of the same fill is not)`, async function () {
      const a = newAccount(sim, market);
      const out = await load(a);
      const E = Date.now();
      const fill = (t: number, i: number, e: number): Record<string, unknown> =>
        market === 'spot'
          ? { e: 'executionReport', E: e, s: 'BTCUSDT', c: `c${i}`, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '100', x: 'TRADE', X: 'FILLED', i, l: '1', z: '1', L: '100', n: '0', N: 'BNB', T: e, t, O: e, Z: '100' }
          : { e: 'ORDER_TRADE_UPDATE', E: e, T: e, o: { s: 'BTCUSDT', c: `c${i}`, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '100', ap: '100', x: 'TRADE', X: 'FILLED', i, l: '1', z: '1', L: '100', T: e, t } };
      // ids 9 000 000 000 (one bogus frame), then 700, then 700 again (the same fill twice), then 650
      for (const [t, i, d] of [[9_000_000_000, 1, 0], [700, 2, 1], [700, 2, 1], [650, 3, 2]] as const) sim.injectEvent(a.accountId, market, fill(t, i, E + d));
      await waitFor(() => out.msgs.length >= 3, 5000, 'three fills');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        out.msgs.map((m) => m.payload.tradeId),
        [9_000_000_000, 700, 650],
      );
    });
  }

  // A self-trade: "two orders of the same account filled by one trade" share one trade id (STP FAQ,
  // Scenario A). The second leg was taken for a duplicate of the first and never reached the flow.
  for (const market of ['spot', 'usdm-futures'] as const) {
    it(`${market}: both legs of a self-trade (one trade id, a buy and a sell order) are delivered, each once`, async function () {
      const a = newAccount(sim, market);
      const out = await load(a);
      const E = Date.now();
      const leg = (i: number, side: 'BUY' | 'SELL', e: number): Record<string, unknown> =>
        market === 'spot'
          ? { e: 'executionReport', E: e, s: 'BTCUSDT', c: `c${i}`, S: side, o: 'LIMIT', f: 'GTC', q: '1', p: '100', x: 'TRADE', X: 'FILLED', i, l: '1', z: '1', L: '100', n: '0', N: 'BNB', T: e, t: 4242, O: e, Z: '100' }
          : { e: 'ORDER_TRADE_UPDATE', E: e, T: e, o: { s: 'BTCUSDT', c: `c${i}`, S: side, o: 'LIMIT', f: 'GTC', q: '1', p: '100', ap: '100', x: 'TRADE', X: 'FILLED', i, l: '1', z: '1', L: '100', T: e, t: 4242 } };
      // the buy leg, the sell leg, then the sell leg again (the same frame twice)
      for (const [i, side, d] of [[11, 'BUY', 0], [12, 'SELL', 0], [12, 'SELL', 0]] as const) sim.injectEvent(a.accountId, market, leg(i, side, E + d));
      await waitFor(() => out.msgs.length >= 2, 5000, 'two fills');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        out.msgs.map((m) => [m.payload.tradeId, m.payload.orderId, m.payload.side]),
        [
          [4242, 11, 'BUY'],
          [4242, 12, 'SELL'],
        ],
      );
    });
  }

  it('filters by symbol wildcard, side, fills only and status', async function () {
    const a = newAccount(sim, 'spot');
    const out = await load(a, { symbols: 'ETH*, ?NBUSDT', sides: 'SELL', executionTypes: 'fills', orderStatuses: 'FILLED' });
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '1', price: '100' }); // symbol filtered
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', quantity: '1', price: '100' }); // side filtered
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'SELL', quantity: '2', price: '100', fills: ['1'] });
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BNBUSDT', side: 'SELL', quantity: '1', price: '10', outcome: 'canceled' });
    const marker = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BNBUSDT', side: 'SELL', quantity: '1', price: '10' });
    await waitFor(() => out.msgs.some((m) => m.payload.orderId === marker.order.orderId), 5000, 'the marker order');
    await new Promise((r) => setTimeout(r, 50));
    // ETHUSDT SELL: TRADE PARTIALLY_FILLED (status filtered) + TRADE FILLED; BNBUSDT canceled: nothing; marker: TRADE FILLED
    assert.deepEqual(
      out.msgs.map((m) => `${m.payload.symbol} ${m.payload.side} ${m.payload.executionType} ${m.payload.orderStatus}`),
      ['ETHUSDT SELL TRADE FILLED', 'BNBUSDT SELL TRADE FILLED'],
    );
  });

  it('custom execution types and statuses lists', async function () {
    const a = newAccount(sim, 'usdm-futures');
    const out = await load(a, { executionTypes: 'NEW, CANCELED', orderStatuses: '' });
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100', outcome: 'canceled' });
    await waitFor(() => out.msgs.length >= 2, 5000, 'two updates');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(out.msgs.map((m) => m.payload.executionType), ['NEW', 'CANCELED']);
  });

  it('numbers option converts decimal strings to numbers', async function () {
    const a = newAccount(sim, 'spot');
    const out = await load(a, { numbers: true, executionTypes: 'fills' });
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.5', price: '200.5' });
    await waitFor(() => out.msgs.length >= 1, 5000, 'a fill');
    const p = out.msgs[0].payload;
    assert.equal(p.quantity, 0.5);
    assert.equal(p.price, 200.5);
    assert.equal(p.lastFilledPrice, 200.5);
    assert.equal(p.averagePrice, 200.5);
    assert.equal(typeof p.commission, 'number');
    assert.equal(typeof p.clientOrderId, 'string');
    assert.equal(typeof (out.msgs[0].raw as { q: unknown }).q, 'string', 'raw is untouched');
  });

  it('optional listStatus, ALGO_UPDATE and TRADE_LITE with their own payloads', async function () {
    const spot = newAccount(sim, 'spot');
    let out = await load(spot, { includeListStatus: true });
    sim.injectEvent(spot.accountId, 'spot', {
      e: 'listStatus',
      E: Date.now(),
      s: 'ETHUSDT',
      g: 7,
      c: 'OCO',
      l: 'EXEC_STARTED',
      L: 'EXECUTING',
      r: 'NONE',
      C: 'list-1',
      T: Date.now(),
      O: [{ s: 'ETHUSDT', i: 1, c: 'a' }, { s: 'ETHUSDT', i: 2, c: 'b' }],
    });
    await waitFor(() => out.msgs.length >= 1, 5000, 'listStatus');
    assert.equal(out.msgs[0].eventType, 'listStatus');
    assert.equal(out.msgs[0].topic, 'ETHUSDT');
    assert.equal(out.msgs[0].payload.contingencyType, 'OCO');
    assert.equal((out.msgs[0].payload.orders as unknown[]).length, 2);
    await helper.unload();

    const fut = newAccount(sim, 'usdm-futures');
    out = await load(fut, { includeAlgoUpdates: true, includeTradeLite: true, executionTypes: 'fills' });
    sim.injectEvent(fut.accountId, 'usdm-futures', {
      e: 'ALGO_UPDATE',
      E: Date.now(),
      T: Date.now(),
      o: { caid: 'algo-1', aid: 99, at: 'CONDITIONAL', o: 'STOP_MARKET', s: 'BTCUSDT', S: 'SELL', ps: 'BOTH', f: 'GTC', q: '1', X: 'NEW', tp: '90', p: '0' },
    });
    sim.runOrderLifecycle(fut.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => out.msgs.some((m) => m.eventType === 'TRADE_LITE') && out.msgs.some((m) => m.eventType === 'ORDER_TRADE_UPDATE'), 5000, 'fills');
    const algo = out.msgs.find((m) => m.eventType === 'ALGO_UPDATE');
    assert.ok(algo);
    assert.equal(algo.payload.algoId, 99);
    assert.equal(algo.payload.triggerPrice, '90');
    const lite = out.msgs.find((m) => m.eventType === 'TRADE_LITE');
    assert.ok(lite);
    assert.equal(lite.topic, 'BTCUSDT');
    assert.equal(Number(lite.payload.lastFilledQuantity), 1);
    assert.equal(typeof lite.payload.tradeId, 'number');
  });

  it('without the options, listStatus / ALGO_UPDATE / TRADE_LITE are not emitted', async function () {
    const fut = newAccount(sim, 'usdm-futures');
    const out = await load(fut);
    sim.injectEvent(fut.accountId, 'usdm-futures', { e: 'ALGO_UPDATE', E: Date.now(), T: Date.now(), o: { aid: 1, s: 'BTCUSDT', X: 'NEW' } });
    sim.runOrderLifecycle(fut.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => out.msgs.length >= 2, 5000, 'order updates');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual([...new Set(out.msgs.map((m) => m.eventType))], ['ORDER_TRADE_UPDATE']);
  });
});
