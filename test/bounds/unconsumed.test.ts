/**
 * Issue 24: events of types no node takes are counted in bounded memory with a bounded number of
 * warnings and status messages. On the old code, 3 000 distinct types from a misbehaving server
 * gave 3 000 warning lines, 3 000 `unconsumed` status messages and a table entry per type (here:
 * a 200-character name each).
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capturedLogs, collect, helper, nodeModules, waitFor } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, symbolFor, TAB, waitConnected } from '../nodes/flows';

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };

interface Tracker {
  snapshot(): Record<string, number>;
  total: number;
  retainedBytes?: number;
}

describe('bounds: unconsumed event types', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  redWithSimulator((s) => {
    sim = s;
  });

  it('3 000 distinct event types nobody takes: at most 33 warnings and 33 first reports, a table of at most 33 names (a few KB); every event counted; the stream still delivers orders', async () => {
    const a = newAccount(sim, 'spot');
    await helper.load(
      nodeModules(),
      [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'ouOut'), consumer('st', 'binance-stream-status', 'stOut'), helperNode('ouOut'), helperNode('stOut')],
      credentialsFor(a),
    );
    await waitConnected();
    const st = collect('stOut') as unknown as { msgs: Msg[] };
    const ou = collect('ouOut') as unknown as { msgs: Msg[] };
    const logsBefore = capturedLogs.length;
    const n = 3_000;
    const longName = (i: number): string => `MISBEHAVING_${String(i).padStart(5, '0')}_${'Z'.repeat(200)}`;
    let sent = 0;
    for (let i = 0; i < n; i++) sent += sim.injectEvent(a.accountId, 'spot', { e: longName(i), T: i });
    assert.equal(sent, n, 'injected');
    const account = helper.getNode('acct') as unknown as { unconsumed: Tracker };
    await waitFor(() => account.unconsumed.total === n, 20_000, 'every event counted').catch((err: Error) => {
      throw new Error(`${err.message}: ${account.unconsumed.total} counted, ${JSON.stringify(capturedLogs.slice(logsBefore, logsBefore + 5).map((l) => String(l.msg)))}`);
    });
    const notes = capturedLogs.slice(logsBefore).map((l) => String(l.msg)).filter((t) => /no node takes/.test(t));
    const reports = st.msgs.filter((m) => m.topic === 'unconsumed');
    assert.ok(notes.length <= 33, `${notes.length} warnings`);
    assert.ok(reports.length <= 33, `${reports.length} unconsumed reports`);
    assert.equal(notes.filter((t) => t.includes('(other types)')).length, 1, 'the types beyond the named ones are noted once');
    assert.ok(
      notes.every((t) => t.length < 400),
      'names are cut',
    );
    const snap = account.unconsumed.snapshot();
    assert.ok(Object.keys(snap).length <= 33, `${Object.keys(snap).length} names kept`);
    assert.equal(
      Object.values(snap).reduce((x, y) => x + y, 0),
      n,
      'every event counted (by name or together)',
    );
    assert.equal(snap['(other types)'], n - 32);
    assert.ok((account.unconsumed.retainedBytes ?? Infinity) < 32 * 1024, `retained ${account.unconsumed.retainedBytes} bytes`);
    // the stream is alive
    sim.runOrderLifecycle(a.accountId, { market: 'spot', symbol: symbolFor('spot'), side: 'BUY', quantity: '1', price: '100' });
    await waitFor(() => ou.msgs.some((m) => m.payload.orderStatus === 'FILLED'), 10_000, 'the order lifecycle');
  });
});
