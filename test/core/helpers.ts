/**
 * Shared helpers of the core tests: a StreamManager on a simulator account, with recorded
 * events/states/gaps and a log capture.
 */
import * as net from 'node:net';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import type { AccountConfig, GapEvent, KeyType, RotationEvent, StateChange, UserDataEvent } from '../../nodes/lib/types';

import { LogCapture } from '../support/log-capture';

export { LogCapture };

export interface Harness {
  sim: BinanceSimulator;
  accountId: string;
  config: AccountConfig;
  manager: StreamManager;
  events: UserDataEvent[];
  states: StateChange[];
  gaps: GapEvent[];
  rotations: RotationEvent[];
  log: LogCapture;
  secrets: string[];
}

export const FUTURES: readonly SimMarket[] = ['usdm-futures', 'coinm-futures'];

export function isFutures(m: SimMarket): boolean {
  return m === 'usdm-futures' || m === 'coinm-futures';
}

/** A config for `market` on the simulator (custom environment), with a fresh key. */
export function simConfig(
  sim: BinanceSimulator,
  accountId: string,
  market: SimMarket,
  keyType: KeyType = 'hmac',
  extra: Partial<AccountConfig> = {},
): { config: AccountConfig; secrets: string[] } {
  const key = sim.createKey(accountId, keyType, {
    enableMargin: true,
    enableFutures: true,
    ...(keyType !== 'hmac' && extra.credentials?.passphrase ? { passphrase: extra.credentials.passphrase } : {}),
  });
  const urls = sim.urlsFor(market);
  const config: AccountConfig = {
    market,
    environment: 'custom',
    restUrl: urls.restUrl,
    wsUrl: urls.wsUrl,
    keyType,
    symbol: market === 'isolated-margin' ? 'BTCUSDT' : undefined,
    ...extra,
    credentials: {
      apiKey: key.apiKey,
      apiSecret: key.apiSecret,
      privateKey: key.privateKeyPem,
      passphrase: key.passphrase,
    },
  };
  const secrets = [key.apiKey, key.apiSecret, key.privateKeyPem, key.passphrase].filter((s): s is string => !!s);
  return { config, secrets };
}

export function attach(manager: StreamManager): Pick<Harness, 'events' | 'states' | 'gaps' | 'rotations'> {
  const events: UserDataEvent[] = [];
  const states: StateChange[] = [];
  const gaps: GapEvent[] = [];
  const rotations: RotationEvent[] = [];
  manager.on('event', (e) => events.push(e));
  manager.on('state', (s) => states.push(s));
  manager.on('gap', (g) => gaps.push(g));
  manager.on('rotated', (r) => rotations.push(r));
  return { events, states, gaps, rotations };
}

/** A distinct user-data event for `market` carrying a marker `seq` (so duplicates are visible). */
export function testEvent(market: SimMarket, seq: number): Record<string, unknown> {
  if (isFutures(market)) {
    // a contract symbol of the market's family (a unified /fapi key carries both: facts.ts futuresFamilyOfEvent)
    const s = market === 'coinm-futures' ? `SEQ${seq}USD_PERP` : `SEQ${seq}`;
    return { e: 'ACCOUNT_CONFIG_UPDATE', E: 1_700_000_000_000 + seq, T: 1_700_000_000_000 + seq, ac: { s, l: seq } };
  }
  return { e: 'balanceUpdate', E: 1_700_000_000_000 + seq, a: 'USDT', d: `${seq}.00000000`, T: 1_700_000_000_000 + seq };
}

/** Sequence markers of received test events, in order. */
export function seqs(events: UserDataEvent[]): number[] {
  return events.map((e) => Number(e.raw.E) - 1_700_000_000_000);
}

export function connKind(market: SimMarket): 'ws-api' | 'futures' {
  return isFutures(market) ? 'futures' : 'ws-api';
}

/**
 * A loopback TCP proxy that can emulate a half-open link: after stall(), no byte crosses in
 * either direction (pings, pongs, messages), but neither socket is closed.
 */
export class StallProxy {
  private readonly pairs = new Set<{ client: net.Socket; up: net.Socket; stalled: boolean }>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<StallProxy> {
    const holder: { proxy?: StallProxy } = {};
    const server = net.createServer((client) => {
      const proxy = holder.proxy;
      if (!proxy) {
        client.destroy();
        return;
      }
      const up = net.connect(targetPort, '127.0.0.1');
      // No Nagle: its real-time delays (tens of ms per small frame) would be seconds of fake time.
      client.setNoDelay(true);
      up.setNoDelay(true);
      const pair = { client, up, stalled: false };
      proxy.pairs.add(pair);
      client.on('data', (d) => {
        if (!pair.stalled) up.write(d);
      });
      up.on('data', (d) => {
        if (!pair.stalled) client.write(d);
      });
      const end = (): void => {
        proxy.pairs.delete(pair);
        client.destroy();
        up.destroy();
      };
      client.on('close', end).on('error', end);
      up.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new StallProxy(server, (server.address() as net.AddressInfo).port);
    holder.proxy = proxy;
    return proxy;
  }

  /** Rewrites a ws:// URL of the simulator to go through this proxy. */
  via(url: string): string {
    const u = new URL(url);
    u.port = String(this.port);
    return u.toString().replace(/\/$/, '');
  }

  /** Stops all traffic on the current connections (half-open link). */
  stall(): number {
    for (const p of this.pairs) p.stalled = true;
    return this.pairs.size;
  }

  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.up.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
