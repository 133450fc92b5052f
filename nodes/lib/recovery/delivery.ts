/**
 * The delivery pipeline: the one place where live and recovered events meet, are de-duplicated
 * and leave for the flow. THE answer to "when is a live event held".
 *
 * Items wait in one ordered queue: live events, and a *slot* per recovery (a placeholder that is
 * filled with the recovery's events when its REST calls finish). The queue drains from the head:
 * an event leaves, a filled slot's events leave and then its cursor commits are applied (so a
 * cursor never passes an undelivered fill, I4), an unfilled slot stops the drain. A live event
 * is therefore held only
 *  - behind a recovery that is still running (its fills are older: exchange order per symbol), or
 *  - while `hold()` is armed: the stream went down and events of the new connection may arrive
 *    before the gap is reported, or
 *  - while the pipeline is paused: a consumer the event is for is away (restarted by a redeploy),
 *    or the stream waits for a redeploy to adopt it (I6: delivered means a consumer received it),
 * and, except while paused, never longer than `maxHoldMs` (I2): when the oldest held live event
 * reaches the bound, every held live event leaves at once and later ones pass straight through
 * until the running recoveries end; their recovered events follow, marked `recovered`.
 *
 * Paused, nothing leaves and nothing is recorded: an event counts as delivered (ledger, window,
 * cursor commits) only in `out()`, when it is handed to the consumers. Past `maxBuffered` held
 * live events while paused, the oldest are dropped *unrecorded* and the time they span becomes a
 * gap recovered at `resume()` (`onDropped`), so the fills among them come back from REST.
 *
 * De-duplication (one story): a fill is delivered at most once by the ledger (exact: trade id at
 * or below the symbol's safe cursor, or in its delivered set); every other event by its identity
 * key in a bounded window (EventDeduper). Each step of an event runs guarded, so nothing one
 * event contains can stop, drop or hold the others (I5).
 */
import type { GapEvent, Logger, UserDataEvent } from '../types';
import { EventDeduper } from './dedupe';
import { fillIdentity } from './books';
import type { GapRecovery, RecoveryBatch } from './gap-recovery';
import { FillLedger } from './ledger';
import { errText } from '../util';

/** Default bound of the time a live event may be held back for a recovery (I2). */
export const DEFAULT_MAX_HOLD_MS = 5_000;

export interface DeliveryPipelineOptions {
  /** Gap recovery; none: events pass through, de-duplicated. */
  recovery?: GapRecovery;
  deduper?: EventDeduper;
  /** Without recovery: the ledger to de-duplicate fills with (a handover keeps its history). */
  ledger?: FillLedger;
  /** Receives every event exactly once, live and recovered. */
  emit: (e: UserDataEvent) => void;
  logger?: Logger;
  /** Longest a live event is held back for a recovery. Default DEFAULT_MAX_HOLD_MS. */
  maxHoldMs?: number;
  /**
   * Live events held at most. Beyond it the oldest leaves (held for a recovery), or, while paused,
   * is dropped unrecorded and recovered as a gap at resume(). Default 100 000.
   */
  maxBuffered?: number;
  /**
   * Events were dropped unrecorded while paused (memory bound): recover this gap (the stream
   * reports and runs it; default: the pipeline runs it itself). Called at resume().
   */
  onDropped?: (g: GapEvent) => void;
  /** True while two connections overlap (rotation): live fills do not move safe cursors then. */
  isOverlapping?: () => boolean;
  /** True while the stream is connected (a symbol first seen then is trusted from its first fill). */
  isConnected?: () => boolean;
  /** Called whenever what is held changes (the shown state may change). */
  onChange?: () => void;
}

interface Slot {
  gap: GapEvent;
  batch?: RecoveryBatch;
  hold: boolean;
}

type Item = { e: UserDataEvent; slot?: undefined } | { slot: Slot; e?: undefined };

export class DeliveryPipeline {
  readonly recovery?: GapRecovery;
  readonly ledger: FillLedger;
  readonly deduper: EventDeduper;
  private readonly emitFn: (e: UserDataEvent) => void;
  private readonly logger?: Logger;
  private holdMs: number;
  private readonly maxBuffered: number;
  private readonly onDropped?: (g: GapEvent) => void;
  private readonly isOverlapping: () => boolean;
  private readonly isConnected: () => boolean;
  private readonly onChange?: () => void;
  private queue: Item[] = [];
  private held = 0;
  private unfilled = 0;
  private unfilledHolding = 0;
  private armedAt: number | undefined;
  /** Why the pipeline is paused (nothing leaves while any reason is set). */
  private readonly pausedBy = new Set<string>();
  /** While paused: what was dropped unrecorded past maxBuffered (recovered at resume). */
  private dropped: { from: number; to: number; count: number } | undefined;
  private spilled = false;
  private spillTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly waiters: Array<{ slot: Slot; resolve: () => void }> = [];
  private chain: Promise<void> = Promise.resolve();
  private fillDuplicates = 0;
  private faults = 0;

  constructor(opts: DeliveryPipelineOptions) {
    this.recovery = opts.recovery;
    this.ledger = opts.recovery?.ledger ?? opts.ledger ?? new FillLedger();
    this.deduper = opts.deduper ?? new EventDeduper();
    this.emitFn = opts.emit;
    this.logger = opts.logger;
    this.holdMs = opts.maxHoldMs !== undefined && opts.maxHoldMs >= 0 ? opts.maxHoldMs : DEFAULT_MAX_HOLD_MS;
    this.maxBuffered = opts.maxBuffered ?? 100_000;
    this.onDropped = opts.onDropped;
    this.isOverlapping = opts.isOverlapping ?? (() => false);
    this.isConnected = opts.isConnected ?? (() => true);
    this.onChange = opts.onChange;
  }

  /** True while a recovery runs. */
  get recovering(): boolean {
    return this.unfilled > 0;
  }

  /** Live events held back right now. */
  get heldCount(): number {
    return this.held;
  }

  /** True while live events are or would be held back (a recovery, an armed hold, a pause). */
  get holding(): boolean {
    return this.held > 0 || this.armedAt !== undefined || (this.unfilledHolding > 0 && !this.spilled) || this.paused;
  }

  /** The gap of the oldest recovery still running. */
  get currentGap(): GapEvent | undefined {
    for (const w of this.waiters) if (!w.slot.batch) return w.slot.gap;
    return undefined;
  }

  /** Duplicates dropped (fills by the ledger, other events by the window). */
  get duplicateCount(): number {
    return this.fillDuplicates + this.deduper.duplicateCount;
  }

  /** The stream went down: hold live events until the gap is reported (bounded by maxHoldMs). */
  hold(): void {
    // Without recovery nothing can be fetched again: the ledger keeps trusting live fills.
    if (this.recovery) this.ledger.openGap();
    if (this.armedAt === undefined) this.armedAt = Date.now();
    this.changed();
  }

  /** Ends a hold() that no gap followed; held events leave now unless a recovery runs. */
  release(): void {
    if (this.armedAt === undefined) return;
    this.armedAt = undefined;
    this.drain();
  }

  /** Longest a live event is held back for a recovery (I2). */
  get maxHoldMs(): number {
    return this.holdMs;
  }

  /** True while paused (a consumer is away, or a redeploy is in progress). */
  get paused(): boolean {
    return this.pausedBy.size > 0;
  }

  /**
   * A consumer cannot take events now (`reason`: who says so): keep everything, unbounded by
   * time, bounded by maxBuffered, until every reason was lifted by resume(reason). Nothing is
   * recorded as delivered meanwhile.
   */
  pause(reason = 'paused'): void {
    this.pausedBy.add(reason);
  }

  /** Lifts one reason of a pause; the last one lets the kept events leave, in order. */
  resume(reason = 'paused'): void {
    if (!this.pausedBy.delete(reason) || this.paused) return;
    const d = this.dropped;
    this.dropped = undefined;
    if (d) {
      // Before every kept event (gap() places the slot after the live events received at or
      // before its start, and the kept ones arrived after the dropped ones, possibly in the same
      // millisecond): the dropped ones come back from REST first, then the kept ones leave.
      const g: GapEvent = { from: d.from - 1, to: d.to, reason: 'held-overflow' };
      this.logger?.warn(`${d.count} event(s) were dropped while no consumer listened (too many held); recovering them`);
      if (this.onDropped) {
        try {
          this.onDropped(g);
        } catch (err) {
          this.logger?.error(`could not recover the dropped events: ${errText(err)}`);
        }
      } else {
        void this.gap(g);
      }
    }
    this.drain();
  }

  /** A new hold limit (changed settings): applies to what is held from now on. */
  setMaxHoldMs(ms: number | undefined): void {
    this.holdMs = ms !== undefined && ms >= 0 ? ms : DEFAULT_MAX_HOLD_MS;
    if (this.spillTimer !== undefined) {
      this.clearSpill();
      this.armSpill();
    }
  }

  /** A live event from the stream. */
  live(e: UserDataEvent): void {
    this.recovery?.track(e);
    if (this.paused || this.armedAt !== undefined || (this.queue.length > 0 && !this.spilled)) {
      this.queue.push({ e });
      this.held++;
      if (this.held > this.maxBuffered) this.dropOldestHeld();
      this.armSpill();
      if (this.held === 1) this.changed();
      return;
    }
    this.out(e);
  }

  /**
   * A gap was reported: recover it. `hold` (default true) keeps the live events that arrive
   * meanwhile behind the recovered ones (up to maxHoldMs); a retry passes `false`. Resolves when
   * its events were delivered. Never rejects.
   */
  gap(g: GapEvent, opts: { hold?: boolean } = {}): Promise<void> {
    const slot: Slot = { gap: g, hold: opts.hold !== false };
    if (slot.hold) {
      // from g.from: a live fill received since the gap began may have moved a cursor already
      if (this.recovery) this.ledger.openGap(g.from);
      this.armedAt = undefined;
      // After every slot already queued; before the queued live events of the new connection.
      let at = 0;
      for (let i = 0; i < this.queue.length; i++) if (this.queue[i].slot) at = i + 1;
      while (at < this.queue.length) {
        const it = this.queue[at];
        if (it.e && it.e.receivedAt > g.from) break;
        at++;
      }
      this.queue.splice(at, 0, { slot });
      this.unfilledHolding++;
      // A new gap: its live events wait for it again (bounded as always), even if an older,
      // slow recovery had let live events through.
      this.spilled = false;
    }
    this.unfilled++;
    this.changed();
    const done = new Promise<void>((resolve) => this.waiters.push({ slot, resolve }));
    const recovering = this.recovery
      ? this.recovery.recoverBatch(g)
      : Promise.resolve<RecoveryBatch>({ gap: g, events: [], commits: [] });
    void recovering.then(
      (batch) => this.fill(slot, batch),
      (err: unknown) => {
        this.logger?.error(`recovery failed: ${errText(err)}`);
        this.fill(slot, { gap: g, events: [], commits: [] });
      },
    );
    this.chain = this.chain.then(() => done);
    return done;
  }

  /** Waits for every recovery started so far to be delivered. */
  idle(): Promise<void> {
    return this.chain;
  }

  /**
   * Takes everything kept and not delivered, in order (a handover to another pipeline): live
   * events and the events of finished recoveries. Recoveries still running are abandoned (their
   * promises never resolve); events dropped while paused are not among them (the caller's
   * recovery covers them from its cursors). Empties the queue.
   */
  takeKept(): UserDataEvent[] {
    const out: UserDataEvent[] = [];
    for (const it of this.queue) {
      if (it.e) out.push(it.e);
      else if (it.slot.batch) out.push(...it.slot.batch.events);
    }
    if (this.unfilled > 0) this.logger?.warn(`${this.unfilled} recovery(ies) still running abandoned by a handover`);
    this.queue = [];
    this.held = 0;
    this.dropped = undefined;
    this.clearSpill();
    return out;
  }

  /** Stops the spill timer (the stream is closing); what is queued stays queued. */
  dispose(): void {
    this.clearSpill();
  }

  // ------------------------------------------------------------------ internals

  private fill(slot: Slot, batch: RecoveryBatch): void {
    slot.batch = batch;
    this.unfilled--;
    if (slot.hold) this.unfilledHolding--;
    // A retry's rows are older than anything live: they leave as soon as nothing queued waits.
    else if (this.queue.length === 0 && !this.paused) this.deliverSlot(slot);
    else this.queue.push({ slot });
    this.drain();
  }

  private drain(): void {
    if (!this.paused) {
      while (this.queue.length > 0) {
        const head = this.queue[0];
        if (head.e) {
          if (this.armedAt !== undefined && head.e.receivedAt >= this.armedAt && !this.spilled) break;
          this.queue.shift();
          this.held--;
          this.out(head.e);
          continue;
        }
        if (!head.slot.batch) break;
        this.queue.shift();
        this.deliverSlot(head.slot);
      }
    }
    if (this.unfilledHolding === 0) this.spilled = false;
    if (this.held === 0) this.clearSpill();
    else this.armSpill();
    this.changed();
  }

  private deliverSlot(slot: Slot): void {
    const batch = slot.batch!;
    for (const e of batch.events) this.out(e);
    try {
      this.recovery?.commit(batch);
    } catch (err) {
      this.logger?.error(`recovery: cursors not committed: ${errText(err)}`);
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].slot === slot) {
        this.waiters[i].resolve();
        this.waiters.splice(i, 1);
      }
    }
  }

  /** The oldest held live event passed the bound: every held live event leaves now (I2). */
  private spill(): void {
    this.spillTimer = undefined;
    if (this.paused || this.held === 0) return;
    const keep: Item[] = [];
    const out: UserDataEvent[] = [];
    for (const it of this.queue) {
      if (it.e) out.push(it.e);
      else keep.push(it);
    }
    this.queue = keep;
    this.held = 0;
    this.armedAt = undefined;
    if (this.unfilledHolding > 0) {
      this.spilled = true;
      const g = this.currentGap;
      this.logger?.info(
        `recovery${g ? ` (${g.reason})` : ''} takes longer than ${Math.round(this.maxHoldMs / 1000)} s: ` +
          `${out.length} live event(s) released; the recovered ones follow`,
      );
    }
    for (const e of out) this.out(e);
    this.drain();
  }

  private armSpill(): void {
    if (this.spillTimer !== undefined || this.paused) return;
    const oldest = this.queue.find((it) => it.e)?.e;
    const wait = oldest ? Math.min(this.maxHoldMs, Math.max(0, oldest.receivedAt + this.maxHoldMs - Date.now())) : this.maxHoldMs;
    this.spillTimer = setTimeout(() => this.spill(), wait);
  }

  private clearSpill(): void {
    if (this.spillTimer !== undefined) clearTimeout(this.spillTimer);
    this.spillTimer = undefined;
  }

  private dropOldestHeld(): void {
    const i = this.queue.findIndex((it) => it.e);
    if (i < 0) return;
    const [it] = this.queue.splice(i, 1);
    this.held--;
    const e = it.e!;
    if (!this.paused) {
      this.logger?.warn('too many live events held back; releasing the oldest');
      this.out(e);
      return;
    }
    // Paused: no consumer takes it, so it is not delivered and not recorded (I6). With recovery
    // its time becomes a gap recovered at resume(); without, it is lost, and the log says so.
    const at = e.receivedAt;
    if (!this.dropped) {
      this.dropped = { from: at, to: e.receivedAt, count: 0 };
      if (this.recovery) this.logger?.warn(`more than ${this.maxBuffered} events held while no consumer listens; dropping the oldest, recovered when the consumers are back`);
    }
    this.dropped.count++;
    this.dropped.from = Math.min(this.dropped.from, at);
    this.dropped.to = Math.max(this.dropped.to, e.receivedAt);
    if (!this.recovery) this.fault(`more than ${this.maxBuffered} events held while no consumer listens; ${String(e.eventType)} dropped (recovery is off)`);
  }

  private changed(): void {
    if (!this.onChange) return;
    try {
      this.onChange();
    } catch (err) {
      this.logger?.error(`a state listener threw: ${errText(err)}`);
    }
  }

  /** De-duplicates and emits one event. Never throws; a fault in one step does not lose the event. */
  private out(e: UserDataEvent): void {
    let fresh = true;
    try {
      const f = fillIdentity(e);
      if (f) {
        if (e.recovered ? this.ledger.isDelivered(f.symbol, f.id, f.leg) : this.ledger.isDeliveredLive(f.symbol, f.id, f.leg)) {
          fresh = false;
          this.fillDuplicates++;
        } else {
          // a symbol new since a gap is not live-safe from its first live fill (its gap fills lie below)
          const trustNew = this.isConnected() && !(this.recovery?.isLate(f.symbol) ?? false);
          this.ledger.delivered(f.symbol, f.id, f.leg, !e.recovered, this.isOverlapping(), trustNew, e.receivedAt);
        }
      } else {
        fresh = this.deduper.accept(e);
      }
    } catch (err) {
      this.fault(`could not de-duplicate ${String(e?.eventType)}: ${errText(err)}`);
    }
    if (!fresh) return;
    try {
      this.emitFn(e);
    } catch (err) {
      this.fault(`event consumer threw: ${errText(err)}`);
    }
  }

  private fault(line: string): void {
    this.faults++;
    // The first few, then one in a thousand: a flood of poison frames must not flood the log.
    if (this.faults <= 5 || this.faults % 1000 === 0) this.logger?.warn(`${line} (${this.faults} so far)`);
  }
}
