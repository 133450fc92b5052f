/**
 * Request signing (node:crypto only).
 *
 * - WebSocket API: payload = every param except `signature`, sorted by name, joined as `k=v` with
 *   `&`, raw UTF-8 values (not percent-encoded).
 * - REST: payload = the query string exactly as sent (percent-encoded, in sent order).
 * - HMAC-SHA256 → lowercase hex. Ed25519 → base64. RSA (PKCS#1 v1.5, SHA-256) → base64.
 *   Private keys are PEM (PKCS#8 or PKCS#1 for RSA), optionally encrypted with a passphrase.
 */
import * as crypto from 'node:crypto';
import type { Credentials, KeyType } from '../types';
import { withText } from '../texts';

export type ParamValue = string | number | boolean;
export type Signer = (payload: string) => string;

/** The WS-API signing payload: sorted `k=v&...` of all params except `signature`. */
export function wsApiPayload(params: Record<string, ParamValue | undefined>): string {
  return Object.keys(params)
    .filter((k) => k !== 'signature' && params[k] !== undefined)
    .sort()
    .map((k) => `${k}=${String(params[k])}`)
    .join('&');
}

/** A REST query string in the given order, percent-encoded (undefined values dropped). */
export function restQueryString(params: Record<string, ParamValue | undefined>): string {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(params[k]))}`)
    .join('&');
}

/** A configuration problem with the credentials (never contains the secret itself). */
export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/**
 * Builds the signer for `keyType`. Throws CredentialsError when the secret / private key is
 * missing or cannot be loaded (wrong passphrase, not a PEM, wrong key type).
 */
export function createSigner(keyType: KeyType, credentials: Credentials): Signer {
  if (!credentials || typeof credentials.apiKey !== 'string' || credentials.apiKey.trim() === '') {
    throw withText(new CredentialsError('API key is missing'), 'missing-api-key');
  }
  if (keyType === 'hmac') {
    const secret = credentials.apiSecret;
    if (typeof secret !== 'string' || secret === '') throw withText(new CredentialsError('API secret is missing (HMAC key)'), 'missing-secret');
    return (payload) => crypto.createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
  }
  if (keyType !== 'ed25519' && keyType !== 'rsa') throw withText(new CredentialsError(`unknown key type "${String(keyType)}"`), 'unknown-key-type', { keyType: String(keyType) });
  const pem = credentials.privateKey;
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) {
    throw withText(new CredentialsError(`private key is missing or not in PEM format (${keyType} key)`), 'pem-missing', { keyType });
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({
      key: pem,
      format: 'pem',
      ...(credentials.passphrase ? { passphrase: credentials.passphrase } : {}),
    });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem);
    const [hint, textCode] = encrypted
      ? credentials.passphrase
        ? (['wrong passphrase?', 'pem-passphrase-rejected'] as const)
        : (['the key is encrypted: a passphrase is needed', 'pem-passphrase-needed'] as const)
      : (['not a valid PEM private key', 'pem-invalid'] as const);
    const code = (err as { code?: string }).code;
    // `error`: OpenSSL's error code (an identifier), or empty
    throw withText(new CredentialsError(`cannot load the ${keyType} private key (${hint}${code ? `; ${code}` : ''})`), textCode, { keyType, error: code ?? '' });
  }
  const actual = key.asymmetricKeyType;
  if (keyType === 'ed25519') {
    if (actual !== 'ed25519') throw withText(new CredentialsError(`the private key is ${actual ?? 'unknown'}, not ed25519`), 'pem-wrong-type', { actual: actual ?? '?', keyType });
    return (payload) => crypto.sign(null, Buffer.from(payload, 'utf8'), key).toString('base64');
  }
  if (actual !== 'rsa') throw withText(new CredentialsError(`the private key is ${actual ?? 'unknown'}, not rsa`), 'pem-wrong-type', { actual: actual ?? '?', keyType });
  return (payload) =>
    crypto
      .sign('sha256', Buffer.from(payload, 'utf8'), { key, padding: crypto.constants.RSA_PKCS1_PADDING })
      .toString('base64');
}
