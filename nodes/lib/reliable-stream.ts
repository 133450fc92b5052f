/**
 * The reliable stream: one per shared StreamManager, wrapping it with gap recovery
 * (GapRecovery + RecoveryPipeline), de-duplication (EventDeduper) and persistence of
 * the recovery cursors (StatePersister over an injected StateStore).
 * Framework-agnostic: no Node-RED import. The Node-RED account node creates it with a
 * ContextStateStore; tests use a MemoryStateStore.
 *
 * Emits (Node EventEmitter):
 *  - `event`    every live and recovered event exactly once (recovered ones carry
 *               `recovered: true`), fills in exchange order per symbol;
 *  - `state`    the manager's states, plus `recovering` ("catching up"): shown instead of
 *               `connected` while a recovery runs, followed by `connected` when it ends;
 *  - `gap`      the manager's gaps, plus `startup` / `restart` gaps (time the stream was
 *               not running at all);
 *  - `recovery` `{ phase: 'started' | 'finished', gap, stats? }` for every recovery.
 *
 * Wiring (see recovery.ts):
 *  manager `event` → pipeline.live; `state` reconnecting → pipeline.hold (events of the new
 *  connection leave after the recovered, older ones), stopped/error → release; `gap` →
 *  pipeline.gap (recover() is called synchronously, so the cursors are those of the gap).
 *  At creation the persisted state is read first: events and gaps that arrive meanwhile
 *  are queued, then the start-up gap (from the persisted last event time, clamped to the
 *  look-back) is recovered before them.
 */
import { EventEmitter } from 'node:events';
import { GapRecovery, RecoveryPipeline, type GapRecoveryOptions, type RecoveryStats } from './recovery';
import { EventDeduper } from './dedupe';
import { StatePersister, type StateStore } from './persistence';
import { sharedWeightBudget, WeightBudget } from './weight-budget';
import type { StreamManager } from './stream-manager';
import type { GapEvent, Logger, Market, StateChange, StreamState, UserDataEvent } from './types';

/** The manager's states plus `recovering` (connected, catching up over REST). */
export type ReliableState = StreamState | 'recovering';

export interface ReliableStateChange extends Omit<StateChange, 'state' | 'previous'> {
  state: ReliableState;
  previous: ReliableState;
}

export interface RecoveryReport {
  phase: 'started' | 'finished';
  gap: GapEvent;
  /** Present when `phase` is `finished`. */
  stats?: RecoveryStats;
}

export interface ReliableStreamEvents {
  event: [UserDataEvent];
  state: [ReliableStateChange];
  gap: [GapEvent];
  recovery: [RecoveryReport];
}

export interface ReliableStreamOptions {
  market: Market;
  /** Recover missed fills after gaps. Default true. When false, events pass through unchanged. */
  recovery?: boolean;
  /** Symbols always reconciled (besides those seen and those with open orders). */
  symbols?: string[];
  /** Isolated-margin symbol. */
  isolatedSymbol?: string;
  /** Look-back of recoveries (start-up included). Default 24 h. */
  lookbackMs?: number;
  /** Where the recovery cursors are kept across restarts. None: nothing is persisted. */
  store?: StateStore;
  /** How often the cursors are written while they change. Default 5000 ms. */
  persistIntervalMs?: number;
  /** REST base of the account: the weight budget is shared per host and weight pool. */
  restUrl?: string;
  /** Explicit weight budget (tests). Default: sharedWeightBudget(restUrl, market). */
  budget?: WeightBudget;
  /** Delay before a recovery that had errors is run again (not waiting for the next gap). Default 30 s. */
  retryDelayMs?: number;
  /** Bound of the de-duplication memory. Default 100 000 keys. */
  dedupeMaxEntries?: number;
  logger?: Logger;
  /** Further GapRecovery tuning (tests, advanced). */
  tuning?: Partial<
    Pick<GapRecoveryOptions, 'pageLimit' | 'clockSlackMs' | 'openOrdersScope' | 'maxOrderLookups' | 'includeAccount' | 'maxSymbols' | 'maxTrackedOrders'>
  >;
}

/** Retries during which live events stay held back after a recovery with incomplete fills. */
const MAX_HELD_RETRIES = 3;
/** Failed retries after which recovery waits for the next gap. */
const MAX_RETRIES = 5;

type Queued = { kind: 'event'; e: UserDataEvent } | { kind: 'gap'; g: GapEvent };

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ReliableStream extends EventEmitter<ReliableStreamEvents> {
  readonly manager: StreamManager;
  readonly market: Market;
  /** Undefined when recovery is disabled. */
  readonly recovery: GapRecovery | undefined;
  readonly pipeline: RecoveryPipeline | undefined;
  /** Resolves once the persisted state was read and the start-up recovery (if any) started. */
  readonly ready: Promise<void>;

  private readonly logger?: Logger;
  private readonly persisters: StatePersister[] = [];
  private readonly stores: StateStore[] = [];
  private readonly persistIntervalMs: number;
  private _current: ReliableStateChange;
  private active = 0;
  private isReady = false;
  private queue: Queued[] = [];
  private stoppedAt: number | undefined;
  private closed = false;
  private recoveredTotal = 0;
  private readonly retryDelayMs: number;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failedRetries = 0;
  /** Users (account nodes) of this stream: the last release() closes it. */
  refs = 0;
  private readonly handlers: {
    event: (e: UserDataEvent) => void;
    state: (s: StateChange) => void;
    gap: (g: GapEvent) => void;
  };

  constructor(manager: StreamManager, opts: ReliableStreamOptions) {
    super();
    this.setMaxListeners(0);
    this.manager = manager;
    this.market = opts.market;
    this.logger = opts.logger;
    this.persistIntervalMs = opts.persistIntervalMs ?? 5000;
    this.retryDelayMs = opts.retryDelayMs ?? 30_000;
    const s = manager.currentState;
    this._current = { ...s };

    if (opts.recovery !== false) {
      const budget =
        opts.budget ?? (opts.restUrl ? sharedWeightBudget(opts.restUrl, opts.market, { logger: opts.logger }) : undefined);
      this.recovery = new GapRecovery({
        ...opts.tuning,
        market: opts.market,
        rest: manager.rest,
        symbols: opts.symbols,
        isolatedSymbol: opts.isolatedSymbol,
        lookbackMs: opts.lookbackMs,
        budget,
        logger: opts.logger,
      });
      this.pipeline = new RecoveryPipeline({
        recovery: this.recovery,
        deduper: new EventDeduper({ maxEntries: opts.dedupeMaxEntries }),
        emit: (e) => this.deliver(e),
        logger: opts.logger,
        // Fills of some symbol incomplete (REST failed): keep live events back until the
        // retry, a few times, so fills stay in exchange order; then let them go.
        holdAfter: () => this.recovery!.incomplete && this.failedRetries < MAX_HELD_RETRIES && !this.closed,
      });
    }

    this.handlers = {
      event: (e) => this.onEvent(e),
      state: (st) => this.onState(st),
      gap: (g) => this.onGap(g),
    };
    manager.on('event', this.handlers.event);
    manager.on('state', this.handlers.state);
    manager.on('gap', this.handlers.gap);

    if (opts.store) this.addStore(opts.store, false);
    this.ready = this.start(opts.store);
  }

  // ------------------------------------------------------------------ public

  get state(): ReliableState {
    return this._current.state;
  }

  /** The current state, `recovering` while a recovery runs on a connected stream. */
  get currentState(): ReliableStateChange {
    return this._current;
  }

  /** True while a recovery (gap, start-up, restart) runs. */
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
    return this.pipeline?.deduper.duplicateCount ?? 0;
  }

  /** Adds symbols to always reconcile (a second config node on the same account). */
  addSymbols(symbols: string[]): void {
    this.recovery?.addSymbols(symbols);
  }

  /**
   * Adds a store the cursors are written to (a second config node on the same account:
   * each keeps its own copy). The state it holds is merged in (cursors only move forward).
   */
  addStore(store: StateStore, restore = true): void {
    if (!this.recovery || this.stores.includes(store)) return;
    this.stores.push(store);
    const p = new StatePersister({ source: this.recovery, store, intervalMs: this.persistIntervalMs, logger: this.logger });
    this.persisters.push(p);
    if (this.manager.state !== 'stopped' && !this.closed) p.start();
    if (restore) {
      store.get().then(
        (st) => this.recovery?.restore(st),
        (err: unknown) => this.logger?.warn(`could not read the recovery state: ${errText(err)}`),
      );
    }
  }

  /** Writes the recovery cursors to every store now (if they changed). Never rejects. */
  async flush(): Promise<void> {
    await Promise.all(this.persisters.map((p) => p.flush()));
  }

  /** Waits for every recovery started so far (bounded by nothing: use in tests). */
  async idle(): Promise<void> {
    await this.ready;
    await this.pipeline?.idle();
  }

  /** One user less; the last one closes the stream (see close()). Never rejects. */
  async release(): Promise<void> {
    if (this.refs > 0) this.refs--;
    if (this.refs === 0) await this.close();
    else await this.flush();
  }

  /**
   * Detaches from the manager: stops recovery requests, writes the cursors a last time
   * (conservative while a recovery still runs) and stops the persisters. Never rejects.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelRetry();
    this.manager.removeListener('event', this.handlers.event);
    this.manager.removeListener('state', this.handlers.state);
    this.manager.removeListener('gap', this.handlers.gap);
    this.recovery?.cancel();
    this.pipeline?.release();
    await Promise.all(this.persisters.map((p) => p.stop()));
    if (registry.get(this.manager) === this) registry.delete(this.manager);
  }

  // ------------------------------------------------------------------ internals

  private async start(store: StateStore | undefined): Promise<void> {
    if (!this.recovery || !this.pipeline) {
      this.isReady = true;
      return;
    }
    // Hold live events until the persisted state is in and the start-up gap has started.
    if (store) {
      try {
        this.recovery.restore(await store.get());
      } catch (err) {
        this.logger?.warn(`could not read the recovery state: ${errText(err)}`);
      }
    }
    if (this.closed) return;
    this.isReady = true;
    const g = this.recovery.startupGap();
    if (g) {
      this.logger?.info(`recovering what was missed since ${new Date(g.from).toISOString()} (start-up)`);
      this.emitSafe('gap', g);
      this.runRecovery(g);
    }
    const queued = this.queue;
    this.queue = [];
    for (const q of queued) {
      if (q.kind === 'event') this.pipeline.live(q.e);
      else this.startGap(q.g);
    }
    if (!g && this.manager.state !== 'reconnecting') this.pipeline.release();
  }

  private onEvent(e: UserDataEvent): void {
    if (this.closed) return;
    if (!this.pipeline) {
      this.deliver(e);
      return;
    }
    if (!this.isReady) {
      this.queue.push({ kind: 'event', e });
      return;
    }
    this.pipeline.live(e);
  }

  private onGap(g: GapEvent): void {
    if (this.closed) return;
    this.emitSafe('gap', g);
    if (!this.pipeline) return;
    if (!this.isReady) {
      this.queue.push({ kind: 'gap', g });
      return;
    }
    this.runRecovery(g);
  }

  /** A queued gap (seen before the start-up state was read): recovered after it. */
  private startGap(g: GapEvent): void {
    this.runRecovery(g);
  }

  private runRecovery(g: GapEvent): void {
    const pipeline = this.pipeline;
    if (!pipeline) return;
    if (g.reason !== 'recovery-retry') this.failedRetries = 0;
    this.active++;
    this.emitSafe('recovery', { phase: 'started', gap: g });
    // pipeline.gap() calls recover() synchronously: the cursors are those of this gap.
    void pipeline.gap(g).then(() => {
      this.active--;
      const st = this.recovery?.lastStats;
      const stats = st && st.gap === g ? st : undefined;
      if (stats) this.recoveredTotal += stats.fills + stats.orderStates + (stats.balanceSnapshot ? 1 : 0);
      this.emitSafe('recovery', { phase: 'finished', gap: g, stats });
      if (this.recovery?.incomplete || (stats && stats.errors.length > 0)) {
        if (g.reason === 'recovery-retry') this.failedRetries++;
        this.scheduleRetry(g);
      } else {
        this.failedRetries = 0;
      }
      if (this.active === 0 && this._current.state === 'recovering') {
        if (this.manager.state === 'connected') this.setState({ ...this.manager.currentState, at: Date.now() });
      }
      void this.flush();
    });
  }

  /**
   * A recovery had errors (REST down, timeouts): run it again soon rather than at the next
   * gap, so the symbols that failed catch up (from their cursors) while live events are
   * held back again.
   */
  private scheduleRetry(g: GapEvent): void {
    // Not while the stream is down (its reconnect brings a gap and a recovery anyway), and
    // not forever: after MAX_RETRIES failed retries, the next gap tries again.
    if (this.closed || this.retryTimer !== undefined || this.manager.state !== 'connected') return;
    if (this.failedRetries >= MAX_RETRIES) {
      this.logger?.warn('recovery still incomplete after several retries; trying again at the next gap');
      return;
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.manager.state !== 'connected') return;
      this.logger?.info('retrying the recovery that had errors');
      this.runRecovery({ from: g.from, to: Date.now(), reason: 'recovery-retry' });
    }, this.retryDelayMs);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private onState(s: StateChange): void {
    if (this.closed) return;
    const pipeline = this.pipeline;
    if (pipeline) {
      if (s.state === 'reconnecting') {
        pipeline.hold();
      } else if (s.state === 'stopped' || s.state === 'error') {
        pipeline.release();
      }
      if (s.state === 'stopped') {
        this.stoppedAt = Date.now();
        this.cancelRetry();
        this.recovery?.cancel();
        for (const p of this.persisters) void p.stop();
      } else if (s.previous === 'stopped' || (this.stoppedAt !== undefined && s.state === 'connecting')) {
        this.recovery?.resume();
        for (const p of this.persisters) p.start();
      }
      if (s.state === 'connected' && this.stoppedAt !== undefined) {
        // Started again after a stop: what happened meanwhile is a gap too.
        const g: GapEvent = { from: this.stoppedAt, to: Date.now(), reason: 'restart' };
        this.stoppedAt = undefined;
        this.onGap(g);
      }
    }
    // Forwarded after the manager's synchronous follow-ups (the gap of a reconnect is
    // emitted right after `connected`): then a recovery shows as `recovering`.
    queueMicrotask(() => {
      if (this.closed) return;
      const next: ReliableStateChange = { ...s };
      if (s.state === 'connected' && this.active > 0) next.state = 'recovering';
      this.setState(next);
    });
  }

  private setState(next: ReliableStateChange): void {
    const change: ReliableStateChange = { ...next, previous: this._current.state };
    if (change.state === this._current.state && change.state === 'recovering') return;
    this._current = change;
    this.emitSafe('state', change);
  }

  private deliver(e: UserDataEvent): void {
    this.emitSafe('event', e);
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

const registry = new WeakMap<StreamManager, ReliableStream>();

/**
 * The reliable stream of a shared manager (created on first use with `opts`). Later
 * callers with other options add their symbols and store to the existing one; the
 * recovery switch and look-back of the first caller apply.
 */
export function reliableStreamFor(manager: StreamManager, opts: ReliableStreamOptions): ReliableStream {
  const existing = registry.get(manager);
  if (existing) {
    if (opts.symbols?.length) existing.addSymbols(opts.symbols);
    if (opts.store) existing.addStore(opts.store);
    if ((opts.recovery !== false) !== (existing.recovery !== undefined)) {
      opts.logger?.warn('another account node on the same account set recovery differently; its setting applies');
    }
    existing.refs++;
    return existing;
  }
  const r = new ReliableStream(manager, opts);
  r.refs = 1;
  registry.set(manager, r);
  return r;
}

/** The reliable stream of a manager, if one was created. */
export function existingReliableStream(manager: StreamManager): ReliableStream | undefined {
  return registry.get(manager);
}


