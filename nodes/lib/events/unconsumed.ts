/**
 * Events that reached the account but that no configured node took ("unconsumed"), counted per
 * event type. Framework-agnostic: the account adapter owns one tracker, the consumer nodes call
 * `accept(e)` for every event their configuration takes (its type, before symbol / asset filters),
 * and the account feeds every event of its stream into `observe(e)`.
 *
 * Consumers run synchronously inside the stream's `emit`, so the check is made in a microtask after
 * it, once for the whole batch of events observed in that turn: an event nobody accepted by then is
 * counted. The first one of each type is reported at once (`unconsumed` with `first: true`); later
 * ones are reported at most once per `reportIntervalMs` per type, at the next event of that type
 * (no timer of its own). A type accepted once is still reported whenever it later goes unaccepted
 * (a node was removed).
 *
 * Bounded (issue 24: a misbehaving server sending thousands of distinct types gave a warning line,
 * a status message and memory per type): at most MAX_NAMED_TYPES types are counted by name, each
 * name cut to MAX_TYPE_CHARS; events of any further type are counted together under OTHER_TYPES,
 * reported like one type (the first at once with `other` set, then at most once per interval, with
 * the count). So a flood of distinct types gives at most MAX_NAMED_TYPES + 1 first reports, and
 * the tracker holds a few KB (`retainedBytes`).
 */
import { EventEmitter } from 'node:events';
import type { UserDataEvent } from '../types';
import { keyBytes } from './bounded';

export const DEFAULT_UNCONSUMED_REPORT_INTERVAL_MS = 60_000;
/** Types counted by name (far above the types of one account's stream, about 15). */
export const MAX_NAMED_TYPES = 32;
/** Longest type name kept (longer ones are cut, with '…'). */
export const MAX_TYPE_CHARS = 64;
/** The name the types beyond MAX_NAMED_TYPES are counted under. */
export const OTHER_TYPES = '(other types)';

export interface UnconsumedReport {
  eventType: string;
  /** Unconsumed events of this type since the tracker started. */
  count: number;
  /** Unconsumed events of every type. */
  total: number;
  /** The first unconsumed event of this type. */
  first: boolean;
  /** Epoch ms. */
  at: number;
  /** Set on the reports of OTHER_TYPES: the latest such type (cut) and how many types have names. */
  other?: { latest: string; named: number };
}

export interface ConsumptionTrackerOptions {
  reportIntervalMs?: number;
}

export class ConsumptionTracker extends EventEmitter {
  /** Events observed in this turn, and whether a consumer took each (same index). */
  private pending: UserDataEvent[] = [];
  private taken: boolean[] = [];
  /** Accepted before observed (a consumer listening ahead of the account): rare, kept apart. */
  private early: WeakSet<object> | undefined;
  private scheduled = false;
  private readonly counts = new Map<string, number>();
  private readonly lastReport = new Map<string, number>();
  private readonly reportIntervalMs: number;
  private totalCount = 0;

  constructor(opts: ConsumptionTrackerOptions = {}) {
    super();
    const i = opts.reportIntervalMs;
    this.reportIntervalMs = typeof i === 'number' && Number.isFinite(i) && i >= 0 ? i : DEFAULT_UNCONSUMED_REPORT_INTERVAL_MS;
  }

  /** A consumer took this event. */
  accept(e: UserDataEvent): void {
    // Consumers run inside the emit that observed the event, so it is nearly always the last one
    // of the turn: no per-event set (a WeakSet entry per event cost ~0.5 µs and GC work).
    const pending = this.pending;
    for (let i = pending.length - 1; i >= 0; i--) {
      if (pending[i] === e) {
        this.taken[i] = true;
        return;
      }
    }
    (this.early ??= new WeakSet()).add(e);
  }

  /** Every event of the account's stream, in the same turn as the consumers see it. */
  observe(e: UserDataEvent): void {
    this.pending.push(e);
    this.taken.push(this.early?.has(e) === true);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Counts per event type (a copy). */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  get total(): number {
    return this.totalCount;
  }

  /** Estimated bytes of the per-type tables (at most MAX_NAMED_TYPES + 1 names, two tables). */
  get retainedBytes(): number {
    let n = 0;
    for (const k of this.counts.keys()) n += keyBytes(k);
    for (const k of this.lastReport.keys()) n += keyBytes(k);
    return n;
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    const taken = this.taken;
    this.pending = [];
    this.taken = [];
    this.early = undefined;
    for (let i = 0; i < batch.length; i++) {
      if (taken[i]) continue;
      const e = batch[i];
      let type = typeName(e.eventType);
      let latest: string | undefined;
      const named = this.counts.size - Number(this.counts.has(OTHER_TYPES));
      if (!this.counts.has(type) && named >= MAX_NAMED_TYPES) {
        latest = type;
        type = OTHER_TYPES;
      }
      const count = (this.counts.get(type) ?? 0) + 1;
      this.counts.set(type, count);
      this.totalCount++;
      const now = Date.now();
      const last = this.lastReport.get(type);
      if (last !== undefined && now - last < this.reportIntervalMs) continue;
      this.lastReport.set(type, now);
      const report: UnconsumedReport = { eventType: type, count, total: this.totalCount, first: last === undefined, at: now };
      if (latest !== undefined) report.other = { latest, named: MAX_NAMED_TYPES };
      try {
        this.emit('unconsumed', report);
      } catch {
        // a listener's failure is not the stream's
      }
    }
  }
}

/** The name a type is counted under: cut to MAX_TYPE_CHARS (a server may send anything). */
function typeName(type: unknown): string {
  const t = typeof type === 'string' ? type : String(type);
  return t.length > MAX_TYPE_CHARS ? `${t.slice(0, MAX_TYPE_CHARS)}…` : t;
}
