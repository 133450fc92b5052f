/**
 * What every doc-written exchange shares (see spot.ts, margin.ts, futures.ts): one HTTP server on
 * 127.0.0.1 that answers REST and hands each WebSocket upgrade to the market's handler, and the
 * REST security rules as Binance documents them. Written from Binance's documentation alone,
 * independently of our simulator and of our client's code. Sources:
 *  - binance/binance-spot-api-docs, commit a5e0bc3 (2026-07-21), rest-api.md "SIGNED request
 *    example (HMAC)": the key goes in the `X-MBX-APIKEY` header; the signature is HMAC-SHA256 (hex,
 *    "not case-sensitive") of "the query string concatenated without separator to the HTTP body",
 *    `signature` sent last; errors.md: -1102 (mandatory parameter missing), -1022 (invalid
 *    signature), -1021 (timestamp outside the recvWindow), -1127 (more than N hours between
 *    startTime and endTime), -1128 (combination of optional parameters invalid), -1130 (invalid
 *    parameter), -1125 (listenKey does not exist), -2014 (API-key format
 *    invalid), -2015 (invalid API key, IP or permissions), -1000 (unknown; our answer for a path we
 *    do not model).
 *  - developers.binance.com derivatives pages (USDⓈ-M / COIN-M "General Info", stored copies read
 *    2026-12-02): the futures REST APIs sign the same way (query string and body, HMAC-SHA256) and
 *    answer errors as `{code, msg}`.
 *  - USER_STREAM endpoints (futures "Start User Data Stream (USER_STREAM)", margin "Create Margin
 *    Account listenToken (USER_STREAM)"): API key only, no timestamp or signature among their
 *    parameters; binance/binance-connector-js margin-trading user-data-stream-api.ts (commit
 *    6ff6b19) sends its USER_STREAM calls with `isSigned: false`.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface DocExchangeOptions {
  apiKey: string;
  apiSecret: string;
  /**
   * What a USER_STREAM endpoint does with parameters it does not list (a `timestamp` and
   * `signature` on a key-only endpoint): `ignore` them (the pages say nothing), or `refuse` them
   * with -1104 "Not all sent parameters were read" (errors.md; the futures error-code pages list
   * the same code). Default `ignore`.
   */
  unreadParams?: 'ignore' | 'refuse';
}

export interface RestRequest {
  method: string;
  path: string;
  /** Query and body parameters, decoded (the query wins, as Binance documents for a name sent in both). */
  params: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** The query string and the body as sent, for the signature. */
  query: string;
  body: string;
}

export interface RestAnswer {
  status: number;
  body: unknown;
}

export const ok = (body: unknown): RestAnswer => ({ status: 200, body });
export const fail = (status: number, code: number, msg: string): RestAnswer => ({ status, body: { code, msg } });

export const ERR = {
  missingSignature: () => fail(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."),
  missingParam: (name: string) => fail(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`),
  badSignature: () => fail(400, -1022, 'Signature for this request is not valid.'),
  badKeyFormat: () => fail(401, -2014, 'API-key format invalid.'),
  badKey: () => fail(401, -2015, 'Invalid API-key, IP, or permissions for action.'),
  badParam: (name: string) => fail(400, -1130, `Data sent for parameter '${name}' is not valid.`),
  timestamp: () => fail(400, -1021, 'Timestamp for this request is outside of the recvWindow.'),
  combination: () => fail(400, -1128, 'Combination of optional parameters invalid.'),
  interval: (hours: number) => fail(400, -1127, `More than ${hours} hours between startTime and endTime.`),
  unread: (read: number, sent: number) => fail(400, -1104, `Not all sent parameters were read; read '${read}' parameter(s) but was sent '${sent}'.`),
  badListenKey: () => fail(400, -1125, 'This listenKey does not exist.'),
  invalidSymbol: () => fail(400, -1121, 'Invalid symbol.'),
  unknownPath: () => fail(404, -1000, 'An unknown error occurred while processing the request.'),
};

/** One HTTP server: REST by `rest`, WebSocket upgrades by `upgrade` (path and query as sent). */
export abstract class DocServer {
  /** Every REST call (`GET /api/v3/time`), WebSocket API method (`WS userDataStream.subscribe.signature`) and stream connection (`WSS /private/ws`), in order. */
  readonly requests: string[] = [];
  /** Every REST call refused (status ≥ 400): `GET /fapi/v1/userTrades?… → 400 -1128 …`. */
  readonly refused: string[] = [];
  private readonly http: http.Server;
  protected readonly wss = new WebSocketServer({ noServer: true });

  protected constructor(protected readonly opts: DocExchangeOptions) {
    this.http = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const body = Buffer.concat(chunks).toString('utf8');
        const params = new URLSearchParams(body);
        for (const [k, v] of url.searchParams) params.set(k, v);
        const method = req.method ?? 'GET';
        this.requests.push(`${method} ${url.pathname}`);
        const answer = this.rest({ method, path: url.pathname, params, headers: req.headers, query: url.search.slice(1), body });
        if (answer.status >= 400) {
          const shown = [...params.keys()].filter((k) => k !== 'signature').join(',');
          this.refused.push(`${method} ${url.pathname} (${shown}) → ${answer.status} ${JSON.stringify(answer.body)}`);
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      this.requests.push(`WSS ${url.pathname}`);
      if (!this.acceptsUpgrade(url)) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, url));
    });
  }

  protected async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
  }

  protected get origin(): string {
    return `127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get restUrl(): string {
    return `http://${this.origin}`;
  }

  protected abstract rest(req: RestRequest): RestAnswer;
  protected abstract acceptsUpgrade(url: URL): boolean;
  protected abstract connected(ws: WebSocket, url: URL): void;

  protected hmac(payload: string): string {
    return crypto.createHmac('sha256', this.opts.apiSecret).update(payload, 'utf8').digest('hex');
  }

  /**
   * USER_STREAM: a valid `X-MBX-APIKEY`, and only the parameters the endpoint lists (`listed`;
   * others refused when `unreadParams` is `refuse`); null when the request may go on.
   */
  protected apiKeyOnly(req: RestRequest, listed: readonly string[] = []): RestAnswer | null {
    const keyError = this.checkKey(req);
    if (keyError) return keyError;
    if (this.opts.unreadParams === 'refuse') {
      const sent = [...new Set(req.params.keys())];
      const read = sent.filter((k) => listed.includes(k)).length;
      if (read < sent.length) return ERR.unread(read, sent.length);
    }
    return null;
  }

  private checkKey(req: RestRequest): RestAnswer | null {
    const key = req.headers['x-mbx-apikey'];
    if (typeof key !== 'string' || key === '') return ERR.badKeyFormat();
    if (key !== this.opts.apiKey) return ERR.badKey();
    return null;
  }

  /**
   * SIGNED (TRADE / USER_DATA): the key, a `timestamp` within the `recvWindow` (rest-api.md "Timing
   * security": `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`, default
   * 5000, at most 60000), and `signature` last over query + body.
   */
  protected signed(req: RestRequest): RestAnswer | null {
    const keyError = this.checkKey(req);
    if (keyError) return keyError;
    const split = (s: string): [string, string] | null => {
      const m = /(^|&)signature=([^&]*)$/.exec(s);
      return m ? [s.slice(0, m.index), decodeURIComponent(m[2])] : null;
    };
    const inBody = split(req.body);
    const inQuery = inBody ? null : split(req.query);
    if (!inBody && !inQuery) return ERR.missingSignature();
    const payload = inBody ? req.query + inBody[0] : (inQuery as [string, string])[0] + req.body;
    const signature = inBody ? inBody[1] : (inQuery as [string, string])[1];
    if (!req.params.get('timestamp')) return ERR.missingParam('timestamp');
    if (signature.toLowerCase() !== this.hmac(payload)) return ERR.badSignature();
    let ts = Number(req.params.get('timestamp'));
    if (ts > 1e14) ts /= 1000;
    const recvWindow = req.params.has('recvWindow') ? Number(req.params.get('recvWindow')) : 5000;
    if (!(recvWindow > 0 && recvWindow <= 60000)) return ERR.badParam('recvWindow');
    const now = Date.now();
    if (!Number.isFinite(ts) || ts >= now + 1000 || now - ts > recvWindow) return ERR.timestamp();
    return null;
  }

  /** Drops every WebSocket connection (a network fault): the client must reconnect and recover. */
  drop(): void {
    for (const c of this.wss.clients) c.terminate();
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
