/**
 * Signing and verification helpers of the simulator (Binance request-signing rules).
 *
 * - WebSocket API: payload = all params except `signature`, sorted by name, `k=v` joined by `&`,
 *   raw UTF-8 values (not percent-encoded).
 * - REST: query string + body exactly as sent (percent-encoded as sent), in sent order, minus the
 *   `signature` parameter; query and body are concatenated without a separator.
 * - HMAC-SHA256 → hex (case-insensitive); Ed25519 and RSA (PKCS#1 v1.5, SHA-256) → base64.
 */
import * as crypto from 'node:crypto';

export type SimKeyType = 'hmac' | 'ed25519' | 'rsa';

export interface SigningKey {
  keyType: SimKeyType;
  apiSecret?: string;
  privateKeyPem?: string;
  passphrase?: string;
}

export interface VerifyKey {
  keyType: SimKeyType;
  apiSecret?: string;
  publicKeyPem?: string;
}

function paramToString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

/** WS-API signing payload: sorted `k=v&...` of every param except `signature`, raw UTF-8. */
export function wsApiSigningPayload(params: Record<string, unknown>): string {
  return Object.keys(params)
    .filter((k) => k !== 'signature')
    .sort()
    .map((k) => `${k}=${paramToString(params[k])}`)
    .join('&');
}

function stripSignature(raw: string): { rest: string; signature?: string } {
  if (raw === '') return { rest: '' };
  let signature: string | undefined;
  const kept: string[] = [];
  for (const part of raw.split('&')) {
    if (part.startsWith('signature=')) signature = part.slice('signature='.length);
    else kept.push(part);
  }
  return { rest: kept.join('&'), signature };
}

/**
 * REST signing payload from the raw (as sent) query string (without `?`) and raw
 * x-www-form-urlencoded body. Returns the payload and the still percent-encoded signature.
 */
export function restSigningPayload(rawQuery: string, rawBody: string): { payload: string; signature?: string } {
  const q = stripSignature(rawQuery);
  const b = stripSignature(rawBody);
  return { payload: q.rest + b.rest, signature: q.signature ?? b.signature };
}

export function hmacSha256Hex(secret: string, payload: string): string {
  return crypto.createHmac('sha256', secret).update(payload, 'utf8').digest('hex');
}

/** Sign a payload the way a client must (hex for HMAC, base64 for Ed25519/RSA). */
export function signPayload(key: SigningKey, payload: string): string {
  if (key.keyType === 'hmac') {
    if (!key.apiSecret) throw new Error('HMAC key without secret');
    return hmacSha256Hex(key.apiSecret, payload);
  }
  if (!key.privateKeyPem) throw new Error('asymmetric key without private key');
  const privateKey = crypto.createPrivateKey({ key: key.privateKeyPem, format: 'pem', passphrase: key.passphrase });
  const data = Buffer.from(payload, 'utf8');
  if (key.keyType === 'ed25519') return crypto.sign(null, data, privateKey).toString('base64');
  return crypto.sign('sha256', data, { key: privateKey, padding: crypto.constants.RSA_PKCS1_PADDING }).toString('base64');
}

/** Verify a signature. Never throws; malformed input simply does not verify. */
export function verifySignature(key: VerifyKey, payload: string, signature: string): boolean {
  try {
    if (key.keyType === 'hmac') {
      if (!key.apiSecret || !/^[0-9a-fA-F]{64}$/.test(signature)) return false;
      const expected = Buffer.from(hmacSha256Hex(key.apiSecret, payload), 'hex');
      return crypto.timingSafeEqual(expected, Buffer.from(signature.toLowerCase(), 'hex'));
    }
    if (!key.publicKeyPem || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
    const sig = Buffer.from(signature, 'base64');
    const data = Buffer.from(payload, 'utf8');
    if (key.keyType === 'ed25519') return crypto.verify(null, data, key.publicKeyPem, sig);
    return crypto.verify('sha256', data, { key: key.publicKeyPem, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
  } catch {
    return false;
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random alphanumeric string (API keys, secrets, listenKeys). */
export function randomAlnum(len: number): string {
  const bytes = crypto.randomBytes(len);
  let s = '';
  for (let i = 0; i < len; i++) s += ALNUM[bytes[i] % ALNUM.length];
  return s;
}

export interface KeyMaterial {
  apiSecret?: string;
  privateKeyPem?: string;
  publicKeyPem?: string;
}

/** Generate the secret material of a new API key. */
export function generateKeyMaterial(keyType: SimKeyType, passphrase?: string): KeyMaterial {
  if (keyType === 'hmac') return { apiSecret: randomAlnum(64) };
  const enc = passphrase ? { cipher: 'aes-256-cbc', passphrase } : {};
  if (keyType === 'ed25519') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519', {
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', ...enc },
    });
    return { publicKeyPem: publicKey, privateKeyPem: privateKey };
  }
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', ...enc },
  });
  return { publicKeyPem: publicKey, privateKeyPem: privateKey };
}

/** Redact an identifier for messages: first 4 characters + length. */
export function redact(id: string): string {
  return id.length <= 4 ? '****' : `${id.slice(0, 4)}…(${id.length})`;
}
