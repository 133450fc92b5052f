/**
 * Node status and message catalog helpers of the Node-RED side: a stream state as a truthful
 * status (a catalog key under `binance-account.status.` or a short literal), the short reason of a
 * failure, and `__name__` interpolation / dotted look-up in a catalog.
 */
import { ERROR_CODE_REASONS } from '../lib/exchange/facts';

export type StatusFill = 'red' | 'green' | 'yellow' | 'blue' | 'grey';
export type StatusShape = 'ring' | 'dot';

/**
 * A node status as a catalog key (under `binance-account.status.`) with its variables, or
 * a literal short text (`text`) when no key fits.
 */
export interface StatusSpec {
  fill: StatusFill;
  shape: StatusShape;
  key?: string;
  vars?: Record<string, string | number>;
  text?: string;
  /**
   * Why (reconnecting): a catalog key under `binance-account.status.` whose text the adapter puts in
   * `vars.reason` (with `reasonVars`); `vars.reason` is already set when the reason is a literal (e.g. "HTTP 502").
   */
  reasonKey?: string;
  /** The variables of `reasonKey`'s text (e.g. the network error's code). */
  reasonVars?: Record<string, string | number>;
}

/** Short reasons for exchange error codes (catalog keys under `binance-account.status.`): exchange/facts.ts. */
export { ERROR_CODE_REASONS };

/** Shortens a text for a node status (Node-RED recommends under 20 characters). */
export function shortText(s: string, max = 20): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length <= max ? t : `${t.slice(0, max - 1).trimEnd()}…`;
}

/** Node's network error codes: shown as "network error <code>". */
const NETWORK_ERRNO = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EPIPE|ERR_TLS_[A-Z_]+|CERT_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\b/;

/** How a connection ended (ws-connection's end reasons): catalog keys under `binance-account.status.`. */
const CONNECTION_END_REASON_KEYS: Readonly<Record<string, string>> = {
  'server-close': 'reason-server-close',
  watchdog: 'reason-watchdog',
};

/** A failure's short reason: a catalog key (under `binance-account.status.`) with its variables, or a literal text. */
export interface FailureReason {
  key?: string;
  vars?: Record<string, string | number>;
  /** Set when no key fits (a quoted server reason or an HTTP status). */
  text?: string;
}

/**
 * The short reason of a failure message for a status: how the connection ended, a network error's
 * code ("POST /fapi/v1/listenKey: network error (ENOTFOUND)" → key `reason-network`, code ENOTFOUND),
 * an HTTP status, else the first clause of the message without its request prefix, shortened;
 * undefined when there is nothing to say.
 */
export function failureReason(message: string): FailureReason | undefined {
  const ended = CONNECTION_END_REASON_KEYS[message.split(':')[0].trim()];
  if (ended && !NETWORK_ERRNO.test(message)) return { key: ended };
  const errno = NETWORK_ERRNO.exec(message);
  if (errno) return { key: 'reason-network', vars: { code: errno[1] } };
  const http = /\bHTTP (\d{3})\b/.exec(message) ?? /Unexpected server response: (\d{3})/.exec(message);
  if (http) return { text: `HTTP ${http[1]}` };
  const first = message.split(/[;\n]/)[0].replace(/^(GET|POST|PUT|DELETE) \S+: /, '').replace(/^connect failed: /, '').trim();
  return first ? { text: shortText(first, 32) } : undefined;
}

export interface StateLike {
  state: string;
  attempt?: number;
  code?: number;
  message?: string;
}

/**
 * Maps a stream state to a truthful node status:
 * connected → green dot; connecting → yellow ring; reconnecting → yellow ring "reconnecting (n)";
 * auth-error / error → red ring with a short reason; idle / stopped → grey ring.
 * `lastEventAt` (epoch ms) adds the time of the last event to "connected".
 */
export function statusForState(s: StateLike, lastEventAt?: number): StatusSpec {
  switch (s.state) {
    case 'connected':
      if (lastEventAt !== undefined) {
        return { fill: 'green', shape: 'dot', key: 'connected-at', vars: { time: formatClock(lastEventAt) } };
      }
      return { fill: 'green', shape: 'dot', key: 'connected' };
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', key: 'connecting' };
    case 'reconnecting': {
      const n = s.attempt ?? 1;
      const reasonKey = s.code !== undefined ? ERROR_CODE_REASONS[String(s.code)] : undefined;
      if (reasonKey) return { fill: 'yellow', shape: 'ring', key: 'reconnecting-because', vars: { n }, reasonKey };
      const reason = s.message !== undefined ? failureReason(s.message) : undefined;
      if (reason?.key) return { fill: 'yellow', shape: 'ring', key: 'reconnecting-because', vars: { n }, reasonKey: reason.key, reasonVars: reason.vars };
      if (reason?.text) return { fill: 'yellow', shape: 'ring', key: 'reconnecting-because', vars: { n, reason: reason.text } };
      return { fill: 'yellow', shape: 'ring', key: 'reconnecting', vars: { n } };
    }
    case 'auth-error':
    case 'error': {
      const reason = s.code !== undefined ? ERROR_CODE_REASONS[String(s.code)] : undefined;
      if (reason) return { fill: 'red', shape: 'ring', key: reason };
      if (s.state === 'auth-error') return { fill: 'red', shape: 'ring', key: 'invalid-api-key' };
      if (s.message) return { fill: 'red', shape: 'ring', text: shortText(s.message) };
      return { fill: 'red', shape: 'ring', key: 'error' };
    }
    case 'stopped':
      return { fill: 'grey', shape: 'ring', key: 'stopped' };
    default:
      return { fill: 'grey', shape: 'ring', key: 'idle' };
  }
}

/** HH:MM:SS in local time. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Replaces `__name__` placeholders (Node-RED / i18next style) with the given values. */
export function interpolate(template: string, vars: Record<string, unknown> = {}): string {
  return template.replace(/__([A-Za-z0-9_]+?)__/g, (all, name: string) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : all,
  );
}

/** Looks up a dotted key in a message catalog; undefined when absent. */
export function lookupCatalog(catalog: unknown, key: string): string | undefined {
  let cur: unknown = catalog;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' ? cur : undefined;
}
