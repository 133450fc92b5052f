/**
 * A hostile (misbehaving) server on loopback, for the hostile-network tests: a minimal Binance
 * (server time, futures listenKey, a WebSocket API that accepts any subscribe, a futures /private
 * stream) whose answers a test can replace per path with hostile ones:
 *
 *  - `trickle`: one byte at a time, never finishing within the test;
 *  - `redirect`: a 3xx to a second loopback address (127.0.0.2) where a `Recorder` notes
 *    everything that reaches it;
 *  - `huge`: a body far larger than any cap, streamed with back-pressure from one small buffer
 *    (nothing large is allocated), noting whether the client dropped the connection;
 *  - any status with any headers (429 with an absurd or no Retry-After, 451, ...);
 *  - WebSocket handshakes refused, trickled or redirected; accepted connections that flood frames
 *    or freeze (no pong, no frame, socket left open).
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** A plain HTTP server on 127.0.0.2 that records every request (and upgrade) reaching it. */
export class Recorder {
  readonly seen: SeenRequest[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(host = '127.0.0.2'): Promise<Recorder> {
    const holder: { r?: Recorder } = {};
    const server = http.createServer((req, res) => {
      holder.r?.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"serverTime":1,"listenKey":"stolen"}');
    });
    server.on('upgrade', (req, socket: Socket) => {
      holder.r?.seen.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers });
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const r = new Recorder(server, `http://${host}:${(server.address() as AddressInfo).port}`);
    holder.r = r;
    return r;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type UpgradeHandler = (req: http.IncomingMessage, socket: Socket, head: Buffer) => void;

/** What happened to one streamed huge body. */
export interface HugeBodyReport {
  bytesSent: number;
  total: number;
  /** The client closed the connection before the body was complete. */
  aborted: boolean;
  done: Promise<void>;
}

export class HostileServer {
  readonly requests: SeenRequest[] = [];
  /** Frames received on accepted WebSocket connections, per connection (in order). */
  readonly wsConnections: Array<{ ws: WebSocket; url: string; frames: string[]; pings: number; frozen: boolean }> = [];
  private readonly routes = new Map<string, Handler>();
  private upgradeHandler: UpgradeHandler | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, autoPong: false, clientTracking: false });
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<ReturnType<typeof setInterval>>();
  /** Called for every WebSocket frame of an accepted connection (after the default handling). */
  onFrame: ((conn: HostileServer['wsConnections'][number], text: string) => void) | undefined;
  /** Replaces the (successful) answer to a subscribe request. */
  subscribeAnswer: ((id: unknown) => Record<string, unknown>) | undefined;
  /** Freeze every newly accepted WebSocket connection after its subscription (a half-open link). */
  freezeNextAfterSubscribe = 0;
  private nextSubscriptionId = 1;

  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<HostileServer> {
    const holder: { h?: HostileServer } = {};
    const server = http.createServer((req, res) => holder.h?.onRequest(req, res));
    server.on('upgrade', (req, socket: Socket, head: Buffer) => holder.h?.onUpgrade(req, socket, head));
    server.on('connection', (s: Socket) => {
      holder.h?.sockets.add(s);
      s.on('close', () => holder.h?.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const h = new HostileServer(server, (server.address() as AddressInfo).port);
    holder.h = h;
    return h;
  }

  get restUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsApiUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws-api/v3`;
  }

  get futuresWsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Replaces the answer for `METHOD /path` (query string ignored). */
  on(method: string, path: string, handler: Handler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  /** Replaces the handling of WebSocket upgrades (undefined: accept). */
  onUpgradeRequest(handler: UpgradeHandler | undefined): void {
    this.upgradeHandler = handler;
  }

  // ------------------------------------------------------------------ hostile answers

  /** Sends `text` one byte every `everyMs` (real time); never ends before the test does. */
  trickle(res: http.ServerResponse | Socket, text: string, everyMs = 20): void {
    let i = 0;
    const t = setInterval(() => {
      if (i >= text.length || res.destroyed) {
        clearInterval(t);
        this.timers.delete(t);
        return;
      }
      res.write(text[i++]);
    }, everyMs);
    this.timers.add(t);
  }

  /** Streams `total` bytes of a JSON-looking body from one 64 KiB buffer, with back-pressure. */
  huge(res: http.ServerResponse, total: number): HugeBodyReport {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    chunk[0] = 0x5b; // '['
    const report: HugeBodyReport = { bytesSent: 0, total, aborted: false, done: Promise.resolve() };
    report.done = new Promise<void>((resolve) => {
      res.on('close', () => {
        if (report.bytesSent < total || !res.writableFinished) report.aborted = true;
        resolve();
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(total) });
      const pump = (): void => {
        while (report.bytesSent < total && !res.destroyed) {
          const n = Math.min(chunk.length, total - report.bytesSent);
          report.bytesSent += n;
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    return report;
  }

  /** Refuses a WebSocket upgrade with `status`, headers and an optional JSON body. */
  static refuseUpgrade(socket: Socket, status: number, headers: Record<string, string> = {}, body = ''): void {
    const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`, 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`];
    if (body) lines.push('Content-Type: application/json');
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  // ------------------------------------------------------------------ default behaviour

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const path = (req.url ?? '/').split('?')[0];
    const h = this.routes.get(`${req.method} ${path}`);
    if (h) {
      h(req, res);
      return;
    }
    const json = (o: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(o));
    };
    if (req.method === 'GET' && /^\/(api\/v3|fapi\/v1|dapi\/v1)\/time$/.test(path)) return json({ serverTime: Date.now() });
    if (/^\/(fapi|dapi)\/v1\/listenKey$/.test(path)) return json(req.method === 'POST' ? { listenKey: 'hostileListenKey0123456789abcdef0123456789abcdef0123456789abcdef' } : {});
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":-1,"msg":"not here"}');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    this.requests.push({ method: 'UPGRADE', url: req.url ?? '', headers: req.headers });
    socket.on('error', () => undefined);
    if (this.upgradeHandler) {
      this.upgradeHandler(req, socket, head);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req.url ?? ''));
  }

  private accept(ws: WebSocket, url: string): void {
    const conn = { ws, url, frames: [] as string[], pings: 0, frozen: false };
    this.wsConnections.push(conn);
    ws.on('error', () => undefined);
    ws.on('ping', (data: Buffer) => {
      conn.pings++;
      if (!conn.frozen) ws.pong(data);
    });
    const freeze = (): void => {
      if (this.freezeNextAfterSubscribe <= 0) return;
      this.freezeNextAfterSubscribe -= 1;
      conn.frozen = true;
      // A half-open link: nothing is read or written any more, the socket stays open.
      const sock = (ws as unknown as { _socket: Socket })._socket;
      sock.pause();
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const text = isBinary ? `<binary ${data.length}>` : data.toString('utf8');
      conn.frames.push(text);
      if (conn.frozen) return;
      let msg: { id?: unknown; method?: unknown } | undefined;
      try {
        msg = JSON.parse(text) as { id?: unknown; method?: unknown };
      } catch {
        msg = undefined;
      }
      if (msg && typeof msg.method === 'string' && msg.method.startsWith('userDataStream.subscribe')) {
        const answer = this.subscribeAnswer?.(msg.id) ?? { id: msg.id, status: 200, result: { subscriptionId: this.nextSubscriptionId++ } };
        ws.send(JSON.stringify(answer));
        this.onFrame?.(conn, text);
        freeze();
        return;
      }
      if (msg && msg.method === 'userDataStream.unsubscribe') ws.send(JSON.stringify({ id: msg.id, status: 200, result: {} }));
      this.onFrame?.(conn, text);
    });
    // futures streams have no subscribe request: the connection itself is the subscription
    if (url.startsWith('/private')) freeze();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers.clear();
    for (const c of this.wsConnections) c.ws.terminate();
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
