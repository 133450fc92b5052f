/**
 * Fifth round of attacks on issue 21 (attack helper H-A5, base main dc71cc8), through the Node-RED
 * runtime (node-red-node-test-helper, our nodes from dist/) against the simulator over loopback.
 * It attacks the last two changes:
 *   L*  2ff0a47 gap-recovery.ts `listedLate` / `relist`: a symbol listed while a recovery is planned
 *       or running is queried by a follow-up recovery from where the covered time stood;
 *   F*  969e3e3 in-flight.ts: the onReceive hook goes when the oldest pending hand-over is 60 s old.
 * Expected deliveries come from the simulator's trade ledger (`sim.trades`) and the flow's wiring,
 * never from the implementation. Named *.repro.ts so `npm test` does not run it.
 *
 *   npm run build
 *   npx mocha --no-config --timeout 0 --exit --enable-source-maps dist/test/attack/runtime5.repro.js
 *   (one attack: add  --grep L2 )
 *
 * Results on attack5 (base dc71cc8, Node-RED 5.0.7; figures are exchange trade ids; ETH = ETHUSDT):
 *  L1  PASS spot and usdm-futures: ETHUSDT listed by a full deploy while the reconnect's recovery
 *      waits 6 s for open orders: the gap fill 5002 comes once, 36 s later (the 30 s retry),
 *      status "catching up: fetching the fills of symbols listed during a recovery" meanwhile,
 *      then connected.
 *  L2  FAIL listed after the running recovery FINISHED but before its batch was delivered (the
 *      deploy's stop phase: a node closing slowly; the batch waits for the redeployed consumers),
 *      link down 12 s (handshakes refused) with ETH fill 5002 at its start; then a clean restart
 *      (persistent store) before the 30 s retry: 5002 never delivered, status connected. The saved
 *      lastEventTime is the gap's END (coveredSince was advanced by doRecover before the listing);
 *      the start-up recovery asks ETH by time from there minus 5 s.
 *  L3  FAIL same, then a short reconnect instead of the restart: its recovery asks ETH from
 *      min(gap2.from, coveredSince = gap1.to) - 5 s, finds nothing, clears `listedLate`: 5002 lost,
 *      status connected (the follow-up retry was cancelled by the reconnect).
 *  L4  PASS typo ADAUSTD (-1121) listed late: queried once by the follow-up, status connected.
 *  L5  PASS two account nodes on one stream, a modified-flows deploy of tab 2 adds ETHUSDT.
 *  L6  FAIL ETH never seen, fill 5002 in the gap; during the recovery a live ETH fill 5003 (held);
 *      then the deploy lists ETH: `relist` counts ETH as known (seen live), not listed late; the
 *      running recovery had chosen BTCUSDT only: 5002 never delivered, status connected.
 *  L6b FAIL the same without any deploy: a symbol first seen live while a recovery runs is never
 *      asked for the gap (pre-existing, not from 2ff0a47; L6 is its listing form).
 *  L7  PASS listed DURING the recovery (the path 2ff0a47 handles), restart before the retry.
 *  F1  FAIL fork/join ou → s1 and ou → delay(4 s) → s1, async onSend plugin (50 ms), modified-nodes
 *      deploy editing s1 with a 3 s close, begun in the send turn of 5 fills: s1 gets each fill
 *      ONCE (handed at the stop, ~30 ms); the delayed copies (same _msgid, to s1) are cancelled by
 *      the in-flight onReceive hook, which takes them for Node-RED's dropped hand-over.
 *  F2  PASS three deploys back to back during a burst of 100 (async onSend, 1 s close): once each.
 *  F3  PASS (mechanism unverified) a fill held 65 s in an onSend hook: delivered once.
 *  F4  PASS 10 deploys each dropping a hand-over: every fill once; hook on after them, gone after
 *      61 s and a message (pending table empty).
 */
import assert from 'node:assert/strict';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { clearSinks, closeHeld, fastCloses, holdCloses, letClose, runtimeNodesControl, sunk, testNodes } from '../support/runtime-nodes';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { accountNode, credentialsFor, newAccount, waitConnected, type TestAccount } from '../nodes/flows';
import { isAccountHandle } from '../../nodes/red/account-contract';
import type { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import type { RecoveryReport } from '../../nodes/lib/stream/reliable-types';
import type { UserDataEvent } from '../../nodes/lib/types';
import { forgetStoreOrder } from '../../nodes/red/context-store';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
const TAB1: FlowNode = { id: 'tab1', type: 'tab', label: 'trading' };
const TAB2: FlowNode = { id: 'tab2', type: 'tab', label: 'journal' };
const IN_FLIGHT_HOOK = 'onReceive.binance-user-stream-in-flight';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const trades = (id: string, symbol?: string): Msg[] =>
  (sunk(id) as Msg[]).filter((m) => m.payload && m.payload.executionType === 'TRADE' && (symbol === undefined || m.payload.symbol === symbol));
const fillIds = (id: string, symbol?: string): number[] => trades(id, symbol).map((m) => Number(m.payload.tradeId));
const sorted = (xs: number[]): number[] => [...xs].sort((x, y) => x - y);
const tag = (ms: Msg[]): string => ms.map((m) => `${String(m.payload.symbol).slice(0, 3)}${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}`).join(' ');

function ranges(xs: number[]): string {
  const ys = [...new Set(xs)].sort((x, y) => x - y);
  const out: string[] = [];
  for (let i = 0; i < ys.length; i++) {
    let j = i;
    while (j + 1 < ys.length && ys[j + 1] === ys[j] + 1) j++;
    out.push(i === j ? `${ys[i]}` : `${ys[i]}-${ys[j]}`);
    i = j;
  }
  return out.join(',');
}
function report(expected: number[], got: number[]): string {
  const n = new Map<number, number>();
  for (const id of got) n.set(id, (n.get(id) ?? 0) + 1);
  const dup = [...n].filter(([, c]) => c > 1).map(([id, c]) => `${id}x${c}`);
  const miss = expected.filter((id) => !n.has(id));
  return `expected ${expected.length} [${ranges(expected)}], got ${got.length} [${ranges(got)}]; missing ${miss.length} [${ranges(miss)}]; twice ${dup.length} [${dup.join(',')}]`;
}
async function quietly(p: () => boolean, ms: number): Promise<void> {
  try {
    await waitFor(p, ms);
  } catch {
    /* the assertion after it reports */
  }
}
function fills(sim: BinanceSimulator, a: TestAccount, n: number, symbol = 'BTCUSDT', market: SimMarket = 'spot'): number[] {
  const { trades: t } = sim.runOrderLifecycle(a.accountId, {
    market,
    symbol,
    side: 'BUY',
    quantity: (n / 1000).toFixed(3),
    price: symbol === 'ETHUSDT' ? '50' : '100',
    fills: Array.from({ length: n }, () => '0.001'),
  });
  return t.map((x) => x.tradeId);
}
const ledger = (sim: BinanceSimulator, a: TestAccount, symbol = 'BTCUSDT', market: SimMarket = 'spot'): number[] =>
  sim
    .trades(a.accountId, market, symbol)
    .map((t) => t.tradeId)
    .sort((x, y) => x - y);

const sink = (id: string, z = TAB1.id, name = ''): FlowNode => ({ id, type: 'test-sink', z, name, x: 300, y: 100, wires: [] });
const slow = (z = TAB1.id, name = 'mqtt'): FlowNode => ({ id: 'slow', type: 'test-slow-close', z, name, closeMs: 0, x: 300, y: 200, wires: [] });
const ou = (id: string, wires: string[], z = TAB1.id, name = '', account = 'acct'): FlowNode => ({ id, type: 'binance-order-update', z, name, account, x: 100, y: 100, wires: [wires] });

function streamOf(id = 'acct'): ReliableStream {
  const n: unknown = helper.getNode(id);
  assert.ok(isAccountHandle(n), `account node ${id}`);
  const s = n.getStream();
  assert.ok(s, 'stream');
  return s as ReliableStream;
}
/** The shown state of the account's stream, e.g. "connected" or "recovering: why". */
function shown(id = 'acct'): string {
  const c = streamOf(id).currentState;
  return `${c.state}${c.message ? `: ${c.message}` : ''}`;
}

/**
 * Extra node types: `attack-delay` passes every message on `ms` later (a core delay node, a
 * function node awaiting an HTTP call); unchanged by the deploys here.
 */
function attackNodes(RED: NodeAPI): void {
  function Delay(this: Node, def: NodeDef & { ms?: number }): void {
    RED.nodes.createNode(this, def);
    const timers = new Set<ReturnType<typeof setTimeout>>();
    (this as unknown as NodeJS.EventEmitter).on('input', (msg: unknown, send: (m: unknown) => void, done: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        send(msg);
        done();
      }, Number(def.ms ?? 1000));
      timers.add(t);
    });
    this.on('close', () => {
      for (const t of timers) clearTimeout(t);
    });
  }
  RED.nodes.registerType('attack-delay', Delay as never);
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const redHooks = (): { add(id: string, fn: unknown): void; remove(id: string): void; has(id: string): boolean } => require('@node-red/util').hooks;

describe('attacks on issue 21, round 5 (H-A5: symbols listed during a recovery; in-flight hook lifetime)', function () {
  this.timeout(600_000);
  let sim: BinanceSimulator;
  const store = new PersistentStore();
  let undo: (() => void) | undefined;
  before(async function () {
    await startRed();
    sim = await Simulator.start();
    undo = usePersistentStore(store);
  });
  after(async function () {
    undo?.();
    await sim.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    sim.clearFaults();
    store.clear();
    holdCloses(false);
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    clearSinks();
    store.processEnded();
    forgetStoreOrder();
  });

  const load = (a: TestAccount, flow: FlowNode[], creds = credentialsFor(a)): Promise<void> => helper.load([...nodeModules(), testNodes, attackNodes], flow, creds);

  /** Records the stream's recovery reports (gap, symbols) from now on (the stream of the moment). */
  function watchRecoveries(id = 'acct'): string[] {
    const out: string[] = [];
    streamOf(id).on('recovery', (r: RecoveryReport) => {
      if (r.phase !== 'finished') return;
      const s = r.stats;
      out.push(`${r.gap.reason} [${new Date(r.gap.from).toISOString().slice(14, 23)}..${new Date(r.gap.to).toISOString().slice(14, 23)}] sym=${s?.symbols.join('+') ?? '?'} fills=${s?.fills ?? '?'}`);
    });
    return out;
  }

  /** Drops the account's connections and keeps the link down for several seconds (handshakes refused). */
  function longDrop(a: TestAccount, refused = 3): void {
    sim.failNext({ path: '/ws-api/v3', httpStatus: 503, count: refused });
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
  }

  const requestsSince = (t: number, path: string, symbol?: string): number =>
    sim.requests.filter((r) => r.kind === 'rest' && r.at >= t && r.path === path && (symbol === undefined || (r as { params?: Record<string, string> }).params?.symbol === symbol)).length;

  // ================================================================================== L: listing
  for (const market of ['spot', 'usdm-futures'] as const) {
    it(`L1 (${market}): a deploy lists ETHUSDT while the reconnect's recovery runs (open orders answered in 6 s); ETHUSDT's fill made in the gap reaches the flow once; status truthful`, async function () {
      const a = newAccount(sim, market);
      const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms }), ou('ou', ['s1']), sink('s1')];
      const openPath = market === 'spot' ? '/api/v3/openOrders' : '/fapi/v1/openOrders';
      await load(a, flow('BTCUSDT'));
      await waitConnected();
      const b0 = fills(sim, a, 1, 'BTCUSDT', market);
      await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
      sim.delayNext({ path: openPath, ms: 6000 });
      const tDrop = Date.now();
      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
      const e1 = fills(sim, a, 1, 'ETHUSDT', market);
      const b1 = fills(sim, a, 1, 'BTCUSDT', market);
      await waitFor(() => requestsSince(tDrop, openPath) > 0, 15_000, 'the recovery to ask for open orders');
      await helper.setFlows(flow('BTCUSDT ETHUSDT'), 'full', credentialsFor(a));
      await waitConnected();
      const rec = watchRecoveries();
      const states: string[] = [];
      const st = streamOf();
      st.on('state', () => states.push(shown()));
      await quietly(() => fillIds('s1').includes(e1[0]), 75_000);
      await sleep(2000);
      const b2 = fills(sim, a, 1, 'BTCUSDT', market);
      await quietly(() => fillIds('s1').includes(b2[0]), 8000);
      await sleep(1500);
      const last = shown();
      console.log(`      L1 ${market}: s1 ${tag(trades('s1'))}; recoveries ${rec.join(' | ')}; states ${[...new Set(states)].join(' / ')}; last ${last}`);
      assert.deepEqual(ledger(sim, a, 'ETHUSDT', market), e1, 'setup: ETH ledger');
      assert.deepEqual(ledger(sim, a, 'BTCUSDT', market), [...b0, ...b1, ...b2], 'setup: BTC ledger');
      assert.deepEqual(sorted(fillIds('s1', 'ETHUSDT')), e1, `L1 ${market} ETHUSDT: ${report(e1, fillIds('s1', 'ETHUSDT'))}`);
      assert.deepEqual(sorted(fillIds('s1', 'BTCUSDT')), [...b0, ...b1, ...b2], `L1 ${market} BTCUSDT: ${report([...b0, ...b1, ...b2], fillIds('s1', 'BTCUSDT'))}`);
      assert.equal(streamOf().currentState.state, 'connected', `L1: status at the end: ${last}`);
    });
  }

  /**
   * The deploy that lists ETHUSDT closes a node slowly: the reconnect's recovery FINISHES during the
   * stop phase (its batch waits for the redeployed consumers, uncommitted), before the new account
   * node lists the symbol. Then something happens before the follow-up's 30 s retry.
   */
  let ranBeforeListing = false;
  async function listedAfterRecoveryRan(a: TestAccount, flow: (syms: string) => FlowNode[]): Promise<{ e1: number[]; b: number[]; rec: string[] }> {
    await load(a, flow('BTCUSDT'));
    await waitConnected();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    await sleep(1500);
    sim.delayNext({ path: '/api/v3/account', ms: 2500 });
    const tDrop = Date.now();
    longDrop(a);
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    const b1 = fills(sim, a, 1);
    const rec = watchRecoveries();
    await waitFor(() => requestsSince(tDrop, '/api/v3/account') > 0, 30_000, 'the recovery to ask for the balances (its last step)');
    holdCloses(true);
    try {
      const deploying = helper.setFlows(flow('BTCUSDT ETHUSDT'), 'full', credentialsFor(a));
      await waitFor(() => closeHeld('slow'), 5000, 'the slow node to be closing');
      // the recovery's last request answered: it has run (its 'finished' report waits for the delivery, paused by the deploy)
      await waitFor(() => sim.requests.some((r) => r.kind === 'rest' && r.at >= tDrop && r.path === '/api/v3/account' && (r as { status?: number }).status !== 0), 10_000, 'the recovery to have run (during the stop phase)');
      await sleep(500);
      ranBeforeListing = rec.length === 0;
      letClose('slow');
      await deploying;
    } finally {
      holdCloses(false);
    }
    await waitConnected();
    await sleep(1000);
    const b2 = fills(sim, a, 1);
    await quietly(() => fillIds('s1').includes(b2[0]), 8000);
    await sleep(500);
    return { e1, b: [...b0, ...b1, ...b2], rec };
  }

  it('L2: ETHUSDT listed by a deploy whose stop phase outlasts the running recovery (recovery done, batch uncommitted); then a clean restart (persistent store) before the follow-up retry: ETHUSDT\'s gap fill reaches the flow once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms, recoveryStore: 'persist' }), ou('ou', ['s1']), sink('s1'), slow()];
    const { e1, b, rec } = await listedAfterRecoveryRan(a, flow);
    const before = shown();
    const saved = store.saved('binanceUserStreamRecovery') as { lastEventTime?: number } | undefined;
    const run1 = trades('s1');
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    store.processEnded();
    forgetStoreOrder();
    clearSinks();
    const savedAfter = store.saved('binanceUserStreamRecovery') as { lastEventTime?: number } | undefined;
    await load(a, flow('BTCUSDT ETHUSDT'));
    await waitConnected();
    const rec2 = watchRecoveries();
    await quietly(() => fillIds('s1', 'ETHUSDT').length > 0, 70_000);
    await sleep(1500);
    const run2 = trades('s1');
    const lastT = (t?: number): string => (t ? new Date(t).toISOString().slice(14, 23) : '-');
    console.log(
      `      L2 recovery finished before the listing (its report waits for the delivery): ${ranBeforeListing}; e1=${e1} made ${new Date(sim.trades(a.accountId, 'spot', 'ETHUSDT')[0].time).toISOString().slice(14, 23)}; before the restart: ${before}; saved lastEventTime ${lastT(saved?.lastEventTime)} -> ${lastT(savedAfter?.lastEventTime)}\n` +
        `         run1 ${tag(run1)}; recoveries ${rec.join(' | ')}\n         run2 ${tag(run2)}; recoveries ${rec2.join(' | ')}; last ${shown()}`,
    );
    const all = [...run1, ...run2];
    const eth = all.filter((m) => m.payload.symbol === 'ETHUSDT').map((m) => Number(m.payload.tradeId));
    const btc = all.filter((m) => m.payload.symbol === 'BTCUSDT').map((m) => Number(m.payload.tradeId));
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup: ETH ledger');
    assert.deepEqual(sorted(btc), b, `L2 BTCUSDT: ${report(b, btc)}`);
    assert.deepEqual(sorted(eth), e1, `L2 ETHUSDT: ${report(e1, eth)}`);
  });

  it('L3: as L2 (ETHUSDT listed after the running recovery finished, batch uncommitted), then a short reconnect before the follow-up retry: ETHUSDT\'s gap fill reaches the flow once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms }), ou('ou', ['s1']), sink('s1'), slow()];
    const { e1, b, rec } = await listedAfterRecoveryRan(a, flow);
    const before = shown();
    const rec2 = watchRecoveries();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: second drop');
    await sleep(1000);
    await waitConnected();
    await quietly(() => fillIds('s1', 'ETHUSDT').length > 0, 70_000);
    await sleep(1500);
    console.log(`      L3 e1=${e1}; before the second drop: ${before}; s1 ${tag(trades('s1'))}\n         recoveries ${rec.join(' | ')} || after the drop ${rec2.join(' | ')}; last ${shown()}`);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup: ETH ledger');
    assert.deepEqual(sorted(fillIds('s1', 'BTCUSDT')), b, `L3 BTCUSDT: ${report(b, fillIds('s1', 'BTCUSDT'))}`);
    assert.deepEqual(sorted(fillIds('s1', 'ETHUSDT')), e1, `L3 ETHUSDT: ${report(e1, fillIds('s1', 'ETHUSDT'))}`);
  });

  it('L4: a typo (ADAUSTD: -1121 Invalid symbol) listed by a deploy during a running recovery: the status does not stay "catching up", the symbol is not retried forever', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms }), ou('ou', ['s1']), sink('s1')];
    await load(a, flow('BTCUSDT'));
    await waitConnected();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    sim.delayNext({ path: '/api/v3/openOrders', ms: 5000 });
    const tDrop = Date.now();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    await waitFor(() => requestsSince(tDrop, '/api/v3/openOrders') > 0, 15_000, 'the recovery to ask for open orders');
    await helper.setFlows(flow('BTCUSDT ADAUSTD'), 'full', credentialsFor(a));
    await waitConnected();
    const rec = watchRecoveries();
    const states: string[] = [];
    streamOf().on('state', () => states.push(shown()));
    await waitFor(() => rec.length > 0, 15_000, 'the running recovery to finish');
    // Binance answers -1121 for a symbol that does not exist (the simulator answers any symbol: the fault plays it)
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 400, code: -1121, msg: 'Invalid symbol.', count: 1 });
    const mid = shown();
    await sleep(75_000);
    const asked = requestsSince(tDrop, '/api/v3/myTrades', 'ADAUSTD');
    const last = shown();
    console.log(`      L4 after the running recovery: ${mid}; recoveries ${rec.join(' | ')}; ADAUSTD queried ${asked}x; states ${[...new Set(states)].join(' / ')}; last ${last}`);
    assert.equal(streamOf().currentState.state, 'connected', `L4: status 75 s later: ${last}`);
    assert.ok(asked <= 2, `L4: ADAUSTD queried ${asked} times`);
  });

  it('L5: two account nodes share one stream (tab 1 lists BTCUSDT; tab 2 lists nothing); a modified-flows deploy of tab 2 lists ETHUSDT while the reconnect\'s recovery runs: ETHUSDT\'s gap fill reaches both flows once', async function () {
    const a = newAccount(sim, 'spot');
    const acct2 = (syms: string): FlowNode => ({ ...accountNode(sim, a, { recoverySymbols: syms }), id: 'acct2', name: 'journal account' });
    const flow = (syms: string): FlowNode[] => [TAB1, TAB2, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1'), acct2(syms), ou('ou2', ['t2'], TAB2.id, '', 'acct2'), sink('t2', TAB2.id)];
    const creds = { ...credentialsFor(a), ...credentialsFor(a, 'acct2') };
    await load(a, flow(''), creds);
    await waitConnected();
    await waitConnected('acct2');
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1 && fillIds('t2').length === 1, 8000, 'first fill');
    sim.delayNext({ path: '/api/v3/openOrders', ms: 6000 });
    const tDrop = Date.now();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => requestsSince(tDrop, '/api/v3/openOrders') > 0, 15_000, 'the recovery to ask for open orders');
    await helper.setFlows(flow('ETHUSDT'), 'flows', creds);
    await waitConnected('acct2');
    await quietly(() => fillIds('s1').includes(e1[0]) && fillIds('t2').includes(e1[0]), 75_000);
    await sleep(1500);
    const b2 = fills(sim, a, 1);
    await quietly(() => fillIds('s1').includes(b2[0]) && fillIds('t2').includes(b2[0]), 8000);
    await sleep(1000);
    console.log(`      L5 s1 ${tag(trades('s1'))}; t2 ${tag(trades('t2'))}; last ${shown()}`);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup');
    assert.deepEqual(sorted(fillIds('s1', 'ETHUSDT')), e1, `L5 s1 ETHUSDT: ${report(e1, fillIds('s1', 'ETHUSDT'))}`);
    assert.deepEqual(sorted(fillIds('t2', 'ETHUSDT')), e1, `L5 t2 ETHUSDT: ${report(e1, fillIds('t2', 'ETHUSDT'))}`);
    assert.deepEqual(sorted(fillIds('s1', 'BTCUSDT')), [...b0, ...b2], `L5 s1 BTCUSDT`);
    assert.equal(streamOf().currentState.state, 'connected', `L5: status at the end: ${shown()}`);
  });

  it('L6: ETHUSDT (never seen, not listed) fills in the gap; while the reconnect\'s recovery runs (open orders answered in 6 s) a live ETHUSDT fill arrives (held), then a deploy lists ETHUSDT: both ETHUSDT fills reach the flow once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms }), ou('ou', ['s1']), sink('s1')];
    await load(a, flow('BTCUSDT'));
    await waitConnected();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    sim.delayNext({ path: '/api/v3/openOrders', ms: 6000 });
    const tDrop = Date.now();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => requestsSince(tDrop, '/api/v3/openOrders') > 0, 15_000, 'the recovery to ask for open orders');
    await sleep(300);
    const e2 = fills(sim, a, 1, 'ETHUSDT');
    await sleep(500);
    await helper.setFlows(flow('BTCUSDT ETHUSDT'), 'full', credentialsFor(a));
    await waitConnected();
    const rec = watchRecoveries();
    await quietly(() => fillIds('s1').includes(e1[0]) && fillIds('s1').includes(e2[0]), 60_000);
    await sleep(1500);
    console.log(`      L6 e1=${e1} (gap) e2=${e2} (live, held); s1 ${tag(trades('s1'))}; recoveries ${rec.join(' | ')}; last ${shown()}`);
    const eth = [...e1, ...e2];
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), eth, 'setup');
    assert.deepEqual(sorted(fillIds('s1', 'BTCUSDT')), b0, 'L6 BTCUSDT');
    assert.deepEqual(sorted(fillIds('s1', 'ETHUSDT')), eth, `L6 ETHUSDT: ${report(eth, fillIds('s1', 'ETHUSDT'))}`);
  });

  it('L6b: as L6 without any deploy (ETHUSDT first seen live while the reconnect\'s recovery runs): both ETHUSDT fills reach the flow once (is L6 about the listing, or about symbols first seen during a recovery?)', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    const rec = watchRecoveries();
    sim.delayNext({ path: '/api/v3/openOrders', ms: 6000 });
    const tDrop = Date.now();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => requestsSince(tDrop, '/api/v3/openOrders') > 0, 15_000, 'the recovery to ask for open orders');
    await sleep(300);
    const e2 = fills(sim, a, 1, 'ETHUSDT');
    await quietly(() => fillIds('s1').includes(e1[0]) && fillIds('s1').includes(e2[0]), 60_000);
    await sleep(1500);
    console.log(`      L6b e1=${e1} (gap) e2=${e2} (live, held); s1 ${tag(trades('s1'))}; recoveries ${rec.join(' | ')}; last ${shown()}`);
    const eth = [...e1, ...e2];
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), eth, 'setup');
    assert.deepEqual(sorted(fillIds('s1', 'BTCUSDT')), b0, 'L6b BTCUSDT');
    assert.deepEqual(sorted(fillIds('s1', 'ETHUSDT')), eth, `L6b ETHUSDT: ${report(eth, fillIds('s1', 'ETHUSDT'))}`);
  });

  it('L7: ETHUSDT listed by a deploy DURING the running recovery (open orders answered in 6 s; the link was down 10 s, ETHUSDT filled at its start); then a clean restart (persistent store) before the follow-up retry: the gap fill reaches the flow once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (syms: string): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: syms, recoveryStore: 'persist' }), ou('ou', ['s1']), sink('s1')];
    await load(a, flow('BTCUSDT'));
    await waitConnected();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    await sleep(1500);
    sim.delayNext({ path: '/api/v3/openOrders', ms: 6000 });
    const tDrop = Date.now();
    longDrop(a);
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => requestsSince(tDrop, '/api/v3/openOrders') > 0, 30_000, 'the recovery to ask for open orders');
    await helper.setFlows(flow('BTCUSDT ETHUSDT'), 'full', credentialsFor(a));
    await waitConnected();
    const rec = watchRecoveries();
    await waitFor(() => rec.length > 0, 15_000, 'the running recovery to finish');
    const b1 = fills(sim, a, 1);
    await quietly(() => fillIds('s1').includes(b1[0]), 8000);
    const before = shown();
    const run1 = trades('s1');
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    store.processEnded();
    forgetStoreOrder();
    clearSinks();
    await load(a, flow('BTCUSDT ETHUSDT'));
    await waitConnected();
    const rec2 = watchRecoveries();
    await quietly(() => fillIds('s1', 'ETHUSDT').length > 0, 60_000);
    await sleep(1500);
    const run2 = trades('s1');
    console.log(`      L7 e1=${e1}; before the restart: ${before}; run1 ${tag(run1)}; ${rec.join(' | ')}\n         run2 ${tag(run2)}; ${rec2.join(' | ')}; last ${shown()}`);
    const all = [...run1, ...run2];
    const eth = all.filter((m) => m.payload.symbol === 'ETHUSDT').map((m) => Number(m.payload.tradeId));
    const btc = all.filter((m) => m.payload.symbol === 'BTCUSDT').map((m) => Number(m.payload.tradeId));
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup');
    assert.deepEqual(sorted(btc), [...b0, ...b1], `L7 BTCUSDT: ${report([...b0, ...b1], btc)}`);
    assert.deepEqual(sorted(eth), e1, `L7 ETHUSDT: ${report(e1, eth)}`);
  });

  // ================================================================================== F: in flight
  /** Starts `deploy()` in the very turn the order-update node sent the first TRADE fill. */
  async function deployInSendTurn(a: TestAccount, n: number, deploy: () => Promise<void>): Promise<number[]> {
    const stream = streamOf();
    let deploying: Promise<void> | undefined;
    const onEvent = (e: UserDataEvent): void => {
      if (deploying || e.eventType !== 'executionReport' || (e.raw as { x?: string }).x !== 'TRADE') return;
      deploying = deploy();
    };
    stream.on('event', onEvent);
    try {
      const ids = fills(sim, a, n);
      await waitFor(() => deploying !== undefined, 5000, 'the fill to reach the stream');
      await deploying;
      return ids;
    } finally {
      stream.removeListener('event', onEvent);
    }
  }

  it('F1: fork and join (ou → s1, and ou → delay 4 s → s1); a plugin with an asynchronous onSend hook (50 ms); a modified-nodes deploy editing s1 and a node that closes in 3 s, begun in the send turn of a burst of 5 fills: s1 gets each fill twice (direct and delayed); the hook goes after 60 s', async function () {
    const hooks = redHooks();
    hooks.add('onSend.attack5', (_events: unknown, done: () => void) => {
      setTimeout(done, 50);
    });
    try {
      const a = newAccount(sim, 'spot');
      const flow = (v: number): FlowNode[] => [
        TAB1,
        accountNode(sim, a),
        ou('ou', ['s1', 'dl']),
        { id: 'dl', type: 'attack-delay', z: TAB1.id, ms: 4000, x: 200, y: 150, wires: [['s1']] },
        sink('s1', TAB1.id, `v${v}`),
        { ...slow(TAB1.id, `v${v}`), closeMs: 3000 },
      ];
      await load(a, flow(0));
      await waitConnected();
      // when s1 received what (ms after the deploy began): the direct copies are handed at the stop, the delayed ones come ~4 s later
      let t0 = 0;
      const arrivalsAt: string[] = [];
      runtimeNodesControl.onReceive = (id, m) => {
        const p = (m as Msg).payload;
        if (id === 's1' && t0 > 0 && p?.executionType === 'TRADE') arrivalsAt.push(`${String(p.tradeId)}@${Date.now() - t0}`);
      };
      const ids = await deployInSendTurn(a, 5, () => {
        t0 = Date.now();
        return helper.setFlows(flow(1), 'nodes', credentialsFor(a));
      });
      await waitConnected();
      const hookedAfterDeploy = hooks.has(IN_FLIGHT_HOOK);
      await sleep(6000);
      runtimeNodesControl.onReceive = undefined;
      const after = fills(sim, a, 1);
      await quietly(() => fillIds('s1').filter((id) => id === after[0]).length === 2, 10_000);
      await sleep(500);
      const expected = [...ids, ...ids, ...after, ...after];
      // the hook's lifetime: past 60 s a message passing through the runtime removes it
      await sleep(56_000);
      const hookedAt60 = hooks.has(IN_FLIGHT_HOOK);
      const late = fills(sim, a, 1);
      await quietly(() => fillIds('s1').filter((id) => id === late[0]).length === 2, 10_000);
      const hookedAfter = hooks.has(IN_FLIGHT_HOOK);
      console.log(`      F1 s1 arrivals in the 6 s after the deploy began ${arrivalsAt.join(' ')}; all ${fillIds('s1')}; hook on after the deploy ${hookedAfterDeploy}, at 60 s ${hookedAt60}, after a message past 60 s ${hookedAfter}`);
      assert.deepEqual(ledger(sim, a), [...ids, ...after, ...late], 'setup: ledger');
      assert.deepEqual(sorted(fillIds('s1')).filter((id) => id !== late[0]), sorted(expected), `F1 s1 (each twice): ${report(sorted(expected), fillIds('s1'))}`);
      assert.equal(hookedAfter, false, 'F1: the onReceive hook is still on after 60 s and a message');
    } finally {
      hooks.remove('onSend.attack5');
    }
  });

  it('F2: three modified-nodes deploys back to back (each begun at the previous one\'s flows:started), the first in the send turn of a burst of 100 fills, with an asynchronous onSend plugin (50 ms) and a node closing in 1 s: s1 (edited) and s2 (unchanged) get each fill once', async function () {
    const hooks = redHooks();
    hooks.add('onSend.attack5', (_events: unknown, done: () => void) => {
      setTimeout(done, 50);
    });
    try {
      const a = newAccount(sim, 'spot');
      const flow = (v: number): FlowNode[] => [TAB1, accountNode(sim, a), ou('ou', ['s1', 's2']), sink('s1', TAB1.id, `v${v}`), sink('s2'), { ...slow(TAB1.id, `v${v}`), closeMs: 1000 }];
      await load(a, flow(0));
      await waitConnected();
      const events = (helper as unknown as { _events: NodeJS.EventEmitter })._events;
      const rn = (helper as unknown as { _redNodes: { setFlows(f: unknown, c: unknown, t: string): Promise<unknown> } })._redNodes;
      let chain: Promise<unknown> | undefined;
      const ids = await deployInSendTurn(a, 100, async () => {
        let n = 1;
        const next = (): void => {
          if (n >= 3) return;
          n++;
          events.once('flows:started', next);
          chain = rn.setFlows(flow(n), credentialsFor(a), 'nodes');
        };
        events.once('flows:started', next);
        await helper.setFlows(flow(1), 'nodes', credentialsFor(a));
      });
      await waitFor(() => chain !== undefined, 5000, 'the chained deploys');
      await sleep(4000);
      await waitConnected();
      const after = fills(sim, a, 1);
      const expected = [...ids, ...after];
      await quietly(() => fillIds('s1').includes(after[0]) && fillIds('s2').includes(after[0]), 10_000);
      await sleep(1500);
      console.log(`      F2 s1: ${report(expected, fillIds('s1'))}; s2: ${report(expected, fillIds('s2'))}; hook on ${redHooks().has(IN_FLIGHT_HOOK)}`);
      assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
      assert.deepEqual(sorted(fillIds('s2')), expected, `F2 s2: ${report(expected, fillIds('s2'))}`);
      assert.deepEqual(sorted(fillIds('s1')), expected, `F2 s1: ${report(expected, fillIds('s1'))}`);
    } finally {
      hooks.remove('onSend.attack5');
    }
  });

  it('F3: a message Node-RED hands over after the hook went: an onSend plugin holds the first fill 65 s (a breakpoint of a flow debugger), a modified-nodes deploy editing s1 (a node closing in 3 s) begun in its send turn, other fills pass meanwhile: s1 gets the first fill once', async function () {
    const hooks = redHooks();
    let held = 0;
    hooks.add('onSend.attack5', (evs: Array<{ msg?: { payload?: { tradeId?: number } } }>, done: () => void) => {
      if (held === 0 && evs.some((e) => e.msg?.payload?.tradeId !== undefined)) {
        held++;
        setTimeout(done, 65_000);
        return;
      }
      done();
    });
    try {
      const a = newAccount(sim, 'spot');
      const flow = (v: number): FlowNode[] => [TAB1, accountNode(sim, a), ou('ou', ['s1']), sink('s1', TAB1.id, `v${v}`), { ...slow(TAB1.id, `v${v}`), closeMs: 3000 }];
      await load(a, flow(0));
      await waitConnected();
      const ids = await deployInSendTurn(a, 1, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
      await waitConnected();
      const later: number[] = [];
      for (let i = 0; i < 7; i++) {
        await sleep(10_000);
        later.push(...fills(sim, a, 1));
      }
      await sleep(3000);
      const expected = [...ids, ...later];
      console.log(`      F3 s1 ${fillIds('s1')}; hook on ${hooks.has(IN_FLIGHT_HOOK)}`);
      assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
      assert.deepEqual(sorted(fillIds('s1')), expected, `F3 s1: ${report(expected, fillIds('s1'))}`);
    } finally {
      hooks.remove('onSend.attack5');
    }
  });

  it('F4: memory: 10 modified-nodes deploys, each begun in the send turn of a fill, with an asynchronous onSend plugin (50 ms) and a node closing in 1 s (Node-RED drops each direct hand-over): every fill once; the pending hand-overs are forgotten and the hook removed once 60 s passed and a message went through', async function () {
    const hooks = redHooks();
    hooks.add('onSend.attack5', (_events: unknown, done: () => void) => {
      setTimeout(done, 50);
    });
    try {
      const a = newAccount(sim, 'spot');
      const flow = (v: number): FlowNode[] => [TAB1, accountNode(sim, a), ou('ou', ['s1']), sink('s1', TAB1.id, `v${v}`), { ...slow(TAB1.id, `v${v}`), closeMs: 1000 }];
      await load(a, flow(0));
      await waitConnected();
      const all: number[] = [];
      for (let i = 1; i <= 10; i++) {
        all.push(...(await deployInSendTurn(a, 1, () => helper.setFlows(flow(i), 'nodes', credentialsFor(a)))));
        await waitConnected();
      }
      const hookedAfterDeploys = hooks.has(IN_FLIGHT_HOOK);
      await quietly(() => all.every((id) => fillIds('s1').includes(id)), 10_000);
      const mid = fills(sim, a, 1);
      await quietly(() => fillIds('s1').includes(mid[0]), 8000);
      const hookedSoon = hooks.has(IN_FLIGHT_HOOK);
      await sleep(61_000);
      const late = fills(sim, a, 1);
      await quietly(() => fillIds('s1').includes(late[0]), 8000);
      await sleep(500);
      const hookedAfter = hooks.has(IN_FLIGHT_HOOK);
      const expected = [...all, ...mid, ...late];
      console.log(`      F4 s1: ${report(expected, fillIds('s1'))}; hook on after the deploys ${hookedAfterDeploys}, after a message at once ${hookedSoon}, after 61 s and a message ${hookedAfter}`);
      assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
      assert.deepEqual(sorted(fillIds('s1')), expected, `F4 s1: ${report(expected, fillIds('s1'))}`);
      assert.equal(hookedAfter, false, 'F4: hook (and its pending table) still there');
    } finally {
      hooks.remove('onSend.attack5');
    }
  });
});
