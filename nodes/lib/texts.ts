/**
 * Stable codes for the sentences the core writes, so an adapter can show them in its user's
 * language: an Error or a result carries its English text (kept for n8n and logs) and, next to
 * it, `{ code, params }`. Node-RED's editor looks a code up in `binance-account.test.text.<code>`
 * (the settings problems of SETTINGS_PROBLEM_KEYS in `binance-account.errors.<code>`) and falls
 * back to the English text for a code it does not know. Parameters are identifiers, numbers or
 * text the exchange sent: they are shown as they are, never translated.
 */

/** Settings problems with their own text (Node-RED: `binance-account.errors.<key>`). */
export const SETTINGS_PROBLEM_KEYS = ['bad-market', 'missing-api-key', 'missing-secret', 'missing-private-key', 'missing-symbol', 'missing-urls'] as const;

/** Every other code (Node-RED: `binance-account.test.text.<code>`). */
export const TEXT_CODES = [
  // settings (account/settings.ts)
  'unknown-environment',
  'unknown-key-type',
  'recv-window-range',
  'keepalive-range',
  'futures-path-form',
  'coinm-api',
  'lookback-range',
  'live-hold-range',
  'max-symbols-range',
  'max-open-orders-range',
  // endpoints (exchange/endpoints.ts)
  'unknown-market',
  'url-required',
  'url-invalid',
  'url-userinfo',
  'url-scheme',
  'url-insecure',
  'no-environment',
  'isolated-symbol',
  // keys (exchange/signing.ts)
  'pem-missing',
  'pem-passphrase-rejected',
  'pem-passphrase-needed',
  'pem-invalid',
  'pem-wrong-type',
  // requests (transport/rest.ts); `msg` is the exchange's own text
  'no-server-time',
  'redirect-refused',
  'malformed-json',
  'timeout',
  'too-large',
  'network-error',
  'http-failed',
  // the key check (account/key-check.ts)
  'other-server',
  'key-can-trade',
  'key-can-move',
  'key-can-trade-move',
] as const;

/** Where key-check's key powers were read (`source` parameter; Node-RED: `binance-account.test.source.<source>`). */
export const KEY_POWER_SOURCES = ['api-restrictions', 'account'] as const;

export type SettingsProblemKey = (typeof SETTINGS_PROBLEM_KEYS)[number];
export type TextCode = (typeof TEXT_CODES)[number] | SettingsProblemKey;
export type TextParams = Record<string, string | number>;

/** A sentence by code. */
export interface TextRef {
  code: TextCode;
  params?: TextParams;
}

/** Attaches a code to an Error (kept by everything that passes the Error on). */
export function withText<E extends Error>(err: E, code: TextCode, params?: TextParams): E {
  (err as E & { text?: TextRef }).text = params ? { code, params } : { code };
  return err;
}

/** The code an Error carries, if any. */
export function textOf(err: unknown): TextRef | undefined {
  const t = err instanceof Error ? (err as Error & { text?: unknown }).text : undefined;
  return t !== null && typeof t === 'object' && typeof (t as TextRef).code === 'string' ? (t as TextRef) : undefined;
}

/** The text with every string parameter passed through `apply` (a redactor). */
export function mapParams(t: TextRef, apply: (s: string) => string): TextRef {
  if (!t.params) return { code: t.code };
  const params: TextParams = {};
  for (const [k, v] of Object.entries(t.params)) params[k] = typeof v === 'string' ? apply(v) : v;
  return { code: t.code, params };
}
