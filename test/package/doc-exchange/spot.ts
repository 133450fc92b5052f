/**
 * A minimal Binance spot exchange on 127.0.0.1, written from Binance's documentation alone and
 * independently of our simulator and of our client's code, so that a shared misreading of the
 * protocol cannot pass unnoticed in the package test. Source: binance/binance-spot-api-docs,
 * commit a5e0bc3 (2026-07-21):
 *  - web-socket-api.md, "Subscribe to User Data Stream through signature subscription
 *    (USER_STREAM)": request `userDataStream.subscribe.signature` with params apiKey, timestamp,
 *    signature, optional recvWindow; response `{id, status: 200, result: {subscriptionId: 0}}`;
 *    "SIGNED request example (HMAC)": the signature is HMAC-SHA256 (hex) of all other params
 *    sorted by name and joined as `k=v&…`; errors `{id, status: 400, error: {code, msg}}`.
 *    The WebSocket API is at `wss://ws-api.binance.com:443/ws-api/v3`.
 *  - rest-api.md, "Check server time": GET /api/v3/time → `{serverTime}`; signed REST endpoints
 *    as in common.ts. "Current open orders", "Account trade list", "All orders": arrays.
 *    "Timing security": a request is rejected unless `timestamp < serverTime + 1 second` and
 *    `serverTime - timestamp <= recvWindow` (default 5000 ms; ms or µs timestamps).
 *  - errors.md: -2015 (invalid API key), -1022 (invalid signature), -1021 (timestamp outside the
 *    recvWindow), -1000 (unknown).
 *  - user-data-stream.md, "Order Update": the executionReport event, sent as
 *    `{subscriptionId, event: {e: "executionReport", …}}` (the documented example's fields).
 * It answers only what a first connection needs; after each accepted subscription it pushes one
 * fill (an executionReport with execution type TRADE) for that subscription.
 */
import type { WebSocket } from 'ws';
import { DocServer, ERR, ok, type DocExchangeOptions, type RestAnswer, type RestRequest } from './common';

export type { DocExchangeOptions } from './common';

export interface WsApiRequest {
  id?: unknown;
  method: string;
  params: Record<string, unknown>;
}

/** What a WS API method answers: a result, or an error, as `{id, status, result | error}`. */
export type WsApiAnswer = { status: 200; result: unknown } | { status: number; error: { code: number; msg: string } };

const wsError = (code: number, msg: string): WsApiAnswer => ({ status: 400, error: { code, msg } });

export class DocExchange extends DocServer {
  /** The fills pushed, by order id. */
  readonly pushed: number[] = [];
  /** The fills pushed, as trade-list rows (`isolated`: of an isolated-margin subscription). */
  protected readonly trades: Array<{ symbol: string; id: number; orderId: number; time: number; isolated: boolean } & Record<string, unknown>> = [];
  private nextOrderId = 4293153;
  /** Trade ids count up per symbol; each fill here is its own trade (two orders of the account share one only in a self-trade). */
  private nextTradeId = 12345;
  /** Per connection, the next subscription id (web-socket-api.md: ids count up within a session). */
  private readonly nextSubscription = new WeakMap<WebSocket, number>();

  protected constructor(opts: DocExchangeOptions) {
    super(opts);
  }

  static async start(opts: DocExchangeOptions): Promise<DocExchange> {
    const x = new DocExchange(opts);
    await x.listen();
    return x;
  }

  get wsUrl(): string {
    return `ws://${this.origin}/ws-api/v3`;
  }

  protected rest(req: RestRequest): RestAnswer {
    if (req.path === '/api/v3/time') return ok({ serverTime: Date.now() });
    const denied = this.signed(req);
    if (denied) return denied;
    if (req.method !== 'GET') return ERR.unknownPath();
    if (req.path === '/api/v3/myTrades') return this.myTrades(req, false);
    if (req.path === '/api/v3/openOrders' || req.path === '/api/v3/allOrders') return ok([]);
    if (req.path === '/api/v3/account') return this.account(req);
    return ERR.unknownPath();
  }

  /** rest-api.md "Account information (USER_DATA)" `GET /api/v3/account` (`omitZeroBalances` BOOLEAN): the response example's shape. */
  private account(req: RestRequest): RestAnswer {
    const omit = req.params.get('omitZeroBalances');
    if (omit !== null && omit !== 'true' && omit !== 'false') return ERR.badParam('omitZeroBalances');
    const balances = [
      { asset: 'ETH', free: '1.00000000', locked: '0.00000000' },
      { asset: 'LTC', free: '0.00000000', locked: '0.00000000' },
    ].filter((b) => omit !== 'true' || b.free !== '0.00000000');
    return ok({
      makerCommission: 15, takerCommission: 15, buyerCommission: 0, sellerCommission: 0,
      commissionRates: { maker: '0.00150000', taker: '0.00150000', buyer: '0.00000000', seller: '0.00000000' },
      canTrade: true, canWithdraw: true, canDeposit: true, brokered: false, requireSelfTradePrevention: false, preventSor: false,
      updateTime: Date.now(), accountType: 'SPOT', balances, permissions: ['SPOT'], uid: 354937868,
    });
  }

  /**
   * rest-api.md "Account trade list (USER_DATA)" `GET /api/v3/myTrades` (margin: "Query Margin
   * Account's Trade List", `GET /sapi/v1/margin/myTrades`, the same rules plus `isIsolated`):
   * `symbol` mandatory; "If fromId is set, it will get trades >= that fromId"; "The time between
   * startTime and endTime can't be longer than 24 hours"; limit ≤ 1000; the supported combinations
   * are symbol, +orderId, +startTime, +endTime, +fromId, +startTime+endTime, +orderId+fromId
   * (others: -1128). The rows are the fills pushed, in the response example's shape.
   */
  protected myTrades(req: RestRequest, margin: boolean): RestAnswer {
    const p = req.params;
    const symbol = p.get('symbol');
    if (!symbol) return ERR.missingParam('symbol');
    const given = ['orderId', 'startTime', 'endTime', 'fromId'].filter((k) => p.has(k)).sort().join('+');
    const combos = ['', 'orderId', 'startTime', 'endTime', 'fromId', 'endTime+startTime', 'fromId+orderId'];
    if (!combos.includes(given)) return ERR.combination();
    const start = p.has('startTime') ? Number(p.get('startTime')) : undefined;
    const end = p.has('endTime') ? Number(p.get('endTime')) : undefined;
    if (start !== undefined && end !== undefined && end - start > 24 * 60 * 60 * 1000) return ERR.interval(24);
    const limit = p.has('limit') ? Number(p.get('limit')) : 500;
    if (!(Number.isInteger(limit) && limit > 0 && limit <= 1000)) return ERR.badParam('limit');
    const fromId = p.has('fromId') ? Number(p.get('fromId')) : undefined;
    const orderId = p.has('orderId') ? Number(p.get('orderId')) : undefined;
    const isolated = margin && p.get('isIsolated')?.toUpperCase() === 'TRUE';
    const rows = this.trades.filter(
      (t) =>
        t.symbol === symbol &&
        t.isolated === isolated &&
        (fromId === undefined || t.id >= fromId) &&
        (orderId === undefined || t.orderId === orderId) &&
        (start === undefined || t.time >= start) &&
        (end === undefined || t.time <= end),
    );
    return ok(rows.slice(0, limit).map(({ isolated: _isolated, ...row }) => row));
  }

  protected acceptsUpgrade(url: URL): boolean {
    return url.pathname === '/ws-api/v3';
  }

  protected connected(ws: WebSocket): void {
    this.nextSubscription.set(ws, 0);
    ws.on('message', (raw) => {
      let req: { id?: unknown; method?: unknown; params?: Record<string, unknown> };
      try {
        req = JSON.parse(String(raw)) as typeof req;
      } catch {
        return;
      }
      const method = String(req.method);
      this.requests.push(`WS ${method}`);
      const answer = this.wsApi(ws, { id: req.id, method, params: req.params ?? {} });
      ws.send(JSON.stringify({ id: req.id, ...answer.reply }));
      answer.then?.();
    });
  }

  /** A new subscription on `ws`: its id. */
  protected subscribe(ws: WebSocket): number {
    const id = this.nextSubscription.get(ws) ?? 0;
    this.nextSubscription.set(ws, id + 1);
    return id;
  }

  /** The answer to one WS API request, and what to do once it is sent. */
  protected wsApi(ws: WebSocket, req: WsApiRequest): { reply: WsApiAnswer; then?: () => void } {
    if (req.method === 'time') return { reply: { status: 200, result: { serverTime: Date.now() } } };
    if (req.method === 'userDataStream.unsubscribe') return { reply: { status: 200, result: {} } };
    if (req.method !== 'userDataStream.subscribe.signature') return { reply: wsError(-1000, 'An unknown error occurred while processing the request.') };
    const { signature, ...params } = req.params;
    if (params.apiKey !== this.opts.apiKey) return { reply: wsError(-2015, 'Invalid API-key, IP, or permissions for action.') };
    const payload = Object.keys(params).sort().map((k) => `${k}=${String(params[k])}`).join('&');
    if (typeof signature !== 'string' || signature.toLowerCase() !== this.hmac(payload)) {
      return { reply: wsError(-1022, 'Signature for this request is not valid.') };
    }
    // web-socket-api.md "Timing security": rejected (-1021) unless timestamp < serverTime + 1000 and
    // serverTime - timestamp <= recvWindow (default 5000); timestamps in ms or µs.
    let ts = Number(params.timestamp);
    if (ts > 1e14) ts /= 1000;
    const recvWindow = params.recvWindow === undefined ? 5000 : Number(params.recvWindow);
    const now = Date.now();
    if (!Number.isFinite(ts) || ts >= now + 1000 || now - ts > recvWindow) {
      return { reply: wsError(-1021, 'Timestamp for this request is outside of the recvWindow.') };
    }
    const subscriptionId = this.subscribe(ws);
    return { reply: { status: 200, result: { subscriptionId } }, then: () => this.pushFill(ws, subscriptionId) };
  }

  /** One executionReport fill (user-data-stream.md "Order Update", the documented example's fields) for `subscriptionId`. */
  protected pushFill(ws: WebSocket, subscriptionId: number, isolated = false): void {
    const now = Date.now();
    const orderId = this.nextOrderId++;
    const tradeId = this.nextTradeId++;
    this.pushed.push(orderId);
    const event = {
      e: 'executionReport', E: now, s: 'ETHBTC', c: 'mUvoqJxFIILMdfAW5iGSOW', S: 'BUY', o: 'LIMIT', f: 'GTC',
      q: '1.00000000', p: '0.10264410', P: '0.00000000', F: '0.00000000', g: -1, C: '', x: 'TRADE', X: 'FILLED', r: 'NONE',
      i: orderId, l: '1.00000000', z: '1.00000000', L: '0.10264410', n: '0.00100000', N: 'ETH', T: now, t: tradeId, I: 8641984,
      w: false, m: false, M: true, O: now - 5, Z: '0.10264410', Y: '0.10264410', Q: '0.00000000', W: now - 5, V: 'NONE',
    };
    this.trades.push({
      symbol: 'ETHBTC', id: tradeId, orderId, orderListId: -1, price: '0.10264410', qty: '1.00000000', quoteQty: '0.10264410',
      commission: '0.00100000', commissionAsset: 'ETH', time: now, isBuyer: true, isMaker: false, isBestMatch: true, isolated,
    });
    ws.send(JSON.stringify({ subscriptionId, event }));
  }
}
