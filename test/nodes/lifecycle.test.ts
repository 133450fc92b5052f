import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { captured, capturedLogs, collect, findLeaks, helper, nodeModules, rememberSecret, waitFor, type FlowNode } from '../support/red';
import { accountNode, redWithSimulator, consumer, credentialsFor, helperNode, MARKETS, newAccount, symbolFor, TAB, waitConnected, type TestAccount } from './flows';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
interface StatusMsg {
  status: { fill?: string; shape?: string; text?: string; source?: { id?: string } };
}

function statusNode(id: string, scope: string[], out: string): FlowNode {
  return { id, type: 'status', z: TAB.id, scope, wires: [[out]] };
}

function statusTexts(msgs: StatusMsg[], nodeId: string): string[] {
  return msgs.filter((m) => m.status.source?.id === nodeId).map((m) => `${m.status.fill}/${m.status.shape}/${m.status.text}`);
}

describe('node lifecycle, status and connection sharing (against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  for (const market of MARKETS) {
    it(`${market}: status goes connected → reconnecting (1) → connected through a dropped connection, with state and gap messages`, async function () {
      const a = newAccount(sim, market);
      const flow: FlowNode[] = [
        TAB,
        accountNode(sim, a),
        consumer('ou', 'binance-order-update', 'out'),
        consumer('ss', 'binance-stream-status', 'ssOut'),
        statusNode('st', ['ou', 'ss'], 'stOut'),
        helperNode('out'),
        helperNode('ssOut'),
        helperNode('stOut'),
      ];
      await helper.load(nodeModules(), flow, credentialsFor(a));
      const st = collect('stOut') as unknown as { msgs: StatusMsg[] };
      const ss = collect('ssOut') as unknown as { msgs: Msg[] };
      const out = collect('out') as unknown as { msgs: Msg[] };
      await waitConnected();
      await waitFor(() => statusTexts(st.msgs, 'ou').includes('green/dot/connected'), 5000, 'green status');
      await waitFor(() => ss.msgs.some((m) => m.topic === 'state'), 5000, 'the initial state message');
      assert.equal(ss.msgs[0].topic, 'state');
      assert.ok(['connecting', 'connected'].includes(String(ss.msgs[0].payload.state)));
      assert.equal(ss.msgs[0].market, market);
      assert.equal(ss.msgs[0].account, 'test account');

      const before = st.msgs.length;
      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
      await waitFor(() => ss.msgs.some((m) => m.topic === 'gap'), 10000, 'a gap message');
      await waitFor(() => statusTexts(st.msgs.slice(before), 'ou').includes('green/dot/connected'), 5000, 'green again');
      const after = statusTexts(st.msgs.slice(before), 'ou');
      assert.match(after[0], /^yellow\/ring\/reconnecting \(1\)(: .+)?$/);
      assert.equal(after[after.length - 1], 'green/dot/connected');
      assert.deepEqual(statusTexts(st.msgs.slice(before), 'ss'), after, 'status fanned out to every user');

      const states = ss.msgs.filter((m) => m.topic === 'state').map((m) => m.payload);
      const rec = states.find((p) => p.state === 'reconnecting');
      assert.ok(rec, JSON.stringify(states));
      assert.equal(rec.previous, 'connected');
      assert.equal(rec.attempt, 1);
      assert.equal(typeof rec.delayMs, 'number');
      assert.equal(typeof rec.at, 'number');
      assert.equal(states[states.length - 1].state, 'connected');
      const gap = ss.msgs.find((m) => m.topic === 'gap');
      assert.ok(gap);
      assert.equal(typeof gap.payload.from, 'number');
      assert.ok((gap.payload.to as number) >= (gap.payload.from as number));
      assert.equal(typeof gap.payload.reason, 'string');

      // events flow again after the reconnect
      sim.runOrderLifecycle(a.accountId, { market, symbol: symbolFor(market), side: 'BUY', quantity: '1', price: '100' });
      await waitFor(() => out.msgs.length >= 2, 5000, 'order updates after the reconnect');
    });
  }

  it('showLastEvent adds the time of the last event to the status', async function () {
    const a = newAccount(sim, 'spot');
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out', { showLastEvent: true }), statusNode('st', ['ou'], 'stOut'), helperNode('out'), helperNode('stOut')],
      credentialsFor(a),
    );
    const st = collect('stOut') as unknown as { msgs: StatusMsg[] };
    await waitConnected();
    sim.deposit(a.accountId, 'spot', 'USDT', '1');
    await waitFor(() => statusTexts(st.msgs, 'ou').some((t) => /^green\/dot\/connected \d\d:\d\d:\d\d$/.test(t)), 5000, 'status with the time');
  });

  it('two consumers on one account share one connection (spot and futures)', async function () {
    for (const market of ['spot', 'usdm-futures'] as const) {
      const a = newAccount(sim, market);
      await helper.load(
        nodeModules(),
        [
          TAB,
          accountNode(sim, a),
          consumer('ou', 'binance-order-update', 'o1'),
          consumer('bu', 'binance-balance-update', 'o2'),
          consumer('ap', 'binance-account-position', 'o3'),
          helperNode('o1'),
          helperNode('o2'),
          helperNode('o3'),
        ],
        credentialsFor(a),
      );
      await waitConnected();
      assert.equal(sim.openConnections({ accountId: a.accountId }), 1, market);
      const o1 = collect('o1');
      const o2 = collect('o2');
      sim.runOrderLifecycle(a.accountId, { market, symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
      sim.deposit(a.accountId, market, 'USDT', '5');
      await waitFor(() => o1.msgs.length >= 2 && o2.msgs.length >= 1, 5000, 'both consumers receive');
      assert.equal(sim.openConnections({ accountId: a.accountId }), 1, market);
      await helper.unload();
    }
  });

  for (const deploy of ['nodes', 'flows'] as const) {
    it(`a partial redeploy (${deploy}) of one consumer leaves the others receiving on the same connection`, async function () {
      const a = newAccount(sim, 'usdm-futures');
      const flow: FlowNode[] = [
        TAB,
        accountNode(sim, a),
        consumer('ou1', 'binance-order-update', 'o1'),
        consumer('ou2', 'binance-order-update', 'o2'),
        helperNode('o1'),
        helperNode('o2'),
      ];
      const creds = credentialsFor(a);
      await helper.load(nodeModules(), flow, creds);
      await waitConnected();
      const o1 = collect('o1');
      const connectsBefore = sim.requests.filter((r) => r.kind === 'ws-connect').length;
      const listenKeyDeletes = (): number => sim.requests.filter((r) => r.method === 'DELETE' && r.path.endsWith('/listenKey')).length;
      const deletesBefore = listenKeyDeletes();

      const changed = flow.map((n) => (n.id === 'ou2' ? { ...n, name: 'renamed', symbols: 'BTC*' } : n));
      await helper.setFlows(changed, deploy, creds);
      const o2 = collect('o2');
      assert.equal((helper.getNode('ou2') as unknown as { name?: string }).name, 'renamed');

      sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
      await waitFor(() => o1.msgs.length >= 2 && o2.msgs.length >= 2, 5000, 'both consumers receive after the redeploy');
      assert.equal(sim.openConnections({ accountId: a.accountId }), 1);
      assert.equal(sim.requests.filter((r) => r.kind === 'ws-connect').length, connectsBefore, 'no reconnect');
      assert.equal(listenKeyDeletes(), deletesBefore, 'the listenKey was kept');
    });
  }

  it('removing one consumer keeps the stream; removing the last closes it and leaves the shared listenKey alone (futures)', async function () {
    const a = newAccount(sim, 'usdm-futures');
    const creds = credentialsFor(a);
    const base: FlowNode[] = [TAB, accountNode(sim, a)];
    const c1 = consumer('ou1', 'binance-order-update', 'o1');
    const c2 = consumer('ss', 'binance-stream-status', 'o2');
    await helper.load(nodeModules(), [...base, c1, c2, helperNode('o1'), helperNode('o2')], creds);
    await waitConnected();
    const deletes = (): number =>
      sim.requests.filter((r) => r.kind === 'rest' && r.method === 'DELETE' && r.path === '/fapi/v1/listenKey' && r.apiKey === a.key.apiKey).length;
    assert.equal(deletes(), 0);

    await helper.setFlows([...base, c1, helperNode('o1')], 'nodes', creds);
    const o1 = collect('o1');
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => o1.msgs.length >= 2, 5000, 'the remaining consumer receives');
    assert.equal(sim.openConnections({ accountId: a.accountId }), 1);
    assert.equal(deletes(), 0);

    await helper.setFlows([...base], 'nodes', creds);
    await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the connection to close');
    // every client of the account shares the key: it is left to expire, never DELETEd
    assert.equal(deletes(), 0);
    assert.equal(sim.listenKeys().filter((k) => k.accountId === a.accountId).length, 1);
  });

  it('a consumer added after the last one was removed starts the stream again', async function () {
    const a = newAccount(sim, 'spot');
    const creds = credentialsFor(a);
    const base: FlowNode[] = [TAB, accountNode(sim, a)];
    await helper.load(nodeModules(), [...base, consumer('ou', 'binance-order-update', 'o'), helperNode('o')], creds);
    await waitConnected();
    await helper.setFlows([...base], 'nodes', creds);
    await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the connection to close');
    await helper.setFlows([...base, consumer('ou3', 'binance-order-update', 'o3'), helperNode('o3')], 'nodes', creds);
    await waitConnected();
    const o3 = collect('o3');
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '1', price: '100' });
    await waitFor(() => o3.msgs.length >= 2, 5000, 'the new consumer receives');
    assert.equal(sim.openConnections({ accountId: a.accountId }), 1);
  });

  it('moving a consumer to another account (partial deploy) releases the first account', async function () {
    const a = newAccount(sim, 'spot');
    const b = newAccount(sim, 'usdm-futures');
    const accountB = { ...accountNode(sim, b), id: 'acctB', name: 'account B' };
    const creds = { ...credentialsFor(a), ...credentialsFor(b, 'acctB') };
    const flow: FlowNode[] = [TAB, accountNode(sim, a), accountB, consumer('ou', 'binance-order-update', 'o'), helperNode('o')];
    await helper.load(nodeModules(), flow, creds);
    await waitConnected();
    assert.equal(sim.openConnections({ accountId: a.accountId }), 1);
    await helper.setFlows(
      flow.map((n) => (n.id === 'ou' ? { ...n, account: 'acctB' } : n)),
      'nodes',
      creds,
    );
    await waitConnected('acctB');
    await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'account A to be released');
    const o = collect('o');
    sim.runOrderLifecycle(b.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => o.msgs.length >= 2, 5000, 'events of account B');
    assert.equal(o.msgs[0].account, 'account B');
  });

  it('a full redeploy restarts everything on one connection', async function () {
    const a = newAccount(sim, 'margin');
    const creds = credentialsFor(a);
    const flow: FlowNode[] = [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'o'), consumer('bu', 'binance-balance-update', 'o'), helperNode('o')];
    await helper.load(nodeModules(), flow, creds);
    await waitConnected();
    await helper.setFlows(flow.map((n) => (n.id === 'acct' ? { ...n, name: 'renamed account' } : n)), 'full', creds);
    await waitConnected();
    const o = collect('o');
    sim.deposit(a.accountId, 'margin', 'USDT', '3');
    await waitFor(() => o.msgs.length >= 1, 5000, 'a balance update after the redeploy');
    assert.equal(o.msgs[0].account, 'renamed account');
    await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 1, 5000, 'one connection');
  });

  for (const market of ['spot', 'margin'] as const) {
    it(`${market}: removing the last consumer unsubscribes and closes the connection`, async function () {
      const a = newAccount(sim, market);
      const creds = credentialsFor(a);
      const base: FlowNode[] = [TAB, accountNode(sim, a)];
      await helper.load(nodeModules(), [...base, consumer('bu', 'binance-balance-update', 'o1'), helperNode('o1')], creds);
      await waitConnected();
      const unsubscribes = (): number => sim.requests.filter((r) => r.kind === 'ws-api' && r.method === 'userDataStream.unsubscribe').length;
      const before = unsubscribes();
      await helper.setFlows([...base], 'nodes', creds);
      await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the connection to close');
      assert.equal(unsubscribes(), before + 1);
    });
  }

  // Found by the packed-tarball check: deleting an account with its consumers closed the connection
  // and at once opened a new one (subscribe, start-up recovery, 10 s) under the deleted account.
  for (const market of ['spot', 'usdm-futures'] as const) {
    for (const how of ['an empty flow (full deploy)', 'the consumers first, then the account', 'the consumers, then a full deploy of the account alone'] as const) {
      it(`${market}: deleting the consumers (${how}) closes the stream once: no new connection, no REST call`, async function () {
        this.timeout(30_000);
        const a = newAccount(sim, market);
        const creds = credentialsFor(a);
        const base: FlowNode[] = [TAB, accountNode(sim, a)];
        await helper.load(nodeModules(), [...base, consumer('ou', 'binance-order-update', 'o'), helperNode('o')], creds);
        await waitConnected();
        await sleep(300);
        const connects = (): number => sim.requests.filter((r) => r.kind === 'ws-connect').length;
        const rest = (): number => sim.requests.filter((r) => r.kind === 'rest' && r.apiKey === a.key.apiKey).length;
        const before = { connects: connects(), rest: rest() };
        if (how === 'an empty flow (full deploy)') {
          await helper.setFlows([TAB], 'full', {});
        } else {
          await helper.setFlows([...base], 'nodes', creds);
          await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the connection to close');
          if (how === 'the consumers first, then the account') await helper.setFlows([TAB], 'full', {});
          else await helper.setFlows([...base], 'full', creds);
        }
        await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the connection to close');
        // long enough for a reconnect (backoff ≤ 1 s) and its start-up recovery to show
        await sleep(2_000);
        assert.deepEqual(
          { connects: connects() - before.connects, rest: rest() - before.rest, open: sim.openConnections({ accountId: a.accountId }) },
          { connects: 0, rest: 0, open: 0 },
        );
      });
    }
  }

  // Found by the package test's doc-written exchanges: an account node redeployed with another key
  // (or URL) kept the old stream for the whole 10 s redeploy grace, although the deploy had ended and
  // nothing could adopt it any more: it reconnected and ran its start-up recovery under the old key.
  for (const market of ['spot', 'usdm-futures'] as const) {
    it(`${market}: an account redeployed with another key closes the old key's stream once the deploy has started: no reconnect under the old key`, async function () {
      this.timeout(30_000);
      const a = newAccount(sim, market);
      const b = newAccount(sim, market);
      const flow = (x: TestAccount): FlowNode[] => [TAB, accountNode(sim, x), consumer('ou', 'binance-order-update', 'o'), helperNode('o')];
      await helper.load(nodeModules(), flow(a), credentialsFor(a));
      await waitConnected();
      await helper.setFlows(flow(b), 'full', credentialsFor(b));
      await waitConnected();
      // every request made with the old key: REST, and WebSocket API requests (subscribe.signature names it)
      const oldKey = (): number => sim.requests.filter((r) => r.apiKey === a.key.apiKey || r.params?.apiKey === a.key.apiKey).length;
      // the old key's connection, if it is still open, drops: a stream still running reconnects
      sim.dropConnections({ accountId: a.accountId });
      const before = oldKey();
      // long enough for a reconnect (backoff ≤ 1 s) and its start-up recovery to show
      await sleep(2_000);
      assert.deepEqual({ requests: oldKey() - before, open: sim.openConnections({ accountId: a.accountId }) }, { requests: 0, open: 0 });
      assert.equal(sim.openConnections({ accountId: b.accountId }), 1, 'the new key streams');
    });
  }

  it('closing completes while the exchange does not answer any more', async function () {
    // spot: the unsubscribe request over the stalled WebSocket API never gets an answer
    const a = newAccount(sim, 'spot');
    await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'o'), helperNode('o')], credentialsFor(a));
    await waitConnected();
    assert.equal(sim.stallConnections({ accountId: a.accountId }), 1);
    await helper.unload(); // bounded by the core's stop grace and the config node's close deadline
    await waitFor(() => sim.openConnections({ accountId: a.accountId }) === 0, 8000, 'the socket to be closed');
  });

  it('a node without an account shows a red ring "no account" and errors once', async function () {
    await helper.load(
      nodeModules(),
      [TAB, { ...consumer('ou', 'binance-order-update', 'o'), account: '' }, { ...consumer('pos', 'binance-account-position', 'o'), account: 'missing' }, helperNode('o')],
      {},
    );
    for (const id of ['ou', 'pos']) {
      const n = helper.getNode(id) as unknown as { status: { getCalls(): Array<{ args: unknown[] }> }; error: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> } };
      const mine = (calls: Array<{ args: unknown[]; thisValue?: unknown }>): Array<{ args: unknown[] }> => calls.filter((c) => (c.thisValue as { id?: string })?.id === id);
      const statuses = mine(n.status.getCalls()).map((c) => c.args[0]);
      assert.deepEqual(statuses, [{ fill: 'red', shape: 'ring', text: 'no account' }]);
      const errors = mine(n.error.getCalls()).map((c) => String(c.args[0]));
      assert.equal(errors.length, 1);
      assert.match(errors[0], /No Binance account/);
    }
  });

  it('an invalid account configuration shows a red ring and errors once; a revoked key shows "invalid API key"', async function () {
    const a = newAccount(sim, 'spot');
    const creds = { acct: { apiKey: a.key.apiKey } }; // HMAC key without its secret
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'o'), consumer('bu', 'binance-balance-update', 'o'), consumer('ss', 'binance-stream-status', 'ssOut'), helperNode('o'), helperNode('ssOut')],
      creds,
    );
    const ss = collect('ssOut') as unknown as { msgs: Msg[] };
    await waitFor(() => ss.msgs.length >= 1, 5000, 'the initial state');
    assert.equal(ss.msgs[0].topic, 'state');
    assert.equal(ss.msgs[0].payload.state, 'error');
    assert.match(String(ss.msgs[0].payload.message), /API secret is missing/);
    const acct = helper.getNode('acct') as unknown as { error: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> } };
    const errs = acct.error.getCalls().filter((c) => (c.thisValue as { id?: string }).id === 'acct');
    assert.equal(errs.length, 1, 'errors once for all its users');
    assert.match(String(errs[0].args[0]), /API secret is missing/);
    const ouStatus = (helper.getNode('ou') as unknown as { status: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> } }).status
      .getCalls()
      .filter((c) => (c.thisValue as { id?: string }).id === 'ou')
      .map((c) => c.args[0]);
    // the status says what is missing (was "invalid config")
    assert.deepEqual(ouStatus[ouStatus.length - 1], { fill: 'red', shape: 'ring', text: 'no API secret' });
    await helper.unload();

    const b: TestAccount = newAccount(sim, 'usdm-futures');
    sim.revokeKey(b.key.apiKey);
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, b), consumer('ou', 'binance-order-update', 'o'), helperNode('o')],
      credentialsFor(b),
    );
    // The auth error is reported once, as soon as the first REST call is refused, and the next
    // attempt is minutes away (authRetryDelayMs). A collector attached after load() resolves can
    // miss that single status for good when load() is slow (a loaded machine): read the node's own
    // status calls instead, which the helper's spy records from the moment the node is built.
    const ouStatuses = (): unknown[] =>
      (helper.getNode('ou') as unknown as { status: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> } }).status
        .getCalls()
        .filter((c) => (c.thisValue as { id?: string }).id === 'ou')
        .map((c) => c.args[0]);
    await waitFor(
      () => ouStatuses().some((x) => JSON.stringify(x) === JSON.stringify({ fill: 'red', shape: 'ring', text: 'invalid API key' })),
      8000,
      'invalid API key status',
    );
  });

  it('the secret scan sees logs, statuses and messages, and would catch a leak', async function () {
    const a = newAccount(sim, 'spot');
    await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'o'), helperNode('o')], credentialsFor(a));
    await waitConnected();
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    const o = collect('o');
    await waitFor(() => o.msgs.length >= 2, 5000, 'messages');
    await waitFor(() => captured.some((t) => t.includes('"executionReport"')), 2000, 'a captured message');
    assert.ok(captured.some((t) => t.includes('connected')), 'statuses are captured');
    assert.ok(capturedLogs.length > 0, 'log lines are captured');
    const planted = `planted-secret-${Date.now()}-abcdefgh`;
    rememberSecret(planted);
    captured.push(`a line with ${planted} inside`);
    assert.equal(findLeaks().length, 1);
    captured.pop();
    assert.equal(findLeaks().length, 0);
  });
});
