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
  private nextOrderId = 4293153;
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
    if (req.path === '/api/v3/openOrders' || req.path === '/api/v3/myTrades' || req.path === '/api/v3/allOrders') return ok([]);
    return ERR.unknownPath();
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
  protected pushFill(ws: WebSocket, subscriptionId: number): void {
    const now = Date.now();
    const orderId = this.nextOrderId++;
    this.pushed.push(orderId);
    const event = {
      e: 'executionReport', E: now, s: 'ETHBTC', c: 'mUvoqJxFIILMdfAW5iGSOW', S: 'BUY', o: 'LIMIT', f: 'GTC',
      q: '1.00000000', p: '0.10264410', P: '0.00000000', F: '0.00000000', g: -1, C: '', x: 'TRADE', X: 'FILLED', r: 'NONE',
      i: orderId, l: '1.00000000', z: '1.00000000', L: '0.10264410', n: '0.00100000', N: 'ETH', T: now, t: 12345, I: 8641984,
      w: false, m: false, M: true, O: now - 5, Z: '0.10264410', Y: '0.10264410', Q: '0.00000000', W: now - 5, V: 'NONE',
    };
    ws.send(JSON.stringify({ subscriptionId, event }));
  }
}
