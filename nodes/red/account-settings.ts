/** The editor's credentials for Test connection, and the status key of each settings problem. */
import type { SettingsProblemKey } from '../lib/account';
import type { CredentialsInput } from '../lib/exchange/credentials';

/** Password fields that were not changed in the editor are sent as this placeholder. */
const UNCHANGED_PASSWORD = '__PWRD__';

/** Node status (catalog key under binance-account.status.) for each settings problem with a key. */
export const CONFIG_STATUS_KEYS: Readonly<Partial<Record<SettingsProblemKey, string>>> = {
  'missing-api-key': 'no-api-key',
  'missing-secret': 'no-api-secret',
  'missing-private-key': 'no-private-key',
  'missing-symbol': 'no-symbol',
  'missing-urls': 'no-urls',
};

/**
 * Credentials for the test, read as a deploy would read them: a field left unchanged in the dialog
 * (the `__PWRD__` placeholder) or not sent at all means the saved value; an emptied field ('') means
 * no value, exactly as Node-RED deletes an emptied credential at deploy; anything else is the typed
 * value. `usedSaved` tells whether any saved value was taken.
 */
export function mergeCredentials(given: unknown, saved: CredentialsInput | undefined): { creds: CredentialsInput; usedSaved: boolean } {
  const g = (given && typeof given === 'object' ? given : {}) as Record<string, unknown>;
  let usedSaved = false;
  const pick = (k: keyof CredentialsInput): string | undefined => {
    const v = g[k];
    if (v === '') return undefined;
    if (typeof v === 'string' && v !== UNCHANGED_PASSWORD) return v;
    const s = saved?.[k];
    if (typeof s === 'string' && s !== '') {
      usedSaved = true;
      return s;
    }
    return undefined;
  };
  const creds = { apiKey: pick('apiKey'), apiSecret: pick('apiSecret'), privateKey: pick('privateKey'), passphrase: pick('passphrase') };
  return { creds, usedSaved };
}
