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
 *  - rest-api.md, "Check server time": GET /api/v3/time → `{serverTime}`; signed REST endpoints
 *    take X-MBX-APIKEY and `signature` (HMAC of the query string as sent) last in the query.
 *  - errors.md: -2015 (invalid API key), -1022 (invalid signature), -1000 (unknown).
 *  - user-data-stream.md, "Order Update": the executionReport event, sent as
 *    `{subscriptionId, event: {e: "executionReport", …}}` (the documented example's fields).
 * It answers only what a first connection needs; after each accepted subscription it pushes one
 * fill (an executionReport with execution type TRADE) for that subscription.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface DocExchangeOptions {
  apiKey: string;
  apiSecret: string;
}

export class DocExchange {
  /** Every REST path and WS API method asked for, in order (`GET /api/v3/time`, `WS userDataStream.subscribe.signature`). */
  readonly requests: string[] = [];
  /** The fills pushed, by order id. */
  readonly pushed: number[] = [];
  private nextOrderId = 4293153;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;

  private constructor(private readonly opts: DocExchangeOptions) {
    this.http = http.createServer((req, res) => this.rest(req, res));
    this.wss = new WebSocketServer({ server: this.http, path: '/ws-api/v3' });
    this.wss.on('connection', (ws) => ws.on('message', (raw) => this.wsApi(ws, String(raw))));
  }

  static async start(opts: DocExchangeOptions): Promise<DocExchange> {
    const x = new DocExchange(opts);
    await new Promise<void>((resolve) => x.http.listen(0, '127.0.0.1', resolve));
    return x;
  }

  get restUrl(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}/ws-api/v3`;
  }

  private hmac(payload: string): string {
    return crypto.createHmac('sha256', this.opts.apiSecret).update(payload, 'utf8').digest('hex');
  }

  private rest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    this.requests.push(`${req.method ?? 'GET'} ${url.pathname}`);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/api/v3/time') return send(200, { serverTime: Date.now() });
    const query = url.search.slice(1);
    const at = query.lastIndexOf('&signature=');
    if (at < 0) return send(400, { code: -1102, msg: "Mandatory parameter 'signature' was not sent, was empty/null, or malformed." });
    if (req.headers['x-mbx-apikey'] !== this.opts.apiKey) return send(401, { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
    if (this.hmac(query.slice(0, at)) !== decodeURIComponent(query.slice(at + '&signature='.length))) {
      return send(400, { code: -1022, msg: 'Signature for this request is not valid.' });
    }
    if (url.pathname === '/api/v3/openOrders' || url.pathname === '/api/v3/myTrades' || url.pathname === '/api/v3/allOrders') return send(200, []);
    send(404, { code: -1000, msg: 'Unknown path.' });
  }

  private wsApi(ws: WebSocket, text: string): void {
    let req: { id?: unknown; method?: unknown; params?: Record<string, unknown> };
    try {
      req = JSON.parse(text) as typeof req;
    } catch {
      return;
    }
    const method = String(req.method);
    this.requests.push(`WS ${method}`);
    const reply = (body: Record<string, unknown>): void => ws.send(JSON.stringify({ id: req.id, ...body }));
    if (method === 'time') return reply({ status: 200, result: { serverTime: Date.now() } });
    if (method === 'userDataStream.unsubscribe') return reply({ status: 200, result: {} });
    if (method !== 'userDataStream.subscribe.signature') return reply({ status: 400, error: { code: -1000, msg: 'Unknown method.' } });
    const { signature, ...params } = req.params ?? {};
    if (params.apiKey !== this.opts.apiKey) return reply({ status: 400, error: { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' } });
    const payload = Object.keys(params).sort().map((k) => `${k}=${String(params[k])}`).join('&');
    if (typeof signature !== 'string' || signature.toLowerCase() !== this.hmac(payload)) {
      return reply({ status: 400, error: { code: -1022, msg: 'Signature for this request is not valid.' } });
    }
    reply({ status: 200, result: { subscriptionId: 0 } });
    this.pushFill(ws, 0);
  }

  private pushFill(ws: WebSocket, subscriptionId: number): void {
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

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
