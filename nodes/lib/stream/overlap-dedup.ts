/**
 * Duplicate suppression while two subscriptions overlap (make-before-break rotation, listenToken
 * renewal): an event seen on both is delivered once. Fingerprint = the event's JSON in its compact
 * form (events/bounded.ts: the JSON when short, else the first 128 bits of its SHA-256), so a
 * 100 KB event costs as little as a small one. The set is bounded (at most `maxEntries`
 * fingerprints of at most 64 characters: about 2.6 MB at the default, estimated by keyBytes) and only kept during
 * an overlap plus a short tail, so normal operation costs nothing. The oldest fingerprint is
 * forgotten first, from a ring (not the Set's head, which V8 walks over deleted entries).
 */
import { compactKey, keyBytes } from '../events/bounded';

export const DEDUP_MAX_ENTRIES = 10_000;
export const DEDUP_TAIL_MS = 10_000;

export class Deduper {
  private active = 0;
  private tailUntil = 0;
  private readonly seen = new Set<string>();
  /** The fingerprints in order of first sighting (a ring of maxEntries). */
  private ring: string[] = [];
  private ringNext = 0;
  private bytes = 0;

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
      if (this.seen.size > 0) this.forgetAll();
      return true;
    }
    let fp: string;
    try {
      const json = JSON.stringify(event);
      if (typeof json !== 'string') return true;
      fp = compactKey(json);
    } catch {
      return true; // no fingerprint (e.g. nested too deeply): deliver; the pipeline de-duplicates by identity
    }
    if (this.seen.has(fp)) return false;
    this.seen.add(fp);
    this.bytes += keyBytes(fp);
    if (this.ring.length < this.maxEntries) {
      this.ring.push(fp);
    } else {
      const oldest = this.ring[this.ringNext];
      this.seen.delete(oldest);
      this.bytes -= keyBytes(oldest);
      this.ring[this.ringNext] = fp;
      this.ringNext = this.ringNext + 1 === this.maxEntries ? 0 : this.ringNext + 1;
    }
    return true;
  }

  /** Estimated bytes of the fingerprints kept (events/bounded.ts keyBytes). */
  get retainedBytes(): number {
    return this.bytes + this.ring.length * 8;
  }

  get size(): number {
    return this.seen.size;
  }

  private forgetAll(): void {
    this.seen.clear();
    this.ring = [];
    this.ringNext = 0;
    this.bytes = 0;
  }

  reset(): void {
    this.active = 0;
    this.tailUntil = 0;
    this.forgetAll();
  }
}
