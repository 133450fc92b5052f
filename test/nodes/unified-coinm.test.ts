/**
 * Issue 22 item 3: the unified COIN-M form (coinmApi 'fapi') puts the account's COIN-M events on its
 * one /fapi listenKey next to its USDⓈ-M events (the simulator's `coinmOnFapi` account). Two account
 * nodes on one API key, one USDⓈ-M and one COIN-M 'fapi', each deliver only their own family's
 * fills: once, at the right node, under the right market and eventId; after a gap each recovers
 * only its own symbols, each on its own REST.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator, SimTrade } from '../../simulator/index';
import { collect, helper, nodeModules, rememberSecret, waitFor, type FlowNode } from '../support/red';
import { futuresFamilyOfEvent } from '../../nodes/lib/exchange/facts';
import { accountNode, consumer, credentialsFor, helperNode, redWithSimulator, TAB, waitConnected, type TestAccount } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown>; market?: string; eventId?: string; recovered?: boolean };

const UM = 'BTCUSDT';
const CM = 'BTCUSD_PERP';

describe('COIN-M unified form: a USDⓈ-M and a COIN-M account node on one key (against the simulator)', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });

  async function twoNodes(extra: FlowNode[] = []): Promise<{ id: string; um: { msgs: Msg[] }; cm: { msgs: Msg[] } }> {
    const { id } = sim.createAccount({ futuresBalances: { USDT: '100000', BTC: '10' }, coinmOnFapi: true });
    const key = sim.createKey(id, 'hmac');
    rememberSecret(key.apiKey, key.apiSecret);
    const um: TestAccount = { accountId: id, key, market: 'usdm-futures' };
    const cm: TestAccount = { accountId: id, key, market: 'coinm-futures' };
    await helper.load(
      nodeModules(),
      [
        TAB,
        accountNode(sim, um, { name: 'um account' }),
        accountNode(sim, cm, { id: 'acct2', name: 'cm account', coinmApi: 'fapi' }),
        consumer('ouU', 'binance-order-update', 'outU'),
        consumer('ouC', 'binance-order-update', 'outC', { account: 'acct2' }),
        helperNode('outU'),
        helperNode('outC'),
        ...extra,
      ],
      { ...credentialsFor(um), ...credentialsFor(cm, 'acct2') },
    );
    await waitConnected('acct');
    await waitConnected('acct2');
    return { id, um: collect('outU') as unknown as { msgs: Msg[] }, cm: collect('outC') as unknown as { msgs: Msg[] } };
  }

  const fills = (o: { msgs: Msg[] }): Msg[] => o.msgs.filter((m) => m.payload.executionType === 'TRADE');
  const idOf = (market: string) => (t: SimTrade): string => `fill:${market}:${t.symbol}:${t.orderId}:${t.tradeId}`;

  it('each fill once, at its own node, under its market and its own eventId; both nodes on the one /fapi listenKey', async function () {
    const { id, um, cm } = await twoNodes();
    // one listenKey (a POST while a key is active returns it), one connection per node on it
    const keys = sim.listenKeys().filter((k) => k.accountId === id);
    assert.deepEqual(keys.map((k) => k.market), ['usdm-futures'], 'one /fapi key for both nodes');
    assert.equal(sim.openConnections({ accountId: id }), 2, 'a connection per node');

    const u = sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'BUY', quantity: '0.002', price: '100', fills: ['0.001'] }).trades;
    const c = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'SELL', quantity: '2', price: '100', fills: ['1'] }).trades;
    // markers: a later fill of each node's own family; frames of one connection arrive in order, so
    // once a node has its marker, every frame sent to it before (the other family's too) is handled
    const uMark = sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'SELL', quantity: '0.001', price: '101' }).trades;
    const cMark = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'BUY', quantity: '1', price: '101' }).trades;
    await waitFor(() => fills(um).some((m) => m.eventId === idOf('usdm-futures')(uMark[0])), 5000, 'the USDⓈ-M marker');
    await waitFor(() => fills(cm).some((m) => m.eventId === idOf('coinm-futures')(cMark[0])), 5000, 'the COIN-M marker');

    assert.deepEqual(fills(um).map((m) => m.eventId), [...u, ...uMark].map(idOf('usdm-futures')), 'USDⓈ-M node: its own fills, once each');
    assert.deepEqual(fills(cm).map((m) => m.eventId), [...c, ...cMark].map(idOf('coinm-futures')), 'COIN-M node: its own fills, once each');
    assert.ok(um.msgs.every((m) => m.market === 'usdm-futures' && m.payload.symbol === UM), 'nothing of COIN-M at the USDⓈ-M node');
    assert.ok(cm.msgs.every((m) => m.market === 'coinm-futures' && m.payload.symbol === CM), 'nothing of USDⓈ-M at the COIN-M node');
    const all = [...um.msgs, ...cm.msgs].map((m) => m.eventId);
    assert.equal(new Set(all).size, all.length, 'every order update has its own eventId');
  });

  it('account-level events: a balance change at its family\'s node (COIN-M ACCOUNT_UPDATE names its account alias `i`), `fs` / `st` marked frames at the family named, unmarked ones at both; a listenKeyExpired renews both', async function () {
    const { id, um, cm } = await twoNodes([
      consumer('ueU', 'binance-user-event', 'evU'),
      consumer('ueC', 'binance-user-event', 'evC', { account: 'acct2' }),
      helperNode('evU'),
      helperNode('evC'),
    ]);
    const evU = collect('evU') as unknown as { msgs: Msg[] };
    const evC = collect('evC') as unknown as { msgs: Msg[] };
    const topics = (o: { msgs: Msg[] }, t: string): Msg[] => o.msgs.filter((m) => m.topic === t);
    sim.deposit(id, 'usdm-futures', 'USDT', '5');
    sim.deposit(id, 'coinm-futures', 'BTC', '0.5');
    // both injected on the /fapi key, so both connections receive each frame
    sim.injectEvent(id, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 1, st: 2, ai: { j: true } });
    sim.injectEvent(id, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 2, fs: 'UM', ai: { j: false } });
    sim.injectEvent(id, 'usdm-futures', { e: 'ACCOUNT_CONFIG_UPDATE', T: 3, ai: { j: true } });
    // the unmarked one was sent last: once each node has it, each has had every frame before it
    const last = (o: { msgs: Msg[] }): boolean => topics(o, 'ACCOUNT_CONFIG_UPDATE').some((m) => (m.raw as Record<string, unknown>).T === 3);
    await waitFor(() => last(evU) && last(evC), 5000, 'the config updates');
    const balances = (o: { msgs: Msg[] }): string[] =>
      topics(o, 'ACCOUNT_UPDATE').flatMap((m) => (((m.raw as Record<string, unknown>).a as { B: Array<{ a: string }> }).B ?? []).map((b) => b.a));
    assert.deepEqual(balances(evU), ['USDT'], 'the USDⓈ-M deposit, at the USDⓈ-M node only');
    assert.deepEqual(balances(evC), ['BTC'], 'the COIN-M deposit, at the COIN-M node only');
    assert.deepEqual(topics(evU, 'ACCOUNT_CONFIG_UPDATE').map((m) => (m.raw as Record<string, unknown>).T), [2, 3]);
    assert.deepEqual(topics(evC, 'ACCOUNT_CONFIG_UPDATE').map((m) => (m.raw as Record<string, unknown>).T), [1, 3]);
    assert.ok(evU.msgs.every((m) => m.market === 'usdm-futures') && evC.msgs.every((m) => m.market === 'coinm-futures'));

    // the one key expires: each node gets a new one (the same for both) and goes on
    const before = sim.listenKeys().filter((k) => k.accountId === id);
    assert.equal(before.length, 1);
    sim.expireListenKey(before[0].listenKey);
    await waitFor(() => sim.listenKeys().some((k) => k.accountId === id) && sim.openConnections({ accountId: id }) === 2, 10_000, 'both nodes on a new key');
    await waitConnected('acct');
    await waitConnected('acct2');
    const after = sim.listenKeys().filter((k) => k.accountId === id);
    assert.equal(after.length, 1);
    assert.notEqual(after[0].listenKey, before[0].listenKey);
    const u = sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'BUY', quantity: '0.001', price: '100' }).trades;
    const c = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'SELL', quantity: '1', price: '100' }).trades;
    await waitFor(() => fills(um).length === 1 && fills(cm).length === 1, 10_000, 'a fill at each node on the new key');
    assert.equal(fills(um)[0].eventId, idOf('usdm-futures')(u[0]));
    assert.equal(fills(cm)[0].eventId, idOf('coinm-futures')(c[0]));
    assert.ok(topics(evU, 'listenKeyExpired').length === 0 && topics(evC, 'listenKeyExpired').length === 0, 'the key\'s expiry is the transport\'s, not a message');
  });

  it('a gap: each node recovers its own missed fills once, querying only its own symbols on its own REST', async function () {
    const { id, um, cm } = await twoNodes();
    sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'BUY', quantity: '0.001', price: '100' });
    sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'SELL', quantity: '1', price: '100' });
    await waitFor(() => fills(um).some((m) => m.payload.symbol === UM) && fills(cm).some((m) => m.payload.symbol === CM), 5000, 'a live fill at each node');

    const since = sim.requests.length;
    assert.equal(sim.dropConnections({ accountId: id }), 2);
    const uMissed = sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'SELL', quantity: '0.002', price: '101', fills: ['0.001'] }).trades;
    const cMissed = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'BUY', quantity: '2', price: '101', fills: ['1'] }).trades;
    await waitFor(() => fills(um).length >= 1 + uMissed.length && fills(cm).length >= 1 + cMissed.length, 15_000, 'the recovered fills');
    await waitConnected('acct');
    await waitConnected('acct2');
    // markers after the recovery (see above): anything delivered twice would be there by now
    const uMark = sim.runOrderLifecycle(id, { market: 'usdm-futures', symbol: UM, side: 'BUY', quantity: '0.001', price: '102' }).trades;
    const cMark = sim.runOrderLifecycle(id, { market: 'coinm-futures', symbol: CM, side: 'SELL', quantity: '1', price: '102' }).trades;
    await waitFor(() => fills(um).some((m) => m.eventId === idOf('usdm-futures')(uMark[0])), 5000, 'the USDⓈ-M marker');
    await waitFor(() => fills(cm).some((m) => m.eventId === idOf('coinm-futures')(cMark[0])), 5000, 'the COIN-M marker');

    const rest = sim.requests.slice(since).filter((r) => r.kind === 'rest' && r.params.symbol !== undefined);
    const bySymbol = (prefix: string): string[] => [...new Set(rest.filter((r) => r.path.startsWith(prefix)).map((r) => r.params.symbol))].sort();
    assert.ok(rest.some((r) => r.path === '/fapi/v1/userTrades'), 'USDⓈ-M recovery ran');
    assert.ok(rest.some((r) => r.path === '/dapi/v1/userTrades'), 'COIN-M recovery ran');
    assert.deepEqual(bySymbol('/fapi/'), [UM], 'fapi: only USDⓈ-M symbols');
    assert.deepEqual(bySymbol('/dapi/'), [CM], 'dapi: only COIN-M symbols');

    const recU = fills(um).filter((m) => m.recovered === true);
    const recC = fills(cm).filter((m) => m.recovered === true);
    assert.deepEqual(recU.map((m) => m.eventId), uMissed.map(idOf('usdm-futures')), 'USDⓈ-M: its missed fills, recovered once');
    assert.deepEqual(recC.map((m) => m.eventId), cMissed.map(idOf('coinm-futures')), 'COIN-M: its missed fills, recovered once');
    assert.equal(fills(um).length, 1 + uMissed.length + uMark.length, 'USDⓈ-M: no fill twice');
    assert.equal(fills(cm).length, 1 + cMissed.length + cMark.length, 'COIN-M: no fill twice');
    assert.ok([...um.msgs, ...cm.msgs].every((m) => (m.market === 'usdm-futures') === (m.payload.symbol === UM)), 'each under its own market');
  });

  it('the family rule (facts.ts futuresFamilyOfEvent), each branch on a documented frame shape', function () {
    const cases: Array<[string, Record<string, unknown>, 'usdm' | 'coinm' | undefined]> = [
      ['fs CM wins over a USDⓈ-M-looking symbol', { e: 'ORDER_TRADE_UPDATE', fs: 'CM', o: { s: 'BTCUSDT' } }, 'coinm'],
      ['fs UM', { e: 'ACCOUNT_UPDATE', fs: 'UM', a: { B: [{ a: 'BTC' }] } }, 'usdm'],
      ['top-level st 2', { e: 'ACCOUNT_CONFIG_UPDATE', st: 2, ai: { j: true } }, 'coinm'],
      ['top-level st 1 (string)', { e: 'ACCOUNT_CONFIG_UPDATE', st: '1', ai: { j: true } }, 'usdm'],
      ['o.st is a strategy type, not a family', { e: 'ORDER_TRADE_UPDATE', o: { s: 'BTCUSDT', st: 2 } }, 'usdm'],
      ['COIN-M perpetual', { e: 'ORDER_TRADE_UPDATE', i: 'SfsR', o: { s: 'BTCUSD_PERP' } }, 'coinm'],
      ['COIN-M delivery', { e: 'ORDER_TRADE_UPDATE', o: { s: 'ETHUSD_200925' } }, 'coinm'],
      ['USDⓈ-M delivery', { e: 'ORDER_TRADE_UPDATE', o: { s: 'BTCUSDT_200925' } }, 'usdm'],
      ['TRADE_LITE: top-level i is an order id', { e: 'TRADE_LITE', s: 'BTCUSDT', i: 8886774 }, 'usdm'],
      ['ALGO_UPDATE', { e: 'ALGO_UPDATE', o: { s: 'BTCUSD_PERP', aid: 1 } }, 'coinm'],
      ['ACCOUNT_CONFIG_UPDATE leverage', { e: 'ACCOUNT_CONFIG_UPDATE', ac: { s: 'BTCUSD_PERP', l: 5 } }, 'coinm'],
      ['funding fee with a.S', { e: 'ACCOUNT_UPDATE', a: { m: 'FUNDING_FEE', S: 'BTCUSD_PERP', B: [{ a: 'BTC' }] } }, 'coinm'],
      ['an order fill: its position symbol decides, whatever i says', { e: 'ACCOUNT_UPDATE', i: 'x', a: { m: 'ORDER', B: [{ a: 'USDT' }], P: [{ s: 'BTCUSDT' }] } }, 'usdm'],
      ['MARGIN_CALL', { e: 'MARGIN_CALL', p: [{ s: 'BTCUSD_PERP' }] }, 'coinm'],
      ['a COIN-M deposit (account alias i)', { e: 'ACCOUNT_UPDATE', i: 'SfsR', a: { m: 'DEPOSIT', B: [{ a: 'BTC' }], P: [] } }, 'coinm'],
      ['a USDⓈ-M deposit (no i)', { e: 'ACCOUNT_UPDATE', a: { m: 'DEPOSIT', B: [{ a: 'USDT' }], P: [] } }, 'usdm'],
      ['multi-assets mode, unmarked: both', { e: 'ACCOUNT_CONFIG_UPDATE', ai: { j: true } }, undefined],
      ['listenKeyExpired: both', { e: 'listenKeyExpired', listenKey: 'k' }, undefined],
    ];
    for (const [name, ev, want] of cases) assert.equal(futuresFamilyOfEvent(ev), want, name);
  });
});
