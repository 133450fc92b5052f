/**
 * An exact set of non-negative integer ids kept as sorted, disjoint, inclusive ranges: consecutive
 * ids cost one range, so a long run of delivered trade ids stays small (ledger.ts), and nothing is
 * ever forgotten to stay small. Insertions at the top (ids mostly grow) are O(1); others are a
 * binary search and one splice.
 */

/** Persisted form: a single id, or [from, to] inclusive. */
export type PersistedRanges = Array<number | [number, number]>;

export class IdRanges {
  /** starts[i]..ends[i], inclusive; starts ascending; ranges neither overlap nor touch. */
  private starts: number[] = [];
  private ends: number[] = [];
  private count = 0;

  /** Number of ids in the set. */
  get size(): number {
    return this.count;
  }

  /** Number of ranges (what memory and the persisted form grow with). */
  get rangeCount(): number {
    return this.starts.length;
  }

  /** Index of the last range starting at or below `id`, or -1. */
  private find(id: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= id) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return at;
  }

  has(id: number): boolean {
    const n = this.starts.length;
    if (n === 0) return false;
    // the usual question is about the newest ids
    if (id > this.ends[n - 1]) return false;
    const i = this.find(id);
    return i >= 0 && id <= this.ends[i];
  }

  /** Adds `id`; returns false when it was there already. */
  add(id: number): boolean {
    const s = this.starts;
    const e = this.ends;
    const n = s.length;
    if (n === 0 || id > e[n - 1] + 1) {
      s.push(id);
      e.push(id);
    } else if (id === e[n - 1] + 1) {
      e[n - 1] = id;
    } else {
      const i = this.find(id);
      if (i >= 0 && id <= e[i]) return false;
      const joinsLeft = i >= 0 && e[i] + 1 === id;
      const joinsRight = i + 1 < n && s[i + 1] - 1 === id;
      if (joinsLeft && joinsRight) {
        e[i] = e[i + 1];
        s.splice(i + 1, 1);
        e.splice(i + 1, 1);
      } else if (joinsLeft) {
        e[i] = id;
      } else if (joinsRight) {
        s[i + 1] = id;
      } else {
        s.splice(i + 1, 0, id);
        e.splice(i + 1, 0, id);
      }
    }
    this.count++;
    return true;
  }

  /** Removes every id at or below `id`. */
  deleteUpTo(id: number): void {
    const s = this.starts;
    const e = this.ends;
    if (s.length === 0 || s[0] > id) return;
    let drop = 0;
    while (drop < s.length && e[drop] <= id) {
      this.count -= e[drop] - s[drop] + 1;
      drop++;
    }
    if (drop > 0) {
      s.splice(0, drop);
      e.splice(0, drop);
    }
    if (s.length > 0 && s[0] <= id) {
      this.count -= id - s[0] + 1;
      s[0] = id + 1;
    }
  }

  /** The lowest id, or undefined when empty. */
  min(): number | undefined {
    return this.starts.length ? this.starts[0] : undefined;
  }

  /** The highest id, or undefined when empty. */
  max(): number | undefined {
    return this.ends.length ? this.ends[this.ends.length - 1] : undefined;
  }

  /** Adds every id of this set above `above` to `into`. */
  copyAbove(into: IdRanges, above: number): void {
    for (let i = 0; i < this.starts.length; i++) {
      if (this.ends[i] <= above) continue;
      into.addRange(Math.max(this.starts[i], above + 1), this.ends[i]);
    }
  }

  /** The ranges, lowest first, in the persisted form. */
  toPersisted(): PersistedRanges {
    return this.starts.map((s, i) => (s === this.ends[i] ? s : [s, this.ends[i]]));
  }

  /** Adds persisted ranges (invalid entries are skipped). Ranges wider than `maxSpan` are skipped too. */
  addPersisted(p: unknown, maxSpan = Number.MAX_SAFE_INTEGER): void {
    if (!Array.isArray(p)) return;
    for (const r of p) {
      if (typeof r === 'number') {
        if (validId(r)) this.add(r);
      } else if (Array.isArray(r) && r.length === 2 && validId(r[0]) && validId(r[1]) && r[0] <= r[1] && r[1] - r[0] <= maxSpan) {
        this.addRange(r[0], r[1]);
      }
    }
  }

  /** Adds from..to inclusive. */
  addRange(from: number, to: number): void {
    // ranges come sorted from the persisted form: the common case appends
    const n = this.starts.length;
    if (n === 0 || from > this.ends[n - 1] + 1) {
      this.starts.push(from);
      this.ends.push(to);
      this.count += to - from + 1;
      return;
    }
    // otherwise merge by rebuilding around the overlap
    const s: number[] = [];
    const e: number[] = [];
    let placed = false;
    let lo = from;
    let hi = to;
    for (let i = 0; i < n; i++) {
      const a = this.starts[i];
      const b = this.ends[i];
      if (b + 1 < lo) {
        s.push(a);
        e.push(b);
      } else if (a - 1 > hi) {
        if (!placed) {
          s.push(lo);
          e.push(hi);
          placed = true;
        }
        s.push(a);
        e.push(b);
      } else {
        lo = Math.min(lo, a);
        hi = Math.max(hi, b);
      }
    }
    if (!placed) {
      s.push(lo);
      e.push(hi);
    }
    this.starts = s;
    this.ends = e;
    this.count = s.reduce((sum, a, i) => sum + e[i] - a + 1, 0);
  }

  /** Every id, lowest first (for small sets: tests, diagnostics). */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.starts.length; i++) for (let id = this.starts[i]; id <= this.ends[i]; id++) yield id;
  }
}

function validId(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
