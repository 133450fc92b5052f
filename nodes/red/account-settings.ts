/**
 * The account node's properties as the core's settings, its logger, the editor's credentials for
 * Test connection, and the status key of each settings problem.
 */
import type { Node, NodeDef } from 'node-red';
import type { AccountSettings, SettingsProblemKey } from '../lib/account';
import type { CredentialsInput } from '../lib/exchange/credentials';
import type { Logger } from '../lib/types';

/** The node's properties (units and defaults: AccountSettings in lib/account/settings.ts). */
export interface AccountNodeDef extends NodeDef {
  market?: string; symbol?: string; environment?: string; restUrl?: string; wsUrl?: string; keyType?: string;
  recvWindow?: string | number; keepaliveInterval?: string | number; futuresPathForm?: string; coinmApi?: string;
  recovery?: boolean | string; recoverySymbols?: string; recoveryLookback?: string | number; liveHoldLimit?: string | number;
  /** Context store for the recovery cursors (empty = the default store). */
  recoveryStore?: string;
  /** Symbols / open orders tracked at most (empty = the default). */
  recoveryMaxSymbols?: string | number;
  recoveryMaxOrders?: string | number;
}

/** The node's properties and credentials as the core's settings. */
export function settingsOf(def: AccountNodeDef, credentials: CredentialsInput): AccountSettings {
  const { market, environment, restUrl, wsUrl, symbol, keyType, futuresPathForm, coinmApi, recovery, recoverySymbols } = def;
  return {
    ...{ market, environment, restUrl, wsUrl, symbol, keyType, credentials, futuresPathForm, coinmApi, recovery, recoverySymbols },
    ...{ recvWindowMs: def.recvWindow, keepaliveMinutes: def.keepaliveInterval, lookbackHours: def.recoveryLookback, liveHoldSeconds: def.liveHoldLimit },
    ...{ maxSymbols: def.recoveryMaxSymbols, maxOpenOrders: def.recoveryMaxOrders },
  };
}

/** The context store named in the node (undefined = the default store). */
export function contextStoreName(def: AccountNodeDef): string | undefined {
  return typeof def.recoveryStore === 'string' && def.recoveryStore.trim() !== '' ? def.recoveryStore.trim() : undefined;
}

/** A node's log as the core's Logger (debug / log / warn / error of the node). */
export function nodeLogger(node: Node): Logger {
  return { debug: (m) => node.debug(m), info: (m) => node.log(m), warn: (m) => node.warn(m), error: (m) => node.error(m) };
}

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

/** The context store behind a name, as configured in settings.js (`contextStorage`). */
interface StoreConfig {
  module?: unknown;
  config?: { cache?: unknown; flushInterval?: unknown };
}

/**
 * What the context store that keeps the recovery cursors means for a crash (docs/recovery.md,
 * "Crash window"): `memory` (nothing survives a restart), `cached` (a persistent store that writes
 * to disk every `flushSeconds`: a crash repeats up to that much and a restart before its first
 * flush is a first start), or undefined (writes through, or a store we do not know).
 */
export function storeAdvice(
  contextStorage: unknown,
  storeName: string | undefined,
): { kind: 'memory'; store: string } | { kind: 'cached'; store: string; flushSeconds: number } | undefined {
  const stores = contextStorage !== null && typeof contextStorage === 'object' ? (contextStorage as Record<string, unknown>) : undefined;
  if (!stores || Object.keys(stores).length === 0) return { kind: 'memory', store: storeName ?? 'default' };
  let name = storeName ?? 'default';
  let entry: unknown = stores[name];
  // `default` may name another store
  if (typeof entry === 'string') {
    name = entry;
    entry = stores[entry];
  }
  if (entry === undefined && storeName === undefined) {
    // no `default` entry: Node-RED uses the first store listed
    name = Object.keys(stores)[0];
    entry = stores[name];
  }
  const c = entry as StoreConfig | undefined;
  if (!c || typeof c !== 'object') return undefined;
  if (c.module === 'memory') return { kind: 'memory', store: name };
  if (c.module === 'localfilesystem' && c.config?.cache !== false) {
    const f = Number(c.config?.flushInterval ?? 30);
    return { kind: 'cached', store: name, flushSeconds: Number.isFinite(f) && f > 0 ? f : 30 };
  }
  return undefined;
}
