/**
 * Credentials as the user typed them: the PEM repair for keys pasted into a one-line field, and
 * the one redactor of an account (every form of every secret, the PEM-repaired one included).
 */
import { Redactor } from './redact';

/** Secrets of an account as given (before trimming or PEM repair). */
export interface CredentialsInput {
  apiKey?: string;
  apiSecret?: string;
  privateKey?: string;
  passphrase?: string;
}

/**
 * Repairs a PEM private key pasted into a single-line (password) input: the browser drops
 * the line breaks, so the base64 body is re-wrapped at 64 characters between the BEGIN and
 * END lines. Literal "\n" sequences are turned into line breaks. Anything else is returned
 * trimmed and unchanged.
 */
export function normalizePem(pem: string | undefined): string | undefined {
  if (typeof pem !== 'string') return pem;
  let s = pem.trim().replace(/\\r\\n|\\n/g, '\n').replace(/\r\n?/g, '\n');
  const m = /^(-----BEGIN [A-Z0-9 ]+-----)([\s\S]*?)(-----END [A-Z0-9 ]+-----)$/.exec(s);
  if (!m) return s;
  const body = m[2];
  if (/\n/.test(body.trim()) || /:/.test(body)) {
    // already multi-line, or has RFC 1421 headers (Proc-Type/DEK-Info): keep the lines
    return `${m[1]}\n${body.trim()}\n${m[3]}\n`;
  }
  const b64 = body.replace(/\s+/g, '');
  const lines = b64.match(/.{1,64}/g) ?? [];
  s = `${m[1]}\n${lines.join('\n')}\n${m[3]}\n`;
  return s;
}

/** The redactor of these credentials: each secret as typed, trimmed and (private key) PEM-repaired. */
export function credentialsRedactor(c: CredentialsInput | undefined): Redactor {
  const given = [c?.apiKey, c?.apiSecret, c?.privateKey, c?.passphrase];
  const forms = given.flatMap((s) => (typeof s === 'string' ? [s, s.trim()] : []));
  return new Redactor([...new Set([...forms, normalizePem(c?.privateKey)])]);
}
