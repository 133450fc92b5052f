/**
 * The futures streams: listenKeys (POST / PUT / DELETE on /fapi, /dapi and /papi, 60 min validity,
 * listenKeyExpired), the events of a futures market and of a Portfolio Margin account on their keys,
 * and the SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS control messages of a `/private` connection.
 */
import type { RawData } from 'ws';
import { randomAlnum } from './signing';
import {
  ERR,
  type FuturesMarket,
  type KeyMarket,
  type Json,
  type KeyRec,
  type Conn,
  type ListenKeyRec,
} from './model';
import type { SimState } from './state';

/**
 * A futures event as the portfolio-margin stream sends it: with `fs` ('UM' / 'CM'), and an
 * ALGO_UPDATE with its order under `ao` instead of `o` (`{e, T, E, fs, ao}`: Binance's PM connector
 * types AlgoOrderUpdate / algo-order-update-ao.ts, binance-connector-js since 2026-07-13; PM python
 * connector CHANGELOG 12.0.1, 2026-08-11).
 */
function pmFrame(market: FuturesMarket, event: Json): Json {
  const fs = market === 'coinm-futures' ? 'CM' : 'UM';
  if (event.e === 'ALGO_UPDATE' && event.o !== undefined) {
    const { o, ...rest } = event;
    return { ...rest, fs, ao: o };
  }
  return { fs, ...event };
}

export class StreamsRoom {
  constructor(private readonly s: SimState) {}

  listenKeys(): Array<{ listenKey: string; accountId: string; market: KeyMarket; expiresAt: number }> {
    return [...this.s.listenKeyMap.values()].map((k) => ({
      listenKey: k.listenKey,
      accountId: k.accountId,
      market: k.market,
      expiresAt: k.expiresAt,
    }));
  }

  /**
   * USDⓈ-M events go to the account's /fapi key, COIN-M events to its /dapi key and, for an account
   * created with `coinmOnFapi`, to its /fapi key as well: the unified form after the COIN-M / USDⓈ-M
   * integration (notice published 2026-06-10, effective 2026-06-30,
   * https://developers.binance.com/docs/derivatives/coin-margined-futures; the newer COIN-M
   * user-data page shows /fapi/v1/listenKey + fstream /private, reference §4.6).
   */
  emitFutures(accountId: string, market: FuturesMarket, event: Json): number {
    const unified = market === 'coinm-futures' && this.s.accounts.get(accountId)?.coinmOnFapi === true;
    let n = 0;
    for (const k of this.s.listenKeyMap.values()) {
      if (k.accountId !== accountId) continue;
      if (k.market === market || (unified && k.market === 'usdm-futures')) n += this.emitOnKey(k.listenKey, event);
    }
    return n + this.emitPm(accountId, pmFrame(market, event));
  }

  /**
   * Portfolio margin: the account's UM and CM futures events (with `fs` = 'UM' / 'CM', "Event
   * business unit", connector types OrderTradeUpdate.fs / AccountUpdate.fs, 17.0.0 2026-07-24),
   * its cross-margin events (executionReport, outboundAccountPosition, balanceUpdate) and the PM
   * risk events (riskLevelChange, liabilityChange, openOrderLoss) arrive on its papi listenKey.
   * The simulator models a PM account as the account's usdm / coinm / margin books.
   */
  emitPm(accountId: string, event: Json): number {
    let n = 0;
    for (const k of this.s.listenKeyMap.values()) {
      if (k.accountId === accountId && k.market === 'portfolio-margin') n += this.emitOnKey(k.listenKey, event);
    }
    return n;
  }

  private emitOnKey(listenKey: string, event: Json): number {
    let n = 0;
    const type = String(event.e);
    for (const c of this.s.conns.values()) {
      if (c.kind !== 'futures' || !c.listenKeys.includes(listenKey)) continue;
      // `events=` is an allow-list: a type not listed is not delivered, listenKeyExpired included
      // (fstream /private "events" parameter, Important WebSocket Change Notice, reference §4.2).
      if (c.events && !c.events.has(type)) continue;
      if (this.s.net.send(c, c.combined ? { stream: listenKey, data: event } : event)) n++;
    }
    return n;
  }

  private activeListenKey(accountId: string, market: KeyMarket): ListenKeyRec | undefined {
    return [...this.s.listenKeyMap.values()].find((k) => k.accountId === accountId && k.market === market);
  }

  private armListenKey(rec: ListenKeyRec): void {
    this.s.clearTimer(rec.timer);
    rec.expiresAt = this.s.serverTime() + this.s.opts.listenKeyValidityMs;
    rec.timer = this.s.timer(() => this.expireListenKey(rec.listenKey), this.s.opts.listenKeyValidityMs);
  }

  expireListenKey(listenKey: string): void {
    const rec = this.s.listenKeyMap.get(listenKey);
    if (!rec) return;
    this.emitOnKey(listenKey, { e: 'listenKeyExpired', E: this.s.serverTime(), listenKey });
    this.forgetListenKey(rec);
  }

  private forgetListenKey(rec: ListenKeyRec): void {
    this.s.clearTimer(rec.timer);
    this.s.listenKeyMap.delete(rec.listenKey);
    for (const c of this.s.conns.values()) {
      if (c.kind === 'futures') c.listenKeys = c.listenKeys.filter((k) => k !== rec.listenKey);
    }
  }

  restListenKeyPost(k: KeyRec, market: KeyMarket): unknown {
    let rec = this.activeListenKey(k.accountId, market);
    if (!rec) {
      rec = { listenKey: randomAlnum(64), accountId: k.accountId, market, expiresAt: 0 };
      this.s.listenKeyMap.set(rec.listenKey, rec);
    }
    this.armListenKey(rec);
    return { listenKey: rec.listenKey };
  }

  private findKeyFor(k: KeyRec, market: KeyMarket, p: Record<string, string>): ListenKeyRec {
    const rec = p.listenKey ? this.s.listenKeyMap.get(p.listenKey) : this.activeListenKey(k.accountId, market);
    if (!rec || rec.accountId !== k.accountId || rec.market !== market) throw ERR.noListenKey();
    return rec;
  }

  restListenKeyPut(k: KeyRec, market: KeyMarket, p: Record<string, string>): unknown {
    const rec = this.findKeyFor(k, market, p);
    this.armListenKey(rec);
    return { listenKey: rec.listenKey };
  }

  restListenKeyDelete(k: KeyRec, market: KeyMarket, p: Record<string, string>): unknown {
    const rec = this.findKeyFor(k, market, p);
    const affected = [...this.s.conns.values()].filter((c) => c.kind === 'futures' && c.listenKeys.includes(rec.listenKey));
    this.forgetListenKey(rec);
    for (const c of affected) if (c.listenKeys.length === 0) this.s.net.closeConn(c, 1000, 'listenKey deleted');
    return {};
  }

  /** SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS of listenKeys on a `/private` connection. */
  onFuturesMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (c.stalled || isBinary) return;
    let msg: unknown;
    try {
      msg = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
    } catch {
      this.s.net.send(c, { error: { code: 3, msg: 'Invalid JSON' }, id: null });
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.s.net.send(c, { error: { code: 2, msg: 'Invalid request' }, id: null });
      return;
    }
    const m = msg as Json;
    const id = typeof m.id === 'number' || typeof m.id === 'string' ? m.id : null;
    const params = Array.isArray(m.params) ? m.params.filter((x): x is string => typeof x === 'string') : [];
    switch (m.method) {
      case 'LIST_SUBSCRIPTIONS':
        this.s.net.send(c, { result: [...c.listenKeys], id });
        return;
      case 'SUBSCRIBE': {
        if (params.some((k) => !this.s.listenKeyMap.has(k))) {
          this.s.net.send(c, { error: { code: 2, msg: 'Invalid request: unknown listenKey' }, id });
          return;
        }
        for (const k of params) if (!c.listenKeys.includes(k)) c.listenKeys.push(k);
        this.s.net.send(c, { result: null, id });
        return;
      }
      case 'UNSUBSCRIBE':
        c.listenKeys = c.listenKeys.filter((k) => !params.includes(k));
        this.s.net.send(c, { result: null, id });
        return;
      default:
        this.s.net.send(c, { error: { code: 2, msg: 'Invalid request: unknown method' }, id });
    }
  }
}
