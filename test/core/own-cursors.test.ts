/**
 * Every consumer gets what it missed (issue 21): two consumers of one account, each with its own
 * cursors (`openAccountStream(..., { cursors: 'own' })`, as the n8n trigger opens one per
 * workflow), on ONE connection to the simulator. One closes while fills are made and opens again
 * from its own store: its own start-up recovery brings those fills, once; the other consumer,
 * which stayed, gets every fill live, once. On the old code (one shared stream and ledger per
 * account, the reopened consumer's store merged into it) the reopened consumer starts from the
 * other's cursors and never gets the fills made while it was closed.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { MemoryStateStore, openAccountStream, type AccountSettings, type AccountStream, type PersistedRecoveryState, type UserDataEvent } from '../../nodes/lib';
import { stopAllSharedManagers } from '../../nodes/lib/stream/registry';
import { waitFor } from '../support/fake-clock';

interface Consumer {
  account: AccountStream;
  fills: UserDataEvent[];
}

/** The highest BTCUSDT trade id a saved state claims delivered (safe cursor or delivered set: ids or [from, to] ranges). */
function claimed(st: PersistedRecoveryState | undefined): number {
  const nums = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(nums) : []);
  const sets = st as { delivered?: Record<string, unknown>; deliveredRanges?: Record<string, unknown> } | undefined;
  return Math.max(0, st?.lastTradeIds?.BTCUSDT ?? 0, ...nums(sets?.delivered?.BTCUSDT), ...nums(sets?.deliveredRanges?.BTCUSDT));
}

describe('core: consumers with their own cursors on one account (issue 21)', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;
  const opened: AccountStream[] = [];

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount({ balances: { USDT: '1000000', BTC: '10' } }).id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close({ keep: false })));
    await stopAllSharedManagers();
    await sim.stop();
  });

  function settings(): AccountSettings {
    const urls = sim.urlsFor('spot');
    return { market: 'spot', environment: 'custom', ...urls, keyType: 'hmac', credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret } };
  }

  function open(name: string, store: MemoryStateStore): Consumer {
    const account = openAccountStream(settings(), { store, cursors: 'own' });
    opened.push(account);
    const c: Consumer = { account, fills: [] };
    account.stream.on('event', (e) => {
      if (e.eventType === 'executionReport' && (e.raw as { x?: string }).x === 'TRADE') c.fills.push(e);
    });
    account.acquire(name);
    account.resume();
    return c;
  }

  async function close(c: Consumer): Promise<void> {
    opened.splice(opened.indexOf(c.account), 1);
    await c.account.close();
  }

  function fill(): number {
    const o = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '50000' });
    return sim.fillOrder(o.orderId, { quantity: '0.1' }).tradeId;
  }

  const tradeIds = (c: Consumer): number[] => c.fills.map((e) => (e.raw as { t: number }).t);

  it('one consumer closed while fills are made gets them from its own store when it opens again, each once; the other gets every fill live, once; one connection all along', async () => {
    const storeA = new MemoryStateStore();
    const storeB = new MemoryStateStore();
    const a = open('a', storeA);
    const b = open('b', storeB);
    await waitFor(() => sim.subscriptions({ market: 'spot' }).length === 1, { timeoutMs: 15_000, message: 'subscribed' });
    assert.equal(sim.openConnections(), 1, 'one connection for both consumers');
    const connId = sim.connections()[0].id;

    const f1 = fill();
    await waitFor(() => tradeIds(a).includes(f1) && tradeIds(b).includes(f1), { timeoutMs: 15_000, message: 'f1 live to both' });
    await close(b); // its cursors written a last time
    assert.equal(sim.openConnections(), 1, 'a still listens');

    const f2 = fill();
    const f3 = fill();
    await waitFor(() => tradeIds(a).includes(f3), { timeoutMs: 15_000, message: 'f2, f3 live to a' });

    // b opens again from its own store: its start-up recovery brings f2 and f3 (recovered)
    const b2 = open('b2', storeB);
    await b2.account.stream.idle();
    await waitFor(() => tradeIds(b2).includes(f3), { timeoutMs: 15_000, message: 'f2, f3 to the reopened consumer' }).catch((err: Error) => {
      throw new Error(`${err.message}; got ${JSON.stringify(tradeIds(b2))}`);
    });
    const f4 = fill();
    await waitFor(() => tradeIds(a).includes(f4) && tradeIds(b2).includes(f4), { timeoutMs: 15_000, message: 'f4 live to both' });
    await a.account.stream.idle();
    await b2.account.stream.idle();

    assert.deepEqual(tradeIds(a), [f1, f2, f3, f4], 'a: every fill once, live');
    assert.ok(a.fills.every((e) => !e.recovered), 'a: nothing recovered (it never missed anything)');
    assert.deepEqual(tradeIds(b), [f1], 'b before it closed');
    assert.deepEqual(tradeIds(b2), [f2, f3, f4], 'b reopened: what it missed, then live; f1 not again');
    assert.deepEqual(b2.fills.map((e) => e.recovered === true), [true, true, false]);
    // one connection all along: never a second one, never a reconnect
    assert.deepEqual(sim.connections().map((c) => c.id), [connId]);

    // each store claims exactly what its consumer got
    await close(a);
    await close(b2);
    assert.equal(claimed(await storeA.get()), f4);
    assert.equal(claimed(await storeB.get()), f4);
    await waitFor(() => sim.openConnections() === 0, { timeoutMs: 5_000, message: 'closed after the last consumer' });
  });

  it('fifteen own streams on one account: one connection, each gets a fill once, no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    try {
      const cs = Array.from({ length: 15 }, (_, i) => open(`c${i}`, new MemoryStateStore()));
      await waitFor(() => sim.subscriptions({ market: 'spot' }).length === 1, { timeoutMs: 15_000, message: 'subscribed' });
      assert.equal(sim.openConnections(), 1);
      const f = fill();
      await waitFor(() => cs.every((c) => tradeIds(c).includes(f)), { timeoutMs: 15_000, message: 'the fill to every consumer' });
      assert.ok(cs.every((c) => tradeIds(c).length === 1));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.removeListener('warning', onWarning);
    }
  });

  it('own streams are not shared: each is closed by its own handle at once, and the other keeps its deliveries', async () => {
    const a = open('a', new MemoryStateStore());
    const b = open('b', new MemoryStateStore());
    assert.notEqual(a.account.stream, b.account.stream, 'two reliable streams');
    assert.equal(a.account.manager, b.account.manager, 'over one manager');
    await waitFor(() => sim.subscriptions({ market: 'spot' }).length === 1, { timeoutMs: 15_000, message: 'subscribed' });
    await close(a);
    assert.ok(a.account.stream.isClosed, 'closed at once (no redeploy grace)');
    const f = fill();
    await waitFor(() => tradeIds(b).includes(f), { timeoutMs: 15_000, message: 'b still gets fills' });
    assert.deepEqual(tradeIds(a), [], 'nothing to a closed consumer');
  });
});
