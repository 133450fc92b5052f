/**
 * Seeded chaos test: thousands of fills over many symbols through the real stream core
 * (StreamManager) and the reliable stream (gap recovery + de-duplication) against the
 * loopback simulator, with fake timers, while connections are dropped, stalled (half-open
 * link through a proxy), rotated (serverShutdown, max age) and keys / tokens expired at
 * seeded random moments. Every fill must come out exactly once, in exchange order per symbol.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { ReliableStream, type ReliableStateChange } from '../../nodes/lib/stream/reliable-stream';
import { MemoryStateStore } from '../../nodes/lib/recovery/persistence';
import { WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import type { GapEvent, UserDataEvent } from '../../nodes/lib/types';
import { advance, installClock, settle, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture, StallProxy, simConfig } from '../core/helpers';
import { fillKey, isFill, maxWindowWeight } from '../recovery/helpers';
import { prng } from '../support/prng';

const HOUR = 3_600_000;

function isFuturesMarket(m: SimMarket): boolean {
  return m === 'usdm-futures' || m === 'coinm-futures';
}

interface ChaosResult {
  fills: number;
  actions: Record<string, number>;
  gaps: GapEvent[];
  states: ReliableStateChange[];
  duplicatesDropped: number;
  recovered: number;
  maxWindow: number;
  limit: number;
  rateLimited: number;
}

const POOL: Record<string, string> = { spot: 'api', margin: 'sapi', 'isolated-margin': 'sapi', 'usdm-futures': 'fapi', 'coinm-futures': 'dapi' };

async function chaos(market: SimMarket, seed: number, targetFills: number, symbolCount: number): Promise<ChaosResult> {
  const rnd = prng(seed);
  const clock: Clock = installClock();
  const limit = isFuturesMarket(market) ? 2400 : 6000;
  // The simulator enforces the exchange's weight limit (429 with Retry-After above it).
  const sim = await BinanceSimulator.start({ restWeightLimitPerMinute: limit });
  let proxy: StallProxy | undefined;
  let manager: StreamManager | undefined;
  let stream: ReliableStream | undefined;
  const log = new LogCapture();
  try {
    const futures = isFuturesMarket(market);
    const acct = sim.createAccount({
      balances: { USDT: '100000000000' },
      futuresBalances: { USDT: '100000000000' },
    }).id;
    const { config } = simConfig(sim, acct, market);
    proxy = await StallProxy.start(Number(new URL(config.wsUrl!).port));
    config.wsUrl = proxy.via(config.wsUrl!);
    const symbols = Array.from({ length: symbolCount }, (_, i) => `K${String.fromCharCode(65 + (i % 26))}${String(i).padStart(2, '0')}USDT`);
    // Half the symbols are listed in the config; the others become known by being seen.
    const listed = symbols.filter((_, i) => i % 2 === 0);
    manager = new StreamManager(config, { logger: log });
    const m = manager;
    stream = new ReliableStream(manager, {
      market,
      symbols: listed,
      store: new MemoryStateStore(),
      budget: new WeightBudget({ market }),
      logger: log,
    });
    const s = stream;
    const out: UserDataEvent[] = [];
    const gaps: GapEvent[] = [];
    const states: ReliableStateChange[] = [];
    s.on('event', (e) => out.push(e));
    const rawSeen = new Map<string, number>();
    m.on('event', (e) => {
      if (isFill(e)) rawSeen.set(fillKey(e), e.receivedAt);
    });
    s.on('gap', (g) => gaps.push(g));
    s.on('state', (st) => states.push(st));
    /**
     * Moves fake time by `ms` in steps of `stepMs`; while a recovery runs, in 250 ms steps
     * with more real I/O between them (REST answers within a fraction of a fake second, as
     * they would against the exchange; a REST call never sees its 10 s timeout elapse in
     * one step).
     */
    const move = async (ms: number, stepMs: number): Promise<void> => {
      let left = ms;
      while (left > 0) {
        const busy = s.recovering;
        const st = Math.min(busy ? 250 : stepMs, left);
        clock.tick(st);
        left -= st;
        await settle(busy ? 10 : 3);
      }
      await settle(5, 1);
    };
    m.acquire('chaos');
    await waitFor(() => m.state === 'connected', { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });

    let made = 0;
    const ctx = new Map<string, string>();
    let lastAction = '';
    const trade = (symbol: string): void => {
      const n = 1 + Math.floor(rnd() * 8);
      const fills = Array.from({ length: n }, () => '1');
      // futures may go short; spot / margin only buy (the quote balance is large)
      const side = futures && rnd() < 0.5 ? 'SELL' : 'BUY';
      const res = sim.runOrderLifecycle(acct, { market, symbol, side, quantity: String(n), price: '10', fills });
      made += n;
      if (process.env.CHAOS_DEBUG) {
        for (const t of res.trades) ctx.set(`${t.symbol}/${t.orderId}/${t.tradeId}`, `${m.state} subs=${sim.subscriptions({ accountId: acct }).length} conns=${sim.openConnections({ accountId: acct })} lastAction=${lastAction}`);
      }
    };
    // Every unlisted symbol is seen once while connected.
    for (const sym of symbols.filter((x) => !listed.includes(x))) trade(sym);
    await advance(clock, 1_000, 250);

    const actions: Record<string, number> = {};
    const did = (k: string): void => {
      lastAction = `${k}@${new Date().toISOString()}`;
      actions[k] = (actions[k] ?? 0) + 1;
    };
    let bigJumpDone = false;
    while (made < targetFills) {
      const r = rnd();
      if (r < 0.7) {
        // a burst of orders
        const k = 1 + Math.floor(rnd() * 6);
        for (let i = 0; i < k; i++) trade(symbols[Math.floor(rnd() * symbols.length)]);
        did('orders');
      } else if (r < 0.76) {
        sim.dropConnections({ accountId: acct });
        did('drop');
      } else if (r < 0.8) {
        if (proxy.stall() > 0) did('stall');
      } else if (r < 0.83 && !futures) {
        if (sim.sendServerShutdown({ accountId: acct }) > 0) did('serverShutdown');
      } else if (r < 0.86) {
        if (futures) {
          for (const k of sim.listenKeys().filter((x) => x.accountId === acct)) sim.expireListenKey(k.listenKey);
          did('listenKeyExpired');
        } else if (market === 'margin' || market === 'isolated-margin') {
          if (sim.expireListenToken({ accountId: acct }) > 0) did('listenTokenExpired');
        } else {
          sim.dropConnections({ accountId: acct });
          did('drop');
        }
      } else if (r < 0.87 && !bigJumpDone && made > targetFills / 2) {
        // past the 23 h make-before-break rotation, with orders on the way
        bigJumpDone = true;
        for (let t = 0; t < 23 * HOUR + 10 * 60_000; t += 30 * 60_000) {
          trade(symbols[Math.floor(rnd() * symbols.length)]);
          await move(30 * 60_000, 30_000);
        }
        did('23h');
      }
      // time moves on: sometimes a little (events in flight), sometimes past the watchdog
      const dt = rnd() < 0.2 ? 30_000 + Math.floor(rnd() * 90_000) : Math.floor(rnd() * 3_000);
      await move(dt, 1_000);
    }

    // Quiet end: connected, nothing recovering, and one last gap-free check.
    await move(130_000, 1_000);
    await waitFor(() => m.state === 'connected' && !s.recovering, { clock, stepMs: 1_000, timeoutMs: 60_000, message: 'quiet' });
    await advance(clock, 5_000, 500, 5);
    await settle(20, 20);

    const expected = sim.trades(acct, market).map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`);
    const fills = out.filter(isFill);
    const keys = fills.map(fillKey);
    const seen = new Set<string>();
    const dupes = keys.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
    assert.deepEqual(dupes, [], `seed ${seed}: duplicates`);
    const missing = expected.filter((k) => !seen.has(k));
    if (process.env.CHAOS_DEBUG && missing.length) {
      const t = sim.trades(acct, market).find((x) => `${x.symbol}/${x.orderId}/${x.tradeId}` === missing[0]);
      console.log('missing', missing[0], 'time', t?.time, new Date(t?.time ?? 0).toISOString(), 'manager got it:', rawSeen.has(missing[0]), ctx.get(missing[0]));
      const sym = missing[0].split('/')[0];
      console.log([...rawSeen.entries()].filter(([k]) => k.startsWith(sym + '/')).map(([k, at]) => `${k}@${new Date(at).toISOString()}`).join(' '));
      console.log(JSON.stringify(gaps.map((g) => [new Date(g.from).toISOString(), new Date(g.to).toISOString(), g.reason])));
      console.log(log.lines.filter((l) => !l.startsWith('debug')).join('\n'));
    }
    assert.deepEqual(missing.slice(0, 20), [], `seed ${seed}: ${missing.length} missing fills`);
    assert.equal(keys.length, expected.length, `seed ${seed}: every fill exactly once`);
    for (const sym of symbols) {
      const ids = fills.filter((e) => fillKey(e).startsWith(`${sym}/`)).map((e) => Number(fillKey(e).split('/')[2]));
      const sorted = [...ids].sort((a, b) => a - b);
      if (process.env.CHAOS_DEBUG && JSON.stringify(ids) !== JSON.stringify(sorted)) {
        const i = ids.findIndex((v, j) => j > 0 && v < ids[j - 1]);
        const ev = fills.filter((e) => fillKey(e).startsWith(`${sym}/`));
        console.log(sym, ev.slice(Math.max(0, i - 3), i + 2).map((e) => `${fillKey(e)} rec=${e.recovered === true} at=${e.receivedAt}`));
        console.log(JSON.stringify(gaps));
        console.log(log.lines.filter((l) => !l.startsWith('debug')).slice(-400).join('\n'));
      }
      assert.deepEqual(ids, sorted, `seed ${seed}: ${sym} fills in exchange order`);
    }
    const rest = sim.requests.filter((x) => x.kind === 'rest');
    return {
      fills: expected.length,
      actions,
      gaps,
      states,
      duplicatesDropped: s.duplicateCount,
      recovered: fills.filter((e) => e.recovered).length,
      maxWindow: maxWindowWeight(sim.requests, POOL[market]),
      limit,
      rateLimited: rest.filter((x) => x.status === 429 || x.status === 418).length,
    };
  } finally {
    try {
      await stream?.close();
      if (manager) {
        const p = manager.stop();
        await advance(clock, 6_000, 500);
        await p;
      }
      await proxy?.close();
      await sim.stop();
    } finally {
      clock.uninstall();
    }
  }
}

describe('chaos: every fill exactly once, in order, through drops, stalls, rotations and key expiry (seeded, fake time)', function () {
  this.timeout(120_000);

  const runs: Array<{ market: SimMarket; seed: number; fills: number; symbols: number }> = [
    { market: 'spot', seed: 1, fills: 2500, symbols: 20 },
    { market: 'spot', seed: 77, fills: 1500, symbols: 20 },
    { market: 'usdm-futures', seed: 2, fills: 2500, symbols: 20 },
    { market: 'usdm-futures', seed: 303, fills: 1500, symbols: 20 },
    { market: 'margin', seed: 5, fills: 1200, symbols: 12 },
  ];
  const extra = Number(process.env.CHAOS_SEEDS ?? 0);
  for (let i = 0; i < extra; i++) runs.push({ market: i % 2 ? 'usdm-futures' : 'spot', seed: 5000 + i, fills: 2000, symbols: 20 });

  for (const run of runs) {
    it(`${run.market}, seed ${run.seed}: ${run.fills}+ fills over ${run.symbols} symbols`, async () => {
      const r = await chaos(run.market, run.seed, run.fills, run.symbols);
      if (process.env.CHAOS_DEBUG) {
        console.log(
          JSON.stringify({ fills: r.fills, actions: r.actions, gaps: r.gaps.length, recovered: r.recovered, duplicatesDropped: r.duplicatesDropped, maxWindow: r.maxWindow }),
        );
      }
      // The scenario really was chaotic, and recovery really did the work.
      assert.ok(r.fills >= run.fills, `fills made: ${r.fills}`);
      assert.ok(r.gaps.length >= 5, `gaps: ${r.gaps.length} (${JSON.stringify(r.actions)})`);
      assert.ok(r.recovered > 0, 'some fills were recovered over REST');
      assert.ok(r.states.some((s) => s.state === 'recovering'), 'the stream reported catching up');
      assert.ok(r.maxWindow <= r.limit, `REST weight within the exchange limit: ${r.maxWindow} / ${r.limit}`);
      assert.equal(r.rateLimited, 0, 'never rate limited');
    });
  }
});
