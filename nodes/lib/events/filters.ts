/**
 * Filters of the event consumers (symbols, sides, execution types, assets, event types). Pure
 * functions, no Node-RED import.
 *
 * Lists are given as a string ("BTCUSDT, ETH*  ?NBUSDT") or as an array of strings.
 * Matching is case-insensitive. `*` matches any run of characters (also none), `?`
 * exactly one character. An empty list means "everything".
 */


/** Splits a comma/space/semicolon separated list (or an array) into trimmed, upper-case items. */
export function parseList(value: unknown): string[] {
  const parts: string[] = [];
  const add = (s: string): void => {
    for (const p of s.split(/[\s,;]+/)) {
      const t = p.trim();
      if (t) parts.push(t.toUpperCase());
    }
  };
  if (typeof value === 'string') add(value);
  else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') add(v);
  return [...new Set(parts)];
}

/** Converts one wildcard pattern (`*`, `?`) into an anchored, case-insensitive RegExp. */
export function wildcardToRegExp(pattern: string): RegExp {
  let src = '';
  for (const ch of pattern) {
    if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${src}$`, 'i');
}

export type Matcher = (value: string | undefined | null) => boolean;

/** A predicate matching a value against a list of wildcard patterns; an empty list matches everything. */
export function makeMatcher(list: unknown): Matcher {
  const items = parseList(list);
  if (items.length === 0) return () => true;
  const exact = new Set(items.filter((i) => !/[*?]/.test(i)));
  const patterns = items.filter((i) => /[*?]/.test(i)).map(wildcardToRegExp);
  return (value) => {
    if (value === undefined || value === null) return false;
    const v = String(value).toUpperCase();
    if (exact.has(v)) return true;
    return patterns.some((re) => re.test(v));
  };
}

/** Special value of the `executionTypes` property: only fills (execution type TRADE). */
export const FILLS_ONLY = 'fills';

/** Execution types a "fills only" filter lets through. */
export const FILL_EXECUTION_TYPES: readonly string[] = ['TRADE'];

export interface OrderFilterOptions {
  /** Symbols with wildcards; empty = all. */
  symbols?: unknown;
  /** 'BUY', 'SELL', 'BUY,SELL' or empty = both. */
  sides?: unknown;
  /** Execution types (NEW, TRADE, CANCELED, ...), `fills` for fills only; empty = all. */
  executionTypes?: unknown;
  /** Order statuses (NEW, PARTIALLY_FILLED, FILLED, ...); empty = all. */
  orderStatuses?: unknown;
}

export interface OrderFilterSubject {
  symbol?: string;
  side?: string;
  executionType?: string;
  orderStatus?: string;
}

export interface OrderFilter {
  /** Symbol + side check (applies to every event type that carries them). */
  symbolAndSide(p: OrderFilterSubject): boolean;
  /** Execution type + status check (applies to order updates only). */
  execution(p: OrderFilterSubject): boolean;
}

export function makeOrderFilter(opts: OrderFilterOptions): OrderFilter {
  const symbol = makeMatcher(opts.symbols);
  const sides = parseList(opts.sides).filter((s) => s !== 'ALL' && s !== 'BOTH');
  const side = makeMatcher(sides);
  const execList = parseList(opts.executionTypes).flatMap((e) =>
    e === FILLS_ONLY.toUpperCase() ? [...FILL_EXECUTION_TYPES] : e === 'ALL' ? [] : [e],
  );
  const exec = makeMatcher(execList);
  const status = makeMatcher(parseList(opts.orderStatuses).filter((s) => s !== 'ALL'));
  const hasSymbols = parseList(opts.symbols).length > 0;
  return {
    symbolAndSide(p) {
      if (hasSymbols && !symbol(p.symbol)) return false;
      if (sides.length > 0 && p.side !== undefined && !side(p.side)) return false;
      return true;
    },
    execution(p) {
      return exec(p.executionType) && status(p.orderStatus);
    },
  };
}
