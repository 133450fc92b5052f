/**
 * Every exchange endpoint the core talks to, in ONE table, plus the validation of custom URLs.
 * Source: /work/shared/binance-user-data-reference.md (§1.1, §3, §4.1, §4.2, §4.6), re-checked
 * 2026-12 against the sources named at each entry.
 *
 * Entries marked UNVERIFIED are taken from third-party code or inferred and were not confirmed in
 * Binance's own documentation; they are kept configurable via the `custom` environment.
 */
import type { AccountConfig, CoinmApiFamily, Environment, FuturesPathForm, Market } from './types';

export type { CoinmApiFamily } from './types';

/** Default URL form on the `/private` path of fstream (reference §4.2, open question 2). */
export const DEFAULT_FUTURES_PATH_FORM: FuturesPathForm = 'ws-query';

/**
 * COIN-M REST + stream family, chosen per account (`coinmApi`); this is the default.
 *
 *  - 'dapi' (default): listenKey `POST/PUT/DELETE /dapi/v1/listenKey` on dapi.binance.com, stream
 *    `wss://dstream.binance.com/ws/<listenKey>`. Sources: the COIN-M "User Data Streams Connect"
 *    page, https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams
 *    (stored copy, undated, read 2026-12: "Base Url 1: wss://dstream.binance.com … accessed at
 *    /ws/<listenKey>"); Binance's own connector binance/binance-connector-js,
 *    clients/derivatives-trading-coin-futures 19.0.0 (commit a9de9a9, 2026-07-24): REST base
 *    https://dapi.binance.com, streams base wss://dstream.binance.com, `userData(listenKey)` without
 *    a `private` path, i.e. `<base>/stream?streams=<listenKey>` (common/src/websocket.ts
 *    prepareURL). No source documents a `/private` path on dstream; the `/private` split was
 *    announced for USDⓈ-M (fstream) only. We use the documented `/ws/<listenKey>`; the combined
 *    envelope the connector's form would bring is removed by the transport anyway.
 *  - 'fapi' ("unified", after the COIN-M / USDⓈ-M architecture integration, notice published
 *    2026-06-10, effective 2026-06-30, https://developers.binance.com/docs/derivatives/coin-margined-futures):
 *    listenKey `/fapi/v1/listenKey` on fapi.binance.com, stream on fstream's `/private` path, as the
 *    newer, undated COIN-M user-data page shows (reference §4.6: "fapi /fapi/v1/listenKey +
 *    wss://fstream.binance.com/private/ws/<k>"). COIN-M trades, orders and the account stay on the
 *    /dapi REST paths of dapi.binance.com (the connector documents them "after CM migration" with
 *    changed weights only), so recovery needs a second REST host: see COINM_RECOVERY.
 */
export const DEFAULT_COINM_API: CoinmApiFamily = 'dapi';
/** Kept for callers of the earlier single constant; the per-account choice is `coinmApi`. */
export const COINM_API_FAMILY: CoinmApiFamily = DEFAULT_COINM_API;

/**
 * Futures user-data event types we ask for in `events=` of the fstream 'ws-query' form. Binance
 * treats `events=` as an allow-list: a type not listed is not delivered, so listenKeyExpired must be
 * listed or the expiry notice would not arrive (simulator models it so).
 * CONDITIONAL_ORDER_TRIGGER_REJECT is deprecated since 2025-12-15 ("Since conditional orders have
 * been migrated to the Algo Service … deprecated effective December 15, 2025. Any conditional order
 * rejection reasons are provided within the ALGO_UPDATE event", derivatives change log entry
 * 2025-12-10, https://developers.binance.com/docs/derivatives); still listed so that an account that
 * still receives it gets it (it costs nothing when absent).
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
  /** REST host of the account's trades / orders / balances when it is not restUrl (COIN-M unified). */
  recoveryRestUrl?: string;
}

type FixedEnvironment = Exclude<Environment, 'custom'>;
type EndpointFamily = 'spot' | 'margin' | 'usdm' | 'coinm-dapi' | 'coinm-fapi';

/**
 * THE endpoint table. For `spot`/`margin`, wsUrl is the WebSocket API URL (user data arrives
 * there); for futures it is the stream base to which the stream path is appended (see
 * FUTURES_STREAM_STYLE: `/private/...` on fstream, `/ws/<key>` on dstream).
 *
 * Futures testnet vs demo (checked 2026-12 because of a report that `demo-fapi` replaces the testnet
 * REST host): Binance's connector (binance-connector-js common/src/constants.ts, 2026-07-24) ships
 * both, as separate environments: USDⓈ-M TESTNET https://testnet.binancefuture.com and DEMO
 * https://demo-fapi.binance.com; COIN-M TESTNET https://testnet.binancefuture.com and no COIN-M
 * demo constant. No Binance page or change-log entry we could find announces the testnet host's
 * retirement, so `testnet` stays testnet.binancefuture.com and `demo` is demo-fapi.
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
  // COIN-M, /dapi family (default): stream `/ws/<key>` on dstream. Testnet hosts from the connector
  // (common/src/constants.ts, 2026-07-24). UNVERIFIED: the demo-dapi / demo-dstream hosts (no source).
  'coinm-dapi': {
    production: { restUrl: 'https://dapi.binance.com', wsUrl: 'wss://dstream.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://dstream.binancefuture.com' },
    demo: { restUrl: 'https://demo-dapi.binance.com', wsUrl: 'wss://demo-dstream.binance.com' },
  },
  // COIN-M unified (coinmApi 'fapi', reference §4.6): listenKey and stream on the USDⓈ-M hosts,
  // COIN-M REST data on the dapi host. UNVERIFIED on testnet/demo (no source shows it there).
  'coinm-fapi': {
    production: { restUrl: 'https://fapi.binance.com', wsUrl: 'wss://fstream.binance.com', recoveryRestUrl: 'https://dapi.binance.com' },
    testnet: { restUrl: 'https://testnet.binancefuture.com', wsUrl: 'wss://fstream.binancefuture.com', recoveryRestUrl: 'https://testnet.binancefuture.com' },
    demo: { restUrl: 'https://demo-fapi.binance.com', wsUrl: 'wss://demo-fstream.binance.com', recoveryRestUrl: 'https://demo-dapi.binance.com' },
  },
};

/**
 * How the stream URL is formed on each futures host:
 *  - 'private': fstream `/private/ws?listenKey=…&events=…` or `/private/ws/<k>` (futuresPathForm).
 *    The legacy fstream `/ws/<k>` is decommissioned since 2026-04-23 and stays silent (reference §4.2).
 *  - 'ws': dstream `/ws/<listenKey>` (COIN-M page above); futuresPathForm does not apply there.
 */
export type FuturesStreamStyle = 'private' | 'ws';

/** REST paths per venue. */
export const PATHS = {
  spotTime: '/api/v3/time',
  marginListenToken: '/sapi/v1/userListenToken',
  usdmTime: '/fapi/v1/time',
  usdmListenKey: '/fapi/v1/listenKey',
  coinmTime: '/dapi/v1/time',
  coinmListenKey: '/dapi/v1/listenKey',
} as const;

/**
 * REST paths a COIN-M recovery reads, with the host they live on, per COIN-M family. In the unified
 * form ('fapi') the listenKey is on fapi but these stay /dapi on the dapi host (connector
 * clients/derivatives-trading-coin-futures 19.0.0, 2026-07-24, documents them "after CM migration"
 * with new weights, not new paths). The recovery reads host and paths from here (ResolvedEndpoints
 * .recovery); weights stay in weight-budget.ts. COIN-M algo orders (/dapi/v1/algoOrder since the
 * integration) are not recovered yet.
 */
export const COINM_RECOVERY_PATHS = {
  trades: '/dapi/v1/userTrades',
  openOrders: '/dapi/v1/openOrders',
  order: '/dapi/v1/order',
  account: '/dapi/v1/account',
} as const;

export interface RecoveryEndpoints {
  /** REST base of the recovery requests (no trailing slash). */
  restUrl: string;
  /** COIN-M only: the paths above. Other markets: recovery.ts's own table (for now). */
  paths?: typeof COINM_RECOVERY_PATHS;
}

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
  /** Futures: stream URL form on the `/private` path (fstream only). */
  futuresPathForm: FuturesPathForm;
  /** Futures: which stream path the host takes ('private' on fstream, 'ws' on dstream). */
  futuresStreamStyle?: FuturesStreamStyle;
  /** COIN-M: the family in use. */
  coinmApi?: CoinmApiFamily;
  /** Where recovery's REST requests go (COIN-M unified: another host than restUrl). */
  recovery: RecoveryEndpoints;
}

function familyOf(market: Market, coinmApi: CoinmApiFamily): EndpointFamily {
  switch (market) {
    case 'spot':
      return 'spot';
    case 'margin':
    case 'isolated-margin':
      return 'margin';
    case 'usdm-futures':
      return 'usdm';
    case 'coinm-futures':
      return coinmApi === 'fapi' ? 'coinm-fapi' : 'coinm-dapi';
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
  const coinmApi = config.coinmApi ?? DEFAULT_COINM_API;
  if (coinmApi !== 'dapi' && coinmApi !== 'fapi') throw new Error(`unknown COIN-M API family "${String(coinmApi)}" (dapi or fapi)`);
  const family = familyOf(market, coinmApi);
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
  const recovery: RecoveryEndpoints = { restUrl: env === 'custom' ? hosts.restUrl : (hosts.recoveryRestUrl ?? hosts.restUrl) };
  if (market === 'coinm-futures') recovery.paths = COINM_RECOVERY_PATHS;
  const base = { market, environment: env, restUrl: hosts.restUrl, wsUrl: hosts.wsUrl, futuresPathForm, recovery };
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
        futuresStreamStyle: 'private',
        ...(family === 'coinm-fapi' ? { coinmApi } : {}),
      };
    case 'coinm-dapi':
      return {
        ...base,
        protocol: 'futures',
        timePath: PATHS.coinmTime,
        listenKeyPath: PATHS.coinmListenKey,
        serverPingIntervalMs: FUTURES_PING_INTERVAL_MS,
        futuresStreamStyle: 'ws',
        coinmApi,
      };
  }
}

/**
 * The futures user-data stream URL for a listenKey:
 *  - style 'ws' (dstream):       <base>/ws/<k>
 *  - style 'private', 'ws-query': <base>/private/ws?listenKey=<k>&events=<e1>/<e2>/...
 *  - style 'private', 'ws-path':  <base>/private/ws/<k>
 */
export function futuresStreamUrl(base: string, listenKey: string, form: FuturesPathForm, style: FuturesStreamStyle = 'private'): string {
  const b = base.replace(/\/+$/, '');
  if (style === 'ws') return `${b}/ws/${encodeURIComponent(listenKey)}`;
  if (form === 'ws-path') return `${b}/private/ws/${encodeURIComponent(listenKey)}`;
  return `${b}/private/ws?listenKey=${encodeURIComponent(listenKey)}&events=${FUTURES_USER_DATA_EVENTS.join('/')}`;
}
