/**
 * A session on the Binance WebSocket API (spot and margin user data): request/response correlation
 * by id, the `{subscriptionId, event}` envelope, `serverShutdown` (→ rotation) and
 * `eventStreamTerminated` (→ subscribe again on the same connection, reported as a gap).
 *
 * Subclasses implement `subscribeOnce()` (signature for spot, listenToken for margin).
 */
import { BinanceApiError } from './rest';
import { limitedLog } from '../exchange/log-limit';
import { truncate } from '../exchange/redact';
import {
  CLOSE_WAIT_MS,
  openSessionSocket,
  UNSUBSCRIBE_WAIT_MS,
  type Session,
  type SessionEnd,
  type SessionHandlers,
  type TransportContext,
} from './transport';
import { WsConnection, type CloseInfo } from './ws-connection';
import { errText, isObj } from '../util';

export const WS_API_REQUEST_TIMEOUT_MS = 10_000;

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}


/**
 * Converts a WS-API error response into a BinanceApiError.
 *
 * `retryAfter` is a moment on the SERVER's clock (epoch ms), not a duration: "Rate-limited responses
 * include a `retryAfter` field, indicating when you can retry the request"; a 418 "`retryAfter`
 * field indicates the timestamp when the ban will be lifted", and the documented answer carries it
 * as `error.data: {serverTime, retryAfter}` (binance-spot-api-docs web-socket-api.md "Rate limits",
 * commit a5e0bc3 of 2026-07-21; unchanged in the docs' CHANGELOG up to 2026-09-18). So the wait is
 * `retryAfter − data.serverTime`; without `serverTime`, `retryAfter − serverNow()` (the synced
 * estimate of the server's clock). Measuring it against the local clock instead made a client whose
 * clock runs ahead of the exchange's retry before the ban was lifted (which lengthens the ban).
 * `retryAfter` at the top level or directly in `error` is tolerated (not documented).
 */
export function wsApiError(
  method: string,
  status: number | undefined,
  error: unknown,
  top: Record<string, unknown>,
  serverNow: () => number = Date.now,
): BinanceApiError {
  const e = isObj(error) ? error : {};
  const code = num(e.code);
  const msg = typeof e.msg === 'string' ? e.msg : '';
  const data = isObj(e.data) ? e.data : {};
  const retryAt = num(data.retryAfter) ?? num(e.retryAfter) ?? num(top.retryAfter);
  const retryAfterMs = retryAt !== undefined ? Math.max(0, retryAt - (num(data.serverTime) ?? serverNow())) : undefined;
  // Not shortened here: the caller redacts, then shortens (a secret cut in two would leak its start).
  return new BinanceApiError(`${method} failed: ${status ?? ''}${code !== undefined ? ` ${code}` : ''}${msg ? ` ${msg}` : ''}`, {
    code,
    httpStatus: status,
    retryAfterMs,
  });
}

export abstract class WsApiSession implements Session {
  readonly id: number;
  protected conn!: WsConnection;
  /** The subscription whose termination matters (older ones may still be ending). */
  protected currentSubscriptionId: number | undefined;
  private nextRequestId = 1;
  private readonly pending = new Map<string, Pending>();
  private ended = false;
  private closing = false;
  private resubscribing = false;

  constructor(
    protected readonly ctx: TransportContext,
    protected readonly handlers: SessionHandlers,
  ) {
    this.id = ctx.nextSessionId();
  }

  get openedAt(): number {
    return this.conn.openedAt;
  }

  get lastLiveAt(): number {
    return this.conn.lastFrameAt;
  }

  protected get label(): string {
    return `${this.ctx.endpoints.market} ws-api#${this.id}`;
  }

  /** Subscribes once on this connection; resolves with the subscription id. */
  protected abstract subscribeOnce(): Promise<number>;

  /** Hook: the session is over (clear subclass timers). */
  protected onDispose(): void {}

  /** Connects and subscribes; rejects (and drops the socket) if either fails. */
  async start(signal: AbortSignal): Promise<this> {
    this.conn = await openSessionSocket(this.ctx, this.ctx.endpoints.wsUrl, this.label, signal, {
      message: (text) => this.onFrame(text),
      close: (info) => this.onConnClose(info),
    });
    const onAbort = (): void => this.terminate('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.currentSubscriptionId = await this.subscribeOnce();
      if (signal.aborted) throw new BinanceApiError('connection attempt aborted', { kind: 'network' });
    } catch (err) {
      this.terminate('subscribe-failed');
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    this.ctx.logger.debug(`${this.label}: subscribed (subscriptionId ${this.currentSubscriptionId})`);
    return this;
  }

  /** Sends one request and waits for its response (10 s). */
  request<T>(method: string, params?: Record<string, unknown>, timeoutMs = WS_API_REQUEST_TIMEOUT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = String(this.nextRequestId++);
      const frame = JSON.stringify(params === undefined ? { id, method } : { id, method, params });
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BinanceApiError(`${method}: no response within ${Math.round(timeoutMs / 1000)} s`, { kind: 'network' }));
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      if (!this.conn.send(frame)) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new BinanceApiError(`${method}: connection is not open`, { kind: 'network' }));
      }
    });
  }

  async close(): Promise<void> {
    if (this.closing || this.ended) {
      await this.conn.whenClosed();
      return;
    }
    this.closing = true;
    if (this.conn.isOpen) {
      try {
        // Without subscriptionId: ends every subscription of this connection.
        await this.request('userDataStream.unsubscribe', undefined, UNSUBSCRIBE_WAIT_MS);
      } catch (err) {
        this.ctx.logger.debug(`${this.label}: unsubscribe: ${errText(err)}`);
      }
    }
    await this.conn.close(CLOSE_WAIT_MS);
  }

  terminate(reason: string): void {
    this.conn?.terminate(reason);
  }

  /** Ends the session with a reason (socket dropped; onEnded follows from the close). */
  protected fail(reason: string, error?: Error): void {
    this.failure = { reason, error };
    this.conn.terminate(reason);
  }

  private failure: { reason: string; error?: Error } | undefined;

  private onFrame(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      limitedLog(this.ctx.logger, `${this.label}: malformed frame`, `${this.label}: malformed frame ignored: ${this.ctx.redactor.clip(text, 200)}`);
      return;
    }
    if (!isObj(msg)) {
      limitedLog(this.ctx.logger, `${this.label}: unexpected frame`, `${this.label}: unexpected frame ignored: ${this.ctx.redactor.clip(text, 200)}`);
      return;
    }
    if (msg.id !== undefined && msg.id !== null && ('status' in msg || 'result' in msg || 'error' in msg)) {
      this.onResponse(msg);
      return;
    }
    if (isObj(msg.event)) {
      this.onEnvelope(num(msg.subscriptionId), msg.event);
      return;
    }
    limitedLog(this.ctx.logger, `${this.label}: unknown frame`, `${this.label}: unknown frame ignored: ${this.ctx.redactor.clip(text, 200)}`, 'debug');
  }

  private onResponse(msg: Record<string, unknown>): void {
    const id = String(msg.id);
    const p = this.pending.get(id);
    if (!p) {
      this.ctx.logger.debug(`${this.label}: response to unknown request id ${truncate(id, 40)}`);
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    const status = num(msg.status);
    if (status === 200 || (status === undefined && msg.error === undefined)) p.resolve(msg.result);
    else {
      const err = wsApiError(p.method, status, msg.error, msg, () => this.ctx.rest.clock.now());
      err.message = this.ctx.redactor.clip(err.message, 500);
      p.reject(err);
    }
  }

  private onEnvelope(subscriptionId: number | undefined, event: Record<string, unknown>): void {
    if (this.ended) return;
    const type = event.e;
    // While closing (old connection of a rotation), user events are still delivered: some may have
    // been sent before the new subscription existed. The manager drops the duplicates.
    if (this.closing && (type === 'serverShutdown' || type === 'eventStreamTerminated')) return;
    if (type === 'serverShutdown') {
      this.ctx.logger.info(`${this.label}: serverShutdown received: rotating`);
      this.handlers.onRotateRequested(this, 'serverShutdown');
      return;
    }
    if (type === 'eventStreamTerminated') {
      if (subscriptionId !== undefined && this.currentSubscriptionId !== undefined && subscriptionId !== this.currentSubscriptionId) {
        this.ctx.logger.debug(`${this.label}: old subscription ${subscriptionId} terminated`);
        return;
      }
      void this.resubscribe(num(event.E));
      return;
    }
    this.handlers.onEvent(this, event);
  }

  /** The current subscription ended: subscribe again on the same connection and report the gap. */
  private async resubscribe(terminatedAt: number | undefined): Promise<void> {
    if (this.resubscribing) return;
    this.resubscribing = true;
    const from = Math.min(terminatedAt ?? Date.now(), Date.now());
    this.ctx.logger.info(`${this.label}: eventStreamTerminated: subscribing again`);
    // nothing arrives until the new subscription: the events after its answer wait for the gap
    this.handlers.onGapOpened(this, from);
    try {
      this.currentSubscriptionId = await this.subscribeOnce();
      if (!this.ended && !this.closing) this.handlers.onGap(this, { from, to: Date.now(), reason: 'eventStreamTerminated' });
    } catch (err) {
      // info: the manager logs the consequence at the right level (auth error, reconnect ...)
      this.ctx.logger.info(`${this.label}: subscribing again failed: ${errText(err)}`);
      if (!this.ended) this.fail('eventStreamTerminated', err instanceof Error ? err : undefined);
    } finally {
      this.resubscribing = false;
    }
  }

  private onConnClose(info: CloseInfo): void {
    if (this.ended) return;
    this.ended = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new BinanceApiError(`${p.method}: connection closed`, { kind: 'network' }));
      this.pending.delete(id);
    }
    try {
      this.onDispose();
    } catch (err) {
      this.ctx.logger.error(`${this.label}: dispose failed: ${errText(err)}`);
    }
    const end: SessionEnd = {
      reason: this.failure?.reason ?? info.reason,
      error: this.failure?.error,
      lastLiveAt: info.lastFrameAt,
    };
    this.ctx.logger.debug(`${this.label}: ended (${end.reason}${info.code ? `, code ${info.code}` : ''})`);
    this.handlers.onEnded(this, end);
  }

  protected get isEnded(): boolean {
    return this.ended || this.closing;
  }
}
