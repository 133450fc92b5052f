/**
 * The exchange's symbol lists a spot / cross-margin discovery reads (which pairs two changed assets
 * form): spot `GET /api/v3/exchangeInfo` (EXCHANGE_INFO_QUERY), cross margin
 * `GET /sapi/v1/margin/allPairs`. Read at most once per SYMBOL_LIST_REFRESH_MS per REST host and
 * list, never per gap, and shared by every stream on the host. The cache holds ONLY data (symbol,
 * base, quote): never a logger, a stream or a node (a shared cache holding a logger kept closed nodes
 * alive before: exchange/weight-budget.ts sharedWeightBudget).
 */
import { EXCHANGE_INFO_QUERY, REST, SYMBOL_LIST_REFRESH_MS } from '../exchange/facts';
import type { RestParams } from '../exchange/weight-budget';
import { rows, str } from './rest-rows';
import { isObj } from '../util';

/** [symbol, base asset, quote asset]. */
export type Pair = readonly [string, string, string];

export type SymbolListKind = 'spot' | 'margin';

interface Cached {
  at: number;
  pairs: Pair[];
}

/** host + list → the pairs read and when (data only, see the file comment). */
const cache = new Map<string, Cached>();
/**
 * OUR CHOICE: a list at least this old is read again before SYMBOL_LIST_REFRESH_MS when a changed
 * asset forms no pair in it with another changed asset (a pair listed since the list was read, or a
 * deposit / withdrawal / interest: at most one extra read an hour).
 */
export const SYMBOL_LIST_EARLY_REFRESH_MS = 60 * 60_000;

/**
 * OUR CHOICE: a list at least this old is read again when a changed asset is in none of its pairs (an
 * asset listed since: its first pairs are new too). Assets that never trade (savings, earn) can do
 * this: at most four reads an hour.
 */
export const SYMBOL_LIST_NEW_ASSET_REFRESH_MS = 15 * 60_000;

/** Most hosts a process keeps lists for (oldest dropped first). */
const MAX_CACHED = 32;

/** How a list is read: a GET through the recovery's weight budget, with the request's security. */
export type PublicGet = <T>(path: string, params: RestParams, security: 'none' | 'apiKey') => Promise<T>;

/** Drops every cached list (tests). */
export function clearSymbolListCache(): void {
  cache.clear();
}

/**
 * The pairs of a list: from the cache when read less than SYMBOL_LIST_REFRESH_MS ago, else read
 * (and cached under `host`; no host: not cached beyond `local`). Rejects when the read fails.
 */
export async function symbolPairs(
  kind: SymbolListKind,
  host: string | undefined,
  get: PublicGet,
  now: number,
  local: Map<string, Cached>,
  maxAgeMs: number = SYMBOL_LIST_REFRESH_MS,
): Promise<Pair[]> {
  const key = `${host ?? ''}\u0000${kind}`;
  const store = host ? cache : local;
  const hit = store.get(key);
  if (hit && now - hit.at < maxAgeMs && now >= hit.at) return hit.pairs;
  const pairs = kind === 'spot' ? await readSpot(get) : await readMargin(get);
  store.delete(key);
  store.set(key, { at: now, pairs });
  while (store === cache && cache.size > MAX_CACHED) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
  return pairs;
}

async function readSpot(get: PublicGet): Promise<Pair[]> {
  const info = await get<unknown>(REST.spot.exchangeInfo.path, { ...EXCHANGE_INFO_QUERY }, 'none');
  if (!isObj(info)) throw new Error('exchangeInfo: not an object');
  const out: Pair[] = [];
  for (const r of rows(info.symbols)) {
    const s = str(r.symbol);
    const b = str(r.baseAsset);
    const q = str(r.quoteAsset);
    if (s && b && q) out.push([s, b, q]);
  }
  return out;
}

async function readMargin(get: PublicGet): Promise<Pair[]> {
  const list = await get<unknown>(REST.margin.allPairs.path, {}, 'apiKey');
  if (!Array.isArray(list)) throw new Error('margin allPairs: not a list');
  const out: Pair[] = [];
  for (const r of rows(list)) {
    const s = str(r.symbol);
    const b = str(r.base);
    const q = str(r.quote);
    if (s && b && q) out.push([s, b, q]);
  }
  return out;
}
