/**
 * Third round of attacks on issue 21 ("every fill once through everything the runtime does to a
 * node"), through the Node-RED runtime (node-red-node-test-helper, our nodes from dist/) against
 * the simulator over loopback. Expected deliveries come from the simulator's trade ledger
 * (`sim.trades`), never from the implementation. Named *.repro.ts so `npm test` does not run it.
 *
 *   npm run build
 *   npx mocha --no-config --timeout 0 --exit --enable-source-maps dist/test/attack/runtime3.repro.js
 *   (one attack: add  --grep C1 )
 *
 * Results on attack3 (base 6851fb9):
 *  C1 FAIL key rotated / REST host changed in a full deploy with a 10 s close: the 3 fills made
 *     during the deploy never delivered (either consumer), status green; controls (WebSocket URL
 *     changed, nothing changed) pass.
 *  C2 FAIL writes failing (yellow "not saved"), then a deploy opening a new stream of the same
 *     owner: the 3 fills delivered meanwhile come again (recovered, no possibleDuplicate).
 *  C2b PASS one hung write, then such a deploy. C8 PASS recovery off while the last write is slow
 *     (lands after the clear), restart with it on. C9 PASS 418 ban, 2 500 live fills, restart.
 *  C3 FAIL store persist → memory, restart, → persist: ETHUSDT fills of the memory spell twice
 *     (5003, 5004; in one of two runs also BTCUSDT 5002, delivered before the restart).
 *  C4 FAIL modified-nodes deploy then at once a modified-flows deploy (8 s closes): the fills kept
 *     for the restarted consumer reach the other consumer but never the restarted one (C4, C4a,
 *     C4d); single deploys (C4b, C4c), flows-then-nodes (C4e) and 2 s between the deploys (C4f) pass.
 *  C5 PASS lying REST. C6 PASS. C7 inconclusive (the helper's spies keep every node).
 *
 * A restart of Node-RED inside this process is played as helper.unload() + forgetStoreOrder()
 * (what a new process starts with: no in-process copy of the last state) + helper.load().
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { capturedLogs, helper, nodeModules, rememberSecret, startRed, waitFor, type FlowNode } from '../support/red';
import { clearSinks, closeStarted, fastCloses, sunk, testNodes } from '../support/runtime-nodes';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { accountNode, credentialsFor, newAccount, waitConnected, type TestAccount } from '../nodes/flows';
import { forgetStoreOrder } from '../../nodes/red/context-store';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
interface StatusMsg {
  status: { fill?: string; shape?: string; text?: string };
}
const TAB1: FlowNode = { id: 'tab1', type: 'tab', label: 'trading' };
const TAB2: FlowNode = { id: 'tab2', type: 'tab', label: 'journal' };
const WARN = 30;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const trades = (id: string): Msg[] => (sunk(id) as Msg[]).filter((m) => m.payload && m.payload.executionType === 'TRADE');
const fillIds = (id: string, symbol?: string): number[] =>
  trades(id)
    .filter((m) => symbol === undefined || m.payload.symbol === symbol)
    .map((m) => Number(m.payload.tradeId));
const statusTexts = (id: string): string[] => (sunk(id) as unknown as StatusMsg[]).map((m) => `${m.status.fill}/${m.status.text}`);
const sorted = (xs: number[]): number[] => [...xs].sort((x, y) => x - y);

function report(expected: number[], got: number[]): string {
  const n = new Map<number, number>();
  for (const id of got) n.set(id, (n.get(id) ?? 0) + 1);
  const dup = [...n].filter(([, c]) => c > 1).map(([id, c]) => `${id}x${c}`);
  const miss = expected.filter((id) => !n.has(id));
  const extra = [...new Set(got.filter((id) => !expected.includes(id)))];
  const short = (xs: Array<number | string>): string => (xs.length > 14 ? `${xs.slice(0, 8).join(',')},…(${xs.length})…,${xs.slice(-3).join(',')}` : xs.join(','));
  return `expected ${expected.length} [${short(expected)}], got ${got.length}; missing ${miss.length} [${short(miss)}]; twice ${dup.length} [${short(dup)}]; unexpected ${extra.length} [${short(extra)}]`;
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
    quantity: market === 'usdm-futures' ? String(n) : (n / 1000).toFixed(3),
    price: '100',
    fills: Array.from({ length: n }, () => (market === 'usdm-futures' ? '1' : '0.001')),
  });
  return t.map((x) => x.tradeId);
}
const ledger = (sim: BinanceSimulator, a: TestAccount, symbol = 'BTCUSDT', market: SimMarket = 'spot'): number[] =>
  sim
    .trades(a.accountId, market, symbol)
    .map((t) => t.tradeId)
    .sort((x, y) => x - y);

const sink = (id: string, z = TAB1.id): FlowNode => ({ id, type: 'test-sink', z, wires: [] });
const ou = (id: string, account: string, out: string, name = '', z = TAB1.id): FlowNode => ({ id, type: 'binance-order-update', z, name, account, wires: [[out]] });
const statusNode = (id: string, scope: string, out: string, z = TAB1.id): FlowNode => ({ id, type: 'status', z, scope: [scope], wires: [[out]] });
const warningsSince = (from: number): string[] =>
  capturedLogs
    .slice(from)
    .filter((l) => l.level === WARN && (l.type ?? '').startsWith('binance-'))
    .map((l) => (typeof l.msg === 'string' ? l.msg : JSON.stringify(l.msg)));

/** A restart of Node-RED inside this process: flows stopped, nothing of the process kept. */
async function restartUnload(store?: PersistentStore): Promise<void> {
  fastCloses(true);
  await helper.unload();
  fastCloses(false);
  store?.processEnded();
  forgetStoreOrder();
}

interface Opts {
  account?: Record<string, unknown>;
  closeMs?: number;
  edit?: number;
  key?: TestAccount;
}

describe('attacks on issue 21, round 3 (Node-RED runtime with a persistent context store `persist`, simulator)', function () {
  this.timeout(400_000);
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
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    clearSinks();
  });

  /** Tab 1: account, order-update → out, status of ou → stOut, a slow-closing node; tab 2: another order-update → out2. */
  function flow(a: TestAccount, o: Opts = {}): FlowNode[] {
    const edit = o.edit ?? 0;
    return [
      TAB1,
      TAB2,
      accountNode(sim, a, o.account ?? {}),
      // ou's messages also go to a sink on tab 2 (not restarted by a modified-flows deploy of tab 1)
      { ...ou('ou', 'acct', 'out', edit ? `orders v${edit}` : ''), wires: [['out', 'outT2']] },
      sink('outT2', TAB2.id),
      statusNode('st', 'ou', 'stOut'),
      sink('out'),
      sink('stOut'),
      { id: 'ss', type: 'binance-stream-status', z: TAB1.id, name: '', account: 'acct', wires: [['ssOut']] },
      sink('ssOut'),
      { id: 'slow', type: 'test-slow-close', z: TAB1.id, name: edit ? `mqtt v${edit}` : 'mqtt', closeMs: o.closeMs ?? 0, wires: [] },
      ou('ou2', 'acct', 'out2', '', TAB2.id),
      sink('out2', TAB2.id),
    ];
  }
  const load = (a: TestAccount, o: Opts = {}): Promise<void> => helper.load([...nodeModules(), testNodes], flow(a, o), credentialsFor(a));
  const recoveries = (): Msg[] => (sunk('ssOut') as Msg[]).filter((m) => m.topic === 'recovery');

  // ------------------------------------------------------------------------------------------ C1
  for (const change of [
    'key rotated (new API key, same Binance account)',
    'REST host changed (127.0.0.1 → localhost, same exchange)',
    'control: WebSocket URL changed (same owner, new stream)',
    'control: nothing changed',
  ] as const) {
    it(`C1 (${change}): a full deploy that changes the account while another node takes 10 s to close; fills made during the deploy reach the flow once`, async function () {
      const a = newAccount(sim, 'spot');
      const props = { recoveryStore: 'persist' };
      await load(a, { account: props, closeMs: 10_000 });
      await waitConnected();
      const r0 = fills(sim, a, 2);
      await waitFor(() => fillIds('out').length === 2, 8000, 'the first live fills');
      await sleep(300);

      let next: TestAccount = a;
      let acct: Record<string, unknown> = props;
      if (change.startsWith('key')) {
        const k2 = sim.createKey(a.accountId, 'hmac');
        rememberSecret(k2.apiKey, k2.apiSecret);
        next = { ...a, key: k2 };
      } else if (change.startsWith('REST')) {
        acct = { ...props, restUrl: sim.restUrl.replace('127.0.0.1', 'localhost') };
      } else if (change.includes('WebSocket')) {
        acct = { ...props, wsUrl: sim.urlsFor('spot').wsUrl.replace('127.0.0.1', 'localhost') };
      }
      const closing = closeStarted('slow');
      const deploying = helper.setFlows(flow(next, { account: acct, closeMs: 10_000 }), 'full', credentialsFor(next));
      await closing;
      const during: number[] = [];
      for (let i = 0; i < 3; i++) {
        await sleep(1500);
        during.push(...fills(sim, a, 1));
      }
      await deploying;
      await waitConnected();
      await sleep(1500);
      const after = fills(sim, a, 1);
      const expected = [...r0, ...during, ...after];
      await quietly(() => expected.every((id) => fillIds('out').includes(id)), 15_000);
      await sleep(500);
      const st = statusTexts('stOut');
      console.log(`      C1 (${change}) during the deploy ${during}; out ${fillIds('out')}; out2 ${fillIds('out2')}; last status ${st.slice(-1)[0]}`);
      assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
      assert.deepEqual(sorted(fillIds('out')), expected, `C1 (${change}) out: ${report(expected, fillIds('out'))}; last status ${st.slice(-1)[0]}`);
      assert.deepEqual(sorted(fillIds('out2')), expected, `C1 (${change}) out2: ${report(expected, fillIds('out2'))}`);
    });
  }

  // ------------------------------------------------------------------------------------------ C2
  it('C2: writes of the state fail (status yellow), fills delivered, then a deploy that opens a new stream of the same owner (WebSocket URL 127.0.0.1 → localhost): the fills delivered while writes failed are not delivered again', async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist' };
    await load(a, { account: props });
    await waitConnected();
    const r0 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1, 8000, 'the first live fill');
    const savedCursor = (): unknown => (store.saved('binanceUserStreamRecovery') as { lastTradeIds?: Record<string, number> } | undefined)?.lastTradeIds?.BTCUSDT;
    await waitFor(() => savedCursor() === r0[0], 8000, 'the first fill saved');
    await sleep(300);
    store.add('write', { kind: 'fail', count: 1_000_000 });
    const failing = fills(sim, a, 3);
    await waitFor(() => fillIds('out').length === 4, 8000, 'the fills while writes fail');
    await quietly(() => statusTexts('stOut').slice(-1).some((s) => /not saved/.test(s)), 15_000);
    const shown = statusTexts('stOut').slice(-1)[0];

    const wsUrl = sim.urlsFor('spot').wsUrl.replace('127.0.0.1', 'localhost');
    const logFrom = capturedLogs.length;
    await helper.setFlows(flow(a, { account: { ...props, wsUrl } }), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(3000);
    store.clear();
    const after = fills(sim, a, 1);
    const expected = [...r0, ...failing, ...after];
    await quietly(() => fillIds('out').includes(after[0]), 10_000);
    await sleep(3000);
    console.log(`      C2 status while writes failed: ${shown}; out ${fillIds('out')}; recovered again: ${trades('out').filter((m) => m.recovered === true).map((m) => `${String(m.payload.tradeId)}${m.possibleDuplicate ? '(possibleDuplicate)' : ''}`)}; warnings ${JSON.stringify(warningsSince(logFrom).slice(0, 3))}`);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    assert.deepEqual(sorted(fillIds('out')), expected, `C2: ${report(expected, fillIds('out'))}`);
  });

  it('C2b: ONE write of the state hangs (the one after a fill), and a deploy opening a new stream of the same owner (WebSocket URL 127.0.0.1 → localhost) comes right after: that fill is not delivered again', async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist' };
    await load(a, { account: props });
    await waitConnected();
    const r0 = fills(sim, a, 2);
    await waitFor(() => fillIds('out').length === 2, 8000, 'the first live fills');
    await sleep(1000);
    store.add('write', { kind: 'hang', count: 1 });
    const x = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 3, 8000, 'fill x');
    await sleep(200);
    const wsUrl = sim.urlsFor('spot').wsUrl.replace('127.0.0.1', 'localhost');
    await helper.setFlows(flow(a, { account: { ...props, wsUrl } }), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(15_000);
    const after = fills(sim, a, 1);
    const expected = [...r0, ...x, ...after];
    await quietly(() => fillIds('out').includes(after[0]), 10_000);
    await sleep(2000);
    const hung = store.calls.filter((c) => c.op === 'write' && c.outcome === 'hang').length;
    console.log(`      C2b writes hung ${hung}; out ${trades('out').map((m) => `${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}${m.possibleDuplicate ? '?' : ''}`)}; statuses ${statusTexts('stOut').slice(-4).join(' → ')}`);
    assert.equal(hung, 1, 'setup: one write hung');
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    assert.deepEqual(sorted(fillIds('out')), expected, `C2b: ${report(expected, fillIds('out'))}`);
  });

  it('C8: recovery switched off by a deploy while the last write of the recovery-on stream is slow (lands 15 s later, after the store deadline and after the clear); fills while off; restart with recovery on: nothing delivered twice', async function () {
    const a = newAccount(sim, 'spot');
    const on = { recoveryStore: 'persist' };
    const off = { recoveryStore: 'persist', recovery: false };
    await load(a, { account: on });
    await waitConnected();
    const r0 = fills(sim, a, 2);
    await waitFor(() => fillIds('out').length === 2, 8000, 'the first live fills');
    await sleep(1000);
    store.add('write', { kind: 'slow', ms: 15_000, count: 1 });
    await helper.setFlows(flow(a, { account: off }), 'full', credentialsFor(a));
    await waitConnected();
    const whileOff = fills(sim, a, 3);
    await waitFor(() => fillIds('out').length === 5, 8000, 'fills while off');
    await sleep(20_000);
    const saved = store.saved('binanceUserStreamRecovery');
    const run1 = fillIds('out');
    await restartUnload(store);
    clearSinks();
    await load(a, { account: on });
    await waitConnected();
    const after = fills(sim, a, 1);
    await quietly(() => fillIds('out').includes(after[0]), 10_000);
    await sleep(1500);
    const all = [...run1, ...fillIds('out')];
    const expected = [...r0, ...whileOff, ...after];
    console.log(`      C8 store after the off spell: ${saved === undefined ? 'empty' : JSON.stringify(saved).slice(0, 120)}; writes ${store.calls.filter((c) => c.op === 'write').map((c) => c.outcome).join(',')}; run 2 ${trades('out').map((m) => `${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}`)}`);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    assert.deepEqual(sorted(all), expected, `C8: ${report(expected, all)}`);
  });

  it('C9: REST banned (418, Retry-After 20 s) through a failing gap recovery, 2 500 live fills, a restart while still banned with 3 fills made while stopped, 300 more live fills, then the ban ends: every fill once', async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist' };
    await load(a, { account: props });
    await waitConnected();
    const r0 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1, 8000, 'the first live fill');
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 418, code: -1003, msg: 'banned', retryAfterSec: 20, count: 1_000_000 });
    const recBefore = recoveries().length;
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    const gap = fills(sim, a, 2);
    await sleep(3000); // the gap recovery meets the ban (it may wait for it rather than end)
    const recDuringBan = recoveries().length - recBefore;
    const live1: number[] = [];
    for (let i = 0; i < 5; i++) {
      live1.push(...fills(sim, a, 500));
      await sleep(50);
    }
    await quietly(() => live1.every((id) => fillIds('out2').includes(id)), 120_000);
    await sleep(1000);
    const run1 = fillIds('out');
    const st1 = statusTexts('stOut').slice(-1)[0];
    await restartUnload(store);
    clearSinks();
    const stopped = fills(sim, a, 3);
    await load(a, { account: props });
    await waitConnected();
    const live2 = fills(sim, a, 300);
    await quietly(() => live2.every((id) => fillIds('out2').includes(id)), 60_000);
    const st2 = statusTexts('stOut').slice(-1)[0];
    sim.clearFaults();
    await sleep(21_000); // the ban's Retry-After has passed
    const rb = recoveries().length;
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await quietly(() => recoveries().slice(rb).some((r) => ((r.payload as { errors?: unknown[] }).errors ?? []).length === 0), 60_000);
    const after = fills(sim, a, 1);
    const expected = [...r0, ...gap, ...live1, ...stopped, ...live2, ...after];
    await quietly(() => expected.every((id) => fillIds('out').includes(id)), 20_000);
    await sleep(2000);
    const all = [...run1, ...fillIds('out')];
    console.log(`      C9 recovery messages in the first 3 s of the ban ${recDuringBan}; status during the ban before the restart: ${st1}; after: ${st2}; at the end ${statusTexts('stOut').slice(-1)[0]}; ${report(expected, all)}`);
    assert.deepEqual(ledger(sim, a), sorted(expected), 'setup: ledger');
    assert.deepEqual(sorted(all), sorted(expected), `C9: ${report(sorted(expected), all)}`);
  });

  // ------------------------------------------------------------------------------------------ C3
  it('C3: recovery store switched persist → memory (deploy), ETHUSDT fills, Node-RED restarted, switched back to persist (deploy), a reconnect: nothing of the memory spell is delivered again from the stale persisted state', async function () {
    const a = newAccount(sim, 'spot');
    const persist = { recoveryStore: 'persist' };
    const memory = { recoveryStore: '' };
    await load(a, { account: persist });
    await waitConnected();
    const e1 = fills(sim, a, 1, 'ETHUSDT');
    const b1 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 2, 8000, 'run 1 fills');
    await sleep(500);
    await helper.setFlows(flow(a, { account: memory }), 'full', credentialsFor(a));
    await waitConnected();
    const e2 = fills(sim, a, 2, 'ETHUSDT');
    await waitFor(() => fillIds('out').length === 4, 8000, 'memory spell fills');
    await sleep(500);
    const run1 = fillIds('out', 'ETHUSDT').map((x) => x);
    const run1B = fillIds('out', 'BTCUSDT');
    await restartUnload(store);
    clearSinks();
    await load(a, { account: memory });
    await waitConnected();
    const b2 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1, 8000, 'the live fill after the restart');
    await sleep(500);
    await helper.setFlows(flow(a, { account: persist }), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(1500);
    const recBefore = recoveries().length;
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    await quietly(() => recoveries().length > recBefore, 15_000);
    await sleep(2000);
    const b3 = fills(sim, a, 1);
    await quietly(() => fillIds('out').includes(b3[0]), 8000);
    await sleep(1000);
    const eth = [...run1, ...fillIds('out', 'ETHUSDT')];
    const btc = [...run1B, ...fillIds('out', 'BTCUSDT')];
    console.log(`      C3 ETHUSDT over both runs ${eth} (ledger ${ledger(sim, a, 'ETHUSDT')}); BTCUSDT ${btc}; run 2 recovered ${trades('out').filter((m) => m.recovered).map((m) => `${String(m.payload.symbol)}:${String(m.payload.tradeId)}`)}`);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), [...e1, ...e2], 'setup: ETH ledger');
    assert.deepEqual(sorted(eth), [...e1, ...e2], `C3 ETHUSDT: ${report([...e1, ...e2], eth)}`);
    assert.deepEqual(sorted(btc), [...b1, ...b2, ...b3], `C3 BTCUSDT: ${report([...b1, ...b2, ...b3], btc)}`);
  });

  // ------------------------------------------------------------------------------------------ C4
  for (const [name, withGap, kinds] of [
    ['C4', true, ['nodes', 'flows', 'full']],
    ['C4a (control: no gap recovery running)', false, ['nodes', 'flows', 'full']],
    ['C4b (only the modified-nodes deploy)', true, ['nodes']],
    ['C4c (only the modified-flows deploy)', true, ['flows']],
    ['C4d (modified nodes then modified flows, no gap)', false, ['nodes', 'flows']],
    ['C4e (modified flows then modified nodes, no gap)', false, ['flows', 'nodes']],
    ['C4f (as C4d, 2 s between the deploys)', false, ['nodes', 'flows']],
  ] as const) {
  it(`${name}: deploys in a row (${kinds.join(', ')}), each with an 8 s close elsewhere, ${withGap ? 'while a slow gap recovery (REST 6 s) runs' : 'no gap'}; fills throughout: every fill once at both consumers`, async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist' };
    await load(a, { account: props, closeMs: 8000 });
    await waitConnected();
    const r0 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1 && fillIds('out2').length === 1, 8000, 'the first fill');
    const gap: number[] = [];
    if (withGap) {
      sim.delayNext({ path: '/api/v3/myTrades', ms: 6000, count: 3 });
      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
      gap.push(...fills(sim, a, 3));
    }
    await sleep(200);
    const during: number[] = [];
    const t0 = Date.now();
    const timeline: string[] = [];
    const mark = (what: string): void => {
      timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what} out=${fillIds('out').slice(-1)[0] ?? '-'}/${fillIds('out').length} out2=${fillIds('out2').slice(-1)[0] ?? '-'}/${fillIds('out2').length}`);
    };
    const RED = (helper as unknown as { _RED: { events: { on(e: string, f: (...a: unknown[]) => void): void; removeListener(e: string, f: (...a: unknown[]) => void): void } } })._RED;
    const away = (): string => {
      const st = (helper.getNode('acct') as unknown as { getStream?: () => { consumersAway?: number } } | null)?.getStream?.();
      return String(st?.consumersAway);
    };
    const onPhase = (what: string) => (): void => mark(`${what} (consumers away ${away()})`);
    const phases: Array<[string, (...a: unknown[]) => void]> = [
      ['flows:stopping', onPhase('flows:stopping')],
      ['flows:stopped', onPhase('flows:stopped')],
      ['flows:started', onPhase('flows:started')],
    ];
    if (name.startsWith('C4d')) {
      for (const [e, f] of phases) RED.events.on(e, f);
      const acctNode = helper.getNode('acct') as unknown as Record<string, (...a: unknown[]) => unknown>;
      for (const m of ['register', 'deregister'] as const) {
        const orig = acctNode[m];
        acctNode[m] = function (this: unknown, ...args: unknown[]): unknown {
          const u = args[0] as { id: string; name?: string };
          const r = orig.apply(this, args);
          mark(`${m}(${u.id}${u.name ? ` "${u.name}"` : ''}${m === 'deregister' ? `, removed=${String(args[2])}` : ''}) → consumers away ${away()}`);
          return r;
        };
      }
    }
    let lastAway = '';
    const poll = setInterval(() => {
      const w = away();
      if (w !== lastAway && name.startsWith('C4d')) mark(`consumers away now ${w}`);
      lastAway = w;
    }, 20);
    for (let i = 0; i < kinds.length; i++) {
      mark(`deploy ${kinds[i]} asked`);
      const closing = closeStarted('slow');
      const deploying = helper.setFlows(flow(a, { account: props, closeMs: 8000, edit: i + 1 }), kinds[i], credentialsFor(a));
      await closing;
      for (let j = 0; j < 3; j++) {
        during.push(...fills(sim, a, 1));
        await sleep(700);
        mark(`fill ${during[during.length - 1]} made 700 ms ago`);
      }
      await deploying;
      mark(`deploy ${kinds[i]} started`);
      during.push(...fills(sim, a, 1));
      mark(`fill ${during[during.length - 1]} made`);
      if (name.startsWith('C4f')) {
        await sleep(2000);
        mark('2 s later');
      }
    }
    await waitConnected();
    const after = fills(sim, a, 1);
    const expected = [...r0, ...gap, ...during, ...after];
    await quietly(() => expected.every((id) => fillIds('out').includes(id) && fillIds('out2').includes(id)), 30_000);
    await sleep(1000);
    const st = statusTexts('stOut');
    mark('end');
    clearInterval(poll);
    for (const [e, f] of phases) RED.events.removeListener(e, f);
    console.log(`      ${name} timeline:\n        ${timeline.join('\n        ')}`);
    console.log(`      ${name} out ${fillIds('out')}; ou's copy on tab 2 ${fillIds('outT2')}; out2 ${trades('out2').map((m) => `${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}`)}; statuses of ou ${st.slice(-6).join(' → ')}`);
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    assert.deepEqual(sorted(fillIds('out')), expected, `${name} out: ${report(expected, fillIds('out'))}`);
    assert.deepEqual(sorted(fillIds('out2')), expected, `${name} out2: ${report(expected, fillIds('out2'))}`);
    assert.deepEqual(fillIds('out'), expected, `${name}: not in exchange order at out`);
  });
  }

  // ------------------------------------------------------------------------------------------ C5
  it('C5: a REST that lies (myTrades by id answers from 5 ids before fromId; by time ignores startTime): at a first start, nothing from before the flow began, each gap fill once', async function () {
    const target = new URL(sim.restUrl);
    let lied = 0;
    let secret = '';
    const proxy = http.createServer((req, res) => {
      let path = req.url ?? '/';
      if (path.startsWith('/api/v3/myTrades') && secret) {
        const [pathname, query = ''] = path.split('?');
        const params = new URLSearchParams(query);
        params.delete('signature');
        const fromId = params.get('fromId');
        if (fromId !== null && Number(fromId) > 5) {
          params.set('fromId', String(Number(fromId) - 5));
          lied++;
        }
        if (params.has('startTime')) {
          params.delete('startTime');
          params.delete('endTime');
          lied++;
        }
        // signed again with the account's secret (the proxy plays the exchange's REST)
        const q = params.toString();
        path = `${pathname}?${q}&signature=${crypto.createHmac('sha256', secret).update(q).digest('hex')}`;
      }
      const up = http.request({ host: target.hostname, port: target.port, path, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 500, ur.headers);
        ur.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (proxy.address() as { port: number }).port;
      const a = newAccount(sim, 'spot');
      secret = a.key.apiSecret ?? '';
      // fills made before the flow ever started (not ours at a first start)
      const preB = fills(sim, a, 3);
      const preE = fills(sim, a, 2, 'ETHUSDT');
      await sleep(1500);
      await load(a, { account: { restUrl: `http://127.0.0.1:${port}`, recoverySymbols: 'ETHUSDT' } });
      await waitConnected();
      const r0 = fills(sim, a, 1);
      await waitFor(() => fillIds('out').length === 1, 8000, 'the first live fill');
      const recBefore = recoveries().length;
      assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
      const gapB = fills(sim, a, 2);
      const gapE = fills(sim, a, 2, 'ETHUSDT');
      await quietly(() => recoveries().length > recBefore, 15_000);
      await sleep(1500);
      const r1 = fills(sim, a, 1);
      await quietly(() => fillIds('out').includes(r1[0]), 8000);
      await sleep(1000);
      const rec = recoveries().slice(recBefore).map((m) => JSON.stringify((m.payload as { errors?: unknown }).errors ?? []));
      console.log(`      C5 lies ${lied}; BTC ${fillIds('out', 'BTCUSDT')} (before start ${preB}); ETH ${fillIds('out', 'ETHUSDT')} (before start ${preE}); recovery errors ${rec}`);
      const expB = [...r0, ...gapB, ...r1];
      assert.ok(lied > 0, 'setup: no query was rewritten');
      assert.deepEqual(sorted(fillIds('out', 'BTCUSDT')), expB, `C5 BTCUSDT: ${report(expB, fillIds('out', 'BTCUSDT'))}`);
      assert.deepEqual(sorted(fillIds('out', 'ETHUSDT')), gapE, `C5 ETHUSDT: ${report(gapE, fillIds('out', 'ETHUSDT'))}`);
    } finally {
      fastCloses(true);
      await helper.unload();
      fastCloses(false);
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

// ============================================================================================
// Node-RED as shipped: no contextStorage in settings (the default memory context, deleted when a
// node closes). Memory per deploy (run with node --expose-gc).

describe('attacks on issue 21, round 3 (Node-RED runtime, default memory context, no contextStorage)', function () {
  this.timeout(900_000);
  let sim: BinanceSimulator;
  before(async function () {
    await startRed();
    sim = await Simulator.start();
  });
  after(async function () {
    await sim.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    sim.clearFaults();
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    clearSinks();
  });

  it('C6: recovery switched off (deploy), fills, on again (deploy), a reconnect: gap fills once; then the account node deleted and re-added with the same id, a live fill, a reconnect: gap fills once, nothing earlier again', async function () {
    const a = newAccount(sim, 'spot');
    const f = (acct: Record<string, unknown> | undefined): FlowNode[] => [TAB1, ...(acct ? [accountNode(sim, a, acct)] : []), ou('ou', 'acct', 'out'), sink('out'), statusNode('st', 'ou', 'stOut'), sink('stOut')];
    await helper.load([...nodeModules(), testNodes], f({}), credentialsFor(a));
    await waitConnected();
    const r0 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1, 8000, 'first');
    await helper.setFlows(f({ recovery: false }), 'full', credentialsFor(a));
    await waitConnected();
    const off = fills(sim, a, 2);
    await waitFor(() => fillIds('out').length === 3, 8000, 'fills while off');
    await helper.setFlows(f({}), 'full', credentialsFor(a));
    await waitConnected();
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    const gap = fills(sim, a, 2);
    await sleep(5000);
    const r1 = fills(sim, a, 1);
    const exp1 = [...r0, ...off, ...gap, ...r1];
    await quietly(() => exp1.every((id) => fillIds('out').includes(id)), 10_000);
    // deleted (the data node stays, without account), then re-added with the same id
    await helper.setFlows(f(undefined), 'full', {});
    await sleep(500);
    const gone = fills(sim, a, 1);
    await sleep(500);
    await helper.setFlows(f({}), 'full', credentialsFor(a));
    await waitConnected();
    // BTCUSDT seen by the new stream (a symbol never seen is documented as not recovered)
    const seen = fills(sim, a, 1);
    await quietly(() => fillIds('out').includes(seen[0]), 8000);
    assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
    const gap2 = [...seen, ...fills(sim, a, 2)];
    await sleep(5000);
    const r2 = fills(sim, a, 1);
    const expected = [...exp1, ...gap2, ...r2];
    await quietly(() => expected.every((id) => fillIds('out').includes(id)), 10_000);
    await sleep(500);
    const got = fillIds('out').filter((id) => !gone.includes(id));
    console.log(`      C6 out ${fillIds('out')} (made while deleted: ${gone}); last status ${statusTexts('stOut').slice(-1)[0]}`);
    assert.deepEqual(sorted(got), expected, `C6: ${report(expected, got)}`);
  });

  it('C7: memory over 150 full deploys (unchanged, key change, account deleted and re-added under a new id): closed account nodes are freed, heap does not grow per deploy', async function () {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) this.skip();
    const a = newAccount(sim, 'spot');
    const keys: TestAccount[] = [a];
    for (let i = 0; i < 3; i++) {
      const k = sim.createKey(a.accountId, 'hmac');
      rememberSecret(k.apiKey, k.apiSecret);
      keys.push({ ...a, key: k });
    }
    const f = (id: string, x: TestAccount): FlowNode[] => [TAB1, { ...accountNode(sim, x), id }, ou('ou', id, 'out'), sink('out')];
    let id = 'acct';
    let cur = a;
    await helper.load([...nodeModules(), testNodes], f(id, cur), credentialsFor(cur, id));
    await waitConnected(id);
    const refs: Array<WeakRef<object>> = [];
    const RED = (helper as unknown as { _RED: { events: { listenerCount(e: string): number } } })._RED;
    const heap = (): number => {
      gc!();
      gc!();
      return process.memoryUsage().heapUsed;
    };
    const samples: Array<[number, number, number]> = [];
    const N = 150;
    let delivered = 0;
    for (let i = 1; i <= N; i++) {
      const n0 = helper.getNode(id);
      if (n0) refs.push(new WeakRef(n0));
      const kind = i % 3;
      if (kind === 1) cur = keys[i % keys.length];
      else if (kind === 2) id = `acct${i}`;
      await helper.setFlows(f(id, cur), 'full', credentialsFor(cur, id));
      await waitConnected(id);
      if (i % 10 === 0) {
        const t = fills(sim, a, 1);
        await quietly(() => fillIds('out').includes(t[0]), 8000);
        if (fillIds('out').includes(t[0])) delivered++;
      }
      if (i === 30 || i % 30 === 0) {
        await sleep(300);
        samples.push([i, heap(), RED.events.listenerCount('flows:started')]);
      }
    }
    await sleep(12_000); // every grace and fallback timer has run out
    const end = heap();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    console.log(`      C7 heap after gc (deploy, MB, flows:started listeners): ${samples.map(([i, h, l]) => `${i}: ${(h / 1e6).toFixed(1)} / ${l}`).join('; ')}; end ${(end / 1e6).toFixed(1)} MB; closed account nodes still reachable ${alive}/${refs.length}; probe fills delivered ${delivered}/${N / 10}`);
    assert.equal(delivered, N / 10, 'C7: a probe fill was not delivered');
    // not asserted: node-red-node-test-helper's sinon spies on the Node prototype keep every node that
    // ever sent or set a status (C7-control: 150/150 plain test-sink nodes stay reachable too)
    const perDeploy = (samples[samples.length - 1][1] - samples[0][1]) / (samples[samples.length - 1][0] - samples[0][0]);
    console.log(`      C7 heap growth per deploy ${(perDeploy / 1e3).toFixed(1)} kB`);
  });

  it('C7-control: the same 150 full deploys of a flow without our nodes (a test-sink node, its id changed every third deploy): how many closed nodes Node-RED and the helper keep', async function () {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) this.skip();
    const f = (id: string, v: number): FlowNode[] => [TAB1, { id, type: 'test-sink', z: TAB1.id, name: `v${v}`, wires: [] }];
    let id = 'x';
    let h30 = 0;
    await helper.load([...nodeModules(), testNodes], f(id, 0), {});
    const refs: Array<WeakRef<object>> = [];
    for (let i = 1; i <= 150; i++) {
      const n0 = helper.getNode(id);
      if (n0) refs.push(new WeakRef(n0));
      if (i % 3 === 2) id = `x${i}`;
      await helper.setFlows(f(id, i % 3 === 1 ? i : 0), 'full', {});
      if (i === 30) {
        gc();
        gc();
        h30 = process.memoryUsage().heapUsed;
      }
    }
    await sleep(2000);
    gc();
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    console.log(`      C7-control closed test-sink nodes still reachable ${alive}/${refs.length}; heap growth per deploy (30→150) ${((process.memoryUsage().heapUsed - h30) / 120 / 1e3).toFixed(1)} kB`);
  });
});
