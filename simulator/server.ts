/**
 * Server and upgrade: one Node `http` server + a `ws` WebSocketServer (noServer mode, upgrades
 * routed by path):
 *  - `/ws-api/v3`                    spot/margin WebSocket API (ws-api.ts)
 *  - futures user data, per host as Binance documents it (see onUpgrade for the sources). A key's host
 *    is the one of the REST API that issued it: `/fapi/v1/listenKey` keys live on fstream,
 *    `/dapi/v1/listenKey` keys on dstream (one loopback port serves both hosts):
 *      fstream: `/private/ws?listenKey=…[&events=…]`, `/private/ws/<k>`, `/private/stream?streams=…`
 *               stream; the legacy `/ws/<k>` and `/stream` accept the upgrade and stay silent forever
 *      dstream: `/ws/<k>` and `/stream?streams=<k>` stream; there is no `/private` (404)
 *    Portfolio margin: `/pm/ws/<k>`.
 *  - every other request: REST (rest/router.ts).
 *
 * Client pings are answered by hand (`ws` auto-pong is off) so that `stallConnections()` can emulate
 * a true half-open link: a stalled socket stays open and sends nothing at all. The server pings,
 * runs the pong deadline from the oldest unanswered ping and closes a connection at its maximum
 * lifetime.
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, type WebSocketServer, type RawData } from 'ws';
import { safe, type ConnKind, type FstreamForm, type RecordedRequest, type Conn } from './model';
import type { SimState } from './state';

export class ServerRoom {
  constructor(
    private readonly s: SimState,
    readonly server: http.Server,
    readonly wss: WebSocketServer,
  ) {
    server.on('request', (req, res) => this.onHttp(req, res));
    server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      socket.on('error', () => undefined);
      try {
        this.onUpgrade(req, socket, head);
      } catch {
        socket.destroy();
      }
    });
  }

  onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('end', () => {
      safe(() => this.s.rest.handleRest(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  private rejectUpgrade(socket: Duplex, status: number, code: number, msg: string, headers: Record<string, string> = {}): void {
    const body = JSON.stringify({ code, msg });
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    safe(() => {
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n${extra}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      socket.destroy();
    });
  }

  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.s.stopped) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    const rec: RecordedRequest = { kind: 'ws-connect', method: 'GET', path, params, at: Date.now(), status: 101 };
    this.s.record(rec);

    const fail = this.s.faults.takeFailure('path', path);
    if (fail) {
      const b = this.s.faults.failureBody(fail);
      rec.status = fail.httpStatus;
      rec.errorCode = b.code;
      this.rejectUpgrade(socket, fail.httpStatus, b.code, b.msg, this.s.faults.failureHeaders(fail));
      return;
    }

    if (path === '/ws-api/v3') {
      rec.weight = 2;
      this.s.weights.addWeight('api', 2);
      this.accept(req, socket, head, 'ws-api', (c) => {
        c.returnRateLimits = params.returnRateLimits !== 'false';
      });
      return;
    }

    // Futures user data. Which host a request reaches is told by the key's issuer (see the header):
    //  - fstream `/private/…` streams: USDⓈ-M "Important WebSocket Change Notice" (split into
    //    /public, /market, /private from 2026-03-06; legacy decommissioned 2026-04-23), reference §4.2;
    //    `/private/stream?streams=` is the connector's form (binance-connector-js, usds-futures
    //    userData(…, 'private'), 2026-07-24).
    //  - fstream legacy `/ws/<k>`, `/stream`: the handshake succeeds but nothing arrives (reports in
    //    reference §0 / §4.2: ccxt/go-binance#809 and others).
    //  - dstream `/ws/<k>`: COIN-M "User Data Streams Connect",
    //    https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams;
    //    `/stream?streams=<k>` (combined envelope): the connector's COIN-M userData() (19.0.0, 2026-07-24).
    //  - dstream `/private`: no source documents it, so it does not exist here (404).
    let keys: string[] | undefined;
    let form: FstreamForm | undefined;
    let combined = false;
    let host: 'fstream' | 'dstream' | undefined;
    const keyList = (v: string | undefined): string[] => (v ?? '').split('/').filter((k) => k);
    const hostOf = (ks: string[]): 'fstream' | 'dstream' | undefined => {
      const r = ks.length > 0 ? this.s.listenKeyMap.get(ks[0]) : undefined;
      return r ? (r.market === 'coinm-futures' ? 'dstream' : 'fstream') : undefined;
    };
    if (path === '/private/ws') {
      keys = keyList(params.listenKey);
      form = params.events ? 'ws-query' : 'ws-query-no-events';
    } else if (path.startsWith('/private/ws/')) {
      keys = keyList(path.slice('/private/ws/'.length));
      form = 'ws-path';
    } else if (path === '/private/stream') {
      keys = keyList(params.streams);
      combined = true;
      form = 'stream';
    }
    if (keys) {
      host = 'fstream';
      if (hostOf(keys) === 'dstream') {
        rec.status = 404;
        this.rejectUpgrade(socket, 404, -1000, 'Unknown path.');
        return;
      }
    } else if (path.startsWith('/ws/') && hostOf(keyList(path.slice(4))) === 'dstream') {
      keys = keyList(path.slice(4));
      host = 'dstream';
    } else if (path === '/stream' && hostOf(keyList(params.streams)) === 'dstream') {
      keys = keyList(params.streams);
      combined = true;
      host = 'dstream';
    }
    if (path.startsWith('/pm/ws/')) {
      // Portfolio margin: fstream `/pm/ws/<listenKey>` (reference §5; connector base wss://fstream.binance.com/pm).
      const k = this.s.listenKeyMap.get(path.slice('/pm/ws/'.length));
      if (!k || k.market !== 'portfolio-margin') {
        rec.status = 400;
        rec.errorCode = -1125;
        this.rejectUpgrade(socket, 400, -1125, 'This listenKey does not exist.');
        return;
      }
      this.accept(req, socket, head, 'futures', (c) => {
        c.listenKeys = [k.listenKey];
        c.combined = false;
        c.firstAccountId = k.accountId;
        c.firstMarket = k.market;
      });
      return;
    }
    if (keys && host) {
      const events = host === 'fstream' && params.events ? new Set(params.events.split('/').filter((e) => e)) : undefined;
      const recs = keys.map((k) => this.s.listenKeyMap.get(k));
      if (keys.length === 0 || recs.some((r) => !r || (r.market === 'coinm-futures') !== (host === 'dstream'))) {
        rec.status = 400;
        rec.errorCode = -1125;
        this.rejectUpgrade(socket, 400, -1125, 'This listenKey does not exist.');
        return;
      }
      if (host === 'fstream' && form && this.s.opts.fstreamSilentForms.includes(form)) {
        // a form this fstream accepts and then leaves silent (option fstreamSilentForms): like the
        // legacy paths, nothing is ever sent on it, not even pings
        const first = recs[0]!;
        this.accept(req, socket, head, 'legacy', (c) => {
          c.firstAccountId = first.accountId;
          c.firstMarket = first.market;
        });
        return;
      }
      this.accept(req, socket, head, 'futures', (c) => {
        c.listenKeys = keys;
        c.combined = combined;
        c.events = events;
        c.firstAccountId = recs[0]!.accountId;
        c.firstMarket = recs[0]!.market;
      });
      return;
    }
    if (path.startsWith('/ws/') || path === '/ws' || path === '/stream') {
      this.accept(req, socket, head, 'legacy', (c) => {
        const k = this.s.listenKeyMap.get(path.slice(4));
        if (k) {
          c.firstAccountId = k.accountId;
          c.firstMarket = k.market;
        }
      });
      return;
    }
    rec.status = 404;
    this.rejectUpgrade(socket, 404, -1000, 'Unknown path.');
  }

  private accept(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    kind: ConnKind,
    init: (c: Conn) => void,
  ): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.s.stopped) {
        safe(() => ws.terminate());
        return;
      }
      const c: Conn = {
        id: this.s.nextConnId++,
        kind,
        ws,
        openedAt: Date.now(),
        stalled: false,
        closed: false,
        socket,
        pingsReceived: 0,
        pingOutstanding: false,
        pingPayloads: new Set(),
        pingSeq: 0,
        pongTimeoutMs: kind === 'ws-api' ? this.s.opts.wsApiPongTimeoutMs : this.s.opts.futuresPongTimeoutMs,
        subs: new Map(),
        nextSubId: 0,
        returnRateLimits: true,
        listenKeys: [],
        combined: false,
      };
      init(c);
      this.s.conns.set(c.id, c);
      ws.on('error', () => undefined);
      ws.on('close', () => {
        c.closed = true;
        this.s.net.clearConnTimers(c);
        this.s.conns.delete(c.id);
      });
      ws.on('message', (data: RawData, isBinary: boolean) => {
        safe(() => {
          if (c.kind === 'ws-api') this.s.wsApi.onWsApiMessage(c, data, isBinary);
          else if (c.kind === 'futures') this.s.streams.onFuturesMessage(c, data, isBinary);
        });
      });
      ws.on('ping', (data: Buffer) => {
        safe(() => {
          c.pingsReceived++;
          if (c.stalled || c.closed || ws.readyState !== WebSocket.OPEN) return;
          ws.pong(data);
        });
      });
      ws.on('pong', (data: Buffer) => {
        safe(() => {
          // unsolicited pongs (no ping outstanding, or not echoing a ping's payload) do not count
          if (c.stalled || c.closed || !c.pingOutstanding) return;
          if (!c.pingPayloads.has(data.toString('utf8'))) return;
          c.pingPayloads.clear();
          c.pingOutstanding = false;
          this.s.clearTimer(c.pongDeadline);
          c.pongDeadline = undefined;
        });
      });
      if (kind === 'legacy') return;
      const interval = kind === 'ws-api' ? this.s.opts.wsApiPingIntervalMs : this.s.opts.futuresPingIntervalMs;
      c.pingTimer = this.s.interval(() => {
        safe(() => {
          if (c.stalled || c.closed || ws.readyState !== WebSocket.OPEN) return;
          c.pingOutstanding = true;
          // the pong deadline runs from the oldest unanswered ping
          if (c.pongDeadline === undefined) this.armPongDeadline(c);
          const payload = `${this.s.serverTime()}-${c.pingSeq++}`;
          c.pingPayloads.add(payload);
          ws.ping(Buffer.from(payload));
        });
      }, interval);
      c.lifeTimer = this.s.timer(() => this.s.net.closeConn(c, 1000, 'Max connection lifetime reached'), this.s.opts.maxConnectionLifetimeMs);
    });
  }

  private armPongDeadline(c: Conn): void {
    this.s.clearTimer(c.pongDeadline);
    c.pongDeadline = this.s.timer(() => {
      if (c.closed || c.stalled) return;
      this.s.net.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }, c.pongTimeoutMs);
  }
}
