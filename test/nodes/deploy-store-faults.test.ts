/**
 * The state store failing, then a deploy that opens a new stream for the same account node (attack
 * on issue 21, round 3, C2): the new stream starts from the state this process wrote last, not from
 * the older one the store still holds, so fills delivered while the writes failed do not come again.
 * Runs in the Node-RED runtime with a persistent context store double (`persist`) and the simulator.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { capturedLogs, helper, nodeModules, startRed, waitFor, type FlowNode } from '../support/red';
import { clearSinks, fastCloses, sunk, testNodes } from '../support/runtime-nodes';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { accountNode, credentialsFor, newAccount, waitConnected, type TestAccount } from '../nodes/flows';

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

interface Opts {
  account?: Record<string, unknown>;
  closeMs?: number;
  edit?: number;
  key?: TestAccount;
}

describe('state store faults, then a deploy opening a new stream (Node-RED runtime, persistent context store, simulator)', function () {
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

  // ------------------------------------------------------------------------------------------ C2
  it('C2: writes of the state fail (status yellow), fills delivered, then a deploy that opens a new stream of the same owner (WebSocket URL 127.0.0.1 → localhost): the fills delivered while writes failed are not delivered again', async function () {
    const a = newAccount(sim, 'spot');
    const props = { recoveryStore: 'persist' };
    await load(a, { account: props });
    await waitConnected();
    const r0 = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 1, 30_000, 'the first live fill');
    const savedCursor = (): unknown => (store.saved('binanceUserStreamRecovery') as { lastTradeIds?: Record<string, number> } | undefined)?.lastTradeIds?.BTCUSDT;
    await waitFor(() => savedCursor() === r0[0], 30_000, 'the first fill saved');
    await sleep(300);
    store.add('write', { kind: 'fail', count: 1_000_000 });
    const failing = fills(sim, a, 3);
    await waitFor(() => fillIds('out').length === 4, 30_000, 'the fills while writes fail');
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
    await quietly(() => fillIds('out').includes(after[0]), 30_000);
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
    await waitFor(() => fillIds('out').length === 2, 30_000, 'the first live fills');
    await sleep(1000);
    store.add('write', { kind: 'hang', count: 1 });
    const x = fills(sim, a, 1);
    await waitFor(() => fillIds('out').length === 3, 30_000, 'fill x');
    await sleep(200);
    const wsUrl = sim.urlsFor('spot').wsUrl.replace('127.0.0.1', 'localhost');
    await helper.setFlows(flow(a, { account: { ...props, wsUrl } }), 'full', credentialsFor(a));
    await waitConnected();
    await sleep(15_000);
    const after = fills(sim, a, 1);
    const expected = [...r0, ...x, ...after];
    await quietly(() => fillIds('out').includes(after[0]), 30_000);
    await sleep(2000);
    const hung = store.calls.filter((c) => c.op === 'write' && c.outcome === 'hang').length;
    console.log(`      C2b writes hung ${hung}; out ${trades('out').map((m) => `${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}${m.possibleDuplicate ? '?' : ''}`)}; statuses ${statusTexts('stOut').slice(-4).join(' → ')}`);
    assert.equal(hung, 1, 'setup: one write hung');
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    assert.deepEqual(sorted(fillIds('out')), expected, `C2b: ${report(expected, fillIds('out'))}`);
  });
});
