/**
 * REST weight limits at the stream level: the real StreamManager + ReliableStream against a
 * simulator that enforces the exchange's per-minute weight limit (429 above it). Many listed
 * symbols and several gaps in a row: every missed fill is recovered, the weight spent in any
 * 60 s window stays within the limit (recovery itself within half of it), and no request is
 * ever rate limited.
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type SimMarket, type SimTrade } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import { WeightBudget } from '../../nodes/lib/weight-budget';
import type { UserDataEvent } from '../../nodes/lib/types';
import { installClock, settle, waitFor, type Clock } from '../support/fake-clock';
import { simConfig } from '../core/helpers';
import { fillKey, isFill, maxWindowWeight } from './helpers';

const cases: Array<{ market: SimMarket; pool: string; limit: number; symbols: number }> = [
  // spot myTrades weighs 20: 200 symbols = 4000 per recovery, more than the 3000 recovery may use per minute
  { market: 'spot', pool: 'api', limit: 6000, symbols: 200 },
  // USDⓈ-M userTrades weighs 5: 300 symbols = 1500 per recovery, more than 1200
  { market: 'usdm-futures', pool: 'fapi', limit: 2400, symbols: 300 },
];

describe('reliable stream: REST weights stay within the exchange limit through repeated gaps (fake time)', function () {
  this.timeout(120_000);

  for (const c of cases) {
    it(`${c.market}: ${c.symbols} listed symbols, 4 gaps in a row: all fills recovered, ≤ ${c.limit}/min, never 429`, async () => {
      const clock: Clock = installClock();
      const sim = await BinanceSimulator.start({ restWeightLimitPerMinute: c.limit });
      let manager: StreamManager | undefined;
      let stream: ReliableStream | undefined;
      try {
        const acct = sim.createAccount({ balances: { USDT: '100000000' }, futuresBalances: { USDT: '100000000' } }).id;
        const { config } = simConfig(sim, acct, c.market);
        const symbols = Array.from({ length: c.symbols }, (_, i) => `W${String(i).padStart(3, '0')}USDT`);
        manager = new StreamManager(config);
        const m = manager;
        const budget = new WeightBudget({ market: c.market });
        stream = new ReliableStream(m, { market: c.market, symbols, budget });
        const s = stream;
        const out: UserDataEvent[] = [];
        s.on('event', (e) => out.push(e));
        const move = async (ms: number): Promise<void> => {
          for (let left = ms; left > 0; left -= 250) {
            clock.tick(Math.min(250, left));
            await settle(8);
          }
        };
        m.acquire('w');
        await waitFor(() => m.state === 'connected', { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
        sim.clearRequests();

        const missed: SimTrade[] = [];
        for (let gap = 0; gap < 4; gap++) {
          assert.ok(sim.dropConnections({ accountId: acct }) >= 1);
          for (const sym of [symbols[gap * 7], symbols[symbols.length - 1 - gap]]) {
            missed.push(...sim.runOrderLifecycle(acct, { market: c.market, symbol: sym, side: 'BUY', quantity: '2', price: '10', fills: ['1'] }).trades);
          }
          await waitFor(() => m.state === 'connected', { clock, stepMs: 250, timeoutMs: 10_000, message: 'reconnected' });
          await move(5_000);
        }
        await waitFor(() => !s.recovering, { clock, stepMs: 250, timeoutMs: 60_000, message: 'recoveries done' });
        await move(2_000);

        const got = out.filter(isFill).map(fillKey);
        assert.deepEqual([...got].sort(), missed.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`).sort(), 'every missed fill once');
        const rest = sim.requests.filter((r) => r.kind === 'rest');
        const tradesPath = c.market === 'spot' ? '/api/v3/myTrades' : '/fapi/v1/userTrades';
        assert.ok(rest.filter((r) => r.path === tradesPath).length >= 4 * c.symbols, 'every listed symbol queried at every gap');
        const total = rest.reduce((sum, r) => sum + (r.weight ?? 0), 0);
        assert.ok(total > 2 * c.limit, `the scenario needs more than two minutes of weight (total ${total})`);
        const maxWindow = maxWindowWeight(sim.requests, c.pool);
        assert.ok(maxWindow <= c.limit / 2 + 100, `max weight in any 60 s: ${maxWindow} (recovery cap ${c.limit / 2}, plus the stream's own calls)`);
        assert.equal(rest.filter((r) => r.status === 429 || r.status === 418).length, 0, 'never rate limited');
        assert.ok(budget.waits > 0, 'recovery had to wait for the budget');
        assert.ok(sim.usedWeight(c.pool) <= c.limit);
      } finally {
        await stream?.close();
        if (manager) {
          const p = manager.stop();
          for (let i = 0; i < 24; i++) {
            clock.tick(250);
            await settle(5);
          }
          await p;
        }
        await sim.stop();
        clock.uninstall();
      }
    });
  }
});
