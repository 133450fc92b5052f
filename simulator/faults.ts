/**
 * Fault injection: failNext (REST paths, WS API methods and handshakes), delayNext (slow REST),
 * injectPoison, clearFaults, dropConnections, stallConnections (a half-open link: nothing goes out
 * any more), sendServerShutdown and expireListenToken.
 */
import {
  isFutures,
  safe,
  type SimMarket,
  type ConnFilter,
  type FailRule,
  type AfterRule,
  type DelayRule,
  type Conn,
} from './model';
import type { SimState } from './state';

export class FaultsRoom {
  constructor(private readonly s: SimState) {}

  failNext(rule: FailRule): void {
    this.s.failRules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  takeFailure(kind: 'path' | 'ws', value: string): FailRule | undefined {
    for (let i = 0; i < this.s.failRules.length; i++) {
      const r = this.s.failRules[i];
      let hit = false;
      if (kind === 'path' && r.path !== undefined) {
        hit = typeof r.path === 'string' ? r.path === value : r.path.test(value);
      } else if (kind === 'ws' && r.wsMethod !== undefined) {
        hit = r.wsMethod === value;
      }
      if (hit) {
        r.remaining--;
        if (r.remaining <= 0) this.s.failRules.splice(i, 1);
        return r;
      }
    }
    return undefined;
  }

  failureBody(r: FailRule): { code: number; msg: string } {
    const code = r.code ?? (r.httpStatus === 429 || r.httpStatus === 418 ? -1003 : r.httpStatus >= 500 ? -1001 : -1000);
    const msg =
      r.msg ??
      (r.httpStatus === 429
        ? 'Too many requests; current limit is 6000 request weight per 1 MINUTE.'
        : r.httpStatus === 418
          ? 'Way too many requests; IP banned until ' + (this.s.serverTime() + (r.retryAfterSec ?? 120) * 1000) + '.'
          : r.httpStatus >= 500
            ? 'Internal error; unable to process your request. Please try again.'
            : 'An unknown error occurred while processing the request.');
    return { code, msg };
  }

  /** `Retry-After` (seconds) of an injected 429/418 (or any failure with retryAfterSec), REST and handshakes alike. */
  failureHeaders(r: FailRule): Record<string, string> {
    const headers: Record<string, string> = {};
    if (r.httpStatus === 429 || r.httpStatus === 418 || r.retryAfterSec !== undefined) {
      headers['Retry-After'] = String(r.retryAfterSec ?? (r.httpStatus === 418 ? 120 : 1));
    }
    return headers;
  }

  /**
   * Slow REST: the next `count` (default 1) requests whose path matches are processed on
   * arrival (weights, failNext, signature and timestamp checks) but answered `ms` later.
   * The client's own timeout can fire first, as against a slow exchange.
   */
  delayNext(rule: DelayRule): void {
    if (!(rule.ms >= 0)) throw new RangeError('delayNext: ms must be >= 0');
    this.s.delayRules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  /** Runs `rule.run` right after the next successful answer to `rule.wsMethod` (see AfterRule). */
  afterNext(rule: AfterRule): void {
    this.s.afterRules.push(rule);
  }

  /** The afterNext rule of a method just answered, taken. */
  takeAfter(method: string): AfterRule | undefined {
    const i = this.s.afterRules.findIndex((r) => r.wsMethod === method);
    return i < 0 ? undefined : this.s.afterRules.splice(i, 1)[0];
  }

  /** Drops every pending delayNext / failNext / afterNext rule (the faults stop). */
  clearFaults(): void {
    this.s.afterRules.length = 0;
    this.s.delayRules.length = 0;
    this.s.failRules.length = 0;
  }

  /**
   * A poison frame: a valid JSON user-data event whose unknown field `deep` is nested `depth`
   * levels (default 5000: more than a recursive walker's stack, far less than JSON.parse's
   * limit), in the envelope of each matching connection (WS API `{subscriptionId,event}`,
   * futures raw or `{stream,data}`). Built as text: JSON.stringify itself cannot write it.
   * Returns the number of frames sent.
   */
  injectPoison(accountId: string, market: SimMarket, opts: { depth?: number; eventType?: string } = {}): number {
    const depth = opts.depth ?? 5000;
    const type = opts.eventType ?? (isFutures(market) ? 'ACCOUNT_CONFIG_UPDATE' : 'balanceUpdate');
    const body = `{"e":${JSON.stringify(type)},"E":${this.s.serverTime()},"deep":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    let n = 0;
    for (const c of this.s.conns.values()) {
      if (c.closed) continue;
      if (c.kind === 'ws-api') {
        for (const sub of c.subs.values()) {
          if (sub.accountId === accountId && sub.market === market && this.s.net.send(c, `{"subscriptionId":${sub.id},"event":${body}}`)) n++;
        }
      } else if (c.kind === 'futures') {
        for (const k of c.listenKeys) {
          const rec = this.s.listenKeyMap.get(k);
          if (!rec || rec.accountId !== accountId || rec.market !== market) continue;
          if (c.events && !c.events.has(type)) continue;
          if (this.s.net.send(c, c.combined ? `{"stream":${JSON.stringify(k)},"data":${body}}` : body)) n++;
        }
      }
    }
    return n;
  }

  takeDelay(path: string): number {
    for (let i = 0; i < this.s.delayRules.length; i++) {
      const r = this.s.delayRules[i];
      if (typeof r.path === 'string' ? r.path !== path : !r.path.test(path)) continue;
      r.remaining--;
      if (r.remaining <= 0) this.s.delayRules.splice(i, 1);
      return r.ms;
    }
    return 0;
  }

  dropConnections(filter?: ConnFilter): number {
    const list = this.s.net.matching(filter);
    for (const c of list) {
      this.s.net.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }
    return list.length;
  }

  /**
   * Emulates a half-open link: the connections stay open but answer nothing at all from now on
   * (no pong to client pings, no server pings, no events, no responses; even frames `ws` writes
   * by itself, such as the reply to a close frame, are dropped). Incoming frames are ignored.
   */
  stallConnections(filter?: ConnFilter): number {
    const list = this.s.net.matching(filter).filter((c) => !c.stalled);
    for (const c of list) {
      c.stalled = true;
      this.muteSocket(c);
      this.s.clearTimer(c.pingTimer);
      c.pingTimer = undefined;
      this.s.clearTimer(c.pongDeadline);
      c.pongDeadline = undefined;
      this.s.clearTimer(c.lifeTimer);
      c.lifeTimer = undefined;
    }
    return list.length;
  }

  /** Drops every byte written to the connection's socket from now on (the writer is told it went out). */
  private muteSocket(c: Conn): void {
    const sock = c.socket as unknown as { write: (...args: unknown[]) => boolean };
    sock.write = (...args: unknown[]): boolean => {
      const cb = args.find((a): a is (err?: Error | null) => void => typeof a === 'function');
      if (cb) process.nextTick(cb);
      return true;
    };
  }

  sendServerShutdown(filter: ConnFilter = {}, opts: { graceMs?: number } = {}): number {
    const list = this.s.net.matching({ ...filter, kind: 'ws-api' });
    let n = 0;
    for (const c of list) {
      if (this.s.net.send(c, { event: { e: 'serverShutdown', E: this.s.serverTime() } })) n++;
      this.s.timer(() => this.s.net.closeConn(c, 1001, 'Server shutdown'), opts.graceMs ?? this.s.opts.serverShutdownGraceMs);
    }
    return n;
  }

  expireListenToken(filter: ConnFilter = {}): number {
    let n = 0;
    for (const c of this.s.net.matching({ ...filter, kind: 'ws-api' })) {
      for (const s of [...c.subs.values()]) {
        if (s.via !== 'listenToken') continue;
        if (filter.accountId !== undefined && s.accountId !== filter.accountId) continue;
        if (filter.market !== undefined && s.market !== filter.market) continue;
        const tok = s.token ? this.s.listenTokens.get(s.token) : undefined;
        if (tok) tok.revoked = true;
        this.s.wsApi.endSub(c, s);
        n++;
      }
    }
    return n;
  }
}
