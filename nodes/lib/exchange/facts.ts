/**
 * THE table of exchange facts: hosts, REST paths, request weights, weight limits and pools, and the
 * error codes the core acts on, per venue. A Binance change is one edit here. Every other module
 * imports what it needs from this file (test/core/facts.test.ts fails when a REST path or weight
 * literal appears anywhere else under nodes/).
 *
 * Sources, re-checked 2026-12 (each entry names the one it follows):
 *  - [REF] /work/shared/binance-user-data-reference.md (researched exchange reference), §1–§6.
 *  - [CJS] Binance's own connector binance/binance-connector-js, commit a9de9a9 (2026-07-24):
 *    common/src/constants.ts (hosts), clients/derivatives-trading-portfolio-margin 17.0.0
 *    (src/rest-api/modules/*.ts: paths and "Weight" of each PM endpoint, user-data event types).
 *  - [CMUM] "Important CM-UM Integration Notice", COIN-M futures docs,
 *    https://developers.binance.com/en/docs/products/derivatives-trading-coin-futures/Important-CM-UM-Integration-Notice
 *    (progressive from 2026-06-24, effective 2026-06-30): §A.3 USDⓈ-M and COIN-M share one IP
 *    weight limit and one X-MBX-USED-WEIGHT-1M counter; §C.5 COIN-M conditional orders move to
 *    `POST/DELETE /dapi/v1/algoOrder`, `GET /dapi/v1/openAlgoOrders`. We could not open the page
 *    itself; these sections are as quoted by third-party code that cites them (checked 2026-10-10).
 *  - [PM] Portfolio Margin user-data page,
 *    https://developers.binance.com/docs/derivatives/portfolio-margin/user-data-streams (reference §5):
 *    `POST/PUT/DELETE https://papi.binance.com/papi/v1/listenKey`, 60 min validity, -1125 when gone,
 *    stream `wss://fstream.binance.com/pm/ws/<listenKey>`; [CJS] constants agree
 *    (`https://papi.binance.com`, `wss://fstream.binance.com/pm`).
 *
 *  - [SPOT-GIT] binance/binance-spot-api-docs, commit a5e0bc3 (2026-07-21): rest-api.md, errors.md.
 *  - [DCL] Binance's derivatives change log, https://developers.binance.com/docs/derivatives/change-log
 *    (stored copy, newest entry 2026-10-23, read 2026-12-07).
 *
 * Entries marked UNVERIFIED are inferred or from third-party code only.
 */
import type { Environment, Market } from '../types';

// ---------------------------------------------------------------------------------------- hosts

export type FixedEnvironment = Exclude<Environment, 'custom'>;
export type EndpointFamily = 'spot' | 'margin' | 'usdm' | 'coinm-dapi' | 'coinm-fapi' | 'pm';

export interface HostPair {
  restUrl: string;
  wsUrl: string;
  /** REST host of the account's trades / orders / balances when it is not restUrl (COIN-M unified). */
  recoveryRestUrl?: string;
  /** REST host of the server time when restUrl has none (portfolio margin: papi has no time endpoint). */
  timeRestUrl?: string;
}

/**
 * Hosts per venue and environment. For `spot`/`margin`, wsUrl is the WebSocket API URL (user data
 * arrives there); for futures and portfolio margin it is the stream base the stream path is
 * appended to (endpoints.ts futuresStreamUrl).
 *
 * Futures testnet vs demo (checked 2026-12 because of a report that `demo-fapi` replaces the testnet
 * REST host): [CJS] ships both, as separate environments: USDⓈ-M TESTNET
 * https://testnet.binancefuture.com and DEMO https://demo-fapi.binance.com; COIN-M TESTNET
 * https://testnet.binancefuture.com and no COIN-M demo constant. No Binance page or change-log entry
 * we could find announces the testnet host's retirement, so `testnet` stays testnet.binancefuture.com.
 *
 * Portfolio margin has production only: [CJS] has no PM testnet or demo constant, and third-party
 * clients report papi answers 404 on the futures testnet (UNVERIFIED); resolveEndpoints refuses
 * testnet/demo for it with a clear error.
 */
export const HOSTS: Record<EndpointFamily, Partial<Record<FixedEnvironment, HostPair>>> = {
  spot: {
    production: { restUrl: 'https://api.binance.com', wsUrl: 'wss://ws-api.binance.com:443/ws-api/v3' },
    testnet: { restUrl: 'https://testnet.binance.vision', wsUrl: 'wss://ws-api.testnet.binance.vision/ws-api/v3' },
    demo: { restUrl: 'https://demo-api.binance.com', wsUrl: 'wss://demo-ws-api.binance.com/ws-api/v3' },
  },
  // Margin: listenToken from SAPI, stream on the spot WebSocket API ([REF] §3). Production WS URL
  // verified 2026-12-02: the listenToken page says the subscribe "method must be called on the
  // WebSocket API" and links the spot WebSocket API (margin_trading/trade-data-stream), and the spot
  // docs' own user-data-stream.md (binance-spot-api-docs a5e0bc3, 2026-07-21, "Event Stream
  // Terminated") lists "A listen token subscription expires" among that API's events.
  // Margin (cross and isolated) has production only, so resolveEndpoints refuses testnet and demo
  // with a clear error, as for portfolio margin (a listenToken request there failed in a loop):
  // the spot testnet's general-info page maps only `/api` REST, no `/sapi`; ccxt 4.5.84 (npm
  // 2026-09-25) has no `sapi` in its demo URL table; no source shows `userListenToken` on either host
  // (audit 2026-12-07 §2 "Margin on testnet/demo", G8).
  margin: {
    production: { restUrl: 'https://api.binance.com', wsUrl: 'wss://ws-api.binance.com:443/ws-api/v3' },
  },
  // USDⓈ-M. UNVERIFIED: the /private path on the testnet and demo stream hosts ([REF] §4.2, §8.7).
  usdm: {
    production: { restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://fstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-fapi.binance.com', wsUrl: 'wss://demo-fstream.binance.com' },
  },
  // COIN-M, /dapi family (default): stream `/ws/<key>` on dstream. Testnet hosts from [CJS].
  // Production re-checked 2026-12-02: Binance's CAAS "User Data Streams" page (new docs site,
  // https://developers.binance.com/zh-CN/docs/products/caas/user-data-streams, undated, stored copy
  // of about Oct 2026) still says "COIN-M Futures | POST /dapi/v1/listenKey", and its market-streams
  // page says only USDⓈ-M fstream is split into /public /market /private ("Spot and COIN-M do" not).
  // UNVERIFIED: the demo-dapi / demo-dstream hosts (no source).
  'coinm-dapi': {
    production: { restUrl: 'https://dapi.binance.com', wsUrl: 'wss://dstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://dstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-dapi.binance.com', wsUrl: 'wss://demo-dstream.binance.com' },
  },
  // COIN-M unified (coinmApi 'fapi', [REF] §4.6): listenKey and stream on the USDⓈ-M hosts, COIN-M
  // REST data (trades, orders, account) on the dapi host. UNVERIFIED on testnet/demo.
  'coinm-fapi': {
    production: { restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com', recoveryRestUrl: 'https://dapi.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://fstream.binancefuture.com', recoveryRestUrl: 'https://testnet.binancefuture.com' },
    demo: { restUrl: 'https://demo-fapi.binance.com', wsUrl: 'wss://demo-fstream.binance.com', recoveryRestUrl: 'https://demo-dapi.binance.com' },
  },
  // Portfolio margin [PM], [CJS]. papi documents no server-time endpoint (only /papi/v1/ping), so the
  // clock is read from fapi's (same exchange clock; UNVERIFIED that they never differ).
  pm: {
    production: { restUrl: 'https://papi.binance.com', wsUrl: 'wss://fstream.binance.com', timeRestUrl: 'https://fapi.binance.com' },
  },
};

// ------------------------------------------------------------------------- stream connections

/**
 * Server ping interval of the WebSocket API (spot, margin): "The server will send a ping frame
 * every 20 seconds" (binance-spot-api-docs web-socket-api.md §General, a5e0bc3 2026-07-21; [REF] §1.5).
 */
export const WS_API_PING_INTERVAL_MS = 20_000;
/**
 * Server ping interval of the futures streams (fstream, dstream, `/pm`): "The websocket server will
 * send a ping frame every 3 minutes ... pong within 10 minutes" (developers.binance.com
 * derivatives/usds-margined-futures/websocket-market-streams, and the COIN-M page, read 2026-07;
 * [REF] §4.2). A listenKey stream that sent nothing at all, not even one of these pings, for longer
 * than this (plus the watchdog margin) is silent: the URL form is likely not served (issue 22).
 */
export const FUTURES_PING_INTERVAL_MS = 180_000;

// ---------------------------------------------------------------------------------------- REST

/** Weight of a request: a number, or `base` unless a listed parameter is present (first match). */
export interface WeightRule {
  base: number;
  with?: ReadonlyArray<readonly [param: string, weight: number]>;
}

export interface RestEndpoint {
  path: string;
  weight: WeightRule;
}

const w = (base: number, ...withParams: Array<readonly [string, number]>): WeightRule => (withParams.length ? { base, with: withParams } : { base });
const ep = (path: string, weight: WeightRule): RestEndpoint => ({ path, weight });

/**
 * Every REST endpoint the core calls, per venue, with its request weight (IP weight).
 * Spot, margin, USDⓈ-M, COIN-M: [REF] §6 (weights as re-checked there). COIN-M algo orders: [CMUM]
 * §C.5; weights 1 with a symbol / 40 without (openAlgoOrders) and 1 (algoOrder), as for USDⓈ-M
 * (UNVERIFIED for COIN-M: the notice lists the paths; weights from third-party code, Binance.Net).
 * Portfolio margin: [CJS] clients/derivatives-trading-portfolio-margin 17.0.0, "Weight" of each.
 */
export const REST = {
  spot: {
    time: ep('/api/v3/time', w(1)),
    trades: ep('/api/v3/myTrades', w(20, ['orderId', 5])),
    openOrders: ep('/api/v3/openOrders', w(80, ['symbol', 6])),
    order: ep('/api/v3/order', w(4)),
    account: ep('/api/v3/account', w(20)),
    // Discovery after a gap (issue 23), [SPOT-GIT] rest-api.md a5e0bc3 (2026-07-21): allOrders 20
    // (window: SPOT_ALL_ORDERS_MAX_SPAN_MS), exchangeInfo 20 (symbol list: EXCHANGE_INFO_QUERY).
    allOrders: ep('/api/v3/allOrders', w(20)),
    exchangeInfo: ep('/api/v3/exchangeInfo', w(20)),
  },
  margin: {
    listenToken: ep('/sapi/v1/userListenToken', w(1)),
    trades: ep('/sapi/v1/margin/myTrades', w(10)),
    openOrders: ep('/sapi/v1/margin/openOrders', w(10)),
    order: ep('/sapi/v1/margin/order', w(10)),
    account: ep('/sapi/v1/margin/account', w(10)),
    isolatedAccount: ep('/sapi/v1/margin/isolated/account', w(10)),
    /** The key's own permissions (Test connection's warning); spot/margin REST base. */
    apiRestrictions: ep('/sapi/v1/account/apiRestrictions', w(1)),
    // Discovery (issue 23), [CJS] clients/margin-trading (a9de9a9, 2026-07-24), each "Weight(IP)":
    // allOrders 200 (window MARGIN_ALL_ORDERS_MAX_SPAN_MS); allPairs 1 (MARKET_DATA: API key, no
    // signature; rows id, symbol, base, quote, isMarginTrade, isBuyAllowed, isSellAllowed, delistTime);
    // isolated/allPairs 10.
    allOrders: ep('/sapi/v1/margin/allOrders', w(200)),
    allPairs: ep('/sapi/v1/margin/allPairs', w(1)),
    isolatedAllPairs: ep('/sapi/v1/margin/isolated/allPairs', w(10)),
  },
  usdm: {
    time: ep('/fapi/v1/time', w(1)),
    listenKey: ep('/fapi/v1/listenKey', w(1)),
    trades: ep('/fapi/v1/userTrades', w(5)),
    openOrders: ep('/fapi/v1/openOrders', w(40, ['symbol', 1])),
    openAlgoOrders: ep('/fapi/v1/openAlgoOrders', w(40, ['symbol', 1])),
    algoOrder: ep('/fapi/v1/algoOrder', w(1)),
    order: ep('/fapi/v1/order', w(1)),
    account: ep('/fapi/v3/account', w(5)),
    // Discovery (issue 23). income 30: [CJS] usds-futures 37.0.0 account-api.ts getIncomeHistory and
    // Binance's page .../usds-margined-futures/account/rest-api/Get-Income-History (stored copy, undated;
    // an older Binance-Link page says 100 for another product). positionRisk v3 5: [CJS] ("only symbol
    // that has position or open orders will be returned"). allOrders 5: [CJS] / the All-Orders page; its
    // `symbol` is optional since 2026-08-25 ([DCL] "All other behavior unchanged"): no other weight is
    // documented without it (UNVERIFIED; docs/protocol-notes.md "Discovery after a gap").
    income: ep('/fapi/v1/income', w(30)),
    positionRisk: ep('/fapi/v3/positionRisk', w(5)),
    allOrders: ep('/fapi/v1/allOrders', w(5)),
  },
  coinm: {
    time: ep('/dapi/v1/time', w(1)),
    listenKey: ep('/dapi/v1/listenKey', w(1)),
    // 5 flat since the CM migration (effective 2026-06-30; before: 20 with symbol, 40 with pair):
    // Binance's connector-js coin-futures 19.0.0, src/rest-api/modules/trade-api.ts (release commit
    // c30140d, 2026-07-22; audit 2026-12-07 §1 / G5). The PM cmTrades row below keeps 20 / 40 (PM 19.0.0).
    trades: ep('/dapi/v1/userTrades', w(5)),
    openOrders: ep('/dapi/v1/openOrders', w(40, ['symbol', 1])),
    openAlgoOrders: ep('/dapi/v1/openAlgoOrders', w(40, ['symbol', 1])),
    algoOrder: ep('/dapi/v1/algoOrder', w(1)),
    order: ep('/dapi/v1/order', w(1)),
    account: ep('/dapi/v1/account', w(5)),
    // Discovery (issue 23), [CJS] coin-futures (a9de9a9): income 20; positionRisk 1 (parameters
    // `marginAsset` / `pair`, no `symbol`; without them "positions of all symbols with TRADING status",
    // zero ones included); allOrders "20 with symbol, 40 with pair (after CM migration: 5 flat)".
    income: ep('/dapi/v1/income', w(20)),
    positionRisk: ep('/dapi/v1/positionRisk', w(1)),
    allOrders: ep('/dapi/v1/allOrders', w(5)),
  },
  pm: {
    listenKey: ep('/papi/v1/listenKey', w(1)),
    umTrades: ep('/papi/v1/um/userTrades', w(5)),
    cmTrades: ep('/papi/v1/cm/userTrades', w(20, ['pair', 40])),
    marginTrades: ep('/papi/v1/margin/myTrades', w(5)),
    umOpenOrders: ep('/papi/v1/um/openOrders', w(40, ['symbol', 1])),
    cmOpenOrders: ep('/papi/v1/cm/openOrders', w(40, ['symbol', 1])),
    // [CJS]: "Weight(IP): 5"; without a symbol "the request count charged to the rate limiter equals
    // the number of symbols currently trading": we count that as 1500 (UNVERIFIED estimate of the
    // margin pairs), so recovery asks per symbol whenever it knows the symbols.
    marginOpenOrders: ep('/papi/v1/margin/openOrders', w(1500, ['symbol', 5])),
    umOrder: ep('/papi/v1/um/order', w(1)),
    cmOrder: ep('/papi/v1/cm/order', w(1)),
    marginOrder: ep('/papi/v1/margin/order', w(10)),
    umOpenAlgoOrders: ep('/papi/v1/um/algo/openAlgoOrders', w(40, ['symbol', 1])),
    umAlgoOrder: ep('/papi/v1/um/algo/algoOrder', w(1)),
    balance: ep('/papi/v1/balance', w(20)),
    umAccount: ep('/papi/v1/um/account', w(5)),
    cmAccount: ep('/papi/v1/cm/account', w(5)),
    // Discovery (issue 23), [CJS] PM 17.0.0, each "Weight(IP)"; the same figures on Binance's PM pages
    // (Get-UM-Income-History, Get-CM-Income-History, Query-UM/CM-Position-Information,
    // Query-All-UM-Orders; stored copies, undated).
    umIncome: ep('/papi/v1/um/income', w(30)),
    cmIncome: ep('/papi/v1/cm/income', w(30)),
    umPositionRisk: ep('/papi/v1/um/positionRisk', w(5)),
    cmPositionRisk: ep('/papi/v1/cm/positionRisk', w(1)),
    umAllOrders: ep('/papi/v1/um/allOrders', w(5)),
    cmAllOrders: ep('/papi/v1/cm/allOrders', w(20, ['pair', 40])),
    marginAllOrders: ep('/papi/v1/margin/allOrders', w(100)),
  },
} as const;

/** Weight charged for a path this table does not know (deliberately pessimistic). */
export const UNKNOWN_PATH_WEIGHT = 20;

const byPath = new Map<string, RestEndpoint>();
for (const venue of Object.values(REST)) for (const e of Object.values(venue) as RestEndpoint[]) byPath.set(e.path, e);

/** Request weight of `path` with `params` (unknown paths: `fallback`). */
export function weightOf(path: string, params: Record<string, unknown> = {}, fallback = UNKNOWN_PATH_WEIGHT): number {
  const e = byPath.get(path);
  if (!e) return fallback;
  for (const [param, weight] of e.weight.with ?? []) {
    const v = params[param];
    if (v !== undefined && v !== '') return weight;
  }
  return e.weight.base;
}

/** Weight of one request of `endpoint` (with or without the given parameters). */
export function endpointWeight(endpoint: RestEndpoint, params: Record<string, unknown> = {}): number {
  return weightOf(endpoint.path, params, endpoint.weight.base);
}

// ---------------------------------------------------------------------------------------- weight pools

/**
 * Exchange weight pools: the limit is per IP and pool, per minute ([REF] §6).
 *  - api: spot 6000; sapi: margin (IP weight), budgeted as 6000 like api (SAPI's own IP limit is
 *    higher, 12 000 per endpoint: we stay conservative).
 *  - futures: USDⓈ-M AND COIN-M, ONE shared limit of 2400 since the integration ([CMUM] §A.3; the
 *    2400 figure is the USDⓈ-M REQUEST_WEIGHT limit, [REF] §6, and what Binance's VIP endpoint
 *    "Query Futures IP Rate Limits" shows as the default for both UM and CM).
 *  - papi: portfolio margin, 6000 (PM general info as quoted by third-party clients; UNVERIFIED).
 */
export type WeightPool = 'api' | 'sapi' | 'futures' | 'papi';

export const WEIGHT_LIMITS_PER_MINUTE: Readonly<Record<WeightPool, number>> = {
  api: 6000,
  sapi: 6000,
  futures: 2400,
  papi: 6000,
};

export function weightPoolOf(market: Market): WeightPool {
  switch (market) {
    case 'spot':
      return 'api';
    case 'margin':
    case 'isolated-margin':
      return 'sapi';
    case 'usdm-futures':
    case 'coinm-futures':
      return 'futures';
    case 'portfolio-margin':
      return 'papi';
  }
}

// ---------------------------------------------------------------------------------------- request security

/**
 * How `POST /sapi/v1/userListenToken` (margin listenToken) is authenticated. THE one setting for a
 * point where the sources disagree (README "Exchange protocol choices", docs/protocol-notes.md):
 *  - Binance's page titles it "Create Margin Account listenToken (USER_STREAM)" and lists only
 *    `symbol`, `isIsolated`, `validity` (no `timestamp`/`signature`);
 *    https://developers.binance.com/docs/margin_trading/trade-data-stream/Listen-Token-Websocket-API,
 *    stored copy read 2026-12-02. USER_STREAM endpoints need the API key only; third-party code reads
 *    it so (nautilus_trader's BinanceListenTokenHttp: BinanceSecurityType.USER_STREAM).
 *  - our reference (/work/shared/binance-user-data-reference.md §3, 2026-11-25) says "signed"; a
 *    third-party endpoint audit of 2026-09-27 notes that "the current official page omits an explicit
 *    authentication/signature specification", and Binance's connector (binance-connector-js a9de9a9,
 *    2026-07-24) has no listenToken call to settle it.
 * 'signed' (default) sends the key header AND timestamp + signature: accepted by a server that wants a
 * signature, and by a USER_STREAM server that ignores parameters it does not read (the simulator models
 * that reading: key required, a signature checked when sent). 'apiKey' sends the header only.
 * This is the form tried FIRST. A USER_STREAM server may also refuse the parameters it does not list
 * with -1104 "Not all sent parameters were read" (or -1101 / -1106) (binance-spot-api-docs errors.md, a5e0bc3 2026-07-21);
 * a server that wants a signature answers a key-only request with -1102 (mandatory `timestamp` /
 * `signature`). On that answer the client asks once more in the other form and keeps the form that was
 * accepted for the account (transport-margin.ts `fetchListenToken`; the package test's doc-written
 * exchange and the simulator's `userStreamUnreadParams: 'refuse'` model the -1104 reading).
 */
export const LISTEN_TOKEN_SECURITY: 'signed' | 'apiKey' = 'signed';

// ---------------------------------------------------------------------------------------- timing

/** A listenKey is valid this long after POST / PUT (futures [REF] §4.1, portfolio margin [PM]). */
export const LISTEN_KEY_VALIDITY_MS = 60 * 60_000;
/**
 * A margin listenToken is valid at most this long ("validity ... default 24 hours, maximum 24
 * hours", POST /sapi/v1/userListenToken, margin_trading/trade-data-stream, read 2026-12-02).
 */
export const LISTEN_TOKEN_MAX_VALIDITY_MS = 24 * 60 * 60_000;

// ---------------------------------------------------------------------------------------- error codes

/** Exchange error codes the core acts on ([REF] §7; Binance error-code pages of each venue). */
export const ERROR_CODES = {
  /** Unauthorized / API key format invalid / key, IP or permissions rejected / bad signature. */
  UNAUTHORIZED: -1002,
  BAD_API_KEY_FORMAT: -2014,
  REJECTED_API_KEY: -2015,
  BAD_SIGNATURE: -1022,
  /** Too many requests (weight) / too many orders. */
  TOO_MANY_REQUESTS: -1003,
  TOO_MANY_ORDERS: -1015,
  /** Timestamp outside recvWindow. */
  TIMESTAMP: -1021,
  /** Too many parameters sent for this endpoint. */
  TOO_MANY_PARAMETERS: -1101,
  /** A mandatory parameter was not sent (e.g. `timestamp` / `signature` of a signed request). */
  MANDATORY_PARAMETER: -1102,
  /** "Not all sent parameters were read": the endpoint does not take a parameter that was sent. */
  UNREAD_PARAMETERS: -1104,
  /** A parameter was sent when not required. */
  PARAMETER_NOT_REQUIRED: -1106,
  /** Invalid symbol. */
  BAD_SYMBOL: -1121,
  /** "Order does not exist." (spot errors.md -2013 NO_SUCH_ORDER; futures the same code). */
  NO_SUCH_ORDER: -2013,
  /** listenKey does not exist (futures, portfolio margin). */
  LISTEN_KEY_GONE: -1125,
  /** listenToken invalid / expired (margin). */
  LISTEN_TOKEN_GONE: -1209,
} as const;

/** Codes that mean "the key is wrong or lacks permissions" (never hammer these). */
export const AUTH_ERROR_CODES: ReadonlySet<number> = new Set([
  ERROR_CODES.BAD_API_KEY_FORMAT,
  ERROR_CODES.REJECTED_API_KEY,
  ERROR_CODES.BAD_SIGNATURE,
  ERROR_CODES.UNAUTHORIZED,
]);

/** Codes that mean "rate limited" (besides HTTP 429). */
export const RATE_LIMIT_ERROR_CODES: ReadonlySet<number> = new Set([ERROR_CODES.TOO_MANY_REQUESTS, ERROR_CODES.TOO_MANY_ORDERS]);

/**
 * Codes that mean "a parameter was sent that this endpoint does not read or want" (-1101 too many,
 * -1104 not all read, -1106 not required; errors.md): on the margin listenToken request, the
 * server wants the key-only form (LISTEN_TOKEN_SECURITY).
 */
export const UNWANTED_PARAMETER_CODES: ReadonlySet<number> = new Set([
  ERROR_CODES.TOO_MANY_PARAMETERS,
  ERROR_CODES.UNREAD_PARAMETERS,
  ERROR_CODES.PARAMETER_NOT_REQUIRED,
]);

/** Short reasons for exchange error codes and HTTP statuses (catalog keys under `binance-account.status.`). */
export const ERROR_CODE_REASONS: Readonly<Record<string, string>> = {
  [ERROR_CODES.REJECTED_API_KEY]: 'invalid-api-key',
  [ERROR_CODES.BAD_API_KEY_FORMAT]: 'bad-api-key-format',
  [ERROR_CODES.BAD_SIGNATURE]: 'bad-signature',
  [ERROR_CODES.TIMESTAMP]: 'clock-skew',
  [ERROR_CODES.TOO_MANY_REQUESTS]: 'rate-limited',
  [ERROR_CODES.TOO_MANY_ORDERS]: 'rate-limited',
  '429': 'rate-limited',
  '418': 'ip-banned',
  '451': 'restricted-location',
  '401': 'invalid-api-key',
  [ERROR_CODES.LISTEN_KEY_GONE]: 'key-expired',
  [ERROR_CODES.LISTEN_TOKEN_GONE]: 'key-expired',
};

// ---------------------------------------------------------------------------------------- recovery

const DAY_MS = 24 * 60 * 60 * 1000;

/** The REST endpoints a gap recovery of one market reads ([REF] §6). */
export interface RecoveryRest {
  trades: RestEndpoint;
  openOrders: RestEndpoint;
  openAlgoOrders?: RestEndpoint;
  algoOrder?: RestEndpoint;
  order: RestEndpoint;
  account: RestEndpoint;
  /** Longest startTime..endTime span the trade query accepts (spot/margin 24 h, futures 7 days). */
  tradeWindowMs: number;
}

/** Markets whose recovery reads one trade history (portfolio margin reads three: PM_RECOVERY_BOOKS). */
export type RecoverableMarket = Exclude<Market, 'portfolio-margin'>;

export const RECOVERY_REST: Readonly<Record<RecoverableMarket, RecoveryRest>> = {
  spot: { ...pick(REST.spot), tradeWindowMs: DAY_MS - 1 },
  margin: { ...pick(REST.margin), tradeWindowMs: DAY_MS - 1 },
  'isolated-margin': { ...pick(REST.margin), account: REST.margin.isolatedAccount, tradeWindowMs: DAY_MS - 1 },
  'usdm-futures': { ...pick(REST.usdm), openAlgoOrders: REST.usdm.openAlgoOrders, algoOrder: REST.usdm.algoOrder, tradeWindowMs: 7 * DAY_MS - 1 },
  // COIN-M algo orders since the integration ([CMUM] §C.5).
  'coinm-futures': { ...pick(REST.coinm), openAlgoOrders: REST.coinm.openAlgoOrders, algoOrder: REST.coinm.algoOrder, tradeWindowMs: 7 * DAY_MS - 1 },
};

function pick(v: { trades: RestEndpoint; openOrders: RestEndpoint; order: RestEndpoint; account: RestEndpoint }): Omit<RecoveryRest, 'tradeWindowMs'> {
  return { trades: v.trades, openOrders: v.openOrders, order: v.order, account: v.account };
}

/** The signed request that returns a market's balances (snapshot, key check). */
export const ACCOUNT_REST: Readonly<Record<Market, RestEndpoint>> = {
  spot: REST.spot.account,
  margin: REST.margin.account,
  'isolated-margin': REST.margin.isolatedAccount,
  'usdm-futures': REST.usdm.account,
  'coinm-futures': REST.coinm.account,
  'portfolio-margin': REST.pm.balance,
};

/**
 * Portfolio margin keeps three trade histories (books) on papi ([CJS] PM 17.0.0): UM futures, CM
 * futures and cross margin. Each is recovered like the market whose rows it returns (`rowMarket`).
 * Account snapshots and UM algo orders are not part of a PM recovery (the account-position node
 * reloads its snapshot from /papi/v1/balance after a gap).
 */
export interface RecoveryBook {
  id: 'UM' | 'CM' | 'MARGIN';
  rowMarket: RecoverableMarket;
  rest: RecoveryRest;
}

export const PM_RECOVERY_BOOKS: readonly RecoveryBook[] = [
  {
    id: 'UM',
    rowMarket: 'usdm-futures',
    rest: { trades: REST.pm.umTrades, openOrders: REST.pm.umOpenOrders, order: REST.pm.umOrder, account: REST.pm.umAccount, tradeWindowMs: 7 * DAY_MS - 1 },
  },
  {
    id: 'CM',
    rowMarket: 'coinm-futures',
    rest: { trades: REST.pm.cmTrades, openOrders: REST.pm.cmOpenOrders, order: REST.pm.cmOrder, account: REST.pm.cmAccount, tradeWindowMs: 7 * DAY_MS - 1 },
  },
  {
    id: 'MARGIN',
    rowMarket: 'margin',
    // [CJS] marginAccountTradeList: "The interval between startTime and endTime must be less than 24 hours".
    rest: { trades: REST.pm.marginTrades, openOrders: REST.pm.marginOpenOrders, order: REST.pm.marginOrder, account: REST.pm.balance, tradeWindowMs: DAY_MS - 1 },
  },
];

// ---------------------------------------------------------------------------------------- discovery after a gap (issue 23)

/**
 * What a recovery reads to find the symbols a gap traded and the orders it opened and closed
 * (docs/protocol-notes.md "Discovery after a gap (issue 23)" has the sources and where they disagree).
 * Spans are inclusive `startTime..endTime` in ms; a `maxSpanMs` is the longest span the endpoint
 * accepts (already the conservative value where sources differ).
 */
export interface ListRules {
  endpoint: RestEndpoint;
  defaultLimit: number;
  maxLimit: number;
  /** Longest startTime..endTime span accepted; undefined: no maximum documented. */
  maxSpanMs?: number;
  /** What the endpoint returns when neither startTime nor endTime is sent (undefined: not documented). */
  defaultSpanMs?: number;
  /** How far back the endpoint has data (undefined: not documented). */
  retentionMs?: number;
}

/** Spot / cross margin "longer than 24 hours" / "less than 24 hours": one ms under a day fits both. */
const DAY_SPAN_MS = DAY_MS - 1;
/** Futures "must be less then 7 days" (All Orders, [CJS] / Binance's pages). */
const WEEK_SPAN_MS = 7 * DAY_MS - 1;
/**
 * "Income history only contains data for the last three months" (USDⓈ-M and PM UM income pages,
 * [CJS]); three calendar months are at least 89 days (the conservative reading).
 */
export const INCOME_RETENTION_MS = 89 * DAY_MS;
/**
 * COIN-M and PM CM income: "The interval between startTime and endTime can not exceed 200 days" and
 * "If startTime and endTime are not sent, the last 200 days will be returned" (Binance's pages
 * .../coin-margined-futures/account/Get-Income-History and PM Get-CM-Income-History, stored copies,
 * undated; [CJS] PM cmIncome the same). [CJS] coin-futures says "can not be longer than 1 year"
 * (wording of the download-id endpoint): sources disagree, 200 days is the conservative value.
 */
export const COINM_INCOME_MAX_SPAN_MS = 200 * DAY_MS;

/**
 * Income history (futures, PM UM / CM). Rows: `symbol` ("" when none), `incomeType`, `income`
 * (signed decimal string), `asset`, `info`, `time`, `tranId`, `tradeId` ("" when none; the fill's trade
 * id for COMMISSION and REALIZED_PNL), [CJS] GetIncomeHistoryResponseInner. Limit "Default 100; max
 * 1000". Rows come oldest first; with `startTime` the first `limit` rows from it ("response will be
 * return as startTime + limit", older USDⓈ-M page). `page` is NOT accepted any more: USDⓈ-M / COIN-M
 * since 2026-10-16 (npm `binance` 3.6.8 release notes, "Binance stopped accepting page ... Paginate
 * with startTime / endTime"), PM UM / CM since 2026-10-28 ([DCL] 2026-10-21). Page by moving
 * `startTime` to the last row's `time` and dropping rows already seen (key `incomeType` + `tranId`:
 * "trandId is unique in the same incomeType for a user").
 * Whether a fill with a zero commission leaves a COMMISSION row is not documented (UNVERIFIED): a
 * discovery must not rely on it (the simulator leaves it out by default).
 */
export const INCOME_HISTORY = {
  usdm: { endpoint: REST.usdm.income, defaultLimit: 100, maxLimit: 1000, defaultSpanMs: 7 * DAY_MS, retentionMs: INCOME_RETENTION_MS },
  coinm: { endpoint: REST.coinm.income, defaultLimit: 100, maxLimit: 1000, maxSpanMs: COINM_INCOME_MAX_SPAN_MS, defaultSpanMs: COINM_INCOME_MAX_SPAN_MS },
  pmUm: { endpoint: REST.pm.umIncome, defaultLimit: 100, maxLimit: 1000, defaultSpanMs: 7 * DAY_MS, retentionMs: INCOME_RETENTION_MS },
  pmCm: { endpoint: REST.pm.cmIncome, defaultLimit: 100, maxLimit: 1000, maxSpanMs: COINM_INCOME_MAX_SPAN_MS, defaultSpanMs: COINM_INCOME_MAX_SPAN_MS },
} as const satisfies Record<string, ListRules>;

/** The income types a fill writes: its commission and, when it reduces a position, its realised PnL. */
export const FILL_INCOME_TYPES = ['COMMISSION', 'REALIZED_PNL'] as const;

/**
 * Order history by time. Orders an allOrders call never returns (so a discovery cannot find them):
 *  - futures (USDⓈ-M, COIN-M, PM UM / CM): CANCELED or EXPIRED with no fill, created more than 3 days
 *    ago; any order created more than 90 days ago (All Orders pages, [CJS]);
 *  - spot: CANCELED / EXPIRED with no fill, last updated more than 90 days ago ("archived",
 *    errors.md -2026, [SPOT-GIT]); margin: not documented.
 * Rows are the same shape as the single-order query of the market. With `startTime` the first
 * `limit` orders from it, oldest first; without it "most recent orders are returned".
 */
export interface AllOrdersRules extends ListRules {
  /** `symbol` is required; 'symbolOrPair': one of them (COIN-M); false: optional (USDⓈ-M since 2026-08-25). */
  symbol: true | false | 'symbolOrPair';
  /** A CANCELED / EXPIRED order without fills drops out of the history this long after creation. */
  unfilledFinalHiddenAfterMs?: number;
}

export const ALL_ORDERS: Readonly<Record<RecoverableMarket | 'pmUm' | 'pmCm' | 'pmMargin', AllOrdersRules>> = {
  // [SPOT-GIT] rest-api.md: "can't be longer than 24 hours"; limit "Default: 500; Maximum: 1000".
  spot: { endpoint: REST.spot.allOrders, symbol: true, defaultLimit: 500, maxLimit: 1000, maxSpanMs: DAY_SPAN_MS, unfilledFinalHiddenAfterMs: 90 * DAY_MS },
  // [CJS] margin-trading: "Less than 24 hours between startTime and endTime"; without orderId "the
  // orders within 24 hours are returned". Maximum limit not in [CJS]: 500 (the lower figure Binance uses).
  margin: { endpoint: REST.margin.allOrders, symbol: true, defaultLimit: 500, maxLimit: 500, maxSpanMs: DAY_SPAN_MS, defaultSpanMs: DAY_MS },
  'isolated-margin': { endpoint: REST.margin.allOrders, symbol: true, defaultLimit: 500, maxLimit: 500, maxSpanMs: DAY_SPAN_MS, defaultSpanMs: DAY_MS },
  'usdm-futures': { endpoint: REST.usdm.allOrders, symbol: false, defaultLimit: 500, maxLimit: 1000, maxSpanMs: WEEK_SPAN_MS, defaultSpanMs: 7 * DAY_MS, retentionMs: 90 * DAY_MS, unfilledFinalHiddenAfterMs: 3 * DAY_MS },
  'coinm-futures': { endpoint: REST.coinm.allOrders, symbol: 'symbolOrPair', defaultLimit: 500, maxLimit: 1000, maxSpanMs: WEEK_SPAN_MS, defaultSpanMs: 7 * DAY_MS, retentionMs: 90 * DAY_MS, unfilledFinalHiddenAfterMs: 3 * DAY_MS },
  pmUm: { endpoint: REST.pm.umAllOrders, symbol: true, defaultLimit: 500, maxLimit: 1000, maxSpanMs: WEEK_SPAN_MS, defaultSpanMs: 7 * DAY_MS, unfilledFinalHiddenAfterMs: 3 * DAY_MS },
  // PM CM: no span documented ([CJS]); the COIN-M one (7 days) is assumed.
  pmCm: { endpoint: REST.pm.cmAllOrders, symbol: 'symbolOrPair', defaultLimit: 500, maxLimit: 1000, maxSpanMs: WEEK_SPAN_MS, unfilledFinalHiddenAfterMs: 3 * DAY_MS },
  // PM margin: no span or limit documented ([CJS]); the cross-margin ones are assumed.
  pmMargin: { endpoint: REST.pm.marginAllOrders, symbol: true, defaultLimit: 500, maxLimit: 500, maxSpanMs: DAY_SPAN_MS },
};

/**
 * Position lists whose rows name the contracts held. Each row has `symbol`, `positionSide`,
 * `positionAmt` and `updateTime` (ms of the position's last change; 0 for a never-touched row).
 *  - USDⓈ-M v3: only symbols with a position or open orders; PM UM: not said (its page's example
 *    shows zero rows, so closed positions may be listed);
 *  - COIN-M and PM CM: without `marginAsset` / `pair`, every TRADING symbol, zero ones included
 *    (so filter on `updateTime` ≥ the gap's start, not on a non-zero amount).
 */
export const POSITION_RISK = {
  usdm: REST.usdm.positionRisk,
  coinm: REST.coinm.positionRisk,
  pmUm: REST.pm.umPositionRisk,
  pmCm: REST.pm.cmPositionRisk,
} as const;

/**
 * The exchange's symbol list for spot and margin discovery: `GET /api/v3/exchangeInfo` (weight 20
 * whatever the parameters) with `showPermissionSets=false` for a smaller answer ([SPOT-GIT] CHANGELOG
 * 2024-10-17). Every status is read (no `symbolStatus`): a symbol halted after trading in the gap
 * still counts. Row fields used: `symbol`, `status`, `baseAsset`, `quoteAsset`. Cross margin's own
 * list, `GET /sapi/v1/margin/allPairs` (weight 1, API key only), has `symbol`, `base`, `quote`.
 */
export const EXCHANGE_INFO_QUERY: Readonly<Record<string, string>> = { showPermissionSets: 'false' };
/** OUR CHOICE (not an exchange fact): how long a read symbol list is used before it is read again. */
export const SYMBOL_LIST_REFRESH_MS = DAY_MS;

/**
 * The balance fields compared before / after a gap (a fill moves both assets of its pair):
 *  - spot `GET /api/v3/account`: `balances[].{asset, free, locked}`, top-level `updateTime`;
 *  - cross margin `GET /sapi/v1/margin/account`: `userAssets[].{asset, free, locked, borrowed,
 *    interest, netAsset}`, no update time ([CJS] QueryCrossMarginAccountDetailsResponse). `interest`
 *    moves every hour on a loan without any trade: compare `free`, `locked` and `borrowed` only (an
 *    auto-borrow buy can leave the quote's `free` unchanged and move `borrowed`);
 *  - isolated margin `GET /sapi/v1/margin/isolated/account`: `assets[].{baseAsset, quoteAsset}` with
 *    the same fields, per symbol;
 *  - portfolio margin `GET /papi/v1/balance`: `crossMarginFree`, `crossMarginLocked`,
 *    `crossMarginBorrowed` per asset.
 */
export const BALANCE_COMPARE_FIELDS = {
  spot: ['free', 'locked'],
  margin: ['free', 'locked', 'borrowed'],
  pm: ['crossMarginFree', 'crossMarginLocked', 'crossMarginBorrowed'],
} as const;

// ---------------------------------------------------------------------------------------- futures family of an event

/**
 * Which futures family (USDⓈ-M or COIN-M) a user-data event belongs to, for streams whose listenKey
 * carries both: the unified COIN-M form (coinmApi 'fapi') puts the account's COIN-M events on its
 * one /fapi listenKey next to its USDⓈ-M events ([REF] §4.6: after the CM migration "fstream and
 * dstream carry both universes", [CJS] coin-futures, 2026-07-22), so a USDⓈ-M and a COIN-M account
 * node on one key would each deliver every fill. A USDⓈ-M stream and a COIN-M stream in the
 * unified form drop the events of the other family (transport-futures.ts; COIN-M on dstream, whose
 * /dapi key the COIN-M page documents as COIN-M's alone, and portfolio margin are not filtered).
 * Sources leave open which field Binance sets on the unified stream,
 * so this is OUR RULE (chosen 2026-12-07, issue 22; docs/protocol-notes.md), first match wins:
 *  1. top-level `fs` "UM" / "CM" ("Event business unit", the portfolio-margin events: [CJS] PM
 *     OrderTradeUpdate.fs / AccountUpdate.fs 17.0.0 2026-07-24; PM 19.0.0 AccountConfigUpdate.fs,
 *     audit 2026-12 §3);
 *  2. top-level `st` 1 (UM) / 2 (CM): "streams gain `st` (1=UM, 2=CM)" after the CM migration
 *     ([REF] §4.6 from [CJS] coin-futures, 2026-07; where it sits is not shown: only a top-level
 *     `st` is read, never `o.st` / `su.st`, which are strategy types);
 *  3. the event's contract symbol (`o.s`, `s`, `ac.s`, `a.S`, `a.P[].s`, `p[].s`, `su.s`, `gu.s`,
 *     `or.s`): COIN-M contracts are inverse, `<base>USD_PERP` or `<base>USD_<yymmdd>`; USDⓈ-M
 *     ones end in the quote asset (`BTCUSDT`, `ETHUSDC`) or `<base>USDT_<yymmdd>` (exchangeInfo
 *     examples "BTCUSD_PERP", "BTCUSD_200925" vs "BTCUSDT", "BTCUSDT_200925" on the COIN-M and
 *     USDⓈ-M market-data pages, undated; no symbol of one family has the other's form);
 *  4. an ACCOUNT_UPDATE naming no symbol (a deposit, a transfer, a cross funding fee without `a.S`)
 *     with a top-level `i` (account alias): COIN-M; the COIN-M page documents `i` and the USDⓈ-M
 *     one does not ([REF] §4.4, derivatives/coin-margined-futures user-data pages, undated stored
 *     copies read 2026-11-25; on TRADE_LITE `i` is an order id, so only here, and only after the
 *     symbol, which decides whenever there is one);
 *  5. an ACCOUNT_UPDATE naming no symbol and without `i`: USDⓈ-M, by 4;
 *  6. anything else (listenKeyExpired, ACCOUNT_CONFIG_UPDATE `ai`, an unknown type): undefined,
 *     the event names no family and every stream on the key delivers it.
 */
export type FuturesFamily = 'usdm' | 'coinm';

/** A COIN-M contract symbol (rule 3 above). */
export const COINM_SYMBOL_PATTERN = /USD_(PERP|\d{6})$/;

export function futuresFamilyOfSymbol(symbol: string): FuturesFamily {
  return COINM_SYMBOL_PATTERN.test(symbol.toUpperCase()) ? 'coinm' : 'usdm';
}

export function futuresFamilyOfEvent(ev: Readonly<Record<string, unknown>>): FuturesFamily | undefined {
  if (ev.fs === 'UM') return 'usdm';
  if (ev.fs === 'CM') return 'coinm';
  const st = ev.st;
  if (st === 1 || st === '1') return 'usdm';
  if (st === 2 || st === '2') return 'coinm';
  const symbol = eventSymbol(ev);
  if (symbol !== undefined) return futuresFamilyOfSymbol(symbol);
  if (ev.e !== 'ACCOUNT_UPDATE') return undefined;
  return typeof ev.i === 'string' && ev.i !== '' ? 'coinm' : 'usdm';
}

const rec = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const sym = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const firstSym = (v: unknown): string | undefined => (Array.isArray(v) ? v.map((x) => sym(rec(x)?.s)).find((s) => s !== undefined) : undefined);

/** The first contract symbol an event names (rule 3). */
function eventSymbol(ev: Readonly<Record<string, unknown>>): string | undefined {
  const a = rec(ev.a);
  return (
    sym(rec(ev.o)?.s) ??
    sym(ev.s) ??
    sym(rec(ev.ac)?.s) ??
    sym(a?.S) ??
    firstSym(a?.P) ??
    firstSym(ev.p) ??
    sym(rec(ev.su)?.s) ??
    sym(rec(ev.gu)?.s) ??
    sym(rec(ev.or)?.s)
  );
}
