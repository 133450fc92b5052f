/**
 * Account identity: which configs share one stream. Built from market, environment, URLs,
 * symbol, key type and a hash of the credentials — never the raw key.
 */
import * as crypto from 'node:crypto';
import type { AccountConfig } from '../types';

function sha256(text: string): string {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Full identity hash (registry map key). Contains no secret in clear. */
export function accountIdentity(config: AccountConfig): string {
  const c = config.credentials ?? { apiKey: '' };
  const credHash = sha256([c.apiKey ?? '', c.apiSecret ?? '', c.privateKey ?? '', c.passphrase ?? ''].join('\u0000'));
  const custom = config.environment === 'custom';
  return sha256(
    JSON.stringify([
      config.market,
      config.environment,
      custom ? (config.restUrl ?? '') : '',
      custom ? (config.wsUrl ?? '') : '',
      config.market === 'isolated-margin' ? (config.symbol ?? '').trim().toUpperCase() : '',
      config.keyType,
      credHash,
    ]),
  );
}

/** Short, non-secret id for logs and status, e.g. 'spot:production:3fa2c1'. */
export function shortId(config: AccountConfig): string {
  return `${config.market}:${config.environment}:${accountIdentity(config).slice(0, 6)}`;
}
