/**
 * Discovery after a gap (issue 23) at the recovery level, against the simulator over loopback with a
 * fake clock: the spot symbol list is read once and kept (not per gap), read again early when a
 * changed asset forms no pair in it, and a pair listed after the list was read is found then; the
 * account's updateTime gate (nothing moved: no list, no allOrders); the orders of a gap are not
 * emitted twice by a retry of the same gap.
 */
import assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import { BinanceSimulator } from '../../simulator/index';
import { GapRecovery } from '../../nodes/lib/recovery';
import { clearSymbolListCache } from '../../nodes/lib/recovery/symbol-lists';
import { fillKey, isFill, restClientFor, runWithClock } from './helpers';

describe('recovery: discovery after a gap (simulator, fake time)', function () {
  this.timeout(60_000);
  let sim: BinanceSimulator;
  let clock: ReturnType<typeof FakeTimers.install>;

  beforeEach(async () => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: Date.now() });
    sim = await BinanceSimulator.start();
    clearSymbolListCache();
  });
  afterEach(async () => {
    await sim.stop();
    clock.uninstall();
  });

  const owner = (host: string) => ({ market: 'spot', environment: 'custom', host, key: 'k' });

  it('spot: the symbol list is read once, not per gap; the pair of a new asset listed after it is found by an early re-read; a gap without trading reads neither list nor history', async () => {
    const acct = sim.createAccount({ balances: { USDT: '100000', BTC: '1' } }).id;
    const key = sim.createKey(acct, 'hmac');
    sim.addSymbol('AAAUSDT');
    const recovery = new GapRecovery({ market: 'spot', rest: restClientFor(sim, 'spot', key), owner: owner(sim.restUrl) });
    const recover = async (from: number) => runWithClock(clock, recovery.recover({ from, to: Date.now(), reason: 'reconnect' }));

    // 1. the baseline (no balances known before)
    let from = Date.now();
    clock.tick(10_000);
    await recover(from);
    clock.tick(60_000);

    // 2. a gap without trading: the account's updateTime did not move
    sim.clearRequests();
    from = Date.now();
    clock.tick(10_000);
    await recover(from);
    assert.deepEqual(sim.requests.filter((r) => /exchangeInfo|allOrders/.test(r.path)).map((r) => r.path), []);

    // 3. a fill on AAAUSDT: the list is read, the fill found
    clock.tick(60_000);
    from = Date.now();
    clock.tick(1000);
    const a = sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'AAAUSDT', side: 'BUY', quantity: '2', price: '10', fills: ['2'] }).trades;
    clock.tick(10_000);
    sim.clearRequests();
    let got = await recover(from);
    assert.deepEqual(got.filter(isFill).map(fillKey), a.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
    assert.equal(sim.requests.filter((r) => r.path === '/api/v3/exchangeInfo').length, 1);

    // 4. BBBUSDT (a new asset) is listed after the list was read and traded at once: BBB is in no
    // pair of the list, so it is read again (15 minutes after the last read at the earliest)
    sim.addSymbol('BBBUSDT');
    clock.tick(15 * 60_000);
    from = Date.now();
    clock.tick(1000);
    const b = sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'BBBUSDT', side: 'BUY', quantity: '3', price: '10', fills: ['3'] }).trades;
    clock.tick(10_000);
    sim.clearRequests();
    got = await recover(from);
    assert.deepEqual(got.filter(isFill).map(fillKey), b.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
    assert.equal(sim.requests.filter((r) => r.path === '/api/v3/exchangeInfo').length, 1, 'read again: BBB was in no pair');

    // 5. another fill on AAAUSDT: the list read is used (not read per gap)
    clock.tick(60_000);
    from = Date.now();
    clock.tick(1000);
    const a2 = sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'AAAUSDT', side: 'SELL', quantity: '1', price: '11', fills: ['1'] }).trades;
    clock.tick(10_000);
    sim.clearRequests();
    got = await recover(from);
    assert.deepEqual(got.filter(isFill).map(fillKey), a2.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
    assert.equal(sim.requests.filter((r) => r.path === '/api/v3/exchangeInfo').length, 0, 'not per gap');
    assert.ok(!recovery.incomplete);
  });

  it('usdm: a retry of the same gap does not emit its orders twice; the income history is paged by startTime, never `page`', async () => {
    const acct = sim.createAccount().id;
    const key = sim.createKey(acct, 'hmac');
    const recovery = new GapRecovery({ market: 'usdm-futures', rest: restClientFor(sim, 'usdm-futures', key) });
    const from = Date.now();
    clock.tick(1000);
    const f = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'ZZZUSDT', side: 'BUY', quantity: '2', price: '10', fills: ['1', '1'] });
    const c = sim.placeAndCancel(acct, { market: 'usdm-futures', symbol: 'ETHUSDT', side: 'BUY', quantity: '1', price: '5' });
    // the fills' query of ZZZUSDT fails once: the recovery is incomplete and retried
    sim.failNext({ path: '/fapi/v1/userTrades', httpStatus: 400, code: -1000, msg: 'An unknown error occurred while processing the request.' });
    clock.tick(1000);
    const first = await runWithClock(clock, recovery.recover({ from, to: Date.now(), reason: 'reconnect' }));
    assert.ok(recovery.incomplete);
    const states = (evs: typeof first): string[] =>
      evs.filter((e) => !isFill(e) && e.eventType === 'ORDER_TRADE_UPDATE').map((e) => `${String((e.raw.o as Record<string, unknown>).i)} ${String((e.raw.o as Record<string, unknown>).X)}`);
    assert.deepEqual(states(first).sort(), [`${f.order.orderId} FILLED`, `${c.orderId} CANCELED`].sort());
    clock.tick(30_000);
    const retry = await runWithClock(clock, recovery.recover({ from, to: Date.now(), reason: 'recovery-retry' }));
    assert.ok(!recovery.incomplete);
    assert.deepEqual(retry.filter(isFill).map(fillKey), f.trades.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
    assert.deepEqual(states(retry), [], 'the orders of the gap once');
    assert.ok(sim.requests.filter((r) => r.path === '/fapi/v1/income').every((r) => r.params.page === undefined && r.params.startTime !== undefined));
  });
});
