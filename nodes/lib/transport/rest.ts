/**
 * Signed REST client of one account (axios).
 *
 * Hostile networks (proxies, captive portals, a server trickling one byte a second):
 *  - every call has a hard total deadline (REST_TIMEOUT_MS, real time): axios' own `timeout` is a
 *    socket idle timeout that each trickled byte restarts;
 *  - redirects are never followed (a 3xx is an error naming the status only): following one would
 *    hand the API key header and the signed query string to wherever it points;
 *  - answers are capped at MAX_RESPONSE_BYTES; the connection is dropped as soon as a body grows past;
 *  - server-given waits (Retry-After) are clamped (backoff.ts);
 *  - `abortAll()` aborts every call in flight (the account is stopping); `signal` aborts one.
 *
 * Signed requests: the params in the given order, then `recvWindow` and `timestamp`, percent-encoded
 * into the query string; the signature is computed over that exact string and appended
 * (percent-encoded). The API key goes in the `X-MBX-APIKEY` header. A -1021 (clock) rejection
 * re-syncs the clock offset and retries once.
 */
import axios, { type AxiosInstance } from 'axios';
import { parseRetryAfter, serverDelay } from '../exchange/backoff';
import { ClockSync } from '../exchange/clock';
import { isLoopbackHost } from '../exchange/endpoints';
import { AUTH_ERROR_CODES, ERROR_CODES, RATE_LIMIT_ERROR_CODES } from '../exchange/facts';
import { Redactor } from '../exchange/redact';
import { restQueryString, type ParamValue, type Signer } from '../exchange/signing';
import { withText } from '../texts';

export type ApiErrorKind = 'auth' | 'rate-limit' | 'banned' | 'restricted' | 'clock' | 'server' | 'network' | 'request';

/**
 * "Not available from here": HTTP 451 (Binance: "Service unavailable from a restricted location
 * according to 'b. Eligibility' in https://www.binance.com/en/terms"). Retrying soon cannot help.
 */
export const RESTRICTED_HTTP_STATUS = 451;
const RESTRICTED_TEXT = /restricted location|unavailable (from|in) (your|this) (country|region|location)/i;

/** Exchange codes that mean "the key is wrong or lacks permissions" (never hammer these): exchange/facts.ts. */
export { AUTH_ERROR_CODES };

export function classifyError(httpStatus: number | undefined, code: number | undefined, msg?: string): ApiErrorKind {
  if (httpStatus === RESTRICTED_HTTP_STATUS || (msg !== undefined && RESTRICTED_TEXT.test(msg))) return 'restricted';
  if (code !== undefined && AUTH_ERROR_CODES.has(code)) return 'auth';
  if (httpStatus === 401) return 'auth';
  if (httpStatus === 418) return 'banned';
  if (httpStatus === 429 || (code !== undefined && RATE_LIMIT_ERROR_CODES.has(code))) return 'rate-limit';
  if (code === ERROR_CODES.TIMESTAMP) return 'clock';
  if (httpStatus !== undefined && httpStatus >= 500) return 'server';
  return 'request';
}

/** An error from the exchange (REST or WebSocket API). The message is already redacted. */
export class BinanceApiError extends Error {
  override name = 'BinanceApiError';
  code?: number;
  httpStatus?: number;
  /** How long to wait before the next request (Retry-After / retryAfter), when the server said so. */
  retryAfterMs?: number;
  kind: ApiErrorKind;

  constructor(
    message: string,
    props: { kind?: ApiErrorKind; code?: number; httpStatus?: number; retryAfterMs?: number } = {},
  ) {
    super(message);
    this.code = props.code;
    this.httpStatus = props.httpStatus;
    // clamped here, once for every source (REST, handshake, WS API)
    this.retryAfterMs = serverDelay(props.retryAfterMs);
    this.kind = props.kind ?? classifyError(props.httpStatus, props.code, message);
  }
}

export type Security = 'none' | 'apiKey' | 'signed';
export type RestParams = Record<string, string | number | boolean | undefined>;

export interface RestClientOptions {
  baseUrl: string;
  apiKey: string;
  /** Signer, or the reason why there is none (bad credentials). */
  signer: Signer | Error;
  recvWindow?: number;
  /** Server-time path (`/api/v3/time`, `/fapi/v1/time`, `/dapi/v1/time`). */
  timePath: string;
  redactor: Redactor;
  /** Hard total deadline of one call (REST_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Largest answer accepted (MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
}

/** Hard total deadline of one REST call, from the request to the last byte of the answer. */
export const REST_TIMEOUT_MS = 10_000;
/**
 * Largest REST answer accepted: 4 MiB. The answers we use (time, listenKey, a page of trades or
 * open orders, an account) are far smaller; a bigger one is a misbehaving server or proxy, and
 * buffering it whole could take a small device's memory.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * One signal that aborts when any of `signals` does (AbortSignal.any is Node ≥ 20.3); `done()`
 * removes the listeners.
 */
function linkSignals(signals: Array<AbortSignal | undefined>): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  const list = signals.filter((x): x is AbortSignal => x !== undefined);
  const onAbort = (ev: Event): void => ctl.abort((ev.target as AbortSignal).reason);
  for (const sig of list) {
    if (sig.aborted) {
      ctl.abort(sig.reason);
      break;
    }
    sig.addEventListener('abort', onAbort, { once: true });
  }
  return { signal: ctl.signal, done: () => list.forEach((sig) => sig.removeEventListener('abort', onAbort)) };
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  if (text.trim() === '') return {};
  return JSON.parse(text) as unknown;
}

function numberOr(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

export class RestClient {
  readonly clock: ClockSync;
  /** Last `X-MBX-USED-WEIGHT-1M` seen. */
  usedWeight1m: number | undefined;
  private readonly http: AxiosInstance;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  /** Aborted by abortAll(); replaced so the client stays usable after it. */
  private lifetime = new AbortController();

  constructor(private readonly opts: RestClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? REST_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    this.clock = new ClockSync((signal) => this.serverTime(signal), { deadlineMs: this.timeoutMs });
    let loopback = false;
    try {
      loopback = isLoopbackHost(new URL(opts.baseUrl).hostname);
    } catch {
      // an invalid base URL fails on the first request
    }
    this.http = axios.create({
      baseURL: opts.baseUrl,
      // idle timeout; the hard total deadline is the abort signal of each call
      timeout: this.timeoutMs,
      // a 3xx is returned as it is, and refused below
      maxRedirects: 0,
      maxContentLength: this.maxResponseBytes,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      // Loopback (simulator, local gateways) must not go through an environment proxy.
      ...(loopback ? { proxy: false as const } : {}),
    });
  }

  /**
   * One REST call. `security`: 'none' (public), 'apiKey' (key header only, e.g. listenKey) or
   * 'signed'. Rejects with BinanceApiError.
   */
  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    params: RestParams = {},
    opts: { security?: Security; weight?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const security = opts.security ?? 'none';
    try {
      return await this.once<T>(method, path, params, security, opts.signal);
    } catch (err) {
      if (err instanceof BinanceApiError && err.kind === 'clock' && security === 'signed') {
        try {
          await this.clock.sync();
        } catch {
          throw err;
        }
        return this.once<T>(method, path, params, security, opts.signal);
      }
      throw err;
    }
  }

  /**
   * Aborts every call in flight (they reject with a network error saying so); later calls work
   * again. Used when the account stops.
   */
  abortAll(): void {
    const old = this.lifetime;
    this.lifetime = new AbortController();
    old.abort(new Error('the account was stopped'));
  }

  /** The exchange's time, epoch ms. */
  async serverTime(signal?: AbortSignal): Promise<number> {
    const r = await this.once<{ serverTime?: unknown }>('GET', this.opts.timePath, {}, 'none', signal);
    const t = numberOr(r?.serverTime);
    if (t === undefined) throw withText(new BinanceApiError(`GET ${this.opts.timePath}: no serverTime in the response`, { kind: 'server' }), 'no-server-time', {
        request: `GET ${this.opts.timePath}`,
      });
    return t;
  }

  /** Signs a WS-API or REST payload with this account's key (throws if the credentials are unusable). */
  sign(payload: string): string {
    if (this.opts.signer instanceof Error) throw this.opts.signer;
    return this.opts.signer(payload);
  }

  get apiKey(): string {
    return this.opts.apiKey;
  }

  get recvWindow(): number | undefined {
    return this.opts.recvWindow;
  }

  private async once<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    params: RestParams,
    security: Security,
    signal?: AbortSignal,
  ): Promise<T> {
    const what = `${method} ${path}`;
    const r = this.opts.redactor;
    let qs: string;
    const headers: Record<string, string> = {};
    if (security !== 'none') headers['X-MBX-APIKEY'] = this.opts.apiKey;
    if (security === 'signed') {
      if (this.opts.signer instanceof Error) {
        throw new BinanceApiError(`${what}: ${r.apply(this.opts.signer.message)}`, { kind: 'request' });
      }
      const all: Record<string, ParamValue | undefined> = { ...params };
      if (this.opts.recvWindow !== undefined) all.recvWindow = this.opts.recvWindow;
      all.timestamp = this.clock.now();
      qs = restQueryString(all);
      qs += `&signature=${encodeURIComponent(this.opts.signer(qs))}`;
    } else {
      qs = restQueryString(params);
    }
    const url = qs ? `${path}?${qs}` : path;
    let status: number;
    let body: unknown;
    let retryAfterHeader: unknown;
    // Real time on purpose (not setTimeout): it bounds I/O, whatever a test does with the clock.
    const deadline = AbortSignal.timeout(Math.max(1, this.timeoutMs));
    const linked = linkSignals([signal, this.lifetime.signal, deadline]);
    try {
      const res = await this.http.request({ method, url, headers, signal: linked.signal });
      status = res.status;
      retryAfterHeader = res.headers['retry-after'];
      if (status >= 300 && status < 400) {
        // Never the Location: it may carry our query string (and its signature) or a hostile host.
        throw withText(
          new BinanceApiError(`${what} failed: HTTP ${status} redirect refused (redirects are never followed)`, { kind: 'request', httpStatus: status }),
          'redirect-refused',
          { request: what, status },
        );
      }
      const w = numberOr(res.headers['x-mbx-used-weight-1m']);
      if (w !== undefined) this.usedWeight1m = w;
      try {
        body = parseJson(res.data);
      } catch {
        body = undefined;
        if (status >= 200 && status < 300) {
          throw withText(new BinanceApiError(`${what}: malformed JSON response (HTTP ${status})`, { kind: 'server', httpStatus: status }), 'malformed-json', {
            request: what,
            status,
          });
        }
      }
    } catch (err) {
      if (err instanceof BinanceApiError) throw err;
      const e = err as { code?: string; message?: string };
      if (deadline.aborted && !signal?.aborted) {
        throw withText(new BinanceApiError(`${what}: no complete answer within ${formatMs(this.timeoutMs)} (abandoned)`, { kind: 'network' }), 'timeout', {
          request: what,
          seconds: Math.round(this.timeoutMs / 100) / 10,
        });
      }
      if (signal?.aborted || linked.signal.aborted) {
        throw new BinanceApiError(`${what}: aborted${linked.signal.reason instanceof Error ? ` (${linked.signal.reason.message})` : ''}`, {
          kind: 'network',
        });
      }
      if (typeof e.message === 'string' && /maxContentLength/.test(e.message)) {
        const kib = Math.round(this.maxResponseBytes / 1024);
        throw withText(new BinanceApiError(`${what}: answer larger than ${kib} KiB refused (connection dropped)`, { kind: 'server' }), 'too-large', {
          request: what,
          kib,
        });
      }
      const detail = e.code ?? e.message ?? 'unknown';
      // `detail`: the system's error code (ECONNREFUSED…) or its own message, as it came
      throw withText(new BinanceApiError(r.clip(`${what}: network error (${detail})`, 500), { kind: 'network' }), 'network-error', {
        request: what,
        detail: r.clip(String(detail), 300),
      });
    } finally {
      linked.done();
    }
    if (status >= 200 && status < 300) return body as T;
    const b = (body && typeof body === 'object' ? body : {}) as { code?: unknown; msg?: unknown };
    const code = numberOr(b.code);
    const msg = typeof b.msg === 'string' ? b.msg : '';
    const retryAfterMs = parseRetryAfter(retryAfterHeader);
    const text = `${what} failed: HTTP ${status}${code !== undefined ? ` ${code}` : ''}${msg ? ` ${msg}` : ''}`;
    // kind from the status, the code and the server's own words (not from our truncated text)
    // `msg` is the exchange's own text (e.g. "Invalid API-key, IP, or permissions for action."): shown verbatim, never translated
    throw withText(new BinanceApiError(r.clip(text, 500), { code, httpStatus: status, retryAfterMs, kind: classifyError(status, code, msg) }), 'http-failed', {
      request: what,
      status,
      code: code !== undefined ? String(code) : '',
      msg: r.clip(msg, 400),
    });
  }
}
