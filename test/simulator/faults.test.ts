/**
 * The simulator's faults added for issue 11: slow REST answers (delayNext, on fake timers),
 * REST failures with a status and Retry-After (failNext), and poison frames (injectPoison).
 */
import { strict as assert } from 'node:assert';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { WsClient, installClock, restoreClock, settle, signedRest, subscribeParams, tick } from './helpers';

describe('simulator faults: slow REST, failures with Retry-After, poison frames', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let hmac: CreatedKey;

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount().id;
    hmac = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    restoreClock();
    await sim.stop();
  });

  it('delayNext answers a matching request ms later (fake time), once; others at once', async () => {
    const clock = installClock();
    sim.delayNext({ path: '/api/v3/myTrades', ms: 30_000 });
    let answered: number | undefined;
    const slow = signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT']]).then((r) => {
      answered = Date.now();
      return r;
    });
    const sentAt = Date.now();
    // another path is not delayed
    const fast = await signedRest(sim, hmac, 'GET', '/api/v3/account');
    assert.equal(fast.status, 200);
    await tick(clock, 29_000);
    assert.equal(answered, undefined, 'not answered before the delay');
    await tick(clock, 2_000);
    const r = await slow;
    assert.equal(r.status, 200);
    assert.ok(answered !== undefined && answered - sentAt >= 30_000);
    // the rule was used up: the next request is answered at once
    const again = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT']]);
    assert.equal(again.status, 200);
  });

  it('failNext gives the status, the Binance code and Retry-After; clearFaults drops pending rules', async () => {
    sim.failNext({ path: '/api/v3/myTrades', httpStatus: 429, retryAfterSec: 20 });
    sim.failNext({ path: '/api/v3/openOrders', httpStatus: 418, retryAfterSec: 300 });
    sim.failNext({ path: '/api/v3/account', httpStatus: 502, count: 3 });
    const a = await signedRest(sim, hmac, 'GET', '/api/v3/myTrades', [['symbol', 'BTCUSDT']]);
    assert.equal(a.status, 429);
    assert.equal(a.headers['retry-after'], '20');
    assert.equal(a.json.code, -1003);
    const b = await signedRest(sim, hmac, 'GET', '/api/v3/openOrders');
    assert.equal(b.status, 418);
    assert.equal(b.headers['retry-after'], '300');
    const c = await signedRest(sim, hmac, 'GET', '/api/v3/account');
    assert.equal(c.status, 502);
    sim.clearFaults();
    const d = await signedRest(sim, hmac, 'GET', '/api/v3/account');
    assert.equal(d.status, 200, 'the remaining 502s were dropped');
  });

  it('injectPoison sends valid JSON nested thousands of levels deep in the subscription envelope', async () => {
    const ws = await WsClient.connect(sim.wsApiUrl);
    try {
      const sub = await ws.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime(), 5000));
      assert.equal(sub.status, 200);
      assert.equal(sim.injectPoison(acct, 'spot', { depth: 4000 }), 1);
      await ws.next((m) => m.event !== undefined);
      const raw = ws.raw[ws.raw.length - 1];
      const parsed = JSON.parse(raw) as { subscriptionId: number; event: Record<string, unknown> };
      assert.equal(parsed.event.e, 'balanceUpdate');
      let depth = 0;
      let v: unknown = parsed.event.deep;
      while (typeof v === 'object' && v !== null) {
        v = (v as Record<string, unknown>).a;
        depth++;
      }
      assert.equal(depth, 4000);
      assert.throws(() => JSON.stringify(JSON.parse(`{"a":`.repeat(20_000) + '1' + '}'.repeat(20_000))), RangeError, 'a recursive walker overflows at such depths');
      await settle();
    } finally {
      ws.close();
    }
  });
});
