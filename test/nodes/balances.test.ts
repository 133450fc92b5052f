import assert from 'node:assert/strict';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { collect, helper, nodeModules, waitFor, type FlowNode } from '../support/red';
import { accountNode, redWithSimulator, consumer, credentialsFor, helperNode, isFutures, MARKETS, newAccount, symbolFor, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
type Bal = Record<string, unknown> & { asset: string };

describe('binance-account-position and binance-balance-update (against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  async function load(a: TestAccount, nodes: FlowNode[]): Promise<void> {
    await helper.load(nodeModules(), [TAB, accountNode(sim, a), ...nodes], credentialsFor(a));
    await waitConnected();
  }

  const depositOpts = (m: SimMarket): { symbol?: string } => (m === 'isolated-margin' ? { symbol: 'BTCUSDT' } : {});

  for (const market of MARKETS) {
    it(`${market}: account position deltas from an order, and balance updates from a deposit`, async function () {
      const a = newAccount(sim, market);
      await load(a, [
        consumer('pos', 'binance-account-position', 'posOut'),
        consumer('bal', 'binance-balance-update', 'balOut'),
        helperNode('posOut'),
        helperNode('balOut'),
      ]);
      const pos = collect('posOut') as unknown as { msgs: Msg[] };
      const bal = collect('balOut') as unknown as { msgs: Msg[] };
      sim.runOrderLifecycle(a.accountId, { market, symbol: symbolFor(market), side: 'BUY', quantity: '1', price: '100' });
      const expectedType = isFutures(market) ? 'ACCOUNT_UPDATE' : 'outboundAccountPosition';
      await waitFor(() => pos.msgs.length >= 1, 5000, 'an account position message');
      const m = pos.msgs[pos.msgs.length - 1];
      assert.equal(m.eventType, expectedType);
      assert.equal(m.market, market);
      assert.equal(m.account, 'test account');
      const balances = m.payload.balances as Bal[];
      assert.ok(Array.isArray(balances) && balances.length > 0);
      // msg.topic: the position symbols (futures), else the assets (was the event name)
      assert.equal(m.topic, isFutures(market) ? symbolFor(market) : [...new Set(balances.map((x) => x.asset))].join(','));
      if (isFutures(market)) {
        assert.equal(m.payload.reason, 'ORDER');
        const positions = m.payload.positions as Array<Record<string, unknown>>;
        assert.ok(positions.some((p) => p.symbol === symbolFor(market) && Number(p.positionAmount) === 1), JSON.stringify(positions));
        assert.equal(typeof balances[0].walletBalance, 'string');
      } else {
        const btc = balances.find((b) => b.asset === 'BTC');
        assert.ok(btc, JSON.stringify(balances));
        assert.equal(typeof btc.free, 'string');
        assert.equal(typeof btc.locked, 'string');
      }
      // order-caused updates are not balance updates
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(bal.msgs.length, 0, JSON.stringify(bal.msgs.map((x) => x.payload)));

      sim.deposit(a.accountId, market, 'USDT', '25.5', depositOpts(market));
      await waitFor(() => bal.msgs.length >= 1, 5000, 'a balance update');
      const b = bal.msgs[0];
      assert.equal(b.topic, 'USDT');
      assert.equal(b.payload.asset, 'USDT');
      assert.equal(Number(b.payload.delta), 25.5);
      assert.equal(b.market, market);
      if (isFutures(market)) {
        assert.equal(b.eventType, 'ACCOUNT_UPDATE');
        assert.equal(b.payload.reason, 'DEPOSIT');
        assert.equal(typeof b.payload.walletBalance, 'string');
      } else {
        assert.equal(b.eventType, 'balanceUpdate');
        assert.equal(typeof b.payload.clearTime, 'number');
      }
    });
  }

  it('snapshot output: whole balance sheet at start, kept current from events', async function () {
    const a = newAccount(sim, 'spot');
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('pos', 'binance-account-position', 'out', { output: 'snapshot' }), helperNode('out')],
      credentialsFor(a),
    );
    const out = collect('out') as unknown as { msgs: Msg[] };
    await waitFor(() => out.msgs.length >= 1, 8000, 'the first snapshot');
    const first = out.msgs[0];
    assert.equal(first.topic, 'snapshot');
    assert.equal(first.eventType, 'snapshot');
    const assets = (first.payload.balances as Bal[]).map((b) => b.asset);
    assert.deepEqual(assets, ['BNB', 'BTC', 'ETH', 'USDT']);
    const usdt0 = Number((first.payload.balances as Bal[]).find((b) => b.asset === 'USDT')?.free);
    sim.deposit(a.accountId, 'spot', 'USDT', '100');
    await waitFor(() => out.msgs.length >= 2, 5000, 'an updated snapshot');
    const second = out.msgs[out.msgs.length - 1];
    assert.equal(second.topic, 'snapshot');
    assert.equal(second.eventType, 'outboundAccountPosition');
    const bals = second.payload.balances as Bal[];
    assert.deepEqual(bals.map((b) => b.asset), ['BNB', 'BTC', 'ETH', 'USDT'], 'the whole sheet, not only the changed asset');
    assert.equal(Number(bals.find((b) => b.asset === 'USDT')?.free), usdt0 + 100);
  });

  it('snapshot output reloads the sheet after a gap (events may have been missed)', async function () {
    const a = newAccount(sim, 'margin');
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('pos', 'binance-account-position', 'out', { output: 'snapshot' }), helperNode('out')],
      credentialsFor(a),
    );
    const out = collect('out') as unknown as { msgs: Msg[] };
    await waitFor(() => out.msgs.length >= 1, 8000, 'the first snapshot');
    await waitConnected();
    sim.dropConnections({ accountId: a.accountId });
    // a change while the stream is down: only the reloaded snapshot can know it
    sim.deposit(a.accountId, 'margin', 'ETH', '7');
    await waitFor(() => out.msgs.filter((m) => m.eventType === 'snapshot').length >= 2, 10000, 'a reloaded snapshot');
    const reloaded = out.msgs.filter((m) => m.eventType === 'snapshot')[1];
    const eth = (reloaded.payload.balances as Bal[]).find((b) => b.asset === 'ETH');
    assert.equal(Number(eth?.free), 57);
    assert.equal(eth?.netAsset !== undefined, true, 'margin fields from the REST account');
  });

  it('snapshot output: a failed REST snapshot is reported and loaded again after the next gap', async function () {
    const a = newAccount(sim, 'spot');
    sim.failNext({ path: '/api/v3/account', httpStatus: 500, code: -1000, msg: 'simulated failure', count: 1 });
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('pos', 'binance-account-position', 'out', { output: 'snapshot' }), helperNode('out')],
      credentialsFor(a),
    );
    const out = collect('out') as unknown as { msgs: Msg[] };
    const pos = helper.getNode('pos') as unknown as { error: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> } };
    const errors = (): string[] =>
      pos.error
        .getCalls()
        .filter((c) => (c.thisValue as { id?: string }).id === 'pos')
        .map((c) => String(c.args[0]));
    await waitFor(() => errors().length === 1, 8000, 'the snapshot error');
    assert.match(errors()[0], /Could not load the account snapshot: .*simulated failure/);
    assert.equal(out.msgs.length, 0);
    sim.dropConnections({ accountId: a.accountId });
    await waitFor(() => out.msgs.length >= 1, 10000, 'the snapshot after the gap');
    assert.equal(out.msgs[0].eventType, 'snapshot');
  });

  it('snapshot output for futures carries positions; assets filter and hideZero apply', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await helper.load(
      nodeModules(),
      [
        TAB,
        accountNode(sim, a),
        consumer('pos', 'binance-account-position', 'out', { output: 'snapshot', assets: 'US*', hideZero: true, numbers: true }),
        helperNode('out'),
      ],
      credentialsFor(a),
    );
    const out = collect('out') as unknown as { msgs: Msg[] };
    await waitFor(() => out.msgs.length >= 1, 8000, 'the first snapshot');
    assert.deepEqual((out.msgs[0].payload.balances as Bal[]).map((b) => b.asset), ['USDT']);
    assert.deepEqual(out.msgs[0].payload.positions, []);
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '2', price: '100' });
    await waitFor(() => out.msgs.some((m) => (m.payload.positions as unknown[]).length > 0), 5000, 'a position');
    const last = out.msgs[out.msgs.length - 1];
    const p = (last.payload.positions as Array<Record<string, unknown>>)[0];
    assert.equal(p.symbol, 'BTCUSDT');
    assert.equal(p.positionAmount, -2, 'numbers option converts');
    assert.equal(typeof (last.payload.balances as Bal[])[0].walletBalance, 'number');
  });

  it('margin calls are emitted when chosen (futures)', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [
      consumer('mc', 'binance-account-position', 'out', { includeMarginCall: true }),
      consumer('nomc', 'binance-account-position', 'out2'),
      helperNode('out'),
      helperNode('out2'),
    ]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    const out2 = collect('out2') as unknown as { msgs: Msg[] };
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => out.msgs.length >= 1 && out2.msgs.length >= 1, 5000, 'position updates');
    sim.marginCall(a.accountId, 'usdm-futures', 'BTCUSDT');
    await waitFor(() => out.msgs.some((m) => m.eventType === 'MARGIN_CALL'), 5000, 'a margin call');
    const mc = out.msgs.find((m) => m.eventType === 'MARGIN_CALL');
    assert.ok(mc);
    assert.equal(mc.topic, 'BTCUSDT', 'the symbols at risk (was the event name)');
    assert.equal(typeof mc.payload.crossWalletBalance, 'string');
    const p = (mc.payload.positions as Array<Record<string, unknown>>)[0];
    assert.equal(p.symbol, 'BTCUSDT');
    assert.equal(Number(p.positionAmount), 1);
    assert.equal(typeof p.markPrice, 'string');
    assert.equal(typeof p.maintenanceMargin, 'string');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!out2.msgs.some((m) => m.eventType === 'MARGIN_CALL'), 'not emitted without the option');
  });

  it('delta output: assets filter and hideZero', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [consumer('pos', 'binance-account-position', 'out', { assets: 'ETH', hideZero: true }), helperNode('out')]);
    const out = collect('out') as unknown as { msgs: Msg[] };
    sim.deposit(a.accountId, 'spot', 'USDT', '1'); // no ETH in it: nothing sent
    sim.withdraw(a.accountId, 'spot', 'ETH', '50'); // ETH goes to zero: hidden, so nothing sent
    sim.deposit(a.accountId, 'spot', 'ETH', '3');
    await waitFor(() => out.msgs.length >= 1, 5000, 'an ETH delta');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out.msgs.length, 1);
    assert.deepEqual(out.msgs[0].payload.balances, [{ asset: 'ETH', free: '3.00000000', locked: '0.00000000' }]);
  });

  it('balance update choices: funding fees off by default, on when chosen; transfers; external locks; assets', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [
      consumer('dflt', 'binance-balance-update', 'out1'),
      consumer('fees', 'binance-balance-update', 'out2', { deposit: false, withdraw: true, transfer: false, fundingFee: true, assets: 'USD?' }),
      helperNode('out1'),
      helperNode('out2'),
    ]);
    const o1 = collect('out1') as unknown as { msgs: Msg[] };
    const o2 = collect('out2') as unknown as { msgs: Msg[] };
    sim.fundingFee(a.accountId, 'usdm-futures', 'USDT', '-0.25');
    sim.deposit(a.accountId, 'usdm-futures', 'BTC', '1');
    sim.injectEvent(a.accountId, 'usdm-futures', {
      e: 'ACCOUNT_UPDATE',
      E: Date.now(),
      T: Date.now(),
      a: { m: 'ASSET_TRANSFER', B: [{ a: 'USDT', wb: '1', cw: '1', bc: '5' }], P: [] },
    });
    sim.withdraw(a.accountId, 'usdm-futures', 'USDT', '2');
    await waitFor(() => o1.msgs.length >= 3 && o2.msgs.length >= 2, 5000, 'balance updates');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(o1.msgs.map((m) => `${m.topic} ${m.payload.reason}`), ['BTC DEPOSIT', 'USDT ASSET_TRANSFER', 'USDT WITHDRAW']);
    assert.deepEqual(o2.msgs.map((m) => `${m.topic} ${m.payload.reason} ${Number(m.payload.delta)}`), ['USDT FUNDING_FEE -0.25', 'USDT WITHDRAW -2']);
    assert.equal(typeof o2.msgs[0].payload.delta, 'string');

    await helper.unload();
    const s = newAccount(sim, 'spot');
    await load(s, [consumer('b', 'binance-balance-update', 'out', { externalLockUpdate: true, balanceUpdate: false }), helperNode('out')]);
    const o = collect('out') as unknown as { msgs: Msg[] };
    sim.deposit(s.accountId, 'spot', 'BTC', '1');
    sim.injectEvent(s.accountId, 'spot', { e: 'externalLockUpdate', E: Date.now(), a: 'BNB', d: '2.5', T: Date.now() });
    await waitFor(() => o.msgs.length >= 1, 5000, 'an external lock');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(o.msgs.length, 1);
    assert.equal(o.msgs[0].eventType, 'externalLockUpdate');
    assert.equal(o.msgs[0].topic, 'BNB');
    assert.equal(o.msgs[0].payload.delta, '2.5');
  });
});
