/**
 * Many account nodes in one runtime share one 'flows:started' listener (issue 7): one per
 * node tripped Node's MaxListenersExceededWarning from the 11th account on.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator } from '../../simulator/index';
import { helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { accountNode, consumer, credentialsFor, newAccount, TAB, waitConnected } from '../nodes/flows';

describe('core: account nodes and the runtime flows:started listener', function () {
  this.timeout(30_000);
  let sim: BinanceSimulator;

  before(async function () {
    await startRed();
    sim = await BinanceSimulator.start();
  });
  after(async function () {
    await sim?.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    await helper.unload();
  });

  it('15 account nodes add one flows:started listener (no MaxListenersExceededWarning); removed when all close', async () => {
    const events = helper._events;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const before = events.listenerCount('flows:started');
      const a = newAccount(sim, 'spot');
      const flow: FlowNode[] = [TAB];
      for (let i = 0; i < 15; i++) flow.push({ ...accountNode(sim, a), id: `acct${i}`, name: `account ${i}` });
      await helper.load(nodeModules(['binance-account']), flow);
      assert.equal(events.listenerCount('flows:started'), before + 1);
      await helper.unload();
      assert.equal(events.listenerCount('flows:started'), before);
      // let a deferred process 'warning' event come out
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
        [],
      );
    } finally {
      process.removeListener('warning', onWarning);
    }
  });

  it('flows:started still reaches every account: a consumer moved to another account by a partial redeploy is released', async () => {
    const a = newAccount(sim, 'spot');
    const b = newAccount(sim, 'spot');
    const acctB: FlowNode = { ...accountNode(sim, b), id: 'acct2', name: 'other account' };
    const creds = { ...credentialsFor(a), ...credentialsFor(b, 'acct2') };
    const c1 = consumer('c1', 'binance-order-update', 'c1', { wires: [[]] });
    await helper.load(nodeModules(), [TAB, accountNode(sim, a), acctB, c1], creds);
    await waitConnected('acct');
    type Handle = { getManager(): { state: string } | undefined };
    const acct = helper.getNode('acct') as unknown as Handle;
    const manager = acct.getManager();
    assert.ok(manager);
    // c1 now uses acct2: it closes (not removed) and registers with acct2; acct sees it was not
    // re-registered only once the flows have started, then releases it and its stream stops
    await helper.setFlows([TAB, accountNode(sim, a), acctB, { ...c1, account: 'acct2' }], 'nodes', creds);
    await waitConnected('acct2');
    await waitFor(() => manager.state === 'stopped' || manager.state === 'idle', 10_000, 'acct to release c1');
  });
});
