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
import { sharedWeightBudget, WeightBudget } from '../../nodes/lib/exchange/weight-budget';
import { RestClient } from '../../nodes/lib/transport/rest';
import { Redactor } from '../../nodes/lib/exchange/redact';
import { createSigner } from '../../nodes/lib/exchange/signing';
import type { UserDataEvent } from '../../nodes/lib/types';
import { installClock, settle, waitFor, type Clock } from '../support/fake-clock';
import { simConfig } from '../core/helpers';
import { fillKey, isFill, maxWindowWeight } from './helpers';

const cases: Array<{ market: SimMarket; pool: string; limit: number; symbols: number }> = [
  // spot myTrades weighs 20: 200 symbols = 4000 per recovery, more than the 3000 recovery may use per minute
  { market: 'spot', pool: 'api', limit: 6000, symbols: 200 },
  // USDⓈ-M userTrades weighs 5: 300 symbols = 1500 per recovery, more than 1200
  { market: 'usdm-futures', pool: 'futures', limit: 2400, symbols: 300 },
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
          // the next drop once this gap's recovery has queried (a gap queued behind a recovery that
          // queried a symbol after the gap ended does not ask it again: each gap here asks all)
          await waitFor(() => !s.recovering, { clock, stepMs: 250, timeoutMs: 150_000, message: 'this gap recovered' });
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

/**
 * Since the CM–UM integration ("Important CM-UM Integration Notice" §A.3, effective 2026-06-30)
 * USDⓈ-M and COIN-M share ONE per-IP weight limit (2400/min) and one X-MBX-USED-WEIGHT-1M counter.
 * The simulator enforces that one limit over /fapi and /dapi together. A USDⓈ-M and a COIN-M account
 * recover at the same time, after another program already used weight in the pool: together they
 * stay within half the limit (one shared budget), wait for the header-reported usage instead of
 * running into 429, and recover every fill.
 */
describe('reliable stream: USDⓈ-M and COIN-M recoveries share one weight limit (fake time)', function () {
  this.timeout(180_000);

  it('UM 300 + CM 100 listed symbols, 3 gaps together, 1500 weight used by another program: ≤ 2400/min in the shared pool, never 429', async () => {
    const limit = 2400;
    const clock: Clock = installClock();
    const sim = await BinanceSimulator.start({ restWeightLimitPerMinute: limit });
    const managers: StreamManager[] = [];
    const streams: ReliableStream[] = [];
    try {
      const acct = sim.createAccount({ futuresBalances: { USDT: '100000000', BTC: '100000' } }).id;
      const um = simConfig(sim, acct, 'usdm-futures').config;
      const cm = simConfig(sim, acct, 'coinm-futures').config;
      const umSymbols = Array.from({ length: 300 }, (_, i) => `U${String(i).padStart(3, '0')}USDT`);
      const cmSymbols = Array.from({ length: 100 }, (_, i) => `C${String(i).padStart(3, '0')}USD_PERP`);
      const out: UserDataEvent[] = [];
      for (const [config, symbols] of [[um, umSymbols], [cm, cmSymbols]] as const) {
        const m = new StreamManager(config);
        managers.push(m);
        // The production wiring: the budget of the recovery host and pool (binance-account.ts).
        const s = new ReliableStream(m, { market: config.market, symbols: [...symbols], restUrl: config.restUrl });
        streams.push(s);
        s.on('event', (e) => out.push(e));
      }
      assert.equal(streams[0].recovery!.budget, streams[1].recovery!.budget, 'one budget for UM and CM');
      assert.equal(streams[0].recovery!.budget, sharedWeightBudget(cm.restUrl!, 'coinm-futures'));
      const move = async (ms: number): Promise<void> => {
        for (let left = ms; left > 0; left -= 250) {
          clock.tick(Math.min(250, left));
          await settle(8);
        }
      };
      for (const m of managers) m.acquire('w');
      await waitFor(() => managers.every((m) => m.state === 'connected'), { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
      sim.clearRequests();

      // Another program on the same IP: 300 × /dapi/v1/userTrades (weight 5 since the CM migration) = 1500 of 2400.
      const other = new RestClient({
        baseUrl: cm.restUrl!,
        apiKey: cm.credentials.apiKey,
        signer: createSigner('hmac', cm.credentials),
        recvWindow: 60_000,
        timePath: '/dapi/v1/time',
        redactor: new Redactor([cm.credentials.apiKey, cm.credentials.apiSecret]),
      });
      for (let i = 0; i < 300; i++) await other.request('GET', '/dapi/v1/userTrades', { symbol: 'BTCUSD_PERP' }, { security: 'signed' });
      assert.ok(sim.usedWeight('futures') >= 1500);

      const missed: SimTrade[] = [];
      for (let gap = 0; gap < 3; gap++) {
        assert.ok(sim.dropConnections({ accountId: acct }) >= 2);
        for (const [market, sym] of [['usdm-futures', umSymbols[gap * 11]], ['coinm-futures', cmSymbols[cmSymbols.length - 1 - gap]]] as const) {
          missed.push(...sim.runOrderLifecycle(acct, { market, symbol: sym, side: 'BUY', quantity: '2', price: '10', fills: ['1'] }).trades);
        }
        await waitFor(() => managers.every((m) => m.state === 'connected'), { clock, stepMs: 250, timeoutMs: 10_000, message: 'reconnected' });
        await move(5_000);
        // (as above: each gap's recovery asks every symbol)
        await waitFor(() => streams.every((s) => !s.recovering), { clock, stepMs: 250, timeoutMs: 150_000, message: 'this gap recovered' });
      }
      await waitFor(() => streams.every((s) => !s.recovering), { clock, stepMs: 250, timeoutMs: 150_000, message: 'recoveries done' });
      await move(2_000);

      const got = out.filter(isFill).map(fillKey);
      assert.deepEqual([...got].sort(), missed.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`).sort(), 'every missed fill once');
      const rest = sim.requests.filter((r) => r.kind === 'rest');
      assert.ok(rest.filter((r) => r.path === '/fapi/v1/userTrades').length >= 3 * umSymbols.length, 'UM symbols queried at every gap');
      assert.ok(rest.filter((r) => r.path === '/dapi/v1/userTrades').length >= 3 * cmSymbols.length + 300, 'CM symbols queried at every gap');
      assert.equal(rest.filter((r) => r.status === 429 || r.status === 418).length, 0, 'never rate limited');
      const maxWindow = maxWindowWeight(sim.requests, 'futures');
      assert.ok(maxWindow <= limit, `max weight of the shared pool in any 60 s: ${maxWindow} (limit ${limit})`);
      const recoveryOnly = sim.requests.filter((r) => !(r.path === '/dapi/v1/userTrades' && r.params.symbol === 'BTCUSD_PERP'));
      const maxRecovery = maxWindowWeight(recoveryOnly, 'futures');
      assert.ok(maxRecovery <= limit / 2 + 100, `UM + CM recovery together in any 60 s: ${maxRecovery} (cap ${limit / 2} plus the streams' own calls)`);
      assert.ok(streams[0].recovery!.budget.waits > 0, 'recovery waited (budget or header)');
    } finally {
      for (const s of streams) await s.close();
      const stops = managers.map((m) => m.stop());
      for (let i = 0; i < 24; i++) {
        clock.tick(250);
        await settle(5);
      }
      await Promise.all(stops);
      await sim.stop();
      clock.uninstall();
    }
  });
});

/**
 * COIN-M `GET /dapi/v1/userTrades` weighs 5 since the CM migration (Binance's connector-js
 * coin-futures 19.0.0, 2026-07-22; before: 20 with a symbol, 40 with a pair), and the simulator
 * charges that. The weight the recovery budget counts is the weight the exchange charged for the
 * recovery's requests: counting 20 would make recovery wait for weight it never spends.
 */
describe('reliable stream: COIN-M recovery counts the weight the exchange charges (fake time)', function () {
  this.timeout(60_000);

  it('COIN-M, 40 listed symbols, one gap: the budget spent what the exchange charged for the recovery requests', async () => {
    const clock: Clock = installClock();
    const sim = await BinanceSimulator.start({ restWeightLimitPerMinute: 2400 });
    let manager: StreamManager | undefined;
    let stream: ReliableStream | undefined;
    try {
      const acct = sim.createAccount({ futuresBalances: { BTC: '100000' } }).id;
      const { config } = simConfig(sim, acct, 'coinm-futures');
      const symbols = Array.from({ length: 40 }, (_, i) => `C${String(i).padStart(3, '0')}USD_PERP`);
      manager = new StreamManager(config);
      const m = manager;
      const budget = new WeightBudget({ market: 'coinm-futures' });
      stream = new ReliableStream(m, { market: 'coinm-futures', symbols, budget });
      const s = stream;
      const out: UserDataEvent[] = [];
      s.on('event', (e) => out.push(e));
      m.acquire('w');
      await waitFor(() => m.state === 'connected', { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
      await waitFor(() => !s.recovering, { clock, stepMs: 250, timeoutMs: 30_000, message: 'first recovery done' });
      sim.clearRequests();
      const spentBefore = budget.totalSpent;

      assert.ok(sim.dropConnections({ accountId: acct }) >= 1);
      const missed = sim.runOrderLifecycle(acct, { market: 'coinm-futures', symbol: symbols[7], side: 'BUY', quantity: '2', price: '10', fills: ['1'] }).trades;
      await waitFor(() => m.state === 'connected', { clock, stepMs: 250, timeoutMs: 10_000, message: 'reconnected' });
      await waitFor(() => out.filter(isFill).length >= missed.length && !s.recovering, { clock, stepMs: 250, timeoutMs: 30_000, message: 'recovered' });

      assert.deepEqual(out.filter(isFill).map(fillKey), missed.map((t) => `${t.symbol}/${t.orderId}/${t.tradeId}`));
      const rest = sim.requests.filter((r) => r.kind === 'rest');
      const trades = rest.filter((r) => r.path === '/dapi/v1/userTrades');
      assert.ok(trades.length >= symbols.length, `every listed symbol queried: ${trades.length}`);
      assert.ok(trades.every((r) => r.weight === 5), 'the exchange charges 5 per userTrades');
      // the requests the recovery made through its budget: everything but the stream's own calls
      const recoveryRest = rest.filter((r) => !/\/listenKey$|\/time$/.test(r.path));
      const charged = recoveryRest.reduce((sum, r) => sum + (r.weight ?? 0), 0);
      assert.equal(budget.totalSpent - spentBefore, charged, `counted ${budget.totalSpent - spentBefore}, charged ${charged}: ${[...new Set(recoveryRest.map((r) => r.path))].join(', ')}`);
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
});

/**
 * A shared budget outlives the stream that created it (one per host and pool for the process). It
 * held that first stream's logger: every later stream's 429/418 pause was logged under the first,
 * long closed node, and the budget kept that node (and all it held) alive for good — a soak of
 * thousands of deploys ran out of heap. Each request now says its pause through its own stream.
 */
describe('reliable stream: a shared budget reports a pause through the stream that hit it (fake time)', function () {
  this.timeout(60_000);

  it('stream A opened and closed, stream B on the same host hits a 429: B logs the pause, A logs nothing', async () => {
    const clock: Clock = installClock();
    const sim = await BinanceSimulator.start();
    const managers: StreamManager[] = [];
    const streams: ReliableStream[] = [];
    const logs: Record<'A' | 'B', string[]> = { A: [], B: [] };
    const loggerOf = (who: 'A' | 'B') => ({ debug: () => undefined, info: () => undefined, warn: (m: string) => logs[who].push(m), error: (m: string) => logs[who].push(m) });
    const move = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= 250) {
        clock.tick(Math.min(250, left));
        await settle(8);
      }
    };
    try {
      const acct = sim.createAccount({ balances: { USDT: '100000000' } }).id;
      const { config } = simConfig(sim, acct, 'spot');
      const open = async (who: 'A' | 'B'): Promise<ReliableStream> => {
        const m = new StreamManager(config);
        managers.push(m);
        const s = new ReliableStream(m, { market: 'spot', symbols: ['BTCUSDT'], restUrl: config.restUrl, logger: loggerOf(who) });
        streams.push(s);
        m.acquire(who);
        await waitFor(() => m.state === 'connected' && !s.recovering, { clock, stepMs: 50, timeoutMs: 20_000, message: `${who} connected` });
        return s;
      };
      const a = await open('A');
      await a.close();
      const b = await open('B');
      assert.equal(a.recovery!.budget, b.recovery!.budget, 'one shared budget for the host');
      sim.failNext({ path: '/api/v3/myTrades', httpStatus: 429, retryAfterSec: 2 });
      const missed = sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '10', fills: ['1'] }).trades;
      const got: UserDataEvent[] = [];
      b.on('event', (e) => got.push(e));
      assert.ok(sim.dropConnections({ accountId: acct }) >= 1);
      sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '10', fills: ['1'] });
      await move(10_000);
      await waitFor(() => managers[1].state === 'connected' && !b.recovering, { clock, stepMs: 250, timeoutMs: 60_000, message: 'B recovered' });
      assert.ok(got.filter(isFill).map(fillKey).includes(`${missed[0].symbol}/${missed[0].orderId}/${missed[0].tradeId}`), 'the missed fill recovered after the pause');
      assert.equal(sim.requests.filter((r) => r.kind === 'rest' && r.status === 429).length, 1, 'the 429 happened');
      assert.ok(logs.B.some((l) => l.includes('rate limited (429)')), `B says why its recovery waits: ${JSON.stringify(logs.B)}`);
      assert.deepEqual(logs.A.filter((l) => l.includes('429')), [], 'the closed stream A says nothing');
    } finally {
      for (const s of streams) await s.close();
      for (const m of managers) {
        const p = m.stop();
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
});
