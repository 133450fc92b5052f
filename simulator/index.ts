/**
 * Loopback Binance user-data simulator (dev/test tool, not shipped in the package).
 *
 * One Node `http` server + a `ws` WebSocketServer (noServer mode, upgrades routed by path):
 *  - `/ws-api/v3`                    spot/margin WebSocket API (subscribe.signature / subscribe.listenToken)
 *  - futures user data, per host as Binance documents it (see onUpgrade for the sources). A key's host
 *    is the one of the REST API that issued it: `/fapi/v1/listenKey` keys live on fstream,
 *    `/dapi/v1/listenKey` keys on dstream (one loopback port serves both hosts):
 *      fstream: `/private/ws?listenKey=…[&events=…]`, `/private/ws/<k>`, `/private/stream?streams=…`
 *               stream; the legacy `/ws/<k>` and `/stream` accept the upgrade and stay silent forever
 *      dstream: `/ws/<k>` and `/stream?streams=<k>` stream; there is no `/private` (404)
 *  - REST: time, listenKey, userListenToken, trades / open orders / single order / account of every
 *    market, USDⓈ-M algo orders (`/fapi/v1/algoOrder`, `/fapi/v1/openAlgoOrders`)
 *
 * Client pings are answered by hand (`ws` auto-pong is off) so that `stallConnections()` can emulate
 * a true half-open link: a stalled socket stays open and sends nothing at all.
 *
 * Timers and clocks are always the globals looked up at call time (`setTimeout`, `setInterval`,
 * `Date.now()`), so fake timers installed by a test drive pings, lifetimes and expiries.
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { dec, mul, div, abs, min, fmt, fmtTrim } from './decimal';
import {
  type SimKeyType,
  wsApiSigningPayload,
  restSigningPayload,
  verifySignature,
  randomAlnum,
  generateKeyMaterial,
  redact,
} from './signing';

export { wsApiSigningPayload, restSigningPayload, verifySignature, signPayload, hmacSha256Hex } from './signing';

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
}

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

/** A slow REST answer (see `delayNext`): requests on `path` are answered `ms` later. */
export interface DelayRule {
  path: string | RegExp;
  /** Delay of the answer, ms (on the timers of the moment: fake timers drive it). */
  ms: number;
  /** How many requests are delayed. Default 1. */
  count?: number;
}

type SpotLike = 'spot' | 'margin' | 'isolated-margin';
type FuturesMarket = 'usdm-futures' | 'coinm-futures';
/**
 * Who a listenKey belongs to: a futures market, or a Portfolio Margin account (papi listenKey,
 * stream fstream `/pm/ws/<k>`: Portfolio Margin user-data page,
 * https://developers.binance.com/docs/derivatives/portfolio-margin/user-data-streams, reference §5).
 */
export type KeyMarket = FuturesMarket | 'portfolio-margin';
/** A market as a connection filter sees it. */
export type ConnMarket = SimMarket | 'portfolio-margin';
/** A scheduled timer with the clear function that matches the timer API it was created with. */
interface Timer {
  clear(): void;
}
type Json = Record<string, unknown>;

const SPOT_DECIMALS = 8;
const QUOTE_ASSETS = ['FDUSD', 'USDT', 'USDC', 'BUSD', 'TUSD', 'USD', 'EUR', 'TRY', 'BTC', 'ETH', 'BNB'];

interface Balance {
  free: bigint;
  locked: bigint;
}

interface Position {
  symbol: string;
  positionSide: string;
  amt: bigint;
  entry: bigint;
  realized: bigint;
}

interface FuturesBook {
  wallet: Map<string, bigint>;
  positions: Map<string, Position>;
  marks: Map<string, bigint>;
}

interface Account {
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

interface KeyRec {
  apiKey: string;
  accountId: string;
  keyType: SimKeyType;
  apiSecret?: string;
  publicKeyPem?: string;
  canTrade: boolean;
  enableMargin: boolean;
  enableFutures: boolean;
  revoked: boolean;
}

interface OrderRec {
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

type AlgoStatus = 'NEW' | 'CANCELED' | 'TRIGGERING' | 'TRIGGERED' | 'FINISHED' | 'REJECTED' | 'EXPIRED';

/** A USDⓈ-M conditional (algo) order: lives in the Algo Service until triggered (reference §4.4, §4.5). */
interface AlgoRec {
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

interface WsSub {
  id: number;
  accountId: string;
  market: SpotLike;
  symbol?: string;
  via: 'signature' | 'listenToken' | 'logon';
  token?: string;
  expiresAt?: number;
  timer?: Timer;
}

interface Conn {
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

interface ListenKeyRec {
  listenKey: string;
  accountId: string;
  market: KeyMarket;
  expiresAt: number;
  timer?: Timer;
}

interface ListenTokenRec {
  token: string;
  accountId: string;
  market: 'margin' | 'isolated-margin';
  symbol?: string;
  expiresAt: number;
  revoked: boolean;
}

class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

const ERR = {
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
  combination: () => new ApiError(400, -1128, 'Combination of optional parameters invalid.'),
  noOrder: () => new ApiError(400, -2013, 'Order does not exist.'),
  orderIdOrClientId: (client = 'origClientOrderId', id = 'orderId') =>
    new ApiError(400, -1102, `Param '${client}' or '${id}' must be sent, but both were empty/null!`),
};

function isSpotLike(m: SimMarket): m is SpotLike {
  return m === 'spot' || m === 'margin' || m === 'isolated-margin';
}
function isFutures(m: ConnMarket): m is FuturesMarket {
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

function coinmContractSize(symbol: string): bigint {
  return symbol.toUpperCase().startsWith('BTC') ? dec('100') : dec('10');
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    /* never throw out of a socket or timer handler */
  }
}

function toParamRecord(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  }
  return out;
}

export class BinanceSimulator {
  readonly port: number;
  readonly restUrl: string;
  readonly wsApiUrl: string;
  readonly futuresWsUrl: string;
  readonly requests: RecordedRequest[] = [];

  private readonly opts: Required<SimulatorOptions>;
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly accounts = new Map<string, Account>();
  private readonly keys = new Map<string, KeyRec>();
  private readonly orders = new Map<number, OrderRec>();
  private readonly algoOrders = new Map<number, AlgoRec>();
  private readonly tradeLog: SimTrade[] = [];
  private readonly conns = new Map<number, Conn>();
  private readonly listenKeyMap = new Map<string, ListenKeyRec>();
  private readonly listenTokens = new Map<string, ListenTokenRec>();
  private readonly failRules: Array<FailRule & { remaining: number }> = [];
  private readonly delayRules: Array<DelayRule & { remaining: number }> = [];
  private readonly timers = new Set<Timer>();
  private readonly weightLog: Array<{ at: number; pool: string; weight: number }> = [];
  private clockOffset = 0;
  private nextAccount = 1;
  private nextOrderId = 1_000_000;
  private nextAlgoId = 2_000_000_001;
  private nextConnId = 1;
  private nextExecId = 1;
  private stopped = false;

  private constructor(server: http.Server, wss: WebSocketServer, opts: Required<SimulatorOptions>, port: number) {
    this.server = server;
    this.wss = wss;
    this.opts = opts;
    this.port = port;
    this.restUrl = `http://${opts.host}:${port}`;
    this.wsApiUrl = `ws://${opts.host}:${port}/ws-api/v3`;
    this.futuresWsUrl = `ws://${opts.host}:${port}`;
    server.on('request', (req, res) => this.onHttp(req, res));
    server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
      socket.on('error', () => undefined);
      try {
        this.onUpgrade(req, socket, head);
      } catch {
        socket.destroy();
      }
    });
  }

  static async start(opts: SimulatorOptions = {}): Promise<BinanceSimulator> {
    const full: Required<SimulatorOptions> = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      wsApiPingIntervalMs: opts.wsApiPingIntervalMs ?? 20_000,
      wsApiPongTimeoutMs: opts.wsApiPongTimeoutMs ?? 60_000,
      futuresPingIntervalMs: opts.futuresPingIntervalMs ?? 180_000,
      futuresPongTimeoutMs: opts.futuresPongTimeoutMs ?? 600_000,
      maxConnectionLifetimeMs: opts.maxConnectionLifetimeMs ?? 86_400_000,
      listenKeyValidityMs: opts.listenKeyValidityMs ?? 3_600_000,
      listenTokenMaxValidityMs: opts.listenTokenMaxValidityMs ?? 86_400_000,
      recvWindowMax: opts.recvWindowMax ?? 60_000,
      serverShutdownGraceMs: opts.serverShutdownGraceMs ?? 5_000,
      restWeightLimitPerMinute: opts.restWeightLimitPerMinute ?? 0,
    };
    const server = http.createServer();
    // autoPong off: pings are answered by hand, so a stalled connection can stay silent (half-open link)
    const wss = new WebSocketServer({ noServer: true, clientTracking: false, autoPong: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(full.port, full.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : full.port;
    return new BinanceSimulator(server, wss, full, port);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [...this.timers]) t.clear();
    this.timers.clear();
    for (const c of [...this.conns.values()]) {
      this.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }
    this.conns.clear();
    safe(() => this.wss.close());
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      safe(() => this.server.closeAllConnections());
    });
  }

  urlsFor(market: ConnMarket): { restUrl: string; wsUrl: string } {
    return { restUrl: this.restUrl, wsUrl: isFutures(market) || market === 'portfolio-margin' ? this.futuresWsUrl : this.wsApiUrl };
  }

  /** Server clock (Date.now() + clock offset). */
  serverTime(): number {
    return Date.now() + this.clockOffset;
  }

  setClockOffset(ms: number): void {
    this.clockOffset = ms;
  }

  // ---------------------------------------------------------------- accounts & keys

  /**
   * `coinmOnFapi`: the account's COIN-M user data is delivered on its /fapi listenKey (fstream
   * /private) as well as on its /dapi key: an account that Binance serves in the unified form after
   * the COIN-M / USDⓈ-M integration. Off by default: no source says every account gets it.
   */
  createAccount(opts: { balances?: Record<string, string>; futuresBalances?: Record<string, string>; coinmOnFapi?: boolean } = {}): {
    id: string;
  } {
    const id = `acct-${this.nextAccount++}`;
    const balances = opts.balances ?? { USDT: '10000', BTC: '1', ETH: '10', BNB: '5' };
    const fut = opts.futuresBalances ?? { USDT: '10000', BTC: '1' };
    const mk = (): Map<string, Balance> => {
      const m = new Map<string, Balance>();
      for (const [a, v] of Object.entries(balances)) m.set(a.toUpperCase(), { free: dec(v), locked: 0n });
      return m;
    };
    const book = (): FuturesBook => {
      const wallet = new Map<string, bigint>();
      for (const [a, v] of Object.entries(fut)) wallet.set(a.toUpperCase(), dec(v));
      return { wallet, positions: new Map(), marks: new Map() };
    };
    this.accounts.set(id, {
      id,
      uid: 10_000_000 + this.nextAccount,
      spot: mk(),
      margin: mk(),
      isolated: new Map(),
      initialBalances: balances,
      coinmOnFapi: opts.coinmOnFapi === true,
      futures: { 'usdm-futures': book(), 'coinm-futures': book() },
      tradeSeq: new Map(),
      updatedAt: this.serverTime(),
    });
    return { id };
  }

  createKey(
    accountId: string,
    keyType: SimKeyType,
    opts: { passphrase?: string; canTrade?: boolean; enableMargin?: boolean; enableFutures?: boolean } = {},
  ): CreatedKey {
    this.account(accountId);
    const apiKey = randomAlnum(64);
    const mat = generateKeyMaterial(keyType, opts.passphrase);
    this.keys.set(apiKey, {
      apiKey,
      accountId,
      keyType,
      apiSecret: mat.apiSecret,
      publicKeyPem: mat.publicKeyPem,
      canTrade: opts.canTrade ?? true,
      enableMargin: opts.enableMargin ?? true,
      enableFutures: opts.enableFutures ?? true,
      revoked: false,
    });
    const out: CreatedKey = { apiKey, keyType };
    if (mat.apiSecret) out.apiSecret = mat.apiSecret;
    if (mat.privateKeyPem) out.privateKeyPem = mat.privateKeyPem;
    if (mat.publicKeyPem) out.publicKeyPem = mat.publicKeyPem;
    if (opts.passphrase && keyType !== 'hmac') out.passphrase = opts.passphrase;
    return out;
  }

  /** Register an externally generated key (e.g. a fixed HMAC secret or a public key PEM). */
  registerKey(
    accountId: string,
    k: { apiKey: string; keyType: SimKeyType; apiSecret?: string; publicKeyPem?: string },
  ): void {
    this.account(accountId);
    this.keys.set(k.apiKey, {
      apiKey: k.apiKey,
      accountId,
      keyType: k.keyType,
      apiSecret: k.apiSecret,
      publicKeyPem: k.publicKeyPem,
      canTrade: true,
      enableMargin: true,
      enableFutures: true,
      revoked: false,
    });
  }

  revokeKey(apiKey: string): void {
    const k = this.keys.get(apiKey);
    if (k) k.revoked = true;
  }

  private account(id: string): Account {
    const a = this.accounts.get(id);
    if (!a) throw new Error(`unknown account ${id}`);
    return a;
  }

  // ---------------------------------------------------------------- timers

  /**
   * setTimeout looked up now; the matching clearTimeout is captured with it, so a timer created
   * before or after a test installs fake timers is always cleared by the right implementation.
   */
  private timer(fn: () => void, ms: number): Timer {
    const clear = clearTimeout;
    const t = setTimeout(() => {
      this.timers.delete(h);
      safe(fn);
    }, ms);
    const h: Timer = {
      clear: () => {
        clear(t);
        this.timers.delete(h);
      },
    };
    this.timers.add(h);
    return h;
  }

  private interval(fn: () => void, ms: number): Timer {
    const clear = clearInterval;
    const t = setInterval(() => safe(fn), ms);
    const h: Timer = {
      clear: () => {
        clear(t);
        this.timers.delete(h);
      },
    };
    this.timers.add(h);
    return h;
  }

  private clearTimer(t: Timer | undefined): void {
    t?.clear();
  }

  // ---------------------------------------------------------------- weights & failures

  /**
   * The weight pool of a REST path. USDⓈ-M (/fapi) and COIN-M (/dapi) share ONE per-IP limit and one
   * X-MBX-USED-WEIGHT-1M counter since the CM–UM integration ("Important CM-UM Integration Notice"
   * §A.3, COIN-M docs, effective 2026-06-30): pool 'futures'. Others: the path's first segment.
   */
  static poolOf(path: string): string {
    const first = path.split('/')[1] ?? 'api';
    return first === 'fapi' || first === 'dapi' ? 'futures' : first;
  }

  private addWeight(pool: string, weight: number): number {
    const now = Date.now();
    this.weightLog.push({ at: now, pool, weight });
    while (this.weightLog.length > 0 && this.weightLog[0].at <= now - 60_000) this.weightLog.shift();
    return this.usedWeight(pool);
  }

  /** Rolling one-minute weight sum of a pool ('api', 'sapi', 'futures' = fapi + dapi, 'papi'; 'fapi' / 'dapi' name 'futures'). */
  usedWeight(pool: string): number {
    if (pool === 'fapi' || pool === 'dapi') pool = 'futures';
    const now = Date.now();
    let sum = 0;
    for (const w of this.weightLog) if (w.pool === pool && w.at > now - 60_000) sum += w.weight;
    return sum;
  }

  /** Seconds until `excess` weight of a pool has left the rolling window. */
  private retryAfterSec(pool: string, excess: number): number {
    const now = Date.now();
    let freed = 0;
    for (const w of this.weightLog) {
      if (w.pool !== pool || w.at <= now - 60_000) continue;
      freed += w.weight;
      if (freed >= excess) return Math.max(1, Math.ceil((w.at + 60_000 - now) / 1000));
    }
    return 60;
  }

  failNext(rule: FailRule): void {
    this.failRules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  private takeFailure(kind: 'path' | 'ws', value: string): FailRule | undefined {
    for (let i = 0; i < this.failRules.length; i++) {
      const r = this.failRules[i];
      let hit = false;
      if (kind === 'path' && r.path !== undefined) {
        hit = typeof r.path === 'string' ? r.path === value : r.path.test(value);
      } else if (kind === 'ws' && r.wsMethod !== undefined) {
        hit = r.wsMethod === value;
      }
      if (hit) {
        r.remaining--;
        if (r.remaining <= 0) this.failRules.splice(i, 1);
        return r;
      }
    }
    return undefined;
  }

  private failureBody(r: FailRule): { code: number; msg: string } {
    const code = r.code ?? (r.httpStatus === 429 || r.httpStatus === 418 ? -1003 : r.httpStatus >= 500 ? -1001 : -1000);
    const msg =
      r.msg ??
      (r.httpStatus === 429
        ? 'Too many requests; current limit is 6000 request weight per 1 MINUTE.'
        : r.httpStatus === 418
          ? 'Way too many requests; IP banned until ' + (this.serverTime() + (r.retryAfterSec ?? 120) * 1000) + '.'
          : r.httpStatus >= 500
            ? 'Internal error; unable to process your request. Please try again.'
            : 'An unknown error occurred while processing the request.');
    return { code, msg };
  }

  /** `Retry-After` (seconds) of an injected 429/418 (or any failure with retryAfterSec), REST and handshakes alike. */
  private failureHeaders(r: FailRule): Record<string, string> {
    const headers: Record<string, string> = {};
    if (r.httpStatus === 429 || r.httpStatus === 418 || r.retryAfterSec !== undefined) {
      headers['Retry-After'] = String(r.retryAfterSec ?? (r.httpStatus === 418 ? 120 : 1));
    }
    return headers;
  }

  // ---------------------------------------------------------------- slow REST (issue 11 faults)

  /**
   * Slow REST: the next `count` (default 1) requests whose path matches are processed on
   * arrival (weights, failNext, signature and timestamp checks) but answered `ms` later.
   * The client's own timeout can fire first, as against a slow exchange.
   */
  delayNext(rule: DelayRule): void {
    if (!(rule.ms >= 0)) throw new RangeError('delayNext: ms must be >= 0');
    this.delayRules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  /** Drops every pending delayNext / failNext rule (the faults stop). */
  clearFaults(): void {
    this.delayRules.length = 0;
    this.failRules.length = 0;
  }

  /**
   * A poison frame: a valid JSON user-data event whose unknown field `deep` is nested `depth`
   * levels (default 5000: more than a recursive walker's stack, far less than JSON.parse's
   * limit), in the envelope of each matching connection (WS API `{subscriptionId,event}`,
   * futures raw or `{stream,data}`). Built as text: JSON.stringify itself cannot write it.
   * Returns the number of frames sent.
   */
  injectPoison(accountId: string, market: SimMarket, opts: { depth?: number; eventType?: string } = {}): number {
    const depth = opts.depth ?? 5000;
    const type = opts.eventType ?? (isFutures(market) ? 'ACCOUNT_CONFIG_UPDATE' : 'balanceUpdate');
    const body = `{"e":${JSON.stringify(type)},"E":${this.serverTime()},"deep":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
    let n = 0;
    for (const c of this.conns.values()) {
      if (c.closed) continue;
      if (c.kind === 'ws-api') {
        for (const sub of c.subs.values()) {
          if (sub.accountId === accountId && sub.market === market && this.send(c, `{"subscriptionId":${sub.id},"event":${body}}`)) n++;
        }
      } else if (c.kind === 'futures') {
        for (const k of c.listenKeys) {
          const rec = this.listenKeyMap.get(k);
          if (!rec || rec.accountId !== accountId || rec.market !== market) continue;
          if (c.events && !c.events.has(type)) continue;
          if (this.send(c, c.combined ? `{"stream":${JSON.stringify(k)},"data":${body}}` : body)) n++;
        }
      }
    }
    return n;
  }

  private takeDelay(path: string): number {
    for (let i = 0; i < this.delayRules.length; i++) {
      const r = this.delayRules[i];
      if (typeof r.path === 'string' ? r.path !== path : !r.path.test(path)) continue;
      r.remaining--;
      if (r.remaining <= 0) this.delayRules.splice(i, 1);
      return r.ms;
    }
    return 0;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ---------------------------------------------------------------- connections

  private connMatches(c: Conn, f: ConnFilter): boolean {
    if (c.closed) return false;
    if (f.kind && c.kind !== f.kind) return false;
    if (f.accountId === undefined && f.market === undefined) return true;
    const pairs: Array<{ accountId: string; market: ConnMarket }> = [];
    for (const s of c.subs.values()) pairs.push({ accountId: s.accountId, market: s.market });
    for (const k of c.listenKeys) {
      const lk = this.listenKeyMap.get(k);
      if (lk) pairs.push({ accountId: lk.accountId, market: lk.market });
    }
    if (pairs.length === 0 && c.firstAccountId) pairs.push({ accountId: c.firstAccountId, market: c.firstMarket! });
    return pairs.some(
      (p) => (f.accountId === undefined || p.accountId === f.accountId) && (f.market === undefined || p.market === f.market),
    );
  }

  private matching(filter: ConnFilter = {}): Conn[] {
    return [...this.conns.values()].filter((c) => this.connMatches(c, filter));
  }

  openConnections(filter?: ConnFilter): number {
    return this.matching(filter).length;
  }

  connections(filter?: ConnFilter): Array<{
    id: number;
    kind: ConnKind;
    accountId?: string;
    market?: ConnMarket;
    subscriptions: number;
    openedAt: number;
    stalled: boolean;
    pingsReceived: number;
  }> {
    return this.matching(filter).map((c) => {
      const first = [...c.subs.values()][0];
      const lk = c.listenKeys.map((k) => this.listenKeyMap.get(k)).find((x) => x);
      return {
        id: c.id,
        kind: c.kind,
        accountId: first?.accountId ?? lk?.accountId ?? c.firstAccountId,
        market: first?.market ?? lk?.market ?? c.firstMarket,
        subscriptions: c.kind === 'ws-api' ? c.subs.size : c.listenKeys.length,
        openedAt: c.openedAt,
        stalled: c.stalled,
        pingsReceived: c.pingsReceived,
      };
    });
  }

  listenKeys(): Array<{ listenKey: string; accountId: string; market: KeyMarket; expiresAt: number }> {
    return [...this.listenKeyMap.values()].map((k) => ({
      listenKey: k.listenKey,
      accountId: k.accountId,
      market: k.market,
      expiresAt: k.expiresAt,
    }));
  }

  /** Active WS-API subscriptions (for tests). */
  subscriptions(filter: ConnFilter = {}): Array<{
    connId: number;
    subscriptionId: number;
    accountId: string;
    market: SimMarket;
    via: 'signature' | 'listenToken' | 'logon';
    expiresAt?: number;
  }> {
    const out: Array<{
      connId: number;
      subscriptionId: number;
      accountId: string;
      market: SimMarket;
      via: 'signature' | 'listenToken' | 'logon';
      expiresAt?: number;
    }> = [];
    for (const c of this.matching({ ...filter, kind: 'ws-api' })) {
      for (const s of c.subs.values()) {
        out.push({ connId: c.id, subscriptionId: s.id, accountId: s.accountId, market: s.market, via: s.via, expiresAt: s.expiresAt });
      }
    }
    return out;
  }

  private clearConnTimers(c: Conn): void {
    this.clearTimer(c.pingTimer);
    this.clearTimer(c.pongDeadline);
    this.clearTimer(c.lifeTimer);
    c.pingTimer = undefined;
    c.pongDeadline = undefined;
    c.lifeTimer = undefined;
    for (const s of c.subs.values()) this.clearTimer(s.timer);
  }

  private send(c: Conn, payload: Json | string | Buffer): boolean {
    if (c.closed || c.stalled || c.ws.readyState !== WebSocket.OPEN) return false;
    const data = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    safe(() => c.ws.send(data));
    return true;
  }

  dropConnections(filter?: ConnFilter): number {
    const list = this.matching(filter);
    for (const c of list) {
      this.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }
    return list.length;
  }

  /**
   * Emulates a half-open link: the connections stay open but answer nothing at all from now on
   * (no pong to client pings, no server pings, no events, no responses; even frames `ws` writes
   * by itself, such as the reply to a close frame, are dropped). Incoming frames are ignored.
   */
  stallConnections(filter?: ConnFilter): number {
    const list = this.matching(filter).filter((c) => !c.stalled);
    for (const c of list) {
      c.stalled = true;
      this.muteSocket(c);
      this.clearTimer(c.pingTimer);
      c.pingTimer = undefined;
      this.clearTimer(c.pongDeadline);
      c.pongDeadline = undefined;
      this.clearTimer(c.lifeTimer);
      c.lifeTimer = undefined;
    }
    return list.length;
  }

  /** Drops every byte written to the connection's socket from now on (the writer is told it went out). */
  private muteSocket(c: Conn): void {
    const sock = c.socket as unknown as { write: (...args: unknown[]) => boolean };
    sock.write = (...args: unknown[]): boolean => {
      const cb = args.find((a): a is (err?: Error | null) => void => typeof a === 'function');
      if (cb) process.nextTick(cb);
      return true;
    };
  }

  sendServerShutdown(filter: ConnFilter = {}, opts: { graceMs?: number } = {}): number {
    const list = this.matching({ ...filter, kind: 'ws-api' });
    let n = 0;
    for (const c of list) {
      if (this.send(c, { event: { e: 'serverShutdown', E: this.serverTime() } })) n++;
      this.timer(() => this.closeConn(c, 1001, 'Server shutdown'), opts.graceMs ?? this.opts.serverShutdownGraceMs);
    }
    return n;
  }

  private closeConn(c: Conn, code: number, reason: string): void {
    if (c.closed) return;
    this.clearConnTimers(c);
    safe(() => c.ws.close(code, reason));
  }

  injectRaw(filter: ConnFilter, frame: string | Buffer): number {
    let n = 0;
    for (const c of this.matching(filter)) {
      if (c.kind === 'legacy' && filter.kind !== 'legacy') continue;
      if (this.send(c, frame)) n++;
    }
    return n;
  }

  /**
   * Sends every frame, as-is and in order, to each matching connection, with the connection's
   * socket corked so a batch leaves in few writes (the benchmarks' fast pusher). Returns the
   * number of frames sent (frames × connections).
   */
  injectRawBatch(filter: ConnFilter, frames: ReadonlyArray<string | Buffer>): number {
    let n = 0;
    for (const c of this.matching(filter)) {
      if (c.kind === 'legacy' && filter.kind !== 'legacy') continue;
      const sock = (c.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
      sock?.cork();
      try {
        for (const f of frames) if (this.send(c, f)) n++;
      } finally {
        sock?.uncork();
      }
    }
    return n;
  }

  injectEvent(accountId: string, market: ConnMarket, event: Record<string, unknown>, opts: { symbol?: string } = {}): number {
    const ev: Json = { ...event };
    if (ev.E === undefined) ev.E = this.serverTime();
    if (market === 'portfolio-margin') return this.emitPm(accountId, ev);
    if (isFutures(market)) return this.emitFutures(accountId, market, ev);
    return this.emitSpot(accountId, market, opts.symbol ?? (typeof ev.s === 'string' ? ev.s : undefined), ev);
  }

  // ---------------------------------------------------------------- event emission

  private emitSpot(accountId: string, market: SpotLike, symbol: string | undefined, event: Json): number {
    let n = market === 'margin' ? this.emitPm(accountId, event) : 0;
    for (const c of this.conns.values()) {
      if (c.kind !== 'ws-api') continue;
      for (const s of c.subs.values()) {
        if (s.accountId !== accountId || s.market !== market) continue;
        if (market === 'isolated-margin' && symbol !== undefined && s.symbol !== symbol) continue;
        if (this.send(c, { subscriptionId: s.id, event })) n++;
      }
    }
    return n;
  }

  /**
   * USDⓈ-M events go to the account's /fapi key, COIN-M events to its /dapi key and, for an account
   * created with `coinmOnFapi`, to its /fapi key as well: the unified form after the COIN-M / USDⓈ-M
   * integration (notice published 2026-06-10, effective 2026-06-30,
   * https://developers.binance.com/docs/derivatives/coin-margined-futures; the newer COIN-M
   * user-data page shows /fapi/v1/listenKey + fstream /private, reference §4.6).
   */
  private emitFutures(accountId: string, market: FuturesMarket, event: Json): number {
    const unified = market === 'coinm-futures' && this.accounts.get(accountId)?.coinmOnFapi === true;
    let n = 0;
    for (const k of this.listenKeyMap.values()) {
      if (k.accountId !== accountId) continue;
      if (k.market === market || (unified && k.market === 'usdm-futures')) n += this.emitOnKey(k.listenKey, event);
    }
    return n + this.emitPm(accountId, { fs: market === 'coinm-futures' ? 'CM' : 'UM', ...event });
  }

  /**
   * Portfolio margin: the account's UM and CM futures events (with `fs` = 'UM' / 'CM', "Event
   * business unit", connector types OrderTradeUpdate.fs / AccountUpdate.fs, 17.0.0 2026-07-24),
   * its cross-margin events (executionReport, outboundAccountPosition, balanceUpdate) and the PM
   * risk events (riskLevelChange, liabilityChange, openOrderLoss) arrive on its papi listenKey.
   * The simulator models a PM account as the account's usdm / coinm / margin books.
   */
  private emitPm(accountId: string, event: Json): number {
    let n = 0;
    for (const k of this.listenKeyMap.values()) {
      if (k.accountId === accountId && k.market === 'portfolio-margin') n += this.emitOnKey(k.listenKey, event);
    }
    return n;
  }

  private emitOnKey(listenKey: string, event: Json): number {
    let n = 0;
    const type = String(event.e);
    for (const c of this.conns.values()) {
      if (c.kind !== 'futures' || !c.listenKeys.includes(listenKey)) continue;
      // `events=` is an allow-list: a type not listed is not delivered, listenKeyExpired included
      // (fstream /private "events" parameter, Important WebSocket Change Notice, reference §4.2).
      if (c.events && !c.events.has(type)) continue;
      if (this.send(c, c.combined ? { stream: listenKey, data: event } : event)) n++;
    }
    return n;
  }

  // ---------------------------------------------------------------- listen keys / tokens

  private activeListenKey(accountId: string, market: KeyMarket): ListenKeyRec | undefined {
    return [...this.listenKeyMap.values()].find((k) => k.accountId === accountId && k.market === market);
  }

  private armListenKey(rec: ListenKeyRec): void {
    this.clearTimer(rec.timer);
    rec.expiresAt = this.serverTime() + this.opts.listenKeyValidityMs;
    rec.timer = this.timer(() => this.expireListenKey(rec.listenKey), this.opts.listenKeyValidityMs);
  }

  expireListenKey(listenKey: string): void {
    const rec = this.listenKeyMap.get(listenKey);
    if (!rec) return;
    this.emitOnKey(listenKey, { e: 'listenKeyExpired', E: this.serverTime(), listenKey });
    this.forgetListenKey(rec);
  }

  private forgetListenKey(rec: ListenKeyRec): void {
    this.clearTimer(rec.timer);
    this.listenKeyMap.delete(rec.listenKey);
    for (const c of this.conns.values()) {
      if (c.kind === 'futures') c.listenKeys = c.listenKeys.filter((k) => k !== rec.listenKey);
    }
  }

  /** Issue a listenToken directly (same as POST /sapi/v1/userListenToken). */
  createListenToken(
    accountId: string,
    market: 'margin' | 'isolated-margin',
    opts: { symbol?: string; validityMs?: number } = {},
  ): { token: string; expirationTime: number } {
    this.account(accountId);
    const validity = Math.min(opts.validityMs ?? this.opts.listenTokenMaxValidityMs, this.opts.listenTokenMaxValidityMs);
    const token = randomAlnum(64);
    const expiresAt = this.serverTime() + validity;
    this.listenTokens.set(token, {
      token,
      accountId,
      market,
      symbol: market === 'isolated-margin' ? opts.symbol?.toUpperCase() : undefined,
      expiresAt,
      revoked: false,
    });
    return { token, expirationTime: expiresAt };
  }

  expireListenToken(filter: ConnFilter = {}): number {
    let n = 0;
    for (const c of this.matching({ ...filter, kind: 'ws-api' })) {
      for (const s of [...c.subs.values()]) {
        if (s.via !== 'listenToken') continue;
        if (filter.accountId !== undefined && s.accountId !== filter.accountId) continue;
        if (filter.market !== undefined && s.market !== filter.market) continue;
        const tok = s.token ? this.listenTokens.get(s.token) : undefined;
        if (tok) tok.revoked = true;
        this.endSub(c, s);
        n++;
      }
    }
    return n;
  }

  private endSub(c: Conn, s: WsSub): void {
    this.clearTimer(s.timer);
    c.subs.delete(s.id);
    this.send(c, { subscriptionId: s.id, event: { e: 'eventStreamTerminated', E: this.serverTime() } });
  }

  // ---------------------------------------------------------------- HTTP

  /** Keep the request log bounded for long CLI runs (tests never get near this). */
  private record(rec: RecordedRequest): void {
    this.requests.push(rec);
    if (this.requests.length > 50_000) this.requests.splice(0, 10_000);
  }

  private recordRest(
    req: http.IncomingMessage,
    path: string,
    params: Record<string, string>,
  ): RecordedRequest {
    const key = req.headers['x-mbx-apikey'];
    const rec: RecordedRequest = {
      kind: 'rest',
      method: req.method ?? 'GET',
      path,
      params,
      apiKey: typeof key === 'string' ? key : undefined,
      at: Date.now(),
      status: 0,
    };
    this.record(rec);
    return rec;
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('end', () => {
      safe(() => this.handleRest(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  private handleRest(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string): void {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi >= 0 ? url.slice(0, qi) : url;
    const rawQuery = qi >= 0 ? url.slice(qi + 1) : '';
    const ctype = String(req.headers['content-type'] ?? '');
    const body = rawBody !== '' && (ctype === '' || ctype.includes('x-www-form-urlencoded')) ? rawBody : '';
    const params: Record<string, string> = {};
    for (const src of [rawQuery, body]) {
      for (const [k, v] of new URLSearchParams(src)) params[k] = v;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const rec = this.recordRest(req, path, params);
    const pool = BinanceSimulator.poolOf(path);

    const delayMs = this.takeDelay(path);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      if (delayMs > 0) {
        // slow REST (delayNext): processed now (timestamp checked on arrival), answered later
        this.timer(() => {
          rec.status = status;
          send(status, payload, headers);
        }, delayMs);
        return;
      }
      rec.status = status;
      send(status, payload, headers);
    };
    const send = (status: number, payload: unknown, headers: Record<string, string>): void => {
      const used = this.usedWeight(pool);
      const text = JSON.stringify(payload);
      safe(() => {
        res.writeHead(status, {
          'Content-Type': 'application/json;charset=UTF-8',
          'Content-Length': Buffer.byteLength(text),
          'X-MBX-USED-WEIGHT-1M': String(used),
          ...headers,
        });
        res.end(text);
      });
    };

    const fail = this.takeFailure('path', path);
    if (fail) {
      const b = this.failureBody(fail);
      rec.errorCode = b.code;
      rec.weight = 1;
      this.addWeight(pool, 1);
      reply(fail.httpStatus, b, this.failureHeaders(fail));
      return;
    }

    const route = this.routes.get(`${method} ${path}`);
    if (!route) {
      rec.weight = 1;
      this.addWeight(pool, 1);
      rec.errorCode = -1000;
      reply(404, { code: -1000, msg: 'Unknown path.' });
      return;
    }
    const weight = route.weight(params);
    rec.weight = weight;
    const used = this.addWeight(pool, weight);
    const limit = this.opts.restWeightLimitPerMinute;
    if (limit > 0 && used > limit) {
      rec.errorCode = -1003;
      reply(429, { code: -1003, msg: `Too many requests; current limit is ${limit} request weight per 1 MINUTE.` }, {
        'Retry-After': String(this.retryAfterSec(pool, used - limit)),
      });
      return;
    }
    try {
      let key: KeyRec | undefined;
      if (route.auth !== 'none') {
        const apiKey = req.headers['x-mbx-apikey'];
        if (typeof apiKey !== 'string' || apiKey === '') throw ERR.badKeyFormat();
        key = this.keys.get(apiKey);
        if (!key || key.revoked) throw ERR.rejectedKey();
        if (route.perm === 'margin' && !key.enableMargin) throw ERR.rejectedKey();
        if (route.perm === 'futures' && !key.enableFutures) throw ERR.rejectedKey();
      }
      if (route.auth === 'signed' && key) {
        const { payload, signature } = restSigningPayload(rawQuery, body);
        if (signature === undefined || signature === '') throw ERR.mandatory('signature');
        let sig: string;
        try {
          // form decoding: an un-encoded '+' of a base64 signature reads as a space
          sig = decodeURIComponent(signature.replace(/\+/g, ' '));
        } catch {
          throw ERR.badSig();
        }
        if (!verifySignature(key, payload, sig)) throw ERR.badSig();
        this.checkTiming(params.timestamp, params.recvWindow);
      }
      const result = route.handler(params, key);
      reply(200, result);
    } catch (e) {
      if (e instanceof ApiError) {
        rec.errorCode = e.code;
        reply(e.httpStatus, { code: e.code, msg: e.message });
      } else {
        rec.errorCode = -1000;
        reply(500, { code: -1000, msg: 'An unknown error occurred while processing the request.' });
      }
    }
  }

  private checkTiming(timestamp: unknown, recvWindow: unknown): void {
    if (timestamp === undefined || timestamp === null || timestamp === '') throw ERR.mandatory('timestamp');
    let ts = Number(timestamp);
    if (!Number.isFinite(ts)) throw ERR.badParam('timestamp');
    if (ts > 1e14) ts = ts / 1000; // microseconds
    let rw = 5000;
    if (recvWindow !== undefined && recvWindow !== null && recvWindow !== '') {
      rw = Number(recvWindow);
      if (!Number.isFinite(rw) || rw <= 0) throw ERR.badParam('recvWindow');
      if (rw > this.opts.recvWindowMax) throw ERR.recvWindow(this.opts.recvWindowMax);
    }
    const now = this.serverTime();
    if (ts >= now + 1000 || now - ts > rw) throw ERR.timestamp();
  }

  // ---------------------------------------------------------------- REST routes

  private readonly routes = new Map<
    string,
    {
      auth: 'none' | 'apikey' | 'signed';
      perm?: 'margin' | 'futures';
      weight: (p: Record<string, string>) => number;
      handler: (p: Record<string, string>, key?: KeyRec) => unknown;
    }
  >([
    ['GET /api/v3/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.serverTime() }) }],
    ['GET /api/v3/ping', { auth: 'none', weight: () => 1, handler: () => ({}) }],
    ['GET /fapi/v1/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.serverTime() }) }],
    ['GET /dapi/v1/time', { auth: 'none', weight: () => 1, handler: () => ({ serverTime: this.serverTime() }) }],
    [
      'GET /api/v3/myTrades',
      { auth: 'signed', weight: (p) => (p.orderId ? 5 : 20), handler: (p, k) => this.restMyTrades(k!, 'spot', p) },
    ],
    [
      'GET /api/v3/openOrders',
      { auth: 'signed', weight: (p) => (p.symbol ? 6 : 80), handler: (p, k) => this.restOpenOrders(k!, 'spot', p) },
    ],
    ['GET /api/v3/account', { auth: 'signed', weight: () => 20, handler: (p, k) => this.restSpotAccount(k!, p) }],
    [
      'GET /api/v3/order',
      { auth: 'signed', weight: () => 4, handler: (p, k) => this.spotOrderJson(this.queryOrder(k!, 'spot', p), 'spot') },
    ],
    [
      'GET /sapi/v1/margin/order',
      {
        auth: 'signed',
        perm: 'margin',
        weight: () => 10,
        handler: (p, k) => {
          const m = this.marginOf(p);
          return this.spotOrderJson(this.queryOrder(k!, m, p), m);
        },
      },
    ],
    [
      'GET /api/v3/allOrders',
      { auth: 'signed', weight: () => 20, handler: (p, k) => this.allOrdersOf(k!.accountId, 'spot', p).map((o) => this.spotOrderJson(o, 'spot')) },
    ],
    [
      'GET /sapi/v1/margin/allOrders',
      {
        auth: 'signed',
        perm: 'margin',
        weight: () => 200,
        handler: (p, k) => {
          const m = this.marginOf(p);
          return this.allOrdersOf(k!.accountId, m, p).map((o) => this.spotOrderJson(o, m));
        },
      },
    ],
    [
      'POST /sapi/v1/userListenToken',
      { auth: 'signed', perm: 'margin', weight: () => 1, handler: (p, k) => this.restListenToken(k!, p) },
    ],
    [
      'GET /sapi/v1/margin/myTrades',
      { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.restMyTrades(k!, this.marginOf(p), p) },
    ],
    [
      'GET /sapi/v1/margin/openOrders',
      { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.restOpenOrders(k!, this.marginOf(p), p) },
    ],
    [
      'GET /sapi/v1/margin/account',
      { auth: 'signed', perm: 'margin', weight: () => 10, handler: (_p, k) => this.restMarginAccount(k!) },
    ],
    [
      'GET /sapi/v1/margin/isolated/account',
      { auth: 'signed', perm: 'margin', weight: () => 10, handler: (p, k) => this.restIsolatedAccount(k!, p) },
    ],
    ...(['fapi', 'dapi'] as const).flatMap((api) => {
      const market: FuturesMarket = api === 'fapi' ? 'usdm-futures' : 'coinm-futures';
      return [
        [
          `POST /${api}/v1/listenKey`,
          { auth: 'apikey' as const, perm: 'futures' as const, weight: () => 1, handler: (_p: Record<string, string>, k?: KeyRec) => this.restListenKeyPost(k!, market) },
        ],
        [
          `PUT /${api}/v1/listenKey`,
          { auth: 'apikey' as const, perm: 'futures' as const, weight: () => 1, handler: (p: Record<string, string>, k?: KeyRec) => this.restListenKeyPut(k!, market, p) },
        ],
        [
          `DELETE /${api}/v1/listenKey`,
          { auth: 'apikey' as const, perm: 'futures' as const, weight: () => 1, handler: (p: Record<string, string>, k?: KeyRec) => this.restListenKeyDelete(k!, market, p) },
        ],
        [
          `GET /${api}/v1/userTrades`,
          {
            auth: 'signed' as const,
            perm: 'futures' as const,
            weight: (p: Record<string, string>) => (api === 'fapi' ? 5 : p.pair ? 40 : 20),
            handler: (p: Record<string, string>, k?: KeyRec) => this.restUserTrades(k!, market, p),
          },
        ],
        [
          `GET /${api}/v1/allOrders`,
          {
            auth: 'signed' as const,
            perm: 'futures' as const,
            weight: (p: Record<string, string>) => (api === 'fapi' ? 5 : p.pair ? 40 : 20),
            handler: (p: Record<string, string>, k?: KeyRec) => this.allOrdersOf(k!.accountId, market, p).map((o) => this.futuresOrderJson(o, market)),
          },
        ],
        [
          `GET /${api}/${api === 'fapi' ? 'v3' : 'v1'}/positionRisk`,
          { auth: 'signed' as const, perm: 'futures' as const, weight: () => (api === 'fapi' ? 5 : 1), handler: (p: Record<string, string>, k?: KeyRec) => this.restPositionRisk(k!, market, p) },
        ],
        [
          `GET /${api}/${api === 'fapi' ? 'v3' : 'v1'}/balance`,
          { auth: 'signed' as const, perm: 'futures' as const, weight: () => (api === 'fapi' ? 5 : 1), handler: (_p: Record<string, string>, k?: KeyRec) => this.restFuturesBalance(k!, market) },
        ],
        [
          `GET /${api}/v1/order`,
          {
            auth: 'signed' as const,
            perm: 'futures' as const,
            weight: () => 1,
            handler: (p: Record<string, string>, k?: KeyRec) => this.futuresOrderJson(this.queryOrder(k!, market, p), market),
          },
        ],
        [
          `GET /${api}/v1/openOrders`,
          {
            auth: 'signed' as const,
            perm: 'futures' as const,
            weight: (p: Record<string, string>) => (p.symbol ? 1 : 40),
            handler: (p: Record<string, string>, k?: KeyRec) => this.restFuturesOpenOrders(k!, market, p),
          },
        ],
      ] as Array<[string, { auth: 'none' | 'apikey' | 'signed'; perm?: 'margin' | 'futures'; weight: (p: Record<string, string>) => number; handler: (p: Record<string, string>, key?: KeyRec) => unknown }]>;
    }),
    // Algo (conditional) orders: USDⓈ-M since 2025-12-09 (derivatives change log); COIN-M since the
    // CM–UM integration ("Important CM-UM Integration Notice" §C.5, effective 2026-06-30:
    // POST/DELETE /dapi/v1/algoOrder, GET /dapi/v1/openAlgoOrders; GET /dapi/v1/algoOrder as third-party
    // COIN-M clients use it). Weights as USDⓈ-M's (1 with a symbol / 40 without; 1).
    ...(['fapi', 'dapi'] as const).flatMap((api) => {
      const market: FuturesMarket = api === 'fapi' ? 'usdm-futures' : 'coinm-futures';
      return [
        [
          `GET /${api}/v1/openAlgoOrders`,
          { auth: 'signed' as const, perm: 'futures' as const, weight: (p: Record<string, string>) => (p.symbol ? 1 : 40), handler: (p: Record<string, string>, k?: KeyRec) => this.restOpenAlgoOrders(k!, market, p) },
        ],
        [
          `GET /${api}/v1/algoOrder`,
          { auth: 'signed' as const, perm: 'futures' as const, weight: () => 1, handler: (p: Record<string, string>, k?: KeyRec) => this.algoOrderJson(this.queryAlgoOrder(k!, market, p)) },
        ],
      ] as Array<[string, { auth: 'none' | 'apikey' | 'signed'; perm?: 'margin' | 'futures'; weight: (p: Record<string, string>) => number; handler: (p: Record<string, string>, key?: KeyRec) => unknown }]>;
    }),
    [
      'GET /fapi/v3/account',
      { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'usdm-futures', 3) },
    ],
    [
      'GET /fapi/v2/balance',
      { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesBalance(k!, 'usdm-futures') },
    ],
    [
      'GET /fapi/v2/account',
      { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'usdm-futures', 2) },
    ],
    [
      'GET /dapi/v1/account',
      { auth: 'signed', perm: 'futures', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'coinm-futures', 1) },
    ],
    // Portfolio margin (papi), modelled over the account's UM / CM / margin books. Paths and weights:
    // Binance's connector clients/derivatives-trading-portfolio-margin 17.0.0 (2026-07-24), each
    // endpoint's "Weight"; listenKey: Portfolio Margin user-data page (60 min, -1125), reference §5.
    ['POST /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (_p, k) => this.restListenKeyPost(k!, 'portfolio-margin') }],
    ['PUT /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (p, k) => this.restListenKeyPut(k!, 'portfolio-margin', p) }],
    ['DELETE /papi/v1/listenKey', { auth: 'apikey', weight: () => 1, handler: (p, k) => this.restListenKeyDelete(k!, 'portfolio-margin', p) }],
    ['GET /papi/v1/um/userTrades', { auth: 'signed', weight: () => 5, handler: (p, k) => this.restUserTrades(k!, 'usdm-futures', p) }],
    ['GET /papi/v1/cm/userTrades', { auth: 'signed', weight: (p) => (p.pair ? 40 : 20), handler: (p, k) => this.restUserTrades(k!, 'coinm-futures', p) }],
    ['GET /papi/v1/margin/myTrades', { auth: 'signed', weight: () => 5, handler: (p, k) => this.restMyTrades(k!, 'margin', p) }],
    ['GET /papi/v1/um/openOrders', { auth: 'signed', weight: (p) => (p.symbol ? 1 : 40), handler: (p, k) => this.restFuturesOpenOrders(k!, 'usdm-futures', p) }],
    ['GET /papi/v1/cm/openOrders', { auth: 'signed', weight: (p) => (p.symbol ? 1 : 40), handler: (p, k) => this.restFuturesOpenOrders(k!, 'coinm-futures', p) }],
    ['GET /papi/v1/margin/openOrders', { auth: 'signed', weight: () => 5, handler: (p, k) => this.restOpenOrders(k!, 'margin', p) }],
    ['GET /papi/v1/um/order', { auth: 'signed', weight: () => 1, handler: (p, k) => this.futuresOrderJson(this.queryOrder(k!, 'usdm-futures', p), 'usdm-futures') }],
    ['GET /papi/v1/cm/order', { auth: 'signed', weight: () => 1, handler: (p, k) => this.futuresOrderJson(this.queryOrder(k!, 'coinm-futures', p), 'coinm-futures') }],
    ['GET /papi/v1/margin/order', { auth: 'signed', weight: () => 10, handler: (p, k) => this.spotOrderJson(this.queryOrder(k!, 'margin', p), 'margin') }],
    ['GET /papi/v1/um/account', { auth: 'signed', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'usdm-futures', 1) }],
    ['GET /papi/v1/cm/account', { auth: 'signed', weight: () => 5, handler: (_p, k) => this.restFuturesAccount(k!, 'coinm-futures', 1) }],
    ['GET /papi/v1/balance', { auth: 'signed', weight: () => 20, handler: (p, k) => this.restPmBalance(k!, p) }],
  ]);

  /**
   * GET /papi/v1/balance: one row per asset (connector type AccountBalanceResponse1Inner:
   * asset, totalWalletBalance, crossMarginAsset, crossMarginBorrowed, crossMarginFree,
   * crossMarginInterest, crossMarginLocked, umWalletBalance, umUnrealizedPNL, cmWalletBalance,
   * cmUnrealizedPNL, updateTime, negativeBalance). Modelled: margin book + UM / CM wallets.
   */
  private restPmBalance(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.account(k.accountId);
    const assets = new Set<string>([...a.margin.keys(), ...a.futures['usdm-futures'].wallet.keys(), ...a.futures['coinm-futures'].wallet.keys()]);
    const now = this.serverTime();
    const rows = [...assets]
      .filter((asset) => !p.asset || p.asset === asset)
      .sort()
      .map((asset) => {
        const m = a.margin.get(asset);
        const free = m?.free ?? 0n;
        const locked = m?.locked ?? 0n;
        const um = a.futures['usdm-futures'].wallet.get(asset) ?? 0n;
        const cm = a.futures['coinm-futures'].wallet.get(asset) ?? 0n;
        return {
          asset,
          totalWalletBalance: fmt(free + locked + um + cm),
          crossMarginAsset: fmt(free + locked),
          crossMarginBorrowed: fmt(0n),
          crossMarginFree: fmt(free),
          crossMarginInterest: fmt(0n),
          crossMarginLocked: fmt(locked),
          umWalletBalance: fmt(um),
          umUnrealizedPNL: fmt(0n),
          cmWalletBalance: fmt(cm),
          cmUnrealizedPNL: fmt(0n),
          updateTime: now,
          negativeBalance: fmt(0n),
        };
      });
    return p.asset ? (rows[0] ?? {}) : rows;
  }

  private marginOf(p: Record<string, string>): SpotLike {
    return String(p.isIsolated ?? '').toUpperCase() === 'TRUE' ? 'isolated-margin' : 'margin';
  }

  private restListenToken(k: KeyRec, p: Record<string, string>): unknown {
    const isolated = String(p.isIsolated ?? '').toLowerCase() === 'true';
    if (isolated && !p.symbol) throw ERR.mandatory('symbol');
    let validity = this.opts.listenTokenMaxValidityMs;
    if (p.validity !== undefined) {
      validity = Number(p.validity);
      if (!Number.isFinite(validity) || validity <= 0) throw ERR.badParam('validity');
      validity = Math.min(validity, this.opts.listenTokenMaxValidityMs);
    }
    return this.createListenToken(k.accountId, isolated ? 'isolated-margin' : 'margin', {
      symbol: p.symbol,
      validityMs: validity,
    });
  }

  private restListenKeyPost(k: KeyRec, market: KeyMarket): unknown {
    let rec = this.activeListenKey(k.accountId, market);
    if (!rec) {
      rec = { listenKey: randomAlnum(64), accountId: k.accountId, market, expiresAt: 0 };
      this.listenKeyMap.set(rec.listenKey, rec);
    }
    this.armListenKey(rec);
    return { listenKey: rec.listenKey };
  }

  private findKeyFor(k: KeyRec, market: KeyMarket, p: Record<string, string>): ListenKeyRec {
    const rec = p.listenKey ? this.listenKeyMap.get(p.listenKey) : this.activeListenKey(k.accountId, market);
    if (!rec || rec.accountId !== k.accountId || rec.market !== market) throw ERR.noListenKey();
    return rec;
  }

  private restListenKeyPut(k: KeyRec, market: KeyMarket, p: Record<string, string>): unknown {
    const rec = this.findKeyFor(k, market, p);
    this.armListenKey(rec);
    return { listenKey: rec.listenKey };
  }

  private restListenKeyDelete(k: KeyRec, market: KeyMarket, p: Record<string, string>): unknown {
    const rec = this.findKeyFor(k, market, p);
    const affected = [...this.conns.values()].filter((c) => c.kind === 'futures' && c.listenKeys.includes(rec.listenKey));
    this.forgetListenKey(rec);
    for (const c of affected) if (c.listenKeys.length === 0) this.closeConn(c, 1000, 'listenKey deleted');
    return {};
  }

  private filterTrades(accountId: string, market: SimMarket, p: Record<string, string>, futures: boolean): SimTrade[] {
    if (!p.symbol && !(futures && p.pair)) throw ERR.mandatory('symbol');
    if (market === 'isolated-margin' && !p.symbol) throw ERR.mandatory('symbol');
    const limit = p.limit !== undefined ? Number(p.limit) : 500;
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000) throw ERR.badParam('limit');
    if (futures && p.fromId !== undefined && (p.startTime !== undefined || p.endTime !== undefined)) throw ERR.combination();
    const symbol = p.symbol?.toUpperCase();
    const pair = p.pair?.toUpperCase();
    let list = this.tradeLog.filter(
      (t) =>
        t.accountId === accountId &&
        t.market === market &&
        (symbol ? t.symbol === symbol : pair ? t.symbol.startsWith(pair) : true),
    );
    if (p.orderId !== undefined) list = list.filter((t) => t.orderId === Number(p.orderId));
    if (p.startTime !== undefined) list = list.filter((t) => t.time >= Number(p.startTime));
    if (p.endTime !== undefined) list = list.filter((t) => t.time <= Number(p.endTime));
    if (futures && p.fromId === undefined && p.startTime === undefined && p.endTime === undefined) {
      const from = this.serverTime() - 7 * 86_400_000;
      list = list.filter((t) => t.time >= from);
    }
    list.sort((a, b) => a.tradeId - b.tradeId);
    if (p.fromId !== undefined) {
      const from = Number(p.fromId);
      return list.filter((t) => t.tradeId >= from).slice(0, limit);
    }
    if (p.startTime !== undefined) return list.slice(0, limit);
    return list.slice(Math.max(0, list.length - limit));
  }

  private restMyTrades(k: KeyRec, market: SpotLike, p: Record<string, string>): unknown {
    const trades = this.filterTrades(k.accountId, market, p, false);
    return trades.map((t) => {
      const base: Json = {
        symbol: t.symbol,
        id: t.tradeId,
        orderId: t.orderId,
        orderListId: -1,
        price: t.price,
        qty: t.quantity,
        quoteQty: t.quoteQty,
        commission: t.commission,
        commissionAsset: t.commissionAsset,
        time: t.time,
        isBuyer: t.side === 'BUY',
        isMaker: t.isMaker,
        isBestMatch: true,
      };
      if (market !== 'spot') {
        delete base.orderListId;
        delete base.quoteQty;
        base.isIsolated = market === 'isolated-margin';
      }
      return base;
    });
  }

  private restUserTrades(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    const trades = this.filterTrades(k.accountId, market, p, true);
    return trades.map((t) => {
      const o: Json = {
        symbol: t.symbol,
        id: t.tradeId,
        orderId: t.orderId,
        side: t.side,
        price: t.price,
        qty: t.quantity,
        realizedPnl: t.realizedPnl,
      };
      if (market === 'usdm-futures') {
        o.quoteQty = t.quoteQty;
      } else {
        o.pair = t.symbol.replace(/_.*$/, '');
        o.marginAsset = t.commissionAsset;
        o.baseQty = t.quoteQty;
      }
      Object.assign(o, {
        commission: t.commission,
        commissionAsset: t.commissionAsset,
        time: t.time,
        positionSide: t.positionSide ?? 'BOTH',
        buyer: t.side === 'BUY',
        maker: t.isMaker,
      });
      return o;
    });
  }

  private openOrdersOf(accountId: string, market: SimMarket, symbol?: string): OrderRec[] {
    return [...this.orders.values()]
      .filter(
        (o) =>
          o.accountId === accountId &&
          o.market === market &&
          (o.status === 'NEW' || o.status === 'PARTIALLY_FILLED') &&
          (!symbol || o.symbol === symbol.toUpperCase()),
      )
      .sort((a, b) => a.orderId - b.orderId);
  }

  private spotOrderJson(o: OrderRec, market: SpotLike): Json {
    const open = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
    const r: Json = {
      symbol: o.symbol,
      orderId: o.orderId,
      orderListId: -1,
      clientOrderId: o.clientOrderId,
      price: fmt(o.price),
      origQty: fmt(o.qty),
      executedQty: fmt(o.executed),
      cummulativeQuoteQty: fmt(o.cumQuote),
      status: o.status,
      timeInForce: o.tif,
      type: o.type,
      side: o.side,
      stopPrice: fmt(o.stopPrice),
      icebergQty: fmt(0n),
      time: o.time,
      updateTime: o.updateTime,
      isWorking: open,
      workingTime: o.time,
      origQuoteOrderQty: fmt(0n),
      selfTradePreventionMode: 'EXPIRE_MAKER',
    };
    if (market !== 'spot') r.isIsolated = market === 'isolated-margin';
    return r;
  }

  private restOpenOrders(k: KeyRec, market: SpotLike, p: Record<string, string>): unknown {
    if (market === 'isolated-margin' && !p.symbol) throw ERR.mandatory('symbol');
    return this.openOrdersOf(k.accountId, market, p.symbol).map((o) => this.spotOrderJson(o, market));
  }

  private allOrdersOf(accountId: string, market: SimMarket, p: Record<string, string>): OrderRec[] {
    if (!p.symbol && !(market === 'coinm-futures' && p.pair) && market !== 'usdm-futures') throw ERR.mandatory('symbol');
    const limit = p.limit !== undefined ? Number(p.limit) : 500;
    if (!Number.isInteger(limit) || limit <= 0 || limit > 1000) throw ERR.badParam('limit');
    const symbol = p.symbol?.toUpperCase();
    const pair = p.pair?.toUpperCase();
    let list = [...this.orders.values()].filter(
      (o) =>
        o.accountId === accountId &&
        o.market === market &&
        (symbol ? o.symbol === symbol : pair ? o.symbol.startsWith(pair) : true),
    );
    if (p.orderId !== undefined) list = list.filter((o) => o.orderId >= Number(p.orderId));
    if (p.startTime !== undefined) list = list.filter((o) => o.time >= Number(p.startTime));
    if (p.endTime !== undefined) list = list.filter((o) => o.time <= Number(p.endTime));
    list.sort((a, b) => a.orderId - b.orderId);
    if (p.orderId !== undefined || p.startTime !== undefined) return list.slice(0, limit);
    return list.slice(Math.max(0, list.length - limit));
  }

  private restFuturesOpenOrders(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    return this.openOrdersOf(k.accountId, market, p.symbol).map((o) => this.futuresOrderJson(o, market));
  }

  /**
   * The order of a single-order query (GET …/order): by orderId, else by origClientOrderId; with
   * both, the order found by id must carry that client id. -2013 when there is no such order.
   */
  private queryOrder(k: KeyRec, market: SimMarket, p: Record<string, string>): OrderRec {
    if (!p.symbol) throw ERR.mandatory('symbol');
    const hasId = p.orderId !== undefined && p.orderId !== '';
    const hasClient = p.origClientOrderId !== undefined && p.origClientOrderId !== '';
    if (!hasId && !hasClient) throw ERR.orderIdOrClientId();
    const symbol = p.symbol.toUpperCase();
    const mine = (o: OrderRec | undefined): o is OrderRec =>
      o !== undefined && o.accountId === k.accountId && o.market === market && o.symbol === symbol;
    let o: OrderRec | undefined;
    if (hasId) {
      const id = Number(p.orderId);
      if (!Number.isSafeInteger(id)) throw ERR.badParam('orderId');
      o = this.orders.get(id);
      if (mine(o) && hasClient && o.clientOrderId !== p.origClientOrderId) o = undefined;
    } else {
      o = [...this.orders.values()].find((x) => mine(x) && x.clientOrderId === p.origClientOrderId);
    }
    if (!mine(o)) throw ERR.noOrder();
    return o;
  }

  private futuresOrderJson(o: OrderRec, market: FuturesMarket): Json {
    const r: Json = {
      avgPrice: fmtTrim(o.executed > 0n ? this.avgPrice(o) : 0n),
      clientOrderId: o.clientOrderId,
    };
    if (market === 'usdm-futures') r.cumQuote = fmtTrim(o.cumQuote);
    else r.cumBase = fmtTrim(o.cumQuote);
    Object.assign(r, {
      executedQty: fmtTrim(o.executed),
      orderId: o.orderId,
      origQty: fmtTrim(o.qty),
      origType: o.origType ?? o.type,
      price: fmtTrim(o.price),
      reduceOnly: o.reduceOnly,
      side: o.side,
      positionSide: o.positionSide,
      status: o.status,
      stopPrice: fmtTrim(o.stopPrice),
      closePosition: false,
      symbol: o.symbol,
      time: o.time,
      timeInForce: o.tif,
      type: o.type,
      updateTime: o.updateTime,
      workingType: 'CONTRACT_PRICE',
      priceProtect: false,
    });
    if (market === 'usdm-futures') {
      Object.assign(r, { priceMatch: 'NONE', selfTradePreventionMode: 'EXPIRE_MAKER', goodTillDate: 0 });
    } else {
      r.pair = o.symbol.replace(/_.*$/, '');
    }
    return r;
  }

  private restPositionRisk(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    const a = this.account(k.accountId);
    const book = a.futures[market];
    const sym = p.symbol?.toUpperCase();
    return [...book.positions.values()]
      .filter((x) => (sym ? x.symbol === sym : market === 'coinm-futures' || x.amt !== 0n))
      .map((x) => {
        const mark = book.marks.get(x.symbol) ?? x.entry;
        return {
          symbol: x.symbol,
          positionSide: x.positionSide,
          positionAmt: fmtTrim(x.amt),
          entryPrice: fmtTrim(x.entry),
          breakEvenPrice: fmtTrim(x.entry),
          markPrice: fmtTrim(mark),
          unRealizedProfit: fmt(this.unrealized(market, book, x)),
          liquidationPrice: '0',
          isolatedMargin: '0',
          notional: fmt(mul(x.amt, mark)),
          marginAsset: this.marginAsset(market, x.symbol),
          isolatedWallet: '0',
          initialMargin: '0',
          maintMargin: '0',
          adl: 0,
          updateTime: this.serverTime(),
        };
      });
  }

  private restFuturesBalance(k: KeyRec, market: FuturesMarket): unknown {
    const a = this.account(k.accountId);
    const book = a.futures[market];
    return [...book.wallet.entries()].map(([asset, wb]) => ({
      accountAlias: `sim${a.uid}`,
      asset,
      balance: fmt(wb),
      crossWalletBalance: fmt(wb),
      crossUnPnl: fmt(0n),
      availableBalance: fmt(wb),
      maxWithdrawAmount: fmt(wb),
      marginAvailable: true,
      updateTime: this.serverTime(),
    }));
  }

  private spotBalancesJson(m: Map<string, Balance>, omitZero: boolean): Json[] {
    const out: Json[] = [];
    for (const [asset, b] of [...m.entries()].sort((a, c) => a[0].localeCompare(c[0]))) {
      if (omitZero && b.free === 0n && b.locked === 0n) continue;
      out.push({ asset, free: fmt(b.free), locked: fmt(b.locked) });
    }
    return out;
  }

  private restSpotAccount(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.account(k.accountId);
    return {
      makerCommission: 10,
      takerCommission: 10,
      buyerCommission: 0,
      sellerCommission: 0,
      commissionRates: { maker: '0.00100000', taker: '0.00100000', buyer: '0.00000000', seller: '0.00000000' },
      canTrade: k.canTrade,
      canWithdraw: true,
      canDeposit: true,
      brokered: false,
      requireSelfTradePrevention: false,
      preventSor: false,
      updateTime: a.updatedAt,
      accountType: 'SPOT',
      balances: this.spotBalancesJson(a.spot, String(p.omitZeroBalances).toLowerCase() === 'true'),
      permissions: ['SPOT'],
      uid: a.uid,
    };
  }

  private marginAssetJson(asset: string, b: Balance): Json {
    return {
      asset,
      borrowed: fmt(0n),
      free: fmt(b.free),
      interest: fmt(0n),
      locked: fmt(b.locked),
      netAsset: fmt(b.free + b.locked),
    };
  }

  private restMarginAccount(k: KeyRec): unknown {
    const a = this.account(k.accountId);
    return {
      created: true,
      borrowEnabled: true,
      marginLevel: '999.00000000',
      collateralMarginLevel: '999.00000000',
      totalAssetOfBtc: '0.00000000',
      totalLiabilityOfBtc: '0.00000000',
      totalNetAssetOfBtc: '0.00000000',
      TotalCollateralValueInUSDT: '0.00000000',
      tradeEnabled: k.canTrade,
      transferInEnabled: true,
      transferOutEnabled: true,
      accountType: 'MARGIN_1',
      userAssets: [...a.margin.entries()]
        .sort((x, y) => x[0].localeCompare(y[0]))
        .map(([asset, b]) => this.marginAssetJson(asset, b)),
    };
  }

  private isolatedBook(a: Account, symbol: string): Map<string, Balance> {
    const sym = symbol.toUpperCase();
    let book = a.isolated.get(sym);
    if (!book) {
      const { base, quote } = splitSymbol(sym);
      book = new Map();
      for (const asset of [base, quote]) {
        const init = Object.entries(a.initialBalances).find(([k]) => k.toUpperCase() === asset);
        book.set(asset, { free: init ? dec(init[1]) : 0n, locked: 0n });
      }
      a.isolated.set(sym, book);
    }
    return book;
  }

  private restIsolatedAccount(k: KeyRec, p: Record<string, string>): unknown {
    const a = this.account(k.accountId);
    const symbols = p.symbols ? p.symbols.split(',').map((s) => s.trim().toUpperCase()) : [...a.isolated.keys()];
    const assets = symbols.map((sym) => {
      const book = this.isolatedBook(a, sym);
      const { base, quote } = splitSymbol(sym);
      const side = (asset: string): Json => ({
        ...this.marginAssetJson(asset, book.get(asset) ?? { free: 0n, locked: 0n }),
        borrowEnabled: true,
        netAssetOfBtc: fmt(0n),
        repayEnabled: true,
        totalAsset: fmt((book.get(asset)?.free ?? 0n) + (book.get(asset)?.locked ?? 0n)),
      });
      return {
        baseAsset: side(base),
        quoteAsset: side(quote),
        symbol: sym,
        isolatedCreated: true,
        enabled: true,
        marginLevel: '999.00000000',
        marginLevelStatus: 'EXCESSIVE',
        marginRatio: '10.00000000',
        indexPrice: '0.00000000',
        liquidatePrice: '0.00000000',
        liquidateRate: '0.00000000',
        tradeEnabled: k.canTrade,
      };
    });
    return { assets, totalAssetOfBtc: fmt(0n), totalLiabilityOfBtc: fmt(0n), totalNetAssetOfBtc: fmt(0n) };
  }

  private unrealized(market: FuturesMarket, book: FuturesBook, p: Position): bigint {
    const mark = book.marks.get(p.symbol) ?? p.entry;
    if (p.amt === 0n || p.entry === 0n || mark === 0n) return 0n;
    if (market === 'usdm-futures') return mul(mark - p.entry, p.amt);
    const notional = mul(p.amt, coinmContractSize(p.symbol));
    return div(notional, p.entry) - div(notional, mark);
  }

  private restFuturesAccount(k: KeyRec, market: FuturesMarket, version: number): unknown {
    const a = this.account(k.accountId);
    const book = a.futures[market];
    const now = this.serverTime();
    const upByAsset = new Map<string, bigint>();
    for (const p of book.positions.values()) {
      const asset = this.marginAsset(market, p.symbol);
      upByAsset.set(asset, (upByAsset.get(asset) ?? 0n) + this.unrealized(market, book, p));
    }
    const assets = [...book.wallet.entries()].map(([asset, wb]) => {
      const up = upByAsset.get(asset) ?? 0n;
      const r: Json = {
        asset,
        walletBalance: fmt(wb),
        unrealizedProfit: fmt(up),
        marginBalance: fmt(wb + up),
        maintMargin: fmt(0n),
        initialMargin: fmt(0n),
        positionInitialMargin: fmt(0n),
        openOrderInitialMargin: fmt(0n),
        crossWalletBalance: fmt(wb),
        crossUnPnl: fmt(up),
        availableBalance: fmt(wb + up),
        maxWithdrawAmount: fmt(wb),
        updateTime: now,
      };
      if (version === 2) r.marginAvailable = true;
      return r;
    });
    const positions = [...book.positions.values()]
      .filter((p) => version !== 3 || p.amt !== 0n || this.openOrdersOf(a.id, market, p.symbol).length > 0)
      .map((p) => {
        const up = this.unrealized(market, book, p);
        const mark = book.marks.get(p.symbol) ?? p.entry;
        if (version === 3) {
          return {
            symbol: p.symbol,
            positionSide: p.positionSide,
            positionAmt: fmtTrim(p.amt),
            unrealizedProfit: fmt(up),
            isolatedMargin: '0',
            notional: fmt(mul(p.amt, mark)),
            isolatedWallet: '0',
            initialMargin: '0',
            maintMargin: '0',
            updateTime: now,
          };
        }
        return {
          symbol: p.symbol,
          initialMargin: '0',
          maintMargin: '0',
          unrealizedProfit: fmt(up),
          positionInitialMargin: '0',
          openOrderInitialMargin: '0',
          leverage: '20',
          isolated: false,
          entryPrice: fmtTrim(p.entry),
          breakEvenPrice: fmtTrim(p.entry),
          maxNotional: '1000000',
          positionSide: p.positionSide,
          positionAmt: fmtTrim(p.amt),
          notional: fmt(mul(p.amt, mark)),
          isolatedWallet: '0',
          updateTime: now,
        };
      });
    // totals are USD-denominated: only stablecoin wallets count (no price feed in the simulator)
    const stable = (asset: string): boolean => ['USDT', 'USDC', 'FDUSD', 'BUSD'].includes(asset);
    const totalWb = [...book.wallet.entries()].filter(([x]) => stable(x)).reduce((x, [, y]) => x + y, 0n);
    const totalUp = [...upByAsset.entries()].filter(([x]) => stable(x)).reduce((x, [, y]) => x + y, 0n);
    if (market === 'coinm-futures') {
      return { assets, positions, canDeposit: true, canTrade: k.canTrade, canWithdraw: true, feeTier: 0, updateTime: now };
    }
    const totals: Json = {
      totalInitialMargin: fmt(0n),
      totalMaintMargin: fmt(0n),
      totalWalletBalance: fmt(totalWb),
      totalUnrealizedProfit: fmt(totalUp),
      totalMarginBalance: fmt(totalWb + totalUp),
      totalPositionInitialMargin: fmt(0n),
      totalOpenOrderInitialMargin: fmt(0n),
      totalCrossWalletBalance: fmt(totalWb),
      totalCrossUnPnl: fmt(totalUp),
      availableBalance: fmt(totalWb + totalUp),
      maxWithdrawAmount: fmt(totalWb),
    };
    if (version === 3) return { ...totals, assets, positions };
    return {
      feeTier: 0,
      feeBurn: false,
      canTrade: k.canTrade,
      canDeposit: true,
      canWithdraw: true,
      updateTime: 0,
      multiAssetsMargin: false,
      tradeGroupId: -1,
      ...totals,
      assets,
      positions,
    };
  }

  // ---------------------------------------------------------------- WebSocket upgrades

  private rejectUpgrade(socket: Duplex, status: number, code: number, msg: string, headers: Record<string, string> = {}): void {
    const body = JSON.stringify({ code, msg });
    const reason = http.STATUS_CODES[status] ?? 'Error';
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    safe(() => {
      socket.write(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n${extra}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      socket.destroy();
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    const rec: RecordedRequest = { kind: 'ws-connect', method: 'GET', path, params, at: Date.now(), status: 101 };
    this.record(rec);

    const fail = this.takeFailure('path', path);
    if (fail) {
      const b = this.failureBody(fail);
      rec.status = fail.httpStatus;
      rec.errorCode = b.code;
      this.rejectUpgrade(socket, fail.httpStatus, b.code, b.msg, this.failureHeaders(fail));
      return;
    }

    if (path === '/ws-api/v3') {
      rec.weight = 2;
      this.addWeight('api', 2);
      this.accept(req, socket, head, 'ws-api', (c) => {
        c.returnRateLimits = params.returnRateLimits !== 'false';
      });
      return;
    }

    // Futures user data. Which host a request reaches is told by the key's issuer (see the header):
    //  - fstream `/private/…` streams: USDⓈ-M "Important WebSocket Change Notice" (split into
    //    /public, /market, /private from 2026-03-06; legacy decommissioned 2026-04-23), reference §4.2;
    //    `/private/stream?streams=` is the connector's form (binance-connector-js, usds-futures
    //    userData(…, 'private'), 2026-07-24).
    //  - fstream legacy `/ws/<k>`, `/stream`: the handshake succeeds but nothing arrives (reports in
    //    reference §0 / §4.2: ccxt/go-binance#809 and others).
    //  - dstream `/ws/<k>`: COIN-M "User Data Streams Connect",
    //    https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams;
    //    `/stream?streams=<k>` (combined envelope): the connector's COIN-M userData() (19.0.0, 2026-07-24).
    //  - dstream `/private`: no source documents it, so it does not exist here (404).
    let keys: string[] | undefined;
    let combined = false;
    let host: 'fstream' | 'dstream' | undefined;
    const keyList = (v: string | undefined): string[] => (v ?? '').split('/').filter((k) => k);
    const hostOf = (ks: string[]): 'fstream' | 'dstream' | undefined => {
      const r = ks.length > 0 ? this.listenKeyMap.get(ks[0]) : undefined;
      return r ? (r.market === 'coinm-futures' ? 'dstream' : 'fstream') : undefined;
    };
    if (path === '/private/ws') {
      keys = keyList(params.listenKey);
    } else if (path.startsWith('/private/ws/')) {
      keys = keyList(path.slice('/private/ws/'.length));
    } else if (path === '/private/stream') {
      keys = keyList(params.streams);
      combined = true;
    }
    if (keys) {
      host = 'fstream';
      if (hostOf(keys) === 'dstream') {
        rec.status = 404;
        this.rejectUpgrade(socket, 404, -1000, 'Unknown path.');
        return;
      }
    } else if (path.startsWith('/ws/') && hostOf(keyList(path.slice(4))) === 'dstream') {
      keys = keyList(path.slice(4));
      host = 'dstream';
    } else if (path === '/stream' && hostOf(keyList(params.streams)) === 'dstream') {
      keys = keyList(params.streams);
      combined = true;
      host = 'dstream';
    }
    if (path.startsWith('/pm/ws/')) {
      // Portfolio margin: fstream `/pm/ws/<listenKey>` (reference §5; connector base wss://fstream.binance.com/pm).
      const k = this.listenKeyMap.get(path.slice('/pm/ws/'.length));
      if (!k || k.market !== 'portfolio-margin') {
        rec.status = 400;
        rec.errorCode = -1125;
        this.rejectUpgrade(socket, 400, -1125, 'This listenKey does not exist.');
        return;
      }
      this.accept(req, socket, head, 'futures', (c) => {
        c.listenKeys = [k.listenKey];
        c.combined = false;
        c.firstAccountId = k.accountId;
        c.firstMarket = k.market;
      });
      return;
    }
    if (keys && host) {
      const events = host === 'fstream' && params.events ? new Set(params.events.split('/').filter((e) => e)) : undefined;
      const recs = keys.map((k) => this.listenKeyMap.get(k));
      if (keys.length === 0 || recs.some((r) => !r || (r.market === 'coinm-futures') !== (host === 'dstream'))) {
        rec.status = 400;
        rec.errorCode = -1125;
        this.rejectUpgrade(socket, 400, -1125, 'This listenKey does not exist.');
        return;
      }
      this.accept(req, socket, head, 'futures', (c) => {
        c.listenKeys = keys;
        c.combined = combined;
        c.events = events;
        c.firstAccountId = recs[0]!.accountId;
        c.firstMarket = recs[0]!.market;
      });
      return;
    }
    if (path.startsWith('/ws/') || path === '/ws' || path === '/stream') {
      this.accept(req, socket, head, 'legacy', (c) => {
        const k = this.listenKeyMap.get(path.slice(4));
        if (k) {
          c.firstAccountId = k.accountId;
          c.firstMarket = k.market;
        }
      });
      return;
    }
    rec.status = 404;
    this.rejectUpgrade(socket, 404, -1000, 'Unknown path.');
  }

  private accept(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    kind: ConnKind,
    init: (c: Conn) => void,
  ): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.stopped) {
        safe(() => ws.terminate());
        return;
      }
      const c: Conn = {
        id: this.nextConnId++,
        kind,
        ws,
        openedAt: Date.now(),
        stalled: false,
        closed: false,
        socket,
        pingsReceived: 0,
        pingOutstanding: false,
        pingPayloads: new Set(),
        pingSeq: 0,
        pongTimeoutMs: kind === 'ws-api' ? this.opts.wsApiPongTimeoutMs : this.opts.futuresPongTimeoutMs,
        subs: new Map(),
        nextSubId: 0,
        returnRateLimits: true,
        listenKeys: [],
        combined: false,
      };
      init(c);
      this.conns.set(c.id, c);
      ws.on('error', () => undefined);
      ws.on('close', () => {
        c.closed = true;
        this.clearConnTimers(c);
        this.conns.delete(c.id);
      });
      ws.on('message', (data: RawData, isBinary: boolean) => {
        safe(() => {
          if (c.kind === 'ws-api') this.onWsApiMessage(c, data, isBinary);
          else if (c.kind === 'futures') this.onFuturesMessage(c, data, isBinary);
        });
      });
      ws.on('ping', (data: Buffer) => {
        safe(() => {
          c.pingsReceived++;
          if (c.stalled || c.closed || ws.readyState !== WebSocket.OPEN) return;
          ws.pong(data);
        });
      });
      ws.on('pong', (data: Buffer) => {
        safe(() => {
          // unsolicited pongs (no ping outstanding, or not echoing a ping's payload) do not count
          if (c.stalled || c.closed || !c.pingOutstanding) return;
          if (!c.pingPayloads.has(data.toString('utf8'))) return;
          c.pingPayloads.clear();
          c.pingOutstanding = false;
          this.clearTimer(c.pongDeadline);
          c.pongDeadline = undefined;
        });
      });
      if (kind === 'legacy') return;
      const interval = kind === 'ws-api' ? this.opts.wsApiPingIntervalMs : this.opts.futuresPingIntervalMs;
      c.pingTimer = this.interval(() => {
        safe(() => {
          if (c.stalled || c.closed || ws.readyState !== WebSocket.OPEN) return;
          c.pingOutstanding = true;
          // the pong deadline runs from the oldest unanswered ping
          if (c.pongDeadline === undefined) this.armPongDeadline(c);
          const payload = `${this.serverTime()}-${c.pingSeq++}`;
          c.pingPayloads.add(payload);
          ws.ping(Buffer.from(payload));
        });
      }, interval);
      c.lifeTimer = this.timer(() => this.closeConn(c, 1000, 'Max connection lifetime reached'), this.opts.maxConnectionLifetimeMs);
    });
  }

  private armPongDeadline(c: Conn): void {
    this.clearTimer(c.pongDeadline);
    c.pongDeadline = this.timer(() => {
      if (c.closed || c.stalled) return;
      this.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }, c.pongTimeoutMs);
  }

  // ---------------------------------------------------------------- futures stream control messages

  /** SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS of listenKeys on a `/private` connection. */
  private onFuturesMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (c.stalled || isBinary) return;
    let msg: unknown;
    try {
      msg = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
    } catch {
      this.send(c, { error: { code: 3, msg: 'Invalid JSON' }, id: null });
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.send(c, { error: { code: 2, msg: 'Invalid request' }, id: null });
      return;
    }
    const m = msg as Json;
    const id = typeof m.id === 'number' || typeof m.id === 'string' ? m.id : null;
    const params = Array.isArray(m.params) ? m.params.filter((x): x is string => typeof x === 'string') : [];
    switch (m.method) {
      case 'LIST_SUBSCRIPTIONS':
        this.send(c, { result: [...c.listenKeys], id });
        return;
      case 'SUBSCRIBE': {
        if (params.some((k) => !this.listenKeyMap.has(k))) {
          this.send(c, { error: { code: 2, msg: 'Invalid request: unknown listenKey' }, id });
          return;
        }
        for (const k of params) if (!c.listenKeys.includes(k)) c.listenKeys.push(k);
        this.send(c, { result: null, id });
        return;
      }
      case 'UNSUBSCRIBE':
        c.listenKeys = c.listenKeys.filter((k) => !params.includes(k));
        this.send(c, { result: null, id });
        return;
      default:
        this.send(c, { error: { code: 2, msg: 'Invalid request: unknown method' }, id });
    }
  }

  // ---------------------------------------------------------------- WS API

  private onWsApiMessage(c: Conn, data: RawData, isBinary: boolean): void {
    if (c.stalled) return;
    const text = isBinary ? '' : Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      msg = undefined;
    }
    const rec: RecordedRequest = { kind: 'ws-api', method: '', path: '/ws-api/v3', params: {}, at: Date.now(), status: 0 };
    this.record(rec);
    const respond = (id: unknown, status: number, body: { result?: unknown; error?: { code: number; msg: string } }, extra: Json = {}): void => {
      rec.status = status;
      if (body.error) rec.errorCode = body.error.code;
      const out: Json = { id: id ?? null, status };
      if (body.error) out.error = body.error;
      else out.result = body.result;
      Object.assign(out, extra);
      if (c.returnRateLimits) {
        out.rateLimits = [
          { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000, count: this.usedWeight('api') },
        ];
      }
      this.send(c, out);
    };
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      rec.method = '(malformed)';
      respond(null, 400, { error: { code: -1000, msg: 'Malformed request: invalid JSON.' } });
      return;
    }
    const m = msg as Json;
    const id = m.id;
    const method = typeof m.method === 'string' ? m.method : '';
    const params = typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params) ? (m.params as Json) : {};
    rec.method = method;
    rec.params = toParamRecord(params);
    if (typeof params.apiKey === 'string') rec.apiKey = params.apiKey;
    rec.weight = 2;
    this.addWeight('api', 2);
    if (!method) {
      respond(id, 400, { error: { code: -1102, msg: "Mandatory parameter 'method' was not sent, was empty/null, or malformed." } });
      return;
    }
    const fail = this.takeFailure('ws', method);
    if (fail) {
      const b = this.failureBody(fail);
      const extra: Json = {};
      if (fail.httpStatus === 429 || fail.httpStatus === 418) {
        extra.retryAfter = this.serverTime() + (fail.retryAfterSec ?? (fail.httpStatus === 418 ? 120 : 1)) * 1000;
      }
      const errBody: { code: number; msg: string; data?: Json } = { code: b.code, msg: b.msg };
      if (extra.retryAfter !== undefined) errBody.data = { retryAfter: extra.retryAfter };
      respond(id, fail.httpStatus, { error: errBody }, extra);
      return;
    }
    try {
      const result = this.wsApiMethod(c, method, params);
      respond(id, 200, { result });
    } catch (e) {
      if (e instanceof ApiError) respond(id, e.httpStatus, { error: { code: e.code, msg: e.message } });
      else respond(id, 500, { error: { code: -1000, msg: 'An unknown error occurred while processing the request.' } });
    }
  }

  private wsApiMethod(c: Conn, method: string, params: Json): unknown {
    switch (method) {
      case 'ping':
        return {};
      case 'time':
        return { serverTime: this.serverTime() };
      case 'session.subscriptions':
        return [...c.subs.values()].map((s) => ({ subscriptionId: s.id }));
      case 'session.status':
        return this.sessionInfo(c);
      case 'session.logon':
        return this.wsSessionLogon(c, params);
      case 'session.logout': {
        for (const s of [...c.subs.values()]) if (s.via === 'logon') this.endSub(c, s);
        c.logon = undefined;
        return this.sessionInfo(c);
      }
      case 'userDataStream.subscribe': {
        if (!c.logon) throw new ApiError(400, -1002, 'You are not authorized to execute this request.');
        const key = this.keys.get(c.logon.apiKey);
        if (!key || key.revoked) {
          c.logon = undefined;
          throw ERR.rejectedKey(401);
        }
        this.assertNotSubscribed(c, key.accountId);
        const sid = this.newSubId(c);
        c.subs.set(sid, { id: sid, accountId: key.accountId, market: 'spot', via: 'logon' });
        return { subscriptionId: sid };
      }
      case 'userDataStream.subscribe.signature':
        return this.wsSubscribeSignature(c, params);
      case 'userDataStream.subscribe.listenToken':
        return this.wsSubscribeListenToken(c, params);
      case 'userDataStream.unsubscribe': {
        if (params.subscriptionId !== undefined && params.subscriptionId !== null) {
          const s = c.subs.get(Number(params.subscriptionId));
          if (!s) throw new ApiError(400, -2036, 'User Data Stream subscription not active.');
          this.endSub(c, s);
        } else {
          for (const s of [...c.subs.values()]) this.endSub(c, s);
        }
        return {};
      }
      case 'account.status':
      case 'openOrders.status':
      case 'myTrades':
      case 'allOrders': {
        const key = this.wsAuth(c, params);
        const p = toParamRecord(params);
        if (method === 'account.status') return this.restSpotAccount(key, p);
        if (method === 'openOrders.status') return this.restOpenOrders(key, 'spot', p);
        if (method === 'myTrades') return this.restMyTrades(key, 'spot', p);
        return this.allOrdersOf(key.accountId, 'spot', p).map((o) => this.spotOrderJson(o, 'spot'));
      }
      default:
        throw new ApiError(400, -1100, `Unknown method '${method.slice(0, 64)}'.`);
    }
  }

  private newSubId(c: Conn): number {
    if (c.nextSubId >= 65_535) throw new ApiError(400, -2042, 'Maximum subscription ID reached for this connection.');
    if (c.subs.size >= 1000) throw new ApiError(400, -2039, 'Maximum active subscriptions reached for this connection.');
    return c.nextSubId++;
  }

  /** Authenticate a signed WS-API request: its own signature, or the session's Ed25519 logon. */
  private wsAuth(c: Conn, params: Json, allowLogon = true): KeyRec {
    const signed = params.signature !== undefined || params.apiKey !== undefined || !allowLogon || !c.logon;
    if (signed) {
      for (const p of ['apiKey', 'timestamp', 'signature']) {
        if (params[p] === undefined || params[p] === null || params[p] === '') throw ERR.mandatory(p);
      }
      const key = this.keys.get(String(params.apiKey));
      if (!key || key.revoked) throw ERR.rejectedKey(400);
      if (!verifySignature(key, wsApiSigningPayload(params), String(params.signature))) throw ERR.badSig();
      this.checkTiming(params.timestamp, params.recvWindow);
      return key;
    }
    const key = this.keys.get(c.logon!.apiKey);
    if (!key || key.revoked) {
      c.logon = undefined;
      throw ERR.rejectedKey(401);
    }
    this.checkTiming(params.timestamp, params.recvWindow);
    return key;
  }

  private wsSubscribeSignature(c: Conn, params: Json): unknown {
    const key = this.wsAuth(c, params, false);
    this.assertNotSubscribed(c, key.accountId);
    const id = this.newSubId(c);
    c.subs.set(id, { id, accountId: key.accountId, market: 'spot', via: 'signature' });
    return { subscriptionId: id };
  }

  private assertNotSubscribed(c: Conn, accountId: string): void {
    for (const s of c.subs.values()) {
      if (s.via !== 'listenToken' && s.accountId === accountId) {
        throw new ApiError(400, -2035, 'User Data Stream subscription already active.');
      }
    }
  }

  private sessionInfo(c: Conn): Json {
    return {
      apiKey: c.logon?.apiKey ?? null,
      authorizedSince: c.logon?.since ?? null,
      connectedSince: c.openedAt,
      returnRateLimits: c.returnRateLimits,
      serverTime: this.serverTime(),
      userDataStream: c.subs.size > 0,
    };
  }

  /** session.logon: signed like subscribe.signature, Ed25519 keys only (reference §1.2). */
  private wsSessionLogon(c: Conn, params: Json): unknown {
    for (const p of ['apiKey', 'timestamp', 'signature']) {
      if (params[p] === undefined || params[p] === null || params[p] === '') throw ERR.mandatory(p);
    }
    const key = this.keys.get(String(params.apiKey));
    if (!key || key.revoked) throw ERR.rejectedKey(400);
    // "Only Ed25519 keys are supported for this feature" (web-socket-api.md, session.logon,
    // binance-spot-api-docs a5e0bc3, 2026-07-21). The code Binance answers with is -2028 (issue 13);
    // errors.md of that snapshot does not list it, the message here is ours.
    if (key.keyType !== 'ed25519') throw new ApiError(400, -2028, 'Only Ed25519 API keys are supported for session.logon.');
    if (!verifySignature(key, wsApiSigningPayload(params), String(params.signature))) throw ERR.badSig();
    this.checkTiming(params.timestamp, params.recvWindow);
    c.logon = { apiKey: key.apiKey, accountId: key.accountId, since: this.serverTime() };
    return this.sessionInfo(c);
  }

  private wsSubscribeListenToken(c: Conn, params: Json): unknown {
    const token = params.listenToken;
    if (typeof token !== 'string' || token === '') throw ERR.mandatory('listenToken');
    const tok = this.listenTokens.get(token);
    if (!tok || tok.revoked || tok.expiresAt <= this.serverTime()) throw ERR.badToken();
    // A fresh token of the same account+scope replaces the existing subscription seamlessly.
    for (const s of [...c.subs.values()]) {
      if (s.via === 'listenToken' && s.accountId === tok.accountId && s.market === tok.market && s.symbol === tok.symbol) {
        this.clearTimer(s.timer);
        c.subs.delete(s.id);
      }
    }
    const id = this.newSubId(c);
    const sub: WsSub = {
      id,
      accountId: tok.accountId,
      market: tok.market,
      symbol: tok.symbol,
      via: 'listenToken',
      token,
      expiresAt: tok.expiresAt,
    };
    sub.timer = this.timer(() => {
      if (c.subs.get(id) === sub) this.endSub(c, sub);
    }, Math.max(0, tok.expiresAt - this.serverTime()));
    c.subs.set(id, sub);
    return { subscriptionId: id, expirationTime: tok.expiresAt };
  }

  // ---------------------------------------------------------------- trading

  private nextTradeId(a: Account, market: SimMarket): number {
    const n = (a.tradeSeq.get(market) ?? 5000) + 1;
    a.tradeSeq.set(market, n);
    return n;
  }

  private spotBook(a: Account, market: SpotLike, symbol: string): Map<string, Balance> {
    if (market === 'spot') return a.spot;
    if (market === 'margin') return a.margin;
    return this.isolatedBook(a, symbol);
  }

  private bal(book: Map<string, Balance>, asset: string): Balance {
    let b = book.get(asset);
    if (!b) {
      b = { free: 0n, locked: 0n };
      book.set(asset, b);
    }
    return b;
  }

  private marginAsset(market: FuturesMarket, symbol: string): string {
    const { base, quote } = splitSymbol(symbol);
    return market === 'usdm-futures' ? quote : base;
  }

  private snapshot(o: OrderRec): SimOrder {
    const fut = isFutures(o.market);
    const f = fut ? fmtTrim : (x: bigint) => fmt(x, SPOT_DECIMALS);
    const s: SimOrder = {
      orderId: o.orderId,
      clientOrderId: o.clientOrderId,
      symbol: o.symbol,
      market: o.market,
      accountId: o.accountId,
      side: o.side,
      status: o.status,
      type: o.type,
      timeInForce: o.tif,
      price: f(o.price),
      origQty: f(o.qty),
      executedQty: f(o.executed),
      cumQuote: f(o.cumQuote),
      stopPrice: f(o.stopPrice),
      time: o.time,
      updateTime: o.updateTime,
    };
    if (fut) {
      s.positionSide = o.positionSide;
      s.reduceOnly = o.reduceOnly;
    }
    return s;
  }

  /** Current state of an order (snapshot). */
  getOrder(orderId: number): SimOrder | undefined {
    const o = this.orders.get(orderId);
    return o ? this.snapshot(o) : undefined;
  }

  /** Balances of a spot-like book as strings (free/locked), or futures wallet balances. */
  balances(accountId: string, market: SimMarket, symbol?: string): Record<string, { free: string; locked: string }> {
    const a = this.account(accountId);
    const out: Record<string, { free: string; locked: string }> = {};
    if (isFutures(market)) {
      for (const [asset, wb] of a.futures[market].wallet) out[asset] = { free: fmt(wb), locked: fmt(0n) };
      return out;
    }
    if (market === 'isolated-margin' && !symbol) throw new Error('symbol required for isolated-margin');
    for (const [asset, b] of this.spotBook(a, market, symbol ?? '')) out[asset] = { free: fmt(b.free), locked: fmt(b.locked) };
    return out;
  }

  /** Futures positions of an account (strings). */
  positions(accountId: string, market: FuturesMarket): Array<{ symbol: string; positionSide: string; positionAmt: string; entryPrice: string }> {
    const a = this.account(accountId);
    return [...a.futures[market].positions.values()].map((p) => ({
      symbol: p.symbol,
      positionSide: p.positionSide,
      positionAmt: fmtTrim(p.amt),
      entryPrice: fmtTrim(p.entry),
    }));
  }

  private avgPrice(o: OrderRec): bigint {
    if (o.executed === 0n) return 0n;
    if (o.market === 'coinm-futures') {
      // cumQuote holds the cumulative base quantity for COIN-M: avg = qty*cs / base
      return div(mul(o.executed, coinmContractSize(o.symbol)), o.cumQuote);
    }
    return div(o.cumQuote, o.executed);
  }

  placeOrder(
    accountId: string,
    o: {
      market: SimMarket;
      symbol: string;
      side: 'BUY' | 'SELL';
      type?: string;
      quantity: string;
      price?: string;
      timeInForce?: string;
      clientOrderId?: string;
      positionSide?: 'BOTH' | 'LONG' | 'SHORT';
      reduceOnly?: boolean;
      stopPrice?: string;
      /** Futures: the original order type shown as `ot` / `origType` (e.g. STOP_MARKET of a triggered algo order). */
      origType?: string;
    },
  ): SimOrder {
    const a = this.account(accountId);
    const symbol = o.symbol.toUpperCase();
    const type = (o.type ?? (o.price !== undefined ? 'LIMIT' : 'MARKET')).toUpperCase();
    const qty = dec(o.quantity);
    if (qty <= 0n) throw new Error('quantity must be positive');
    const price = o.price !== undefined ? dec(o.price) : 0n;
    if (type === 'LIMIT' && price <= 0n) throw new Error('LIMIT order needs a price');
    const now = this.serverTime();
    const rec: OrderRec = {
      orderId: this.nextOrderId++,
      clientOrderId: o.clientOrderId ?? randomAlnum(22),
      accountId,
      market: o.market,
      symbol,
      side: o.side,
      type,
      tif: o.timeInForce ?? 'GTC',
      price,
      stopPrice: o.stopPrice !== undefined ? dec(o.stopPrice) : 0n,
      qty,
      executed: 0n,
      cumQuote: 0n,
      lockedRemaining: 0n,
      status: 'NEW',
      positionSide: o.positionSide ?? 'BOTH',
      reduceOnly: o.reduceOnly ?? false,
      origType: isFutures(o.market) && o.origType !== undefined ? o.origType.toUpperCase() : undefined,
      time: now,
      updateTime: now,
    };
    if (isSpotLike(o.market)) {
      const book = this.spotBook(a, o.market, symbol);
      const { base, quote } = splitSymbol(symbol);
      let changed: string | undefined;
      if (rec.side === 'BUY' && price > 0n) {
        const need = mul(qty, price);
        const b = this.bal(book, quote);
        if (b.free < need) throw new Error(`insufficient ${quote} balance`);
        b.free -= need;
        b.locked += need;
        rec.lockedRemaining = need;
        changed = quote;
      } else if (rec.side === 'SELL') {
        const b = this.bal(book, base);
        if (b.free < qty) throw new Error(`insufficient ${base} balance`);
        b.free -= qty;
        b.locked += qty;
        rec.lockedRemaining = qty;
        changed = base;
      }
      this.orders.set(rec.orderId, rec);
      this.emitSpot(accountId, o.market, symbol, this.executionReport(rec, 'NEW', now));
      if (changed) this.emitAccountPosition(a, o.market, symbol, [changed], now);
    } else {
      this.orders.set(rec.orderId, rec);
      this.emitFutures(accountId, o.market as FuturesMarket, this.orderTradeUpdate(rec, 'NEW', now));
    }
    return this.snapshot(rec);
  }

  private emitAccountPosition(a: Account, market: SpotLike, symbol: string | undefined, assets: string[], now: number): void {
    a.updatedAt = now;
    const book = this.spotBook(a, market, symbol ?? '');
    const uniq = [...new Set(assets)];
    this.emitSpot(a.id, market, symbol, {
      e: 'outboundAccountPosition',
      E: now,
      u: now,
      B: uniq.map((asset) => {
        const b = this.bal(book, asset);
        return { a: asset, f: fmt(b.free), l: fmt(b.locked) };
      }),
    });
  }

  private executionReport(
    o: OrderRec,
    x: string,
    now: number,
    t?: { trade: SimTrade; execId: number; lastQty: bigint; lastPrice: bigint; lastQuote: bigint; commission: bigint },
    extra: { cancelClientOrderId?: string; expiryReason?: string } = {},
  ): Json {
    const onBook = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED';
    return {
      e: 'executionReport',
      E: now,
      s: o.symbol,
      c: extra.cancelClientOrderId ?? o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.tif,
      q: fmt(o.qty),
      p: fmt(o.price),
      P: fmt(o.stopPrice),
      F: fmt(0n),
      g: -1,
      C: extra.cancelClientOrderId ? o.clientOrderId : '',
      x,
      X: o.status,
      r: 'NONE',
      i: o.orderId,
      l: fmt(t ? t.lastQty : 0n),
      z: fmt(o.executed),
      L: fmt(t ? t.lastPrice : 0n),
      n: fmt(t ? t.commission : 0n),
      N: t ? t.trade.commissionAsset : null,
      T: now,
      t: t ? t.trade.tradeId : -1,
      I: this.nextExecId++,
      w: onBook,
      m: t ? t.trade.isMaker : false,
      M: false,
      O: o.time,
      Z: fmt(o.cumQuote),
      Y: fmt(t ? t.lastQuote : 0n),
      Q: fmt(0n),
      W: o.time,
      V: 'EXPIRE_MAKER',
      eR: extra.expiryReason ?? 'NONE',
    };
  }

  private orderTradeUpdate(
    o: OrderRec,
    x: string,
    now: number,
    t?: { trade: SimTrade; lastQty: bigint; lastPrice: bigint; commission: bigint; realized: bigint },
    extra: { expiryReason?: string } = {},
  ): Json {
    const inner: Json = {
      s: o.symbol,
      c: o.clientOrderId,
      S: o.side,
      o: o.type,
      f: o.tif,
      q: fmtTrim(o.qty),
      p: fmtTrim(o.price),
      ap: fmtTrim(this.avgPrice(o)),
      sp: fmtTrim(o.stopPrice),
      x,
      X: o.status,
      i: o.orderId,
      l: fmtTrim(t ? t.lastQty : 0n),
      z: fmtTrim(o.executed),
      L: fmtTrim(t ? t.lastPrice : 0n),
    };
    if (t) {
      inner.N = t.trade.commissionAsset;
      inner.n = fmtTrim(t.commission);
    }
    const remaining = o.status === 'NEW' || o.status === 'PARTIALLY_FILLED' ? o.qty - o.executed : 0n;
    Object.assign(inner, {
      T: now,
      t: t ? t.trade.tradeId : 0,
      b: fmtTrim(o.side === 'BUY' ? mul(remaining, o.price) : 0n),
      a: fmtTrim(o.side === 'SELL' ? mul(remaining, o.price) : 0n),
      m: t ? t.trade.isMaker : false,
      R: o.reduceOnly,
      wt: 'CONTRACT_PRICE',
      ot: o.origType ?? o.type,
      ps: o.positionSide,
      cp: false,
      rp: fmtTrim(t ? t.realized : 0n),
      pP: false,
      si: 0,
      ss: 0,
      V: 'EXPIRE_MAKER',
      pm: 'NONE',
      gtd: 0,
      er: extra.expiryReason ?? '0',
    });
    return { e: 'ORDER_TRADE_UPDATE', E: now, T: now, o: inner };
  }

  fillOrder(orderId: number, f: { quantity: string; price?: string; maker?: boolean }): SimTrade {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`unknown order ${orderId}`);
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw new Error(`order ${orderId} is ${o.status}`);
    const a = this.account(o.accountId);
    const qty = dec(f.quantity);
    if (qty <= 0n || qty > o.qty - o.executed) throw new Error('fill quantity must be > 0 and ≤ the remaining quantity');
    const price = f.price !== undefined ? dec(f.price) : o.price;
    if (price <= 0n) throw new Error('fill price required for an order without price');
    const maker = f.maker ?? o.type === 'LIMIT';
    const now = this.serverTime();
    const tradeId = this.nextTradeId(a, o.market);
    const { base, quote } = splitSymbol(o.symbol);
    const last = o.executed + qty === o.qty;

    if (isSpotLike(o.market)) {
      const book = this.spotBook(a, o.market, o.symbol);
      const quoteQty = mul(qty, price);
      let commission: bigint;
      let commissionAsset: string;
      const qb = this.bal(book, quote);
      const bb = this.bal(book, base);
      if (o.side === 'BUY') {
        commission = mul(qty, dec('0.001'));
        commissionAsset = base;
        if (o.price > 0n) {
          const release = last ? o.lockedRemaining : mul(qty, o.price);
          o.lockedRemaining -= release;
          qb.locked -= release;
          qb.free += release - quoteQty;
        } else {
          if (qb.free < quoteQty) throw new Error(`insufficient ${quote} balance`);
          qb.free -= quoteQty;
        }
        bb.free += qty - commission;
      } else {
        commission = mul(quoteQty, dec('0.001'));
        commissionAsset = quote;
        const release = last ? o.lockedRemaining : qty;
        o.lockedRemaining -= release;
        bb.locked -= release;
        bb.free += release - qty;
        qb.free += quoteQty - commission;
      }
      o.executed += qty;
      o.cumQuote += quoteQty;
      o.status = last ? 'FILLED' : 'PARTIALLY_FILLED';
      o.updateTime = now;
      const trade: SimTrade = {
        tradeId,
        orderId,
        symbol: o.symbol,
        market: o.market,
        quantity: fmt(qty),
        price: fmt(price),
        commission: fmt(commission),
        commissionAsset,
        isMaker: maker,
        time: now,
        accountId: o.accountId,
        side: o.side,
        quoteQty: fmt(quoteQty),
        realizedPnl: '0',
      };
      this.tradeLog.push(trade);
      const er = this.executionReport(o, 'TRADE', now, {
        trade,
        execId: 0,
        lastQty: qty,
        lastPrice: price,
        lastQuote: quoteQty,
        commission,
      });
      this.emitSpot(o.accountId, o.market, o.symbol, er);
      this.emitAccountPosition(a, o.market, o.symbol, [base, quote], now);
      return { ...trade };
    }

    const market = o.market as FuturesMarket;
    const fb = a.futures[market];
    const asset = this.marginAsset(market, o.symbol);
    const cs = coinmContractSize(o.symbol);
    const notional = market === 'usdm-futures' ? mul(qty, price) : div(mul(qty, cs), price);
    const commission = mul(notional, dec(maker ? '0.0002' : '0.0005'));
    // position
    const pkey = `${o.symbol}|${o.positionSide}`;
    let pos = fb.positions.get(pkey);
    if (!pos) {
      pos = { symbol: o.symbol, positionSide: o.positionSide, amt: 0n, entry: 0n, realized: 0n };
      fb.positions.set(pkey, pos);
    }
    const delta = o.side === 'BUY' ? qty : -qty;
    let realized = 0n;
    if (pos.amt === 0n || pos.amt > 0n === delta > 0n) {
      const absAmt = abs(pos.amt);
      pos.entry = div(mul(absAmt, pos.entry) + mul(qty, price), absAmt + qty);
      pos.amt += delta;
    } else {
      const closeQty = min(abs(pos.amt), qty);
      const sign = pos.amt > 0n ? 1n : -1n;
      if (market === 'usdm-futures') {
        realized = mul(price - pos.entry, closeQty) * sign;
      } else {
        const n = mul(closeQty, cs);
        realized = (div(n, pos.entry) - div(n, price)) * sign;
      }
      pos.amt += delta;
      if (pos.amt === 0n) pos.entry = 0n;
      else if (pos.amt > 0n !== sign > 0n) pos.entry = price;
    }
    pos.realized += realized;
    fb.marks.set(o.symbol, price);
    fb.wallet.set(asset, (fb.wallet.get(asset) ?? 0n) + realized - commission);
    o.executed += qty;
    o.cumQuote += notional;
    o.status = last ? 'FILLED' : 'PARTIALLY_FILLED';
    o.updateTime = now;
    const trade: SimTrade = {
      tradeId,
      orderId,
      symbol: o.symbol,
      market: o.market,
      quantity: fmtTrim(qty),
      price: fmtTrim(price),
      commission: fmt(commission),
      commissionAsset: asset,
      isMaker: maker,
      time: now,
      accountId: o.accountId,
      side: o.side,
      quoteQty: fmtTrim(notional),
      realizedPnl: fmtTrim(realized),
      positionSide: o.positionSide,
    };
    this.tradeLog.push(trade);
    this.emitFutures(
      o.accountId,
      market,
      this.orderTradeUpdate(o, 'TRADE', now, { trade, lastQty: qty, lastPrice: price, commission, realized }),
    );
    this.emitFutures(o.accountId, market, {
      e: 'TRADE_LITE',
      E: now,
      T: now,
      s: o.symbol,
      q: fmtTrim(o.qty),
      p: fmtTrim(o.price),
      m: maker,
      c: o.clientOrderId,
      S: o.side,
      L: fmtTrim(price),
      l: fmtTrim(qty),
      t: tradeId,
      i: orderId,
    });
    const positions = market === 'coinm-futures' ? [...fb.positions.values()] : [pos];
    this.emitFutures(o.accountId, market, this.accountUpdate(a, market, 'ORDER', [{ asset, change: 0n }], positions, now));
    if (last) this.finishAlgoOf(o, now);
    return { ...trade };
  }

  private accountUpdate(
    a: Account,
    market: FuturesMarket,
    reason: string,
    balances: Array<{ asset: string; change: bigint }>,
    positions: Position[],
    now: number,
  ): Json {
    const fb = a.futures[market];
    const inner: Json = {
      m: reason,
      B: balances.map((b) => {
        const wb = fb.wallet.get(b.asset) ?? 0n;
        return { a: b.asset, wb: fmtTrim(wb), cw: fmtTrim(wb), bc: fmtTrim(b.change) };
      }),
      P: positions.map((p) => ({
        s: p.symbol,
        pa: fmtTrim(p.amt),
        ep: fmtTrim(p.entry),
        bep: fmtTrim(p.entry),
        cr: fmtTrim(p.realized),
        up: fmtTrim(this.unrealized(market, fb, p)),
        mt: 'cross',
        iw: '0',
        ps: p.positionSide,
      })),
    };
    const ev: Json = { e: 'ACCOUNT_UPDATE', E: now, T: now };
    if (market === 'coinm-futures') ev.i = `sim${a.uid}`;
    ev.a = inner;
    return ev;
  }

  private endOrder(orderId: number, status: 'CANCELED' | 'EXPIRED', expiryReason?: string): void {
    const o = this.orders.get(orderId);
    if (!o) throw new Error(`unknown order ${orderId}`);
    if (o.status !== 'NEW' && o.status !== 'PARTIALLY_FILLED') throw new Error(`order ${orderId} is ${o.status}`);
    const a = this.account(o.accountId);
    const now = this.serverTime();
    o.status = status;
    o.updateTime = now;
    if (isSpotLike(o.market)) {
      const book = this.spotBook(a, o.market, o.symbol);
      const { base, quote } = splitSymbol(o.symbol);
      const asset = o.side === 'BUY' ? quote : base;
      const released = o.lockedRemaining;
      if (released > 0n) {
        const b = this.bal(book, asset);
        b.locked -= released;
        b.free += released;
        o.lockedRemaining = 0n;
      }
      const er =
        status === 'CANCELED'
          ? this.executionReport(o, 'CANCELED', now, undefined, { cancelClientOrderId: randomAlnum(22) })
          : this.executionReport(o, 'EXPIRED', now, undefined, {
              expiryReason:
                expiryReason ??
                (o.tif === 'IOC' ? 'UNFILLED_IOC_QUANTITY_EXPIRED' : o.tif === 'FOK' ? 'UNFILLED_FOK_ORDER_EXPIRED' : 'EXCHANGE_CANCELED'),
            });
      this.emitSpot(o.accountId, o.market, o.symbol, er);
      if (released > 0n) this.emitAccountPosition(a, o.market, o.symbol, [asset], now);
    } else {
      const er = status === 'EXPIRED' ? { expiryReason: expiryReason ?? (o.tif === 'IOC' ? '2' : '0') } : {};
      this.emitFutures(o.accountId, o.market as FuturesMarket, this.orderTradeUpdate(o, status, now, undefined, er));
      this.finishAlgoOf(o, now);
    }
  }

  cancelOrder(orderId: number): void {
    this.endOrder(orderId, 'CANCELED');
  }

  expireOrder(orderId: number, expiryReason?: string): void {
    this.endOrder(orderId, 'EXPIRED', expiryReason);
  }

  // ---------------------------------------------------------------- algo (conditional) orders, USDⓈ-M

  /** The order type the matching engine gets when a conditional order triggers. */
  private static actualType(algoType: string): string {
    return algoType === 'STOP' || algoType === 'TAKE_PROFIT' ? 'LIMIT' : 'MARKET';
  }

  private algoSnapshot(r: AlgoRec): SimAlgoOrder {
    const s: SimAlgoOrder = {
      algoId: r.algoId,
      clientAlgoId: r.clientAlgoId,
      accountId: r.accountId,
      symbol: r.symbol,
      side: r.side,
      positionSide: r.positionSide,
      orderType: r.type,
      timeInForce: r.tif,
      quantity: fmtTrim(r.qty),
      price: fmtTrim(r.price),
      triggerPrice: fmtTrim(r.triggerPrice),
      algoStatus: r.status,
      createTime: r.createTime,
      updateTime: r.updateTime,
      triggerTime: r.triggerTime,
    };
    if (r.actualOrderId !== undefined) s.actualOrderId = r.actualOrderId;
    return s;
  }

  /** Executed quantity and average price of the order a triggered algo order placed. */
  private algoExecution(r: AlgoRec): { qty: bigint; avg: bigint } {
    const o = r.actualOrderId !== undefined ? this.orders.get(r.actualOrderId) : undefined;
    return o ? { qty: o.executed, avg: this.avgPrice(o) } : { qty: 0n, avg: 0n };
  }

  /** REST row of GET /fapi/v1/algoOrder and /fapi/v1/openAlgoOrders. */
  private algoOrderJson(r: AlgoRec): Json {
    const ex = this.algoExecution(r);
    return {
      algoId: r.algoId,
      clientAlgoId: r.clientAlgoId,
      algoType: 'CONDITIONAL',
      orderType: r.type,
      symbol: r.symbol,
      side: r.side,
      positionSide: r.positionSide,
      timeInForce: r.tif,
      quantity: fmtTrim(r.qty),
      algoStatus: r.status,
      actualOrderId: r.actualOrderId !== undefined ? String(r.actualOrderId) : '',
      actualPrice: fmtTrim(ex.avg),
      triggerPrice: fmtTrim(r.triggerPrice),
      price: fmtTrim(r.price),
      icebergQuantity: null,
      tpTriggerPrice: '0',
      tpPrice: '0',
      slTriggerPrice: '0',
      slPrice: '0',
      tpOrderType: '',
      selfTradePreventionMode: 'EXPIRE_MAKER',
      workingType: r.workingType,
      priceMatch: 'NONE',
      closePosition: r.closePosition,
      priceProtect: r.priceProtect,
      reduceOnly: r.reduceOnly,
      createTime: r.createTime,
      updateTime: r.updateTime,
      triggerTime: r.triggerTime,
      goodTillDate: 0,
    };
  }

  /** ALGO_UPDATE event (reference §4.4). */
  private algoUpdate(r: AlgoRec, now: number, rejectReason = ''): Json {
    const ex = this.algoExecution(r);
    return {
      e: 'ALGO_UPDATE',
      E: now,
      T: now,
      o: {
        caid: r.clientAlgoId,
        aid: r.algoId,
        at: 'CONDITIONAL',
        o: r.type,
        s: r.symbol,
        S: r.side,
        ps: r.positionSide,
        f: r.tif,
        q: fmtTrim(r.qty),
        X: r.status,
        ai: r.actualOrderId !== undefined ? String(r.actualOrderId) : '',
        ap: fmtTrim(ex.avg),
        aq: fmtTrim(ex.qty),
        act: BinanceSimulator.actualType(r.type),
        tp: fmtTrim(r.triggerPrice),
        p: fmtTrim(r.price),
        V: 'EXPIRE_MAKER',
        wt: r.workingType,
        pm: 'NONE',
        cp: r.closePosition,
        pP: r.priceProtect,
        R: r.reduceOnly,
        tt: r.triggerTime,
        gtd: 0,
        rm: rejectReason,
      },
    };
  }

  private setAlgoStatus(r: AlgoRec, status: AlgoStatus, now: number): void {
    r.status = status;
    r.updateTime = now;
    this.emitFutures(r.accountId, r.market, this.algoUpdate(r, now));
  }

  private algoRec(algoId: number): AlgoRec {
    const r = this.algoOrders.get(algoId);
    if (!r) throw new Error(`unknown algo order ${algoId}`);
    return r;
  }

  /** A triggered algo order whose order left the book (filled, canceled, expired) is FINISHED. */
  private finishAlgoOf(o: OrderRec, now: number): void {
    if (!isFutures(o.market)) return;
    for (const r of this.algoOrders.values()) {
      if (r.actualOrderId === o.orderId && r.status === 'TRIGGERED') this.setAlgoStatus(r, 'FINISHED', now);
    }
  }

  private queryAlgoOrder(k: KeyRec, market: FuturesMarket, p: Record<string, string>): AlgoRec {
    const hasId = p.algoId !== undefined && p.algoId !== '';
    const hasClient = p.clientAlgoId !== undefined && p.clientAlgoId !== '';
    if (!hasId && !hasClient) throw ERR.orderIdOrClientId('clientAlgoId', 'algoId');
    let r: AlgoRec | undefined;
    if (hasId) {
      const id = Number(p.algoId);
      if (!Number.isSafeInteger(id)) throw ERR.badParam('algoId');
      r = this.algoOrders.get(id);
    } else {
      r = [...this.algoOrders.values()].find((x) => x.accountId === k.accountId && x.clientAlgoId === p.clientAlgoId);
    }
    if (!r || r.accountId !== k.accountId || r.market !== market) throw ERR.noOrder();
    return r;
  }

  /** GET /fapi/v1/openAlgoOrders: algo orders not yet triggered (NEW), optionally of one symbol / algoId. */
  private restOpenAlgoOrders(k: KeyRec, market: FuturesMarket, p: Record<string, string>): unknown {
    const symbol = p.symbol?.toUpperCase();
    if (p.algoType !== undefined && p.algoType !== '' && p.algoType !== 'CONDITIONAL') throw ERR.badParam('algoType');
    const algoId = p.algoId !== undefined && p.algoId !== '' ? Number(p.algoId) : undefined;
    return [...this.algoOrders.values()]
      .filter(
        (r) =>
          r.accountId === k.accountId &&
          r.market === market &&
          r.status === 'NEW' &&
          (!symbol || r.symbol === symbol) &&
          (algoId === undefined || r.algoId === algoId),
      )
      .sort((a, b) => a.algoId - b.algoId)
      .map((r) => this.algoOrderJson(r));
  }

  /**
   * Places a USDⓈ-M conditional order in the simulated Algo Service (not the order book): it shows
   * in GET /fapi/v1/openAlgoOrders and /fapi/v1/algoOrder, and ALGO_UPDATE (NEW) is pushed.
   */
  placeAlgoOrder(
    accountId: string,
    o: {
      symbol: string;
      side: 'BUY' | 'SELL';
      /** STOP_MARKET (default), TAKE_PROFIT_MARKET, STOP, TAKE_PROFIT, TRAILING_STOP_MARKET. */
      type?: string;
      quantity: string;
      triggerPrice: string;
      /** Limit price of STOP / TAKE_PROFIT. */
      price?: string;
      timeInForce?: string;
      positionSide?: 'BOTH' | 'LONG' | 'SHORT';
      reduceOnly?: boolean;
      closePosition?: boolean;
      priceProtect?: boolean;
      workingType?: 'CONTRACT_PRICE' | 'MARK_PRICE';
      clientAlgoId?: string;
      /** 'usdm-futures' (default) or 'coinm-futures' (COIN-M algo orders, CM-UM Integration Notice §C.5). */
      market?: FuturesMarket;
    },
  ): SimAlgoOrder {
    this.account(accountId);
    const market: FuturesMarket = o.market ?? 'usdm-futures';
    const type = (o.type ?? 'STOP_MARKET').toUpperCase();
    if (!['STOP_MARKET', 'TAKE_PROFIT_MARKET', 'STOP', 'TAKE_PROFIT', 'TRAILING_STOP_MARKET'].includes(type)) {
      throw new Error(`unsupported algo order type ${type}`);
    }
    const qty = dec(o.quantity);
    if (qty <= 0n) throw new Error('quantity must be positive');
    const triggerPrice = dec(o.triggerPrice);
    if (triggerPrice <= 0n) throw new Error('triggerPrice must be positive');
    const price = o.price !== undefined ? dec(o.price) : 0n;
    if (BinanceSimulator.actualType(type) === 'LIMIT' && price <= 0n) throw new Error(`${type} needs a price`);
    const now = this.serverTime();
    const r: AlgoRec = {
      algoId: this.nextAlgoId++,
      clientAlgoId: o.clientAlgoId ?? randomAlnum(22),
      accountId,
      market,
      symbol: o.symbol.toUpperCase(),
      side: o.side,
      positionSide: o.positionSide ?? 'BOTH',
      type,
      tif: o.timeInForce ?? 'GTC',
      qty,
      price,
      triggerPrice,
      workingType: o.workingType ?? 'CONTRACT_PRICE',
      reduceOnly: o.reduceOnly ?? false,
      closePosition: o.closePosition ?? false,
      priceProtect: o.priceProtect ?? false,
      status: 'NEW',
      createTime: now,
      updateTime: now,
      triggerTime: 0,
    };
    this.algoOrders.set(r.algoId, r);
    this.emitFutures(accountId, market, this.algoUpdate(r, now));
    return this.algoSnapshot(r);
  }

  /**
   * Triggers a NEW algo order: ALGO_UPDATE TRIGGERING, the order enters the book (ORDER_TRADE_UPDATE
   * NEW, `ot` = the algo type), ALGO_UPDATE TRIGGERED with `ai` = its orderId. With `fillPrice` the
   * order is then filled completely, which finishes the algo order (ALGO_UPDATE FINISHED).
   */
  triggerAlgoOrder(algoId: number, opts: { fillPrice?: string } = {}): { algo: SimAlgoOrder; order: SimOrder } {
    const r = this.algoRec(algoId);
    if (r.status !== 'NEW') throw new Error(`algo order ${algoId} is ${r.status}`);
    const now = this.serverTime();
    r.triggerTime = now;
    this.setAlgoStatus(r, 'TRIGGERING', now);
    const actual = BinanceSimulator.actualType(r.type);
    const order = this.placeOrder(r.accountId, {
      market: r.market,
      symbol: r.symbol,
      side: r.side,
      type: actual,
      quantity: fmtTrim(r.qty),
      price: actual === 'LIMIT' ? fmtTrim(r.price) : undefined,
      timeInForce: r.tif,
      clientOrderId: r.clientAlgoId,
      positionSide: r.positionSide as 'BOTH' | 'LONG' | 'SHORT',
      reduceOnly: r.reduceOnly,
      stopPrice: fmtTrim(r.triggerPrice),
      origType: r.type,
    });
    r.actualOrderId = order.orderId;
    this.setAlgoStatus(r, 'TRIGGERED', now);
    if (opts.fillPrice !== undefined) this.fillOrder(order.orderId, { quantity: order.origQty, price: opts.fillPrice, maker: false });
    return { algo: this.algoSnapshot(r), order: this.getOrder(order.orderId)! };
  }

  /** Cancels a NEW algo order (ALGO_UPDATE CANCELED). */
  cancelAlgoOrder(algoId: number): SimAlgoOrder {
    const r = this.algoRec(algoId);
    if (r.status !== 'NEW') throw new Error(`algo order ${algoId} is ${r.status}`);
    this.setAlgoStatus(r, 'CANCELED', this.serverTime());
    return this.algoSnapshot(r);
  }

  /** Current state of an algo order (snapshot). */
  getAlgoOrder(algoId: number): SimAlgoOrder | undefined {
    const r = this.algoOrders.get(algoId);
    return r ? this.algoSnapshot(r) : undefined;
  }

  runOrderLifecycle(
    accountId: string,
    o: {
      market: SimMarket;
      symbol: string;
      side: 'BUY' | 'SELL';
      quantity: string;
      price: string;
      fills?: string[];
      outcome?: 'filled' | 'canceled' | 'expired';
    },
  ): { order: SimOrder; trades: SimTrade[] } {
    const outcome = o.outcome ?? 'filled';
    const placed = this.placeOrder(accountId, {
      market: o.market,
      symbol: o.symbol,
      side: o.side,
      type: 'LIMIT',
      quantity: o.quantity,
      price: o.price,
    });
    const trades: SimTrade[] = [];
    const total = dec(o.quantity);
    let done = 0n;
    for (const q of o.fills ?? []) {
      trades.push(this.fillOrder(placed.orderId, { quantity: q }));
      done += dec(q);
    }
    if (outcome === 'filled' && done < total) {
      trades.push(this.fillOrder(placed.orderId, { quantity: fmt(total - done) }));
    } else if (outcome === 'canceled') {
      this.cancelOrder(placed.orderId);
    } else if (outcome === 'expired') {
      this.expireOrder(placed.orderId);
    }
    return { order: this.getOrder(placed.orderId)!, trades };
  }

  private pickIsolatedSymbol(a: Account, asset: string, symbol?: string): string {
    if (symbol) return symbol.toUpperCase();
    for (const s of a.isolated.keys()) {
      const { base, quote } = splitSymbol(s);
      if (base === asset || quote === asset) return s;
    }
    throw new Error('isolated-margin balance changes need opts.symbol');
  }

  private balanceChange(accountId: string, market: SimMarket, asset: string, delta: bigint, reason: string, symbol?: string): void {
    const a = this.account(accountId);
    const now = this.serverTime();
    const A = asset.toUpperCase();
    if (isSpotLike(market)) {
      const sym = market === 'isolated-margin' ? this.pickIsolatedSymbol(a, A, symbol) : undefined;
      const b = this.bal(this.spotBook(a, market, sym ?? ''), A);
      if (b.free + delta < 0n) throw new Error(`insufficient ${A} balance`);
      b.free += delta;
      this.emitSpot(accountId, market, sym, { e: 'balanceUpdate', E: now, a: A, d: fmt(delta), T: now });
      this.emitAccountPosition(a, market, sym, [A], now);
      return;
    }
    const fb = a.futures[market];
    const wb = (fb.wallet.get(A) ?? 0n) + delta;
    if (wb < 0n && reason === 'WITHDRAW') throw new Error(`insufficient ${A} balance`);
    fb.wallet.set(A, wb);
    this.emitFutures(accountId, market, this.accountUpdate(a, market, reason, [{ asset: A, change: delta }], [], now));
  }

  deposit(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.balanceChange(accountId, market, asset, abs(dec(amount)), 'DEPOSIT', opts.symbol);
  }

  withdraw(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.balanceChange(accountId, market, asset, -abs(dec(amount)), 'WITHDRAW', opts.symbol);
  }

  fundingFee(accountId: string, market: FuturesMarket, asset: string, amount: string): void {
    this.balanceChange(accountId, market, asset, dec(amount), 'FUNDING_FEE');
  }

  marginCall(accountId: string, market: FuturesMarket, symbol: string): void {
    const a = this.account(accountId);
    const fb = a.futures[market];
    const sym = symbol.toUpperCase();
    let list = [...fb.positions.values()].filter((p) => p.symbol === sym);
    if (list.length === 0) list = [{ symbol: sym, positionSide: 'BOTH', amt: 0n, entry: 0n, realized: 0n }];
    const asset = this.marginAsset(market, sym);
    const mark = fb.marks.get(sym) ?? 0n;
    this.emitFutures(accountId, market, {
      e: 'MARGIN_CALL',
      E: this.serverTime(),
      cw: fmtTrim(fb.wallet.get(asset) ?? 0n),
      p: list.map((p) => ({
        s: p.symbol,
        ps: p.positionSide,
        pa: fmtTrim(p.amt),
        mt: 'CROSSED',
        iw: '0',
        mp: fmtTrim(mark),
        up: fmtTrim(this.unrealized(market, fb, p)),
        mm: fmtTrim(mul(abs(mul(p.amt, mark)), dec('0.004'))),
      })),
    });
  }

  trades(accountId: string, market: SimMarket, symbol?: string): SimTrade[] {
    return this.tradeLog
      .filter((t) => t.accountId === accountId && t.market === market && (!symbol || t.symbol === symbol.toUpperCase()))
      .map((t) => ({ ...t }));
  }

  /** Redacted description of a key (for logs). */
  static describeKey(apiKey: string): string {
    return redact(apiKey);
  }
}
