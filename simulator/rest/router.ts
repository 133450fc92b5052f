/**
 * The REST front door: every request is recorded, weighed (X-MBX-USED-WEIGHT-1M per pool, 429
 * above `restWeightLimitPerMinute`), checked against failNext / delayNext, authenticated (API key,
 * permission, signature as the exchange verifies it, timestamp within recvWindow) and handed to the
 * route of its venue (rest/spot.ts, rest/margin.ts, rest/futures.ts, rest/portfolio-margin.ts,
 * algo.ts; listenKeys in futures-streams.ts).
 */
import * as http from 'node:http';
import { restSigningPayload, verifySignature } from '../signing';
import {
  ApiError,
  ERR,
  safe,
  type RecordedRequest,
  type KeyRec,
} from '../model';
import type { SimState } from '../state';
import { poolOf } from '../weights';

/** One REST route: who may call it, its weight, and what it answers. */
export interface Route {
  /**
   * 'user-stream': Binance's USER_STREAM security type as documented ("Endpoint requires sending a
   * valid API-Key"); a signature, when one is sent anyway, is verified like a SIGNED one's.
   */
  auth: 'none' | 'apikey' | 'user-stream' | 'signed';
  /** 'user-stream' routes: the parameters the endpoint lists (others: option `userStreamUnreadParams`). */
  params?: readonly string[];
  perm?: 'margin' | 'futures';
  weight: (p: Record<string, string>) => number;
  handler: (p: Record<string, string>, key?: KeyRec) => unknown;
}

/** A venue's routes, keyed "METHOD /path". */
export type RouteTable = Array<[string, Route]>;

export class RestRouter {
  /** Every venue's routes (spot, margin, futures, algo orders, portfolio margin). */
  private readonly routes: Map<string, Route>;

  constructor(private readonly s: SimState) {
    this.routes = new Map([...s.spot.routes(), ...s.margin.routes(), ...s.futures.routes(), ...s.algo.routes(), ...s.pm.routes(), ...s.discovery.routes()]);
  }

  private recordRest(
    req: http.IncomingMessage,
    path: string,
    params: Record<string, string>,
  ): RecordedRequest {
    const key = req.headers['x-mbx-apikey'];
    const rec: RecordedRequest = {
      kind: 'rest',
      method: req.method ?? 'GET',
      path,
      params,
      apiKey: typeof key === 'string' ? key : undefined,
      at: Date.now(),
      status: 0,
    };
    this.s.record(rec);
    return rec;
  }

  handleRest(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): void {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi >= 0 ? url.slice(0, qi) : url;
    const rawQuery = qi >= 0 ? url.slice(qi + 1) : '';
    const ctype = String(req.headers['content-type'] ?? '');
    const body = rawBody !== '' && (ctype === '' || ctype.includes('x-www-form-urlencoded')) ? rawBody : '';
    const params: Record<string, string> = {};
    for (const src of [rawQuery, body]) {
      for (const [k, v] of new URLSearchParams(src)) params[k] = v;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const rec = this.recordRest(req, path, params);
    const pool = poolOf(path);

    const delayMs = this.s.faults.takeDelay(path);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      if (delayMs > 0) {
        // slow REST (delayNext): processed now (timestamp checked on arrival), answered later
        this.s.timer(() => {
          rec.status = status;
          send(status, payload, headers);
        }, delayMs);
        return;
      }
      rec.status = status;
      send(status, payload, headers);
    };
    const send = (status: number, payload: unknown, headers: Record<string, string>): void => {
      const used = this.s.weights.usedWeight(pool);
      const text = JSON.stringify(payload);
      safe(() => {
        res.writeHead(status, {
          'Content-Type': 'application/json;charset=UTF-8',
          'Content-Length': Buffer.byteLength(text),
          'X-MBX-USED-WEIGHT-1M': String(used),
          ...headers,
        });
        res.end(text);
      });
    };

    const fail = this.s.faults.takeFailure('path', path);
    if (fail) {
      const b = this.s.faults.failureBody(fail);
      rec.errorCode = b.code;
      rec.weight = 1;
      this.s.weights.addWeight(pool, 1);
      reply(fail.httpStatus, b, this.s.faults.failureHeaders(fail));
      return;
    }

    const route = this.routes.get(`${method} ${path}`);
    if (!route) {
      rec.weight = 1;
      this.s.weights.addWeight(pool, 1);
      rec.errorCode = -1000;
      reply(404, { code: -1000, msg: 'Unknown path.' });
      return;
    }
    const weight = route.weight(params);
    rec.weight = weight;
    const used = this.s.weights.addWeight(pool, weight);
    const limit = this.s.opts.restWeightLimitPerMinute;
    if (limit > 0 && used > limit) {
      rec.errorCode = -1003;
      reply(429, { code: -1003, msg: `Too many requests; current limit is ${limit} request weight per 1 MINUTE.` }, {
        'Retry-After': String(this.s.weights.retryAfterSec(pool, used - limit)),
      });
      return;
    }
    try {
      let key: KeyRec | undefined;
      if (route.auth !== 'none') {
        const apiKey = req.headers['x-mbx-apikey'];
        if (typeof apiKey !== 'string' || apiKey === '') throw ERR.badKeyFormat();
        key = this.s.keys.get(apiKey);
        if (!key || key.revoked) throw ERR.rejectedKey();
        if (route.perm === 'margin' && !key.enableMargin) throw ERR.rejectedKey();
        if (route.perm === 'futures' && !key.enableFutures) throw ERR.rejectedKey();
      }
      if (route.auth === 'user-stream' && route.params && this.s.opts.userStreamUnreadParams === 'refuse') {
        const sent = Object.keys(params);
        const read = sent.filter((n) => route.params!.includes(n)).length;
        if (read < sent.length) throw ERR.unread(read, sent.length);
      }
      const signedHere = route.auth === 'signed' || (route.auth === 'user-stream' && /(^|&)signature=/.test(`${rawQuery}&${body}`));
      if (signedHere && key) {
        const { payload, signature } = restSigningPayload(rawQuery, body);
        if (signature === undefined || signature === '') throw ERR.mandatory('signature');
        let sig: string;
        try {
          // form decoding: an un-encoded '+' of a base64 signature reads as a space
          sig = decodeURIComponent(signature.replace(/\+/g, ' '));
        } catch {
          throw ERR.badSig();
        }
        if (!verifySignature(key, payload, sig)) throw ERR.badSig();
        this.checkTiming(params.timestamp, params.recvWindow);
      }
      const result = route.handler(params, key);
      reply(200, result);
    } catch (e) {
      if (e instanceof ApiError) {
        rec.errorCode = e.code;
        reply(e.httpStatus, { code: e.code, msg: e.message });
      } else {
        rec.errorCode = -1000;
        reply(500, { code: -1000, msg: 'An unknown error occurred while processing the request.' });
      }
    }
  }

  checkTiming(timestamp: unknown, recvWindow: unknown): void {
    if (timestamp === undefined || timestamp === null || timestamp === '') throw ERR.mandatory('timestamp');
    let ts = Number(timestamp);
    if (!Number.isFinite(ts)) throw ERR.badParam('timestamp');
    if (ts > 1e14) ts = ts / 1000; // microseconds
    let rw = 5000;
    if (recvWindow !== undefined && recvWindow !== null && recvWindow !== '') {
      rw = Number(recvWindow);
      if (!Number.isFinite(rw) || rw <= 0) throw ERR.badParam('recvWindow');
      if (rw > this.s.opts.recvWindowMax) throw ERR.recvWindow(this.s.opts.recvWindowMax);
    }
    const now = this.s.serverTime();
    if (ts >= now + 1000 || now - ts > rw) throw ERR.timestamp();
  }
}
