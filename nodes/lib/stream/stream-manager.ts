/**
 * One user-data stream per account, shared by all consumers: the lifecycle common to every venue.
 *
 *  - acquire()/release(): the first consumer starts the stream, the last one stops it.
 *  - Reconnect after a failure or a dropped connection as retry-policy.ts says (backoff, auth
 *    errors, 429/418, 451, log levels); a confirmed subscription resets its counters.
 *  - Make-before-break rotation at rotateAfterMs (23 h) and on serverShutdown: the new session is
 *    subscribed before the old one is closed; events seen on both are delivered once.
 *  - `gap` whenever the stream was down, emitted once the new subscription is confirmed.
 *  - stop(): every REST call in flight is aborted, bounded waits (≤ ~4 s), then every socket is
 *    terminated and every timer cleared.
 *  - Log levels (Node-RED shows warn/error in the debug sidebar): info for routine, expected events
 *    (rotation, server-initiated close, a reconnect attempt, a first failed attempt); warn for
 *    abnormal ones (repeated failures, 429/418, watchdog trips, malformed frames); error for an auth
 *    or configuration error, once per entry into that state.
 *
 * Built from manager-setup.ts (endpoints, signer, RestClient, transport per venue); the venue
 * specifics live in the transports; see docs/architecture.md for the state machine.
 */
import { EventEmitter } from 'node:events';
import { reconnectOptions } from '../exchange/backoff';
import { Deduper } from './overlap-dedup';
import { FUTURES_PATH_FORMS, type ResolvedEndpoints } from '../exchange/endpoints';
import { shortId } from './identity';
import { flushWarnings } from '../exchange/log-limit';
import { credentialsRedactor } from '../exchange/credentials';
import { redactingLogger, type Redactor } from '../exchange/redact';
import { BinanceApiError, type RestClient } from '../transport/rest';
import type { Signer } from '../exchange/signing';
import { TimerSet, withDeadline } from './timers';
import { type Session, type SessionEnd, type SessionHandlers, type Transport } from '../transport/transport';
import { buildPlumbing, createTransport, DEFAULT_ROTATE_AFTER_MS } from './manager-setup';
import { RetryPolicy, type RetryPlan } from './retry-policy';
import type {
  AccountConfig,
  GapEvent,
  Logger,
  RotationEvent,
  SilentStream,
  StateChange,
  StreamManagerEvents,
  StreamState,
  UserDataEvent,
} from '../types';
import { errText } from '../util';

/** Upper bound of the graceful part of stop() (unsubscribe / DELETE / close handshakes). */
export const STOP_GRACE_MS = 4_000;
/** Re-sync the clock offset before connecting if the last sync is older than this. */
const CLOCK_MAX_AGE_MS = 3_600_000;

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
  private readonly retry: RetryPolicy;
  private readonly timers: TimerSet;
  private readonly dedup = new Deduper();
  private readonly consumers = new Set<string>();

  private _state: StreamState = 'idle';
  private _current: StateChange;
  private _lastEventAt: number | undefined;
  private _silent: SilentStream | undefined;

  private transport: Transport | undefined;
  private session: Session | undefined;
  private readonly retiring = new Set<Session>();
  private rotating: { reason: RotationEvent['reason']; abort: AbortController } | undefined;
  /** The current session's subscription ended at this moment and its gap is not reported yet. */
  private gapOpenedAt: number | undefined;
  private rotationFailed = false;
  private connectAbort: AbortController | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private rotateTimer: ReturnType<typeof setTimeout> | undefined;
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
    this.retry = new RetryPolicy(reconnectOptions(config.reconnect));
    this.timers = new TimerSet((err) => this.log.error(`timer callback failed: ${errText(err)}`));
    this._current = { state: 'idle', previous: 'idle', at: Date.now() };

    const plumbing = buildPlumbing(config, this.redactor, opts);
    this.endpoints = plumbing.endpoints;
    this.configError = plumbing.configError;
    this.rest = plumbing.rest;

    this.handlers = {
      onEvent: (session, raw) => this.onSessionEvent(session, raw),
      onRotateRequested: (session, reason) => {
        if (session === this.session) this.rotate(reason);
      },
      onGapOpened: (session, from) => {
        if (session !== this.session) return;
        this.gapOpenedAt ??= from;
        this.emitSafe('gapOpened', from);
      },
      onGap: (session, gap) => {
        if (session !== this.session) return;
        this.gapOpenedAt = undefined;
        this.emitSafe('gap', gap);
      },
      onOverlap: (_session, active) => (active ? this.dedup.begin() : this.dedup.end()),
      onEnded: (session, end) => this.onSessionEnded(session, end),
      onSilence: (session, silent) => {
        if (session !== this.session) return;
        this.setSilent(silent ? this.silenceOf(session) : undefined);
      },
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

  /**
   * Set while the current connection is open but the server sent nothing at all on it (no event,
   * not even its pings) for longer than its ping interval; cleared by its first frame or its end.
   */
  get silent(): SilentStream | undefined {
    return this._silent;
  }

  private silenceOf(session: Session): SilentStream {
    const ep = this.endpoints;
    if (ep?.protocol !== 'futures' || ep.futuresStreamStyle !== 'private') return { since: session.openedAt };
    return { since: session.openedAt, pathForm: ep.futuresPathForm, alternatives: FUTURES_PATH_FORMS.filter((f) => f !== ep.futuresPathForm) };
  }

  private setSilent(s: SilentStream | undefined): void {
    if (s === undefined && this._silent === undefined) return;
    this._silent = s;
    if (s) this.log.debug(`the stream is open but silent since ${new Date(s.since).toISOString()}`);
    this.emitSafe('silence', s);
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
    this.retry.reset();
    this.downSince = undefined;
    this.rotationFailed = false;
    this.dedup.reset();
    if (this.configError || !this.endpoints) {
      const msg = this.redactor.apply(this.configError?.message ?? 'invalid configuration');
      this.log.error(`configuration error: ${msg}`);
      this.setState('error', { message: msg });
      return;
    }
    this.transport = createTransport(this.config, this.endpoints, {
      rest: this.rest,
      redactor: this.redactor,
      logger: this.log,
      nextSessionId: () => ++this.sessionSeq,
    });
    this.setState('connecting');
    void this.connect();
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
    this.setSilent(undefined);
    this.retry.reset();
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
    this.follow(this.retry.afterFailure(err, this._state, this.redactor));
  }

  /** Shows, logs and schedules what the retry policy decided. */
  private follow(plan: RetryPlan): void {
    this.log[plan.level](plan.line);
    this.setState(plan.state, plan.change);
    if (plan.delayMs === undefined) return;
    this.retryTimer = this.timers.timeout(() => {
      this.retryTimer = undefined;
      void this.connect();
    }, plan.delayMs);
  }

  private onSessionEnded(session: Session, end: SessionEnd): void {
    if (this.retiring.delete(session)) return;
    if (session !== this.session) return;
    this.session = undefined;
    // quietly: the state that follows (reconnecting ...) shows no silence anyway
    this._silent = undefined;
    this.timers.clear(this.rotateTimer);
    this.rotateTimer = undefined;
    if (this.downSince === undefined) {
      this.downSince = end.lastLiveAt;
      this.downReason = this.rotationFailed ? 'rotation-failed' : gapReasonOf(end);
    }
    // its subscription had ended before (eventStreamTerminated, not subscribed again): missed since then
    if (this.gapOpenedAt !== undefined && this.gapOpenedAt < this.downSince) this.downSince = this.gapOpenedAt;
    this.gapOpenedAt = undefined;
    this.rotationFailed = false;
    const why = end.error ? `${end.reason}: ${errText(end.error)}` : end.reason;
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
    // Routine (server close, lifetime, expiry ...); a watchdog trip was already warned about by the connection.
    this.follow(this.retry.afterEnd(this.redactor.clip(why, 300)));
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
        this.retry.rotated();
        if (this.session === old) {
          this.session = fresh;
          this.setSilent(undefined);
          this.scheduleRotation(fresh);
          this.reportOpenGap();
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
        const line = `rotation failed: ${this.redactor.apply(errText(err))}`;
        this.log[this.retry.rotationFailureLevel()](line);
        if (this.session === old) {
          this.rotationFailed = true;
          this.scheduleRotation(old, this.retry.afterRotationFailure(err));
        } else if (!this.session) {
          this.downReason = 'rotation-failed';
          this.scheduleRetry(err);
        }
      } finally {
        if (overlapEnds) this.dedup.end();
      }
    })();
  }

  /**
   * A rotation replaced a session whose subscription had ended (eventStreamTerminated) before it
   * was subscribed again: its gap is reported now, from the end of that subscription.
   */
  private reportOpenGap(): void {
    const from = this.gapOpenedAt;
    if (from === undefined) return;
    this.gapOpenedAt = undefined;
    this.emitSafe('gap', { from, to: Date.now(), reason: 'eventStreamTerminated' });
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
      this.log.error(`a '${String(name)}' listener threw: ${errText(err)}`);
    }
  }

  // ------------------------------------------------------------------ stop

  private async doStop(): Promise<void> {
    this.gapOpenedAt = undefined;
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
    this.setSilent(undefined);
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
    this.retry.reset();
    flushWarnings(this.log);
    this.setState('stopped');
  }
}
