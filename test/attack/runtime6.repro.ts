/**
 * Sixth round of attacks on issue 21 (attack helper H-A6, base main c9431b3), through the Node-RED
 * runtime (node-red-node-test-helper, our nodes from dist/) against the simulator over loopback.
 * It attacks the last changes:
 *   Q*  745dd30 gap-recovery.ts `queriedUntil` / `upToDate`: a gap queued behind a recovery does not
 *       ask again a symbol that recovery queried completely after the gap ended;
 *   N*  7240f62 `firstSeenLive` / `listedLate`: a symbol first seen live after a gap is asked from
 *       the earliest gap's start;
 *   C*  e4f24ce context-store.ts `newestWriter`: a replaced account node writes nothing once the new
 *       node has written;
 *   F*  7240f62 in-flight.ts: only Node-RED's own later hand-over is cancelled.
 * Expected deliveries come from the simulator's trade ledger (`sim.trades`) and the flow's wiring,
 * never from the implementation. Named *.repro.ts so `npm test` does not run it.
 *
 *   npm run build
 *   npx mocha --no-config --timeout 0 --exit --enable-source-maps dist/test/attack/runtime6.repro.js
 *   (one attack: add  --grep Q1 )
 *
 * Results on attack6 (base c9431b3, figures are exchange trade ids):
 *  Q1  FAIL a reconnect while a recovery RETRY runs (its open orders answered in 10 s); the retry
 *      queries BTCUSDT > 5 s after the reconnect ended, so the queued reconnect gap skips BTCUSDT
 *      (upToDate) and commits it complete, live-safe; the retry's batch (hold: false) is queued
 *      at the END of the pipeline queue, after the live fill b3 that arrived meanwhile; b3 moves
 *      the cursor (live-safe) and the retry's rows 5002 (gap 1) and 5003 (gap 2) are then below
 *      the safe cursor: dropped as duplicates. Never delivered, status connected. PASSES with
 *      745dd30's gap-recovery.ts hunk reverted (the queued gap asks BTCUSDT itself: 5002r 5003r).
 *  Q2  FAIL the same with the default hold limit (5 s), the live fill 8.5 s after the drop (held
 *      < 5 s until the reconnect's batch): 5002, 5003 lost, status connected.
 *  N1  PASS first start, a new symbol traded live: no REST, status stays connected.
 *  N2  PASS (documented limit) 12 new symbols live with "Symbols tracked" 10: the follow-up retry
 *      asks 13 symbols (27 requests), status "recovering: fetching the fills of symbols new since a
 *      gap" ~30 s; next gap: the 2 symbols dropped from the table lose their gap fill, limits shown.
 *  C1  PASS old node's write-through hangs, same-identity deploy, new node's first write fails,
 *      restart: every fill once.   C2  PASS the same with two deploys in a row.
 *  F1  FAIL (pre-existing: same with 7240f62^ in-flight.ts) ou → link out (edited) → link in → s1:
 *      Node-RED restarts the link in too (diff.changed has it); the burst had passed link out
 *      before flows:stopping and is dropped on its way to the stopping link in: 5 fills lost.
 *  F2  FAIL (documented: past the first hop) link in edited: burst lost the same way.
 *  F3  PASS split edited.  F4  PASS sink edited, no plugin.  F5  PASS pass-through edited.
 */
import assert from 'node:assert/strict';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { clearSinks, fastCloses, holdCloses, sunk, testNodes } from '../support/runtime-nodes';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { accountNode, credentialsFor, newAccount, waitConnected, type TestAccount } from '../nodes/flows';
import { isAccountHandle } from '../../nodes/red/account-contract';
import type { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import type { RecoveryReport } from '../../nodes/lib/stream/reliable-types';
import type { UserDataEvent } from '../../nodes/lib/types';
import { forgetStoreOrder } from '../../nodes/red/context-store';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
const TAB1: FlowNode = { id: 'tab1', type: 'tab', label: 'trading' };

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
/** Logs PASS/FAIL for one attack, then asserts. */
function verdict(name: string, ok: boolean, figures: string): void {
  console.log(`      ${ok ? 'PASS' : 'FAIL'} ${name}: ${figures}`);
  assert.ok(ok, `${name}: ${figures}`);
}
async function quietly(p: () => boolean, ms: number): Promise<void> {
  try {
    await waitFor(p, ms);
  } catch {
    /* the verdict after it reports */
  }
}
function fills(sim: BinanceSimulator, a: TestAccount, n: number, symbol = 'BTCUSDT', market: SimMarket = 'spot'): number[] {
  const { trades: t } = sim.runOrderLifecycle(a.accountId, {
    market,
    symbol,
    side: 'BUY',
    quantity: (n / 1000).toFixed(3),
    price: symbol === 'BTCUSDT' ? '100' : '50',
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
const ou = (id: string, wires: string[], z = TAB1.id, name = '', account = 'acct'): FlowNode => ({ id, type: 'binance-order-update', z, name, account, x: 100, y: 100, wires: [wires] });

function streamOf(id = 'acct'): ReliableStream {
  const n: unknown = helper.getNode(id);
  assert.ok(isAccountHandle(n), `account node ${id}`);
  const s = n.getStream();
  assert.ok(s, 'stream');
  return s as ReliableStream;
}
function shown(id = 'acct'): string {
  const c = streamOf(id).currentState;
  return `${c.state}${c.message ? `: ${c.message}` : ''}`;
}

/** `a6-pass`: passes every message on at once (a change or function node). */
function passNodes(RED: NodeAPI): void {
  function Pass(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    (this as unknown as NodeJS.EventEmitter).on('input', (msg: unknown, send: (m: unknown) => void, done: () => void) => {
      send(msg);
      done();
    });
  }
  RED.nodes.registerType('a6-pass', Pass as never);
}

// Node-RED's own core nodes (link, split) from the installed runtime
// eslint-disable-next-line @typescript-eslint/no-require-imports
const linkNodes = (): unknown => require('@node-red/nodes/core/common/60-link.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const splitNodes = (): unknown => require('@node-red/nodes/core/sequence/17-split.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const redHooks = (): { add(id: string, fn: unknown): void; remove(id: string): void; has(id: string): boolean } => require('@node-red/util').hooks;

describe('attacks on issue 21, round 6 (H-A6: queriedUntil, firstSeenLive, newestWriter, in-flight cancellation)', function () {
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

  const load = (a: TestAccount, flow: FlowNode[], creds = credentialsFor(a)): Promise<void> =>
    helper.load([...nodeModules(), testNodes, passNodes, linkNodes() as never, splitNodes() as never], flow, creds);

  function watchRecoveries(id = 'acct'): string[] {
    const out: string[] = [];
    streamOf(id).on('recovery', (r: RecoveryReport) => {
      if (r.phase !== 'finished') return;
      const s = r.stats;
      out.push(`${r.gap.reason} [${new Date(r.gap.from).toISOString().slice(14, 23)}..${new Date(r.gap.to).toISOString().slice(14, 23)}] sym=${s?.symbols.length ?? '?'} fills=${s?.fills ?? '?'} req=${s?.requests ?? '?'}`);
    });
    return out;
  }
  const requestsSince = (t: number, path: string, symbol?: string): number =>
    sim.requests.filter((r) => r.kind === 'rest' && r.at >= t && r.path === path && (symbol === undefined || (r as { params?: Record<string, string> }).params?.symbol === symbol)).length;

  // ====================================================================== Q: queriedUntil (745dd30)
  for (const [name, hold, liveAfterMs] of [['Q1', 60, 2500], ['Q2', undefined, 8500]] as const) {
  it(`${name}: a reconnect while a RETRY runs (its open orders answered in 10 s): the retry queries BTCUSDT after the reconnect ended, the queued gap skips BTCUSDT; a live fill ${liveAfterMs} ms after the drop (hold limit ${hold ?? 'default 5'} s): every fill once`, async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT', ...(hold ? { liveHoldLimit: hold } : {}) }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    // 1. a drop whose recovery cannot fetch BTCUSDT's fills: the 30 s retry follows
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1_000_000 });
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    const b1 = fills(sim, a, 1);
    await waitFor(() => rec.length > 0, 30_000, 'the failing recovery');
    const afterFail = shown();
    sim.clearFaults();
    // 2. the retry: its open orders answer in 10 s; meanwhile a second drop (fill b2 in it), reconnected, a live fill b3
    sim.delayNext({ path: '/api/v3/openOrders', ms: 10_000 });
    const tArm = Date.now();
    await waitFor(() => requestsSince(tArm, '/api/v3/openOrders') > 0, 70_000, 'the retry to ask for open orders');
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: second drop');
    const b2 = fills(sim, a, 1);
    await sleep(liveAfterMs);
    const b3 = fills(sim, a, 1);
    const all = [...b0, ...b1, ...b2, ...b3];
    await quietly(() => all.every((id) => fillIds('s1').includes(id)), 40_000);
    await sleep(3000);
    const b4 = fills(sim, a, 1);
    await quietly(() => fillIds('s1').includes(b4[0]), 8000);
    await sleep(1000);
    const expected = [...all, ...b4];
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict(
      name,
      JSON.stringify(sorted(fillIds('s1'))) === JSON.stringify(expected),
      `b0=${b0} b1=${b1} (gap 1, fetched by the retry) b2=${b2} (gap 2) b3=${b3} (live) b4=${b4}; s1 ${tag(trades('s1'))}; ${report(expected, fillIds('s1'))}; after the failing recovery: ${afterFail}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });
  }

  // ====================================================================== N: firstSeenLive (7240f62)
  it('N1: a first start without a saved state: a new symbol traded live asks nothing over REST and the status stays connected', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const states: string[] = [];
    streamOf().on('state', () => states.push(shown()));
    const t0 = Date.now();
    const e = fills(sim, a, 2, 'ETHUSDT');
    await quietly(() => fillIds('s1', 'ETHUSDT').length >= 2, 8000);
    await sleep(35_000);
    const asked = requestsSince(t0, '/api/v3/myTrades');
    verdict('N1', asked === 0 && JSON.stringify(sorted(fillIds('s1', 'ETHUSDT'))) === JSON.stringify(e) && !states.some((s) => s !== 'connected'), `myTrades asked ${asked}x; ETH ${report(e, fillIds('s1', 'ETHUSDT'))}; states ${[...new Set(states)].join(' / ') || '(none)'}`);
  });

  it('N2: after one reconnect (recovered), 12 new symbols traded live at once with "Symbols tracked" 10: every fill once, REST cost and status; then a second reconnect with a fill of each in the gap', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT', recoveryMaxSymbols: 10 }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');
    await waitFor(() => rec.length > 0, 20_000, 'the reconnect recovery');
    await waitConnected();
    const states: string[] = [];
    streamOf().on('state', () => states.push(shown()));
    const syms = Array.from({ length: 12 }, (_, i) => `X${String.fromCharCode(65 + i)}USDT`);
    const t0 = Date.now();
    const live = new Map<string, number[]>();
    for (const s of syms) live.set(s, fills(sim, a, 1, s));
    await sleep(45_000);
    const asked = requestsSince(t0, '/api/v3/myTrades');
    const mid = shown();
    // second drop: a fill of each new symbol in the gap
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: second drop');
    const gap = new Map<string, number[]>();
    for (const s of syms) gap.set(s, fills(sim, a, 1, s));
    await sleep(45_000);
    const bad: string[] = [];
    let twice = 0;
    for (const s of syms) {
      const exp = [...live.get(s)!, ...gap.get(s)!];
      const got = fillIds('s1', s);
      twice += got.length - new Set(got).size;
      if (JSON.stringify(sorted(got)) !== JSON.stringify(exp)) bad.push(`${s}: ${report(exp, got)}`);
    }
    const limits = streamOf().currentState.limits;
    const last = `${shown()} limits=${JSON.stringify(limits)}`;
    // the documented limit: symbols beyond "Symbols tracked" are not queried after a gap, shown in the status
    verdict(
      'N2',
      twice === 0 && bad.length <= 2 && (bad.length === 0 || limits?.symbols !== undefined),
      `b0=${b0}; myTrades asked ${asked}x in the 45 s after 12 new symbols traded live; status then: ${mid}; states ${[...new Set(states)].join(' / ')}; recoveries ${rec.join(' | ')}; wrong ${bad.length}: ${bad.join('; ')}; last ${last}`,
    );
  });

  // ====================================================================== C: newestWriter (e4f24ce)
  it("C1: persistent store; the old node's last write-through hangs, a same-identity full deploy, the new node's first write fails, no fill afterwards; a restart: every fill once across it", async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [TAB1, { ...accountNode(sim, a, { recoveryStore: 'persist' }), name: `acct v${v}` }, ou('ou', ['s1']), sink('s1')];
    await load(a, flow(0));
    await waitConnected();
    const b0 = fills(sim, a, 3);
    await waitFor(() => fillIds('s1').length === 3, 8000, 'first fills');
    await sleep(1500);
    const callsFrom = store.calls.length;
    store.add('write', { kind: 'hang', count: 1 });
    const b1 = fills(sim, a, 2);
    await waitFor(() => fillIds('s1').length === 5, 8000, 'second fills');
    await sleep(300);
    store.add('write', { kind: 'fail', count: 1 });
    await helper.setFlows(flow(1), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(15_000);
    const saved = store.saved('binanceUserStreamRecovery') as { lastTradeIds?: Record<string, number> } | undefined;
    const calls = store.calls.slice(callsFrom).map((c) => `${c.op}:${c.outcome}`).join(' ');
    const run1 = trades('s1');
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    store.processEnded();
    forgetStoreOrder();
    clearSinks();
    const b2 = fills(sim, a, 1); // while stopped
    await load(a, flow(1));
    await waitConnected();
    await quietly(() => fillIds('s1').includes(b2[0]), 20_000);
    await sleep(3000);
    const run2 = trades('s1');
    const got = [...run1, ...run2].map((m) => Number(m.payload.tradeId));
    const expected = [...b0, ...b1, ...b2];
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('C1', JSON.stringify(sorted(got)) === JSON.stringify(expected), `store calls ${calls}; saved cursor before the restart ${JSON.stringify(saved?.lastTradeIds)}; run1 ${tag(run1)}; run2 ${tag(run2)}; ${report(expected, got)}; last ${shown()}`);
  });

  it('C2: persistent store; two same-identity full deploys in a row, the first node\'s write-through hanging and the second node\'s first write failing; a restart: every fill once across it', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [TAB1, { ...accountNode(sim, a, { recoveryStore: 'persist' }), name: `acct v${v}` }, ou('ou', ['s1']), sink('s1')];
    await load(a, flow(0));
    await waitConnected();
    const b0 = fills(sim, a, 2);
    await waitFor(() => fillIds('s1').length === 2, 8000, 'first fills');
    await sleep(1500);
    const callsFrom = store.calls.length;
    store.add('write', { kind: 'hang', count: 1 });
    const b1 = fills(sim, a, 2);
    await waitFor(() => fillIds('s1').length === 4, 8000, 'second fills');
    await helper.setFlows(flow(1), 'full', credentialsFor(a));
    await waitConnected();
    store.add('write', { kind: 'fail', count: 1 });
    const b2 = fills(sim, a, 1);
    await quietly(() => fillIds('s1').includes(b2[0]), 8000);
    await helper.setFlows(flow(2), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(15_000);
    const calls = store.calls.slice(callsFrom).map((c) => `${c.op}:${c.outcome}`).join(' ');
    const saved = store.saved('binanceUserStreamRecovery') as { lastTradeIds?: Record<string, number> } | undefined;
    const run1 = trades('s1');
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    store.processEnded();
    forgetStoreOrder();
    clearSinks();
    const b3 = fills(sim, a, 1);
    await load(a, flow(2));
    await waitConnected();
    await quietly(() => fillIds('s1').includes(b3[0]), 20_000);
    await sleep(3000);
    const run2 = trades('s1');
    const got = [...run1, ...run2].map((m) => Number(m.payload.tradeId));
    const expected = [...b0, ...b1, ...b2, ...b3];
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('C2', JSON.stringify(sorted(got)) === JSON.stringify(expected), `store calls ${calls}; saved cursor before the restart ${JSON.stringify(saved?.lastTradeIds)}; run1 ${tag(run1)}; run2 ${tag(run2)}; ${report(expected, got)}`);
  });

  // ====================================================================== F: in-flight (7240f62)
  /** Starts `deploy()` in the very turn the account's stream emitted the first TRADE fill. */
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

  it('F1: ou → link out (edited) ⇢ link in → s1; a modified-nodes deploy with a node closing in 2 s, begun in the send turn of a burst of 5 fills: s1 gets each fill once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [
      TAB1,
      accountNode(sim, a),
      ou('ou', ['lo']),
      { id: 'lo', type: 'link out', z: TAB1.id, name: `out v${v}`, mode: 'link', links: ['li'], x: 200, y: 100, wires: [] },
      { id: 'li', type: 'link in', z: TAB1.id, name: 'in', links: ['lo'], x: 300, y: 100, wires: [['s1']] },
      sink('s1'),
      { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: `v${v}`, closeMs: 2000, x: 300, y: 200, wires: [] },
    ];
    await load(a, flow(0));
    await waitConnected();
    const seen: string[] = [];
    const hooks = redHooks();
    const rec = (what: string) => (e: { msg?: { payload?: { tradeId?: number } }; source?: { id?: string }; destination?: { id?: string } }): void => {
      const t = e?.msg?.payload?.tradeId;
      if (typeof t === 'number' && t > 0) seen.push(`${what}:${e.source?.id ?? '?'}>${e.destination?.id ?? '?'}#${t}`);
    };
    const events = (helper as unknown as { _events: NodeJS.EventEmitter })._events;
    const onStop = (ev: unknown): void => void seen.push(`stopping:${JSON.stringify((ev as { diff?: unknown }).diff ?? ev)}`);
    events.on('flows:stopping', onStop);
    hooks.add('preDeliver.h6dbg', rec('pre'));
    hooks.add('onReceive.h6dbg', rec('recv'));
    let ids: number[];
    try {
      ids = await deployInSendTurn(a, 5, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
      await sleep(500);
    } finally {
      hooks.remove('preDeliver.h6dbg');
      hooks.remove('onReceive.h6dbg');
      events.removeListener('flows:stopping', onStop);
    }
    console.log(`      F1 runtime trace: ${seen.join(' ')}`);
    await waitConnected();
    const after = fills(sim, a, 1);
    const expected = [...ids, ...after];
    await quietly(() => fillIds('s1').includes(after[0]), 10_000);
    await sleep(1500);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('F1', JSON.stringify(sorted(fillIds('s1'))) === JSON.stringify(expected), `s1 ${report(expected, fillIds('s1'))}`);
  });

  it('F4: ou → s1 (edited); a modified-nodes deploy with a node closing in 2 s, begun in the send turn of a burst of 5 fills, no plugin (Node-RED hands the burst over before its stop begins): s1 gets each fill once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [TAB1, accountNode(sim, a), ou('ou', ['s1']), sink('s1', TAB1.id, `v${v}`), { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: `v${v}`, closeMs: 2000, x: 300, y: 200, wires: [] }];
    await load(a, flow(0));
    await waitConnected();
    const ids = await deployInSendTurn(a, 5, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
    await waitConnected();
    const after = fills(sim, a, 1);
    const expected = [...ids, ...after];
    await quietly(() => fillIds('s1').includes(after[0]), 10_000);
    await sleep(1500);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('F4', JSON.stringify(sorted(fillIds('s1'))) === JSON.stringify(expected), `s1 ${report(expected, fillIds('s1'))}`);
  });

  it('F5: ou → pass (edited, a function node) → s1; a modified-nodes deploy with a node closing in 2 s, begun in the send turn of a burst of 5 fills: s1 gets each fill once', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [
      TAB1,
      accountNode(sim, a),
      ou('ou', ['p']),
      { id: 'p', type: 'a6-pass', z: TAB1.id, name: `pass v${v}`, x: 200, y: 100, wires: [['s1']] },
      sink('s1'),
      { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: `v${v}`, closeMs: 2000, x: 300, y: 200, wires: [] },
    ];
    await load(a, flow(0));
    await waitConnected();
    const ids = await deployInSendTurn(a, 5, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
    await waitConnected();
    const after = fills(sim, a, 1);
    const expected = [...ids, ...after];
    await quietly(() => fillIds('s1').includes(after[0]), 10_000);
    await sleep(1500);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('F5', JSON.stringify(sorted(fillIds('s1'))) === JSON.stringify(expected), `s1 ${tag(trades('s1'))}; ${report(expected, fillIds('s1'))}`);
  });

  it('F2: ou → link out ⇢ link in (edited) → s1; a modified-nodes deploy with a node closing in 2 s, begun in the send turn of a burst of 5 fills: s1 gets each fill once (past the first hop: documented as not covered)', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [
      TAB1,
      accountNode(sim, a),
      ou('ou', ['lo']),
      { id: 'lo', type: 'link out', z: TAB1.id, name: 'out', mode: 'link', links: ['li'], x: 200, y: 100, wires: [] },
      { id: 'li', type: 'link in', z: TAB1.id, name: `in v${v}`, links: ['lo'], x: 300, y: 100, wires: [['s1']] },
      sink('s1'),
      { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: `v${v}`, closeMs: 2000, x: 300, y: 200, wires: [] },
    ];
    await load(a, flow(0));
    await waitConnected();
    const ids = await deployInSendTurn(a, 5, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
    const during = fills(sim, a, 2); // the stop phase: the 2 s close
    await waitConnected();
    await sleep(2500);
    const after = fills(sim, a, 1);
    const expected = [...ids, ...during, ...after];
    await quietly(() => fillIds('s1').includes(after[0]), 10_000);
    await sleep(1500);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('F2', JSON.stringify(sorted(fillIds('s1'))) === JSON.stringify(expected), `burst ${ids}, during the stop ${during}; s1 ${report(expected, fillIds('s1'))}`);
  });

  it('F3: ou → split (edited) → s1 (payload.tradeId survives a split of an object? no: split of msg.payload.x array); a modified-nodes deploy with a node closing in 2 s, begun in the send turn of a burst of 5 fills: s1 gets each part once', async function () {
    const a = newAccount(sim, 'spot');
    // split on a property that is no array/string/object of parts: `msg.payload` (an object) is split into its keys;
    // s1 counts the part whose key is tradeId (one per fill)
    const flow = (v: number): FlowNode[] => [
      TAB1,
      accountNode(sim, a),
      ou('ou', ['sp']),
      { id: 'sp', type: 'split', z: TAB1.id, name: `split v${v}`, splt: '\\n', spltType: 'str', arraySplt: 1, arraySpltType: 'len', stream: false, addname: 'key', property: 'payload', x: 200, y: 100, wires: [['s1']] },
      sink('s1'),
      { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: `v${v}`, closeMs: 2000, x: 300, y: 200, wires: [] },
    ];
    await load(a, flow(0));
    await waitConnected();
    const ids = await deployInSendTurn(a, 5, () => helper.setFlows(flow(1), 'nodes', credentialsFor(a)));
    await waitConnected();
    const after = fills(sim, a, 1);
    const expected = [...ids, ...after];
    const tradeParts = (): number[] => (sunk('s1') as Array<Record<string, unknown>>).filter((m) => m.key === 'tradeId' && Number(m.payload) > 0).map((m) => Number(m.payload));
    await quietly(() => tradeParts().includes(after[0]), 10_000);
    await sleep(1500);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    verdict('F3', JSON.stringify(sorted(tradeParts())) === JSON.stringify(expected), `s1 tradeId parts ${report(expected, tradeParts())}`);
  });
});
