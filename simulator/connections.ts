/**
 * The open connections: ConnFilter matching, the inspection calls (openConnections, connections,
 * subscriptions), sending a frame (never to a stalled or closed one), closing, and raw events
 * (injectRaw, injectRawBatch, injectEvent).
 */
import { WebSocket } from 'ws';
import {
  isFutures,
  safe,
  type SimMarket,
  type ConnKind,
  type ConnFilter,
  type ConnMarket,
  type Json,
  type Conn,
} from './model';
import type { SimState } from './state';

/** One active WS-API subscription as `subscriptions()` reports it. */
interface SubscriptionInfo {
  connId: number;
  subscriptionId: number;
  accountId: string;
  market: SimMarket;
  via: 'signature' | 'listenToken' | 'logon';
  expiresAt?: number;
}

export class ConnectionsRoom {
  constructor(private readonly s: SimState) {}

  private connMatches(c: Conn, f: ConnFilter): boolean {
    if (c.closed) return false;
    if (f.kind && c.kind !== f.kind) return false;
    if (f.accountId === undefined && f.market === undefined) return true;
    const pairs: Array<{ accountId: string; market: ConnMarket }> = [];
    for (const s of c.subs.values()) pairs.push({ accountId: s.accountId, market: s.market });
    for (const k of c.listenKeys) {
      const lk = this.s.listenKeyMap.get(k);
      if (lk) pairs.push({ accountId: lk.accountId, market: lk.market });
    }
    if (pairs.length === 0 && c.firstAccountId) pairs.push({ accountId: c.firstAccountId, market: c.firstMarket! });
    return pairs.some(
      (p) => (f.accountId === undefined || p.accountId === f.accountId) && (f.market === undefined || p.market === f.market),
    );
  }

  matching(filter: ConnFilter = {}): Conn[] {
    return [...this.s.conns.values()].filter((c) => this.connMatches(c, filter));
  }

  openConnections(filter?: ConnFilter): number {
    return this.matching(filter).length;
  }

  connections(filter?: ConnFilter): Array<{
    id: number;
    kind: ConnKind;
    accountId?: string;
    market?: ConnMarket;
    subscriptions: number;
    openedAt: number;
    stalled: boolean;
    pingsReceived: number;
  }> {
    return this.matching(filter).map((c) => {
      const first = [...c.subs.values()][0];
      const lk = c.listenKeys.map((k) => this.s.listenKeyMap.get(k)).find((x) => x);
      return {
        id: c.id,
        kind: c.kind,
        accountId: first?.accountId ?? lk?.accountId ?? c.firstAccountId,
        market: first?.market ?? lk?.market ?? c.firstMarket,
        subscriptions: c.kind === 'ws-api' ? c.subs.size : c.listenKeys.length,
        openedAt: c.openedAt,
        stalled: c.stalled,
        pingsReceived: c.pingsReceived,
      };
    });
  }

  /** Active WS-API subscriptions (for tests). */
  subscriptions(filter: ConnFilter = {}): SubscriptionInfo[] {
    const out: SubscriptionInfo[] = [];
    for (const c of this.matching({ ...filter, kind: 'ws-api' })) {
      for (const s of c.subs.values()) {
        out.push({ connId: c.id, subscriptionId: s.id, accountId: s.accountId, market: s.market, via: s.via, expiresAt: s.expiresAt });
      }
    }
    return out;
  }

  clearConnTimers(c: Conn): void {
    this.s.clearTimer(c.pingTimer);
    this.s.clearTimer(c.pongDeadline);
    this.s.clearTimer(c.lifeTimer);
    c.pingTimer = undefined;
    c.pongDeadline = undefined;
    c.lifeTimer = undefined;
    for (const s of c.subs.values()) this.s.clearTimer(s.timer);
  }

  send(c: Conn, payload: Json | string | Buffer): boolean {
    if (c.closed || c.stalled || c.ws.readyState !== WebSocket.OPEN) return false;
    const data = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    safe(() => c.ws.send(data));
    return true;
  }

  closeConn(c: Conn, code: number, reason: string): void {
    if (c.closed) return;
    this.clearConnTimers(c);
    safe(() => c.ws.close(code, reason));
  }

  injectRaw(filter: ConnFilter, frame: string | Buffer): number {
    let n = 0;
    for (const c of this.matching(filter)) {
      if (c.kind === 'legacy' && filter.kind !== 'legacy') continue;
      if (this.send(c, frame)) n++;
    }
    return n;
  }

  /**
   * Sends every frame, as-is and in order, to each matching connection, with the connection's
   * socket corked so a batch leaves in few writes (the benchmarks' fast pusher). Returns the
   * number of frames sent (frames × connections).
   */
  injectRawBatch(filter: ConnFilter, frames: ReadonlyArray<string | Buffer>): number {
    let n = 0;
    for (const c of this.matching(filter)) {
      if (c.kind === 'legacy' && filter.kind !== 'legacy') continue;
      const sock = (c.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
      sock?.cork();
      try {
        for (const f of frames) if (this.send(c, f)) n++;
      } finally {
        sock?.uncork();
      }
    }
    return n;
  }

  injectEvent(accountId: string, market: ConnMarket, event: Record<string, unknown>, opts: { symbol?: string } = {}): number {
    const ev: Json = { ...event };
    if (ev.E === undefined) ev.E = this.s.serverTime();
    if (market === 'portfolio-margin') return this.s.streams.emitPm(accountId, ev);
    if (isFutures(market)) return this.s.streams.emitFutures(accountId, market, ev);
    return this.s.wsApi.emitSpot(accountId, market, opts.symbol ?? (typeof ev.s === 'string' ? ev.s : undefined), ev);
  }
}
