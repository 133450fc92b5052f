/**
 * Every exchange endpoint the core talks to, in ONE table, plus the validation of custom URLs.
 * Source: /work/shared/binance-user-data-reference.md (§1.1, §3, §4.1, §4.2, §4.6).
 *
 * Entries marked UNVERIFIED are taken from third-party code or inferred and were not confirmed in
 * Binance's own documentation; they are kept configurable via the `custom` environment.
 */
import type { AccountConfig, Environment, FuturesPathForm, Market } from './types';

/** Default futures stream URL form (reference §4.2, open question 2). */
export const DEFAULT_FUTURES_PATH_FORM: FuturesPathForm = 'ws-query';

/**
 * COIN-M REST family (reference §4.6, open question 1): 'dapi' = /dapi/v1/listenKey on dapi.* with
 * the dstream host (official connector, Jul 2026); 'fapi' = /fapi/v1/listenKey on fapi.* with the
 * fstream host (newest COIN-M docs page, undated "CM migration").
 */
export type CoinmApiFamily = 'dapi' | 'fapi';
export const COINM_API_FAMILY: CoinmApiFamily = 'dapi';

/**
 * Futures user-data event types we handle; listed in `events=` of the 'ws-query' form.
 * listenKeyExpired must be listed, or the expiry notice would not arrive.
 */
export const FUTURES_USER_DATA_EVENTS: readonly string[] = [
  'ORDER_TRADE_UPDATE',
  'ACCOUNT_UPDATE',
  'MARGIN_CALL',
  'ACCOUNT_CONFIG_UPDATE',
  'TRADE_LITE',
  'ALGO_UPDATE',
  'CONDITIONAL_ORDER_TRIGGER_REJECT',
  'STRATEGY_UPDATE',
  'GRID_UPDATE',
  'listenKeyExpired',
];

/** Server ping interval of the WebSocket API (reference §1.5). */
export const WS_API_PING_INTERVAL_MS = 20_000;
/** Server ping interval of the futures streams (reference §4.2). */
export const FUTURES_PING_INTERVAL_MS = 180_000;

export type Protocol = 'ws-api' | 'futures';

interface HostPair {
  restUrl: string;
  wsUrl: string;
}

type FixedEnvironment = Exclude<Environment, 'custom'>;
type EndpointFamily = 'spot' | 'margin' | 'usdm' | 'coinm-dapi' | 'coinm-fapi';

/**
 * THE endpoint table. For `spot`/`margin`, wsUrl is the WebSocket API URL (user data arrives
 * there); for futures it is the stream base to which `/private/...` is appended.
 */
export const ENDPOINTS: Record<EndpointFamily, Record<FixedEnvironment, HostPair>> = {
  spot: {
    production: { restUrl: 'https://api.binance.com', wsUrl: 'wss://ws-api.binance.com:443/ws-api/v3' },
    testnet: { restUrl: 'https://testnet.binance.vision', wsUrl: 'wss://ws-api.testnet.binance.vision/ws-api/v3' },
    demo: { restUrl: 'https://demo-api.binance.com', wsUrl: 'wss://demo-ws-api.binance.com/ws-api/v3' },
  },
  // Margin: listenToken from SAPI, stream on the spot WebSocket API (reference §3; the WS URL is an
  // inference from the docs linking there). UNVERIFIED: margin on testnet and demo (the spot testnet
  // has no /sapi; demo margin availability is not documented).
  margin: {
    production: { restUrl: 'https://api.binance.com', wsUrl: 'wss://ws-api.binance.com:443/ws-api/v3' },
    testnet: { restUrl: 'https://testnet.binance.vision', wsUrl: 'wss://ws-api.testnet.binance.vision/ws-api/v3' },
    demo: { restUrl: 'https://demo-api.binance.com', wsUrl: 'wss://demo-ws-api.binance.com/ws-api/v3' },
  },
  // USDⓈ-M. UNVERIFIED: the /private path on the testnet and demo stream hosts (reference §4.2, §8.7).
  usdm: {
    production: { restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://fstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-fapi.binance.com', wsUrl: 'wss://demo-fstream.binance.com' },
  },
  // COIN-M, /dapi family. UNVERIFIED: demo-dapi host; /private on testnet/demo stream hosts.
  'coinm-dapi': {
    production: { restUrl: 'https://dapi.binance.com', wsUrl: 'wss://dstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://dstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-dapi.binance.com', wsUrl: 'wss://demo-dstream.binance.com' },
  },
  // COIN-M after the "CM migration" (reference §4.6): same hosts as USDⓈ-M. UNVERIFIED as a whole.
  'coinm-fapi': {
    production: { restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://fstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-fapi.binance.com', wsUrl: 'wss://demo-fstream.binance.com' },
  },
};

/** REST paths per venue. */
export const PATHS = {
  spotTime: '/api/v3/time',
  marginListenToken: '/sapi/v1/userListenToken',
  usdmTime: '/fapi/v1/time',
  usdmListenKey: '/fapi/v1/listenKey',
  coinmTime: '/dapi/v1/time',
  coinmListenKey: '/dapi/v1/listenKey',
} as const;

export interface ResolvedEndpoints {
  market: Market;
  environment: Environment;
  protocol: Protocol;
  /** REST base URL without a trailing slash. */
  restUrl: string;
  /** WebSocket API URL (spot/margin) or futures stream base without a trailing slash. */
  wsUrl: string;
  /** Server-time path for the clock offset. */
  timePath: string;
  /** Futures: listenKey REST path. */
  listenKeyPath?: string;
  /** Margin: listenToken REST path. */
  listenTokenPath?: string;
  /** Interval of the server's pings on this venue (the silence watchdog adds a margin). */
  serverPingIntervalMs: number;
  /** Futures: stream URL form. */
  futuresPathForm: FuturesPathForm;
}

function familyOf(market: Market): EndpointFamily {
  switch (market) {
    case 'spot':
      return 'spot';
    case 'margin':
    case 'isolated-margin':
      return 'margin';
    case 'usdm-futures':
      return 'usdm';
    case 'coinm-futures':
      return COINM_API_FAMILY === 'dapi' ? 'coinm-dapi' : 'coinm-fapi';
    default:
      throw new Error(`unknown market "${String(market)}"`);
  }
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((p) => Number(p) <= 255);
}

/**
 * Validates a custom base URL: `secure` scheme required unless the host is loopback, where the
 * plain one is accepted too. Returns it without trailing slash. Throws a clear Error otherwise.
 */
export function validateCustomUrl(what: string, value: string | undefined, kind: 'rest' | 'ws'): string {
  const [secure, plain] = kind === 'rest' ? ['https:', 'http:'] : ['wss:', 'ws:'];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Error(`${what} is required for the custom environment (e.g. ${secure}//host:port)`);
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new Error(`${what} is not a valid URL`);
  }
  if (url.username || url.password) throw new Error(`${what} must not contain a user name or password`);
  if (url.protocol !== secure && url.protocol !== plain) {
    throw new Error(`${what} must start with ${secure}// (got ${url.protocol}//)`);
  }
  if (url.protocol === plain && !isLoopbackHost(url.hostname)) {
    throw new Error(
      `${what} must use ${secure}// for host ${url.hostname}; plain ${plain}// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost)`,
    );
  }
  return url.toString().replace(/\/+$/, '');
}

/** Resolves the endpoints of an account; throws a clear Error for bad or insecure custom URLs. */
export function resolveEndpoints(config: AccountConfig): ResolvedEndpoints {
  const market = config.market;
  const family = familyOf(market);
  const env = config.environment;
  let hosts: HostPair;
  if (env === 'custom') {
    hosts = {
      restUrl: validateCustomUrl('Custom REST URL', config.restUrl, 'rest'),
      wsUrl: validateCustomUrl('Custom WebSocket URL', config.wsUrl, 'ws'),
    };
  } else if (env === 'production' || env === 'testnet' || env === 'demo') {
    hosts = ENDPOINTS[family][env];
  } else {
    throw new Error(`unknown environment "${String(env)}"`);
  }
  if (market === 'isolated-margin' && !(typeof config.symbol === 'string' && /^[A-Z0-9]{2,30}$/.test(config.symbol.trim().toUpperCase()))) {
    throw new Error('isolated margin needs a symbol such as BTCUSDT');
  }
  const futuresPathForm = config.futuresPathForm ?? DEFAULT_FUTURES_PATH_FORM;
  if (futuresPathForm !== 'ws-query' && futuresPathForm !== 'ws-path') {
    throw new Error(`unknown futures path form "${String(futuresPathForm)}" (ws-query or ws-path)`);
  }
  const base = { market, environment: env, restUrl: hosts.restUrl, wsUrl: hosts.wsUrl, futuresPathForm };
  switch (family) {
    case 'spot':
      return { ...base, protocol: 'ws-api', timePath: PATHS.spotTime, serverPingIntervalMs: WS_API_PING_INTERVAL_MS };
    case 'margin':
      return {
        ...base,
        protocol: 'ws-api',
        timePath: PATHS.spotTime,
        listenTokenPath: PATHS.marginListenToken,
        serverPingIntervalMs: WS_API_PING_INTERVAL_MS,
      };
    case 'usdm':
    case 'coinm-fapi':
      return {
        ...base,
        protocol: 'futures',
        timePath: PATHS.usdmTime,
        listenKeyPath: PATHS.usdmListenKey,
        serverPingIntervalMs: FUTURES_PING_INTERVAL_MS,
      };
    case 'coinm-dapi':
      return {
        ...base,
        protocol: 'futures',
        timePath: PATHS.coinmTime,
        listenKeyPath: PATHS.coinmListenKey,
        serverPingIntervalMs: FUTURES_PING_INTERVAL_MS,
      };
  }
}

/**
 * The futures user-data stream URL for a listenKey (on the `/private` path):
 *  - 'ws-query': <base>/private/ws?listenKey=<k>&events=<e1>/<e2>/...
 *  - 'ws-path':  <base>/private/ws/<k>
 */
export function futuresStreamUrl(base: string, listenKey: string, form: FuturesPathForm): string {
  const b = base.replace(/\/+$/, '');
  if (form === 'ws-path') return `${b}/private/ws/${encodeURIComponent(listenKey)}`;
  return `${b}/private/ws?listenKey=${encodeURIComponent(listenKey)}&events=${FUTURES_USER_DATA_EVENTS.join('/')}`;
}
