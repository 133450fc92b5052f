/**
 * Issue 13, "every event type reaches the flow": for each user-data event type Binance documents
 * for a market (reference §2, §4.4, §5; the event tables in nodes/lib/events/), an event injected
 * at the simulator leaves the node that is meant for it — and every event also leaves a
 * `binance-user-event` node set to all types. Node-RED runtime (test helper) against the simulator.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { collect, helper, nodeModules, waitFor, type FlowNode } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, TAB, waitConnected } from './flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
type NodeId = 'orders' | 'positions' | 'balances' | 'events';

interface Case {
  event: Record<string, unknown>;
  /** The node meant for it (besides `events`, the user-event node set to all types). */
  to: NodeId;
}

const E = 1_800_000_000_000;

const SPOT: Case[] = [
  {
    event: { e: 'executionReport', E, s: 'BTCUSDT', c: 'c1', S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '1', x: 'NEW', X: 'NEW', i: 7001, l: '0', z: '0', L: '0', n: '0', N: null, T: E, t: -1, O: E, Z: '0' },
    to: 'orders',
  },
  { event: { e: 'outboundAccountPosition', E: E + 1, u: E + 1, B: [{ a: 'BTC', f: '1.5', l: '0' }] }, to: 'positions' },
  { event: { e: 'balanceUpdate', E: E + 2, a: 'USDT', d: '10', T: E + 2 }, to: 'balances' },
  { event: { e: 'externalLockUpdate', E: E + 3, a: 'BTC', d: '0.1', T: E + 3 }, to: 'balances' },
  {
    event: { e: 'listStatus', E: E + 4, s: 'BTCUSDT', g: 9, c: 'OCO', l: 'EXEC_STARTED', L: 'EXECUTING', r: 'NONE', C: 'list1', T: E + 4, O: [{ s: 'BTCUSDT', i: 7002, c: 'a' }] },
    to: 'orders',
  },
];

const USDM: Case[] = [
  {
    event: { e: 'ORDER_TRADE_UPDATE', E, T: E, o: { s: 'BTCUSDT', c: 'c1', S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '1', ap: '0', x: 'NEW', X: 'NEW', i: 8001, l: '0', z: '0', L: '0', T: E, t: 0 } },
    to: 'orders',
  },
  { event: { e: 'ACCOUNT_UPDATE', E: E + 1, T: E + 1, a: { m: 'ORDER', B: [{ a: 'USDT', wb: '100', cw: '100', bc: '0' }], P: [] } }, to: 'positions' },
  { event: { e: 'ACCOUNT_UPDATE', E: E + 2, T: E + 2, a: { m: 'DEPOSIT', B: [{ a: 'USDT', wb: '110', cw: '110', bc: '10' }], P: [] } }, to: 'balances' },
  { event: { e: 'MARGIN_CALL', E: E + 3, cw: '3.2', p: [{ s: 'BTCUSDT', ps: 'LONG', pa: '1', mt: 'CROSSED', iw: '0', mp: '9000', up: '-10', mm: '5' }] }, to: 'positions' },
  { event: { e: 'TRADE_LITE', E: E + 4, T: E + 4, s: 'BTCUSDT', q: '1', p: '1', m: false, c: 'c2', S: 'BUY', L: '1', l: '1', t: 99, i: 8002 }, to: 'orders' },
  { event: { e: 'ALGO_UPDATE', E: E + 5, T: E + 5, o: { caid: 'x', aid: 5, at: 'CONDITIONAL', o: 'STOP_MARKET', s: 'BTCUSDT', S: 'SELL', X: 'NEW', ia: false } }, to: 'orders' },
  { event: { e: 'ACCOUNT_CONFIG_UPDATE', E: E + 6, T: E + 6, ac: { s: 'BTCUSDT', l: 20 } }, to: 'events' },
  { event: { e: 'STRATEGY_UPDATE', E: E + 7, T: E + 7, su: { si: 1, st: 'GRID', ss: 'NEW', s: 'BTCUSDT', ut: E, c: 1 } }, to: 'events' },
  { event: { e: 'GRID_UPDATE', E: E + 8, T: E + 8, gu: { si: 1, st: 'GRID', ss: 'WORKING', s: 'BTCUSDT' } }, to: 'events' },
  { event: { e: 'CONDITIONAL_ORDER_TRIGGER_REJECT', E: E + 9, T: E + 9, or: { s: 'BTCUSDT', i: 8003, r: 'Reduce only' } }, to: 'events' },
];

/** COIN-M documents the same names (reference §4.4), without TRADE_LITE and the USDⓈ-M algo service. */
const COINM: Case[] = USDM.filter((c) => !['TRADE_LITE', 'ALGO_UPDATE', 'CONDITIONAL_ORDER_TRIGGER_REJECT'].includes(String(c.event.e)));

function flow(sim: BinanceSimulator, a: ReturnType<typeof newAccount>): FlowNode[] {
  return [
    TAB,
    accountNode(sim, a),
    consumer('ou', 'binance-order-update', 'orders', { includeListStatus: true, includeAlgoUpdates: true, includeTradeLite: true }),
    consumer('ap', 'binance-account-position', 'positions', { includeMarginCall: true }),
    consumer('bu', 'binance-balance-update', 'balances'),
    consumer('ue', 'binance-user-event', 'events', { eventTypes: '' }),
    helperNode('orders'),
    helperNode('positions'),
    helperNode('balances'),
    helperNode('events'),
  ];
}

describe('every documented event type reaches the node meant for it (issue 13)', function () {
  let sim: BinanceSimulator;
  redWithSimulator((s) => {
    sim = s;
  });

  for (const [market, cases] of [
    ['spot', SPOT],
    ['margin', SPOT],
    ['usdm-futures', USDM],
    ['coinm-futures', COINM],
  ] as const) {
    it(`${market}: ${cases.map((c) => String(c.event.e)).join(', ')}`, async function () {
      const a = newAccount(sim, market);
      await helper.load(nodeModules(), flow(sim, a), credentialsFor(a));
      await waitConnected();
      const out: Record<NodeId, { msgs: Msg[] }> = {
        orders: collect('orders') as unknown as { msgs: Msg[] },
        positions: collect('positions') as unknown as { msgs: Msg[] },
        balances: collect('balances') as unknown as { msgs: Msg[] },
        events: collect('events') as unknown as { msgs: Msg[] },
      };
      for (const c of cases) sim.injectEvent(a.accountId, market, c.event);
      const got = (id: NodeId, c: Case): boolean => out[id].msgs.some((m) => m.eventType === c.event.e && (m.raw as Record<string, unknown>)?.E === c.event.E);
      await waitFor(() => cases.every((c) => got(c.to, c) && got('events', c)), 8000, 'every event at its node and at the user-event node');
      for (const c of cases) {
        assert.ok(got(c.to, c), `${String(c.event.e)} left ${c.to}`);
        const ue = out.events.msgs.find((m) => m.eventType === c.event.e && (m.raw as Record<string, unknown>)?.E === c.event.E)!;
        assert.equal(ue.topic, c.event.e, 'user-event: msg.topic is the event type');
        assert.ok(ue.payload && typeof ue.payload === 'object', 'user-event: a payload');
      }
    });
  }
});
