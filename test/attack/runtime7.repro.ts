/**
 * Seventh round of attacks on issue 21 (attack helper H-A7, base main c6515d5), through the
 * Node-RED runtime (node-red-node-test-helper, our nodes from dist/) against the simulator over
 * loopback. It attacks the last changes:
 *   O*  c6515d5 gap-recovery.ts `openOwed`: a retry reads a book's open orders again only where the
 *       earlier read failed;
 *   L*  1db7467 + 7240f62 delivery.ts `trustNew && !isLate`, `firstSeenLive` / `listedLate`: a symbol
 *       first seen live after a gap is not live-safe until its follow-up asked it by time;
 *   P*  c6515d5 portfolio margin gets that follow-up too (three books, one weight budget).
 * Expected deliveries come from the simulator's ledger (`sim.trades`, the orders it holds) and the
 * flow's wiring, never from the implementation. Named *.repro.ts so `npm test` does not run it.
 *
 *   npm run build
 *   npx mocha --no-config --timeout 0 --exit --enable-source-maps dist/test/attack/runtime7.repro.js
 *   (one attack: add  --grep O1 )
 *
 * Results on attack7 (base c6515d5; figures are exchange trade ids / order ids; "old" = the same
 * attack with c6515d5^'s gap-recovery.ts, rebuilt with tsc):
 *  O1  FAIL spot order seen open, cancelled in a gap; GET /api/v3/order 503 x1 + myTrades 503 x1: the
 *      30 s retry fetches the fill but reads no open orders (that read had succeeded), so the failed
 *      final-state look-up is not redone: CANCELED missing, status connected; it comes only with the
 *      NEXT reconnect. PASSES on old (the retry re-read open orders, looked the order up).
 *  A2  FAIL the same on USD-M for an algo order (GET /fapi/v1/algoOrder 503): CANCELED missing. PASSES on old.
 *  O4  FAIL an ETHUSDT order placed + half filled in a reconnect gap (not the first recovery: open
 *      orders read per known symbol), still open; ETH first seen live on another order: the follow-up
 *      brings the gap fill but reads no open orders: the open order's PARTIALLY_FILLED state never
 *      comes, it is not tracked, and its cancel in a later gap is never reported. PASSES on old.
 *  O2  FAIL (pre-existing, same on old) open-orders read 503 x1 alone: no retry (only failed fills
 *      make a recovery incomplete); a half-filled open ETH order made in the gap: fill lost, connected.
 *  O5  FAIL (pre-existing, path untouched by c6515d5) the same without any fault: a reconnect recovery
 *      reads open orders per known symbol, so an open order on a new symbol is not found: fill lost.
 *  O3  PASS open-orders read failing half way (BTC slow, ETH 503) + a fills failure: the retry reads again.
 *  A1  PASS USD-M openAlgoOrders 503 + fills 503: the retry reads algo orders only; CANCELED once.
 *  A3  PASS USD-M symbol first seen on an ALGO_UPDATE, then triggered: gap fill + trigger fill once.
 *  L1  PASS 10 live fills of a new symbol while its follow-up fails (503 x2): each once.
 *  L2 / L2k / L2m PASS restart (clean / no write landing / memory store, documented first start)
 *      while the follow-up fails.   L3 PASS a second reconnect while the follow-up fails.
 *  L4  PASS same-identity full deploy while the follow-up fails.   L5 PASS two account nodes, one stream.
 *  P1  PASS PM: ETHUSDT in UM and margin books, each first seen live: each gap fill once, margin
 *      open orders read once.   P2 PASS PM UM open orders + UM trades 503: only UM re-read, green 30 s.
 *  P3  PASS PM CM symbol.   P4 PASS PM three reconnects 4 s apart with new symbols: green at once.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { BinanceSimulator as Simulator } from '../../simulator/index';
import { helper, nodeModules, rememberSecret, startRed, waitFor, type FlowNode } from '../support/red';
import { clearSinks, fastCloses, sunk, testNodes } from '../support/runtime-nodes';
import { PersistentStore, usePersistentStore } from '../support/persistent-store';
import { accountNode, credentialsFor, newAccount, waitConnected, type TestAccount } from '../nodes/flows';
import { isAccountHandle } from '../../nodes/red/account-contract';
import type { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import type { RecoveryReport } from '../../nodes/lib/stream/reliable-types';
import { forgetStoreOrder } from '../../nodes/red/context-store';
import { forgetSharedBudgets } from '../../nodes/lib/exchange/weight-budget';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
const TAB1: FlowNode = { id: 'tab1', type: 'tab', label: 'trading' };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const trades = (id: string, symbol?: string): Msg[] =>
  (sunk(id) as Msg[]).filter(
    (m) => m.payload && (m.payload.executionType === 'TRADE' || (m.recovered === true && m.payload.tradeId !== undefined)) && (symbol === undefined || m.payload.symbol === symbol),
  );
const fillIds = (id: string, symbol?: string): number[] => trades(id, symbol).map((m) => Number(m.payload.tradeId));
/** Order states / executions of one order that are not fills: `STATUS` or `STATUSr` (recovered). */
const statesOf = (id: string, orderId: number): string[] =>
  (sunk(id) as Msg[])
    .filter((m) => m.payload && Number(m.payload.orderId) === orderId && m.payload.executionType !== 'TRADE' && !(m.recovered === true && Number(m.payload.tradeId) > 0))
    .map((m) => `${String(m.payload.orderStatus ?? m.payload.algoStatus ?? m.payload.status)}${m.recovered ? 'r' : ''}`);
/** States of one algo order (ALGO_UPDATE payloads): `STATUS` or `STATUSr` (recovered). */
const algoStatesOf = (id: string, algoId: number): string[] =>
  (sunk(id) as Msg[]).filter((m) => m.payload && Number(m.payload.algoId) === algoId).map((m) => `${String(m.payload.algoStatus)}${m.recovered ? 'r' : ''}`);
const sorted = (xs: number[]): number[] => [...xs].sort((x, y) => x - y);
const same = (a: number[], b: number[]): boolean => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const tag = (ms: Msg[]): string => ms.map((m) => `${String(m.payload.symbol).slice(0, 3)}${String(m.payload.tradeId)}${m.recovered ? 'r' : ''}`).join(' ');

function report(expected: number[], got: number[]): string {
  const n = new Map<number, number>();
  for (const id of got) n.set(id, (n.get(id) ?? 0) + 1);
  const dup = [...n].filter(([, c]) => c > 1).map(([id, c]) => `${id}x${c}`);
  const miss = expected.filter((id) => !n.has(id));
  return `expected [${sorted(expected).join(',')}], got [${sorted(got).join(',')}]; missing [${miss.join(',')}]; twice [${dup.join(',')}]`;
}
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
function fills(sim: BinanceSimulator, a: TestAccount, n: number, symbol = 'BTCUSDT', market: SimMarket = 'spot', side: 'BUY' | 'SELL' = 'BUY'): number[] {
  const { trades: t } = sim.runOrderLifecycle(a.accountId, {
    market,
    symbol,
    side,
    quantity: (n / 1000).toFixed(3),
    price: symbol.startsWith('BTC') ? '100' : '50',
    fills: Array.from({ length: n }, () => '0.001'),
  });
  return t.map((x) => x.tradeId);
}
const ledger = (sim: BinanceSimulator, a: TestAccount, symbol = 'BTCUSDT', market: SimMarket = 'spot'): number[] =>
  sim
    .trades(a.accountId, market, symbol)
    .map((t) => t.tradeId)
    .sort((x, y) => x - y);

const sink = (id: string, z = TAB1.id): FlowNode => ({ id, type: 'test-sink', z, name: '', x: 300, y: 100, wires: [] });
const ou = (id: string, wires: string[], z = TAB1.id, account = 'acct'): FlowNode => ({ id, type: 'binance-order-update', z, name: '', account, x: 100, y: 100, wires: [wires] });

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
function pmAccount(sim: BinanceSimulator): TestAccount {
  const { id } = sim.createAccount({ balances: { USDT: '100000', BTC: '10' }, futuresBalances: { USDT: '100000', BTC: '10' } });
  sim.deposit(id, 'margin', 'USDT', '50000');
  sim.deposit(id, 'margin', 'BTC', '5');
  sim.deposit(id, 'margin', 'ETH', '50');
  const key = sim.createKey(id, 'hmac');
  rememberSecret(key.apiKey, key.apiSecret);
  return { accountId: id, key, market: 'margin' };
}
const pmNode = (sim: BinanceSimulator, a: TestAccount, extra: Record<string, unknown> = {}): FlowNode => ({
  ...accountNode(sim, a),
  market: 'portfolio-margin',
  wsUrl: sim.urlsFor('portfolio-margin').wsUrl,
  ...extra,
});

describe('attacks on issue 21, round 7 (H-A7: openOwed, first seen live, portfolio-margin follow-up)', function () {
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
  beforeEach(function () {
    forgetSharedBudgets();
  });
  afterEach(async function () {
    sim.clearFaults();
    store.clear();
    fastCloses(true);
    await helper.unload();
    fastCloses(false);
    clearSinks();
    store.processEnded();
    forgetStoreOrder();
  });

  const load = (a: TestAccount, flow: FlowNode[], creds = credentialsFor(a)): Promise<void> => helper.load([...nodeModules(), testNodes], flow, creds);

  function watchRecoveries(id = 'acct'): string[] {
    const out: string[] = [];
    const t0 = Date.now();
    streamOf(id).on('recovery', (r: RecoveryReport) => {
      if (r.phase !== 'finished') return;
      const s = r.stats;
      out.push(`+${((Date.now() - t0) / 1000).toFixed(1)}s ${r.gap.reason} sym=${s?.symbols.join('/') ?? '?'} fills=${s?.fills ?? '?'} states=${s?.orderStates ?? '?'} req=${s?.requests ?? '?'} err=${s?.errors.length ?? '?'}`);
    });
    return out;
  }
  const requestsSince = (t: number, path: string): number => sim.requests.filter((r) => r.kind === 'rest' && r.at >= t && r.path === path).length;
  const dropped = (a: TestAccount): void => assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1, 'setup: dropped');

  // ====================================================================== O: openOwed (c6515d5)
  it('O1: an order seen open live is cancelled in a gap; the reconnect recovery reads open orders fine but its final-state look-up (GET /api/v3/order) and the fills query fail once (503): the retry must look the order up again', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const o = sim.placeOrder(a.accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.01', price: '90' });
    const orderId = (o as { orderId: number }).orderId;
    await waitFor(() => statesOf('s1', orderId).length > 0, 8000, 'the NEW order live');
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    sim.failNext({ path: '/api/v3/order', httpStatus: 503, count: 1 });
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1 });
    dropped(a);
    sim.cancelOrder(orderId);
    const b1 = fills(sim, a, 1);
    await quietly(() => rec.length >= 2 && fillIds('s1').includes(b1[0]), 60_000);
    await sleep(2000);
    const lookups = sim.requests.filter((r) => r.kind === 'rest' && r.path === '/api/v3/order').map((r) => r.status).join(',');
    const expected = [...b0, ...b1];
    assert.deepEqual(ledger(sim, a), expected, 'setup: ledger');
    const st = statesOf('s1', orderId);
    const shownThen = shown();
    // (figures only) does a later reconnect bring it?
    const n = rec.length;
    dropped(a);
    await quietly(() => rec.length > n && shown() === 'connected', 20_000);
    await sleep(1000);
    const later = statesOf('s1', orderId).join(' ');
    verdict(
      'O1',
      same(fillIds('s1'), expected) && st.some((s) => s.startsWith('CANCELED')),
      `order ${orderId} states ${st.join(' ')} (exchange: ${String(sim.getOrder(orderId)?.status)}); GET /api/v3/order answers [${lookups}]; fills ${report(expected, fillIds('s1'))}; status before the later reconnect ${shownThen}; states after a later reconnect [${later}]; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('O2: in a gap an order on a new symbol (ETHUSDT) is placed and half filled, still open; the reconnect recovery\'s open-orders read answers 503 once, then 200: its fill and state come, or the status says what is missing', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    sim.failNext({ path: '/api/v3/openOrders', httpStatus: 503, count: 1 });
    dropped(a);
    const o = sim.placeOrder(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '50' });
    const orderId = (o as { orderId: number }).orderId;
    const e1 = [sim.fillOrder(orderId, { quantity: '0.001' }).tradeId];
    await quietly(() => fillIds('s1', 'ETHUSDT').length > 0, 45_000);
    await sleep(2000);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup: ledger');
    const st = statesOf('s1', orderId);
    const last = shown();
    verdict(
      'O2',
      same(fillIds('s1', 'ETHUSDT'), e1) || last !== 'connected',
      `ETH ${report(e1, fillIds('s1', 'ETHUSDT'))}; order ${orderId} states [${st.join(' ')}] (exchange ${String(sim.getOrder(orderId)?.status)}); openOrders answers [${sim.requests.filter((r) => r.kind === 'rest' && r.path === '/api/v3/openOrders').map((r) => r.status).join(',')}]; recoveries ${rec.join(' | ')}; 45 s later: ${last}`,
    );
  });

  it('O5: in a reconnect gap (not the first recovery: open orders read per known symbol) an order on a new symbol (ETHUSDT) is placed and half filled, and stays open with no later event: "symbols that have an open order at recovery time" are queried, its fill comes', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    await waitFor(() => rec.length >= 1, 20_000, 'a first reconnect recovery');
    await waitConnected();
    const t0 = Date.now();
    dropped(a);
    const o = sim.placeOrder(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '50' });
    const orderId = (o as { orderId: number }).orderId;
    const e0 = [sim.fillOrder(orderId, { quantity: '0.001' }).tradeId];
    await waitFor(() => rec.length >= 2, 20_000, 'the second reconnect recovery');
    await quietly(() => fillIds('s1', 'ETHUSDT').length > 0, 40_000);
    await sleep(1000);
    const reads = sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === '/api/v3/openOrders').map((r) => `${(r as { params?: Record<string, string> }).params?.symbol ?? 'all'}:${r.status}`).join(',');
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e0, 'setup: ledger');
    verdict(
      'O5',
      same(fillIds('s1', 'ETHUSDT'), e0) || shown() !== 'connected',
      `ETH ${report(e0, fillIds('s1', 'ETHUSDT'))}; order ${orderId} states [${statesOf('s1', orderId).join(' ')}] (exchange ${String(sim.getOrder(orderId)?.status)}); openOrders reads since the drop ${reads}; recoveries ${rec.join(' | ')}; 40 s later: ${shown()}`,
    );
  });

  it('O3: the open-orders read fails half way through its per-symbol loop (BTCUSDT answered slowly, ETHUSDT 503) and the fills query fails once: the retry reads open orders again; an order seen open on ETHUSDT and filled in the gap gets its final state, fills once', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT ETHUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const o = sim.placeOrder(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '50' });
    const orderId = (o as { orderId: number }).orderId;
    await waitFor(() => statesOf('s1', orderId).length > 0, 8000, 'the NEW order live');
    const b0 = fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    // the reconnect recovery (not the first: a first reads every open order at once) reads per symbol
    dropped(a);
    await waitFor(() => rec.length >= 1, 20_000, 'a first reconnect recovery');
    await waitConnected();
    sim.delayNext({ path: '/api/v3/openOrders', ms: 1500 });
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1 });
    const t0 = Date.now();
    dropped(a);
    const e1 = [sim.fillOrder(orderId, { quantity: '0.002' }).tradeId];
    await waitFor(() => requestsSince(t0, '/api/v3/openOrders') >= 1, 20_000, 'the first open-orders read');
    sim.failNext({ path: '/api/v3/openOrders', httpStatus: 503, count: 1 });
    await quietly(() => rec.length >= 3 && fillIds('s1', 'ETHUSDT').includes(e1[0]), 60_000);
    await sleep(2000);
    const st = statesOf('s1', orderId);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), e1, 'setup: ledger');
    verdict(
      'O3',
      same(fillIds('s1', 'ETHUSDT'), e1) && same(fillIds('s1', 'BTCUSDT'), b0) && st.some((s) => s.startsWith('FILLED')),
      `order ${orderId} states ${st.join(' ')}; ETH ${report(e1, fillIds('s1', 'ETHUSDT'))}; openOrders answers since the 2nd drop [${sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === '/api/v3/openOrders').map((r) => r.status).join(',')}]; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('O4: an order on a new symbol (ETHUSDT) placed and half filled in a gap (not the first recovery: open orders read per symbol), still open; ETH first seen live on another order: the follow-up brings the gap fill and the open order\'s state; the order is cancelled in a later gap: its final state comes', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    await waitFor(() => rec.length >= 1, 20_000, 'a first reconnect recovery');
    await waitConnected();
    const t0 = Date.now();
    dropped(a);
    const o = sim.placeOrder(a.accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.002', price: '50' });
    const orderId = (o as { orderId: number }).orderId;
    const e0 = [sim.fillOrder(orderId, { quantity: '0.001' }).tradeId];
    await waitFor(() => rec.length >= 2, 20_000, 'the second reconnect recovery');
    await waitConnected();
    const e1 = fills(sim, a, 1, 'ETHUSDT', 'spot', 'SELL');
    await quietly(() => fillIds('s1', 'ETHUSDT').length >= 2 && shown() === 'connected', 30_000);
    await sleep(2000);
    const afterFollowUp = statesOf('s1', orderId).join(' ');
    dropped(a);
    sim.cancelOrder(orderId);
    await quietly(() => rec.length >= 5 && shown() === 'connected', 20_000);
    await sleep(2000);
    const exp = [...e0, ...e1];
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), exp, 'setup: ledger');
    const st = statesOf('s1', orderId);
    const ethOpen = sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === '/api/v3/openOrders').map((r) => `${(r as { params?: Record<string, string> }).params?.symbol ?? 'all'}:${r.status}`).join(',');
    verdict(
      'O4',
      same(fillIds('s1', 'ETHUSDT'), exp) && st.some((s) => s.startsWith('PARTIALLY_FILLED')) && st.some((s) => s.startsWith('CANCELED')),
      `e0=${e0} (gap, order ${orderId} left open) e1=${e1} (live); ETH ${tag(trades('s1', 'ETHUSDT'))}; ${report(exp, fillIds('s1', 'ETHUSDT'))}; order ${orderId} states after the follow-up [${afterFollowUp}], at the end [${st.join(' ')}] (exchange ${String(sim.getOrder(orderId)?.status)}); openOrders reads since the 2nd drop ${ethOpen}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  for (const [name, failPath] of [['A1', '/fapi/v1/openAlgoOrders'], ['A2', '/fapi/v1/algoOrder']] as const) {
    it(`${name}: USD-M: an algo order seen open live is cancelled in a gap; ${failPath} and the first fills query answer 503 once: the retry brings the algo order's final state, fills once`, async function () {
      const a = newAccount(sim, 'usdm-futures');
      await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), { ...ou('ou', ['s1']), includeAlgoUpdates: true }, sink('s1')]);
      await waitConnected();
      const rec = watchRecoveries();
      const algo = sim.placeAlgoOrder(a.accountId, { symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', quantity: '0.01', triggerPrice: '50' });
      const algoId = (algo as { algoId: number }).algoId;
      await waitFor(() => algoStatesOf('s1', algoId).length > 0, 8000, 'the algo order live');
      const b0 = fills(sim, a, 1, 'BTCUSDT', 'usdm-futures');
      await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
      const t0 = Date.now();
      sim.failNext({ path: failPath, httpStatus: 503, count: 1 });
      sim.failNext({ path: '/fapi/v1/userTrades', httpStatus: 503, count: 1 });
      dropped(a);
      sim.cancelAlgoOrder(algoId);
      const b1 = fills(sim, a, 1, 'BTCUSDT', 'usdm-futures', 'SELL');
      await quietly(() => rec.length >= 2 && fillIds('s1').includes(b1[0]) && algoStatesOf('s1', algoId).some((x) => x.startsWith('CANCELED')), 60_000);
      await sleep(2000);
      const exp = [...b0, ...b1];
      assert.deepEqual(ledger(sim, a, 'BTCUSDT', 'usdm-futures'), exp, 'setup: ledger');
      const st = algoStatesOf('s1', algoId);
      const reads = ['/fapi/v1/openOrders', '/fapi/v1/openAlgoOrders', '/fapi/v1/algoOrder'].map((p) => `${p.slice(9)}:${sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === p).map((r) => r.status).join('/')}`).join(' ');
      verdict(
        name,
        same(fillIds('s1'), exp) && st.some((x) => x.startsWith('CANCELED')),
        `algo ${algoId} states [${st.join(' ')}] (exchange ${String(sim.getAlgoOrder(algoId)?.algoStatus)}); reads since the drop ${reads}; fills ${report(exp, fillIds('s1'))}; recoveries ${rec.join(' | ')}; last ${shown()}`,
      );
    });
  }

  it('A3: USD-M: ETHUSDT (not listed) fills in a gap; afterwards ETH is first seen on an ALGO_UPDATE (a stop order placed), which then triggers and fills: each fill once', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), { ...ou('ou', ['s1']), includeAlgoUpdates: true }, sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1, 'BTCUSDT', 'usdm-futures');
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    const e0 = fills(sim, a, 1, 'ETHUSDT', 'usdm-futures');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    const algo = sim.placeAlgoOrder(a.accountId, { symbol: 'ETHUSDT', side: 'SELL', type: 'STOP_MARKET', quantity: '0.001', triggerPrice: '40' });
    const algoId = (algo as { algoId: number }).algoId;
    await quietly(() => algoStatesOf('s1', algoId).length > 0, 8000);
    await sleep(2000);
    const mid = `${shown()}; recoveries so far ${rec.length}`;
    const trig = sim.triggerAlgoOrder(algoId, { fillPrice: '40' });
    const exp = ledger(sim, a, 'ETHUSDT', 'usdm-futures');
    await quietly(() => exp.every((id) => fillIds('s1', 'ETHUSDT').includes(id)) && shown() === 'connected', 30_000);
    await sleep(3000);
    verdict(
      'A3',
      same(fillIds('s1', 'ETHUSDT'), exp) && exp.length >= 2,
      `e0=${e0} (gap), triggered order ${String((trig.order as { orderId?: number }).orderId)}; ledger ETH [${exp.join(',')}]; s1 ${tag(trades('s1', 'ETHUSDT'))}; ${report(exp, fillIds('s1', 'ETHUSDT'))}; after the ALGO_UPDATE: ${mid}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  // ====================================================================== L: first seen live (1db7467, 7240f62)
  it('L1: ETHUSDT (not listed) fills in a gap; afterwards 10 live ETH fills in two bursts while its follow-up fails once (503) and is retried: every fill once', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    const e0 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 2 });
    const e1 = fills(sim, a, 5, 'ETHUSDT');
    await sleep(1500);
    const mid = shown();
    const e2 = fills(sim, a, 5, 'ETHUSDT', 'spot', 'SELL');
    const exp = [...e0, ...e1, ...e2];
    await quietly(() => rec.length >= 3 && exp.every((id) => fillIds('s1', 'ETHUSDT').includes(id)), 60_000);
    await sleep(3000);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), exp, 'setup: ledger');
    verdict(
      'L1',
      same(fillIds('s1', 'ETHUSDT'), exp) && shown() === 'connected',
      `e0=${e0} (gap) e1=${e1} e2=${e2} (live); ETH ${tag(trades('s1', 'ETHUSDT'))}; ${report(exp, fillIds('s1', 'ETHUSDT'))}; status during: ${mid}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  for (const [name, store2, kill] of [['L2', true, false], ['L2m', false, false], ['L2k', true, true]] as const) {
    it(`${name}: ETHUSDT fills in a gap; its first live fills, then its follow-up keeps failing (503) and a ${kill ? 'kill-like (no write lands from here)' : 'clean'} restart (${store2 ? 'persistent' : 'memory'} store) comes before it completes; a fill while stopped: every fill once`, async function () {
      const a = newAccount(sim, 'spot');
      const flow = (): FlowNode[] => [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT', ...(store2 ? { recoveryStore: 'persist' } : {}) }), ou('ou', ['s1']), sink('s1')];
      await load(a, flow());
      await waitConnected();
      const rec = watchRecoveries();
      fills(sim, a, 1);
      await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
      dropped(a);
      const e0 = fills(sim, a, 1, 'ETHUSDT');
      await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
      await waitConnected();
      sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1_000_000 });
      const e1 = fills(sim, a, 3, 'ETHUSDT');
      await quietly(() => e1.every((id) => fillIds('s1', 'ETHUSDT').includes(id)), 8000);
      await sleep(3000);
      const before = shown();
      const saved = store.saved('binanceUserStreamRecovery') as { lastTradeIds?: Record<string, number>; lastEventTime?: number } | undefined;
      const run1 = trades('s1');
      if (kill) store.add('write', { kind: 'hang', count: 1_000_000 });
      fastCloses(true);
      await helper.unload();
      fastCloses(false);
      store.processEnded();
      store.clear();
      forgetStoreOrder();
      clearSinks();
      sim.clearFaults();
      const e2 = fills(sim, a, 1, 'ETHUSDT');
      await load(a, flow());
      await waitConnected();
      await quietly(() => fillIds('s1', 'ETHUSDT').includes(e2[0]) && fillIds('s1', 'ETHUSDT').includes(e0[0]), 30_000);
      await sleep(3000);
      const run2 = trades('s1');
      const got = [...run1, ...run2].filter((m) => m.payload.symbol === 'ETHUSDT').map((m) => Number(m.payload.tradeId));
      const exp = [...e0, ...e1, ...e2];
      assert.deepEqual(ledger(sim, a, 'ETHUSDT'), exp, 'setup: ledger');
      // memory store: a restart is a first start (documented: nothing before the flow started) — only e1 once is required
      const ok = store2 ? same(got, exp) : got.length === new Set(got).size && e1.every((id) => got.includes(id));
      verdict(
        name,
        ok,
        `e0=${e0} (gap) e1=${e1} (live, follow-up failing) e2=${e2} (stopped); before the restart: ${before}, saved ${JSON.stringify(saved?.lastTradeIds)} lastEventTime ${saved?.lastEventTime ?? '-'}; run1 ${tag(run1)}; run2 ${tag(run2)}; ${report(exp, got)}; recoveries ${rec.join(' | ')}; last ${shown()}`,
      );
    });
  }

  it('L3: ETHUSDT fills in a gap; its first live fill, and while the follow-up fails (503) a second reconnect with another ETH fill in it; then REST answers: every fill once', async function () {
    const a = newAccount(sim, 'spot');
    await load(a, [TAB1, accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    const e0 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 3 });
    const e1 = fills(sim, a, 2, 'ETHUSDT');
    await quietly(() => rec.length >= 2, 10_000);
    await sleep(1000);
    const mid = shown();
    dropped(a);
    const e2 = fills(sim, a, 1, 'ETHUSDT', 'spot', 'SELL');
    const exp = [...e0, ...e1, ...e2];
    await quietly(() => exp.every((id) => fillIds('s1', 'ETHUSDT').includes(id)) && shown() === 'connected', 60_000);
    await sleep(3000);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), exp, 'setup: ledger');
    verdict(
      'L3',
      same(fillIds('s1', 'ETHUSDT'), exp),
      `e0=${e0} (gap 1) e1=${e1} (live) e2=${e2} (gap 2); ETH ${tag(trades('s1', 'ETHUSDT'))}; ${report(exp, fillIds('s1', 'ETHUSDT'))}; status after the failing follow-up: ${mid}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('L4: ETHUSDT fills in a gap; its first live fills while the follow-up fails (503); a same-identity full deploy (node renamed) before REST answers again: every fill once, status connected at the end', async function () {
    const a = newAccount(sim, 'spot');
    const flow = (v: number): FlowNode[] => [TAB1, { ...accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }), name: `acct v${v}` }, ou('ou', ['s1']), sink('s1')];
    await load(a, flow(0));
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1, 8000, 'first fill');
    dropped(a);
    const e0 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 503, count: 1_000_000 });
    const e1 = fills(sim, a, 2, 'ETHUSDT');
    await quietly(() => e1.every((id) => fillIds('s1', 'ETHUSDT').includes(id)), 8000);
    await sleep(2000);
    const before = shown();
    await helper.setFlows(flow(1), 'full', credentialsFor(a));
    await waitConnected();
    const rec2 = watchRecoveries();
    const e2 = fills(sim, a, 1, 'ETHUSDT', 'spot', 'SELL');
    await sleep(2000);
    const afterDeploy = shown();
    sim.clearFaults();
    const exp = [...e0, ...e1, ...e2];
    await quietly(() => exp.every((id) => fillIds('s1', 'ETHUSDT').includes(id)) && shown() === 'connected', 80_000);
    await sleep(3000);
    assert.deepEqual(ledger(sim, a, 'ETHUSDT'), exp, 'setup: ledger');
    verdict(
      'L4',
      same(fillIds('s1', 'ETHUSDT'), exp) && shown() === 'connected',
      `e0=${e0} (gap) e1=${e1} (live, follow-up failing) e2=${e2} (live after the deploy); s1 ${tag(trades('s1', 'ETHUSDT'))}; ${report(exp, fillIds('s1', 'ETHUSDT'))}; before the deploy: ${before}; after it: ${afterDeploy}; recoveries ${rec.join(' | ')} || after the deploy ${rec2.join(' | ')}; last ${shown()}`,
    );
  });

  it('L5: two account nodes share one stream (same key), listing BTCUSDT and ETHUSDT; XRPUSDT (listed by neither) and ETHUSDT fill in a gap; XRP is then traded live: each node\'s flow gets every fill once', async function () {
    const a = newAccount(sim, 'spot');
    const creds = { ...credentialsFor(a, 'acct'), ...credentialsFor(a, 'acct2') };
    await load(
      a,
      [
        TAB1,
        accountNode(sim, a, { recoverySymbols: 'BTCUSDT' }),
        { ...accountNode(sim, a, { recoverySymbols: 'ETHUSDT' }), id: 'acct2', name: 'second' },
        ou('ou', ['s1']),
        ou('ou2', ['s2'], TAB1.id, 'acct2'),
        sink('s1'),
        sink('s2'),
      ],
      creds,
    );
    await waitConnected();
    const rec = watchRecoveries();
    fills(sim, a, 1);
    await waitFor(() => fillIds('s1').length === 1 && fillIds('s2').length === 1, 8000, 'first fill on both');
    dropped(a);
    const x0 = fills(sim, a, 1, 'XRPUSDT');
    const e0 = fills(sim, a, 1, 'ETHUSDT');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    const x1 = fills(sim, a, 2, 'XRPUSDT');
    const expX = [...x0, ...x1];
    await quietly(() => ['s1', 's2'].every((id) => expX.every((t) => fillIds(id, 'XRPUSDT').includes(t))) && shown() === 'connected', 40_000);
    await sleep(3000);
    assert.deepEqual(ledger(sim, a, 'XRPUSDT'), expX, 'setup: ledger');
    const ok = ['s1', 's2'].every((id) => same(fillIds(id, 'XRPUSDT'), expX) && same(fillIds(id, 'ETHUSDT'), e0));
    verdict(
      'L5',
      ok,
      `x0=${x0} e0=${e0} (gap) x1=${x1} (live); s1 ${tag(trades('s1'))}; s2 ${tag(trades('s2'))}; XRP s1 ${report(expX, fillIds('s1', 'XRPUSDT'))}; XRP s2 ${report(expX, fillIds('s2', 'XRPUSDT'))}; recoveries ${rec.join(' | ')}; last ${shown()} / ${shown('acct2')}`,
    );
  });

  // ====================================================================== P: portfolio margin follow-up (c6515d5)
  it('P1: portfolio margin: ETHUSDT fills in the UM book AND the margin book during a gap; ETH first seen live on UM, 2 s later on margin: each book\'s gap fill once, margin open orders read once, green soon', async function () {
    const a = pmAccount(sim);
    await load(a, [TAB1, pmNode(sim, a), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const t0 = Date.now();
    dropped(a);
    const u0 = fills(sim, a, 1, 'ETHUSDT', 'usdm-futures');
    const m0 = fills(sim, a, 1, 'ETHUSDT', 'margin');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    const u1 = fills(sim, a, 1, 'ETHUSDT', 'usdm-futures', 'SELL');
    await sleep(2000);
    const m1 = fills(sim, a, 1, 'ETHUSDT', 'margin', 'SELL');
    const tLive = Date.now();
    const um = [...u0, ...u1];
    const mg = [...m0, ...m1];
    const idsOf = (biz: 'UM' | 'MARGIN'): number[] =>
      trades('s1', 'ETHUSDT')
        .filter((m) => (biz === 'UM') === ((m.payload.businessUnit ?? (m as { raw?: { fs?: string } }).raw?.fs) === 'UM'))
        .map((m) => Number(m.payload.tradeId));
    let greenAt = 0;
    await quietly(() => {
      const all = fillIds('s1', 'ETHUSDT');
      const done = [...um, ...mg].every((id) => all.includes(id)) && shown() === 'connected';
      if (done && !greenAt) greenAt = Date.now();
      return done;
    }, 70_000);
    await sleep(3000);
    const all = fillIds('s1', 'ETHUSDT');
    const marginReads = requestsSince(t0, '/papi/v1/margin/openOrders');
    assert.deepEqual(ledger(sim, a, 'ETHUSDT', 'usdm-futures'), um, 'setup: UM ledger');
    assert.deepEqual(ledger(sim, a, 'ETHUSDT', 'margin'), mg, 'setup: margin ledger');
    verdict(
      'P1',
      same(all, [...um, ...mg]) && greenAt > 0 && greenAt - tLive < 30_000,
      `UM u0=${u0} u1=${u1}, margin m0=${m0} m1=${m1}; s1 ETH ${tag(trades('s1', 'ETHUSDT'))} (UM-tagged ${idsOf('UM').join(',') || '?'}); ${report([...um, ...mg], all)}; margin openOrders reads ${marginReads}; green ${greenAt ? `${((greenAt - tLive) / 1000).toFixed(1)} s after the last live fill` : 'never (70 s)'}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('P3: portfolio margin: a CM symbol (BTCUSD_PERP) fills in a gap, then is first seen live: its gap fill once, green soon, margin open orders read once', async function () {
    const a = pmAccount(sim);
    await load(a, [TAB1, pmNode(sim, a), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const t0 = Date.now();
    dropped(a);
    const c0 = fills(sim, a, 1, 'BTCUSD_PERP', 'coinm-futures');
    await waitFor(() => rec.length >= 1, 20_000, 'the reconnect recovery');
    await waitConnected();
    const c1 = fills(sim, a, 2, 'BTCUSD_PERP', 'coinm-futures', 'SELL');
    const tLive = Date.now();
    const exp = [...c0, ...c1];
    let greenAt = 0;
    await quietly(() => {
      const done = exp.every((id) => fillIds('s1', 'BTCUSD_PERP').includes(id)) && shown() === 'connected';
      if (done && !greenAt) greenAt = Date.now();
      return done;
    }, 70_000);
    await sleep(3000);
    assert.deepEqual(ledger(sim, a, 'BTCUSD_PERP', 'coinm-futures'), exp, 'setup: ledger');
    verdict(
      'P3',
      same(fillIds('s1', 'BTCUSD_PERP'), exp) && greenAt > 0 && greenAt - tLive < 30_000,
      `c0=${c0} (gap) c1=${c1} (live); s1 ${tag(trades('s1', 'BTCUSD_PERP'))}; ${report(exp, fillIds('s1', 'BTCUSD_PERP'))}; margin openOrders reads ${requestsSince(t0, '/papi/v1/margin/openOrders')}; green ${greenAt ? `${((greenAt - tLive) / 1000).toFixed(1)} s after the live fills` : 'never'}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('P4: portfolio margin weight budget: three reconnects 4 s apart, each with a UM fill of a symbol first seen then (ETH, XRP, SOL) and a margin BTC fill in the gap, each symbol then traded live: every fill once; how long "catching up" lasts', async function () {
    const a = pmAccount(sim);
    await load(a, [TAB1, pmNode(sim, a, { recoverySymbols: 'BTCUSDT' }), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const states: string[] = [];
    const t0 = Date.now();
    streamOf().on('state', () => states.push(`+${((Date.now() - t0) / 1000).toFixed(1)}s ${shown()}`));
    const exp: number[] = [];
    const expM: number[] = [];
    for (const sym of ['ETHUSDT', 'XRPUSDT', 'SOLUSDT']) {
      dropped(a);
      exp.push(...fills(sim, a, 1, sym, 'usdm-futures'));
      expM.push(...fills(sim, a, 1, 'BTCUSDT', 'margin'));
      const n = rec.length;
      await waitFor(() => rec.length > n, 20_000, 'the reconnect recovery');
      await waitConnected();
      await sleep(300);
      exp.push(...fills(sim, a, 1, sym, 'usdm-futures', 'SELL'));
      await sleep(3500);
    }
    const tLast = Date.now();
    const um = (): number[] => trades('s1').filter((m) => m.payload.symbol !== 'BTCUSDT').map((m) => Number(m.payload.tradeId) * 10 + ['ETHUSDT', 'XRPUSDT', 'SOLUSDT'].indexOf(String(m.payload.symbol)));
    const expUm = ['ETHUSDT', 'XRPUSDT', 'SOLUSDT'].flatMap((sym, i) => ledger(sim, a, sym, 'usdm-futures').map((id) => id * 10 + i));
    let greenAt = 0;
    await quietly(() => {
      const done = expUm.every((k) => um().includes(k)) && expM.every((id) => fillIds('s1', 'BTCUSDT').includes(id)) && shown() === 'connected';
      if (done && !greenAt) greenAt = Date.now();
      return done;
    }, 120_000);
    await sleep(2000);
    const marginReads = sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === '/papi/v1/margin/openOrders').map((r) => `${(r as { params?: Record<string, string> }).params?.symbol ?? 'all'}`).join(',');
    verdict(
      'P4',
      same(um(), expUm) && same(fillIds('s1', 'BTCUSDT'), expM) && greenAt > 0,
      `UM (id*10+symbol) ${report(expUm, um())}; margin BTC ${report(expM, fillIds('s1', 'BTCUSDT'))}; margin openOrders reads ${marginReads}; green ${greenAt ? `${((greenAt - tLast) / 1000).toFixed(1)} s after the last live fill` : 'never (120 s)'}; states ${states.join(' / ')}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });

  it('P2: portfolio margin: in a gap a UM BTCUSDT fill and a margin BTCUSDT fill (same name, both books seen live before); the UM open-orders read and the first UM trades query fail (503): the retry reads only the UM book again; every fill once, green within a minute', async function () {
    const a = pmAccount(sim);
    await load(a, [TAB1, pmNode(sim, a), ou('ou', ['s1']), sink('s1')]);
    await waitConnected();
    const rec = watchRecoveries();
    const u0 = fills(sim, a, 1, 'BTCUSDT', 'usdm-futures');
    const m0 = fills(sim, a, 1, 'BTCUSDT', 'margin');
    await waitFor(() => fillIds('s1', 'BTCUSDT').length === 2, 8000, 'live fills of both books');
    const t0 = Date.now();
    sim.failNext({ path: '/papi/v1/um/openOrders', httpStatus: 503, count: 1 });
    sim.failNext({ path: '/papi/v1/um/userTrades', httpStatus: 503, count: 1 });
    dropped(a);
    const u1 = fills(sim, a, 1, 'BTCUSDT', 'usdm-futures', 'SELL');
    const m1 = fills(sim, a, 1, 'BTCUSDT', 'margin', 'SELL');
    const exp = [...u0, ...m0, ...u1, ...m1];
    let greenAt = 0;
    await quietly(() => {
      const done = exp.every((id) => fillIds('s1', 'BTCUSDT').includes(id)) && shown() === 'connected' && rec.length >= 2;
      if (done && !greenAt) greenAt = Date.now();
      return done;
    }, 90_000);
    await sleep(3000);
    const reads = ['um', 'cm', 'margin'].map((b) => `${b}:${sim.requests.filter((r) => r.kind === 'rest' && r.at >= t0 && r.path === `/papi/v1/${b}/openOrders`).map((r) => r.status).join('/')}`).join(' ');
    verdict(
      'P2',
      same(fillIds('s1', 'BTCUSDT'), exp) && greenAt > 0 && greenAt - t0 < 60_000,
      `UM ${u0},${u1} margin ${m0},${m1}; s1 ${tag(trades('s1', 'BTCUSDT'))}; ${report(exp, fillIds('s1', 'BTCUSDT'))}; open-orders reads since the drop ${reads}; green ${greenAt ? `${((greenAt - t0) / 1000).toFixed(1)} s after the drop` : 'never'}; recoveries ${rec.join(' | ')}; last ${shown()}`,
    );
  });
});
