/**
 * Signed REST client of one account (axios, 10 s timeout).
 *
 * Signed requests: the params in the given order, then `recvWindow` and `timestamp`, percent-encoded
 * into the query string; the signature is computed over that exact string and appended
 * (percent-encoded). The API key goes in the `X-MBX-APIKEY` header. A -1021 (clock) rejection
 * re-syncs the clock offset and retries once.
 */
import axios, { type AxiosInstance } from 'axios';
import { ClockSync } from './clock';
import { isLoopbackHost } from './endpoints';
import { AUTH_ERROR_CODES, ERROR_CODES, RATE_LIMIT_ERROR_CODES } from './exchange/facts';
import { Redactor } from './redact';
import { restQueryString, type ParamValue, type Signer } from './signing';

export type ApiErrorKind = 'auth' | 'rate-limit' | 'banned' | 'clock' | 'server' | 'network' | 'request';

/** Exchange codes that mean "the key is wrong or lacks permissions" (never hammer these): exchange/facts.ts. */
export { AUTH_ERROR_CODES };

export function classifyError(httpStatus: number | undefined, code: number | undefined): ApiErrorKind {
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
    this.retryAfterMs = props.retryAfterMs;
    this.kind = props.kind ?? classifyError(props.httpStatus, props.code);
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
  timeoutMs?: number;
}

export const REST_TIMEOUT_MS = 10_000;

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

  constructor(private readonly opts: RestClientOptions) {
    this.clock = new ClockSync(() => this.serverTime());
    let loopback = false;
    try {
      loopback = isLoopbackHost(new URL(opts.baseUrl).hostname);
    } catch {
      // an invalid base URL fails on the first request
    }
    this.http = axios.create({
      baseURL: opts.baseUrl,
      timeout: opts.timeoutMs ?? REST_TIMEOUT_MS,
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

  /** The exchange's time, epoch ms. */
  async serverTime(): Promise<number> {
    const r = await this.once<{ serverTime?: unknown }>('GET', this.opts.timePath, {}, 'none');
    const t = numberOr(r?.serverTime);
    if (t === undefined) throw new BinanceApiError(`GET ${this.opts.timePath}: no serverTime in the response`, { kind: 'server' });
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
    try {
      const res = await this.http.request({ method, url, headers, signal });
      status = res.status;
      retryAfterHeader = res.headers['retry-after'];
      const w = numberOr(res.headers['x-mbx-used-weight-1m']);
      if (w !== undefined) this.usedWeight1m = w;
      try {
        body = parseJson(res.data);
      } catch {
        body = undefined;
        if (status >= 200 && status < 300) {
          throw new BinanceApiError(`${what}: malformed JSON response (HTTP ${status})`, { kind: 'server', httpStatus: status });
        }
      }
    } catch (err) {
      if (err instanceof BinanceApiError) throw err;
      const e = err as { code?: string; message?: string };
      const detail = e.code ?? e.message ?? 'unknown';
      throw new BinanceApiError(r.apply(`${what}: network error (${detail})`), { kind: 'network' });
    }
    if (status >= 200 && status < 300) return body as T;
    const b = (body && typeof body === 'object' ? body : {}) as { code?: unknown; msg?: unknown };
    const code = numberOr(b.code);
    const msg = typeof b.msg === 'string' ? b.msg : '';
    const retryAfterSec = numberOr(retryAfterHeader);
    const retryAfterMs = retryAfterSec !== undefined ? Math.max(0, retryAfterSec * 1000) : undefined;
    const text = `${what} failed: HTTP ${status}${code !== undefined ? ` ${code}` : ''}${msg ? ` ${msg}` : ''}`;
    throw new BinanceApiError(r.apply(text).slice(0, 500), { code, httpStatus: status, retryAfterMs });
  }
}
