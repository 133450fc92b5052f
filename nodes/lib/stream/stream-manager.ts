/**
 * One user-data stream per account, shared by all consumers: the lifecycle common to every venue.
 *
 *  - acquire()/release(): the first consumer starts the stream, the last one stops it.
 *  - Reconnect with exponential backoff + full jitter (first retry within ~1 s, cap 60 s, forever);
 *    a confirmed subscription resets the attempt counter. 429/418 wait out the server's
 *    Retry-After / retryAfter. Auth errors → state `auth-error`, retried every authRetryDelayMs.
 *  - Make-before-break rotation at rotateAfterMs (23 h) and on serverShutdown: the new session is
 *    subscribed before the old one is closed; events seen on both are delivered once.
 *  - `gap` whenever the stream was down, emitted once the new subscription is confirmed.
 *  - stop(): every REST call in flight is aborted, bounded waits (≤ ~4 s), then every socket is
 *    terminated and every timer cleared.
 *  - HTTP 451 (restricted location): state `error` saying so, retried every 10 minutes.
 *  - Log levels (Node-RED shows warn/error in the debug sidebar): info for routine, expected events
 *    (rotation, server-initiated close, a reconnect attempt, a first failed attempt); warn for
 *    abnormal ones (repeated failures, 429/418, watchdog trips, malformed frames); error for an auth
 *    or configuration error, once per entry into that state.
 *
 * The venue specifics live in the transports; see docs/architecture.md for the state machine.
 */
import { EventEmitter } from 'node:events';
import { Backoff, rateLimitDelay, reconnectOptions } from '../exchange/backoff';
import { Deduper } from './overlap-dedup';
import { resolveEndpoints, type ResolvedEndpoints } from '../exchange/endpoints';
import { shortId } from './identity';
import { flushWarnings } from '../exchange/log-limit';
import { credentialsRedactor } from '../exchange/credentials';
import { redactingLogger, type Redactor } from '../exchange/redact';
import { BinanceApiError, RestClient } from '../transport/rest';
import { CredentialsError, createSigner, type Signer } from '../exchange/signing';
import { REST } from '../exchange/facts';
import { TimerSet, withDeadline } from './timers';
import { errorMessage, type Session, type SessionEnd, type SessionHandlers, type Transport, type TransportContext } from '../transport/transport';
import { FuturesTransport } from '../transport/transport-futures';
import { MarginTransport } from '../transport/transport-margin';
import { SpotTransport } from '../transport/transport-spot';
import { CLIENT_PING_INTERVAL_MS } from '../transport/ws-connection';
import type {
  AccountConfig,
  GapEvent,
  Logger,
  ReconnectOptions,
  RotationEvent,
  StateChange,
  StreamManagerEvents,
  StreamState,
  UserDataEvent,
} from '../types';

export const DEFAULT_ROTATE_AFTER_MS = 23 * 3_600_000;
export const DEFAULT_WATCHDOG_MARGIN_MS = 10_000;
export const DEFAULT_RECV_WINDOW_MS = 5_000;
export const MAX_RECV_WINDOW_MS = 60_000;

/** Why a recvWindow (ms) is not allowed, or undefined when it is: the one rule for it. */
export function recvWindowProblem(ms: number): string | undefined {
  return Number.isFinite(ms) && ms > 0 && ms <= MAX_RECV_WINDOW_MS ? undefined : `recvWindow must be between 1 and ${MAX_RECV_WINDOW_MS} ms`;
}
/** Upper bound of the graceful part of stop() (unsubscribe / DELETE / close handshakes). */
export const STOP_GRACE_MS = 4_000;
/** Re-sync the clock offset before connecting if the last sync is older than this. */
const CLOCK_MAX_AGE_MS = 3_600_000;
/** Minimum delay before retrying a failed rotation while the old session still works. */
const ROTATION_RETRY_MIN_MS = 5_000;
/** Fallback wait when the server banned us (418) without saying for how long. */
const BANNED_FALLBACK_MS = 120_000;
/**
 * Retry delay while Binance refuses service from this location (HTTP 451): slow, since only a
 * change of network (VPN, server location) helps; the status says so meanwhile.
 */
export const RESTRICTED_RETRY_DELAY_MS = 10 * 60_000;
export const RESTRICTED_MESSAGE = 'Binance is not available from this location (HTTP 451, restricted location)';
/** From this many consecutive failed attempts on, connect / rotation failures are logged at warn. */
export const WARN_AFTER_FAILURES = 3;

export const AUTH_ERROR_MESSAGE = 'invalid API key or permissions';

export interface StreamManagerOptions {
  logger?: Logger;
  /** Hard deadline of each REST call and clock sync (REST_TIMEOUT_MS); for tests that need a shorter one. */
  restTimeoutMs?: number;
  /** The account's redactor, when built already (account/settings.ts); else one of the credentials. */
  redactor?: Redactor;
  /** The account's signer, when built already; else one from the credentials. */
  signer?: Signer;
}

function gapReasonOf(end: SessionEnd): string {
  switch (end.reason) {
    case 'watchdog':
    case 'listenKeyExpired':
    case 'eventStreamTerminated':
      return end.reason;
    default:
      return 'reconnect';
  }
}

export class StreamManager extends EventEmitter<StreamManagerEvents> {
  readonly id: string;
  readonly rest: RestClient;

  private readonly config: AccountConfig;
  private readonly endpoints: ResolvedEndpoints | undefined;
  private readonly configError: Error | undefined;
  private readonly redactor: Redactor;
  private readonly log: Logger;
  private readonly reconnect: ReconnectOptions;
  private readonly backoff: Backoff;
  private readonly timers: TimerSet;
  private readonly dedup = new Deduper();
  private readonly consumers = new Set<string>();

  private _state: StreamState = 'idle';
  private _current: StateChange;
  private _lastEventAt: number | undefined;

  private transport: Transport | undefined;
  private session: Session | undefined;
  private readonly retiring = new Set<Session>();
  private rotating: { reason: RotationEvent['reason']; abort: AbortController } | undefined;
  private rotationFailed = false;
  private rotationAttempts = 0;
  private connectAbort: AbortController | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private rotateTimer: ReturnType<typeof setTimeout> | undefined;
  private authAttempts = 0;
  /** Consecutive rate-limit answers that named no wait (429 without Retry-After). */
  private rateLimitAttempts = 0;
  private downSince: number | undefined;
  private downReason = 'reconnect';
  /** Bumped on start and stop: async continuations of an older run do nothing. */
  private generation = 0;
  private stopping: Promise<void> | undefined;
  private sessionSeq = 0;
  private readonly handlers: SessionHandlers;

  constructor(config: AccountConfig, opts: StreamManagerOptions = {}) {
    super();
    // Every consumer node of the account listens here (state, event ...): no listener limit.
    this.setMaxListeners(0);
    this.config = config;
    this.id = shortId(config);
    const c = config.credentials ?? { apiKey: '' };
    this.redactor = opts.redactor ?? credentialsRedactor(c);
    this.log = redactingLogger(opts.logger, this.redactor, `[${this.id}] `);
    this.reconnect = reconnectOptions(config.reconnect);
    this.backoff = new Backoff(this.reconnect.initialDelayMs, this.reconnect.maxDelayMs);
    this.timers = new TimerSet((err) => this.log.error(`timer callback failed: ${errorMessage(err)}`));
    this._current = { state: 'idle', previous: 'idle', at: Date.now() };

    let endpoints: ResolvedEndpoints | undefined;
    let configError: Error | undefined;
    let signer: Signer | Error;
    try {
      endpoints = resolveEndpoints(config);
    } catch (err) {
      configError = err instanceof Error ? err : new Error(String(err));
    }
    try {
      signer = opts.signer ?? createSigner(config.keyType, c);
    } catch (err) {
      signer = err instanceof Error ? err : new Error(String(err));
      configError ??= signer;
    }
    const recvWindow = config.recvWindow ?? DEFAULT_RECV_WINDOW_MS;
    const recvProblem = recvWindowProblem(recvWindow);
    if (recvProblem) configError ??= new Error(recvProblem);
    this.endpoints = endpoints;
    this.configError = configError;
    this.rest = new RestClient({
      baseUrl: endpoints?.restUrl ?? 'http://invalid.invalid',
      apiKey: c.apiKey ?? '',
      signer: configError ?? signer,
      recvWindow,
      timePath: endpoints?.timePath ?? REST.spot.time.path,
      redactor: this.redactor,
      timeoutMs: opts.restTimeoutMs,
    });

    this.handlers = {
      onEvent: (session, raw) => this.onSessionEvent(session, raw),
      onRotateRequested: (session, reason) => {
        if (session === this.session) this.rotate(reason);
      },
      onGap: (session, gap) => {
        if (session === this.session) this.emitSafe('gap', gap);
      },
      onOverlap: (_session, active) => (active ? this.dedup.begin() : this.dedup.end()),
      onEnded: (session, end) => this.onSessionEnded(session, end),
    };
  }

  get state(): StreamState {
    return this._state;
  }

  get currentState(): StateChange {
    return this._current;
  }

  get lastEventAt(): number | undefined {
    return this._lastEventAt;
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  /** True while two connections overlap (rotation) or shortly after: events may come twice then. */
  get overlapping(): boolean {
    return this.dedup.overlapping;
  }

  /** Registers a consumer; the first one starts the stream (also after a stop). */
  acquire(consumerId: string): void {
    this.consumers.add(consumerId);
    if (this.stopping) {
      void this.stopping.then(() => {
        if (this.consumers.size > 0 && (this._state === 'stopped' || this._state === 'idle')) this.start();
      });
      return;
    }
    if (this._state === 'idle' || this._state === 'stopped') this.start();
  }

  /** Unregisters a consumer; the last one stops the stream (unsubscribe / DELETE, close, clear timers). */
  async release(consumerId: string): Promise<void> {
    this.consumers.delete(consumerId);
    if (this.consumers.size === 0) await this.stop();
  }

  /** Stops the stream. Resolves within about 5 s, also with the network down. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this._state === 'idle' || this._state === 'stopped') return Promise.resolve();
    this.stopping = this.doStop().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  // ------------------------------------------------------------------ lifecycle

  private start(): void {
    this.generation += 1;
    this.backoff.reset();
    this.authAttempts = 0;
    this.rateLimitAttempts = 0;
    this.downSince = undefined;
    this.rotationFailed = false;
    this.rotationAttempts = 0;
    this.dedup.reset();
    if (this.configError || !this.endpoints) {
      const msg = this.redactor.apply(this.configError?.message ?? 'invalid configuration');
      this.log.error(`configuration error: ${msg}`);
      this.setState('error', { message: msg });
      return;
    }
    this.transport = this.createTransport(this.endpoints);
    this.setState('connecting');
    void this.connect();
  }

  private createTransport(endpoints: ResolvedEndpoints): Transport {
    const margin = this.config.watchdogMarginMs;
    const marginMs = typeof margin === 'number' && Number.isFinite(margin) && margin >= 0 ? margin : DEFAULT_WATCHDOG_MARGIN_MS;
    const ctx: TransportContext = {
      config: this.config,
      endpoints,
      rest: this.rest,
      redactor: this.redactor,
      logger: this.log,
      silenceTimeoutMs: endpoints.serverPingIntervalMs + marginMs,
      // half-open links are found by our pings within HALF_OPEN_DETECTION_MS (ws-connection.ts)
      clientPingIntervalMs: Math.min(endpoints.serverPingIntervalMs, CLIENT_PING_INTERVAL_MS),
      nextSessionId: () => ++this.sessionSeq,
    };
    switch (endpoints.market) {
      case 'spot':
        return new SpotTransport(ctx);
      case 'margin':
      case 'isolated-margin':
        return new MarginTransport(ctx);
      default:
        return new FuturesTransport(ctx);
    }
  }

  private async connect(): Promise<void> {
    const gen = this.generation;
    const transport = this.transport;
    if (!transport) return;
    const abort = new AbortController();
    this.connectAbort = abort;
    try {
      // bounded (REST_TIMEOUT_MS); on failure we go on with the previous offset (-1021 re-syncs)
      if (!(await this.rest.clock.ensureFresh(CLOCK_MAX_AGE_MS)) && gen === this.generation) {
        this.log.info('clock sync failed (no server time in time): connecting with the previous offset');
      }
      if (gen !== this.generation) return;
      const session = await transport.openSession(this.handlers, abort.signal);
      if (gen !== this.generation || abort.signal.aborted) {
        session.terminate('stopped');
        return;
      }
      this.adopt(session);
    } catch (err) {
      if (gen !== this.generation) return;
      this.scheduleRetry(err);
    } finally {
      if (this.connectAbort === abort) this.connectAbort = undefined;
    }
  }

  /** A confirmed subscription becomes the current session. */
  private adopt(session: Session): void {
    this.session = session;
    this.rotationAttempts = 0;
    this.backoff.reset();
    this.authAttempts = 0;
    this.rateLimitAttempts = 0;
    this.timers.clear(this.retryTimer);
    this.retryTimer = undefined;
    this.setState('connected');
    this.scheduleRotation(session);
    if (this.downSince !== undefined) {
      const gap: GapEvent = { from: this.downSince, to: Date.now(), reason: this.downReason };
      this.downSince = undefined;
      this.downReason = 'reconnect';
      this.log.info(`stream was down from ${new Date(gap.from).toISOString()} to ${new Date(gap.to).toISOString()} (${gap.reason})`);
      this.emitSafe('gap', gap);
    }
  }

  private scheduleRetry(err: unknown): void {
    if (this._state === 'stopped' || this.retryTimer !== undefined) return;
    if (err instanceof CredentialsError) {
      const msg = this.redactor.apply(err.message);
      this.log.error(`credentials error: ${msg}`);
      this.setState('error', { message: msg });
      return;
    }
    const e = err instanceof BinanceApiError ? err : undefined;
    const message = this.redactor.clip(errorMessage(err), 300);
    let delay: number;
    if (e?.kind === 'restricted') {
      delay = Math.max(RESTRICTED_RETRY_DELAY_MS, e.retryAfterMs ?? 0);
      const line = `${RESTRICTED_MESSAGE}; next attempt in ${Math.round(delay / 1000)} s`;
      if (this._state === 'error') this.log.info(line);
      else this.log.error(line);
      this.setState('error', { delayMs: delay, code: e.httpStatus ?? e.code, message: RESTRICTED_MESSAGE });
    } else if (e?.kind === 'auth') {
      this.authAttempts += 1;
      delay = this.reconnect.authRetryDelayMs;
      const code = e.code ?? e.httpStatus;
      const text = `${AUTH_ERROR_MESSAGE}${code !== undefined ? ` (${code})` : ''}`;
      // error once when the auth-error state is entered; the slow retries that follow are routine
      const line = `${text}; next attempt in ${Math.round(delay / 1000)} s`;
      if (this._state === 'auth-error') this.log.info(line);
      else this.log.error(line);
      this.setState('auth-error', { attempt: this.authAttempts, delayMs: delay, code, message: text });
    } else {
      delay = this.backoff.next();
      // server-given waits are clamped (BinanceApiError, MAX_SERVER_DELAY_MS)
      if (e?.retryAfterMs !== undefined) delay = Math.max(delay, e.retryAfterMs);
      else if (e?.kind === 'banned') delay = Math.max(delay, BANNED_FALLBACK_MS);
      else if (e?.kind === 'rate-limit') delay = Math.max(delay, rateLimitDelay(++this.rateLimitAttempts));
      const code = e?.code ?? e?.httpStatus;
      const line = `connect failed: ${message}; retry ${this.backoff.attempt} in ${delay} ms`;
      const abnormal = e?.kind === 'rate-limit' || e?.kind === 'banned' || this.backoff.attempt >= WARN_AFTER_FAILURES;
      if (abnormal) this.log.warn(line);
      else this.log.info(line);
      this.setState('reconnecting', { attempt: this.backoff.attempt, delayMs: delay, code, message });
    }
    this.retryTimer = this.timers.timeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }

  private onSessionEnded(session: Session, end: SessionEnd): void {
    if (this.retiring.delete(session)) return;
    if (session !== this.session) return;
    this.session = undefined;
    this.timers.clear(this.rotateTimer);
    this.rotateTimer = undefined;
    if (this.downSince === undefined) {
      this.downSince = end.lastLiveAt;
      this.downReason = this.rotationFailed ? 'rotation-failed' : gapReasonOf(end);
    }
    this.rotationFailed = false;
    const why = end.error ? `${end.reason}: ${errorMessage(end.error)}` : end.reason;
    if (this.rotating) {
      // The replacement is being opened already; it becomes current (and reports the gap).
      this.log.info(`connection ended during rotation (${why})`);
      return;
    }
    if (end.error instanceof BinanceApiError) {
      // e.g. subscribing again after eventStreamTerminated was rejected: auth / rate-limit rules apply
      this.scheduleRetry(end.error);
      return;
    }
    const delay = this.backoff.next();
    const message = this.redactor.clip(why, 300);
    // Routine (server close, lifetime, expiry ...); a watchdog trip was already warned about by the connection.
    this.log.info(`connection ended (${message}); reconnecting in ${delay} ms`);
    this.setState('reconnecting', { attempt: this.backoff.attempt, delayMs: delay, message });
    this.retryTimer = this.timers.timeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, delay);
  }

  // ------------------------------------------------------------------ rotation

  private rotateAfterMs(): number {
    const r = this.config.rotateAfterMs;
    return typeof r === 'number' && Number.isFinite(r) && r > 0 ? r : DEFAULT_ROTATE_AFTER_MS;
  }

  private scheduleRotation(session: Session, delayMs?: number): void {
    this.timers.clear(this.rotateTimer);
    const delay = delayMs ?? Math.max(0, session.openedAt + this.rotateAfterMs() - Date.now());
    this.rotateTimer = this.timers.timeout(() => {
      this.rotateTimer = undefined;
      if (this.session === session) this.rotate('max-age');
    }, delay);
  }

  /** Make-before-break: subscribe a new session, then close the old one. */
  private rotate(reason: RotationEvent['reason']): void {
    const old = this.session;
    const transport = this.transport;
    if (this.rotating || !old || !transport || this.stopping) return;
    const gen = this.generation;
    const abort = new AbortController();
    const rotation = { reason, abort };
    this.rotating = rotation;
    this.timers.clear(this.rotateTimer);
    this.rotateTimer = undefined;
    this.dedup.begin();
    this.log.info(`rotating the connection (${reason})`);
    void (async () => {
      let overlapEnds = true;
      try {
        const fresh = await transport.openSession(this.handlers, abort.signal);
        if (gen !== this.generation) {
          fresh.terminate('stopped');
          return;
        }
        this.rotating = undefined;
        this.rotationFailed = false;
        this.rotationAttempts = 0;
        if (this.session === old) {
          this.session = fresh;
          this.scheduleRotation(fresh);
          this.retiring.add(old);
          overlapEnds = false;
          void old
            .close()
            .catch(() => old.terminate('rotated'))
            .finally(() => {
              this.retiring.delete(old);
              this.dedup.end();
            });
        } else if (this.session === undefined) {
          // The old session died while the new one was being opened.
          this.timers.clear(this.retryTimer);
          this.retryTimer = undefined;
          this.adopt(fresh);
        } else {
          // Another session became current meanwhile (should not happen): keep it.
          void fresh.close();
          return;
        }
        this.emitSafe('rotated', { reason, at: Date.now() });
      } catch (err) {
        if (this.rotating === rotation) this.rotating = undefined;
        if (gen !== this.generation) return;
        const line = `rotation failed: ${this.redactor.apply(errorMessage(err))}`;
        // the old connection still works: a single failure is routine, repeated ones are not
        if (this.rotationAttempts + 1 >= WARN_AFTER_FAILURES) this.log.warn(line);
        else this.log.info(line);
        if (this.session === old) {
          this.rotationFailed = true;
          this.rotationAttempts += 1;
          const exp = Math.min(this.reconnect.maxDelayMs, ROTATION_RETRY_MIN_MS * 2 ** Math.min(this.rotationAttempts - 1, 10));
          const retryIn = Math.max(ROTATION_RETRY_MIN_MS, exp, err instanceof BinanceApiError ? (err.retryAfterMs ?? 0) : 0);
          this.scheduleRotation(old, retryIn);
        } else if (!this.session) {
          this.downReason = 'rotation-failed';
          this.scheduleRetry(err);
        }
      } finally {
        if (overlapEnds) this.dedup.end();
      }
    })();
  }

  // ------------------------------------------------------------------ events

  private onSessionEvent(_session: Session, raw: Record<string, unknown>): void {
    if (this._state === 'stopped' || this.stopping) return;
    if (!this.dedup.admit(raw)) {
      this.log.debug(`duplicate ${String(raw.e)} suppressed`);
      return;
    }
    const now = Date.now();
    this._lastEventAt = now;
    const ev: UserDataEvent = {
      market: this.config.market,
      eventType: typeof raw.e === 'string' ? raw.e : String(raw.e ?? ''),
      raw,
      receivedAt: now,
    };
    this.emitSafe('event', ev);
  }

  private setState(state: StreamState, extra: Omit<StateChange, 'state' | 'previous' | 'at'> = {}): void {
    const change: StateChange = { state, previous: this._state, at: Date.now(), ...extra };
    if (change.message !== undefined) change.message = this.redactor.apply(change.message);
    this._state = state;
    this._current = change;
    this.emitSafe('state', change);
  }

  private emitSafe<K extends keyof StreamManagerEvents>(name: K, ...args: StreamManagerEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: StreamManagerEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error(`a '${String(name)}' listener threw: ${errorMessage(err)}`);
    }
  }

  // ------------------------------------------------------------------ stop

  private async doStop(): Promise<void> {
    this.generation += 1;
    // every REST call in flight through this.rest (connects, keepalives, recovery) ends now
    this.rest.abortAll();
    this.timers.clearAll();
    this.retryTimer = undefined;
    this.rotateTimer = undefined;
    this.connectAbort?.abort();
    this.connectAbort = undefined;
    this.rotating?.abort.abort();
    this.rotating = undefined;
    const sessions = [this.session, ...this.retiring].filter((s): s is Session => s !== undefined);
    this.session = undefined;
    this.retiring.clear();
    const transport = this.transport;
    this.transport = undefined;
    const graceful = Promise.all([
      ...sessions.map((s) => s.close().catch(() => undefined)),
      transport ? transport.shutdown().catch(() => undefined) : Promise.resolve(),
    ]).then(() => undefined);
    await withDeadline(graceful, STOP_GRACE_MS, undefined);
    for (const s of sessions) s.terminate('stopped');
    // and those started meanwhile (e.g. by a consumer reacting to the stop)
    this.rest.abortAll();
    this.dedup.reset();
    this.downSince = undefined;
    this.backoff.reset();
    flushWarnings(this.log);
    this.setState('stopped');
  }
}
