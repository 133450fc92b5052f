/**
 * A minimal Binance USDⓈ-M or COIN-M futures exchange on 127.0.0.1 (REST and user-data stream on
 * one port), written from Binance's documentation alone, independently of our simulator and client.
 * Sources (developers.binance.com, stored copies, undated unless a date is given, read 2026-12-02):
 *  - derivatives/usds-margined-futures/user-data-streams (Connect, "Start / Keepalive / Close User
 *    Data Stream (USER_STREAM)"): `POST /fapi/v1/listenKey` → `{listenKey}`, no parameters, API
 *    key only; the key is valid 60 minutes; `PUT` extends it by 60 minutes (→ `{listenKey}`), and
 *    answers -1125 "This listenKey does not exist." when there is none; `DELETE` closes it; a
 *    `POST` while a key is active returns that key and extends it. COIN-M the same on
 *    `/dapi/v1/listenKey` (derivatives/coin-margined-futures/user-data-streams).
 *  - derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice
 *    ("Base URL Split & Migration"; the split 2026-03-06, legacy URLs decommissioned 2026-04-23 per
 *    its change-log entry of 2026-04-02): user data is on `wss://fstream.binance.com/private`;
 *    "ws mode (listenKey + events)": `/private/ws?listenKey=<listenKey1>&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE`;
 *    connections not migrated receive only `/public` data, "Channels under /market and /private
 *    will stop pushing data". So the legacy `/ws/<listenKey>` on fstream is accepted and stays
 *    silent here. `events` is read as the list of event types to deliver; a connection without
 *    `events` gets every type (the Notice does not say; inference).
 *  - `/private/ws/<listenKey>` (our `futuresPathForm` `ws-path`) is the form the Options
 *    (derivatives/options-trading/user-data-streams: "Base Url: wss://fstream.binance.com/private/",
 *    "/ws/<listenKey>") and the newer COIN-M pages document on the same `/private` path; the
 *    USDⓈ-M Notice itself shows only the query form. Accepted, every event type.
 *  - COIN-M (coin-margined-futures/user-data-streams Connect): "Base Url 1: wss://dstream.binance.com",
 *    "User Data Streams are accessed at /ws/<listenKey>".
 *  - websocket-market-streams (USDⓈ-M and COIN-M): "The websocket server will send a ping frame
 *    every 3 minutes"; no pong within 10 minutes → disconnected; unsolicited pongs are allowed. Here
 *    the server pings once at once (and every `pingIntervalMs`) and counts the matching pongs; it
 *    answers the client's pings with pongs (RFC 6455 §5.5.2).
 *  - derivatives/usds-margined-futures/user-data-streams/Event-Order-Update: `ORDER_TRADE_UPDATE`,
 *    `{e, E, T, o: {s, c, S, o, f, q, p, ap, sp, x, X, i, l, z, L, N, n, T, t, b, a, m, R, wt, ot,
 *    ps, cp, AP, cr, pP, si, ss, rp, V, pm, gtd, er}}`; COIN-M's example adds `i` (account alias)
 *    and `ma` (margin asset) (coin-margined-futures/user-data-streams/Event-Order-Update).
 *  - Signed REST (USER_DATA) as in common.ts; "Current All Open Orders" (`/fapi/v1/openOrders`,
 *    `/dapi/v1/openOrders`), "All Orders", "Current All Algo Open Orders" (`/fapi/v1/openAlgoOrders`):
 *    empty arrays; "Account Trade List" (`userTrades`) and the account pages: see below.
 *    "Check Server Time": `GET /fapi/v1/time`, `GET /dapi/v1/time` → `{serverTime}`.
 * It pushes one fill (an ORDER_TRADE_UPDATE with execution type TRADE) on each stream connection
 * whose listenKey is valid and whose `events` include ORDER_TRADE_UPDATE.
 *
 * Family `unified` (issue 22): the COIN-M form after the CM / UM integration. Sources:
 * derivatives/coin-futures/user-data-streams (the newer COIN-M page, undated): `POST
 * /fapi/v1/listenKey`, stream `wss://fstream.binance.com/private/ws/<listenKey>`; the connector's
 * COIN-M client "after CM migration" (reference §4.6, 2026-07): "fstream and dstream carry both
 * universes"; COIN-M REST data stays on `/dapi` (the connector lists no new paths). So one /fapi
 * listenKey carries the account's USDⓈ-M and COIN-M events alike, each in its page's documented
 * shape (the COIN-M one with its account alias `i` and `ma`), and no field the pages document says
 * which family an event is. Nothing is pushed on connect: `pushBoth()` sends one fill of each
 * family to every open stream connection on the key, as the exchange sends an account's events to
 * every connection subscribed to its key. Each REST family answers only its own contracts: a
 * symbol of the other family is "Invalid symbol." -1121 (errors page; after the CM migration
 * `/dapi` answers -1121 for an invalid symbol where it answered 200: connector-js coin-futures
 * 19.0.0, 2026-07-22, audit 2026-12 §1).
 */
import * as crypto from 'node:crypto';
import type { WebSocket } from 'ws';
import { DocServer, ERR, ok, type DocExchangeOptions, type RestAnswer, type RestRequest } from './common';

const HOUR_MS = 60 * 60 * 1000;

export type FuturesFamily = 'usdm' | 'coinm' | 'unified';
type ContractFamily = 'usdm' | 'coinm';

export interface FuturesDocExchangeOptions extends DocExchangeOptions {
  family: FuturesFamily;
  /** The server's ping interval (documented: 3 minutes). */
  pingIntervalMs?: number;
}

/** How a stream connection asked for its data. */
export type StreamForm = 'ws-query' | 'ws-path' | 'legacy-ws' | 'dstream-ws';

export class FuturesDocExchange extends DocServer {
  /** The fills pushed, by order id. */
  readonly pushed: number[] = [];
  /** Each stream connection: its form, listenKey and event filter (null: none given). */
  readonly streams: Array<{ form: StreamForm; listenKey: string; events: string[] | null; valid: boolean }> = [];
  /** Keepalives (PUT) received. */
  keepalives = 0;
  /** Pongs that answered the server's pings with their payload. */
  pongs = 0;
  private listenKey: { key: string; expires: number } | null = null;
  /** The fills pushed, as Account Trade List records. */
  private readonly trades: Array<Record<string, unknown> & { symbol: string; pair?: string; id: number; time: number; family: ContractFamily }> = [];
  /** Open stream connections with a valid key that take ORDER_TRADE_UPDATE (`unified`: pushBoth). */
  private readonly open = new Set<WebSocket>();
  private nextOrderId = 8886774;
  /** Trade ids count up per symbol; each fill here is its own trade (two orders of the account share one only in a self-trade). */
  private nextTradeId = 12345;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly family: FuturesFamily;
  private readonly pingIntervalMs: number;

  private constructor(opts: FuturesDocExchangeOptions) {
    super(opts);
    this.family = opts.family;
    this.pingIntervalMs = opts.pingIntervalMs ?? 3 * 60 * 1000;
  }

  static async start(opts: FuturesDocExchangeOptions): Promise<FuturesDocExchange> {
    const x = new FuturesDocExchange(opts);
    await x.listen();
    return x;
  }

  /** The stream base as the account's `wsUrl` (custom environment): fstream's or dstream's root. */
  get wsUrl(): string {
    return `ws://${this.origin}`;
  }

  /** The REST families served: unified serves both (listenKey on /fapi, COIN-M data on /dapi). */
  private get families(): ContractFamily[] {
    return this.family === 'unified' ? ['usdm', 'coinm'] : [this.family];
  }

  protected rest(req: RestRequest): RestAnswer {
    const listenApi = this.family === 'coinm' ? '/dapi' : '/fapi';
    if (req.path === `${listenApi}/v1/listenKey`) return this.listenKeyCall(req);
    for (const family of this.families) {
      const api = family === 'usdm' ? '/fapi' : '/dapi';
      if (!req.path.startsWith(`${api}/`)) continue;
      if (req.path === `${api}/v1/time`) return ok({ serverTime: Date.now() });
      const denied = this.signed(req);
      if (denied) return denied;
      if (req.method !== 'GET') return ERR.unknownPath();
      const symbol = req.params.get('symbol');
      if (this.family === 'unified' && symbol && contractFamily(symbol) !== family) return ERR.invalidSymbol();
      if (req.path === `${api}/v1/userTrades`) return this.userTrades(req, family);
      const lists = [`${api}/v1/openOrders`, `${api}/v1/allOrders`, `${api}/v1/openAlgoOrders`];
      if (lists.includes(req.path)) return ok([]);
      if (family === 'usdm' && req.path === '/fapi/v3/account') return ok(this.usdmAccount());
      if (family === 'coinm' && req.path === '/dapi/v1/account') return ok(this.coinmAccount());
    }
    return ERR.unknownPath();
  }

  /**
   * "Account Trade List (USER_DATA)". USDⓈ-M `GET /fapi/v1/userTrades`: `symbol` mandatory; "The time
   * between startTime and endTime cannot be longer than 7 days"; "The parameter fromId cannot be
   * sent with startTime or endTime"; limit ≤ 1000 (usds-margined-futures/trade/rest-api/Account-Trade-List).
   * COIN-M `GET /dapi/v1/userTrades`: `symbol` or `pair`, not both, same window and fromId rules
   * (coin-margined-futures/trade/Account-Trade-List; reference §6). The trades are the fills
   * pushed, as in the page's response example (`buyer, commission, commissionAsset, id, maker,
   * orderId, price, qty, quoteQty, realizedPnl, side, positionSide, symbol, time`; COIN-M
   * `baseQty`, `marginAsset`, `pair` instead of `quoteQty`).
   */
  private userTrades(req: RestRequest, family: ContractFamily): RestAnswer {
    const p = req.params;
    const symbol = p.get('symbol');
    const pair = p.get('pair');
    if (family === 'usdm' && !symbol) return ERR.missingParam('symbol');
    if (family === 'coinm' && !symbol === !pair) return symbol ? ERR.combination() : ERR.missingParam('symbol');
    const start = p.has('startTime') ? Number(p.get('startTime')) : undefined;
    const end = p.has('endTime') ? Number(p.get('endTime')) : undefined;
    if (p.has('fromId') && (start !== undefined || end !== undefined)) return ERR.combination();
    if (start !== undefined && end !== undefined && end - start > 7 * 24 * HOUR_MS) return ERR.interval(168);
    const limit = p.has('limit') ? Number(p.get('limit')) : 500;
    if (!(Number.isInteger(limit) && limit > 0 && limit <= 1000)) return ERR.badParam('limit');
    const fromId = p.has('fromId') ? Number(p.get('fromId')) : undefined;
    const trades = this.trades.filter(
      (t) =>
        t.family === family &&
        (symbol ? t.symbol === symbol : t.pair === pair) &&
        (fromId === undefined || Number(t.id) >= fromId) &&
        (start === undefined || Number(t.time) >= start) &&
        (end === undefined || Number(t.time) <= end),
    );
    return ok(trades.slice(0, limit).map(({ family: _family, ...row }) => row));
  }

  /** "Account Information V3 (USER_DATA)" `GET /fapi/v3/account`, the page's single-asset example (no positions). */
  private usdmAccount(): unknown {
    const zero = '0.00000000';
    return {
      totalInitialMargin: zero, totalMaintMargin: zero, totalWalletBalance: '103.12345678', totalUnrealizedProfit: zero,
      totalMarginBalance: '103.12345678', totalPositionInitialMargin: zero, totalOpenOrderInitialMargin: zero,
      totalCrossWalletBalance: '103.12345678', totalCrossUnPnl: zero, availableBalance: '103.12345678', maxWithdrawAmount: '103.12345678',
      assets: [{
        asset: 'USDT', walletBalance: '103.12345678', unrealizedProfit: zero, marginBalance: '103.12345678', maintMargin: zero,
        initialMargin: zero, positionInitialMargin: zero, openOrderInitialMargin: zero, crossWalletBalance: '103.12345678',
        crossUnPnl: zero, availableBalance: '103.12345678', maxWithdrawAmount: '103.12345678', updateTime: Date.now(),
      }],
      positions: [],
    };
  }

  /** "Account Information (USER_DATA)" `GET /dapi/v1/account` (coin-margined-futures/account/Account-Information), one asset, no positions. */
  private coinmAccount(): unknown {
    const zero = '0.00000000';
    return {
      assets: [{
        asset: 'BTC', walletBalance: '0.00241969', unrealizedProfit: zero, marginBalance: '0.00241969', maintMargin: zero,
        initialMargin: zero, positionInitialMargin: zero, openOrderInitialMargin: zero, maxWithdrawAmount: '0.00241969',
        crossWalletBalance: '0.00241969', crossUnPnl: zero, availableBalance: '0.00241969', updateTime: Date.now(),
      }],
      positions: [],
      canDeposit: true, canTrade: true, canWithdraw: true, feeTier: 2, updateTime: 0,
    };
  }

  private listenKeyCall(req: RestRequest): RestAnswer {
    // "Parameters: None" on all three (a PUT or DELETE of a COIN-M / USDⓈ-M key names no key either)
    const denied = this.apiKeyOnly(req);
    if (denied) return denied;
    const now = Date.now();
    const active = this.listenKey && this.listenKey.expires > now ? this.listenKey : null;
    if (req.method === 'POST') {
      this.listenKey = { key: active?.key ?? crypto.randomBytes(32).toString('hex'), expires: now + HOUR_MS };
      return ok({ listenKey: this.listenKey.key });
    }
    if (req.method === 'PUT') {
      if (!active) return ERR.badListenKey();
      this.keepalives++;
      active.expires = now + HOUR_MS;
      return ok({ listenKey: active.key });
    }
    if (req.method === 'DELETE') {
      this.listenKey = null;
      return ok({});
    }
    return ERR.unknownPath();
  }

  private stream(url: URL): { form: StreamForm; listenKey: string; events: string[] | null } | null {
    const p = url.pathname;
    if (this.family === 'coinm') {
      const m = /^\/ws\/([^/]+)$/.exec(p);
      if (m) return { form: 'dstream-ws', listenKey: m[1], events: null };
      // the unified COIN-M form (after the CM / UM integration) is /fapi + fstream: family 'unified'
      return null;
    }
    if (p === '/private/ws') {
      const events = url.searchParams.get('events');
      return { form: 'ws-query', listenKey: url.searchParams.get('listenKey') ?? '', events: events === null ? null : events.split('/') };
    }
    let m = /^\/private\/ws\/([^/]+)$/.exec(p);
    if (m) return { form: 'ws-path', listenKey: m[1], events: null };
    m = /^\/ws\/([^/]+)$/.exec(p);
    if (m) return { form: 'legacy-ws', listenKey: m[1], events: null };
    return null;
  }

  protected acceptsUpgrade(url: URL): boolean {
    return this.stream(url) !== null;
  }

  protected connected(ws: WebSocket, url: URL): void {
    const s = this.stream(url);
    if (!s) return;
    const valid = !!this.listenKey && this.listenKey.key === s.listenKey && this.listenKey.expires > Date.now();
    this.streams.push({ ...s, valid });
    const payload = crypto.randomBytes(4).toString('hex');
    ws.on('pong', (data) => {
      if (data.toString() === payload) this.pongs++;
    });
    const ping = (): void => ws.ping(payload);
    ping();
    const timer = setInterval(ping, this.pingIntervalMs);
    this.timers.add(timer);
    ws.on('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
    // the legacy fstream path stays silent since 2026-04-23; an unknown key gets nothing (undocumented: inference)
    if (s.form === 'legacy-ws' || !valid) return;
    if (s.events && !s.events.includes('ORDER_TRADE_UPDATE')) return;
    if (this.family === 'unified') {
      this.open.add(ws);
      ws.on('close', () => this.open.delete(ws));
      return;
    }
    this.pushFill([ws], this.family);
  }

  /** `unified`: one USDⓈ-M and one COIN-M fill, to every open stream connection on the key (none while there is none). */
  pushBoth(): void {
    const to = [...this.open].filter((ws) => ws.readyState === ws.OPEN);
    this.pushFill(to, 'usdm');
    this.pushFill(to, 'coinm');
  }

  /** Open stream connections on the key (`unified`). */
  get openStreams(): number {
    return [...this.open].filter((ws) => ws.readyState === ws.OPEN).length;
  }

  private pushFill(to: WebSocket[], family: ContractFamily): void {
    const now = Date.now();
    const orderId = this.nextOrderId++;
    const tradeId = this.nextTradeId++;
    this.pushed.push(orderId);
    const usdm = family === 'usdm';
    const o: Record<string, unknown> = {
      s: usdm ? 'BTCUSDT' : 'BTCUSD_200925', c: 'TEST', S: 'SELL', o: 'LIMIT', f: 'GTC',
      q: usdm ? '0.001' : '2', p: usdm ? '7103.04' : '9103.1', ap: usdm ? '7103.04' : '9103.1', sp: '0',
      x: 'TRADE', X: 'FILLED', i: orderId, l: usdm ? '0.001' : '2', z: usdm ? '0.001' : '2', L: usdm ? '7103.04' : '9103.1',
      ...(usdm ? {} : { ma: 'BTC' }),
      N: usdm ? 'USDT' : 'BTC', n: usdm ? '0.00284121' : '0.00000879', T: now, t: tradeId, b: '0', a: '0', m: false, R: false,
      wt: 'CONTRACT_PRICE', ot: 'LIMIT', ps: 'BOTH', cp: false, pP: false, si: 0, ss: 0, rp: '0', V: 'NONE', pm: 'NONE', gtd: 0, er: '0',
    };
    const event = { e: 'ORDER_TRADE_UPDATE', E: now, T: now, ...(usdm ? {} : { i: 'SfsR' }), o };
    this.trades.push({
      buyer: false, commission: String(o.n), commissionAsset: String(o.N), id: Number(o.t), maker: false, orderId, price: String(o.L),
      qty: String(o.l), ...(usdm ? { quoteQty: '7.10304' } : { baseQty: '0.00219710', marginAsset: 'BTC', pair: 'BTCUSD' }),
      realizedPnl: '0', side: 'SELL', positionSide: 'BOTH', symbol: String(o.s), time: now, family,
    });
    for (const ws of to) ws.send(JSON.stringify(event));
  }

  override async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    await super.close();
  }
}

/** Which REST family lists a contract: COIN-M's are `<base>USD_PERP` / `<base>USD_<yymmdd>` (exchangeInfo examples). */
function contractFamily(symbol: string): ContractFamily {
  return /USD_(PERP|\d{6})$/.test(symbol) ? 'coinm' : 'usdm';
}
