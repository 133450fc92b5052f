/**
 * The spot / margin WebSocket API (`/ws-api/v3`): requests and answers by id, the user-data
 * subscriptions (subscribe.signature, subscribe.listenToken, session.logon + subscribe), the signed
 * account / order / trade queries, listenTokens, and the spot-like events on the subscriptions.
 */
import { type RawData } from 'ws';
import { wsApiSigningPayload, verifySignature, randomAlnum } from './signing';
import {
  ApiError,
  ERR,
  toParamRecord,
  type RecordedRequest,
  type SpotLike,
  type Json,
  type KeyRec,
  type WsSub,
  type Conn,
  type AfterRule,
} from './model';
import { ALL_ORDERS_RULES } from './rest/queries';
import type { SimState } from './state';

export class WsApiRoom {
  constructor(private readonly s: SimState) {}

  emitSpot(accountId: string, market: SpotLike, symbol: string | undefined, event: Json): number {
    let n = market === 'margin' ? this.s.streams.emitPm(accountId, event) : 0;
    for (const c of this.s.conns.values()) {
      if (c.kind !== 'ws-api') continue;
      for (const s of c.subs.values()) {
        if (s.accountId !== accountId || s.market !== market) continue;
        if (market === 'isolated-margin' && symbol !== undefined && s.symbol !== symbol) continue;
        if (this.s.net.send(c, { subscriptionId: s.id, event })) n++;
      }
    }
    return n;
  }

  /** Issue a listenToken directly (same as POST /sapi/v1/userListenToken). */
  createListenToken(
    accountId: string,
    market: 'margin' | 'isolated-margin',
    opts: { symbol?: string; validityMs?: number } = {},
  ): { token: string; expirationTime: number } {
    this.s.account(accountId);
    const validity = Math.min(opts.validityMs ?? this.s.opts.listenTokenMaxValidityMs, this.s.opts.listenTokenMaxValidityMs);
    const token = randomAlnum(64);
    const expiresAt = this.s.serverTime() + validity;
    this.s.listenTokens.set(token, {
      token,
      accountId,
      market,
      symbol: market === 'isolated-margin' ? opts.symbol?.toUpperCase() : undefined,
      expiresAt,
      revoked: false,
    });
    return { token, expirationTime: expiresAt };
  }

  endSub(c: Conn, s: WsSub): void {
    this.s.clearTimer(s.timer);
    c.subs.delete(s.id);
    this.s.net.send(c, { subscriptionId: s.id, event: { e: 'eventStreamTerminated', E: this.s.serverTime() } });
  }

  onWsApiMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (c.stalled) return;
    const text = isBinary ? '' : Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined;
    }
    const rec: RecordedRequest = { kind: 'ws-api', method: '', path: '/ws-api/v3', params: {}, at: Date.now(), status: 0 };
    this.s.record(rec);
    const respond = (id: unknown, status: number, body: { result?: unknown; error?: { code: number; msg: string; data?: Json } }): void => {
      rec.status = status;
      if (body.error) rec.errorCode = body.error.code;
      const out: Json = { id: id ?? null, status };
      if (body.error) out.error = body.error;
      else out.result = body.result;
      if (c.returnRateLimits) {
        out.rateLimits = [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000, count: this.s.weights.usedWeight('api') },
        ];
      }
      this.s.net.send(c, out);
    };
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      rec.method = '(malformed)';
      respond(null, 400, { error: { code: -1000, msg: 'Malformed request: invalid JSON.' } });
      return;
    }
    const m = msg as Json;
    const id = m.id;
    const method = typeof m.method === 'string' ? m.method : '';
    const params = typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params) ? (m.params as Json) : {};
    rec.method = method;
    rec.params = toParamRecord(params);
    if (typeof params.apiKey === 'string') rec.apiKey = params.apiKey;
    rec.weight = 2;
    this.s.weights.addWeight('api', 2);
    if (!method) {
      respond(id, 400, { error: { code: -1102, msg: "Mandatory parameter 'method' was not sent, was empty/null, or malformed." } });
      return;
    }
    const fail = this.s.faults.takeFailure('ws', method);
    if (fail) {
      const b = this.s.faults.failureBody(fail);
      const errBody: { code: number; msg: string; data?: Json } = { code: b.code, msg: b.msg };
      if (fail.httpStatus === 429 || fail.httpStatus === 418) {
        // As documented: `error.data: {serverTime, retryAfter}`, retryAfter a moment on the server's
        // clock (web-socket-api.md "Rate limits", binance-spot-api-docs a5e0bc3, 2026-07-21). No
        // top-level `retryAfter` (the docs show none).
        const now = this.s.serverTime();
        errBody.data = { serverTime: now, retryAfter: now + (fail.retryAfterSec ?? (fail.httpStatus === 418 ? 120 : 1)) * 1000 };
      }
      respond(id, fail.httpStatus, { error: errBody });
      return;
    }
    let after: AfterRule | undefined;
    try {
      const result = this.wsApiMethod(c, method, params);
      respond(id, 200, { result });
      after = this.s.faults.takeAfter(method);
    } catch (e) {
      if (e instanceof ApiError) respond(id, e.httpStatus, { error: { code: e.code, msg: e.message } });
      else respond(id, 500, { error: { code: -1000, msg: 'An unknown error occurred while processing the request.' } });
    }
    // outside the try: what it does is not this request's answer
    after?.run();
  }

  private wsApiMethod(c: Conn, method: string, params: Json): unknown {
    switch (method) {
      case 'ping':
        return {};
      case 'time':
        return { serverTime: this.s.serverTime() };
      case 'session.subscriptions':
        return [...c.subs.values()].map((s) => ({ subscriptionId: s.id }));
      case 'session.status':
        return this.sessionInfo(c);
      case 'session.logon':
        return this.wsSessionLogon(c, params);
      case 'session.logout': {
        for (const s of [...c.subs.values()]) if (s.via === 'logon') this.endSub(c, s);
        c.logon = undefined;
        return this.sessionInfo(c);
      }
      case 'userDataStream.subscribe': {
        if (!c.logon) throw new ApiError(400, -1002, 'You are not authorized to execute this request.');
        const key = this.s.keys.get(c.logon.apiKey);
        if (!key || key.revoked) {
          c.logon = undefined;
          throw ERR.rejectedKey(401);
        }
        this.assertNotSubscribed(c, key.accountId);
        const sid = this.newSubId(c);
        c.subs.set(sid, { id: sid, accountId: key.accountId, market: 'spot', via: 'logon' });
        return { subscriptionId: sid };
      }
      case 'userDataStream.subscribe.signature':
        return this.wsSubscribeSignature(c, params);
      case 'userDataStream.subscribe.listenToken':
        return this.wsSubscribeListenToken(c, params);
      case 'userDataStream.unsubscribe': {
        if (params.subscriptionId !== undefined && params.subscriptionId !== null) {
          const s = c.subs.get(Number(params.subscriptionId));
          if (!s) throw new ApiError(400, -2036, 'User Data Stream subscription not active.');
          this.endSub(c, s);
        } else {
          for (const s of [...c.subs.values()]) this.endSub(c, s);
        }
        return {};
      }
      case 'account.status':
      case 'openOrders.status':
      case 'myTrades':
      case 'allOrders': {
        const key = this.wsAuth(c, params);
        const p = toParamRecord(params);
        if (method === 'account.status') return this.s.spot.restSpotAccount(key, p);
        if (method === 'openOrders.status') return this.s.spot.restOpenOrders(key, 'spot', p);
        if (method === 'myTrades') return this.s.spot.restMyTrades(key, 'spot', p);
        return this.s.queries.allOrdersOf(key.accountId, 'spot', p, ALL_ORDERS_RULES.spot).map((o) => this.s.spot.spotOrderJson(o, 'spot'));
      }
      default:
        throw new ApiError(400, -1100, `Unknown method '${method.slice(0, 64)}'.`);
    }
  }

  private newSubId(c: Conn): number {
    if (c.nextSubId >= 65_535) throw new ApiError(400, -2042, 'Maximum subscription ID reached for this connection.');
    if (c.subs.size >= 1000) throw new ApiError(400, -2039, 'Maximum active subscriptions reached for this connection.');
    return c.nextSubId++;
  }

  /** Authenticate a signed WS-API request: its own signature, or the session's Ed25519 logon. */
  private wsAuth(c: Conn, params: Json, allowLogon = true): KeyRec {
    const signed = params.signature !== undefined || params.apiKey !== undefined || !allowLogon || !c.logon;
    if (signed) {
      for (const p of ['apiKey', 'timestamp', 'signature']) {
        if (params[p] === undefined || params[p] === null || params[p] === '') throw ERR.mandatory(p);
      }
      const key = this.s.keys.get(String(params.apiKey));
      if (!key || key.revoked) throw ERR.rejectedKey(400);
      if (!verifySignature(key, wsApiSigningPayload(params), String(params.signature))) throw ERR.badSig();
      this.s.rest.checkTiming(params.timestamp, params.recvWindow);
      return key;
    }
    const key = this.s.keys.get(c.logon!.apiKey);
    if (!key || key.revoked) {
      c.logon = undefined;
      throw ERR.rejectedKey(401);
    }
    this.s.rest.checkTiming(params.timestamp, params.recvWindow);
    return key;
  }

  private wsSubscribeSignature(c: Conn, params: Json): unknown {
    const key = this.wsAuth(c, params, false);
    this.assertNotSubscribed(c, key.accountId);
    const id = this.newSubId(c);
    c.subs.set(id, { id, accountId: key.accountId, market: 'spot', via: 'signature' });
    return { subscriptionId: id };
  }

  private assertNotSubscribed(c: Conn, accountId: string): void {
    for (const s of c.subs.values()) {
      if (s.via !== 'listenToken' && s.accountId === accountId) {
        throw new ApiError(400, -2035, 'User Data Stream subscription already active.');
      }
    }
  }

  private sessionInfo(c: Conn): Json {
    return {
      apiKey: c.logon?.apiKey ?? null,
      authorizedSince: c.logon?.since ?? null,
      connectedSince: c.openedAt,
      returnRateLimits: c.returnRateLimits,
      serverTime: this.s.serverTime(),
      userDataStream: c.subs.size > 0,
    };
  }

  /** session.logon: signed like subscribe.signature, Ed25519 keys only (reference §1.2). */
  private wsSessionLogon(c: Conn, params: Json): unknown {
    for (const p of ['apiKey', 'timestamp', 'signature']) {
      if (params[p] === undefined || params[p] === null || params[p] === '') throw ERR.mandatory(p);
    }
    const key = this.s.keys.get(String(params.apiKey));
    if (!key || key.revoked) throw ERR.rejectedKey(400);
    // "Only Ed25519 keys are supported for this feature" (web-socket-api.md, session.logon,
    // binance-spot-api-docs a5e0bc3, 2026-07-21). The code Binance answers with is -2028 (issue 13);
    // errors.md of that snapshot does not list it, the message here is ours.
    if (key.keyType !== 'ed25519') throw new ApiError(400, -2028, 'Only Ed25519 API keys are supported for session.logon.');
    if (!verifySignature(key, wsApiSigningPayload(params), String(params.signature))) throw ERR.badSig();
    this.s.rest.checkTiming(params.timestamp, params.recvWindow);
    c.logon = { apiKey: key.apiKey, accountId: key.accountId, since: this.s.serverTime() };
    return this.sessionInfo(c);
  }

  private wsSubscribeListenToken(c: Conn, params: Json): unknown {
    const token = params.listenToken;
    if (typeof token !== 'string' || token === '') throw ERR.mandatory('listenToken');
    const tok = this.s.listenTokens.get(token);
    if (!tok || tok.revoked || tok.expiresAt <= this.s.serverTime()) throw ERR.badToken();
    // A fresh token of the same account+scope replaces the existing subscription seamlessly.
    for (const s of [...c.subs.values()]) {
      if (s.via === 'listenToken' && s.accountId === tok.accountId && s.market === tok.market && s.symbol === tok.symbol) {
        this.s.clearTimer(s.timer);
        c.subs.delete(s.id);
      }
    }
    const id = this.newSubId(c);
    const sub: WsSub = {
      id,
      accountId: tok.accountId,
      market: tok.market,
      symbol: tok.symbol,
      via: 'listenToken',
      token,
      expiresAt: tok.expiresAt,
    };
    sub.timer = this.s.timer(() => {
      if (c.subs.get(id) === sub) this.endSub(c, sub);
    }, Math.max(0, tok.expiresAt - this.s.serverTime()));
    c.subs.set(id, sub);
    return { subscriptionId: id, expirationTime: tok.expiresAt };
  }
}
