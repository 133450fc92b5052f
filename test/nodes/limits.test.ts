/**
 * Issue 21, "no bound that forgets": the tracking limits are account node settings
 * (`recoveryMaxSymbols`, `recoveryMaxOrders`) whose overflow is shown in every node's status and
 * named in the log, never a silent loss (Node-RED nodes, simulator over loopback).
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capturedLogs, collect, helper, nodeModules, watchStatus, waitFor } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, TAB, waitConnected } from './flows';

describe('tracking limits: settings whose overflow is visible (Node-RED nodes, simulator)', function () {
  this.timeout(30_000);
  let sim!: BinanceSimulator;
  redWithSimulator((s) => (sim = s));

  it('more symbols than "Symbols tracked": the status says so and the log names the dropped symbol', async () => {
    const a = newAccount(sim, 'spot');
    const flow = [TAB, accountNode(sim, a, { recoveryMaxSymbols: '10' }), consumer('ou', 'binance-order-update', 'out'), helperNode('out')];
    await helper.load(nodeModules(), flow, credentialsFor(a));
    const statuses = watchStatus('ou');
    const out = collect('out');
    await waitConnected();
    const symbols = Array.from({ length: 11 }, (_, i) => `S${String.fromCharCode(65 + i)}USDT`);
    for (const symbol of symbols) sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol, side: 'BUY', quantity: '1', price: '1', fills: ['1'] });
    await waitFor(() => out.msgs.filter((m) => (m.payload as { executionType?: string }).executionType === 'TRADE').length === 11, 10_000, 'every fill delivered');
    await waitFor(() => statuses.some((s) => s.text === 'connected (over 10 symbols: see log)'), 5_000, 'the limit in the status');
    assert.equal(statuses[statuses.length - 1].fill, 'green');
    assert.ok(
      capturedLogs.some((l) => /more than 10 symbols tracked: SAUSDT is no longer reconciled after a gap/.test(String(l.msg))),
      'the log names the dropped symbol and the setting',
    );
  });

  it('an invalid limit is a configuration error with its reason', async () => {
    const a = newAccount(sim, 'spot');
    const flow = [TAB, accountNode(sim, a, { recoveryMaxSymbols: '3' }), consumer('ou', 'binance-order-update', 'out'), helperNode('out')];
    await helper.load(nodeModules(), flow, credentialsFor(a));
    await waitFor(() => capturedLogs.some((l) => /symbols tracked must be a whole number between 10 and 100000/.test(String(l.msg))), 5_000, 'the reason');
  });
});
