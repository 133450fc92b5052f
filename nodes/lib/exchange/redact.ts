/**
 * Redaction of secrets from any text that may reach a log, a status, an event or an error.
 *
 * Secrets are the API secret, the private key and its passphrase, and also the full API key,
 * listenKeys and listenTokens (they grant read access to the account's stream).
 */
import type { Logger } from '../types';

/** Minimum length of a secret (or of a key-like run inside it) that is redacted. */
const MIN_SECRET_LENGTH = 6;
/** Runs of key-like characters at least this long inside a secret are redacted on their own too. */
const MIN_RUN_LENGTH = 16;
const KEY_LIKE_RUN = /[A-Za-z0-9+/=_-]{16,}/g;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The strings to search for, longest first: each secret and the long key-like runs inside it. */
function needles(secrets: Array<string | undefined>): string[] {
  const out = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string') continue;
    const s = secret.trim();
    if (s.length < MIN_SECRET_LENGTH) continue;
    out.add(s);
    // PEM bodies are split in lines; a log line may contain one line only.
    for (const m of s.match(KEY_LIKE_RUN) ?? []) {
      if (m.length >= MIN_RUN_LENGTH) out.add(m);
    }
    // Percent-encoded form (a signature or key inside a URL).
    const enc = encodeURIComponent(s);
    if (enc !== s) out.add(enc);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/**
 * Replaces each secret (and long key-like substrings of it) in `text` with `***`.
 * Secrets shorter than 6 characters are ignored (they would redact ordinary words).
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
  return replaceAll(String(text), needles(secrets));
}

function replaceAll(text: string, list: string[]): string {
  let out = text;
  for (const n of list) {
    if (!out.includes(n)) continue;
    out = out.replace(new RegExp(escapeRegExp(n), 'g'), '***');
  }
  return out;
}

/**
 * Shortens `text` to `max` characters (adds an ellipsis marker). Never call it on text that may
 * still hold a secret: a secret cut in two is no longer found by redaction, and its first part
 * leaks. Use `redactTruncate()` / `Redactor.clip()`, which redact first.
 */
export function truncate(text: string, max = 300): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more chars)`;
}

/** Redacts `secrets` from `text`, then shortens it to `max` characters (in that order). */
export function redactTruncate(text: string, secrets: Array<string | undefined>, max = 300): string {
  return truncate(redact(text, secrets), max);
}

/**
 * A growing set of secrets of one account (the credentials plus every listenKey / listenToken the
 * account has been given), applied to every message the core produces.
 */
export class Redactor {
  private readonly fixed: string[];
  /** Dynamic secrets (listenKeys, listenTokens), bounded: oldest dropped first. */
  private readonly dynamic: string[] = [];
  private cached: string[] | undefined;
  /** Precomputed search strings (secrets and their key-like runs), longest first. */

  constructor(secrets: Array<string | undefined>, private readonly maxDynamic = 64) {
    this.fixed = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0);
  }

  /** Adds a secret learnt at run time (listenKey, listenToken). */
  add(secret: string | undefined): void {
    if (!secret || this.fixed.includes(secret) || this.dynamic.includes(secret)) return;
    this.dynamic.push(secret);
    if (this.dynamic.length > this.maxDynamic) this.dynamic.shift();
    this.cached = undefined;
  }

  /** Redacts every known secret in `text`. */
  apply(text: string): string {
    this.cached ??= needles([...this.fixed, ...this.dynamic]);
    return replaceAll(String(text), this.cached);
  }

  /** Redacts, then shortens to `max` characters: the only safe order (see truncate()). */
  clip(text: string, max = 300): string {
    return truncate(this.apply(text), max);
  }
}

/** A logger that discards everything. */
export const NOOP_LOGGER: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Wraps a logger so that everything passed to it is redacted first and never throws. */
export function redactingLogger(target: Logger | undefined, redactor: Redactor, prefix = ''): Logger {
  const base = target ?? NOOP_LOGGER;
  const wrap = (level: keyof Logger) => (msg: string): void => {
    try {
      base[level](redactor.apply(prefix + msg));
    } catch {
      // A failing logger must never break the stream.
    }
  };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
