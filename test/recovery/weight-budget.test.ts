import assert from 'node:assert/strict';
import * as FakeTimers from '@sinonjs/fake-timers';
import { BinanceApiError, type RestClient } from '../../nodes/lib/transport/rest';
import {
  BudgetedRest,
  WeightBudget,
  rateLimitInfo,
  restWeight,
  sharedWeightBudget,
  type HttpMethod,
  type RestLike,
  type RestParams,
} from '../../nodes/lib/exchange/weight-budget';

type Clock = ReturnType<typeof FakeTimers.install>;

/** Lets pending promise callbacks run (fake timers do not fake microtasks). */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('recovery/weight-budget', () => {
  let clock: Clock;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: 1_700_000_000_000 });
  });
  afterEach(() => clock.uninstall());

  it('RestClient satisfies RestLike (type-level)', () => {
    const check = (r: RestClient): RestLike => r;
    assert.equal(typeof check, 'function');
  });

  it('knows the weights of the recovery endpoints (reference §6)', () => {
    assert.equal(restWeight('/api/v3/myTrades', { symbol: 'X' }), 20);
    assert.equal(restWeight('/api/v3/myTrades', { symbol: 'X', orderId: 1 }), 5);
    assert.equal(restWeight('/api/v3/openOrders', { symbol: 'X' }), 6);
    assert.equal(restWeight('/api/v3/openOrders', {}), 80);
    assert.equal(restWeight('/api/v3/account'), 20);
    assert.equal(restWeight('/sapi/v1/margin/myTrades', { symbol: 'X' }), 10);
    assert.equal(restWeight('/fapi/v1/userTrades', { symbol: 'X' }), 5);
    assert.equal(restWeight('/fapi/v1/openOrders', {}), 40);
    assert.equal(restWeight('/fapi/v1/openAlgoOrders', { symbol: 'X' }), 1);
    // COIN-M since the CM migration (connector-js coin-futures 19.0.0, 2026-07-22)
    assert.equal(restWeight('/dapi/v1/userTrades', { symbol: 'X' }), 5);
    assert.equal(restWeight('/dapi/v1/userTrades', { pair: 'X' }), 5);
    assert.equal(restWeight('/unknown'), 20);
  });

  it('defaults: spot 6000/min and futures 2400/min, recovery spends at most half', () => {
    assert.equal(new WeightBudget({ market: 'spot' }).cap, 3000);
    assert.equal(new WeightBudget({ market: 'margin' }).cap, 3000);
    assert.equal(new WeightBudget({ market: 'usdm-futures' }).cap, 1200);
    assert.equal(new WeightBudget({ market: 'coinm-futures', fraction: 0.25 }).cap, 600);
    assert.throws(() => new WeightBudget({ market: 'spot', fraction: 0 }), RangeError);
  });

  it('a clock set back by hours holds requests back for at most a window, and a pause for at most its own length', async () => {
    const b = new WeightBudget({ market: 'spot', limitPerMinute: 100, fraction: 0.5 }); // cap 50
    const start = Date.now();
    clock.setSystemTime(start + 3 * 3600_000); // the clock three hours ahead: spend the cap, then a 30 s pause
    await b.acquire(50);
    b.pause(30_000);
    clock.setSystemTime(start); // set back three hours (NTP)
    let got = false;
    void b.acquire(10).then(() => (got = true));
    await flush();
    assert.equal(got, false, 'waits while the pause and the window last');
    for (let s = 0; s < 61 && !got; s++) {
      await clock.tickAsync(1000);
      await flush();
    }
    assert.equal(got, true, 'granted within one window of the set-back clock, not three hours later');
  });

  it('waits when the budget is spent, until the oldest spending leaves the 60 s window', async () => {
    const b = new WeightBudget({ market: 'spot', limitPerMinute: 100, fraction: 0.5 }); // cap 50
    await b.acquire(20);
    clock.tick(10_000);
    await b.acquire(20);
    let third = false;
    void b.acquire(20).then(() => {
      third = true;
    });
    await flush();
    assert.equal(third, false, 'the third request (60 > 50) must wait');
    await clock.tickAsync(49_000); // t = 59 s after the first
    assert.equal(third, false);
    await clock.tickAsync(1_500); // the first entry left the window
    assert.equal(third, true);
    assert.equal(b.spentInWindow(), 40);
    assert.equal(b.totalSpent, 60);
    assert.ok(b.waits >= 1);
  });

  it('never spends more than the cap in any 60 s window (many requests)', async () => {
    const b = new WeightBudget({ market: 'usdm-futures' }); // cap 1200
    const log: Array<{ at: number; w: number }> = [];
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < 600; i++) {
      const w = i % 3 === 0 ? 40 : 5;
      all.push(b.acquire(w).then(() => void log.push({ at: Date.now(), w })));
    }
    while (log.length < 600) await clock.tickAsync(1000);
    await Promise.all(all);
    for (const x of log) {
      const sum = log.filter((y) => y.at > x.at - 60_000 && y.at <= x.at).reduce((s, y) => s + y.w, 0);
      assert.ok(sum <= 1200, `window ending ${x.at} spent ${sum}`);
    }
    // and the requests went out in FIFO order
    const ws = log.map((x) => x.w);
    assert.deepEqual(ws.slice(0, 6), [40, 5, 5, 40, 5, 5]);
  });

  it('honours the exchange-reported used weight of the current minute', async () => {
    const b = new WeightBudget({ market: 'usdm-futures', headerCeiling: 0.8 }); // limit 2400, ceiling 1920
    const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;
    clock.setSystemTime(minuteStart + 10_000);
    b.observeUsedWeight(1900); // someone else (the stream manager, other bots) used most of it
    let done = false;
    void b.acquire(40).then(() => {
      done = true;
    });
    await flush();
    assert.equal(done, false);
    await clock.tickAsync(49_000);
    assert.equal(done, false);
    await clock.tickAsync(1_100); // next minute: the exchange counter restarts
    assert.equal(done, true);
  });

  it('run(): on 429 waits out Retry-After, then retries', async () => {
    const b = new WeightBudget({ market: 'spot' });
    let calls = 0;
    const times: number[] = [];
    const p = b.run(20, async () => {
      calls++;
      times.push(Date.now());
      if (calls === 1) throw new BinanceApiError('HTTP 429 -1003', { httpStatus: 429, code: -1003, retryAfterMs: 7_000 });
      return 'ok';
    });
    await flush();
    assert.equal(calls, 1);
    assert.ok(b.blockedUntil >= times[0] + 7_000);
    await clock.tickAsync(6_900);
    assert.equal(calls, 1);
    await clock.tickAsync(200);
    assert.equal(await p, 'ok');
    assert.equal(calls, 2);
    assert.ok(times[1] - times[0] >= 7_000);
  });

  it('run(): a 418 ban without Retry-After waits the default ban time, and blocks other requests too', async () => {
    const b = new WeightBudget({ market: 'spot', defaultBanWaitMs: 120_000 });
    let calls = 0;
    const p = b.run(20, async () => {
      calls++;
      if (calls === 1) throw new BinanceApiError('banned', { httpStatus: 418 });
      return calls;
    });
    await flush();
    let otherAt: number | undefined;
    void b.run(1, async () => {
      otherAt = Date.now();
    });
    const t0 = Date.now();
    await clock.tickAsync(119_000);
    assert.equal(otherAt, undefined);
    await clock.tickAsync(2_000);
    assert.equal(await p, 2);
    assert.ok(otherAt !== undefined && otherAt - t0 >= 120_000);
  });

  it('run(): non-rate-limit errors propagate at once; rate limits give up after maxRateLimitRetries', async () => {
    const b = new WeightBudget({ market: 'spot', maxRateLimitRetries: 2 });
    await assert.rejects(
      b.run(1, async () => {
        throw new BinanceApiError('bad', { httpStatus: 400, code: -1100 });
      }),
      /bad/,
    );
    let calls = 0;
    const p = b.run(1, async () => {
      calls++;
      throw new BinanceApiError('slow down', { httpStatus: 429, retryAfterMs: 1000 });
    });
    const settled = p.then(
      () => 'resolved',
      (e: unknown) => (e as Error).message,
    );
    await clock.tickAsync(5_000);
    assert.equal(await settled, 'slow down');
    assert.equal(calls, 3);
  });

  it('sharedWeightBudget: one budget per REST host and weight pool', () => {
    const a = sharedWeightBudget('http://127.0.0.1:9001', 'spot');
    assert.equal(sharedWeightBudget('http://127.0.0.1:9001/', 'spot'), a);
    assert.notEqual(sharedWeightBudget('http://127.0.0.1:9001', 'margin'), a);
    assert.equal(sharedWeightBudget('http://127.0.0.1:9001', 'margin'), sharedWeightBudget('http://127.0.0.1:9001', 'isolated-margin'));
    assert.notEqual(sharedWeightBudget('http://127.0.0.1:9002', 'spot'), a);
    assert.equal(sharedWeightBudget('http://127.0.0.1:9003', 'usdm-futures').cap, 1200);
  });

  it('rateLimitInfo recognises kinds, statuses and -1003', () => {
    assert.deepEqual(rateLimitInfo(new BinanceApiError('x', { httpStatus: 429, retryAfterMs: 5 })), { banned: false, retryAfterMs: 5 });
    assert.deepEqual(rateLimitInfo(new BinanceApiError('x', { httpStatus: 418 })), { banned: true, retryAfterMs: undefined });
    assert.equal(rateLimitInfo(new BinanceApiError('x', { code: -1003 }))?.banned, false);
    assert.equal(rateLimitInfo(new BinanceApiError('x', { httpStatus: 500 })), undefined);
    assert.equal(rateLimitInfo('nope'), undefined);
  });

  it('BudgetedRest: charges the endpoint weight and reads usedWeight1m from the client', async () => {
    const calls: string[] = [];
    const inner = {
      usedWeight1m: 0,
      async request<T>(method: HttpMethod, path: string, params?: RestParams): Promise<T> {
        calls.push(`${method} ${path} ${JSON.stringify(params)}`);
        this.usedWeight1m += 80;
        return [] as T;
      },
    };
    const budget = new WeightBudget({ market: 'spot' });
    const r = new BudgetedRest(inner, { budget });
    await r.request('GET', '/api/v3/openOrders', {}, { security: 'signed' });
    await r.request('GET', '/api/v3/openOrders', { symbol: 'BTCUSDT' }, { security: 'signed' });
    assert.equal(budget.totalSpent, 86);
    assert.equal(calls.length, 2);
  });
});
