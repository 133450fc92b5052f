/**
 * "What does Test connection check": `checkKey(settings)`, for any adapter's test button.
 *
 *  1. the settings (account/settings.ts): a missing key, secret, symbol or URL, a PEM that does not
 *     load → problem `config` (or `url` when the reason is about a URL);
 *  2. saved credentials go only to the server they were deployed with (`savedRestUrl`);
 *  3. the server time (clock offset; a warning `clock-skew` from 1 s on);
 *  4. one signed account request (the market's ACCOUNT_REQUESTS entry) → account type and the
 *     permission flags it shows;
 *  5. what the key may do beyond reading (`keyWarning`, keyPowers()).
 * Failures are classified (problemOf) into the problems the editor explains. Every sentence we
 * write comes with its code (`messageCode`/`messageParams`, `keyWarningCode`/`keyWarningParams`,
 * texts.ts) for a translated text; the exchange's own words stay a verbatim parameter (`msg`).
 * Never throws and never returns a secret: every text goes through the settings' redactor.
 */
import type { ResolvedEndpoints } from '../exchange/endpoints';
import { endpointWeight, ERROR_CODES, REST } from '../exchange/facts';
import { ACCOUNT_REQUESTS, accountRequestParams } from '../normalize';
import { BinanceApiError, RestClient } from '../transport/rest';
import { CredentialsError } from '../exchange/signing';
import { DEFAULT_RECV_WINDOW_MS } from '../stream/manager-setup';
import { errText } from '../util';
import { mapParams, textOf, type KEY_POWER_SOURCES, type TextCode, type TextParams, type TextRef } from '../texts';
import { prepareAccount, type AccountSettings } from './settings';

/** The host of the account's balances when it is not the account's REST host (COIN-M unified: dapi). */
export function accountRestBase(ep: ResolvedEndpoints): string | undefined {
  return ep.recovery.restUrl !== ep.restUrl ? ep.recovery.restUrl : undefined;
}

export type KeyCheckProblem =
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

/** Every problem checkKey() may report (the editor has a text for each). */
export const KEY_CHECK_PROBLEMS: readonly KeyCheckProblem[] = [
  'bad-key',
  'bad-key-format',
  'bad-signature',
  'clock-skew',
  'ip-or-permission',
  'network',
  'url',
  'config',
  'rate-limit',
  'server',
  'unknown',
];

export interface KeyCheckResult {
  ok: boolean;
  market?: string;
  environment?: string;
  problem?: KeyCheckProblem;
  code?: number;
  httpStatus?: number;
  /** In English (n8n, logs); redacted. */
  message?: string;
  /** The message's code and parameters (texts.ts), for a translated text; absent when it has none. */
  messageCode?: TextCode;
  messageParams?: TextParams;
  serverTime?: number;
  clockOffsetMs?: number;
  accountType?: string;
  permissions?: Record<string, boolean | string[]>;
  warnings?: string[];
  /** In words, when the key can trade or move funds (read-only is enough here). */
  keyWarning?: string;
  /** keyWarning's code (`key-can-*`) and parameters (`flags`: the flag names; `source`: KEY_POWER_SOURCES). */
  keyWarningCode?: TextCode;
  keyWarningParams?: TextParams;
}

export interface KeyCheckOptions {
  /**
   * When saved credentials are used: the REST server they were deployed with (null when unknown).
   * Saved secrets are only ever sent there, so a changed URL in a form cannot send a deployed key
   * to another host. Undefined: the credentials were typed, any server may be asked.
   */
  savedRestUrl?: string | null;
}

/**
 * What the key may do beyond reading, in words, or undefined for a read-only key. From
 * `GET /sapi/v1/account/apiRestrictions` (the key's own permissions; spot/margin REST base only)
 * when it answers, otherwise from the account answer's flags (canTrade, canWithdraw, ...).
 */
async function keyPowers(rest: RestClient, market: string, permissions: Record<string, boolean | string[]>): Promise<{ text: string; ref: TextRef } | undefined> {
  let flags: Record<string, unknown> = permissions;
  let source = 'the account answer';
  let sourceCode: (typeof KEY_POWER_SOURCES)[number] = 'account';
  if (market === 'spot' || market === 'margin' || market === 'isolated-margin') {
    try {
      const ep = REST.margin.apiRestrictions;
      const r = await rest.request<Record<string, unknown>>('GET', ep.path, {}, { security: 'signed', weight: endpointWeight(ep) });
      if (r && typeof r === 'object') {
        flags = r;
        source = 'the key\'s API restrictions';
        sourceCode = 'api-restrictions';
      }
    } catch {
      // not offered here (testnet, some gateways): fall back to the account's flags
    }
  }
  const on = (...names: string[]): string[] => names.filter((n) => flags[n] === true);
  const trade = on('enableSpotAndMarginTrading', 'enableMargin', 'enableFutures', 'enableVanillaOptions', 'enablePortfolioMarginTrading', 'canTrade', 'tradeEnabled');
  const move = on('enableWithdrawals', 'enableInternalTransfer', 'permitsUniversalTransfer', 'canWithdraw', 'transferEnabled');
  if (trade.length === 0 && move.length === 0) return undefined;
  const [what, code] =
    trade.length && move.length
      ? (['trade and withdraw or transfer funds', 'key-can-trade-move'] as const)
      : trade.length
        ? (['trade', 'key-can-trade'] as const)
        : (['withdraw or transfer funds', 'key-can-move'] as const);
  const names = [...trade, ...move].join(', ');
  return {
    text:
      `This key can ${what} (${names} in ${source}). ` +
      'This package only reads: a read-only key is enough, and a leaked read-only key cannot move funds. Consider a read-only key.',
    ref: { code, params: { flags: names, source: sourceCode } },
  };
}

/** The problem a failed request stands for. */
export function problemOf(err: unknown, stage: 'time' | 'account'): KeyCheckProblem {
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

/** Account type and permission flags (`can*`, `*Enabled`, `permissions`) of an account answer. */
export function permissionsOf(account: unknown): { accountType?: string; permissions: Record<string, boolean | string[]> } {
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

/** `messageCode` / `messageParams` of a text ref (redacted), or nothing. */
function messageRef(t: TextRef | undefined, redact: (s: string) => string): Pick<KeyCheckResult, 'messageCode' | 'messageParams'> {
  if (!t) return {};
  const r = mapParams(t, redact);
  return r.params ? { messageCode: r.code, messageParams: r.params } : { messageCode: r.code };
}

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** Checks the key (see the top of this file). Never throws, never returns a secret. */
export async function checkKey(settings: AccountSettings, opts: KeyCheckOptions = {}): Promise<KeyCheckResult> {
  const prepared = prepareAccount(settings);
  const redactor = prepared.redactor;
  const redact = (s: string): string => redactor.apply(s);
  const base: KeyCheckResult = { ok: false, market: settings.market, environment: settings.environment };
  try {
    if (!prepared.ok) {
      const { message: reason, code, params } = prepared.problem;
      return { ...base, problem: /URL/.test(reason) ? 'url' : 'config', message: reason, ...messageRef(code ? { code, params } : undefined, redact) };
    }
    const cfg = prepared.config;
    if (opts.savedRestUrl !== undefined && opts.savedRestUrl !== prepared.restUrl) {
      return {
        ...base,
        problem: 'config',
        message: 'enter the API key and secret again to test them against a different server than the deployed one',
        messageCode: 'other-server',
      };
    }
    const rest = new RestClient({
      baseUrl: prepared.restUrl,
      apiKey: cfg.credentials.apiKey,
      signer: prepared.signer,
      recvWindow: cfg.recvWindow ?? DEFAULT_RECV_WINDOW_MS,
      timePath: prepared.endpoints.timePath,
      redactor,
    });
    const fail = (err: unknown, stage: 'time' | 'account', extra: Partial<KeyCheckResult> = {}): KeyCheckResult => {
      const e = err instanceof BinanceApiError ? err : undefined;
      return {
        ...base,
        ...extra,
        problem: problemOf(err, stage),
        code: e?.code,
        httpStatus: e?.httpStatus,
        message: redactor.apply(errText(err)),
        ...messageRef(textOf(err), redact),
      };
    };
    let offset: number;
    try {
      offset = await rest.clock.sync();
    } catch (err) {
      return fail(err, 'time');
    }
    const timeInfo: Partial<KeyCheckResult> = { serverTime: rest.clock.now(), clockOffsetMs: Math.round(offset) };
    const warnings: string[] = [];
    if (Math.abs(offset) >= 1000) warnings.push('clock-skew');
    const req = ACCOUNT_REQUESTS[cfg.market];
    try {
      const account = await rest.request<unknown>('GET', `${accountRestBase(prepared.endpoints) ?? ''}${req.path}`, accountRequestParams(cfg.market, cfg.symbol), {
        security: 'signed',
        weight: req.weight,
      });
      const { accountType, permissions } = permissionsOf(account);
      const powers = await keyPowers(rest, cfg.market, permissions);
      return clean({
        ...base,
        ...timeInfo,
        ok: true,
        accountType,
        permissions,
        warnings: warnings.length ? warnings : undefined,
        keyWarning: powers?.text,
        keyWarningCode: powers?.ref.code,
        keyWarningParams: powers?.ref.params,
      });
    } catch (err) {
      return clean(fail(err, 'account', { ...timeInfo, warnings: warnings.length ? warnings : undefined }));
    }
  } catch (err) {
    return { ok: false, problem: 'unknown', message: redactor.apply(errText(err)), ...messageRef(textOf(err), redact) };
  }
}
