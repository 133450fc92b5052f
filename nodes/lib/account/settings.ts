/**
 * An account's settings as a user gives them (plain values: an editor form, an n8n credential),
 * checked once: `prepareAccount()` validates every field, builds the one redactor and the one
 * signer, and returns either the core `AccountConfig` with the recovery options, or a problem
 * with a stable key (for a translated text) and an English sentence (already redacted).
 */
import { futuresPathFormError, futuresPathFormProblem, isFuturesPathForm, resolveEndpoints, type ResolvedEndpoints } from '../exchange/endpoints';
import { credentialsRedactor, normalizePem, type CredentialsInput } from '../exchange/credentials';
import { parseList } from '../events/filters';
import { DEFAULT_LOOKBACK_MS, DEFAULT_MAX_HOLD_MS } from '../recovery';
import type { Redactor } from '../exchange/redact';
import { errText } from '../util';
import { mapParams, textOf, type SettingsProblemKey, type TextCode, type TextParams } from '../texts';
import { createSigner, type Signer } from '../exchange/signing';
import { MAX_RECV_WINDOW_MS, recvWindowProblem } from '../stream/manager-setup';
import { ENVIRONMENTS, KEY_TYPES, MARKETS, type AccountConfig, type Environment, type KeyType, type Market } from '../types';

/**
 * Plain settings of one account. Numbers may come as strings (form fields); an empty string or
 * undefined means the default.
 */
export interface AccountSettings {
  /** 'spot' (default), 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures'. */
  market?: string;
  /** 'production' (default), 'testnet', 'demo', 'custom'. */
  environment?: string;
  /** REST base and WebSocket URL of a 'custom' environment (both required there). */
  restUrl?: string;
  wsUrl?: string;
  /** Isolated-margin symbol (required there). */
  symbol?: string;
  /** 'hmac' (default), 'ed25519', 'rsa'. */
  keyType?: string;
  credentials: CredentialsInput;
  /** Signed requests' recvWindow, ms (1–60000; default 5000). */
  recvWindowMs?: number | string;
  /** Futures listenKey keepalive, minutes (1–59; default 30). */
  keepaliveMinutes?: number | string;
  /** Futures stream URL form: '' (default), 'ws-query', 'ws-query-no-events' or 'ws-path' (endpoints.ts FUTURES_PATH_FORMS). */
  futuresPathForm?: string;
  /** COIN-M family: '' (default), 'dapi' or 'fapi' (unified). */
  coinmApi?: string;
  /** Recover missed fills after a gap (default true). */
  recovery?: boolean | string;
  /** Symbols always reconciled after a gap (comma / space separated, or a list). */
  recoverySymbols?: string | string[];
  /** Look-back of recoveries, hours (0–2160; default 24). */
  lookbackHours?: number | string;
  /** Longest a live event waits for a recovery, seconds (0–600; default 5). */
  liveHoldSeconds?: number | string;
  /** Symbols tracked for recovery at most (10–100 000; default 1000). Beyond: the least recently seen is dropped, visibly. */
  maxSymbols?: number | string;
  /** Open orders tracked for recovery at most (100–1 000 000; default 10 000). Beyond: the least recently seen is dropped, visibly. */
  maxOpenOrders?: number | string;
}

export interface RecoverySettings {
  enabled: boolean;
  symbols: string[];
  lookbackMs: number;
  maxHoldMs: number;
  /** Symbols tracked at most. */
  maxSymbols: number;
  /** Open orders tracked at most. */
  maxOpenOrders: number;
}

/** Default of `maxSymbols`. */
export const DEFAULT_MAX_SYMBOLS = 1000;
/** Default of `maxOpenOrders`. */
export const DEFAULT_MAX_OPEN_ORDERS = 10_000;

/** Keys of the problems that have their own text (Node-RED: `binance-account.errors.<key>`; list in texts.ts). */
export type { SettingsProblemKey } from '../texts';

export interface SettingsProblem {
  /** Set for the problems of SETTINGS_PROBLEM_TEXTS; absent for a literal reason. */
  key?: SettingsProblemKey;
  /** The sentence's code (texts.ts; the key for a keyed problem) and parameters, when it has one. */
  code?: TextCode;
  params?: TextParams;
  /** In English, redacted. */
  message: string;
}

/** English sentences of the keyed problems. */
export const SETTINGS_PROBLEM_TEXTS: Readonly<Record<SettingsProblemKey, string>> = {
  'missing-api-key': 'The API key is missing.',
  'missing-secret': 'The API secret is missing (HMAC key).',
  'missing-private-key': 'The private key is missing (Ed25519/RSA key).',
  'missing-symbol': 'The symbol is missing (isolated margin).',
  'missing-urls': 'The REST and WebSocket URLs are required for a custom environment.',
  'bad-market': 'Unknown market.',
};

interface PreparedBase {
  readonly prepared: true;
  /** Every secret of the settings, in every form: apply to any text that leaves the core. */
  readonly redactor: Redactor;
}

export interface ValidAccount extends PreparedBase {
  readonly ok: true;
  readonly config: AccountConfig;
  readonly recovery: RecoverySettings;
  readonly signer: Signer;
  /** The REST base the credentials are sent to. */
  readonly restUrl: string;
  readonly endpoints: ResolvedEndpoints;
}

export interface InvalidAccount extends PreparedBase {
  readonly ok: false;
  readonly problem: SettingsProblem;
}

export type PreparedAccount = ValidAccount | InvalidAccount;

export function isPreparedAccount(v: unknown): v is PreparedAccount {
  return v !== null && typeof v === 'object' && (v as { prepared?: unknown }).prepared === true;
}

function optionalNumber(v: unknown): number | undefined {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '')) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : NaN;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

type Checked = { config: AccountConfig; signer: Signer; endpoints: ResolvedEndpoints } | SettingsProblem;

function checkConnection(s: AccountSettings): Checked {
  const market = str(s.market) ?? 'spot';
  const environment = str(s.environment) ?? 'production';
  const keyType = str(s.keyType) ?? 'hmac';
  if (!(MARKETS as readonly string[]).includes(market)) return { key: 'bad-market', code: 'bad-market', message: SETTINGS_PROBLEM_TEXTS['bad-market'] };
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) return { code: 'unknown-environment', params: { environment }, message: `unknown environment "${environment}"` };
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) return { code: 'unknown-key-type', params: { keyType }, message: `unknown key type "${keyType}"` };
  const keyed = (key: SettingsProblemKey): SettingsProblem => ({ key, code: key, message: SETTINGS_PROBLEM_TEXTS[key] });
  const creds = s.credentials ?? {};
  const apiKey = (creds.apiKey ?? '').trim();
  if (!apiKey) return keyed('missing-api-key');
  const credentials = {
    apiKey,
    apiSecret: keyType === 'hmac' ? (creds.apiSecret ?? '').trim() : undefined,
    privateKey: keyType === 'hmac' ? undefined : normalizePem(creds.privateKey),
    passphrase: keyType === 'hmac' ? undefined : creds.passphrase || undefined,
  };
  if (keyType === 'hmac' && !credentials.apiSecret) return keyed('missing-secret');
  if (keyType !== 'hmac' && !credentials.privateKey) return keyed('missing-private-key');
  const symbol = (str(s.symbol) ?? '').trim().toUpperCase();
  if (market === 'isolated-margin' && !symbol) return keyed('missing-symbol');
  if (environment === 'custom' && (!str(s.restUrl)?.trim() || !str(s.wsUrl)?.trim())) return keyed('missing-urls');
  const recvWindow = optionalNumber(s.recvWindowMs);
  const recvProblem = recvWindow !== undefined ? recvWindowProblem(recvWindow) : undefined;
  if (recvProblem) return { code: 'recv-window-range', params: { max: MAX_RECV_WINDOW_MS }, message: recvProblem };
  const keepalive = optionalNumber(s.keepaliveMinutes);
  if (keepalive !== undefined && !(keepalive > 0 && keepalive < 60)) return { code: 'keepalive-range', message: 'keepalive interval must be between 1 and 59 minutes' };
  const pathForm = (str(s.futuresPathForm) ?? '').trim();
  if (pathForm !== '' && !isFuturesPathForm(pathForm)) return { ...textOf(futuresPathFormError(pathForm)), message: futuresPathFormProblem(pathForm) };
  const coinmApi = (str(s.coinmApi) ?? '').trim();
  if (coinmApi !== '' && coinmApi !== 'dapi' && coinmApi !== 'fapi') return { code: 'coinm-api', params: { value: coinmApi }, message: 'COIN-M API must be dapi or fapi' };
  const config: AccountConfig = {
    market: market as Market,
    environment: environment as Environment,
    keyType: keyType as KeyType,
    credentials,
    ...(market === 'isolated-margin' ? { symbol } : {}),
    ...(environment === 'custom' ? { restUrl: str(s.restUrl)?.trim(), wsUrl: str(s.wsUrl)?.trim() } : {}),
    ...(recvWindow !== undefined ? { recvWindow } : {}),
    ...(keepalive !== undefined ? { keepaliveIntervalMs: Math.round(keepalive * 60_000) } : {}),
    ...(isFuturesPathForm(pathForm) ? { futuresPathForm: pathForm } : {}),
    ...(market === 'coinm-futures' && (coinmApi === 'dapi' || coinmApi === 'fapi') ? { coinmApi } : {}),
  };
  try {
    const endpoints = resolveEndpoints(config);
    // a PEM that cannot be loaded, a wrong passphrase
    const signer = createSigner(config.keyType, config.credentials);
    return { config, signer, endpoints };
  } catch (err) {
    return { ...textOf(err), message: errText(err) };
  }
}

function checkRecovery(s: AccountSettings): RecoverySettings | SettingsProblem {
  const enabled = !(s.recovery === false || s.recovery === 'false');
  const hours = optionalNumber(s.lookbackHours);
  if (hours !== undefined && !(hours > 0 && hours <= 24 * 90)) return { code: 'lookback-range', message: 'the recovery look-back must be between 0 and 2160 hours' };
  const hold = optionalNumber(s.liveHoldSeconds);
  if (hold !== undefined && !(hold >= 0 && hold <= 600)) return { code: 'live-hold-range', message: 'the live hold limit must be between 0 and 600 seconds' };
  const maxSymbols = optionalNumber(s.maxSymbols);
  if (maxSymbols !== undefined && !(Number.isInteger(maxSymbols) && maxSymbols >= 10 && maxSymbols <= 100_000)) {
    return { code: 'max-symbols-range', message: 'the number of symbols tracked must be a whole number between 10 and 100000' };
  }
  const maxOrders = optionalNumber(s.maxOpenOrders);
  if (maxOrders !== undefined && !(Number.isInteger(maxOrders) && maxOrders >= 100 && maxOrders <= 1_000_000)) {
    return { code: 'max-open-orders-range', message: 'the number of open orders tracked must be a whole number between 100 and 1000000' };
  }
  return {
    enabled,
    symbols: parseList(s.recoverySymbols),
    lookbackMs: hours !== undefined ? Math.round(hours * 3_600_000) : DEFAULT_LOOKBACK_MS,
    maxHoldMs: hold !== undefined ? Math.round(hold * 1000) : DEFAULT_MAX_HOLD_MS,
    maxSymbols: maxSymbols ?? DEFAULT_MAX_SYMBOLS,
    maxOpenOrders: maxOrders ?? DEFAULT_MAX_OPEN_ORDERS,
  };
}

/** Validates the settings once; never throws, never returns a secret. */
export function prepareAccount(settings: AccountSettings): PreparedAccount {
  const redactor = credentialsRedactor(settings.credentials);
  const invalid = (p: SettingsProblem): InvalidAccount => ({
    prepared: true,
    ok: false,
    redactor,
    problem: { ...p, ...(p.code ? mapParams({ code: p.code, params: p.params }, (x) => redactor.apply(x)) : {}), message: redactor.apply(p.message) },
  });
  const c = checkConnection(settings);
  if (!('config' in c)) return invalid(c);
  const recovery = checkRecovery(settings);
  if ('message' in recovery) return invalid(recovery);
  return { prepared: true, ok: true, redactor, config: c.config, signer: c.signer, endpoints: c.endpoints, restUrl: c.endpoints.restUrl, recovery };
}
