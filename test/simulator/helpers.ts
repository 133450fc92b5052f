/**
 * Test helpers for the simulator tests: a small WebSocket client with a message queue,
 * plain node:http requests (no undici timers), REST signing, and fake-timer stepping.
 */
import * as http from 'node:http';
import * as FakeTimers from '@sinonjs/fake-timers';
import { WebSocket, type RawData } from 'ws';
import { signPayload, wsApiSigningPayload, type SigningKey } from '../../simulator/signing';
import type { BinanceSimulator, CreatedKey } from '../../simulator/index';

export type Json = Record<string, unknown>;
export type Clock = ReturnType<typeof FakeTimers.install>;

/** Let real I/O run: several turns of the (unfaked) immediate queue. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

let installed: Clock | undefined;

/** Install fake timers (timers + Date only, so real I/O keeps running). */
export function installClock(): Clock {
  restoreClock();
  installed = FakeTimers.install({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    now: Date.now(),
  });
  return installed;
}

/** Uninstall the fake clock if one is installed (safe to call from afterEach). */
export function restoreClock(): void {
  if (installed) {
    installed.uninstall();
    installed = undefined;
  }
}

/**
 * Advance fake time in steps, letting real I/O settle after each step. Keep the step well
 * below (pong timeout - ping interval) or pongs cannot arrive in time.
 */
export async function tick(clock: Clock, ms: number, stepMs = 1000): Promise<void> {
  let left = ms;
  while (left > 0) {
    const s = Math.min(stepMs, left);
    clock.tick(s);
    left -= s;
    await settle(5);
  }
  await settle();
}

export class WsClient {
  readonly ws: WebSocket;
  readonly messages: Json[] = [];
  readonly raw: string[] = [];
  pings = 0;
  closed = false;
  closeCode?: number;
  private waiters: Array<{ pred: (m: Json) => boolean; resolve: (m: Json) => void; from: number }> = [];
  private closeWaiters: Array<() => void> = [];
  private nextId = 1;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (d: RawData) => {
      const text = Buffer.isBuffer(d) ? d.toString('utf8') : String(d);
      this.raw.push(text);
      let m: Json;
      try {
        m = JSON.parse(text) as Json;
      } catch {
        m = { __unparsable: text };
      }
      this.messages.push(m);
      const idx = this.messages.length - 1;
      for (const w of [...this.waiters]) {
        if (idx >= w.from && w.pred(m)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
    ws.on('ping', () => this.pings++);
    ws.on('close', (code: number) => {
      this.closed = true;
      this.closeCode = code;
      for (const w of this.closeWaiters.splice(0)) w();
    });
    ws.on('error', () => undefined);
  }

  static connect(url: string, opts: { autoPong?: boolean } = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { autoPong: opts.autoPong ?? true });
      const c = new WsClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res: http.IncomingMessage) => {
        reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { statusCode: res.statusCode }));
        ws.terminate();
      });
    });
  }

  /** Next message (from index `from`, default: any already received) matching pred. */
  next(pred: (m: Json) => boolean = () => true, from = 0): Promise<Json> {
    for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i])) return Promise.resolve(this.messages[i]);
    return new Promise((resolve) => this.waiters.push({ pred, resolve, from }));
  }

  events(): Json[] {
    return this.messages.filter((m) => m.event !== undefined).map((m) => m.event as Json);
  }

  async request(method: string, params?: Json): Promise<Json> {
    const id = `r${this.nextId++}`;
    const from = this.messages.length;
    this.ws.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
    return this.next((m) => m.id === id, from);
  }

  waitClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => this.closeWaiters.push(r));
  }

  close(): void {
    this.ws.terminate();
  }
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  json: Json;
}

export function httpRequest(
  base: string,
  method: string,
  pathAndQuery: string,
  opts: { apiKey?: string; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const headers: http.OutgoingHttpHeaders = {};
    if (opts.apiKey !== undefined) headers['X-MBX-APIKEY'] = opts.apiKey;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = Buffer.byteLength(opts.body);
    }
    const req = http.request(
      { host: u.hostname, port: Number(u.port), method, path: pathAndQuery, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: (body ?? {}) as Json });
        });
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export function signingKeyOf(k: CreatedKey): SigningKey {
  return { keyType: k.keyType, apiSecret: k.apiSecret, privateKeyPem: k.privateKeyPem, passphrase: k.passphrase };
}

/** Signed REST call: params in the given order, percent-encoded, signature appended to the query. */
export function signedRest(
  sim: BinanceSimulator,
  key: CreatedKey,
  method: string,
  path: string,
  params: Array<[string, string]> = [],
  opts: { timestamp?: number; recvWindow?: number } = {},
): Promise<HttpResult> {
  const all: Array<[string, string]> = [...params, ['timestamp', String(opts.timestamp ?? sim.serverTime())]];
  if (opts.recvWindow !== undefined) all.push(['recvWindow', String(opts.recvWindow)]);
  const qs = all.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const sig = signPayload(signingKeyOf(key), qs);
  return httpRequest(sim.restUrl, method, `${path}?${qs}&signature=${encodeURIComponent(sig)}`, { apiKey: key.apiKey });
}

/** Build signed params for userDataStream.subscribe.signature. */
export function subscribeParams(key: CreatedKey, timestamp: number, recvWindow?: number): Json {
  const params: Json = { apiKey: key.apiKey, timestamp };
  if (recvWindow !== undefined) params.recvWindow = recvWindow;
  params.signature = signPayload(signingKeyOf(key), wsApiSigningPayload(params));
  return params;
}
