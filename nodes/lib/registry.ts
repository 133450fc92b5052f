/**
 * One live StreamManager per account identity (market, environment, URLs, symbol, key type and a
 * hash of the credentials), shared by every consumer. A manager leaves the registry when it stops
 * and comes back if it is started again by acquire().
 */
import { accountIdentity } from './identity';
import { StreamManager } from './stream-manager';
import type { AccountConfig, Logger } from './types';

const managers = new Map<string, StreamManager>();

function track(key: string, m: StreamManager): void {
  m.on('state', (s) => {
    if (s.state === 'stopped') {
      if (managers.get(key) === m) managers.delete(key);
    } else if (!managers.has(key)) {
      managers.set(key, m);
    }
  });
}

/** The live manager of this account, or a new one (registered until it stops). */
export function getSharedManager(config: AccountConfig, opts: { logger?: Logger } = {}): StreamManager {
  const key = accountIdentity(config);
  const existing = managers.get(key);
  if (existing && existing.state !== 'stopped') return existing;
  const m = new StreamManager(config, opts);
  managers.set(key, m);
  track(key, m);
  return m;
}

/** Number of registered managers (diagnostics and tests). */
export function sharedManagerCount(): number {
  return managers.size;
}

/** Stops every registered manager (process shutdown, tests). */
export async function stopAllSharedManagers(): Promise<void> {
  await Promise.all([...managers.values()].map((m) => m.stop()));
  managers.clear();
}
