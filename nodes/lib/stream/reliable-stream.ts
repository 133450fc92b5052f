/**
 * The reliable stream: one per shared StreamManager, what the adapters listen to. It wires the
 * manager to the delivery pipeline (recovery/delivery.ts: holding, de-duplication, cursor
 * commits) and gap recovery (recovery/gap-recovery.ts), persists the cursors through injected
 * StateStores, keeps the stream across a redeploy, and reports a state that tells the truth.
 * Framework-agnostic: no Node-RED import. Invariants I1–I6: docs/recovery.md.
 *
 * Emits (Node EventEmitter):
 *  - `event`    every live and recovered event exactly once (recovered ones carry `recovered`);
 *  - `state`    the manager's states, with `recovering` ("catching up") instead of `connected`
 *               while anything is held, a recovery runs or some fills are not recovered yet
 *               (I3); its `message` says why and `since` since when;
 *  - `gap`      the manager's gaps, plus `startup` / `restart` gaps and a `reconnect` gap when
 *               the stream came up after failed attempts without the manager reporting one;
 *  - `recovery` `{ phase: 'started' | 'finished', gap, stats? }` for every recovery.
 *
 * Wiring: manager `event` → pipeline.live; the stream leaving `connected` → pipeline.hold (events
 * of the new connection leave after the recovered, older ones; bounded by maxHoldMs); `gap` →
 * pipeline.gap. A recovery with errors is retried from the same cursors, with growing delays,
 * until it succeeds (I4), without holding live events.
 *
 * Redeploys: the last release() keeps the stream for the redeploy grace (redeploy-grace.ts: through
 * a told deploy's stop phase, else `releaseGraceMs`; the manager is held by a grace consumer);
 * events meanwhile wait in the paused pipeline. A new account node of the same account that comes
 * within the grace adopts the stream, with its settings: no reconnect, no gap, no REST call. A
 * consumer being restarted (`consumerAway`) pauses the pipeline too, until it is back (I6).
 */
import { EventEmitter } from 'node:events';
import { DeliveryPipeline, GapRecovery } from '../recovery';
import { DEFAULT_MAX_HOLD_MS } from '../recovery/delivery';
import { fillIdentity } from '../recovery/books';
import { EventDeduper } from '../recovery/dedupe';
import { readState, StatePersister, STORE_DEADLINE_MS, storeDeadline, type StateStore } from '../recovery/persistence';
import { sharedWeightBudget, type HttpMethod, type RestLike, type RestParams, type RestRequestOptionsLike } from '../exchange/weight-budget';
import type { StreamManager } from './stream-manager';
import { DEFAULT_RELEASE_GRACE_MS, RedeployGrace } from './redeploy-grace';
import { errText } from '../util';
import type { GapEvent, Logger, Market, StateChange, UserDataEvent } from '../types';
import { SavedStateReader } from './saved-state';
import { withDeadline } from './timers';

export type { ReliableState, ReliableStateChange, RecoveryReport, ReliableStreamEvents, ReliableStreamOptions, StreamContinuation, StreamHandover } from './reliable-types';
import type { ReliableState, ReliableStateChange, ReliableStreamEvents, ReliableStreamOptions, StreamContinuation, StreamHandover } from './reliable-types';

export { DEFAULT_RELEASE_GRACE_MS, endAllGraces, endUnadoptedGraces } from './redeploy-grace';
/** Pause reasons of the pipeline (I6): the stream waits for a redeploy / a consumer is away. */
const PAUSED_FOR_REDEPLOY = 'redeploy';
const PAUSED_FOR_CONSUMERS = 'consumers';
/** Longest wait between retries of an incomplete recovery. */
const MAX_RETRY_DELAY_MS = 10 * 60_000;


/** Longest a released account node's last write waits for the saved state to be read (release). */
const LAST_WRITE_WAIT_MS = 5_000;

/**
 * The account's REST client aimed at another host of the same exchange: paths become absolute URLs
 * on `baseUrl` (the client sends absolute URLs as they are, signed the same way). The last
 * `X-MBX-USED-WEIGHT-1M` the client saw is passed through for the weight budget.
 */
export class HostRest implements RestLike {
  constructor(
    private readonly inner: RestLike & { usedWeight1m?: number },
    readonly baseUrl: string,
  ) {}

  get usedWeight1m(): number | undefined {
    return this.inner.usedWeight1m;
  }

  request<T>(method: HttpMethod, path: string, params?: RestParams, opts?: RestRequestOptionsLike): Promise<T> {
    return this.inner.request<T>(method, `${this.baseUrl}${path}`, params, opts);
  }
}

export class ReliableStream extends EventEmitter<ReliableStreamEvents> {
  readonly manager: StreamManager;
  readonly market: Market;
  /** Isolated-margin symbol. */
  readonly isolatedSymbol: string | undefined;
  /** The line of streams (account node) this one belongs to (registry.ts). */
  readonly line: string | undefined;
  /** Undefined when recovery is disabled. */
  readonly recovery: GapRecovery | undefined;
  readonly pipeline: DeliveryPipeline;
  /** Resolves once the persisted state was read and the start-up recovery (if any) started. */
  readonly ready: Promise<void>;

  private readonly logger?: Logger;
  private readonly persisters = new Map<StateStore, StatePersister>();
  /**
   * Read but not yet subscribed: nothing is written until the stream has subscribed once (a
   * mistyped or revoked key that never connects would otherwise replace the saved cursors of the
   * right key with its own empty state, and going back to the right key began as a first start:
   * fills lost, status green; attack B21 on issue 21).
   */
  private readonly writesAfterSubscribe = new Set<StatePersister>();
  private subscribedOnce = false;
  /** A handed-over stream: when the stream it replaced has closed (written its last state). */
  private handedOverClosed?: Promise<void>;
  /** Recovery off: the saved state to remove once subscribed. */
  private clearAfterSubscribe?: StateStore;
  private readonly persistIntervalMs: number;
  private _current: ReliableStateChange;
  private active = 0;
  /** The saved state is known (read, none to read, or given up on: the look-back recovery ran). */
  private isReady = false;
  /** Live events that wait for the saved state (at most the hold bound), and gaps that wait for it. */
  private waitingEvents: UserDataEvent[] = [];
  private waitingGaps: GapEvent[] = [];
  private eventsFlow = false;
  private waitTimer: ReturnType<typeof setTimeout> | undefined;
  private reader: SavedStateReader | undefined;
  /** The start-up gap, known before the stream was subscribed (recovered once it is). */
  private startupPending: GapEvent | undefined;
  private stoppedAt: number | undefined;
  private closed = false;
  private recoveredTotal = 0;
  private readonly retryDelayMs: number;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failedRetries = 0;
  private readonly grace: RedeployGrace;
  /** When the stream went down (for a gap the manager does not report), and whether one came. */
  private downAt: number | undefined;
  private startedAt: number | undefined;
  private gapSeen = false;
  private recoveringSince: number | undefined;
  /** Since when the pipeline is paused (a redeploy or a consumer away), undefined while it is not. */
  private heldSince: number | undefined;
  /** Users (account nodes) of this stream: the last release() starts the grace. */
  refs = 0;
  /** Consumers being restarted (I6): nothing is delivered until each is back or gone. */
  private readonly awayConsumers = new Set<string>();
  private readonly handlers: {
    event: (e: UserDataEvent) => void;
    state: (s: StateChange) => void;
    gap: (g: GapEvent) => void;
    gapOpened: () => void;
    silence: () => void;
  };

  constructor(manager: StreamManager, opts: ReliableStreamOptions) {
    super();
    this.setMaxListeners(0);
    this.manager = manager;
    this.market = opts.market;
    this.isolatedSymbol = opts.isolatedSymbol;
    this.line = opts.line;
    this.logger = opts.logger;
    this.persistIntervalMs = opts.persistIntervalMs ?? 5000;
    this.retryDelayMs = opts.retryDelayMs ?? 30_000;
    this.grace = new RedeployGrace(
      {
        manager,
        adopted: () => this.refs > 0 && !this.closed,
        pause: () => this.hold(PAUSED_FOR_REDEPLOY),
        resume: () => this.unhold(PAUSED_FOR_REDEPLOY),
        close: () => this.close(),
        logger: opts.logger,
      },
      opts.releaseGraceMs ?? DEFAULT_RELEASE_GRACE_MS,
    );
    const s = manager.currentState;
    this._current = { ...s };
    if (s.state !== 'idle' && s.state !== 'stopped') this.startedAt = Date.now();

    if (opts.recovery !== false) {
      const recoveryUrl = opts.recoveryEndpoints?.restUrl?.replace(/\/+$/, '');
      const ownUrl = opts.restUrl?.replace(/\/+$/, '');
      const budgetUrl = recoveryUrl ?? ownUrl;
      const budget = opts.budget ?? (budgetUrl ? sharedWeightBudget(budgetUrl, opts.market) : undefined);
      const rest = recoveryUrl && recoveryUrl !== ownUrl ? new HostRest(manager.rest, recoveryUrl) : manager.rest;
      this.recovery = new GapRecovery({
        ...opts.tuning,
        market: opts.market,
        rest,
        endpoints: opts.recoveryEndpoints?.rest,
        symbols: opts.symbols,
        isolatedSymbol: opts.isolatedSymbol,
        lookbackMs: opts.lookbackMs,
        budget,
        logger: opts.logger,
        owner: opts.owner,
        clockOffsetMs: () => manager.rest.clock.offsetMs,
        ...(opts.continues ? { continues: { from: opts.continues.heldSince, symbols: opts.continues.symbols } } : {}),
      });
      // a live fill far above its cursor: the exchange's history confirms it soon (a retry)
      this.recovery.onSuspicious = () => this.scheduleRetry({ from: Date.now(), to: Date.now(), reason: 'recovery-retry' });
      this.recovery.onLimit = () => this.refreshState();
      // a symbol first seen live after a gap was recovered without it: asked soon (a retry)
      this.recovery.onLate = () => {
        this.scheduleRetry({ from: Date.now(), to: Date.now(), reason: 'recovery-retry' });
        this.refreshState();
      };
    }
    this.pipeline = new DeliveryPipeline({
      recovery: this.recovery,
      deduper: opts.handover?.deduper ?? new EventDeduper({ maxEntries: opts.dedupeMaxEntries, logger: opts.logger }),
      ledger: opts.handover?.ledger,
      emit: (e) => {
        this.emitSafe('event', e);
        // A fill (or a recovered event) delivered: the cursors are written through (the crash
        // window is one write). Other events move no cursor; what they change (open orders seen)
        // is written within the persister's interval: a write of the whole state per turn cost a
        // book of 10 000 resting orders ~12 µs per event (issue 24).
        if (e.recovered === true || fillIdentity(e) !== undefined) for (const p of this.persisters.values()) p.soon();
      },
      logger: opts.logger,
      maxHoldMs: opts.maxHoldMs,
      isOverlapping: () => manager.overlapping,
      isConnected: () => manager.state === 'connected',
      onChange: () => this.refreshState(),
      onDropped: (g) => this.onGap(g),
    });

    this.handlers = {
      event: (e) => this.onEvent(e),
      state: (st) => this.onState(st),
      gap: (g) => this.onGap(g),
      gapOpened: () => this.onGapOpened(),
      silence: () => this.refreshState(),
    };
    manager.on('event', this.handlers.event);
    manager.on('state', this.handlers.state);
    manager.on('gap', this.handlers.gap);
    manager.on('gapOpened', this.handlers.gapOpened);
    manager.on('silence', this.handlers.silence);

    if (opts.store) this.addStore(opts.store, false);
    if (opts.handover) this.takeOver(opts.handover);
    this.handedOverClosed = opts.handover?.closed;
    this.ready = this.start(opts.store);
    // After start(): queued while the saved state is read, or straight into the pipeline.
    for (const e of opts.handover?.events ?? []) this.onEvent(e);
  }

  // ------------------------------------------------------------------ public

  get state(): ReliableState {
    return this._current.state;
  }

  /** The current state, `recovering` while anything is held or being recovered on a connected stream. */
  get currentState(): ReliableStateChange {
    return this._current;
  }

  /** True while a recovery (gap, start-up, restart, retry) runs. */
  get recovering(): boolean {
    return this.active > 0;
  }

  get lastEventAt(): number | undefined {
    return this.manager.lastEventAt;
  }

  /** Number of recovered events delivered so far. */
  get recoveredCount(): number {
    return this.recoveredTotal;
  }

  /** Duplicates dropped by the de-duplication so far. */
  get duplicateCount(): number {
    return this.pipeline.duplicateCount;
  }

  /** Adds symbols to always reconcile (a second config node on the same account). */
  addSymbols(symbols: string[]): void {
    this.recovery?.addSymbols(symbols);
  }

  /**
   * Adds a store the cursors are written to (each account node keeps its own copy). The state it
   * holds is merged in (cursors only move forward).
   */
  addStore(store: StateStore, restore = true): void {
    if (!this.recovery || this.persisters.has(store)) return;
    // nothing is written to a store before what it holds was read (it would be overwritten)
    const p = new StatePersister({ source: this.recovery, store, intervalMs: this.persistIntervalMs, logger: this.logger, blocked: true, onFailing: () => this.refreshState() });
    this.persisters.set(store, p);
    if (this.manager.state !== 'stopped' && !this.closed) p.start();
    if (restore) this.mergeStore(store, p, 0);
  }

  /** Removes the saved state (recovery off); a failure is logged. */
  private clearStore(store: StateStore): void {
    const cleared = store.clear?.();
    if (!cleared) return;
    void storeDeadline(cleared, STORE_DEADLINE_MS, 'removing the saved recovery state').then(
      () => this.logger?.debug('recovery is off: the saved recovery state was removed'),
      (err: unknown) => this.logger?.warn(`recovery is off, but the saved recovery state could not be removed: ${errText(err)}`),
    );
  }

  /** Lets a persister write: once its store was read and the stream has subscribed once. */
  private allowWrites(p: StatePersister): void {
    if (this.subscribedOnce || this.manager.state === 'connected') {
      this.subscribedOnce = true;
      p.allow();
    } else {
      this.writesAfterSubscribe.add(p);
    }
  }

  /** Reads a further store (another account node's copy) and merges it; retried while it fails. */
  private mergeStore(store: StateStore, p: StatePersister, failures: number): void {
    readState(store).then(
      (st) => {
        if (this.closed) return;
        // after the stream's own saved state was settled: only what cannot bring back a fill from
        // before this line of streams began (GapRecovery.restore `late`)
        this.recovery?.restore(st, { late: this.isReady });
        this.allowWrites(p);
      },
      (err: unknown) => {
        if (this.closed || this.persisters.get(store) !== p) return;
        if (failures < 3) this.logger?.warn(`could not read the recovery state: ${errText(err)}; retried`);
        setTimeout(() => this.mergeStore(store, p, failures + 1), Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)));
      },
    );
  }

  /** Writes the recovery cursors to every store now (if they changed). Never rejects. */
  async flush(): Promise<void> {
    await Promise.all([...this.persisters.values()].map((p) => p.flush()));
  }

  /** Waits for every recovery started so far (bounded by nothing: use in tests). */
  async idle(): Promise<void> {
    await this.ready;
    await this.pipeline.idle();
  }

  /**
   * One more user (an account node adopting the stream, e.g. after a redeploy). Events kept during
   * the grace leave at `resume()` — the adapter calls it once the new flow's nodes listen (Node-RED:
   * `flows:started`) — or soon after at the latest when the host tells no deploy (redeploy-grace.ts).
   */
  retain(): void {
    this.refs++;
    if (this.refs === 1) this.grace.adopt();
  }

  /** The adopting flow's nodes listen: events kept during the redeploy grace leave now. */
  resume(): void {
    this.grace.resume();
  }

  /**
   * A consumer is being restarted (I6; Node-RED: a deploy closes it to construct it again): from
   * now on nothing is delivered — nor recorded as delivered — until it is back (`consumerBack`,
   * with the same `key`) or gone for good (`consumerBack` too: a consumer removed is not waited
   * for). Meanwhile events are kept in order (bounded: delivery.ts), so every consumer gets each
   * once. `key` is unique per consumer of this stream.
   */
  consumerAway(key: string): void {
    if (this.closed) return;
    this.awayConsumers.add(key);
    this.hold(PAUSED_FOR_CONSUMERS);
    this.refreshState();
  }

  /** The consumer is back (listens again) or gone for good: when no other is away, kept events leave. */
  consumerBack(key: string): void {
    if (!this.awayConsumers.delete(key) || this.awayConsumers.size > 0 || this.closed) return;
    this.unhold(PAUSED_FOR_CONSUMERS);
    this.refreshState();
  }

  /** Pauses the pipeline for `reason` (I6), remembering since when it is held. */
  private hold(reason: string): void {
    if (!this.pipeline.paused) this.heldSince = Date.now();
    this.pipeline.pause(reason);
  }

  private unhold(reason: string): void {
    this.pipeline.resume(reason);
    if (!this.pipeline.paused) this.heldSince = undefined;
  }

  /**
   * What a new stream of this stream's line (another owner: a key or REST host changed by the
   * deploy) continues from: while this one waits in its redeploy grace and nobody adopted it, when
   * the deploy put it on hold, and the symbols it knew if the new one is of the same market
   * (`market`, `isolatedSymbol`). Undefined otherwise (in use, adopted, closed: nothing to continue).
   */
  continuation(market: Market, isolatedSymbol: string | undefined): StreamContinuation | undefined {
    if (this.closed || this.refs > 0 || !this.grace.active || this.heldSince === undefined) return undefined;
    const same = market === this.market && (isolatedSymbol ?? '').toUpperCase() === (this.isolatedSymbol ?? '').toUpperCase();
    return { heldSince: this.heldSince, symbols: same && this.recovery ? this.recovery.knownSymbols() : [] };
  }

  /** Number of consumers being restarted (diagnostics, tests). */
  get consumersAway(): number {
    return this.awayConsumers.size;
  }

  /**
   * The settings of a user that adopts or joins the stream (registry.ts): they take effect now.
   * `replace` (the stream's only user: a redeploy adopted it): its symbols, look-back and hold
   * limit replace the old ones. Otherwise (users share it): symbols are the union, the longer
   * look-back and the shorter hold limit apply (each user gets at least what it asked for).
   */
  applySettings(s: Pick<ReliableStreamOptions, 'symbols' | 'lookbackMs' | 'maxHoldMs'>, replace: boolean): void {
    const r = this.recovery;
    if (replace) {
      r?.setListedSymbols(s.symbols ?? []);
      r?.setLookbackMs(s.lookbackMs);
      this.pipeline.setMaxHoldMs(s.maxHoldMs);
      return;
    }
    if (s.symbols?.length) r?.addSymbols(s.symbols);
    if (r && s.lookbackMs !== undefined && s.lookbackMs > r.lookbackMs) r.setLookbackMs(s.lookbackMs);
    const hold = s.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    if (hold >= 0 && hold < this.pipeline.maxHoldMs) this.pipeline.setMaxHoldMs(hold);
  }

  /**
   * One user less. Its store (if given) is written a last time and detached. The last user starts
   * the redeploy grace: the stream is kept `releaseGraceMs` for a new account node to adopt, then
   * closed. No grace when the user says it is gone for good (`keep: false`: the account was
   * deleted) or when nothing runs to keep (every consumer released already: a grace would only
   * start the connection again). Never rejects.
   */
  async release(store?: StateStore, opts: { keep?: boolean } = {}): Promise<void> {
    if (this.refs > 0) this.refs--;
    // Synchronously: the grace consumer must hold the manager before the old flow's consumers
    // release it.
    const last = this.refs === 0 && !this.closed;
    const graced = last && this.grace.graceMs > 0 && opts.keep !== false && this.manager.consumerCount > 0;
    if (graced) this.grace.begin();
    const p = store ? this.persisters.get(store) : undefined;
    if (p) {
      // The saved state still being read (a slow store): the last write waits for it, at most
      // LAST_WRITE_WAIT_MS, else nothing this life learned is written (soak seed 140000: symbols
      // first seen while the read was slow were never saved, and a fill of one made while stopped
      // was lost at the next start)
      if (!this.isReady) await withDeadline(this.ready, LAST_WRITE_WAIT_MS, undefined);
      // Its last write, then detached (an adopting account node brings its own store).
      this.persisters.delete(store!);
      await p.stop();
    } else {
      await this.flush();
    }
    if (last && !graced && this.refs === 0) await this.close();
  }

  /**
   * Hands over to a new stream on the same manager (registry.ts: a redeploy switched recovery on or
   * off, which a stream cannot change in place): detaches from the manager now, leaves the grace's
   * hold on the manager to the new stream, and returns the events it kept (in order, undelivered)
   * and what it delivered, so that the new stream delivers each event once. Only while in the
   * grace (no user).
   */
  handOver(): StreamHandover {
    const events = this.pipeline.takeKept();
    this.grace.handOff();
    const closed = this.close();
    return { events, ledger: this.pipeline.ledger, deduper: this.pipeline.deduper, closed };
  }

  /** Starts as a handed-over stream: in the redeploy grace, knowing what was delivered (its kept events follow). */
  private takeOver(h: StreamHandover): void {
    this.grace.begin();
    this.recovery?.takeOverDelivered(h.ledger);
  }

  /** Ends the redeploy grace now: closes the stream unless it was adopted. Never rejects. */
  endGrace(): Promise<void> {
    return this.grace.end();
  }

  /**
   * Detaches from the manager at once (no grace): stops recovery requests, writes the cursors a
   * last time (never past an undelivered fill) and stops the persisters. Never rejects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelRetry();
    this.grace.cancel();
    this.manager.removeListener('event', this.handlers.event);
    this.manager.removeListener('state', this.handlers.state);
    this.manager.removeListener('gap', this.handlers.gap);
    this.manager.removeListener('gapOpened', this.handlers.gapOpened);
    this.manager.removeListener('silence', this.handlers.silence);
    this.recovery?.cancel();
    this.pipeline.dispose();
    this.reader?.stop();
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    await Promise.all([...this.persisters.values()].map((p) => p.stop()));
  }

  /** True once close() was called: the registry then opens a new stream for the manager. */
  get isClosed(): boolean {
    return this.closed;
  }

  // ------------------------------------------------------------------ internals

  private async start(store: StateStore | undefined): Promise<void> {
    const recovery = this.recovery;
    if (!recovery) {
      this.isReady = true;
      // Recovery off: nothing is saved, so what the store holds grows stale; a restart with
      // recovery on again would start from it and deliver again what came meanwhile (attack B15
      // on issue 21). It is removed once this stream has subscribed (after the deploy that
      // switched recovery off: the stream it replaced wrote its last state before).
      if (store?.clear) {
        await (this.handedOverClosed ?? Promise.resolve());
        if (this.closed) return;
        if (this.manager.state === 'connected') this.clearStore(store);
        else this.clearAfterSubscribe = store;
      }
      return;
    }
    if (!store) {
      this.stateKnown(recovery.startupGap() ?? recovery.continuedGap(), false);
      return;
    }
    // Until the saved state is known, no live fill is trusted to move a cursor (a fill made while
    // Node-RED was stopped may lie below it), and live events wait at most the hold bound (I2).
    recovery.ledger.openGap();
    this.waitTimer = setTimeout(() => this.letEventsFlow(), this.pipeline.maxHoldMs);
    const reader = new SavedStateReader(
      {
        restore: (st) => recovery.restore(st),
        known: (g, fresh) => {
          // nothing saved (of this owner) and nothing recovered: a first start, nothing can be
          // missing — unless it replaces a stream of its line that the deploy put on hold: what
          // was made since then is recovered (attack C1 on issue 21: a key change in a slow deploy)
          const continued = fresh ? recovery.continuedGap() : undefined;
          if (fresh && !continued) recovery.ledger.markCaughtUp(recovery.ledger.epoch);
          this.stateKnown(g ?? continued, true);
        },
        startupGap: (unknown) => recovery.startupGap(undefined, { stateUnknown: unknown }),
        allowWrites: () => {
          const p = this.persisters.get(store);
          if (p) this.allowWrites(p);
        },
        letEventsFlow: () => this.letEventsFlow(),
        changed: () => this.refreshState(),
        logger: this.logger,
      },
      store,
    );
    this.reader = reader;
    await reader.start();
  }

  /** The saved state is known: the start-up gap (if any) and the gaps that waited are recovered. */
  private stateKnown(g: GapEvent | undefined, announce: boolean): void {
    if (this.closed) return;
    this.isReady = true;
    if (g && this.manager.state !== 'connected') {
      // Not subscribed yet: a recovery now would read the history before the subscription begins,
      // and a fill made in between would be neither fetched nor received live (found by the
      // crash-window measurement, test/process/startup-window.test.ts). It runs once subscribed.
      this.startupPending = g;
    } else if (g) {
      this.runStartup(g, announce);
    }
    const gaps = this.waitingGaps;
    this.waitingGaps = [];
    for (const q of gaps) this.runRecovery(q);
    this.letEventsFlow();
  }

  /** The start-up recovery, up to now (it runs once the stream is subscribed). */
  private runStartup(g: GapEvent, announce = true): void {
    const gap: GapEvent = { ...g, to: Math.max(g.to, Date.now()) };
    if (announce || gap.reason === 'startup') this.logger?.info(`recovering what was missed since ${new Date(gap.from).toISOString()} (start-up)`);
    this.emitSafe('gap', gap);
    this.runRecovery(gap);
  }

  /** Live events no longer wait for the saved state (it is known, a read failed, or the hold bound passed). */
  private letEventsFlow(): void {
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (this.closed || this.eventsFlow) return;
    this.eventsFlow = true;
    const events = this.waitingEvents;
    this.waitingEvents = [];
    for (const e of events) this.pipeline.live(e);
  }

  private onEvent(e: UserDataEvent): void {
    if (this.closed) return;
    if (!this.eventsFlow && !this.isReady) {
      this.waitingEvents.push(e);
      return;
    }
    this.pipeline.live(e);
  }

  /** The subscription ended on a live connection: hold the next events for the gap that follows (I2 bounds it). */
  private onGapOpened(): void {
    if (this.closed || !this.recovery) return;
    this.pipeline.hold();
  }

  private onGap(g: GapEvent): void {
    if (this.closed) return;
    this.gapSeen = true;
    this.downAt = undefined;
    this.emitSafe('gap', g);
    if (!this.recovery) {
      this.pipeline.release();
      return;
    }
    if (!this.isReady) {
      // recovered once the saved cursors are known (a recovery from cursors not restored yet
      // could commit past fills that the restored ones still miss)
      this.waitingGaps.push(g);
      return;
    }
    this.runRecovery(g);
  }

  private runRecovery(g: GapEvent): void {
    const retry = g.reason === 'recovery-retry';
    if (!retry) {
      this.failedRetries = 0;
      this.cancelRetry();
    }
    this.active++;
    this.recoveringSince ??= Date.now();
    this.emitSafe('recovery', { phase: 'started', gap: g });
    void this.pipeline.gap(g, { hold: !retry }).then(() => {
      this.active--;
      const st = this.recovery?.lastStats;
      const stats = st && st.gap === g ? st : undefined;
      if (stats) this.recoveredTotal += stats.fills + stats.orderStates + (stats.balanceSnapshot ? 1 : 0);
      this.emitSafe('recovery', { phase: 'finished', gap: g, stats });
      if (this.recovery?.incomplete) {
        if (retry) this.failedRetries++;
        this.scheduleRetry(g);
      } else if (retry || this.active === 0) {
        this.failedRetries = 0;
      }
      this.refreshState();
      void this.flush();
    });
  }

  /**
   * Some symbol's fills are still incomplete (REST down, timeouts, a ban): run the recovery again
   * from the same cursors, with growing delays, until it succeeds (I4). Live events are not held
   * for it.
   */
  private scheduleRetry(g: GapEvent): void {
    if (this.closed || this.retryTimer !== undefined || this.active > 0) return;
    // symbols new since a gap (nothing failed): asked at once, not after the back-off of a failure
    // (a second account node listing its symbols during the start-up recovery showed "catching
    // up" for 30 s)
    const delay = this.recovery?.listing && this.failedRetries === 0 ? 0 : Math.min(MAX_RETRY_DELAY_MS, this.retryDelayMs * 2 ** Math.min(this.failedRetries, 10));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed) return;
      if (this.manager.state !== 'connected') {
        // Down: the reconnect's gap recovers it; if none comes, try again later.
        this.scheduleRetry(g);
        return;
      }
      this.logger?.info('retrying the recovery of the fills that could not be fetched');
      this.runRecovery({ from: g.from, to: Date.now(), reason: 'recovery-retry' });
    }, delay);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private onState(s: StateChange): void {
    if (this.closed) return;
    const wasConnected = s.previous === 'connected';
    if (s.state === 'connecting' && (s.previous === 'idle' || s.previous === 'stopped')) {
      this.startedAt = Date.now();
      this.downAt = undefined;
    } else if (s.state !== 'connected' && s.state !== 'stopped' && s.state !== 'connecting') {
      // Down (reconnecting, auth-error, error): events of the next connection wait for its gap.
      if (this.downAt === undefined) this.downAt = wasConnected ? Date.now() : (this.startedAt ?? Date.now());
      this.gapSeen = false;
      this.pipeline.hold();
    }
    if (s.state === 'stopped') {
      this.pipeline.release();
      this.stoppedAt = Date.now();
      this.downAt = undefined;
      this.cancelRetry();
      this.recovery?.cancel();
      for (const p of this.persisters.values()) void p.stop();
    } else if (s.previous === 'stopped' || (this.stoppedAt !== undefined && s.state === 'connecting')) {
      this.recovery?.resume();
      for (const p of this.persisters.values()) p.start();
    }
    if (s.state === 'connected') {
      this.subscribedOnce = true;
      for (const p of this.writesAfterSubscribe) p.allow();
      this.writesAfterSubscribe.clear();
      const stale = this.clearAfterSubscribe;
      this.clearAfterSubscribe = undefined;
      if (stale) this.clearStore(stale);
      const startup = this.startupPending;
      this.startupPending = undefined;
      if (startup) this.runStartup(startup);
      if (this.stoppedAt !== undefined && this.recovery) {
        // Started again after a stop: what happened meanwhile is a gap too.
        const g: GapEvent = { from: this.stoppedAt, to: Date.now(), reason: 'restart' };
        this.stoppedAt = undefined;
        this.onGap(g);
      } else {
        this.stoppedAt = undefined;
      }
    }
    // Forwarded after the manager's synchronous follow-ups (the gap of a reconnect is emitted
    // right after `connected`): then a recovery shows as `recovering`.
    queueMicrotask(() => {
      if (this.closed) return;
      if (s.state === 'connected' && this.manager.state === 'connected' && !this.gapSeen && this.downAt !== undefined) {
        // Up again after failed attempts, and the manager reported no gap (it never was
        // connected before): what happened since the stream went down is a gap too.
        const g: GapEvent = { from: this.downAt, to: Date.now(), reason: 'reconnect' };
        this.onGap(g);
      }
      if (s.state === 'connected') this.pipeline.release();
      this.setState({ ...s });
    });
  }

  /** Re-derives the shown state (after the pipeline's hold changed). */
  private refreshState(): void {
    if (this.closed) return;
    if (this.manager.state !== 'connected') return;
    const base = this._current.state === 'recovering' || this._current.state === 'connected' ? this._current : this.manager.currentState;
    this.setState({ ...base, state: 'connected' });
  }

  /** Why the stream is catching up, or undefined when nothing is held or missing (I3). */
  private catchingUp(): string | undefined {
    if (this.reader?.problem !== undefined) return `the saved recovery state cannot be read (${this.reader.problem}); retrying`;
    if (!this.isReady) return 'reading the saved recovery state';
    if (this.pipeline.paused) return 'waiting for the redeployed nodes';
    const p = this.pipeline;
    const g = p.currentGap;
    if (g?.reason === 'recovery-retry' && p.heldCount === 0 && !p.holding) {
      if (this.recovery?.listing) return 'fetching the fills of symbols new since a gap';
      return this.recovery?.ordersOwedOnly ? 'reading open orders that could not be read before' : 'fetching fills that could not be fetched before';
    }
    if (p.recovering || p.heldCount > 0 || p.holding) return `recovering what was missed (${g && g.reason !== 'recovery-retry' ? g.reason : 'reconnect'})`;
    if (this.recovery?.checking) return 'confirming a trade id far above the cursor with the exchange';
    if (this.recovery?.listing) return 'fetching the fills of symbols new since a gap';
    if (this.recovery?.ordersOwedOnly) return 'some open orders not reconciled yet (REST unavailable); retrying';
    if (this.recovery?.incomplete) return 'some fills not fetched yet (REST unavailable); retrying';
    return undefined;
  }

  private setState(next: ReliableStateChange): void {
    let shown: ReliableStateChange = { ...next };
    if (next.state === 'connected' || next.state === 'recovering') {
      const why = this.catchingUp();
      if (why !== undefined) {
        this.recoveringSince ??= Date.now();
        shown = { ...next, state: 'recovering', message: why, since: this.recoveringSince };
      } else {
        this.recoveringSince = undefined;
        shown = { ...next, state: 'connected' };
        delete shown.since;
        delete shown.message;
        const m = this.manager.currentState.message;
        if (m !== undefined) shown.message = m;
      }
    } else {
      this.recoveringSince = undefined;
    }
    // a tracking bound that dropped entries is shown (never a silent loss)
    const lim = this.recovery?.limits;
    if (lim && (lim.symbols !== undefined || lim.orders !== undefined)) {
      shown.limits = { ...(lim.symbols !== undefined ? { symbols: lim.symbols } : {}), ...(lim.orders !== undefined ? { orders: lim.orders } : {}) };
    } else {
      delete shown.limits;
    }
    // a connection that opened but on which the server sends nothing is shown (issue 22)
    const silent = this.manager.silent;
    if (silent && (shown.state === 'connected' || shown.state === 'recovering')) shown.silent = { ...silent };
    else delete shown.silent;
    // the state could not be saved: a restart would start from an older one and repeat fills
    if (shown.state === 'connected' && [...this.persisters.values()].some((x) => x.failing)) shown.unsaved = true;
    else delete shown.unsaved;
    const cur = this._current;
    const sameLimits = JSON.stringify(shown.limits) === JSON.stringify(cur.limits);
    const sameSilence = shown.silent?.since === cur.silent?.since;
    if (shown.state === cur.state && shown.message === cur.message && sameLimits && sameSilence && shown.unsaved === cur.unsaved && (shown.state === 'recovering' || shown.state === 'connected')) return;
    this._current = { ...shown, previous: cur.state };
    this.emitSafe('state', this._current);
  }

  private emitSafe<K extends keyof ReliableStreamEvents>(name: K, ...args: ReliableStreamEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: ReliableStreamEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.logger?.error(`a ${name} listener threw: ${errText(err)}`);
    }
  }
}

// ---------------------------------------------------------------------------

