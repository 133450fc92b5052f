/**
 * Helpers of the recovery tests: a real RestClient against the simulator, live-event
 * builders from simulator trades, and weight-window checks over `sim.requests`.
 */
import { RestClient } from '../../nodes/lib/transport/rest';
import { Redactor } from '../../nodes/lib/exchange/redact';
import { createSigner } from '../../nodes/lib/exchange/signing';
import type { Market, UserDataEvent } from '../../nodes/lib/types';
import type { BinanceSimulator, RecordedRequest, SimMarket, SimTrade } from '../../simulator/index';

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
