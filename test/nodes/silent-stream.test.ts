/**
 * Issue 22, item 2: a futures listenKey stream whose URL form the host accepts and then leaves
 * silent (no event, no listenKeyExpired, not even the server's pings). On a production-like fstream
 * (simulator FSTREAM_PRODUCTION_LIKE: the path form `/private/ws/<listenKey>` is silent, as UBWA
 * 2.14.0 reports for mainnet) our nodes in Node-RED, over loopback, with fake timers for the
 * server's 3-minute ping interval: the silence is logged once per connection with a hint naming the
 * setting and the other forms, the status says "connected (silent: see log)" in yellow until the
 * first frame arrives; the forms that are served are never reported.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, FSTREAM_PRODUCTION_LIKE } from '../../simulator/index';
import { FUTURES_PING_INTERVAL_MS } from '../../nodes/lib/exchange/endpoints';
import { isAccountHandle } from '../../nodes/red/account-contract';
import { capturedLogs, collect, helper, nodeModules, startRed, watchStatus, type FlowNode, type StatusRecord } from '../support/red';
import { advance, installClock, realNow, settle, waitFor, type Clock } from '../support/fake-clock';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, TAB, type TestAccount } from './flows';

/** Node-RED's log level of warnings. */
const WARN = 30;
const SILENT_STATUS = 'connected (silent: see log)';

describe('a futures stream that opens but stays silent (production-like fstream, Node-RED, fake clock)', function () {
  this.timeout(90_000);
  let sim: BinanceSimulator;
  let clock: Clock;

  before(async () => {
    await startRed();
  });
  after(async () => {
    await helper.stopServer();
  });
  beforeEach(async () => {
    clock = installClock();
    sim = await BinanceSimulator.start(FSTREAM_PRODUCTION_LIKE);
  });
  afterEach(async () => {
    try {
      await finish(helper.unload(), 'unload');
      await sim.stop();
    } finally {
      clock.uninstall();
    }
  });

  /** Moves fake time (100 ms a poll) until the predicate holds. */
  async function until(pred: () => boolean, what: string, maxFakeMs = 30_000, stepMs = 100): Promise<void> {
    await waitFor(pred, { clock, stepMs, maxFakeMs, timeoutMs: 60_000, message: what });
  }
  /**
   * Waits for a load / deploy / unload, moving fake time slowly (5 ms a real turn or two): the test
   * helper's deploy waits 300 ms (a timer) for flows:started, which fake time must not outrun.
   */
  async function finish<T>(p: Promise<T>, what: string): Promise<T> {
    let done = false;
    const watched = p.finally(() => {
      done = true;
    });
    const deadline = realNow() + 60_000;
    while (!done) {
      if (realNow() > deadline) throw new Error(`${what}: not done after 60 s`);
      clock.tick(5);
      await settle(5, 2);
    }
    return watched;
  }

  const silentWarnings = (): string[] =>
    capturedLogs.filter((l) => l.level === WARN && /has sent nothing on it since/.test(String(l.msg))).map((l) => String(l.msg));

  type Msgs = { msgs: Array<Record<string, unknown>> };
  async function load(a: TestAccount, futuresPathForm: string): Promise<{ statuses: StatusRecord[]; out: Msgs; states: Msgs }> {
    const flow: FlowNode[] = [
      TAB,
      accountNode(sim, a, { futuresPathForm }),
      consumer('ou', 'binance-order-update', 'out', { executionTypes: 'fills' }),
      helperNode('out'),
      consumer('ss', 'binance-stream-status', 'st'),
      helperNode('st'),
    ];
    await finish(helper.load(nodeModules(), flow, credentialsFor(a)), 'load');
    const statuses = watchStatus('ou');
    const out = collect('out');
    const states = collect('st');
    await until(() => {
      const n: unknown = helper.getNode('acct');
      return isAccountHandle(n) && n.getManager()?.state === 'connected';
    }, 'connected');
    return { statuses, out, states };
  }

  it('the path form on a production-like fstream: logged once with the setting and the other forms, status yellow "connected (silent: see log)" until a frame arrives', async () => {
    const a = newAccount(sim, 'usdm-futures');
    const before = silentWarnings().length;
    const { statuses, out, states } = await load(a, 'ws-path');
    assert.equal(sim.openConnections({ kind: 'legacy', accountId: a.accountId }), 1, 'accepted, and left silent');
    const silentOf = (m: Record<string, unknown>): unknown => (m.payload as { silent?: unknown }).silent;

    // one full server ping interval: nothing came, but that is not yet longer than the interval
    await advance(clock, FUTURES_PING_INTERVAL_MS);
    assert.equal(silentWarnings().length, before, 'not reported within the ping interval');
    assert.notEqual(statuses.at(-1)?.text, SILENT_STATUS);

    await until(() => silentWarnings().length > before, 'the silent stream logged', 60_000, 1_000);
    const line = silentWarnings().at(-1) as string;
    assert.match(line, /Stream URL \(futuresPathForm\)/, 'names the setting');
    assert.match(line, /form ws-path is probably not served/, 'names the form in use');
    assert.match(line, /ws-query \(\/private\/ws\?listenKey=…&events=…\)/, 'offers the query form with events=');
    assert.match(line, /ws-query-no-events \(\/private\/ws\?listenKey=… \(no events=\)\)/, 'offers the query form without events=');
    assert.match(line, /every 3 minutes/);
    await until(() => statuses.at(-1)?.text === SILENT_STATUS, 'the silent status');
    assert.equal(statuses.at(-1)?.fill, 'yellow', 'not the green of a working stream');
    // binance-stream-status says it too, with the value in use and the others
    const said = states.msgs.filter((m) => m.topic === 'state' && silentOf(m) !== undefined);
    assert.equal(said.length, 1);
    assert.equal((said[0].payload as { state?: string }).state, 'connected');
    assert.deepEqual({ ...(silentOf(said[0]) as object), since: 0 }, { since: 0, futuresPathForm: 'ws-path', alternatives: ['ws-query', 'ws-query-no-events'] });

    // still silent much later: still said, and logged once for this connection
    await advance(clock, 2 * FUTURES_PING_INTERVAL_MS, 1_000);
    assert.equal(silentWarnings().length, before + 1, 'once per connection');
    assert.equal(statuses.at(-1)?.text, SILENT_STATUS);
    assert.equal(sim.openConnections({ kind: 'legacy', accountId: a.accountId }), 1, 'the same connection');

    // anything that arrives ends it: here a fill, which is delivered too
    const T = Date.now();
    const fill = { e: 'ORDER_TRADE_UPDATE', E: T, T, o: { s: 'BTCUSDT', c: 'c1', S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '100', ap: '100', x: 'TRADE', X: 'FILLED', i: 7, l: '1', z: '1', L: '100', T, t: 70 } };
    assert.equal(sim.injectRaw({ kind: 'legacy', accountId: a.accountId }, JSON.stringify(fill)), 1);
    await until(() => out.msgs.length >= 1, 'the fill');
    await until(() => statuses.at(-1)?.fill === 'green', 'the status green again');
    assert.notEqual(statuses.at(-1)?.text, SILENT_STATUS);
    const last = states.msgs.filter((m) => m.topic === 'state').at(-1) as Record<string, unknown>;
    assert.equal((last.payload as { state?: string }).state, 'connected');
    assert.equal(silentOf(last), undefined, 'the stream-status node says it is over');
    assert.equal(silentWarnings().length, before + 1);
  });

  it('the hint followed: the account redeployed with another Stream URL opens a new stream on that form (not the silent one kept for the deploy), and fills arrive', async () => {
    const a = newAccount(sim, 'usdm-futures');
    const before = silentWarnings().length;
    await load(a, 'ws-path');
    await until(() => silentWarnings().length > before, 'the silent stream logged', 300_000, 1_000);
    sim.clearRequests();
    const flow = (form: string): FlowNode[] => [
      TAB,
      accountNode(sim, a, { futuresPathForm: form }),
      consumer('ou', 'binance-order-update', 'out', { executionTypes: 'fills' }),
      helperNode('out'),
    ];
    // a "modified nodes" deploy of the account node alone, as a user changing the setting does
    await finish(helper.setFlows(flow('ws-query-no-events'), 'nodes', credentialsFor(a)), 'deploy');
    await until(() => sim.openConnections({ kind: 'futures', accountId: a.accountId }) === 1, 'a stream on the new form');
    const connects = sim.requests.filter((r) => r.kind === 'ws-connect');
    assert.deepEqual(connects.map((r) => [r.path, r.params.events]), [['/private/ws', undefined]]);
    await until(() => sim.openConnections({ kind: 'legacy', accountId: a.accountId }) === 0, 'the silent stream closed');
    const statuses = watchStatus('ou');
    const out = collect('out');
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
    await until(() => out.msgs.length >= 1, 'a fill');
    await until(() => statuses.at(-1)?.fill === 'green', 'green').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(statuses)}`);
    });
  });

  for (const form of ['', 'ws-query', 'ws-query-no-events'] as const) {
    it(`a served form (${form || 'default'}) on the same fstream: its pings count, never reported silent, and a fill arrives`, async () => {
      const a = newAccount(sim, 'usdm-futures');
      const before = silentWarnings().length;
      const { statuses, out } = await load(a, form);
      assert.equal(sim.openConnections({ kind: 'futures', accountId: a.accountId }), 1);
      // two server ping intervals and more without a single event: only the server's pings come
      await advance(clock, 2 * FUTURES_PING_INTERVAL_MS + 30_000, 1_000);
      assert.equal(silentWarnings().length, before, 'not reported');
      assert.ok(!statuses.some((s) => s.text === SILENT_STATUS), 'never shown silent');
      sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100' });
      await until(() => out.msgs.length >= 1, 'a fill');
      assert.equal((out.msgs[0].payload as { executionType?: string }).executionType, 'TRADE');
    });
  }
});
