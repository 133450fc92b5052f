/**
 * Duplicate suppression while two subscriptions overlap (make-before-break rotation, listenToken
 * renewal): an event seen on both is delivered once. Fingerprint = the event's JSON. The set is
 * bounded and only kept during an overlap plus a short tail, so normal operation costs nothing.
 */
export const DEDUP_MAX_ENTRIES = 10_000;
export const DEDUP_TAIL_MS = 10_000;

export class Deduper {
  private active = 0;
  private tailUntil = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly maxEntries = DEDUP_MAX_ENTRIES,
    private readonly tailMs = DEDUP_TAIL_MS,
  ) {}

  begin(): void {
    this.active += 1;
  }

  end(): void {
    if (this.active > 0) this.active -= 1;
    if (this.active === 0) this.tailUntil = Date.now() + this.tailMs;
  }

  get overlapping(): boolean {
    if (this.active > 0) return true;
    // No overlap since the last tail ran out: no clock read on the per-event path.
    if (this.tailUntil === 0) return false;
    if (Date.now() < this.tailUntil) return true;
    this.tailUntil = 0;
    return false;
  }

  /** True if the event should be delivered (first sighting, or no overlap in progress). */
  admit(event: Record<string, unknown>): boolean {
    if (!this.overlapping) {
      if (this.seen.size > 0) this.seen.clear();
      return true;
    }
    let fp: string;
    try {
      fp = JSON.stringify(event);
    } catch {
      return true; // no fingerprint (e.g. nested too deeply): deliver; the pipeline de-duplicates by identity
    }
    if (this.seen.has(fp)) return false;
    this.seen.add(fp);
    if (this.seen.size > this.maxEntries) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }

  reset(): void {
    this.active = 0;
    this.tailUntil = 0;
    this.seen.clear();
  }
}
