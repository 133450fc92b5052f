/**
 * Helpers of the recovery tests: a real RestClient against the simulator, live-event
 * builders from simulator trades, weight-window checks over `sim.requests`, and the hooks of a
 * reliable-stream suite on fake time (`reliableStreamSuite`).
 */
import { RestClient } from '../../nodes/lib/transport/rest';
import { Redactor } from '../../nodes/lib/exchange/redact';
import { createSigner } from '../../nodes/lib/exchange/signing';
import type { StreamManager } from '../../nodes/lib/stream/stream-manager';
import type { ReliableStream } from '../../nodes/lib/stream/reliable-stream';
import { endAllGraces } from '../../nodes/lib/stream/redeploy-grace';
import type { AccountConfig, Market, UserDataEvent } from '../../nodes/lib/types';
import { BinanceSimulator, type RecordedRequest, type SimMarket, type SimTrade } from '../../simulator/index';
import { installClock, waitFor, type Clock } from '../support/fake-clock';
import { simConfig } from '../core/helpers';

export function timePathOf(market: Market): string {
  return market === 'usdm-futures' ? '/fapi/v1/time' : market === 'coinm-futures' ? '/dapi/v1/time' : '/api/v3/time';
}

export function restClientFor(sim: BinanceSimulator, market: SimMarket, key: { apiKey: string; apiSecret?: string }): RestClient {
  return new RestClient({
    baseUrl: sim.urlsFor(market).restUrl,
    apiKey: key.apiKey,
    signer: createSigner('hmac', { apiKey: key.apiKey, apiSecret: key.apiSecret }),
    recvWindow: 10_000,
    timePath: timePathOf(market),
    redactor: new Redactor([key.apiKey, key.apiSecret]),
  });
}

/**
 * The live event the exchange sends for a fill (fields the recovery tracks). `status` is the
 * order status after the fill (the last fill of a filled order: FILLED).
 */
export function liveFillEvent(t: SimTrade, status = 'PARTIALLY_FILLED'): UserDataEvent {
  if (t.market === 'usdm-futures' || t.market === 'coinm-futures') {
    return {
      market: t.market,
      eventType: 'ORDER_TRADE_UPDATE',
      raw: {
        e: 'ORDER_TRADE_UPDATE',
        E: t.time,
        T: t.time,
        o: { s: t.symbol, S: t.side, i: t.orderId, t: t.tradeId, x: 'TRADE', X: status, l: t.quantity, L: t.price },
      },
      receivedAt: t.time,
    };
  }
  return {
    market: t.market,
    eventType: 'executionReport',
    raw: { e: 'executionReport', E: t.time, s: t.symbol, S: t.side, i: t.orderId, t: t.tradeId, x: 'TRADE', X: status, l: t.quantity, L: t.price },
    receivedAt: t.time,
  };
}

/** Live fill events of a simulator order lifecycle: the last fill of a filled order says FILLED. */
export function liveFillEvents(sim: BinanceSimulator, trades: SimTrade[]): UserDataEvent[] {
  return trades.map((t, i) => {
    const lastOfOrder = !trades.slice(i + 1).some((x) => x.orderId === t.orderId);
    const filled = lastOfOrder && sim.getOrder(t.orderId)?.status === 'FILLED';
    return liveFillEvent(t, filled ? 'FILLED' : 'PARTIALLY_FILLED');
  });
}

/** Largest weight of `pool` ('api', 'sapi', 'fapi', 'dapi') spent within any 60 s window. */
/** The simulator's weight pool of a path: /fapi and /dapi are one pool, 'futures' (CM–UM integration). */
export function poolOfPath(path: string): string {
  const first = path.split('/')[1] ?? 'api';
  return first === 'fapi' || first === 'dapi' ? 'futures' : first;
}

export function maxWindowWeight(requests: RecordedRequest[], pool: string): number {
  const rest = requests.filter((r) => r.kind === 'rest' && poolOfPath(r.path) === pool);
  let max = 0;
  for (const r of rest) {
    const sum = rest.filter((x) => x.at > r.at - 60_000 && x.at <= r.at).reduce((s, x) => s + (x.weight ?? 0), 0);
    if (sum > max) max = sum;
  }
  return max;
}

export function fillKey(e: UserDataEvent): string {
  const o = (e.eventType === 'ORDER_TRADE_UPDATE' ? e.raw.o : e.raw) as Record<string, unknown>;
  return `${String(o.s)}/${String(o.i)}/${String(o.t)}`;
}

export function isFill(e: UserDataEvent): boolean {
  const o = (e.eventType === 'ORDER_TRADE_UPDATE' ? e.raw.o : e.raw) as Record<string, unknown> | undefined;
  return (e.eventType === 'executionReport' || e.eventType === 'ORDER_TRADE_UPDATE') && o?.x === 'TRADE';
}

export { LogCapture } from '../support/log-capture';

/** Let real I/O run: several turns of the (unfaked) immediate queue. */
export async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Drives fake time in steps until `p` settles (real loopback I/O runs between steps). */
export async function runWithClock<T>(clock: { tick(ms: number): unknown }, p: Promise<T>, stepMs = 250, maxMs = 3_600_000): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  let elapsed = 0;
  while (!done) {
    await settle();
    if (done) break;
    if (elapsed >= maxMs) throw new Error(`not settled after ${maxMs} ms of fake time`);
    clock.tick(stepMs);
    elapsed += stepMs;
  }
  return watched;
}

/** What a reliable-stream test on fake time works with: set before each test by `reliableStreamSuite`. */
export interface StreamRig {
  clock: Clock;
  sim: BinanceSimulator;
  /** A spot account of `sim` with a USDT balance. */
  acct: string;
  /** The account's config (an HMAC key of it) for a StreamManager. */
  config: AccountConfig;
}

/**
 * The mocha hooks of a suite of reliable streams over the simulator on fake time (call inside its
 * `describe`). Before each test: a fake clock, a simulator, a spot account (`usdt` USDT, default
 * 10 000 000) and its config, handed to `ready`. After each: the redeploy graces ended (with
 * `endGraces`), the streams in `streams` closed, the managers in `managers` stopped while the
 * clock ticks (7.5 s of fake time each, so their timers run), the simulator stopped, the clock
 * removed. `connected(m)` waits (moving the clock) until `m` is connected.
 */
export function reliableStreamSuite(
  ready: (rig: StreamRig) => void,
  opts: { usdt?: string; endGraces?: boolean } = {},
): { managers: StreamManager[]; streams: ReliableStream[]; connected: (m: StreamManager) => Promise<void> } {
  const managers: StreamManager[] = [];
  const streams: ReliableStream[] = [];
  let clock: Clock | undefined;
  let sim: BinanceSimulator | undefined;
  beforeEach(async () => {
    sim = undefined;
    clock = installClock();
    sim = await BinanceSimulator.start();
    const acct = sim.createAccount({ balances: { USDT: opts.usdt ?? '10000000' } }).id;
    ready({ clock, sim, acct, config: simConfig(sim, acct, 'spot').config });
  });
  afterEach(async () => {
    const c = clock!;
    try {
      if (opts.endGraces) await endAllGraces();
      for (const s of streams.splice(0)) await s.close();
      for (const m of managers.splice(0)) {
        const p = m.stop();
        for (let i = 0; i < 30; i++) {
          c.tick(250);
          await settle(5);
        }
        await p;
      }
      await sim?.stop();
    } finally {
      c.uninstall();
    }
  });
  const connected = (m: StreamManager): Promise<void> =>
    waitFor(() => m.state === 'connected', { clock: clock!, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
  return { managers, streams, connected };
}
