/**
 * Bounds in bytes for the structures that grow with traffic (issue 24; the table of bounds is in
 * docs/architecture.md): compact keys for content that can be arbitrarily large, the estimated
 * bytes a kept string costs, and a notice logged once and then at most once per interval, with a
 * count, when a bound forgets something early.
 */
import * as crypto from 'node:crypto';
import type { Logger } from '../types';

/** Keys up to this many characters are kept as they are; longer ones become their digest. */
export const PLAIN_KEY_MAX_CHARS = 64;
/** Length of a digest key: '#' + 22 base64url characters (the first 128 bits of SHA-256). */
export const DIGEST_KEY_CHARS = 23;

/**
 * A key of bounded size for `key`: the key itself when it is short, else '#' and the first 128
 * bits of its SHA-256 (base64url). A short key never starts with '#' among the callers' keys (they
 * start with a family name), so the two kinds cannot collide; two long keys share a digest only by
 * a SHA-256 collision on 128 bits (about 2^-64 for 2^32 keys).
 */
export function compactKey(key: string): string {
  if (key.length <= PLAIN_KEY_MAX_CHARS) return key;
  return `#${sha256(key).slice(0, DIGEST_KEY_CHARS - 1)}`;
}

const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash;
function sha256(s: string): string {
  return oneShot ? oneShot('sha256', s, 'base64url') : crypto.createHash('sha256').update(s).digest('base64url');
}

/**
 * Estimated bytes a kept string key costs in V8 with its entries in a Set and a slot table: the
 * characters (two bytes each, the worst case) and a fixed part (string header, hash-table entries).
 */
export const KEY_ENTRY_OVERHEAD_BYTES = 128;
export function keyBytes(key: string): number {
  return KEY_ENTRY_OVERHEAD_BYTES + 2 * key.length;
}

/** How often a bound that keeps forgetting early says so again (the first time at once). */
export const NOTICE_INTERVAL_MS = 10 * 60_000;

/**
 * A warning for something counted: logged at the first `note()`, then at most once per
 * `intervalMs`, at a later `note()`, with the count since the previous line and the total.
 * No timer of its own.
 */
export class RateLimitedNotice {
  private total = 0;
  private unreported = 0;
  private lastAt: number | undefined;

  constructor(
    private readonly logger: Logger | undefined,
    private readonly text: (since: number, total: number) => string,
    private readonly intervalMs = NOTICE_INTERVAL_MS,
  ) {}

  /** Counts `n` more; logs when due. Returns true when a line was logged. */
  note(n = 1): boolean {
    this.total += n;
    this.unreported += n;
    const now = Date.now();
    if (this.lastAt !== undefined && now - this.lastAt < this.intervalMs && now >= this.lastAt) return false;
    this.lastAt = now;
    const since = this.unreported;
    this.unreported = 0;
    try {
      this.logger?.warn(this.text(since, this.total));
    } catch {
      // a logger's failure is not ours
    }
    return true;
  }

  get count(): number {
    return this.total;
  }
}
