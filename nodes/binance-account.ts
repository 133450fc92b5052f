/**
 * `binance-account` config node: one Binance API key + market. Holds the shared stream manager
 * (core `getSharedManager`) and lets the data nodes register / deregister like core MQTT's broker
 * node does: `users` map, status fanned out to every user, the stream closes only when the last
 * user is removed.
 *
 * Also serves the editor's "Test connection" button:
 * POST /binance-user-stream/test-connection (permission binance-account.write).
 */
import { makeTranslate } from './common';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { isAccountHandle, type AccountHandle, type AccountUser, type RegisterOptions } from './lib/filters';
import { resolveEndpoints, type ResolvedEndpoints } from './lib/endpoints';
import { endpointWeight, ERROR_CODES, REST } from './lib/exchange/facts';
import {
  ACCOUNT_REQUESTS,
  accountRequestParams,
  normalizePem,
  statusForState,
  type StatusSpec,
} from './lib/normalize';
import { Redactor } from './lib/redact';
import { getSharedManager } from './lib/registry';
import { ContextStateStore, type ContextLike } from './lib/persistence';
import { DEFAULT_LOOKBACK_MS, DEFAULT_MAX_HOLD_MS } from './lib/recovery';
import { endAllGraces, reliableStreamFor, type ReliableStateChange, type ReliableStream } from './lib/reliable-stream';
import { parseList } from './lib/filters';
import { BinanceApiError, RestClient, type RestParams } from './lib/rest';
import { createSigner, CredentialsError, type Signer } from './lib/signing';
import type { StreamManager } from './lib/stream-manager';
import { ConsumptionTracker, type UnconsumedReport } from './lib/unconsumed';
import {
  ENVIRONMENTS,
  KEY_TYPES,
  MARKETS,
  type AccountConfig,
  type Environment,
  type KeyType,
  type Market,
  type StateChange,
  type UserDataEvent,
} from './lib/types';

const TYPE = 'binance-account';
/** Password fields that were not changed in the editor are sent as this placeholder. */
const UNCHANGED_PASSWORD = '__PWRD__';
/** Close must finish well within Node-RED's 15 s. */
const CLOSE_DEADLINE_MS = 12_000;

interface AccountCredentials {
  apiKey?: string;
  apiSecret?: string;
  privateKey?: string;
  passphrase?: string;
}

interface AccountNodeDef extends NodeDef {
  market?: string;
  symbol?: string;
  environment?: string;
  restUrl?: string;
  wsUrl?: string;
  keyType?: string;
  recvWindow?: string | number;
  keepaliveInterval?: string | number;
  /** Futures stream URL form: '' (DEFAULT_FUTURES_PATH_FORM), 'ws-query' or 'ws-path'. */
  futuresPathForm?: string;
  /** COIN-M family: '' (DEFAULT_COINM_API), 'dapi' or 'fapi' (unified). */
  coinmApi?: string;
  /** Recover missed fills after a gap (default true). */
  recovery?: boolean | string;
  /** Symbols always reconciled after a gap (comma / space separated). */
  recoverySymbols?: string;
  /** Look-back of recoveries in hours (default 24). */
  recoveryLookback?: string | number;
  /** Context store for the recovery cursors (empty = the default store). */
  recoveryStore?: string;
  /** Longest a live event waits for a recovery, seconds (default 5). */
  liveHoldLimit?: string | number;
}

interface RecoverySettings {
  enabled: boolean;
  symbols: string[];
  lookbackMs: number;
  storeName: string | undefined;
  maxHoldMs: number;
}

/** Recovery settings from the node's properties; an error text when the look-back is invalid. */
function recoverySettings(def: AccountNodeDef): RecoverySettings | string {
  const enabled = !(def.recovery === false || def.recovery === 'false');
  const hours = optionalNumber(def.recoveryLookback);
  if (hours !== undefined && !(hours > 0 && hours <= 24 * 90)) return 'the recovery look-back must be between 0 and 2160 hours';
  const storeName = typeof def.recoveryStore === 'string' && def.recoveryStore.trim() !== '' ? def.recoveryStore.trim() : undefined;
  const hold = optionalNumber(def.liveHoldLimit);
  if (hold !== undefined && !(hold >= 0 && hold <= 600)) return 'the live hold limit must be between 0 and 600 seconds';
  return {
    maxHoldMs: hold !== undefined ? Math.round(hold * 1000) : DEFAULT_MAX_HOLD_MS,
    enabled,
    symbols: parseList(def.recoverySymbols),
    lookbackMs: hours !== undefined ? Math.round(hours * 3_600_000) : DEFAULT_LOOKBACK_MS,
    storeName,
  };
}

type AccountNode = Node<AccountCredentials> & AccountHandle & { users: Record<string, AccountUser> };

interface UserRecord {
  user: AccountUser;
  showLastEvent: boolean;
  lastText?: string;
}


function optionalNumber(v: unknown): number | undefined {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

interface BuiltConfig {
  config?: AccountConfig;
  /** Catalog key (under binance-account.errors.) or a literal reason. */
  errorKey?: string;
  errorText?: string;
}

/** Builds the core AccountConfig from the node's properties and credentials, and validates it. */
function buildAccountConfig(def: AccountNodeDef, creds: AccountCredentials): BuiltConfig {
  const market = str(def.market) ?? 'spot';
  const environment = str(def.environment) ?? 'production';
  const keyType = str(def.keyType) ?? 'hmac';
  if (!(MARKETS as readonly string[]).includes(market)) return { errorKey: 'bad-market' };
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) return { errorText: `unknown environment "${environment}"` };
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) return { errorText: `unknown key type "${keyType}"` };
  const apiKey = (creds.apiKey ?? '').trim();
  if (!apiKey) return { errorKey: 'missing-api-key' };
  const credentials = {
    apiKey,
    apiSecret: keyType === 'hmac' ? (creds.apiSecret ?? '').trim() : undefined,
    privateKey: keyType === 'hmac' ? undefined : normalizePem(creds.privateKey),
    passphrase: keyType === 'hmac' ? undefined : creds.passphrase || undefined,
  };
  if (keyType === 'hmac' && !credentials.apiSecret) return { errorKey: 'missing-secret' };
  if (keyType !== 'hmac' && !credentials.privateKey) return { errorKey: 'missing-private-key' };
  const symbol = (str(def.symbol) ?? '').trim().toUpperCase();
  if (market === 'isolated-margin' && !symbol) return { errorKey: 'missing-symbol' };
  if (environment === 'custom' && (!str(def.restUrl)?.trim() || !str(def.wsUrl)?.trim())) return { errorKey: 'missing-urls' };
  const recvWindow = optionalNumber(def.recvWindow);
  if (recvWindow !== undefined && !(recvWindow > 0 && recvWindow <= 60_000)) {
    return { errorText: 'recvWindow must be between 1 and 60000 ms' };
  }
  const keepalive = optionalNumber(def.keepaliveInterval);
  if (keepalive !== undefined && !(keepalive > 0 && keepalive < 60)) {
    return { errorText: 'keepalive interval must be between 1 and 59 minutes' };
  }
  const pathForm = (str(def.futuresPathForm) ?? '').trim();
  if (pathForm !== '' && pathForm !== 'ws-query' && pathForm !== 'ws-path') {
    return { errorText: 'futures stream URL form must be ws-query or ws-path' };
  }
  const coinmApi = (str(def.coinmApi) ?? '').trim();
  if (coinmApi !== '' && coinmApi !== 'dapi' && coinmApi !== 'fapi') {
    return { errorText: 'COIN-M API must be dapi or fapi' };
  }
  const config: AccountConfig = {
    market: market as Market,
    environment: environment as Environment,
    keyType: keyType as KeyType,
    credentials,
    ...(market === 'isolated-margin' ? { symbol } : {}),
    ...(environment === 'custom' ? { restUrl: str(def.restUrl)?.trim(), wsUrl: str(def.wsUrl)?.trim() } : {}),
    ...(recvWindow !== undefined ? { recvWindow } : {}),
    ...(keepalive !== undefined ? { keepaliveIntervalMs: Math.round(keepalive * 60_000) } : {}),
    ...(pathForm === 'ws-query' || pathForm === 'ws-path' ? { futuresPathForm: pathForm } : {}),
    ...(market === 'coinm-futures' && (coinmApi === 'dapi' || coinmApi === 'fapi') ? { coinmApi } : {}),
  };
  try {
    resolveEndpoints(config);
    createSigner(config.keyType, config.credentials); // a PEM that cannot be loaded, a wrong passphrase
  } catch (err) {
    return { errorText: err instanceof Error ? err.message : String(err) };
  }
  return { config };
}

// ---------------------------------------------------------------------------
// Test connection

type TestProblem =
  | 'bad-key'
  | 'bad-key-format'
  | 'bad-signature'
  | 'clock-skew'
  | 'ip-or-permission'
  | 'network'
  | 'url'
  | 'config'
  | 'rate-limit'
  | 'server'
  | 'unknown';

interface TestResult {
  ok: boolean;
  market?: string;
  environment?: string;
  problem?: TestProblem;
  code?: number;
  httpStatus?: number;
  message?: string;
  serverTime?: number;
  clockOffsetMs?: number;
  accountType?: string;
  permissions?: Record<string, boolean | string[]>;
  warnings?: string[];
  /** In words, when the key can trade or move funds (read-only is enough here). */
  keyWarning?: string;
}

/**
 * What the key may do beyond reading, in words, or undefined for a read-only key. From
 * `GET /sapi/v1/account/apiRestrictions` (the key's own permissions; spot/margin REST base only)
 * when it answers, otherwise from the account answer's flags (canTrade, canWithdraw, ...).
 */
async function keyPowers(rest: RestClient, market: string, permissions: Record<string, boolean | string[]>): Promise<string | undefined> {
  let flags: Record<string, unknown> = permissions;
  let source = 'the account answer';
  if (market === 'spot' || market === 'margin' || market === 'isolated-margin') {
    try {
      const ep = REST.margin.apiRestrictions;
      const r = await rest.request<Record<string, unknown>>('GET', ep.path, {}, { security: 'signed', weight: endpointWeight(ep) });
      if (r && typeof r === 'object') {
        flags = r;
        source = 'the key\'s API restrictions';
      }
    } catch {
      // not offered here (testnet, some gateways): fall back to the account's flags
    }
  }
  const on = (...names: string[]): string[] => names.filter((n) => flags[n] === true);
  const trade = on('enableSpotAndMarginTrading', 'enableMargin', 'enableFutures', 'enableVanillaOptions', 'enablePortfolioMarginTrading', 'canTrade', 'tradeEnabled');
  const move = on('enableWithdrawals', 'enableInternalTransfer', 'permitsUniversalTransfer', 'canWithdraw', 'transferEnabled');
  if (trade.length === 0 && move.length === 0) return undefined;
  const what = trade.length && move.length ? 'trade and withdraw or transfer funds' : trade.length ? 'trade' : 'withdraw or transfer funds';
  return (
    `This key can ${what} (${[...trade, ...move].join(', ')} in ${source}). ` +
    'This package only reads: a read-only key is enough, and a leaked read-only key cannot move funds. Consider a read-only key.'
  );
}

/** The host of the account's balances when it is not the account's REST host (COIN-M unified: dapi). */
function accountRestBase(ep: ResolvedEndpoints): string | undefined {
  return ep.recovery.restUrl !== ep.restUrl ? ep.recovery.restUrl : undefined;
}

function problemOf(err: unknown, stage: 'time' | 'account'): TestProblem {
  if (err instanceof CredentialsError) return 'config';
  if (!(err instanceof BinanceApiError)) return 'unknown';
  switch (err.code) {
    case ERROR_CODES.BAD_API_KEY_FORMAT:
      return 'bad-key-format';
    case ERROR_CODES.REJECTED_API_KEY:
      return 'bad-key';
    case ERROR_CODES.BAD_SIGNATURE:
      return 'bad-signature';
    case ERROR_CODES.TIMESTAMP:
      return 'clock-skew';
    default:
      break;
  }
  if (err.kind === 'network') return 'network';
  if (err.kind === 'rate-limit' || err.kind === 'banned') return 'rate-limit';
  if (err.httpStatus === 401) return 'bad-key';
  if (err.httpStatus === 403) return 'ip-or-permission';
  if (err.httpStatus === 404) return 'url';
  if (err.kind === 'server') return stage === 'time' && err.httpStatus === undefined ? 'url' : 'server';
  return 'unknown';
}

function permissionsOf(account: unknown): { accountType?: string; permissions: Record<string, boolean | string[]> } {
  const permissions: Record<string, boolean | string[]> = {};
  let accountType: string | undefined;
  const visit = (o: unknown): void => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return;
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      if (typeof v === 'boolean' && (/^can[A-Z]/.test(k) || /Enabled$/.test(k))) permissions[k] = v;
      if (k === 'permissions' && Array.isArray(v)) permissions.permissions = v.filter((x): x is string => typeof x === 'string');
      if (k === 'accountType' && typeof v === 'string') accountType = v;
    }
  };
  visit(account);
  // isolated margin: the flags sit on the symbol's entry
  const assets = (account as { assets?: unknown } | null)?.assets;
  if (Array.isArray(assets) && assets.length > 0 && assets[0] && typeof assets[0] === 'object' && 'symbol' in assets[0]) {
    visit(assets[0]);
  }
  return { accountType, permissions };
}

/**
 * Checks the key: server time (clock offset), then one signed account request. Never throws and
 * never returns a secret: every text goes through the redactor of the credentials used.
 */
/**
 * @param savedRestUrl when saved credentials are used: the REST server they were deployed with
 *   (null when unknown). Saved secrets are only ever sent there, so a changed URL in the dialog
 *   cannot be used to send a deployed key to another host.
 */
async function testConnection(def: AccountNodeDef, creds: AccountCredentials, savedRestUrl?: string | null): Promise<TestResult> {
  const redactor = new Redactor([creds.apiKey, creds.apiSecret, creds.privateKey, normalizePem(creds.privateKey), creds.passphrase]);
  const base: TestResult = { ok: false, market: str(def.market), environment: str(def.environment) };
  const built = buildAccountConfig(def, creds);
  if (!built.config) {
    const reason = built.errorText ?? (built.errorKey ? CONFIG_REASONS[built.errorKey] ?? built.errorKey : 'invalid configuration');
    const urlProblem = /URL/.test(reason);
    return { ...base, problem: urlProblem ? 'url' : 'config', message: redactor.apply(reason) };
  }
  const cfg = built.config;
  let signer: Signer | Error;
  try {
    signer = createSigner(cfg.keyType, cfg.credentials);
  } catch (err) {
    return { ...base, problem: 'config', message: redactor.apply(err instanceof Error ? err.message : String(err)) };
  }
  const endpoints = resolveEndpoints(cfg);
  if (savedRestUrl !== undefined && savedRestUrl !== endpoints.restUrl) {
    return { ...base, problem: 'config', message: 'enter the API key and secret again to test them against a different server than the deployed one' };
  }
  const rest = new RestClient({
    baseUrl: endpoints.restUrl,
    apiKey: cfg.credentials.apiKey,
    signer,
    recvWindow: cfg.recvWindow ?? 5000,
    timePath: endpoints.timePath,
    redactor,
  });
  const fail = (err: unknown, stage: 'time' | 'account', extra: Partial<TestResult> = {}): TestResult => {
    const e = err instanceof BinanceApiError ? err : undefined;
    return {
      ...base,
      ...extra,
      problem: problemOf(err, stage),
      code: e?.code,
      httpStatus: e?.httpStatus,
      message: redactor.apply(err instanceof Error ? err.message : String(err)),
    };
  };
  let offset: number;
  try {
    offset = await rest.clock.sync();
  } catch (err) {
    return fail(err, 'time');
  }
  const timeInfo: Partial<TestResult> = { serverTime: rest.clock.now(), clockOffsetMs: Math.round(offset) };
  const warnings: string[] = [];
  if (Math.abs(offset) >= 1000) warnings.push('clock-skew');
  const req = ACCOUNT_REQUESTS[cfg.market];
  const params: RestParams = accountRequestParams(cfg.market, cfg.symbol);
  try {
    const account = await rest.request<unknown>('GET', `${accountRestBase(endpoints) ?? ''}${req.path}`, params, { security: 'signed', weight: req.weight });
    const { accountType, permissions } = permissionsOf(account);
    const keyWarning = await keyPowers(rest, cfg.market, permissions);
    return clean({ ...base, ...timeInfo, ok: true, accountType, permissions, warnings: warnings.length ? warnings : undefined, keyWarning });
  } catch (err) {
    return clean(fail(err, 'account', { ...timeInfo, warnings: warnings.length ? warnings : undefined }));
  }
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** English reasons for configuration errors (used in the test endpoint's response; shown as a sentence). */
const CONFIG_REASONS: Record<string, string> = {
  'missing-api-key': 'The API key is missing.',
  'missing-secret': 'The API secret is missing (HMAC key).',
  'missing-private-key': 'The private key is missing (Ed25519/RSA key).',
  'missing-symbol': 'The symbol is missing (isolated margin).',
  'missing-urls': 'The REST and WebSocket URLs are required for a custom environment.',
  'bad-market': 'Unknown market.',
};

/** Node status (catalog key under binance-account.status.) for each configuration error. */
const CONFIG_STATUS_KEYS: Record<string, string> = {
  'missing-api-key': 'no-api-key',
  'missing-secret': 'no-api-secret',
  'missing-private-key': 'no-private-key',
  'missing-symbol': 'no-symbol',
  'missing-urls': 'no-urls',
};

/**
 * Credentials for the test, read as a deploy would read them: a field left unchanged in the dialog
 * (the `__PWRD__` placeholder) or not sent at all means the saved value; an emptied field ('') means
 * no value, exactly as Node-RED deletes an emptied credential at deploy; anything else is the typed
 * value. `usedSaved` tells whether any saved value was taken.
 */
function mergeCredentials(given: unknown, saved: AccountCredentials | undefined): { creds: AccountCredentials; usedSaved: boolean } {
  const g = (given && typeof given === 'object' ? given : {}) as Record<string, unknown>;
  let usedSaved = false;
  const pick = (k: keyof AccountCredentials): string | undefined => {
    const v = g[k];
    if (v === '') return undefined;
    if (typeof v === 'string' && v !== UNCHANGED_PASSWORD) return v;
    const s = saved?.[k];
    if (typeof s === 'string' && s !== '') {
      usedSaved = true;
      return s;
    }
    return undefined;
  };
  const creds = { apiKey: pick('apiKey'), apiSecret: pick('apiSecret'), privateKey: pick('privateKey'), passphrase: pick('passphrase') };
  return { creds, usedSaved };
}

// ---------------------------------------------------------------------------

const watchedRuntimes = new WeakSet<object>();

export = function register(RED: NodeAPI): void {
  // One 'flows:started' listener for all account nodes of this runtime (one per node would
  // trip Node's MaxListenersExceededWarning from the 11th account); it notifies the live ones.
  const flowsStartedHandlers = new Set<() => void>();
  const onFlowsStartedAll = (): void => {
    for (const h of [...flowsStartedHandlers]) {
      try {
        h();
      } catch {
        // one node's handler must not keep the others from running
      }
    }
  };
  const watchFlowsStarted = (h: () => void): void => {
    if (flowsStartedHandlers.size === 0) RED.events.on('flows:started', onFlowsStartedAll);
    flowsStartedHandlers.add(h);
  };
  const unwatchFlowsStarted = (h: () => void): void => {
    if (!flowsStartedHandlers.delete(h)) return;
    if (flowsStartedHandlers.size === 0) RED.events.removeListener('flows:started', onFlowsStartedAll);
  };

  const t = makeTranslate(RED, TYPE);

  // A stop that no deploy follows (shutdown, "stop flows"): streams kept for a redeploy close now.
  // One listener per runtime (the module may be registered again, e.g. by the test helper).
  if (!watchedRuntimes.has(RED.events)) {
    watchedRuntimes.add(RED.events);
    RED.events.on('runtime-event', (ev: { id?: string; payload?: { state?: string; deploy?: boolean } }) => {
      if (ev?.id === 'runtime-state' && ev.payload?.state === 'stop' && !ev.payload.deploy) void endAllGraces();
    });
  }

  function BinanceAccountNode(this: AccountNode, def: AccountNodeDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const creds: AccountCredentials = node.credentials ?? {};
    const secrets = [creds.apiKey, creds.apiSecret, creds.privateKey, normalizePem(creds.privateKey), creds.passphrase];
    const redactor = new Redactor(secrets);
    const redact = (text: string): string => redactor.apply(text);
    const built = buildAccountConfig(def, creds);
    const recoveryCfg = recoverySettings(def);
    const configError = built.config
      ? typeof recoveryCfg === 'string'
        ? recoveryCfg
        : undefined
      : redact(built.errorText ?? t(`${TYPE}.errors.${built.errorKey ?? 'invalid-config'}`));

    const records = new Map<string, UserRecord>();
    /** Consumers this node has acquired on the manager. */
    const held = new Set<string>();
    /** Consumers restarted (not removed): released if they do not register again after the deploy. */
    const pending = new Set<string>();
    let manager: StreamManager | undefined;
    let stream: ReliableStream | undefined;
    let store: ContextStateStore | undefined;
    let closing = false;
    let configErrorReported = false;

    const users: Record<string, AccountUser> = {};

    const statusOf = (rec: UserRecord): { fill: StatusSpec['fill']; shape: StatusSpec['shape']; text: string } => {
      if (configError || !manager) {
        // say which part is missing ("no API key"), else "invalid config"
        const key = (built.errorKey && CONFIG_STATUS_KEYS[built.errorKey]) || 'invalid-config';
        return { fill: 'red', shape: 'ring', text: t(`${TYPE}.status.${key}`) };
      }
      const current = stream?.currentState ?? manager.currentState;
      if (current.state === 'recovering') {
        // I3: says since when and why (e.g. "catching up since 14:03:07: recovering what was missed (reconnect)")
        const rs = current as ReliableStateChange;
        const since = typeof rs.since === 'number' ? new Date(rs.since).toTimeString().slice(0, 8) : undefined;
        const text = since
          ? t(`${TYPE}.status.recovering-since`, { since, why: rs.message ?? '' })
          : t(`${TYPE}.status.recovering`);
        return { fill: 'yellow', shape: 'dot', text };
      }
      const spec = statusForState({ ...current, state: current.state }, rec.showLastEvent ? manager.lastEventAt : undefined);
      const vars = spec.reasonKey ? { ...spec.vars, reason: t(`${TYPE}.status.${spec.reasonKey}`) } : spec.vars;
      const text = spec.text ?? t(`${TYPE}.status.${spec.key ?? 'error'}`, vars);
      return { fill: spec.fill, shape: spec.shape, text };
    };

    const push = (rec: UserRecord, force = true): void => {
      const s = statusOf(rec);
      if (!force && s.text === rec.lastText) return;
      rec.lastText = s.text;
      try {
        rec.user.status(s);
      } catch {
        // a closed node: nothing to show
      }
    };

    const onState = (_change: StateChange | ReliableStateChange): void => {
      for (const rec of records.values()) push(rec);
    };
    // Events no consumer took: counted per type, noted in the log once per type (issue 13).
    const unconsumed = new ConsumptionTracker();
    unconsumed.on('unconsumed', (r: UnconsumedReport) => {
      if (r.first) node.warn(t(`${TYPE}.warnings.unconsumed`, { type: r.eventType }));
    });
    const onEvent = (e: UserDataEvent): void => {
      unconsumed.observe(e);
      for (const rec of records.values()) if (rec.showLastEvent) push(rec, false);
    };

    const getManager = (): StreamManager | undefined => {
      if (configError || !built.config || closing) return undefined;
      if (!manager) {
        manager = getSharedManager(built.config, {
          logger: {
            debug: (m) => node.debug(redact(m)),
            info: (m) => node.log(redact(m)),
            warn: (m) => node.warn(redact(m)),
            error: (m) => node.error(redact(m)),
          },
        });
        // one listener per consumer node (plus ours): more than the default 10 is normal
        manager.setMaxListeners(0);
        const rc = recoveryCfg as RecoverySettings;
        if (rc.enabled) {
          try {
            store = new ContextStateStore(node.context() as unknown as ContextLike, undefined, rc.storeName);
          } catch {
            store = undefined;
          }
        }
        stream = reliableStreamFor(manager, {
          market: built.config.market,
          recovery: rc.enabled,
          symbols: rc.symbols,
          isolatedSymbol: built.config.symbol,
          lookbackMs: rc.lookbackMs,
          maxHoldMs: rc.maxHoldMs,
          store,
          restUrl: resolveEndpoints(built.config).restUrl,
          recoveryEndpoints: resolveEndpoints(built.config).recovery,
          logger: {
            debug: (m) => node.debug(redact(m)),
            info: (m) => node.log(redact(m)),
            warn: (m) => node.warn(redact(m)),
            error: (m) => node.error(redact(m)),
          },
        });
        stream.on('state', onState);
        stream.on('event', onEvent);
      }
      return manager;
    };

    const getStream = (): ReliableStream | undefined => {
      getManager();
      return stream;
    };

    const releaseIds = async (ids: string[]): Promise<void> => {
      const m = manager;
      if (!m) return;
      await Promise.all(
        ids.map((id) =>
          m.release(id).catch((err: unknown) => node.warn(redact(`release failed: ${err instanceof Error ? err.message : String(err)}`))),
        ),
      );
    };

    const onFlowsStarted = (): void => {
      // Every node of the deploy listens now: events kept while the stream was adopted leave.
      stream?.resume();
      const stale = [...pending].filter((id) => !records.has(id));
      pending.clear();
      for (const id of stale) held.delete(id);
      if (stale.length) void releaseIds(stale);
    };
    watchFlowsStarted(onFlowsStarted);

    Object.assign(node, {
      isBinanceAccount: true as const,
      market: (built.config?.market ?? def.market ?? 'spot') as Market,
      symbol: built.config?.symbol,
      accountLabel: def.name || node.id,
      configError,
      deployedRestUrl: built.config ? resolveEndpoints(built.config).restUrl : undefined,
      accountRestBase: built.config ? accountRestBase(resolveEndpoints(built.config)) : undefined,
      users,
      getManager,
      getStream,
      redact,
      unconsumed,
      accepted: (e: UserDataEvent): void => unconsumed.accept(e),
      register(user: AccountUser, opts: RegisterOptions = {}): void {
        const rec: UserRecord = { user, showLastEvent: opts.showLastEvent === true };
        records.set(user.id, rec);
        users[user.id] = user;
        pending.delete(user.id);
        const m = getManager();
        if (!m) {
          if (configError && !configErrorReported) {
            configErrorReported = true;
            node.error(t(`${TYPE}.errors.invalid-config`, { reason: configError }));
          }
          push(rec);
          return;
        }
        if (!held.has(user.id)) {
          held.add(user.id);
          m.acquire(user.id);
        }
        push(rec);
      },
      deregister(user: AccountUser, done: () => void, removed: boolean): void {
        records.delete(user.id);
        delete users[user.id];
        if (!held.has(user.id) || !manager) {
          done();
          return;
        }
        if (!removed) {
          pending.add(user.id);
          done();
          return;
        }
        held.delete(user.id);
        releaseIds([user.id]).finally(done);
      },
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      unwatchFlowsStarted(onFlowsStarted);
      const m = manager;
      const s = stream;
      const ids = [...held];
      held.clear();
      pending.clear();
      records.clear();
      if (!m) {
        done();
        return;
      }
      s?.removeListener('state', onState);
      s?.removeListener('event', onEvent);
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        done();
      };
      const timer = setTimeout(finish, CLOSE_DEADLINE_MS);
      // The stream first (it keeps the connection for a redeploy to adopt), then the consumers.
      const released = s ? s.release(store) : Promise.resolve();
      Promise.all([released, releaseIds(ids)])
        .catch((err: unknown) => node.warn(redact(`close failed: ${err instanceof Error ? err.message : String(err)}`)))
        .finally(finish);
    });
  }

  RED.nodes.registerType<AccountNode, AccountNodeDef, object, AccountCredentials>(TYPE, BinanceAccountNode, {
    credentials: {
      apiKey: { type: 'password' },
      apiSecret: { type: 'password' },
      privateKey: { type: 'password' },
      passphrase: { type: 'password' },
    },
  });

  RED.httpAdmin.post('/binance-user-stream/test-connection', RED.auth.needsPermission('binance-account.write'), (req, res) => {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const id = typeof body.id === 'string' && body.id !== '' ? body.id : undefined;
    let saved: AccountCredentials | undefined;
    let deployedRestUrl: string | null = null;
    if (id) {
      try {
        saved = (RED.nodes.getCredentials(id) as AccountCredentials | undefined) ?? undefined;
      } catch {
        saved = undefined;
      }
      const n = RED.nodes.getNode(id) as unknown;
      if (isAccountHandle(n)) {
        const dn = n as unknown as Node<AccountCredentials> & { deployedRestUrl?: string };
        saved ??= dn.credentials;
        deployedRestUrl = dn.deployedRestUrl ?? null;
      }
    }
    const def: AccountNodeDef = {
      id: id ?? '',
      type: TYPE,
      name: '',
      z: '',
      market: str(body.market),
      symbol: str(body.symbol),
      environment: str(body.environment),
      restUrl: str(body.restUrl),
      wsUrl: str(body.wsUrl),
      keyType: str(body.keyType),
      recvWindow: str(body.recvWindow) ?? (typeof body.recvWindow === 'number' ? body.recvWindow : undefined),
    };
    const { creds, usedSaved } = mergeCredentials(body.credentials, saved);
    testConnection(def, creds, usedSaved ? deployedRestUrl : undefined)
      .then((r) => res.json(r))
      .catch((err: unknown) => {
        const redactor = new Redactor([creds.apiKey, creds.apiSecret, creds.privateKey, creds.passphrase]);
        res.json({ ok: false, problem: 'unknown', message: redactor.apply(err instanceof Error ? err.message : String(err)) });
      });
  });
};
