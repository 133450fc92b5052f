/**
 * USDⓈ-M and COIN-M futures user data: listenKey + stream (fstream `/private`, or dstream `/ws/<key>`).
 *
 * How futures keepalive works (all of it is in this file):
 *  - `POST /fapi/v1/listenKey` (USDⓈ-M, and COIN-M in the unified 'fapi' family) or
 *    `/dapi/v1/listenKey` (COIN-M, default 'dapi' family; see DEFAULT_COINM_API in endpoints.ts),
 *    API-key header only, returns `{listenKey}`. A key is valid for 60 minutes. A POST while a key
 *    is active returns the same key and extends it, so every new connection (reconnect, rotation)
 *    POSTs first: it gets the live key, or a new one if the old one died meanwhile.
 *  - `PUT` on the same path every `keepaliveIntervalMs` (default 30 minutes) extends the key by
 *    60 minutes. One timer per account (not per connection), started with the first key.
 *  - A PUT failing with -1125 ("listenKey does not exist"), or a `listenKeyExpired` event on the
 *    stream (its `E` may be a string or a number), means the key is gone: the connections using it
 *    are ended with reason 'listenKeyExpired'; the manager reconnects (POST → new key → new stream)
 *    and emits a gap once the new stream is open.
 *  - Other PUT failures (network, 5xx) are retried after at most a minute; the key stays valid for
 *    60 minutes, so a few failed PUTs do not lose it.
 *  - On stop the timer is cleared and the key is NOT deleted (DELETE_LISTEN_KEY_ON_STOP): Binance
 *    hands every client of an account the same key (a POST while one is active returns it), so a
 *    DELETE would also end the stream of any other program or Node-RED instance using the account.
 *    Nobody keeping it alive, the key expires 60 minutes after the last keepalive.
 *
 * Stream URL (futuresStreamUrl() in endpoints.ts): on fstream <base>/private/ws?listenKey=<k>&events=
 * <every type we handle> ('ws-query', default), <base>/private/ws?listenKey=<k> ('ws-query-no-events')
 * or <base>/private/ws/<k> ('ws-path'); on dstream (COIN-M 'dapi') <base>/ws/<k>. Same session code
 * for every form.
 *
 * A silent stream: the sources disagree on which `/private` form production serves, and one that is
 * not served reportedly accepts the connection and then sends nothing (audit 2026-12-07, G2). Such a
 * socket answers our pings, so the liveness guards do not trip. A session whose server sent nothing
 * of its own (no event, no ping, no listenKeyExpired) for longer than the server's ping interval
 * (FUTURES_PING_INTERVAL_MS, exchange/facts.ts) plus the watchdog margin reports it once
 * (SessionHandlers.onSilence; the account shows it and logs which form to try), and reports its end
 * when the first frame arrives.
 * Frames are the events themselves; a combined-stream envelope `{stream, data}` is removed.
 */
import { futuresStreamUrl } from '../exchange/endpoints';
import { ERROR_CODES, REST, endpointWeight, futuresFamilyOfEvent, type FuturesFamily } from '../exchange/facts';
import { BinanceApiError } from './rest';
import { limitedLog } from '../exchange/log-limit';
import {
  CLOSE_WAIT_MS,
  openSessionSocket,
  type Session,
  type SessionEnd,
  type SessionHandlers,
  type Transport,
  type TransportContext,
} from './transport';
import { WsConnection, type CloseInfo } from './ws-connection';
import { errText, isObj } from '../util';

export const DEFAULT_KEEPALIVE_INTERVAL_MS = 30 * 60_000;
/**
 * Whether stop() DELETEs the listenKey: no. The key is shared by every client of the account (see
 * above); deleting it on one Node-RED instance's redeploy would cut the others off. One Node-RED
 * instance per account is the supported set-up (README, "How it stays connected").
 */
export const DELETE_LISTEN_KEY_ON_STOP = false;
const KEEPALIVE_RETRY_MS = 60_000;
/** POST / PUT / DELETE listenKey weigh the same on every futures venue (exchange/facts.ts). */
const LISTEN_KEY_WEIGHT = endpointWeight(REST.usdm.listenKey);


class FuturesSession implements Session {
  readonly id: number;
  private conn!: WsConnection;
  private ended = false;
  private closing = false;
  private failure: { reason: string; error?: Error; liveUntil?: number } | undefined;
  /** Events of the other futures family dropped on this connection (see onFrame). */
  otherFamilyDropped = 0;

  constructor(
    private readonly ctx: TransportContext,
    private readonly handlers: SessionHandlers,
    private readonly transport: FuturesTransport,
    readonly listenKey: string,
  ) {
    this.id = ctx.nextSessionId();
  }

  get openedAt(): number {
    return this.conn.openedAt;
  }

  get lastLiveAt(): number {
    return this.conn.lastFrameAt;
  }

  private get label(): string {
    return `${this.ctx.endpoints.market} stream#${this.id}`;
  }

  async start(signal: AbortSignal): Promise<this> {
    const ep = this.ctx.endpoints;
    const url = futuresStreamUrl(ep.wsUrl, this.listenKey, ep.futuresPathForm, ep.futuresStreamStyle);
    this.conn = await openSessionSocket(this.ctx, url, this.label, signal, {
      message: (text) => this.onFrame(text),
      close: (info) => this.onConnClose(info),
      silent: () => {
        if (this.ended) return;
        this.ctx.logger.debug(`${this.label}: the server sent nothing (no event, no ping) since the stream opened`);
        this.handlers.onSilence?.(this, true);
      },
      heard: () => {
        if (this.ended) return;
        this.ctx.logger.debug(`${this.label}: the server's first frame arrived`);
        this.handlers.onSilence?.(this, false);
      },
    });
    this.ctx.logger.debug(`${this.label}: stream open`);
    return this;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.conn.close(CLOSE_WAIT_MS);
  }

  terminate(reason: string): void {
    this.conn?.terminate(reason);
  }

  /** Ends the session because its key is gone. */
  fail(reason: string, liveUntil?: number): void {
    if (this.ended) return;
    this.failure = { reason, liveUntil };
    this.conn.terminate(reason);
  }

  private onFrame(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      limitedLog(this.ctx.logger, `${this.label}: malformed frame`, `${this.label}: malformed frame ignored: ${this.ctx.redactor.clip(text, 200)}`);
      return;
    }
    if (isObj(msg) && typeof msg.stream === 'string' && isObj(msg.data)) msg = msg.data;
    if (!isObj(msg) || typeof msg.e !== 'string') {
      limitedLog(this.ctx.logger, `${this.label}: unexpected frame`, `${this.label}: unexpected frame ignored: ${this.ctx.redactor.clip(text, 200)}`);
      return;
    }
    if (this.ended) return;
    if (msg.e === 'ALGO_UPDATE' && !isObj(msg.ao) && !isObj(msg.o)) {
      // the order sits in `ao` (portfolio margin) or `o` (USDⓈ-M): neither is there
      limitedLog(this.ctx.logger, `${this.label}: ALGO_UPDATE without its order`, `${this.label}: ALGO_UPDATE without its order (no "ao" or "o" object) passed on as it came: ${this.ctx.redactor.clip(text, 200)}`);
    }
    if (msg.e === 'listenKeyExpired') {
      if (this.closing) return;
      const key = typeof msg.listenKey === 'string' ? msg.listenKey : undefined;
      if (key !== undefined && key !== this.listenKey) {
        this.ctx.logger.debug(`${this.label}: listenKeyExpired for another key ignored`);
        return;
      }
      const e = Number(msg.E); // string or number
      this.ctx.logger.info(`${this.label}: listenKeyExpired: getting a new key`);
      this.transport.keyExpired(this.listenKey, Number.isFinite(e) ? e : undefined);
      return;
    }
    // The /fapi listenKey carries both families when the account's COIN-M is unified: a USDⓈ-M
    // stream and a COIN-M 'fapi' stream take only their own (facts.ts futuresFamilyOfEvent); an
    // event naming no family is delivered by each. A COIN-M stream on dstream (/dapi key) and
    // portfolio margin (both families by design, businessUnit) are not filtered.
    const own = this.family;
    const family = own === undefined ? undefined : futuresFamilyOfEvent(msg);
    if (family !== undefined && family !== own) {
      this.otherFamilyDropped++;
      limitedLog(this.ctx.logger, `${this.label}: other family`, `${this.label}: ${msg.e} of the ${family} family ignored (the account's key carries both; ${this.otherFamilyDropped} so far)`, 'debug');
      return;
    }
    this.handlers.onEvent(this, msg);
  }

  /** The family this stream takes, where its key may carry both (see onFrame). */
  private get family(): FuturesFamily | undefined {
    const ep = this.ctx.endpoints;
    if (ep.market === 'usdm-futures') return 'usdm';
    return ep.market === 'coinm-futures' && ep.coinmApi === 'fapi' ? 'coinm' : undefined;
  }

  private onConnClose(info: CloseInfo): void {
    if (this.ended) return;
    this.ended = true;
    this.transport.forget(this);
    const liveUntil = this.failure?.liveUntil;
    const end: SessionEnd = {
      reason: this.failure?.reason ?? info.reason,
      error: this.failure?.error,
      lastLiveAt: liveUntil !== undefined ? Math.min(liveUntil, info.lastFrameAt) : info.lastFrameAt,
    };
    this.ctx.logger.debug(`${this.label}: ended (${end.reason})`);
    this.handlers.onEnded(this, end);
  }
}

export class FuturesTransport implements Transport {
  private listenKey: string | undefined;
  private keepaliveTimer: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly sessions = new Set<FuturesSession>();
  private readonly keepaliveIntervalMs: number;
  private stopped = false;

  constructor(private readonly ctx: TransportContext) {
    const k = ctx.config.keepaliveIntervalMs;
    this.keepaliveIntervalMs = typeof k === 'number' && Number.isFinite(k) && k > 0 ? k : DEFAULT_KEEPALIVE_INTERVAL_MS;
  }

  /** The listenKey path of the account's family (endpoints.ts PATHS; resolveEndpoints always sets it for futures). */
  private get path(): string {
    const p = this.ctx.endpoints.listenKeyPath;
    if (p === undefined) throw new Error(`${this.ctx.endpoints.market}: no listenKey path for this market`);
    return p;
  }

  async openSession(handlers: SessionHandlers, signal: AbortSignal): Promise<Session> {
    this.stopped = false;
    const key = await this.obtainKey(signal);
    const session = new FuturesSession(this.ctx, handlers, this, key);
    await session.start(signal);
    this.sessions.add(session);
    return session;
  }

  /** POST: the active key (extended) or a new one. */
  private async obtainKey(signal: AbortSignal): Promise<string> {
    const r = await this.ctx.rest.request<{ listenKey?: unknown }>('POST', this.path, {}, { security: 'apiKey', weight: LISTEN_KEY_WEIGHT, signal });
    if (typeof r?.listenKey !== 'string' || r.listenKey === '') {
      throw new BinanceApiError(`POST ${this.path}: no listenKey in the response`, { kind: 'server' });
    }
    this.ctx.redactor.add(r.listenKey);
    if (this.listenKey !== r.listenKey) this.ctx.logger.debug(`${this.ctx.endpoints.market}: new listenKey`);
    this.listenKey = r.listenKey;
    if (this.stopped) return r.listenKey;
    this.keepaliveTimer ??= setInterval(() => void this.keepalive(), this.keepaliveIntervalMs);
    return r.listenKey;
  }

  /** PUT; -1125 → the key is gone. */
  private async keepalive(): Promise<void> {
    const key = this.listenKey;
    if (!key || this.stopped) return;
    try {
      await this.ctx.rest.request('PUT', this.path, {}, { security: 'apiKey', weight: LISTEN_KEY_WEIGHT });
      this.ctx.logger.debug(`${this.ctx.endpoints.market}: listenKey kept alive`);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof BinanceApiError && err.code === ERROR_CODES.LISTEN_KEY_GONE) {
        this.ctx.logger.info(`${this.ctx.endpoints.market}: keepalive says the listenKey no longer exists (-1125)`);
        this.keyExpired(key, undefined);
        return;
      }
      this.ctx.logger.warn(`${this.ctx.endpoints.market}: listenKey keepalive failed: ${errText(err)}`);
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.keepalive();
        }, Math.min(KEEPALIVE_RETRY_MS, Math.floor(this.keepaliveIntervalMs / 2)));
      }
    }
  }

  /** The key is gone: forget it and end every connection using it. */
  keyExpired(key: string, expiredAt: number | undefined): void {
    if (this.listenKey === key) this.listenKey = undefined;
    for (const s of [...this.sessions]) if (s.listenKey === key) s.fail('listenKeyExpired', expiredAt);
  }

  forget(session: FuturesSession): void {
    this.sessions.delete(session);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.keepaliveTimer = undefined;
    this.retryTimer = undefined;
    const key = this.listenKey;
    this.listenKey = undefined;
    if (!key || !DELETE_LISTEN_KEY_ON_STOP) return;
    // (kept for a future per-account setting; bounded by the REST deadline)
    await this.ctx.rest.request('DELETE', this.path, {}, { security: 'apiKey', weight: LISTEN_KEY_WEIGHT }).catch(() => undefined);
  }
}
