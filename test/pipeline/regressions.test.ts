/**
 * Issue 11, "Every fill once, promptly, with a status that tells the truth": each of the
 * seven cases of the issue as a named regression test through the Node-RED nodes
 * (node-red-node-test-helper, real timers) against the simulator over loopback, reproduced as
 * the issue describes it. Written from the issue and the exchange's documented behaviour; what
 * is checked is only what a flow or the exchange sees: messages, node statuses, the stream
 * status node's messages and the simulator's request log.
 *
 * Each failed on the pipeline before the rebuild, for the reason the issue names.
 *
 * Contract of the implementation used here (issue 11): the account node property
 * `liveHoldLimit` (seconds, default 5) bounds how long a live event may be held for a
 * recovery (I2); a full deploy of an unchanged account keeps its stream (release grace,
 * default 10 s); the catching-up state is `recovering`, the node status "catching up …".
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { collect, helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, TAB, waitConnected, type TestAccount } from '../nodes/flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
interface StatusMsg {
  status: { fill?: string; shape?: string; text?: string; source?: { id?: string } };
}

/** The I2 bound of the account node (contract: default 5 s); set explicitly so the tests say it. */
const HOLD_LIMIT_S = 5;

const tradeIds = (msgs: Msg[]): number[] => msgs.filter((m) => m.payload.executionType === 'TRADE').map((m) => Number(m.payload.tradeId));
const sorted = (ids: number[]): number[] => [...ids].sort((a, b) => a - b);
const statusText = (m: StatusMsg): string => `${m.status.fill}/${m.status.shape}/${m.status.text}`;
const isConnectedStatus = (m: StatusMsg): boolean => m.status.fill === 'green' && m.status.text === 'connected';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for `predicate`; on time-out, nothing is thrown (the assertion after it says what is wrong). */
async function waitQuietly(predicate: () => boolean, ms: number): Promise<void> {
  try {
    await waitFor(predicate, ms);
  } catch {
    // the caller's assertion reports the failure
  }
}

describe('issue 11 regressions: every fill once, promptly, with a status that tells the truth (Node-RED nodes, simulator)', function () {
  this.timeout(90_000);
  let sim: BinanceSimulator;
  const store = new PersistentStore();
  let undoStore: (() => void) | undefined;

  before(async function () {
    await startRed();
    sim = await Simulator.start();
    undoStore = usePersistentStore(store);
  });
  after(async function () {
    undoStore?.();
    await sim.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    sim.clearFaults();
    await helper.unload();
  });

  /** Account node + order update + stream status + a status node watching the order update node. */
  function flow(a: TestAccount, extra: Record<string, unknown> = {}): FlowNode[] {
    return [
      TAB,
      accountNode(sim, a, { liveHoldLimit: String(HOLD_LIMIT_S), ...extra }),
      consumer('ou', 'binance-order-update', 'out'),
      consumer('ss', 'binance-stream-status', 'ssOut'),
      { id: 'st', type: 'status', z: TAB.id, scope: ['ou'], wires: [['stOut']] },
      helperNode('out'),
      helperNode('ssOut'),
      helperNode('stOut'),
    ];
  }

  interface Taps {
    out: { msgs: Msg[] };
    ss: { msgs: Msg[] };
    st: { msgs: StatusMsg[] };
  }
  function tap(): Taps {
    return {
      out: collect('out') as unknown as { msgs: Msg[] },
      ss: collect('ssOut') as unknown as { msgs: Msg[] },
      st: collect('stOut') as unknown as { msgs: StatusMsg[] },
    };
  }
  const recoveries = (t: Taps): Msg[] => t.ss.msgs.filter((m) => m.topic === 'recovery');
  const restOf = (a: TestAccount): number => sim.requests.filter((r) => r.kind === 'rest' && r.apiKey === a.key.apiKey).length;
  const wsConnects = (): number => sim.requests.filter((r) => r.kind === 'ws-connect').length;

  async function started(a: TestAccount, extra: Record<string, unknown> = {}): Promise<Taps> {
    await helper.load(nodeModules(), flow(a, extra), credentialsFor(a));
    const t = tap();
    await waitConnected();
    await waitFor(() => t.st.msgs.some(isConnectedStatus), 10_000, 'a green connected status');
    return t;
  }

  // -------------------------------------------------------------------------------- case 1

  it(`case-1: held while green: after a failed first subscribe, a live fill is delivered, or the status does not say connected`, async function () {
    const a = newAccount(sim, 'spot');
    // the very first userDataStream.subscribe.signature fails (network not up at boot: one 503)
    sim.failNext({ wsMethod: 'userDataStream.subscribe.signature', httpStatus: 503 });
    const t = await started(a);
    const statusesBefore = t.st.msgs.length;
    const { trades } = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002', price: '100', fills: ['0.002'] });
    // I3: while the stream holds it, the status must not say connected; I2: held at most the bound.
    await waitQuietly(() => tradeIds(t.out.msgs).length > 0 || t.st.msgs.slice(statusesBefore).some((m) => !isConnectedStatus(m)), 8_000);
    if (tradeIds(t.out.msgs).length === 0) {
      const shown = t.st.msgs.slice(statusesBefore).map(statusText);
      assert.ok(
        shown.length > 0,
        `case 1: the live fill is held while the status says connected (0 messages after 8 s, status ${statusText(t.st.msgs[t.st.msgs.length - 1])})`,
      );
      assert.match(shown[0], /^yellow\/.*catching up/, `case 1: status while the fill is held: ${shown.join(' → ')}`);
      await waitQuietly(() => tradeIds(t.out.msgs).length > 0, (HOLD_LIMIT_S + 3) * 1000);
    }
    assert.deepEqual(tradeIds(t.out.msgs), trades.map((x) => x.tradeId), 'case 1: the live fill, once');
  });

  // -------------------------------------------------------------------------------- case 2

  /**
   * Trades of a listed (never seen) symbol made during a gap whose myTrades query answers
   * 502 once (the retry is kept as a time cursor), then one live fill of that symbol.
   */
  async function lostFillSetup(a: TestAccount, t: Taps): Promise<number[]> {
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 502 });
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    const missed = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.3', price: '20', fills: ['0.1', '0.1'] }).trades;
    await waitFor(() => recoveries(t).length >= 1, 15_000, 'the first recovery');
    const first = recoveries(t)[0].payload as { errors: string[] };
    assert.ok(first.errors.some((e) => /ETHUSDT/.test(e)), `the myTrades 502 was met: ${JSON.stringify(first.errors)}`);
    const live = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.1', price: '20', fills: ['0.1'] }).trades;
    // the live fill reaches the stream (held or delivered): give it a moment to arrive
    await sleep(300);
    return [...missed, ...live].map((x) => x.tradeId);
  }

  it(`case-2: lost fills: a listed symbol, myTrades 502 once during a gap, one live fill, another gap → every trade id exactly once`, async function () {
    const a = newAccount(sim, 'spot');
    const t = await started(a, { recoverySymbols: 'ETHUSDT' });
    const expected = await lostFillSetup(a, t);
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await waitFor(() => recoveries(t).length >= 2, 15_000, 'the second recovery');
    await waitQuietly(() => tradeIds(t.out.msgs).length >= expected.length, (HOLD_LIMIT_S + 3) * 1000);
    await sleep(300);
    assert.deepEqual(sorted(tradeIds(t.out.msgs)), expected, `case 2: every trade id exactly once (exchange ${expected.join(', ')}; delivered ${tradeIds(t.out.msgs).join(', ')})`);
  });

  it(`case-2-restart: lost fills across a restart: the persisted cursor does not skip the fills of the failed query`, async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoverySymbols: 'ETHUSDT', recoveryStore: 'persist' };
    let t = await started(a, props);
    const expected = await lostFillSetup(a, t);
    const before = tradeIds(t.out.msgs);
    // Node-RED stops (the cursors are written when the flow stops) and starts again
    await helper.unload();
    await helper.load(nodeModules(), flow(a, props), credentialsFor(a));
    t = tap();
    await waitConnected();
    await waitQuietly(() => before.length + tradeIds(t.out.msgs).length >= expected.length, 15_000);
    await sleep(500);
    const all = [...before, ...tradeIds(t.out.msgs)];
    assert.deepEqual(sorted(all), expected, `case 2 (restart): every trade id exactly once (exchange ${expected.join(', ')}; delivered ${all.join(', ')})`);
  });

  // -------------------------------------------------------------------------------- case 3

  it(`case-3: one frame stops the pipeline: a poison frame (valid JSON thousands of levels deep) among live events held for a recovery`, async function () {
    const a = newAccount(sim, 'spot');
    const t = await started(a);
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] });
    await waitFor(() => tradeIds(t.out.msgs).length === 1, 5000, 'the first live fill');
    // a slow recovery: its myTrades query is answered 2 s late (processed on arrival, so the
    // fills made after it arrived are not in its answer), and live events are held meanwhile
    sim.delayNext({ path: '/api/v3/myTrades', ms: 2000 });
    const requestsBefore = sim.requests.length;
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await waitFor(() => sim.requests.slice(requestsBefore).some((r) => r.path === '/api/v3/myTrades'), 10_000, 'the recovery to query myTrades');
    const around: number[] = [];
    around.push(...sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades.map((x) => x.tradeId));
    assert.equal(sim.injectPoison(a.accountId, 'spot', { depth: 5000 }), 1);
    around.push(...sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.001', price: '100', fills: ['0.001'] }).trades.map((x) => x.tradeId));
    await waitFor(() => recoveries(t).length >= 1, 15_000, 'the recovery to finish');
    await waitQuietly(() => tradeIds(t.out.msgs).length >= 1 + around.length, (HOLD_LIMIT_S + 3) * 1000);
    await sleep(300);
    const got = tradeIds(t.out.msgs).slice(1);
    assert.deepEqual(got, around, `case 3: the events around the poison frame are delivered (expected ${around.join(', ')}; got ${got.join(', ')})`);
    // and the pipeline keeps going afterwards
    const later = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades;
    await waitQuietly(() => tradeIds(t.out.msgs).includes(later[0].tradeId), 5000);
    assert.ok(tradeIds(t.out.msgs).includes(later[0].tradeId), 'case 3: the events around the poison frame are delivered: a later fill too');
  });

  // -------------------------------------------------------------------------------- case 4

  it(`case-4: doubles after a long REST outage: the trade-id retry does not deliver again the fills delivered live meanwhile`, async function () {
    this.timeout(120_000);
    const a = newAccount(sim, 'spot');
    const t = await started(a);
    const all: number[] = [];
    all.push(...sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades.map((x) => x.tradeId));
    await waitFor(() => tradeIds(t.out.msgs).length === 1, 5000, 'the first live fill (BTCUSDT has a trade cursor)');
    // a long REST outage: every myTrades query fails
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1_000_000 });
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    all.push(...sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.002', price: '100', fills: ['0.001', '0.001'] }).trades.map((x) => x.tradeId));
    await waitFor(() => recoveries(t).length >= 1, 15_000, 'the first (failing) recovery');
    // a live fill during the outage, then another gap (still failing): the live fill is delivered
    const live = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades.map((x) => x.tradeId);
    all.push(...live);
    await sleep(300);
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await waitFor(() => recoveries(t).length >= 2, 15_000, 'the second (failing) recovery');
    await waitFor(() => tradeIds(t.out.msgs).includes(live[0]), (HOLD_LIMIT_S + 3) * 1000, 'the live fill made during the outage');
    // A busy account: more than the de-duplication window (100 000 keys) of other events.
    const sub = sim.subscriptions({ accountId: a.accountId })[0];
    assert.ok(sub, 'subscribed');
    const base = sim.serverTime();
    const frames: string[] = [];
    for (let i = 0; i < 100_500; i++) {
      frames.push(`{"subscriptionId":${sub.subscriptionId},"event":{"e":"balanceUpdate","E":${base + i},"a":"USDT","d":"0.00000001","T":${base + i}}}`);
    }
    assert.ok(sim.injectRawBatch({ accountId: a.accountId }, frames) >= frames.length);
    // a last live fill marks the end of the burst; it reaches the connection (held or not)
    const seen = new Set<number>();
    const acct = helper.getNode('acct') as unknown as { getManager(): { on(ev: 'event', fn: (e: { raw: Record<string, unknown> }) => void): void } };
    acct.getManager().on('event', (e) => {
      if (typeof e.raw.t === 'number') seen.add(e.raw.t);
    });
    const marker = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades.map((x) => x.tradeId);
    all.push(...marker);
    await waitFor(() => seen.has(marker[0]), 60_000, 'the burst to be through');
    await sleep(HOLD_LIMIT_S * 1000 + 500);
    // REST is back; the next gap's recovery catches up from the trade-id cursor of the outage
    sim.clearFaults();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await waitFor(() => recoveries(t).some((r) => (r.payload as { errors: string[] }).errors.length === 0), 30_000, 'a recovery without errors');
    await waitQuietly(() => tradeIds(t.out.msgs).length >= all.length, (HOLD_LIMIT_S + 3) * 1000);
    await sleep(500);
    assert.deepEqual(sorted(tradeIds(t.out.msgs)), sorted(all), `case 4: every trade id exactly once (exchange ${all.join(', ')}; delivered ${tradeIds(t.out.msgs).join(', ')})`);
  });

  // -------------------------------------------------------------------------------- case 5

  for (const [status, retryAfterSec] of [
    [429, 20],
    [418, 15],
  ] as const) {
    it(`case-5-${status}: a REST ${status} with Retry-After ${retryAfterSec} s during a recovery does not hold live fills beyond liveHoldLimit (${HOLD_LIMIT_S} s)`, async function () {
      const a = newAccount(sim, 'spot');
      const t = await started(a, { recoverySymbols: 'ETHUSDT' });
      sim.failNext({ path: '/api/v3/myTrades', httpStatus: status, retryAfterSec });
      const statesBefore = t.ss.msgs.length;
      const statusBefore = t.st.msgs.length;
      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
      await waitFor(
        () => t.ss.msgs.slice(statesBefore).some((m) => m.topic === 'state' && m.payload.state === 'recovering'),
        10_000,
        'the recovery to start',
      );
      // the WebSocket is healthy: a live fill arrives while the recovery waits out the ban
      const live = sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.001', price: '100', fills: ['0.001'] }).trades;
      const sentAt = Date.now();
      await waitQuietly(() => tradeIds(t.out.msgs).length > 0 || recoveries(t).length > 0, (retryAfterSec + 10) * 1000);
      const deliveredAfter = (Date.now() - sentAt) / 1000;
      assert.ok(
        tradeIds(t.out.msgs).length > 0 && recoveries(t).length === 0,
        `case 5: live fill held for the whole Retry-After wait (${retryAfterSec} s): ${tradeIds(t.out.msgs).length ? `delivered after ${deliveredAfter.toFixed(1)} s, with the recovery` : 'not delivered'}` +
          ` (stream status: ${t.ss.msgs.slice(statesBefore).map((m) => `${String(m.topic)}:${String(m.payload.state ?? m.payload.reason ?? '')}`).join(' → ')})`,
      );
      assert.deepEqual(tradeIds(t.out.msgs), live.map((x) => x.tradeId));
      // I3: the status said catching up (not connected) while the recovery waited
      const shown = t.st.msgs.slice(statusBefore).map(statusText);
      assert.ok(shown.some((s) => /catching up/.test(s)), `status while the recovery waits: ${shown.join(' → ')}`);
    });
  }

  // -------------------------------------------------------------------------------- cases 6 and 7

  /** Full deploys of the unchanged flow; collects every message and status of every deploy's nodes. */
  async function fullDeploys(a: TestAccount, n: number): Promise<{ out: Msg[]; st: StatusMsg[] }> {
    const out: Msg[] = [];
    const st: StatusMsg[] = [];
    const f = flow(a);
    for (let i = 0; i < n; i++) {
      await helper.setFlows(f, 'full', credentialsFor(a));
      helper.getNode('out')!.on('input', (m: Msg) => out.push(m));
      helper.getNode('stOut')!.on('input', (m: StatusMsg) => st.push(m));
      await sleep(50);
    }
    return { out, st };
  }

  it(`case-6: twenty full deploys of an unchanged USDⓈ-M flow: zero reconnects, zero REST calls, live order events not held`, async function () {
    this.timeout(120_000);
    const a = newAccount(sim, 'usdm-futures');
    const t = await started(a);
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100', fills: ['1'] });
    await waitFor(() => tradeIds(t.out.msgs).length === 1, 5000, 'a live fill (the account has cursors)');
    await sleep(200);
    const connects = wsConnects();
    const rest = restOf(a);
    const { out, st } = await fullDeploys(a, 20);
    await waitConnected();
    const { trades } = sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '1', price: '101', fills: ['1'] });
    await waitQuietly(() => tradeIds(out).includes(trades[0].tradeId), (HOLD_LIMIT_S + 3) * 1000);
    await sleep(300);
    const problems: string[] = [];
    if (wsConnects() !== connects) problems.push(`${wsConnects() - connects} reconnect(s)`);
    if (restOf(a) !== rest) {
      const paths = sim.requests.filter((r) => r.kind === 'rest' && r.apiKey === a.key.apiKey).slice(rest).map((r) => `${r.method} ${r.path}`);
      problems.push(`${paths.length} REST call(s) (${[...new Set(paths)].join(', ')})`);
    }
    if (!tradeIds(out).includes(trades[0].tradeId)) problems.push('the live fill after the deploys was not delivered within the hold bound');
    const catchingUp = st.filter((m) => /catching up/.test(m.status.text ?? '')).length;
    if (catchingUp > 0) problems.push(`${catchingUp} "catching up" status(es)`);
    const extraMsgs = out.filter((m) => m.recovered === true).length;
    if (extraMsgs > 0) problems.push(`${extraMsgs} recovered message(s)`);
    assert.deepEqual(problems, [], `case 6: ${problems.join('; ')}`);
  });

  it(`case-7: ten full deploys with three open orders: zero order-update messages that no exchange event caused`, async function () {
    this.timeout(120_000);
    const a = newAccount(sim, 'usdm-futures');
    const t = await started(a);
    // an account with history (a fill) and three open orders
    sim.runOrderLifecycle(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '100', fills: ['1'] });
    await waitFor(() => tradeIds(t.out.msgs).length === 1, 5000, 'a live fill');
    t.out.msgs.length = 0;
    for (const price of ['90', '91', '92']) sim.placeOrder(a.accountId, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '1', price });
    await waitFor(() => t.out.msgs.length === 3, 5000, 'three NEW order events');
    await sleep(200);
    const connects = wsConnects();
    const rest = restOf(a);
    const { out } = await fullDeploys(a, 10);
    await waitConnected();
    await sleep(1500);
    const problems: string[] = [];
    if (out.length > 0) problems.push(`${out.length} order-update message(s) without an exchange event (${out.filter((m) => m.recovered === true).length} recovered)`);
    if (wsConnects() !== connects) problems.push(`${wsConnects() - connects} reconnect(s)`);
    if (restOf(a) !== rest) problems.push(`${restOf(a) - rest} REST call(s)`);
    assert.deepEqual(problems, [], `case 7: ${problems.join('; ')}`);
  });
});
