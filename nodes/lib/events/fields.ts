/**
 * Field readers of the normalisers: a raw exchange value to a string decimal, number, text, flag,
 * object or list (undefined when absent or of the wrong kind), and `clean()` (no undefined keys).
 */
import type { Market } from '../types';

export type Payload = Record<string, unknown>;
export type Raw = Record<string, unknown>;

export function dec(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Like text() but "" becomes undefined. */
export function textNonEmpty(v: unknown): string | undefined {
  const t = text(v);
  return t === '' ? undefined : t;
}

export function bool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

export function obj(v: unknown): Raw | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;
}

export function arr(v: unknown): Raw[] {
  return Array.isArray(v) ? v.filter((x): x is Raw => x !== null && typeof x === 'object') : [];
}

/**
 * A copy of `o` without the keys whose value is undefined (same key order). Copies into a
 * fresh object instead of deleting from `o`: `delete` on a large literal turns it into a
 * slow dictionary-mode object, which every consumer of the payload then pays for.
 */
export function clean<T extends Payload>(o: T): T {
  const out: Payload = {};
  for (const k in o) {
    const v = o[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

/**
 * The algo order of an `ALGO_UPDATE`: `o` on USDⓈ-M and COIN-M, `ao` on portfolio margin, where the
 * event also carries a top-level `fs` (Binance's PM connector types `AlgoOrderUpdate.ao` /
 * `algo-order-update-ao.ts`, binance-connector-js since v14.0.5, 2026-07-13, npm 19.0.0 2026-09-21;
 * PM python connector CHANGELOG 12.0.1, 2026-08-11: "Modified response field `ao`"). Audit
 * 2026-12-07 G1. `ao` is read first; `o` stays accepted on every venue.
 */
export function algoOrderOf(raw: Raw): Raw | undefined {
  return obj(raw.ao) ?? obj(raw.o);
}

export function isFutures(market: Market | string): boolean {
  return market === 'usdm-futures' || market === 'coinm-futures';
}
