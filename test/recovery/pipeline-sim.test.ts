import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket, type SimTrade } from '../../simulator/index';
import { GapRecovery, DeliveryPipeline } from '../../nodes/lib/recovery';
import { MemoryStateStore } from '../../nodes/lib/recovery/persistence';
import type { UserDataEvent } from '../../nodes/lib/types';
import { fillKey, isFill, liveFillEvent, restClientFor } from './helpers';
import { prng } from '../support/prng';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Seeded scenario over the DeliveryPipeline (no stream manager): the "live stream" loses
 * events while down, duplicates some (rotation overlap), sometimes delivers post-reconnect
 * fills before the gap is reported, and Node-RED restarts (state through a store).
 */
async function scenario(market: SimMarket, seed: number, liveBeforeGap = false, holdWhenDown = false): Promise<void> {
  const rnd = prng(seed);
  const sim = await BinanceSimulator.start();
  try {
    const acct = sim.createAccount({
      balances: { USDT: '1000000000', BTC: '1000000', ETH: '1000000', BNB: '1000000' },
      futuresBalances: { USDT: '1000000000' },
    }).id;
    const key = sim.createKey(acct, 'hmac');
    const rest = restClientFor(sim, market, key);
    const symbols = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT'];
    const listed = ['ETHUSDT'];
    const store = new MemoryStateStore();
    const out: UserDataEvent[] = [];
    const mk = (): { recovery: GapRecovery; pipeline: DeliveryPipeline } => {
      const recovery = new GapRecovery({ market, rest, symbols: listed });
      return { recovery, pipeline: new DeliveryPipeline({ recovery, emit: (e) => out.push(e) }) };
    };
    let { recovery, pipeline } = mk();
    let down = false;
    let downSince = 0;
    let stopped = false;
    const all: SimTrade[] = [];
    const statuses = new Map<number, boolean>();

    const liveLifecycle = (symbol: string, n: number): void => {
      const fills = Array.from({ length: n }, () => '0.001');
      const { trades } = sim.runOrderLifecycle(acct, { market, symbol, side: 'BUY', quantity: (0.001 * (n + 1)).toFixed(3), price: '10', fills });
      all.push(...trades);
      trades.forEach((t, i) => {
        const e = liveFillEvent(t, i === trades.length - 1 ? 'FILLED' : 'PARTIALLY_FILLED');
        e.receivedAt = Date.now();
        pipeline.live(e);
      });
    };
    // Every symbol is seen (BTC, BNB) or listed (ETH) before the first gap: a symbol never
    // seen, never listed and without open orders is documented as not recoverable.
    liveLifecycle('BTCUSDT', 1);
    liveLifecycle('BNBUSDT', 1);
    await sleep(2);

    for (let step = 0; step < 80; step++) {
      const r = rnd();
      if (r < 0.55) {
        const symbol = symbols[Math.floor(rnd() * symbols.length)];
        const n = 1 + Math.floor(rnd() * 25);
        const fills = Array.from({ length: n }, () => '0.001');
        const { trades } = sim.runOrderLifecycle(acct, { market, symbol, side: rnd() < 0.5 ? 'BUY' : 'SELL', quantity: (0.001 * n).toFixed(3), price: '10', fills });
        all.push(...trades);
        trades.forEach((t, i) => statuses.set(t.tradeId, i === trades.length - 1));
        if (!down && !stopped) {
          for (const t of trades) {
            const e = liveFillEvent(t, statuses.get(t.tradeId) ? 'FILLED' : 'PARTIALLY_FILLED');
            e.receivedAt = Date.now();
            pipeline.live(e);
            if (rnd() < 0.1) pipeline.live({ ...e, receivedAt: Date.now() }); // overlap copy
          }
        }
      } else if (r < 0.7 && !down && !stopped) {
        down = true;
        downSince = Date.now();
        if (holdWhenDown) pipeline.hold();
        await sleep(2);
      } else if (r < 0.85 && down && !stopped) {
        await sleep(2);
        // Whether the earlier recoveries finished by now is drawn, not left to the machine's
        // speed (CI of 3556117: seed 11 lost fills only where they had finished).
        if (rnd() < 0.5) await pipeline.idle();
        down = false;
        // the new connection delivers fills right after the reconnect: normally after the gap
        // was reported (held back by the pipeline); in the liveBeforeGap variant, before
        const withLive = rnd() < 0.5;
        const symbol = symbols[Math.floor(rnd() * 3)];
        if (withLive && liveBeforeGap) liveLifecycle(symbol, 1);
        void pipeline.gap({ from: downSince, to: Date.now(), reason: 'reconnect' });
        if (withLive && !liveBeforeGap) liveLifecycle(symbol, 1);
      } else if (r < 0.92 && !down && !stopped) {
        // Node-RED stops
        await pipeline.idle();
        await store.set(recovery.snapshot());
        stopped = true;
        down = true;
        await sleep(2);
      } else if (stopped && r >= 0.92) {
        await sleep(2);
        ({ recovery, pipeline } = mk());
        recovery.restore(await store.get());
        stopped = false;
        down = false;
        const g = recovery.startupGap();
        if (g) void pipeline.gap(g);
      }
    }
    if (stopped) {
      ({ recovery, pipeline } = mk());
      recovery.restore(await store.get());
      const g = recovery.startupGap();
      if (g) void pipeline.gap(g);
    } else if (down) {
      void pipeline.gap({ from: downSince, to: Date.now(), reason: 'reconnect' });
    }
    await pipeline.idle();

    const keys = out.filter(isFill).map(fillKey);
    const expected = all.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`);
    const dupes = keys.filter((k, i) => keys.indexOf(k) !== i);
    assert.deepEqual(dupes, [], `seed ${seed}: duplicates`);
    assert.deepEqual([...keys].sort(), [...expected].sort(), `seed ${seed}: every fill exactly once`);
    if (liveBeforeGap && !holdWhenDown) return; // a fill delivered live before the gap was reported may precede recovered older ones
    for (const s of symbols) {
      const ids = out.filter((e) => isFill(e) && fillKey(e).startsWith(`${s}/`)).map((e) => Number(fillKey(e).split('/')[2]));
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `seed ${seed}: ${s} in exchange order`);
    }
  } finally {
    await sim.stop();
  }
}

describe('recovery pipeline: seeded drop/duplicate/restart scenario against the simulator', function () {
  this.timeout(120_000);
  for (const seed of [1, 7, 42, 1234]) {
    it(`spot, seed ${seed}: every fill exactly once, in exchange order per symbol`, () => scenario('spot', seed));
  }
  for (const seed of [3, 99]) {
    it(`usdm, seed ${seed}: every fill exactly once, in exchange order per symbol`, () => scenario('usdm-futures', seed));
  }
  for (const seed of [5, 11, 2024, 1003, 1012]) {
    it(`spot, seed ${seed}, live fills delivered before the gap is reported: every fill exactly once`, () => scenario('spot', seed, true));
  }
  for (const seed of [6, 12, 2025]) {
    it(`spot, seed ${seed}, live fills before the gap report but held since the drop: exactly once, in order`, () =>
      scenario('spot', seed, true, true));
  }
  // Extra seeds on demand: RECOVERY_SEEDS=100 runs seeds 1000..1099 in all three variants.
  const extra = Number(process.env.RECOVERY_SEEDS ?? 0);
  for (let i = 0; i < extra; i++) {
    const seed = 1000 + i;
    it(`extra seed ${seed}`, async () => {
      await scenario('spot', seed);
      await scenario('usdm-futures', seed);
      await scenario('spot', seed, true);
      await scenario('spot', seed, true, true);
    });
  }
});
