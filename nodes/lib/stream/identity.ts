/**
 * Account identity: which configs share one stream. Built from market, environment, URLs,
 * symbol, key type, the futures URL form (when not the default) and a hash of the credentials —
 * never the raw key.
 */
import * as crypto from 'node:crypto';
import type { AccountConfig } from '../types';
import { DEFAULT_FUTURES_PATH_FORM } from '../exchange/endpoints';
import type { StateOwner } from '../recovery/persistence';

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
      // the futures URL form makes another stream (issue 22: changing it must not adopt the silent
      // one kept for the deploy); the default adds nothing, so identities from before stay the same
      ...(config.futuresPathForm !== undefined && config.futuresPathForm !== DEFAULT_FUTURES_PATH_FORM ? [config.futuresPathForm] : []),
    ]),
  );
}

/** Short, non-secret id for logs and status, e.g. 'spot:production:3fa2c1'. */
export function shortId(config: AccountConfig): string {
  return `${config.market}:${config.environment}:${accountIdentity(config).slice(0, 6)}`;
}

/**
 * Whose recovery state a stream writes (persistence.ts StateOwner): market, environment, the host
 * recovery reads, the isolated symbol and a fingerprint of the API key (a hash prefix, never the key).
 */
export function stateOwner(config: AccountConfig, host: string | undefined): StateOwner {
  const key = sha256(`binance-user-stream key fingerprint\u0000${config.credentials?.apiKey ?? ''}`).slice(0, 12);
  let h = host ?? config.restUrl ?? '';
  try {
    h = new URL(h).host || h;
  } catch {
    // not a URL: kept as it is
  }
  return {
    market: config.market,
    environment: config.environment,
    host: h,
    ...(config.market === 'isolated-margin' && config.symbol ? { symbol: config.symbol.trim().toUpperCase() } : {}),
    key,
  };
}
