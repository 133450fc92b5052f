/**
 * Gap recovery at the Node-RED level (node-red-node-test-helper, real timers, simulator):
 *  - fills made while the connection is down leave `binance-order-update` with
 *    `msg.recovered === true`, the stream status node reports `recovering` → `connected`
 *    and a `recovery` message;
 *  - restart: the flow is unloaded, fills happen while "Node-RED is stopped", the flow is
 *    loaded again with the same persistent context store: the fills are recovered.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimTrade } from '../../simulator/index';
import { collect, helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { PersistentStore, usePersistentStore, type PersistedData } from '../support/persistent-store';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, TAB, waitConnected, type TestAccount } from '../nodes/flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

/** A persistent context store for the test (survives helper.unload()/load() like a file store a restart). */
const persisted: PersistedData = new Map();

describe('gap recovery in the Node-RED nodes (against the simulator)', function () {
  this.timeout(30_000);
  let sim: BinanceSimulator;
  let restoreStores: (() => void) | undefined;

  before(async function () {
    await startRed();
    sim = await BinanceSimulator.start();
    restoreStores = usePersistentStore(new PersistentStore(persisted));
  });
  after(async function () {
    restoreStores?.();
    await sim.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    await helper.unload();
  });

  const fillKeys = (msgs: Msg[]): string[] =>
    msgs.filter((m) => m.payload.executionType === 'TRADE').map((m) => `${String(m.payload.symbol)}/${String(m.payload.tradeId)}`);

  function flow(a: TestAccount, extra: Record<string, unknown> = {}): FlowNode[] {
    return [
      TAB,
      accountNode(sim, a, extra),
      consumer('ou', 'binance-order-update', 'out'),
      consumer('ss', 'binance-stream-status', 'ssOut'),
      helperNode('out'),
      helperNode('ssOut'),
    ];
  }

  for (const market of ['spot', 'usdm-futures'] as const) {
    it(`${market}: fills made while the connection is down come out of binance-order-update with msg.recovered = true`, async function () {
      const a = newAccount(sim, market);
      await helper.load(nodeModules(), flow(a, { recoverySymbols: 'ETHUSDT' }), credentialsFor(a));
      const out = collect('out') as unknown as { msgs: Msg[] };
      const ss = collect('ssOut') as unknown as { msgs: Msg[] };
      await waitConnected();
      // BTCUSDT becomes known by a live fill; ETHUSDT is only listed in the account node.
      const live = sim.runOrderLifecycle(a.accountId, { market, symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002', price: '100', fills: ['0.001'] }).trades;
      await waitFor(() => fillKeys(out.msgs).length === 2, 5000, 'live fills');

      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
      const missed: SimTrade[] = [];
      missed.push(...sim.runOrderLifecycle(a.accountId, { market, symbol: 'BTCUSDT', side: 'SELL', quantity: '0.003', price: '101', fills: ['0.001', '0.001'] }).trades);
      missed.push(...sim.runOrderLifecycle(a.accountId, { market, symbol: 'ETHUSDT', side: 'BUY', quantity: '0.5', price: '20', fills: ['0.2'] }).trades);
      await waitFor(() => fillKeys(out.msgs).length === 2 + missed.length, 10_000, 'recovered fills');
      await waitFor(() => ss.msgs.some((m) => m.topic === 'recovery'), 5000, 'the recovery message');
      await new Promise((r) => setTimeout(r, 200));

      const fills = out.msgs.filter((m) => m.payload.executionType === 'TRADE');
      assert.deepEqual(fillKeys(out.msgs), [...live, ...missed].map((t) => `${t.symbol}/${t.tradeId}`), 'every fill once, in order');
      const recovered = fills.slice(2);
      for (const [i, m] of recovered.entries()) {
        const t = missed[i];
        assert.equal(m.recovered, true);
        assert.equal(m.topic, t.symbol);
        assert.equal(m.eventType, market === 'spot' ? 'executionReport' : 'ORDER_TRADE_UPDATE');
        assert.equal(m.market, market);
        assert.equal(m.account, 'test account');
        assert.equal(m.payload.orderId, t.orderId);
        assert.equal(m.payload.side, t.side);
        assert.equal(Number(m.payload.lastFilledQuantity), Number(t.quantity));
        assert.equal(Number(m.payload.lastFilledPrice), Number(t.price));
        assert.equal(m.payload.transactionTime, t.time);
        // REST history has no order status, cumulative quantity or event time: absent, not invented
        assert.equal(m.payload.orderStatus, undefined);
        assert.equal(m.payload.cumulativeFilledQuantity, undefined);
        assert.equal(m.payload.eventTime, undefined);
        assert.equal(m.payload.averagePrice, undefined);
        // msg.raw is what the exchange actually sent: the REST trade record
        const raw = m.raw as Record<string, unknown>;
        assert.equal(raw.id, t.tradeId);
        assert.equal(raw.orderId, t.orderId);
        assert.equal(raw.e, undefined, 'not a made-up stream event');
      }
      for (const m of fills.slice(0, 2)) assert.equal(m.recovered, undefined, 'live fills are not marked');
      // stream status: recovering (catching up) and then connected, and what was recovered
      const states = ss.msgs.filter((m) => m.topic === 'state').map((m) => String(m.payload.state));
      const iRec = states.lastIndexOf('recovering');
      assert.ok(iRec > 0, `states: ${states.join(' → ')}`);
      assert.equal(states[states.length - 1], 'connected');
      assert.ok(states.indexOf('reconnecting') < iRec);
      const rec = ss.msgs.find((m) => m.topic === 'recovery')!;
      assert.equal(rec.payload.fills, missed.length);
      assert.deepEqual(rec.payload.errors, []);
      assert.ok((rec.payload.symbols as string[]).includes('ETHUSDT'));
    });
  }

  it('spot: fills made while Node-RED was stopped are recovered at start-up (persistent context store)', async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist', recoveryLookback: '12' };
    await helper.load(nodeModules(), flow(a, props), credentialsFor(a));
    let out = collect('out') as unknown as { msgs: Msg[] };
    await waitConnected();
    const live = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002', price: '100', fills: ['0.001'] }).trades;
    await waitFor(() => fillKeys(out.msgs).length === 2, 5000, 'live fills');
    await helper.unload();

    // Node-RED is stopped: the cursor was saved in the persistent store.
    const saved = [...persisted.values()].map((m) => m.get('binanceUserStreamRecovery')).find((v) => v !== undefined) as
      | { lastTradeIds: Record<string, number> }
      | undefined;
    assert.ok(saved, 'the recovery state was persisted');
    assert.equal(saved.lastTradeIds.BTCUSDT, live[live.length - 1].tradeId);
    const missed = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.004', price: '99', fills: ['0.001', '0.002'] }).trades;

    await helper.load(nodeModules(), flow(a, props), credentialsFor(a));
    out = collect('out') as unknown as { msgs: Msg[] };
    await waitFor(() => fillKeys(out.msgs).length >= missed.length, 10_000, 'recovered fills');
    await waitConnected();
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(fillKeys(out.msgs), missed.map((t) => `${t.symbol}/${t.tradeId}`), 'exactly the fills made while stopped');
    assert.ok(out.msgs.filter((m) => m.payload.executionType === 'TRADE').every((m) => m.recovered === true));
  });
});
