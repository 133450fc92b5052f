/**
 * The simulator's model: the public types of its control API (re-exported by index.ts), the
 * records the rooms share (accounts, keys, orders, algo orders, connections, listen keys and
 * tokens), Binance's error answers, and small helpers. No behaviour lives here.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { dec } from './decimal';
import type { SimKeyType } from './signing';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  wsApiPingIntervalMs?: number;
  wsApiPongTimeoutMs?: number;
  futuresPingIntervalMs?: number;
  futuresPongTimeoutMs?: number;
  maxConnectionLifetimeMs?: number;
  listenKeyValidityMs?: number;
  listenTokenMaxValidityMs?: number;
  recvWindowMax?: number;
  /** Delay between a `serverShutdown` event and the server closing the socket. Default 5000. */
  serverShutdownGraceMs?: number;
  /**
   * When set, a REST request that takes an API's rolling one-minute weight above this limit is
   * answered 429 (-1003) with `Retry-After` (seconds until enough weight leaves the window).
   * Default: no limit (weights are only counted and reported).
   */
  restWeightLimitPerMinute?: number;
  /**
   * What a USER_STREAM endpoint with a parameter list (`POST /sapi/v1/userListenToken`: `symbol`,
   * `isIsolated`, `validity`) does with parameters it does not list, such as a `timestamp` and
   * `signature`: `ignore` them (default; a signature sent is still verified), or `refuse` them with
   * -1104 "Not all sent parameters were read" (binance-spot-api-docs errors.md, a5e0bc3 2026-07-21).
   * Binance's pages do not say which; the client must work under both.
   */
  userStreamUnreadParams?: 'ignore' | 'refuse';
  /**
   * fstream `/private` URL forms the host accepts and then leaves silent: the upgrade succeeds, and
   * nothing is ever sent on it (no event, no listenKeyExpired, not even the server's pings; client
   * pings are still answered, as by any WebSocket stack). Default `[]` (every documented form
   * streams, as Binance's pages show them). `FSTREAM_PRODUCTION_LIKE` is the form the evidence says
   * production leaves silent: the path form `/private/ws/<listenKey>`, "decommissioned by Binance on
   * the mainnet fstream host; testnet was still accepting both forms" (UBWA CHANGELOG 2.14.0,
   * 2026-05-21; audit 2026-12-07 G2). The other forms deliver.
   */
  fstreamSilentForms?: readonly FstreamForm[];
  /**
   * Income history rows of a zero amount (a fill with a zero commission, a reduce that realises no
   * PnL): `omit` them (default; Binance's pages do not say that they are written, so a client must
   * not count on them) or `include` them.
   */
  incomeZeroAmounts?: 'omit' | 'include';
}

/**
 * The URL forms of fstream's `/private` user-data path: `ws-query` `/private/ws?listenKey=<k>&events=…`,
 * `ws-query-no-events` `/private/ws?listenKey=<k>`, `ws-path` `/private/ws/<k>`, `stream`
 * `/private/stream?streams=<k>` (Binance's connector).
 */
export type FstreamForm = 'ws-query' | 'ws-query-no-events' | 'ws-path' | 'stream';

/** A production-like fstream: the path form is silent (see SimulatorOptions.fstreamSilentForms). */
export const FSTREAM_PRODUCTION_LIKE: Readonly<Pick<SimulatorOptions, 'fstreamSilentForms'>> = { fstreamSilentForms: ['ws-path'] };

export type SimMarket = 'spot' | 'margin' | 'isolated-margin' | 'usdm-futures' | 'coinm-futures';
export type ConnKind = 'ws-api' | 'futures' | 'legacy';
export interface ConnFilter {
  accountId?: string;
  market?: ConnMarket;
  kind?: ConnKind;
}

export interface RecordedRequest {
  kind: 'rest' | 'ws-api' | 'ws-connect';
  method: string;
  path: string;
  params: Record<string, string>;
  apiKey?: string;
  at: number;
  status: number;
  errorCode?: number;
  weight?: number;
}

export interface SimOrder {
  orderId: number;
  clientOrderId: string;
  symbol: string;
  market: SimMarket;
  accountId: string;
  side: string;
  status: string;
  type: string;
  timeInForce: string;
  price: string;
  origQty: string;
  executedQty: string;
  cumQuote: string;
  stopPrice: string;
  positionSide?: string;
  reduceOnly?: boolean;
  time: number;
  updateTime: number;
}

export interface SimAlgoOrder {
  algoId: number;
  clientAlgoId: string;
  accountId: string;
  symbol: string;
  side: string;
  positionSide: string;
  orderType: string;
  timeInForce: string;
  quantity: string;
  price: string;
  triggerPrice: string;
  algoStatus: string;
  /** orderId of the order the trigger placed in the matching engine. */
  actualOrderId?: number;
  createTime: number;
  updateTime: number;
  triggerTime: number;
}

export interface SimTrade {
  tradeId: number;
  orderId: number;
  symbol: string;
  market: SimMarket;
  quantity: string;
  price: string;
  commission: string;
  commissionAsset: string;
  isMaker: boolean;
  time: number;
  accountId: string;
  side: 'BUY' | 'SELL';
  quoteQty: string;
  realizedPnl: string;
  positionSide?: string;
}

export interface CreatedKey {
  apiKey: string;
  keyType: SimKeyType;
  apiSecret?: string;
  privateKeyPem?: string;
  publicKeyPem?: string;
  passphrase?: string;
}

export interface FailRule {
  path?: string | RegExp;
  wsMethod?: string;
  count?: number;
  httpStatus: number;
  code?: number;
  msg?: string;
  retryAfterSec?: number;
}

/**
 * Something that happens on the exchange right after it answered a WS API method (in the same
 * turn: its frames follow the answer on the wire, as a fill at the instant a subscription starts).
 */
export interface AfterRule {
  wsMethod: string;
  /** Runs once, after the next successful answer to `wsMethod`. */
  run: () => void;
}

/** A slow REST answer (see `delayNext`): requests on `path` are answered `ms` later. */
export interface DelayRule {
  path: string | RegExp;
  /** Delay of the answer, ms (on the timers of the moment: fake timers drive it). */
  ms: number;
  /** How many requests are delayed. Default 1. */
  count?: number;
}

export type SpotLike = 'spot' | 'margin' | 'isolated-margin';
export type FuturesMarket = 'usdm-futures' | 'coinm-futures';
/**
 * Who a listenKey belongs to: a futures market, or a Portfolio Margin account (papi listenKey,
 * stream fstream `/pm/ws/<k>`: Portfolio Margin user-data page,
 * https://developers.binance.com/docs/derivatives/portfolio-margin/user-data-streams, reference §5).
 */
export type KeyMarket = FuturesMarket | 'portfolio-margin';
/** A market as a connection filter sees it. */
export type ConnMarket = SimMarket | 'portfolio-margin';
/** A scheduled timer with the clear function that matches the timer API it was created with. */
export interface Timer {
  clear(): void;
}
export type Json = Record<string, unknown>;

export const SPOT_DECIMALS = 8;
export const QUOTE_ASSETS = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'TUSD', 'USD', 'EUR', 'TRY', 'BTC', 'ETH', 'BNB'];

export interface Balance {
  free: bigint;
  locked: bigint;
}

export interface Position {
  symbol: string;
  positionSide: string;
  amt: bigint;
  entry: bigint;
  realized: bigint;
  /** Last change of the position (positionRisk `updateTime`). */
  updateTime: number;
}

/** One row of a futures income history (GET /fapi/v1/income, /dapi/v1/income, PM um/cm income). */
export interface IncomeRec {
  tranId: number;
  accountId: string;
  market: FuturesMarket;
  /** '' when the flow names no symbol (a transfer). */
  symbol: string;
  incomeType: string;
  income: bigint;
  asset: string;
  info: string;
  time: number;
  /** The fill's trade id (COMMISSION, REALIZED_PNL), else ''. */
  tradeId: string;
}

/** A symbol the exchange lists (spot exchangeInfo, margin allPairs, or a futures contract). */
export interface SymbolRec {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  status: string;
  /** Spot list: also a cross-margin pair (margin allPairs). */
  margin: boolean;
}

/** The symbol lists: 'spot' (spot and margin pairs), and each futures family's contracts. */
export type SymbolList = 'spot' | FuturesMarket;

export interface FuturesBook {
  wallet: Map<string, bigint>;
  positions: Map<string, Position>;
  marks: Map<string, bigint>;
}

export interface Account {
  id: string;
  uid: number;
  spot: Map<string, Balance>;
  margin: Map<string, Balance>;
  isolated: Map<string, Map<string, Balance>>;
  initialBalances: Record<string, string>;
  /** COIN-M user data also on the account's /fapi listenKey (unified, see emitFutures). */
  coinmOnFapi: boolean;
  futures: Record<FuturesMarket, FuturesBook>;
  tradeSeq: Map<SimMarket, number>;
  updatedAt: number;
}

export interface KeyRec {
  apiKey: string;
  accountId: string;
  keyType: SimKeyType;
  apiSecret?: string;
  publicKeyPem?: string;
  canTrade: boolean;
  enableMargin: boolean;
  enableFutures: boolean;
  /** The key may withdraw (apiRestrictions enableWithdrawals). Default false. */
  enableWithdrawals: boolean;
  /** When the key was created (apiRestrictions createTime). */
  createdAt: number;
  revoked: boolean;
}

export interface OrderRec {
  orderId: number;
  clientOrderId: string;
  accountId: string;
  market: SimMarket;
  symbol: string;
  side: 'BUY' | 'SELL';
  type: string;
  tif: string;
  price: bigint;
  stopPrice: bigint;
  qty: bigint;
  executed: bigint;
  cumQuote: bigint;
  lockedRemaining: bigint;
  status: string;
  positionSide: string;
  reduceOnly: boolean;
  /** Futures: the original type when it differs (an order placed by a triggered algo order). */
  origType?: string;
  time: number;
  updateTime: number;
}

export type AlgoStatus = 'NEW' | 'CANCELED' | 'TRIGGERING' | 'TRIGGERED' | 'FINISHED' | 'REJECTED' | 'EXPIRED';

/** A USDⓈ-M conditional (algo) order: lives in the Algo Service until triggered (reference §4.4, §4.5). */
export interface AlgoRec {
  algoId: number;
  clientAlgoId: string;
  accountId: string;
  /** USDⓈ-M, or COIN-M since the CM–UM integration (CM-UM Integration Notice §C.5, 2026-06-30). */
  market: FuturesMarket;
  symbol: string;
  side: 'BUY' | 'SELL';
  positionSide: string;
  type: string;
  tif: string;
  qty: bigint;
  price: bigint;
  triggerPrice: bigint;
  workingType: string;
  reduceOnly: boolean;
  closePosition: boolean;
  priceProtect: boolean;
  status: AlgoStatus;
  actualOrderId?: number;
  createTime: number;
  updateTime: number;
  triggerTime: number;
}

export interface WsSub {
  id: number;
  accountId: string;
  market: SpotLike;
  symbol?: string;
  via: 'signature' | 'listenToken' | 'logon';
  token?: string;
  expiresAt?: number;
  timer?: Timer;
}

export interface Conn {
  id: number;
  kind: ConnKind;
  ws: WebSocket;
  openedAt: number;
  stalled: boolean;
  closed: boolean;
  /** The raw socket under `ws` (its writes are dropped once the connection is stalled). */
  socket: Duplex;
  /** Client pings received (answered with a pong only while not stalled). */
  pingsReceived: number;
  pingTimer?: Timer;
  pongDeadline?: Timer;
  lifeTimer?: Timer;
  pingOutstanding: boolean;
  pingPayloads: Set<string>;
  pingSeq: number;
  pongTimeoutMs: number;
  subs: Map<number, WsSub>;
  nextSubId: number;
  returnRateLimits: boolean;
  logon?: { apiKey: string; accountId: string; since: number };
  listenKeys: string[];
  combined: boolean;
  events?: Set<string>;
  firstAccountId?: string;
  firstMarket?: ConnMarket;
}

export interface ListenKeyRec {
  listenKey: string;
  accountId: string;
  market: KeyMarket;
  expiresAt: number;
  timer?: Timer;
}

export interface ListenTokenRec {
  token: string;
  accountId: string;
  market: 'margin' | 'isolated-margin';
  symbol?: string;
  expiresAt: number;
  revoked: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

export const ERR = {
  badKeyFormat: () => new ApiError(401, -2014, 'API-key format invalid.'),
  rejectedKey: (status = 401) => new ApiError(status, -2015, 'Invalid API-key, IP, or permissions for action.'),
  badSig: () => new ApiError(400, -1022, 'Signature for this request is not valid.'),
  timestamp: () => new ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow."),
  recvWindow: (max: number) => new ApiError(400, -1131, `recvWindow must be less than ${max + 1}.`),
  mandatory: (p: string) =>
    new ApiError(400, -1102, `Mandatory parameter '${p}' was not sent, was empty/null, or malformed.`),
  badParam: (p: string) => new ApiError(400, -1100, `Illegal characters found in parameter '${p}'.`),
  noListenKey: () => new ApiError(400, -1125, 'This listenKey does not exist.'),
  badToken: () => new ApiError(400, -1209, 'Invalid listenToken.'),
  unread: (read: number, sent: number) =>
    new ApiError(400, -1104, `Not all sent parameters were read; read '${read}' parameter(s) but was sent '${sent}'.`),
  combination: () => new ApiError(400, -1128, 'Combination of optional parameters invalid.'),
  /** -1127 MORE_THAN_XX_HOURS (binance-spot-api-docs errors.md a5e0bc3; futures use the same code). */
  interval: (hours: number) => new ApiError(400, -1127, `More than ${hours} hours between startTime and endTime.`),
  /** -1023 START_TIME_GREATER_THAN_END_TIME (futures error-code pages). */
  startAfterEnd: () => new ApiError(400, -1023, 'Start time is greater than end time.'),
  badSymbol: () => new ApiError(400, -1121, 'Invalid symbol.'),
  noOrder: () => new ApiError(400, -2013, 'Order does not exist.'),
  orderIdOrClientId: (client = 'origClientOrderId', id = 'orderId') =>
    new ApiError(400, -1102, `Param '${client}' or '${id}' must be sent, but both were empty/null!`),
};

export function isSpotLike(m: SimMarket): m is SpotLike {
  return m === 'spot' || m === 'margin' || m === 'isolated-margin';
}
export function isFutures(m: ConnMarket): m is FuturesMarket {
  return m === 'usdm-futures' || m === 'coinm-futures';
}

/** Split a symbol into base and quote assets (BTCUSDT → BTC/USDT, BTCUSD_PERP → BTC/USD). */
export function splitSymbol(symbol: string): { base: string; quote: string } {
  const s = symbol.toUpperCase().replace(/_.*$/, '');
  for (const q of QUOTE_ASSETS) {
    if (s.length > q.length && s.endsWith(q)) return { base: s.slice(0, -q.length), quote: q };
  }
  return { base: s.slice(0, Math.max(1, s.length - 4)), quote: s.slice(Math.max(1, s.length - 4)) };
}

export function coinmContractSize(symbol: string): bigint {
  return symbol.toUpperCase().startsWith('BTC') ? dec('100') : dec('10');
}

export function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    /* never throw out of a socket or timer handler */
  }
}

export function toParamRecord(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  }
  return out;
}
