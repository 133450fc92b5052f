/**
 * The one registry of shared streams. Per account identity (market, environment, URLs, symbol, key
 * type and a hash of the credentials) one live StreamManager, shared by every consumer, and over it
 * one ReliableStream. A manager leaves the registry when it stops and comes back if it is started
 * again by acquire(); a reliable stream leaves it when it closes.
 *
 * `openSharedStream()` is the way in (account/account-stream.ts uses it); `getSharedManager()` and
 * `reliableStreamFor()` are its two steps, kept for tests and tools that work on one layer.
 * `openOwnStream()` gives a caller a reliable stream of its own over the shared manager (n8n: one
 * per workflow, each from its own cursors).
 */
import { accountIdentity, stateOwner } from './identity';
import { ReliableStream, type ReliableStreamOptions } from './reliable-stream';
import { StreamManager, type StreamManagerOptions } from './stream-manager';
import type { AccountConfig } from '../types';

const managers = new Map<string, StreamManager>();
const streams = new WeakMap<StreamManager, ReliableStream>();
/**
 * The last stream of each line (Node-RED: account node id; weakly held). A deploy that gives the
 * account node another owner (a new key or REST host: another stream) while its old stream waits
 * in the redeploy grace makes the new stream continue the old one's line from the moment the
 * deploy put it on hold (ReliableStream.continuation): the user's account from when they pressed
 * Deploy (attack C1 on issue 21: fills made during a slow deploy were lost).
 */
const lines = new Map<string, WeakRef<ReliableStream>>();

/** A new stream of `opts.line`, continuing the stream of its line that a deploy put on hold. */
function newStream(manager: StreamManager, opts: ReliableStreamOptions): ReliableStream {
  const prev = opts.line !== undefined ? lines.get(opts.line)?.deref() : undefined;
  const continues = prev && prev.manager !== manager && !opts.handover ? prev.continuation(opts.market, opts.isolatedSymbol) : undefined;
  const r = new ReliableStream(manager, continues ? { ...opts, continues } : opts);
  inLine(r, opts.line);
  return r;
}

function inLine(r: ReliableStream, line: string | undefined): void {
  if (line !== undefined) lines.set(line, new WeakRef(r));
}

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
export function getSharedManager(config: AccountConfig, opts: StreamManagerOptions = {}): StreamManager {
  const key = accountIdentity(config);
  const existing = managers.get(key);
  if (existing && existing.state !== 'stopped') return existing;
  const m = new StreamManager(config, opts);
  managers.set(key, m);
  track(key, m);
  return m;
}

/**
 * The reliable stream of a shared manager (created on first use with `opts`), retained once for
 * the caller (pair with `release(opts.store)`). A caller that adopts the existing stream after a
 * redeploy (nobody else holds it) brings its settings: its symbols, look-back and hold limit
 * replace the old ones. A caller that joins users of it adds its symbols (union), the longer
 * look-back and the shorter hold limit (ReliableStream.applySettings), and its store; the recovery
 * switch of the users already there applies. An adopting caller that switches recovery on or off
 * gets a new stream, handed over from the kept one (ReliableStream.handOver).
 */
export function reliableStreamFor(manager: StreamManager, opts: ReliableStreamOptions): ReliableStream {
  const existing = existingReliableStream(manager);
  if (existing) {
    const adopting = existing.refs === 0;
    const switched = (opts.recovery !== false) !== (existing.recovery !== undefined);
    if (adopting && switched) {
      // Recovery switched on or off at a redeploy: a new stream on the same connection, handed
      // what the kept one holds and delivered (each event once, none lost, no reconnect).
      opts.logger?.info(`recovery switched ${opts.recovery !== false ? 'on' : 'off'}: the kept stream is handed over`);
      const r = newStream(manager, { ...opts, handover: existing.handOver() });
      r.retain();
      streams.set(manager, r);
      return r;
    }
    if (switched) opts.logger?.warn('another account node on the same account set recovery differently; its setting applies');
    existing.applySettings(opts, adopting);
    if (opts.store) existing.addStore(opts.store);
    existing.retain();
    inLine(existing, opts.line);
    return existing;
  }
  const r = newStream(manager, opts);
  r.retain();
  streams.set(manager, r);
  return r;
}

/** The reliable stream of a manager, if one was created and is not closed. */
export function existingReliableStream(manager: StreamManager): ReliableStream | undefined {
  const s = streams.get(manager);
  return s && !s.isClosed ? s : undefined;
}

/** Both steps: the account's shared manager and its reliable stream, retained once for the caller. */
export function openSharedStream(
  config: AccountConfig,
  managerOpts: StreamManagerOptions,
  streamOpts: Omit<ReliableStreamOptions, 'market' | 'isolatedSymbol'>,
): ReliableStream {
  const manager = getSharedManager(config, managerOpts);
  const owner = stateOwner(config, streamOpts.recoveryEndpoints?.restUrl ?? streamOpts.restUrl);
  return reliableStreamFor(manager, { owner, ...streamOpts, market: config.market, isolatedSymbol: config.symbol });
}

/**
 * A reliable stream of the caller's own over the account's shared manager: its own delivery
 * pipeline, ledger and gap recovery (start-up recovery from `streamOpts.store`), on the one
 * connection every consumer of the account shares. Not registered (no other caller joins it) and
 * without a redeploy grace; retained once, and closed by the caller (`close()`).
 */
export function openOwnStream(
  config: AccountConfig,
  managerOpts: StreamManagerOptions,
  streamOpts: Omit<ReliableStreamOptions, 'market' | 'isolatedSymbol' | 'releaseGraceMs'>,
): ReliableStream {
  const manager = getSharedManager(config, managerOpts);
  const owner = stateOwner(config, streamOpts.recoveryEndpoints?.restUrl ?? streamOpts.restUrl);
  const r = new ReliableStream(manager, { owner, ...streamOpts, market: config.market, isolatedSymbol: config.symbol, releaseGraceMs: 0 });
  r.retain();
  return r;
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
