/**
 * The one way into the core: `openAccountStream(settings, { store, logger })`.
 *
 *   const prepared = prepareAccount(settings);           // optional: validate before opening
 *   if (!prepared.ok) show(prepared.problem);            // { key?, message } (redacted)
 *   const account = openAccountStream(prepared, { store, logger });  // or openAccountStream(settings, ...)
 *   account.stream.on('event', (e) => ...);              // live + recovered events, each once
 *   account.stream.on('state', (s) => ...);              // truthful state ('recovering' while catching up)
 *   account.acquire('consumer-1');                       // the first consumer starts the connection
 *   account.away('consumer-1');                          // restarted: its events wait for it (I6) ...
 *   account.acquire('consumer-1');                       // ... until it is back (or released)
 *   await account.release('consumer-1');                // the last one stops it
 *   account.resume();                                    // after a redeploy: the new consumers listen
 *   await account.close();                               // kept 10 s for a redeploy to adopt, then closed
 *   await account.close({ keep: false });                // the account was deleted: closed now
 *
 * Takes plain settings (account/settings.ts), validates them once, builds the redactor and the
 * signer once, and returns a handle over the account's shared, recovering stream (registry.ts:
 * one manager and one reliable stream per account identity, however many handles are open). With
 * `cursors: 'own'` (n8n: one per workflow) the handle's reliable stream is its own, over the same
 * shared connection, so each gets what it missed from its own store.
 * Throws AccountSettingsError (key + redacted message) for invalid settings. Every text given to
 * `logger` is redacted. Framework-agnostic: the Node-RED account node and the n8n adapter use this,
 * the key check (key-check.ts), the balance-sheet tracker (balance-sheet.ts) and the event API.
 */
import { openOwnStream, openSharedStream } from '../stream/registry';
import { whenDeployStarted } from '../stream/redeploy-grace';
import type { StateStore } from '../recovery/persistence';
import { redactingLogger } from '../exchange/redact';
import type { ReliableStateChange, ReliableStream } from '../stream/reliable-stream';
import type { RestClient } from '../transport/rest';
import type { StreamManager } from '../stream/stream-manager';
import type { AccountConfig, Logger, Market } from '../types';
import { errText } from '../util';
import { isPreparedAccount, prepareAccount, type AccountSettings, type PreparedAccount, type SettingsProblem, type ValidAccount } from './settings';

export interface AccountStreamOptions {
  /** Where the recovery cursors are kept across restarts (none: not persisted). */
  store?: StateStore;
  /** Receives redacted texts only. */
  logger?: Logger;
  /**
   * Whose cursors the handle's stream keeps. `'shared'` (default; Node-RED): the account's one
   * reliable stream, whose cursors every handle's store receives (merged, only forward). `'own'`
   * (n8n: one per workflow): a reliable stream of this handle alone (its own delivery pipeline,
   * de-duplication, gap recovery and start-up recovery from `store`, with its own recovery
   * settings) over the account's one shared connection, so it gets the fills made while it was
   * closed from its own cursors. close() closes it at once (no redeploy grace).
   */
  cursors?: 'shared' | 'own';
  /**
   * The line of streams (Node-RED: the account node's id): a stream opened for the line while its
   * previous one (another key or REST host) waits for the deploy continues it from the moment the
   * deploy put that one on hold, so the fills made during the deploy are recovered (registry.ts).
   */
  line?: string;
}

/** Invalid settings: `key` (when the problem has its own text) and a redacted English message. */
export class AccountSettingsError extends Error implements SettingsProblem {
  override name = 'AccountSettingsError';
  readonly key: SettingsProblem['key'];
  constructor(problem: SettingsProblem) {
    super(problem.message);
    this.key = problem.key;
  }
}

/** One opened account: a handle over the shared stream, with its own consumers. */
export interface AccountStream {
  readonly config: AccountConfig;
  readonly market: Market;
  /** Isolated-margin symbol. */
  readonly symbol: string | undefined;
  /** Live and recovered events (each once), states, gaps and recoveries. */
  readonly stream: ReliableStream;
  /** The shared connection under the stream. */
  readonly manager: StreamManager;
  /** Signed REST of the account (shares the connection's clock and weight). */
  readonly rest: RestClient;
  /** The state to show (`recovering` while catching up). */
  readonly currentState: ReliableStateChange;
  readonly lastEventAt: number | undefined;
  /** Removes the account's secrets (and every listenKey / token learnt) from a text. */
  redact(text: string): string;
  /** Adds a consumer (idempotent); the first one of the account starts the connection. */
  acquire(consumerId: string): void;
  /** Removes a consumer; the account's last one stops the connection. Never rejects. */
  release(consumerId: string): Promise<void>;
  /** True while this handle holds the consumer. */
  holds(consumerId: string): boolean;
  /**
   * The consumer is being restarted (a redeploy closes it to start it again): it stays held, and
   * the stream delivers nothing — records nothing as delivered — until it is back (`acquire`) or
   * gone for good (`release`); then the kept events leave in order, each once, to every consumer
   * (docs/recovery.md, I6). Other consumers of the stream wait meanwhile (a deploy is a pause).
   * Pair every away() with an acquire() or a release(); close() ends it too.
   */
  away(consumerId: string): void;
  /** Events kept while a redeploy adopted the stream leave now (the new consumers listen). */
  resume(): void;
  /**
   * Closes the handle: the stream is released first (the last handle keeps it for the redeploy
   * grace, so a new handle of the same account adopts it without a reconnect; store written a
   * last time and detached), then this handle's consumers. `keep: false` (the account was
   * deleted): no grace, the connection closes now. Never rejects.
   */
  close(opts?: { keep?: boolean }): Promise<void>;
}

/** Opens (or joins) the account's shared, recovering stream. Throws AccountSettingsError. */
export function openAccountStream(settings: AccountSettings | PreparedAccount, opts: AccountStreamOptions = {}): AccountStream {
  const prepared = isPreparedAccount(settings) ? settings : prepareAccount(settings);
  if (!prepared.ok) throw new AccountSettingsError(prepared.problem);
  return new AccountStreamHandle(prepared, opts);
}

/** Tells handles apart in the stream's set of away consumers. */
let handleSerial = 0;

class AccountStreamHandle implements AccountStream {
  readonly config: AccountConfig;
  readonly stream: ReliableStream;
  private readonly held = new Set<string>();
  /** Held consumers being restarted (away() until acquire() or release()). */
  private readonly awayIds = new Set<string>();
  private readonly serial = ++handleSerial;
  private readonly store: StateStore | undefined;
  private readonly log: Logger;
  private readonly account: ValidAccount;
  private readonly own: boolean;
  private closed = false;

  constructor(account: ValidAccount, opts: AccountStreamOptions) {
    this.account = account;
    this.config = account.config;
    this.log = redactingLogger(opts.logger, account.redactor);
    const rc = account.recovery;
    this.store = rc.enabled ? opts.store : undefined;
    this.own = opts.cursors === 'own';
    this.stream = (this.own ? openOwnStream : openSharedStream)(
      account.config,
      { logger: this.log, redactor: account.redactor, signer: account.signer },
      {
        recovery: rc.enabled,
        symbols: rc.symbols,
        lookbackMs: rc.lookbackMs,
        maxHoldMs: rc.maxHoldMs,
        tuning: { maxSymbols: rc.maxSymbols, maxTrackedOrders: rc.maxOpenOrders },
        // with recovery off too: the stream removes the state it holds, which grows stale
        store: opts.store,
        restUrl: account.restUrl,
        recoveryEndpoints: account.endpoints.recovery,
        ...(opts.line !== undefined && !this.own ? { line: opts.line } : {}),
        logger: this.log,
      },
    );
  }

  get market(): Market {
    return this.config.market;
  }

  get symbol(): string | undefined {
    return this.config.symbol;
  }

  get manager(): StreamManager {
    return this.stream.manager;
  }

  get rest(): RestClient {
    return this.stream.manager.rest;
  }

  get currentState(): ReliableStateChange {
    return this.stream.currentState;
  }

  get lastEventAt(): number | undefined {
    return this.stream.lastEventAt;
  }

  redact(text: string): string {
    return this.account.redactor.apply(text);
  }

  acquire(consumerId: string): void {
    if (this.closed) return;
    this.back(consumerId);
    if (this.held.has(consumerId)) return;
    this.held.add(consumerId);
    this.manager.acquire(consumerId);
  }

  holds(consumerId: string): boolean {
    return this.held.has(consumerId);
  }

  away(consumerId: string): void {
    if (this.closed || !this.held.has(consumerId) || this.awayIds.has(consumerId)) return;
    this.awayIds.add(consumerId);
    this.stream.consumerAway(this.awayKey(consumerId));
  }

  async release(consumerId: string): Promise<void> {
    // Not waited for any longer (synchronously: kept events may leave at once).
    this.back(consumerId);
    if (!this.held.delete(consumerId)) return;
    await this.releaseIds([consumerId]);
  }

  resume(): void {
    if (!this.closed) this.stream.resume();
  }

  async close(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const ids = [...this.held];
    this.held.clear();
    if (this.own) {
      // Detached at once (nothing more is delivered to no listener), its cursors written a last
      // time; then the consumers (the account's last one stops the shared connection).
      await Promise.all([this.stream.close(), this.releaseIds(ids)]);
      return;
    }
    // The stream first (it keeps the connection for a redeploy to adopt, and its events: the
    // grace pauses the delivery synchronously), then the consumers. Those away are being
    // restarted by a deploy (with this account, to come back on a new handle): they stay away
    // until the deploy has started its nodes — also when another handle keeps the stream (then
    // there is no grace), so its consumers do not take events these never get. Gone for good
    // (`keep: false`): not waited for.
    const released = this.stream.release(this.store, opts);
    const away = [...this.awayIds];
    if (opts.keep === false) for (const id of away) this.back(id);
    else whenDeployStarted(() => away.forEach((id) => this.back(id)));
    await Promise.all([released, this.releaseIds(ids)]);
  }

  private awayKey(consumerId: string): string {
    return `${this.serial}\u0000${consumerId}`;
  }

  private back(consumerId: string): void {
    if (this.awayIds.delete(consumerId)) this.stream.consumerBack(this.awayKey(consumerId));
  }

  private releaseIds(ids: string[]): Promise<void> {
    const m = this.manager;
    return Promise.all(ids.map((id) => m.release(id).catch((err: unknown) => this.log.warn(`release failed: ${errText(err)}`)))).then(
      () => undefined,
    );
  }
}
