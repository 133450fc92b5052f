/**
 * Every exchange endpoint the core talks to, in ONE table, plus the validation of custom URLs.
 * Source: /work/shared/binance-user-data-reference.md (§1.1, §3, §4.1, §4.2, §4.6), re-checked
 * 2026-12 against the sources named at each entry.
 *
 * Entries marked UNVERIFIED are taken from third-party code or inferred and were not confirmed in
 * Binance's own documentation; they are kept configurable via the `custom` environment.
 */
import { withText } from '../texts';
import type { AccountConfig, CoinmApiFamily, Environment, FuturesPathForm, Market } from '../types';
import { FUTURES_PING_INTERVAL_MS, HOSTS, RECOVERY_REST, REST, WS_API_PING_INTERVAL_MS, type EndpointFamily, type HostPair, type RecoveryRest } from './facts';

export type { CoinmApiFamily } from '../types';

/**
 * The URL forms of fstream's `/private` user-data path, one per value of the `futuresPathForm`
 * setting. The sources disagree on which production serves (audit 2026-12-07 §2 and G2; README
 * "unsettled" table; docs/protocol-notes.md):
 *  - 'ws-query' `/private/ws?listenKey=<k>&events=<types>`: UBWA (unicorn-binance-websocket-api)
 *    connection_settings.py 2.15.1 (2026-08-01): "Since 2026-04-23 the private endpoint requires an
 *    explicit `&events=` filter — if omitted, Binance production silently delivers nothing";
 *    go-binance (7bb44eb, 2026-05-05) sends `events` as an option; the list we send equals the 10
 *    types of Binance's connector (@binance/derivatives-trading-usds-futures 38.1.1, 2026-09-22).
 *  - 'ws-query-no-events' `/private/ws?listenKey=<k>`: ccxt 4.5.84 (2026-09-25, js/src/pro/binance.js
 *    getPrivateWsUrl), go-binance without its option; npm `binance` 3.6.5 (2026-09-21) uses
 *    `/private/stream?listenKey=<k>` and Binance's connector (usds-futures 38.1.1 + common 2.4.9)
 *    `/private/stream?streams=<k>`, also without `events`. UBWA says production sends nothing here.
 *  - 'ws-path' `/private/ws/<k>`: Binance's own COIN-M (coin-futures) and Options user-data pages
 *    (undated) show it; UBWA CHANGELOG 2.14.0 (2026-05-21): it "has been decommissioned by Binance on
 *    the mainnet fstream host; testnet was still accepting both forms". No peer uses it.
 */
export const FUTURES_PATH_FORMS: readonly FuturesPathForm[] = ['ws-query', 'ws-query-no-events', 'ws-path'];

/**
 * Default URL form: 'ws-query' (with `events=`), the only form no source says production leaves
 * silent: UBWA requires `events=`, and the peers that omit it do not say it is refused (go-binance
 * offers it). 'ws-path' is reported decommissioned on mainnet (UBWA 2.14.0, 2026-05-21);
 * 'ws-query-no-events' is what ccxt and Binance's connector use but UBWA reports silent. Its cost:
 * `events=` is an allow-list, so a type Binance adds later arrives once this package lists it.
 * A stream that opens and stays silent is detected and logged with a hint (transport-futures.ts).
 */
export const DEFAULT_FUTURES_PATH_FORM: FuturesPathForm = 'ws-query';

/** Whether a value is one of the futures URL forms (FUTURES_PATH_FORMS). */
export function isFuturesPathForm(v: unknown): v is FuturesPathForm {
  return typeof v === 'string' && (FUTURES_PATH_FORMS as readonly string[]).includes(v);
}

/** The clear error of an unknown futures URL form (settings, resolveEndpoints). */
export function futuresPathFormProblem(v: unknown): string {
  return `unknown futures stream URL form "${String(v)}" (${FUTURES_PATH_FORMS.join(', ')}, or empty for the default ${DEFAULT_FUTURES_PATH_FORM})`;
}

/** The same as an Error with its text code (texts.ts). */
export function futuresPathFormError(v: unknown): Error {
  return withText(new Error(futuresPathFormProblem(v)), 'futures-path-form', {
    value: String(v),
    forms: FUTURES_PATH_FORMS.join(', '),
    default: DEFAULT_FUTURES_PATH_FORM,
  });
}

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

/** Server ping intervals (exchange/facts.ts, with their sources). */
export { FUTURES_PING_INTERVAL_MS, WS_API_PING_INTERVAL_MS };

export type Protocol = 'ws-api' | 'futures';

/**
 * THE endpoint table: hosts per venue and environment live in exchange/facts.ts (HOSTS), with the
 * sources of each entry. Re-exported here for the callers that read it as ENDPOINTS.
 */
export const ENDPOINTS = HOSTS;

/**
 * How the stream URL is formed on each futures host:
 *  - 'private': fstream `/private/ws?listenKey=…[&events=…]` or `/private/ws/<k>` (futuresPathForm).
 *    The legacy fstream `/ws/<k>` is decommissioned since 2026-04-23 and stays silent (reference §4.2).
 *  - 'ws': dstream `/ws/<listenKey>` (COIN-M page above); futuresPathForm does not apply there.
 *  - 'pm': portfolio margin, fstream `/pm/ws/<listenKey>` (Portfolio Margin user-data page, reference §5;
 *    Binance's connector uses the base wss://fstream.binance.com/pm, common/src/constants.ts 2026-07-24).
 */
export type FuturesStreamStyle = 'private' | 'ws' | 'pm';

/** REST paths of the stream lifecycle per venue (from exchange/facts.ts REST). */
export const PATHS = {
  spotTime: REST.spot.time.path,
  marginListenToken: REST.margin.listenToken.path,
  usdmTime: REST.usdm.time.path,
  usdmListenKey: REST.usdm.listenKey.path,
  coinmTime: REST.coinm.time.path,
  coinmListenKey: REST.coinm.listenKey.path,
  pmListenKey: REST.pm.listenKey.path,
} as const;

/**
 * REST paths a COIN-M recovery reads (exchange/facts.ts RECOVERY_REST), with the host they live on
 * per COIN-M family: in the unified form ('fapi') the listenKey is on fapi but these stay /dapi on
 * the dapi host (connector clients/derivatives-trading-coin-futures 19.0.0, 2026-07-24, documents
 * them "after CM migration" with new weights, not new paths), algo orders included (CM-UM
 * Integration Notice §C.5, effective 2026-06-30).
 */
export const COINM_RECOVERY_PATHS = {
  trades: RECOVERY_REST['coinm-futures'].trades.path,
  openOrders: RECOVERY_REST['coinm-futures'].openOrders.path,
  openAlgoOrders: RECOVERY_REST['coinm-futures'].openAlgoOrders!.path,
  algoOrder: RECOVERY_REST['coinm-futures'].algoOrder!.path,
  order: RECOVERY_REST['coinm-futures'].order.path,
  account: RECOVERY_REST['coinm-futures'].account.path,
} as const;

export interface RecoveryEndpoints {
  /** REST base of the recovery requests (no trailing slash): the host the table names for this data. */
  restUrl: string;
  /** The endpoints recovery reads (exchange/facts.ts RECOVERY_REST); absent when the market has no recovery. */
  rest?: RecoveryRest;
  /** COIN-M only: the paths above (the same facts as `rest`, as plain paths). */
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
  /** Server-time path for the clock offset (an absolute URL when it lives on another host). */
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
    case 'portfolio-margin':
      return 'pm';
    default:
      throw withText(new Error(`unknown market "${String(market)}"`), 'unknown-market', { market: String(market) });
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
  // `url`: which URL, as the identifier the dialogs show (REST / WebSocket)
  const url0 = kind === 'rest' ? 'REST' : 'WebSocket';
  if (typeof value !== 'string' || value.trim() === '') {
    throw withText(new Error(`${what} is required for the custom environment (e.g. ${secure}//host:port)`), 'url-required', { url: url0, example: `${secure}//host:port` });
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw withText(new Error(`${what} is not a valid URL`), 'url-invalid', { url: url0 });
  }
  if (url.username || url.password) throw withText(new Error(`${what} must not contain a user name or password`), 'url-userinfo', { url: url0 });
  if (url.protocol !== secure && url.protocol !== plain) {
    throw withText(new Error(`${what} must start with ${secure}// (got ${url.protocol}//)`), 'url-scheme', { url: url0, scheme: `${secure}//`, got: `${url.protocol}//` });
  }
  if (url.protocol === plain && !isLoopbackHost(url.hostname)) {
    throw withText(
      new Error(`${what} must use ${secure}// for host ${url.hostname}; plain ${plain}// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost)`),
      'url-insecure',
      { url: url0, scheme: `${secure}//`, plain: `${plain}//`, host: url.hostname },
    );
  }
  return url.toString().replace(/\/+$/, '');
}

/** Resolves the endpoints of an account; throws a clear Error for bad or insecure custom URLs. */
export function resolveEndpoints(config: AccountConfig): ResolvedEndpoints {
  const market = config.market;
  const coinmApi = config.coinmApi ?? DEFAULT_COINM_API;
  if (coinmApi !== 'dapi' && coinmApi !== 'fapi') throw withText(new Error(`unknown COIN-M API family "${String(coinmApi)}" (dapi or fapi)`), 'coinm-api', { value: String(coinmApi) });
  const family = familyOf(market, coinmApi);
  const env = config.environment;
  let hosts: HostPair;
  if (env === 'custom') {
    hosts = {
      restUrl: validateCustomUrl('Custom REST URL', config.restUrl, 'rest'),
      wsUrl: validateCustomUrl('Custom WebSocket URL', config.wsUrl, 'ws'),
    };
  } else if (env === 'production' || env === 'testnet' || env === 'demo') {
    const h = HOSTS[family][env];
    if (!h) {
      throw withText(new Error(`${market} has no ${env} environment at Binance; use production (or custom for a local gateway)`), 'no-environment', {
        market,
        environment: env,
      });
    }
    hosts = h;
  } else {
    throw withText(new Error(`unknown environment "${String(env)}"`), 'unknown-environment', { environment: String(env) });
  }
  if (market === 'isolated-margin' && !(typeof config.symbol === 'string' && /^[A-Z0-9]{2,30}$/.test(config.symbol.trim().toUpperCase()))) {
    throw withText(new Error('isolated margin needs a symbol such as BTCUSDT'), 'isolated-symbol');
  }
  const futuresPathForm = config.futuresPathForm ?? DEFAULT_FUTURES_PATH_FORM;
  if (!isFuturesPathForm(futuresPathForm)) throw futuresPathFormError(futuresPathForm);
  const recovery: RecoveryEndpoints = { restUrl: env === 'custom' ? hosts.restUrl : (hosts.recoveryRestUrl ?? hosts.restUrl) };
  if (market !== 'portfolio-margin') recovery.rest = RECOVERY_REST[market];
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
    case 'pm':
      return {
        ...base,
        protocol: 'futures',
        // papi has no server-time endpoint: fapi's, as an absolute URL in production (the REST
        // client sends absolute URLs as they are), on the custom host otherwise.
        timePath: env !== 'custom' && hosts.timeRestUrl ? `${hosts.timeRestUrl}${PATHS.usdmTime}` : PATHS.usdmTime,
        listenKeyPath: PATHS.pmListenKey,
        serverPingIntervalMs: FUTURES_PING_INTERVAL_MS,
        futuresStreamStyle: 'pm',
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
 *  - style 'pm' (portfolio margin): <base>/pm/ws/<k>
 *  - style 'private', 'ws-query': <base>/private/ws?listenKey=<k>&events=<e1>/<e2>/...
 *  - style 'private', 'ws-query-no-events': <base>/private/ws?listenKey=<k>
 *  - style 'private', 'ws-path':  <base>/private/ws/<k>
 */
export function futuresStreamUrl(base: string, listenKey: string, form: FuturesPathForm, style: FuturesStreamStyle = 'private'): string {
  const b = base.replace(/\/+$/, '');
  if (style === 'ws') return `${b}/ws/${encodeURIComponent(listenKey)}`;
  if (style === 'pm') return `${b}/pm/ws/${encodeURIComponent(listenKey)}`;
  if (form === 'ws-path') return `${b}/private/ws/${encodeURIComponent(listenKey)}`;
  if (form === 'ws-query-no-events') return `${b}/private/ws?listenKey=${encodeURIComponent(listenKey)}`;
  return `${b}/private/ws?listenKey=${encodeURIComponent(listenKey)}&events=${FUTURES_USER_DATA_EVENTS.join('/')}`;
}
