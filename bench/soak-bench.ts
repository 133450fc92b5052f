/**
 * Scenario 3b: 24 simulated hours of the stream core (StreamManager, the engine every account
 * node runs) on four markets, with make-before-break rotations (rotateAfterMs 1 h), futures
 * listenKey keepalives (every 30 min), margin listenToken renewals, server pings and one
 * order event per account per simulated minute. Fake timers (setTimeout/setInterval/Date)
 * drive the hours; sockets are real (loopback simulator in this process).
 *
 * Heap after GC is sampled every simulated hour; handles and connections at start and end.
 */
import * as FakeTimers from '@sinonjs/fake-timers';
import { BinanceSimulator, type SimMarket } from '../simulator/index';
import { StreamManager } from '../nodes/lib/stream/stream-manager';
import type { AccountConfig, Logger } from '../nodes/lib/types';
import { activeResources, countResources, round, settledHeap, slope, type BenchOptions } from './common';

const HOUR = 3_600_000;
const MB = 2 ** 20;
const MARKETS: SimMarket[] = ['spot', 'margin', 'usdm-futures', 'coinm-futures'];

const realSetImmediate = setImmediate;
const realSetTimeout = setTimeout;

async function settle(turns: number, realMs = 0): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => realSetImmediate(r));
  if (realMs > 0) await new Promise<void>((r) => realSetTimeout(r, realMs));
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export interface SoakResult {
  simulatedHours: number;
  markets: string[];
  rotations: number;
  reconnects: number;
  keepalives: number;
  listenTokens: number;
  eventsInjected: number;
  eventsDelivered: number;
  samples: Array<{ hour: number; heapMb: number; handles: number }>;
  heapStartMb: number;
  heapEndMb: number;
  heapGrowthMb: number;
  slopeBytesPerHour: number;
  handlesStart: Record<string, number>;
  handlesEnd: Record<string, number>;
  connectionsStart: number;
  connectionsEnd: number;
  handlesAfterStop: Record<string, number>;
  realSeconds: number;
}

function testEvent(market: SimMarket, seq: number, now: number): Record<string, unknown> {
  if (market === 'usdm-futures' || market === 'coinm-futures') {
    const s = market === 'coinm-futures' ? 'BTCUSD_PERP' : 'BTCUSDT';
    return { e: 'ORDER_TRADE_UPDATE', E: now, T: now, o: { s, c: `soak-${seq}`, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1', p: '100', ap: '0', sp: '0', x: 'NEW', X: 'NEW', i: 7_000_000 + seq, l: '0', z: '0', L: '0', T: now, t: 0, b: '0', a: '0', m: false, R: false, wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, rp: '0', pP: false, si: 0, ss: 0, V: 'NONE', pm: 'NONE', gtd: 0 } };
  }
  return { e: 'executionReport', E: now, s: 'BTCUSDT', c: `soak-${seq}`, S: 'BUY', o: 'LIMIT', f: 'GTC', q: '1.00000000', p: '100.00000000', P: '0', F: '0', g: -1, C: '', x: 'NEW', X: 'NEW', r: 'NONE', i: 7_000_000 + seq, l: '0', z: '0', L: '0', n: '0', N: null, T: now, t: -1, I: seq, w: true, m: false, M: false, O: now, Z: '0', Y: '0', Q: '0', W: now, V: 'NONE' };
}

export async function runSoak(opts: BenchOptions, log: (s: string) => void): Promise<SoakResult> {
  const r0 = process.hrtime.bigint();
  const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], now: Date.now() });
  const sim = await BinanceSimulator.start({ listenTokenMaxValidityMs: 6 * HOUR });
  const managers: Array<{ m: StreamManager; accountId: string; market: SimMarket }> = [];
  let rotations = 0;
  let reconnects = 0;
  let delivered = 0;
  let injected = 0;
  try {
    for (const market of MARKETS) {
      const { id: accountId } = sim.createAccount();
      const key = sim.createKey(accountId, 'hmac');
      const urls = sim.urlsFor(market);
      const config: AccountConfig = {
        market,
        environment: 'custom',
        restUrl: urls.restUrl,
        wsUrl: urls.wsUrl,
        keyType: 'hmac',
        credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret },
        rotateAfterMs: HOUR,
      };
      const m = new StreamManager(config, { logger: quiet });
      m.on('event', () => {
        delivered += 1;
      });
      m.on('rotated', () => {
        rotations += 1;
      });
      m.on('state', (s) => {
        if (s.state === 'reconnecting') reconnects += 1;
      });
      m.acquire('bench');
      managers.push({ m, accountId, market });
    }
    for (let i = 0; i < 2000 && managers.some((x) => x.m.state !== 'connected'); i++) {
      clock.tick(50);
      await settle(3, 1);
    }
    if (managers.some((x) => x.m.state !== 'connected')) throw new Error('soak: not every stream connected');
    const samples: SoakResult['samples'] = [];
    const sample = async (hour: number): Promise<void> => {
      sim.clearRequests();
      const heap = await settledHeap();
      samples.push({ hour, heapMb: round(heap / MB, 3), handles: countResources(activeResources(), ['PipeWrap', 'ProcessWrap', 'TTYWrap']) });
    };
    // the first simulated hour warms up (JIT, first rotation); sampling starts after it
    let seq = 0;
    let keepalives = 0;
    let tokens = 0;
    const countRequests = (): void => {
      for (const r of sim.requests) {
        if (r.kind === 'rest' && r.method === 'PUT' && /listenKey/.test(r.path)) keepalives += 1;
        if (r.kind === 'rest' && r.path === '/sapi/v1/userListenToken') tokens += 1;
      }
    };
    let handlesStart: Record<string, number> = {};
    let connectionsStart = 0;
    for (let minute = 1; minute <= opts.hours * 60; minute++) {
      for (const x of managers) {
        seq += 1;
        if (sim.injectEvent(x.accountId, x.market, testEvent(x.market, seq, Date.now())) > 0) injected += 1;
      }
      for (let s = 0; s < 12; s++) {
        clock.tick(5_000);
        await settle(3);
      }
      if (minute % 60 === 0) {
        await settle(10, 2);
        countRequests();
        const hour = minute / 60;
        if (hour === 1) {
          handlesStart = activeResources();
          connectionsStart = sim.openConnections();
        }
        if (hour >= 1) await sample(hour);
        if (hour % 6 === 0 || hour === opts.hours) log(`  soak hour ${hour}: heap ${samples[samples.length - 1].heapMb} MB, rotations ${rotations}, delivered ${delivered}/${injected}`);
      }
    }
    countRequests();
    const handlesEnd = activeResources();
    const connectionsEnd = sim.openConnections();
    // stop everything: nothing of ours may stay behind
    const stops = managers.map((x) => x.m.stop());
    for (let i = 0; i < 200; i++) {
      clock.tick(100);
      await settle(3, 1);
    }
    await Promise.all(stops);
    await sim.stop();
    await settle(10, 20);
    const handlesAfterStop = activeResources();
    const first = samples[0]?.heapMb ?? NaN;
    const last = samples[samples.length - 1]?.heapMb ?? NaN;
    return {
      simulatedHours: opts.hours,
      markets: MARKETS,
      rotations,
      reconnects,
      keepalives,
      listenTokens: tokens,
      eventsInjected: injected,
      eventsDelivered: delivered,
      samples,
      heapStartMb: first,
      heapEndMb: last,
      heapGrowthMb: round(last - first, 3),
      slopeBytesPerHour: Math.round(
        slope(
          samples.map((s) => s.hour),
          samples.map((s) => s.heapMb * MB),
        ),
      ),
      handlesStart,
      handlesEnd,
      connectionsStart,
      connectionsEnd,
      handlesAfterStop,
      realSeconds: round(Number(process.hrtime.bigint() - r0) / 1e9, 1),
    };
  } finally {
    for (const x of managers) void x.m.stop().catch(() => undefined);
    await sim.stop().catch(() => undefined);
    clock.uninstall();
  }
}
