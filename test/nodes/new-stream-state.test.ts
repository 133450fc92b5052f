/**
 * An account node redeployed with a setting that opens a new stream for it (here the futures URL
 * form) under Node-RED's default context (no contextStorage in settings.js: Node-RED deletes a
 * node's context when it closes): the new stream starts from the old one's state, so the fills
 * made during the deploy come once (attack on issue 22, A3: they were lost, the new stream began
 * as a first start). A node deleted for good hands nothing to a later one.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimTrade } from '../../simulator/index';
import { helper, nodeModules, rememberSecret, waitFor, type FlowNode } from '../support/red';
import { clearSinks, sunk, testNodes } from '../support/runtime-nodes';
import { accountNode, consumer, credentialsFor, redWithSimulator, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown>; eventId?: string };
const idOf = (t: SimTrade): string => `fill:usdm-futures:${t.symbol}:${t.orderId}:${t.tradeId}`;

describe('a new stream for a redeployed account node (default memory context, Node-RED runtime, simulator)', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  redWithSimulator((s) => {
    sim = s;
  });
  beforeEach(() => clearSinks());
  const sink = (id: string): FlowNode => ({ id, type: 'test-sink', z: TAB.id });
  const fillIds = (id: string): string[] =>
    (sunk(id) as unknown as Msg[]).filter((m) => m.payload.executionType === 'TRADE').map((m) => String(m.eventId));

  function account(): TestAccount {
    const { id } = sim.createAccount({ futuresBalances: { USDT: '100000' } });
    const key = sim.createKey(id, 'hmac');
    rememberSecret(key.apiKey, key.apiSecret);
    return { accountId: id, key, market: 'usdm-futures' };
  }
  const fill = (a: TestAccount, price: string): void => {
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price });
  };
  const flow = (a: TestAccount, form: string, id = 'acct'): FlowNode[] => [
    TAB,
    accountNode(sim, a, { id, futuresPathForm: form }),
    consumer('ou', 'binance-order-update', 'out', { account: id }),
    sink('out'),
  ];

  it('the futures URL form changed by a "modified nodes" deploy while fills are made: a new stream on the new form, every fill once', async function () {
    const a = account();
    await helper.load([...nodeModules(), testNodes], flow(a, 'ws-query'), credentialsFor(a));
    await waitConnected();
    fill(a, '100');
    await waitFor(() => fillIds('out').length === 1, 8000, 'the first fill');
    const deploying = helper.setFlows(flow(a, 'ws-query-no-events'), 'nodes', credentialsFor(a));
    fill(a, '101'); // during the deploy
    await deploying;
    fill(a, '102'); // before the new stream is subscribed
    await waitConnected();
    fill(a, '103');
    const want = sim.trades(a.accountId, 'usdm-futures').map(idOf).sort();
    await waitFor(() => want.every((id) => fillIds('out').includes(id)), 15_000, `every fill (got ${fillIds('out').join(', ')})`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const connects = sim.requests.filter((r) => r.kind === 'ws-connect');
    assert.equal(connects.at(-1)?.params.events, undefined, 'the last connection is on the form without events=');
    assert.deepEqual([...fillIds('out')].sort(), want, 'each fill of the ledger once');
  });

  it('an account node deleted, then one with the same id added: nothing of the deleted one is restored (a first start)', async function () {
    const a = account();
    await helper.load([...nodeModules(), testNodes], flow(a, 'ws-query'), credentialsFor(a));
    await waitConnected();
    fill(a, '100');
    await waitFor(() => fillIds('out').length === 1, 8000, 'the first fill');
    await helper.setFlows([TAB], 'full');
    fill(a, '101'); // while the account node does not exist
    clearSinks();
    await helper.setFlows(flow(a, 'ws-query'), 'full', credentialsFor(a));
    await waitConnected();
    fill(a, '102');
    const last = idOf(sim.trades(a.accountId, 'usdm-futures').at(-1)!);
    await waitFor(() => fillIds('out').includes(last), 8000, 'the live fill');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(fillIds('out'), [last], 'only the fill made after it was added');
  });
});
