/**
 * What a recovery reads to find what a gap traded beyond the symbols it knows (issue 23;
 * docs/recovery.md "Discovery after a gap"):
 *  - futures books (USDⓈ-M, COIN-M, portfolio margin UM / CM): the income history since the gap's
 *    start (only FILL_INCOME_TYPES rows name the account's own fills), paged by moving `startTime`
 *    (no `page`), within the endpoint's span and history, and the position list's rows changed since
 *    the gap's start (a fill without commission leaves no income row);
 *  - every book: the order history by creation time (allOrders), to find orders created during the
 *    gap and final by now.
 * Spot and cross margin compare balances instead (balance-baseline.ts, symbol-lists.ts). Every call
 * goes through the recovery's `get` (its weight budget); a failed call rejects (the caller marks the
 * recovery incomplete: nothing may be lost because discovery failed).
 */
import type { Logger } from '../types';
import {
  ALL_ORDERS,
  FILL_INCOME_TYPES,
  INCOME_HISTORY,
  POSITION_RISK,
  type AllOrdersRules,
  type ListRules,
  type RestEndpoint,
} from '../exchange/facts';
import type { RestParams } from '../exchange/weight-budget';
import type { Book } from './books';
import { int, rows, str, type Row } from './rest-rows';

export interface DiscoveryHost {
  get<T>(path: string, params: RestParams): Promise<T>;
  now(): number;
  logger?: Logger;
}

/** Safety bound of pages per list and recovery (a list longer than this is read on at the next recovery). */
export const MAX_DISCOVERY_PAGES = 1_000;

const FILL_TYPES: ReadonlySet<string> = new Set(FILL_INCOME_TYPES);

/** The income history and position list of a futures book; undefined for a spot / margin book. */
export function futuresSources(book: Book, pm: boolean): { income: ListRules; positions: RestEndpoint } | undefined {
  if (book.rowMarket === 'usdm-futures') return pm ? { income: INCOME_HISTORY.pmUm, positions: POSITION_RISK.pmUm } : { income: INCOME_HISTORY.usdm, positions: POSITION_RISK.usdm };
  if (book.rowMarket === 'coinm-futures') return pm ? { income: INCOME_HISTORY.pmCm, positions: POSITION_RISK.pmCm } : { income: INCOME_HISTORY.coinm, positions: POSITION_RISK.coinm };
  return undefined;
}

/** The order history rules of a book. */
export function allOrdersRules(book: Book, pm: boolean): AllOrdersRules {
  if (pm) return book.id === 'UM' ? ALL_ORDERS.pmUm : book.id === 'CM' ? ALL_ORDERS.pmCm : ALL_ORDERS.pmMargin;
  return ALL_ORDERS[book.rowMarket];
}

/**
 * Reads a list by time from `from` to `to` (inclusive): windows of the endpoint's longest span,
 * each paged by moving `startTime` to the last row's time (rows oldest first), rows already read
 * (by `keyOf`) dropped. `each` receives every row once.
 */
async function readByTime(
  host: DiscoveryHost,
  path: string,
  rules: ListRules,
  base: RestParams,
  from: number,
  to: number,
  keyOf: (r: Row) => string | undefined,
  each: (r: Row) => void,
): Promise<void> {
  const seen = new Set<string>();
  // whole milliseconds (the exchange refuses a fraction: -1130); a time from the clock offset has one
  let ws = Math.floor(from);
  to = Math.ceil(to);
  let pages = 0;
  while (ws <= to) {
    const we = rules.maxSpanMs !== undefined ? Math.min(to, ws + rules.maxSpanMs) : to;
    let s = ws;
    for (;;) {
      if (++pages > MAX_DISCOVERY_PAGES) throw new Error(`${path}: more than ${MAX_DISCOVERY_PAGES} pages`);
      const page = rows(await host.get<unknown>(path, { ...base, startTime: s, endTime: we, limit: rules.maxLimit }));
      let fresh = 0;
      let last = s;
      for (const r of page) {
        const t = int(r.time);
        if (t !== undefined && t > last) last = t;
        const k = keyOf(r);
        if (k !== undefined) {
          if (seen.has(k)) continue;
          seen.add(k);
        }
        fresh++;
        each(r);
      }
      if (page.length < rules.maxLimit) break;
      if (fresh === 0) {
        // a full page of one millisecond read before: on after it (more than a page of rows in one
        // millisecond is not expected; said, not silent)
        host.logger?.warn(`recovery: ${path}: a full page at one time (${last}); read on after it`);
        s = last + 1;
      } else {
        s = last;
      }
      if (s > we) break;
    }
    ws = we + 1;
  }
}

/**
 * The symbols (the exchange's names) of a futures book's income rows of a fill type from `from` to
 * `to` (its commissions and realised PnL). Rejects when a call fails.
 */
export async function incomeSymbols(host: DiscoveryHost, income: ListRules, from: number, to: number): Promise<Set<string>> {
  const out = new Set<string>();
  const oldest = income.retentionMs !== undefined ? host.now() - income.retentionMs + 60_000 : from;
  await readByTime(
    host,
    income.endpoint.path,
    income,
    {},
    Math.max(from, oldest),
    to,
    (row) => {
      const type = str(row.incomeType);
      const id = row.tranId;
      return type && (typeof id === 'number' || typeof id === 'string') ? `${type}\u0000${String(id)}` : undefined;
    },
    (row) => {
      const s = str(row.symbol);
      const type = str(row.incomeType);
      const t = int(row.time);
      if (s && type && FILL_TYPES.has(type) && (t === undefined || t >= from)) out.add(s);
    },
  );
  return out;
}

/** The symbols of a futures book's position list whose row changed at or after `from` (a fill without commission). Rejects when the call fails. */
export async function positionSymbols(host: DiscoveryHost, positions: RestEndpoint, from: number): Promise<Set<string>> {
  const out = new Set<string>();
  for (const p of rows(await host.get<unknown>(positions.path, {}))) {
    const s = str(p.symbol);
    const t = int(p.updateTime);
    if (s && t !== undefined && t >= from) out.add(s);
  }
  return out;
}

/**
 * The orders of a book created from `from` to `to` (allOrders), for one symbol or (USDⓈ-M) all of
 * them at once (`symbol` undefined). Rejects when a call fails.
 */
export async function ordersCreated(
  host: DiscoveryHost,
  rules: AllOrdersRules,
  symbol: string | undefined,
  extra: RestParams,
  from: number,
  to: number,
): Promise<Row[]> {
  const out: Row[] = [];
  const oldest = rules.retentionMs !== undefined ? host.now() - rules.retentionMs + 60_000 : from;
  await readByTime(
    host,
    rules.endpoint.path,
    rules,
    { ...extra, ...(symbol !== undefined ? { symbol } : {}) },
    Math.max(from, oldest),
    to,
    (r) => {
      const id = int(r.orderId);
      const s = str(r.symbol);
      return id !== undefined ? `${s ?? ''}\u0000${id}` : undefined;
    },
    (r) => out.push(r),
  );
  return out;
}
