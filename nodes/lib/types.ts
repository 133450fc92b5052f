/**
 * Public types of the framework-agnostic stream core.
 *
 * This file is the contract between the core (`nodes/lib/*`) and its users
 * (the Node-RED adapters in `nodes/*.ts`, the tests, the benchmarks). It imports
 * nothing from Node-RED.
 */

/**
 * `portfolio-margin`: a Portfolio Margin account (papi listenKey, fstream `/pm/ws/<key>`): its UM and
 * CM futures orders (ORDER_TRADE_UPDATE with `fs`), margin orders (executionReport), balances and
 * risk events arrive on one stream.
 */
export type Market = 'spot' | 'margin' | 'isolated-margin' | 'usdm-futures' | 'coinm-futures' | 'portfolio-margin';
export const MARKETS: readonly Market[] = ['spot', 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures', 'portfolio-margin'];

export type Environment = 'production' | 'testnet' | 'demo' | 'custom';
export const ENVIRONMENTS: readonly Environment[] = ['production', 'testnet', 'demo', 'custom'];

export type KeyType = 'hmac' | 'ed25519' | 'rsa';
export const KEY_TYPES: readonly KeyType[] = ['hmac', 'ed25519', 'rsa'];

/** Secrets. Never logged, never put in a message, status or error text. */
export interface Credentials {
  apiKey: string;
  /** HMAC secret (keyType `hmac`). */
  apiSecret?: string;
  /** PEM private key (keyType `ed25519` or `rsa`). */
  privateKey?: string;
  /** Optional passphrase of an encrypted PEM. */
  passphrase?: string;
}

/**
 * How a futures user-data stream URL is formed on fstream's `/private` path (USDⓈ-M, and COIN-M
 * in the unified 'fapi' family; COIN-M on dstream uses `/ws/<listenKey>`).
 * The sources disagree on which form production serves (audit 2026-12-07, G2), so it is one
 * named setting (endpoints.ts FUTURES_PATH_FORMS, DEFAULT_FUTURES_PATH_FORM):
 *  - `ws-query`:           <base>/private/ws?listenKey=<k>&events=<e1>/<e2>/...  (default)
 *  - `ws-query-no-events`: <base>/private/ws?listenKey=<k>
 *  - `ws-path`:            <base>/private/ws/<k>
 */
export type FuturesPathForm = 'ws-query' | 'ws-query-no-events' | 'ws-path';

/**
 * COIN-M family (endpoints.ts, DEFAULT_COINM_API): 'dapi' = /dapi listenKey + dstream `/ws/<key>`;
 * 'fapi' = unified after the COIN-M / USDⓈ-M integration: /fapi listenKey + fstream `/private`.
 */
export type CoinmApiFamily = 'dapi' | 'fapi';

export interface AccountConfig {
  market: Market;
  environment: Environment;
  /** Isolated-margin symbol, e.g. BTCUSDT. Required for `isolated-margin`. */
  symbol?: string;
  /** Custom REST base, e.g. http://127.0.0.1:8090 (environment `custom`). */
  restUrl?: string;
  /**
   * Custom WebSocket URL (environment `custom`): the WebSocket API URL for
   * spot/margin (e.g. ws://127.0.0.1:8090/ws-api/v3), or the stream base for
   * futures (e.g. ws://127.0.0.1:8090; `/private/...` is appended).
   */
  wsUrl?: string;
  keyType: KeyType;
  credentials: Credentials;
  /** recvWindow in ms for signed requests. Default 5000, max 60000. */
  recvWindow?: number;
  /** Futures listenKey keepalive interval in ms. Default 30 minutes. */
  keepaliveIntervalMs?: number;
  /** Make-before-break rotation age in ms. Default 23 hours. */
  rotateAfterMs?: number;
  /** Futures `/private` stream URL form; default in endpoints.ts (DEFAULT_FUTURES_PATH_FORM). */
  futuresPathForm?: FuturesPathForm;
  /** COIN-M family; default in endpoints.ts (DEFAULT_COINM_API). */
  coinmApi?: CoinmApiFamily;
  /** Reconnect tuning (tests and advanced users). */
  reconnect?: Partial<ReconnectOptions>;
  /** Silence watchdog margin in ms added to the venue's ping interval. */
  watchdogMarginMs?: number;
}

export interface ReconnectOptions {
  /** Upper bound of the first retry's delay (full jitter). Default 1000 ms. */
  initialDelayMs: number;
  /** Cap of the backoff. Default 60 000 ms. */
  maxDelayMs: number;
  /** Delay between retries while the key is rejected (auth state). Default 5 minutes. */
  authRetryDelayMs: number;
}

export type StreamState =
  | 'idle'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'auth-error'
  | 'error'
  | 'stopped';

export interface StateChange {
  state: StreamState;
  previous: StreamState;
  /** Epoch ms (local clock). */
  at: number;
  /** Reconnect attempt number (1-based) for `reconnecting` / `auth-error`. */
  attempt?: number;
  /** Delay before the next attempt, ms, for `reconnecting` / `auth-error`. */
  delayMs?: number;
  /** Exchange error code (e.g. -2015) or HTTP status, when there is one. */
  code?: number;
  /** Human-readable reason, already redacted (no secrets, keys or tokens). */
  message?: string;
}

/** One user-data event as the exchange sent it (envelope removed). */
export interface UserDataEvent {
  market: Market;
  /** The exchange's `e` field, e.g. executionReport, ORDER_TRADE_UPDATE. */
  eventType: string;
  /** The event object as received (`event` of the WS-API envelope, or the futures frame). */
  raw: Record<string, unknown>;
  /** Local receive time, epoch ms. */
  receivedAt: number;
  /**
   * True when the event was rebuilt from REST history after a gap (see recovery.ts).
   * Then `raw` is event-shaped but holds only the fields REST returns (others absent,
   * never invented), and `restRecord` is the REST row it was built from.
   */
  recovered?: boolean;
  /**
   * Recovered while the saved cursors could not be read (the start-up recovery fell back to the
   * look-back): it may have been delivered before the restart. De-duplicate by `eventId`.
   */
  possibleDuplicate?: boolean;
  restRecord?: Record<string, unknown>;
}

/** Emitted whenever the stream was (or may have been) down between two instants. */
export interface GapEvent {
  /** Epoch ms: last moment the stream was known to be live (last frame / subscribe). */
  from: number;
  /** Epoch ms: moment the stream was live again (subscription confirmed). */
  to: number;
  /** e.g. 'reconnect', 'watchdog', 'listenKeyExpired', 'rotation-failed', 'eventStreamTerminated'. */
  reason: string;
}

export interface RotationEvent {
  reason: 'max-age' | 'serverShutdown';
  at: number;
}

/**
 * A stream that opened but on which the server sent nothing at all (no event, not even its pings)
 * for longer than its ping interval: the URL form is probably not served (issue 22).
 */
export interface SilentStream {
  /** When the silent connection opened (epoch ms). */
  since: number;
  /** The `futuresPathForm` in use, when that setting applies (fstream `/private`). */
  pathForm?: FuturesPathForm;
  /** The other values of that setting, to try. */
  alternatives?: FuturesPathForm[];
}

/** Events a StreamManager emits (Node EventEmitter). */
export interface StreamManagerEvents {
  event: [UserDataEvent];
  state: [StateChange];
  gap: [GapEvent];
  /** Events are being missed since this moment on a connection that stays up; a `gap` follows. */
  gapOpened: [number];
  rotated: [RotationEvent];
  /** The current connection became silent (a SilentStream) or is silent no more (undefined). */
  silence: [SilentStream | undefined];
}

/** Minimal logger interface; messages passed to it are already redacted. */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}
