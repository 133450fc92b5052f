/**
 * Filters used by the Node-RED adapters. Pure functions, no Node-RED import.
 *
 * Lists are given as a string ("BTCUSDT, ETH*  ?NBUSDT") or as an array of strings.
 * Matching is case-insensitive. `*` matches any run of characters (also none), `?`
 * exactly one character. An empty list means "everything".
 */

import type { ReliableStream } from './reliable-stream';
import type { StreamManager } from './stream-manager';
import type { Market, UserDataEvent } from './types';
import type { ConsumptionTracker } from './unconsumed';

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

// ---------------------------------------------------------------------------
// Contract between the `binance-account` config node and the nodes that use it
// (kept here, next to the filters, so the adapters share one definition without
// importing Node-RED types).


/** The parts of a Node-RED node the account node needs from a consumer. */
export interface AccountUser {
  id: string;
  status(status: { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string }): void;
}

export interface RegisterOptions {
  /** Add the time of the last event to the green "connected" status. */
  showLastEvent?: boolean;
}

/** What a `binance-account` node offers to its consumers (MQTT broker style). */
export interface AccountHandle {
  readonly isBinanceAccount: true;
  readonly market: Market;
  /** Isolated-margin symbol. */
  readonly symbol: string | undefined;
  /** The account node's name, or its id when it has none. Never a key. */
  readonly accountLabel: string;
  /** Base URL of the account's balance request when it is not the stream's REST host (COIN-M unified). */
  readonly accountRestBase?: string;
  /** The configuration problem, when the account cannot connect at all (already redacted). */
  readonly configError: string | undefined;
  /** The shared stream manager (created on first use); undefined when the configuration is invalid. */
  getManager(): StreamManager | undefined;
  /**
   * The account's reliable stream over that manager: live events de-duplicated, gaps recovered
   * over REST (recovered events carry `recovered: true`). What consumer nodes listen to.
   */
  getStream(): ReliableStream | undefined;
  /** Adds a consumer: starts the stream if needed and keeps the consumer's status current. */
  register(user: AccountUser, opts?: RegisterOptions): void;
  /**
   * Removes a consumer. `removed` = the node was deleted/disabled: the consumer is released at once
   * (the last one stops the stream). Otherwise (restart on redeploy) it is released only if it does
   * not come back when the flows have started.
   */
  deregister(user: AccountUser, done: () => void, removed: boolean): void;
  /** Removes this account's secrets from a text. */
  redact(text: string): string;
  /**
   * A consumer tells that its configuration takes this event (its type; symbol or asset filters do
   * not matter). Events no consumer takes are counted in `unconsumed` (lib/unconsumed.ts).
   */
  accepted?(e: UserDataEvent): void;
  /** Events of this account that no consumer took, per type; reports `unconsumed`. */
  readonly unconsumed?: ConsumptionTracker;
}

export function isAccountHandle(v: unknown): v is AccountHandle {
  return v !== null && typeof v === 'object' && (v as { isBinanceAccount?: unknown }).isBinanceAccount === true;
}
