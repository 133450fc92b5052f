/**
 * Fields Binance documents that the nodes did not expose or labelled wrongly (issue 22, item 4; the
 * sources and their dates are in the normalisers, nodes/lib/events/): through our nodes in
 * Node-RED, against the simulator, which sends them as the sources describe.
 *  - ACCOUNT_UPDATE `a.S`, the symbol of a FUNDING_FEE change → `symbol`;
 *  - COIN-M ORDER_TRADE_UPDATE: quantities are contracts, so no `lastQuoteQuantity` (l × L is no
 *    quote quantity there); `ma` → `marginAsset`; `b` / `a` are base-asset quantities
 *    (`bidsBaseQuantity` / `asksBaseQuantity`), not notionals; `i` → `accountAlias`;
 *  - GRID_UPDATE `gu{…}` → a readable payload;
 *  - portfolio margin: ORDER_TRADE_UPDATE `st` / `si` (strategy of a triggered conditional order),
 *    `U` of balanceUpdate / outboundAccountPosition, ACCOUNT_CONFIG_UPDATE `fs`.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { collect, helper, nodeModules, waitFor, type FlowNode } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown>; raw: Record<string, unknown> };

describe('documented fields through the nodes (issue 22 item 4, against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  async function load(a: TestAccount, nodes: FlowNode[], extra: Record<string, unknown> = {}): Promise<void> {
    await helper.load(nodeModules(), [TAB, accountNode(sim, a, extra), ...nodes], credentialsFor(a));
    await waitConnected();
  }

  it('USDⓈ-M FUNDING_FEE: the symbol that paid the fee (a.S) in binance-balance-update and binance-account-position; a fill keeps its quote quantity and notionals', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [
      consumer('bu', 'binance-balance-update', 'balances', { deposit: false, withdraw: false, transfer: false, fundingFee: true }),
      consumer('ap', 'binance-account-position', 'positions'),
      consumer('ou', 'binance-order-update', 'orders', { executionTypes: 'fills' }),
      helperNode('balances'),
      helperNode('positions'),
      helperNode('orders'),
    ]);
    const balances = collect('balances') as unknown as { msgs: Msg[] };
    const positions = collect('positions') as unknown as { msgs: Msg[] };
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    sim.fundingFee(a.accountId, 'usdm-futures', 'USDT', '-0.25', 'ETHUSDT');
    const fill = sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '2', price: '100', fills: ['0.5'] });
    await waitFor(() => balances.msgs.length >= 1 && positions.msgs.some((m) => m.payload.reason === 'FUNDING_FEE') && orders.msgs.length >= 1, 5000, 'the fee and the fill');
    const fee = balances.msgs[0];
    assert.equal(fee.payload.reason, 'FUNDING_FEE');
    assert.equal(fee.payload.symbol, 'ETHUSDT');
    assert.equal(fee.payload.delta, '-0.25');
    assert.equal(positions.msgs.find((m) => m.payload.reason === 'FUNDING_FEE')!.payload.symbol, 'ETHUSDT');
    const p = orders.msgs[0].payload;
    assert.equal(p.orderId, fill.order.orderId);
    assert.equal(p.lastQuoteQuantity, '50', 'USDⓈ-M: 0.5 × 100');
    assert.equal(p.bidsNotional, '150', 'the open remainder, 1.5 × 100');
    assert.equal(p.bidsBaseQuantity, undefined);
    assert.equal(p.marginAsset, undefined);
  });

  it('COIN-M fill: no lastQuoteQuantity (contracts), marginAsset from ma, b/a as base quantities, the account alias', async function () {
    const a = newAccount(sim, 'coinm-futures');
    await load(a, [
      consumer('ou', 'binance-order-update', 'orders', { executionTypes: 'fills' }),
      consumer('ue', 'binance-user-event', 'events', { eventTypes: 'ORDER_TRADE_UPDATE' }),
      helperNode('orders'),
      helperNode('events'),
    ]);
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    const events = collect('events') as unknown as { msgs: Msg[] };
    sim.runOrderLifecycle(a.accountId, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'SELL', quantity: '3', price: '100', fills: ['2'] });
    await waitFor(() => orders.msgs.length >= 1 && events.msgs.some((m) => m.payload.executionType === 'TRADE'), 5000, 'the COIN-M fill');
    for (const p of [orders.msgs[0].payload, events.msgs.find((m) => m.payload.executionType === 'TRADE')!.payload]) {
      assert.equal(p.lastFilledQuantity, '2');
      assert.equal(p.lastFilledPrice, '100');
      assert.equal('lastQuoteQuantity' in p, false, `2 contracts × 100 is not a quote quantity: ${JSON.stringify(p)}`);
      assert.equal(p.marginAsset, 'BTC');
      assert.equal(typeof p.accountAlias, 'string');
      assert.equal(p.bidsBaseQuantity, '0');
      assert.equal(typeof p.asksBaseQuantity, 'string');
      assert.equal('bidsNotional' in p || 'asksNotional' in p, false);
    }
  });

  it('GRID_UPDATE as documented (gu{si, st, ss, s, r, up, uq, uf, mp, ut}): a readable payload in binance-user-event', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [consumer('ue', 'binance-user-event', 'events', { eventTypes: 'GRID_UPDATE' }), helperNode('events')]);
    const events = collect('events') as unknown as { msgs: Msg[] };
    // the example of Binance's Event-GRID-UPDATE page
    sim.injectEvent(a.accountId, 'usdm-futures', {
      e: 'GRID_UPDATE',
      T: 1669262908216,
      E: 1669262908218,
      gu: { si: 176057039, st: 'GRID', ss: 'WORKING', s: 'BTCUSDT', r: '-0.00300716', up: '16720', uq: '-0.001', uf: '-0.00300716', mp: '0.0', ut: 1669262908197 },
    });
    await waitFor(() => events.msgs.length === 1, 5000, 'GRID_UPDATE');
    assert.deepEqual(events.msgs[0].payload, {
      strategyId: 176057039,
      strategyType: 'GRID',
      strategyStatus: 'WORKING',
      symbol: 'BTCUSDT',
      realizedPnl: '-0.00300716',
      unmatchedAveragePrice: '16720',
      unmatchedQuantity: '-0.001',
      unmatchedFee: '-0.00300716',
      matchedPnl: '0.0',
      updateTime: 1669262908197,
      eventTime: 1669262908218,
      transactionTime: 1669262908216,
    });
  });

  it('portfolio margin: st/si of a triggered conditional order, U of balanceUpdate and outboundAccountPosition, fs of ACCOUNT_CONFIG_UPDATE', async function () {
    const a = newAccount(sim, 'margin');
    await helper.load(
      nodeModules(),
      [
        TAB,
        { ...accountNode(sim, a), market: 'portfolio-margin', wsUrl: sim.urlsFor('portfolio-margin').wsUrl },
        consumer('ou', 'binance-order-update', 'orders'),
        consumer('bu', 'binance-balance-update', 'balances'),
        consumer('ap', 'binance-account-position', 'positions'),
        consumer('ue', 'binance-user-event', 'events', { eventTypes: 'ACCOUNT_CONFIG_UPDATE' }),
        helperNode('orders'),
        helperNode('balances'),
        helperNode('positions'),
        helperNode('events'),
      ],
      credentialsFor(a),
    );
    await waitConnected();
    const orders = collect('orders') as unknown as { msgs: Msg[] };
    const balances = collect('balances') as unknown as { msgs: Msg[] };
    const positions = collect('positions') as unknown as { msgs: Msg[] };
    const events = collect('events') as unknown as { msgs: Msg[] };
    const E = Date.now();
    sim.injectEvent(a.accountId, 'portfolio-margin', {
      e: 'ORDER_TRADE_UPDATE', fs: 'UM', E, T: E, i: '',
      o: {
        s: 'BTCUSDT', c: 'TEST', S: 'SELL', o: 'MARKET', f: 'GTC', q: '0.001', p: '0', ap: '0', sp: '0', x: 'NEW', X: 'NEW', i: 8886774,
        l: '0', z: '0', L: '0', T: E, t: 0, b: '0', a: '9.91', m: false, R: false, ps: 'BOTH', rp: '0', st: 'C_TAKE_PROFIT', si: 12893, V: 'EXPIRE_TAKER', gtd: 0,
      },
    });
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'balanceUpdate', E, a: 'USDT', d: '100.00000000', U: 1027053479517, T: E });
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'outboundAccountPosition', E, u: E, U: 1027053479517, B: [{ a: 'USDT', f: '100.00000000', l: '0.00000000' }] });
    sim.injectEvent(a.accountId, 'portfolio-margin', { e: 'ACCOUNT_CONFIG_UPDATE', fs: 'UM', E, T: E, ac: { s: 'BTCUSDT', l: 25 } });
    await waitFor(() => orders.msgs.length >= 1 && balances.msgs.length >= 1 && positions.msgs.length >= 1 && events.msgs.length >= 1, 5000, 'the four events');
    const o = orders.msgs[0].payload;
    assert.equal(o.strategyType, 'C_TAKE_PROFIT');
    assert.equal(o.strategyId, 12893);
    assert.equal(o.businessUnit, 'UM');
    assert.equal(o.accountAlias, undefined, 'an empty alias is left out');
    assert.equal(balances.msgs[0].payload.updateId, 1027053479517);
    assert.equal(positions.msgs.find((m) => m.eventType === 'outboundAccountPosition')!.payload.updateId, 1027053479517);
    assert.equal(events.msgs[0].payload.businessUnit, 'UM');
    assert.equal(events.msgs[0].payload.leverage, 25);
  });
});
