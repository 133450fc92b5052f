/**
 * The balances a spot / cross-margin recovery compares across a gap (a fill moves both assets of its
 * pair, issue 23): per asset the BALANCE_COMPARE_FIELDS values last known, and the exchange time of
 * the last change a live `outboundAccountPosition` showed. Taken whole from a recovery's account
 * call (applied when its batch is committed), changed asset by asset by live balance events,
 * persisted with the recovery state (bounded by the number of assets). Used by GapRecovery.
 *
 * Without a baseline from an account call (a first start, a state from before this field) nothing
 * can be compared: that recovery discovers nothing by balances, and its account call becomes the
 * baseline.
 */
import type { UserDataEvent } from '../types';
import { decEq, int, rows, str, type Row } from './rest-rows';

/** asset → the compared fields' values, in the order of `fields`. */
export type BalanceValues = Map<string, string[]>;

/** Persisted form: `v` asset → values (in the order of the fields), `c` asset → last live change (exchange ms). */
export interface PersistedBalances {
  v: Record<string, string[]>;
  c?: Record<string, number>;
}

/** Most assets kept (an account holds a few hundred at most). */
export const MAX_BASELINE_ASSETS = 5_000;

/** The live event's short keys of the compared fields (the others are not in live events). */
const LIVE_KEYS: Readonly<Record<string, string>> = { free: 'f', locked: 'l' };

export class BalanceBaseline {
  private values: BalanceValues = new Map();
  private complete = false;
  private readonly changedAt = new Map<string, number>();
  private rev = 0;
  /** The assets the last account call (or the saved baseline) held. */
  private held = new Set<string>();

  constructor(private readonly fields: readonly string[]) {}

  /** True when the last account call (or the saved baseline) held `asset` (else it is new to the account since). */
  heldBefore(asset: string): boolean {
    return this.held.has(asset);
  }

  get revision(): number {
    return this.rev;
  }

  /** True when the baseline came from an account call (it can be compared). */
  get known(): boolean {
    return this.complete;
  }

  /** The compared values of an account response (spot `balances`, cross margin `userAssets`). */
  valuesOf(account: Row): BalanceValues {
    const out: BalanceValues = new Map();
    const list = Array.isArray(account.balances) ? rows(account.balances) : rows(account.userAssets);
    for (const b of list) {
      const a = str(b.asset);
      if (!a) continue;
      const vals = this.fields.map((f) => (typeof b[f] === 'string' || typeof b[f] === 'number' ? String(b[f]) : '0'));
      // an asset missing counts as zero: all-zero rows (cross margin lists every asset) are not kept
      if (vals.every((v) => decEq(v, '0'))) continue;
      out.set(a, vals);
      if (out.size >= MAX_BASELINE_ASSETS) break;
    }
    return out;
  }

  /** A live balance event (outboundAccountPosition, delivered): its assets' compared fields. */
  live(e: UserDataEvent): void {
    if (e.recovered || e.eventType !== 'outboundAccountPosition') return;
    const E = int(e.raw.E);
    for (const b of rows(e.raw.B)) {
      const a = str(b.a);
      if (!a) continue;
      const old = this.values.get(a);
      const next = this.fields.map((f, i) => {
        const k = LIVE_KEYS[f];
        const v = k !== undefined ? b[k] : undefined;
        return typeof v === 'string' || typeof v === 'number' ? String(v) : (old?.[i] ?? '0');
      });
      if (old && next.every((v, i) => decEq(v, old[i]))) continue;
      if (!old && this.values.size >= MAX_BASELINE_ASSETS) continue;
      this.values.set(a, next);
      if (E !== undefined && (this.changedAt.get(a) ?? -1) < E) this.changedAt.set(a, E);
      this.rev++;
    }
  }

  /**
   * The assets that changed across a gap: compared fields that differ from the baseline (an asset
   * missing on one side counts as zero there), and assets a live event changed at or after `since`.
   * Undefined without a baseline (nothing to compare).
   */
  changed(after: BalanceValues, since: number): Set<string> | undefined {
    if (!this.complete) return undefined;
    const out = new Set<string>();
    const zero = this.fields.map(() => '0');
    for (const a of new Set([...this.values.keys(), ...after.keys()])) {
      const x = this.values.get(a) ?? zero;
      const y = after.get(a) ?? zero;
      if (!x.every((v, i) => decEq(v, y[i]))) out.add(a);
    }
    for (const [a, t] of this.changedAt) if (t >= since) out.add(a);
    return out;
  }

  /** The baseline becomes an account call's values (its batch was delivered). */
  replace(values: BalanceValues): void {
    this.values = new Map(values);
    this.held = new Set(values.keys());
    this.complete = true;
    this.rev++;
  }

  /** Live changes older than `before` are forgotten (they cannot be at or after a later gap's start). */
  prune(before: number): void {
    for (const [a, t] of this.changedAt) if (t < before) this.changedAt.delete(a);
  }

  persisted(): PersistedBalances | undefined {
    if (!this.complete) return undefined;
    const v: Record<string, string[]> = {};
    for (const [a, vals] of this.values) v[a] = vals;
    const out: PersistedBalances = { v };
    if (this.changedAt.size) out.c = Object.fromEntries(this.changedAt);
    return out;
  }

  restore(p: PersistedBalances | undefined): void {
    if (!p) return;
    const values: BalanceValues = new Map();
    for (const [a, vals] of Object.entries(p.v)) {
      if (Array.isArray(vals) && vals.length === this.fields.length && vals.every((x) => typeof x === 'string')) values.set(a, vals);
      if (values.size >= MAX_BASELINE_ASSETS) break;
    }
    this.values = values;
    this.held = new Set(values.keys());
    this.complete = true;
    for (const [a, t] of Object.entries(p.c ?? {})) {
      if (typeof t === 'number' && Number.isFinite(t) && (this.changedAt.get(a) ?? -1) < t) this.changedAt.set(a, t);
    }
    this.rev++;
  }
}
