import assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import { BinanceSimulator, type SimTrade } from '../../simulator/index';
import { GapRecovery } from '../../nodes/lib/recovery';
import { fillKey, isFill, maxWindowWeight, restClientFor, runWithClock } from './helpers';

describe('recovery: REST weights stay within the exchange limits (simulator, fake time)', function () {
  this.timeout(120_000);
  let sim: BinanceSimulator;
  let clock: ReturnType<typeof FakeTimers.install>;

  beforeEach(async () => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: Date.now() });
    sim = await BinanceSimulator.start();
  });
  afterEach(async () => {
    await sim.stop();
    clock.uninstall();
  });

  it('spot: 160 listed symbols (more than one minute of budget) are all queried, at most 50 % of 6000/min', async () => {
    const acct = sim.createAccount({ balances: { USDT: '100000000' } }).id;
    const key = sim.createKey(acct, 'hmac');
    const symbols = Array.from({ length: 160 }, (_, i) => `C${String(i).padStart(3, '0')}USDT`);
    const gapFrom = Date.now();
    clock.tick(1000);
    const made: SimTrade[] = [];
    for (const s of [symbols[0], symbols[80], symbols[159]]) {
      made.push(...sim.runOrderLifecycle(acct, { market: 'spot', symbol: s, side: 'BUY', quantity: '0.003', price: '10', fills: ['0.001', '0.001'] }).trades);
    }
    const recovery = new GapRecovery({ market: 'spot', rest: restClientFor(sim, 'spot', key), symbols });
    sim.clearRequests();
    const started = Date.now();
    const rec = await runWithClock(clock, recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' }));
    assert.deepEqual(rec.filter(isFill).map(fillKey).sort(), made.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`).sort());
    const trades = sim.requests.filter((r) => r.path === '/api/v3/myTrades');
    assert.equal(new Set(trades.map((r) => r.params.symbol)).size, 160);
    const total = sim.requests.reduce((s, r) => s + (r.weight ?? 0), 0);
    assert.ok(total > 3000, `the scenario needs more than one window of budget (total ${total})`);
    assert.ok(maxWindowWeight(sim.requests, 'api') <= 3000, `max window ${maxWindowWeight(sim.requests, 'api')}`);
    assert.ok(Date.now() - started >= 60_000, 'recovery had to wait for the window to move');
    assert.ok(recovery.budget.waits > 0);
    assert.ok(sim.requests.every((r) => r.status === 200));
  });

  it('usdm: 300 listed symbols at weight 5: within 50 % of 2400/min; 429 mid-way is waited out', async () => {
    const acct = sim.createAccount().id;
    const key = sim.createKey(acct, 'hmac');
    const symbols = Array.from({ length: 300 }, (_, i) => `F${String(i).padStart(3, '0')}USDT`);
    const gapFrom = Date.now();
    clock.tick(1000);
    const made = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: symbols[299], side: 'SELL', quantity: '2', price: '10', fills: ['1'] }).trades;
    const recovery = new GapRecovery({ market: 'usdm-futures', rest: restClientFor(sim, 'usdm-futures', key), symbols });
    sim.clearRequests();
    sim.failNext({ path: '/fapi/v1/userTrades', httpStatus: 429, retryAfterSec: 30 });
    const rec = await runWithClock(clock, recovery.recover({ from: gapFrom, to: Date.now(), reason: 'reconnect' }));
    assert.deepEqual(rec.filter(isFill).map(fillKey), made.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
    const limited = sim.requests.findIndex((r) => r.status === 429);
    assert.ok(limited >= 0);
    const next = sim.requests[limited + 1];
    assert.ok(next.at - sim.requests[limited].at >= 30_000, 'Retry-After honoured');
    assert.ok(maxWindowWeight(sim.requests, 'fapi') <= 1200, `max window ${maxWindowWeight(sim.requests, 'fapi')}`);
    assert.equal(new Set(sim.requests.filter((r) => r.path === '/fapi/v1/userTrades').map((r) => r.params.symbol)).size, 300);
  });
});
