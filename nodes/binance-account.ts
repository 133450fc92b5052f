/**
 * `binance-account` config node: one Binance API key + market, opened with the core's
 * `openAccountStream` (lib/account). Node-RED wiring only: credentials, the data nodes' register /
 * deregister (MQTT broker style: status fanned out to every user, the stream closes only when the
 * last user is removed), and the editor's "Test connection" button (`checkKey`):
 * POST /binance-user-stream/test-connection (permission binance-account.write).
 */
import { makeTranslate } from './common';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { checkKey, openAccountStream, prepareAccount, type AccountSettings, type AccountStream } from './lib/account';
import type { CredentialsInput } from './lib/credentials';
import { endAllGraces } from './lib/reliable-stream';
import type { UserDataEvent } from './lib/types';
import { ConsumptionTracker, type UnconsumedReport } from './lib/unconsumed';
import { isAccountHandle, type AccountHandle, type AccountUser, type RegisterOptions } from './red/account-contract';
import { CONFIG_STATUS_KEYS, mergeCredentials } from './red/account-settings';
import { accountStatus } from './red/account-status';
import { ContextStateStore, type ContextLike } from './red/context-store';
import { onFlowsStarted } from './red/flows-started';

const TYPE = 'binance-account';
/** Close must finish well within Node-RED's 15 s. */
const CLOSE_DEADLINE_MS = 12_000;

type AccountNode = Node<CredentialsInput> & AccountHandle & { users: Record<string, AccountUser> };
interface UserRecord {
  user: AccountUser;
  showLastEvent: boolean;
  lastText?: string;
}
const watchedRuntimes = new WeakSet<object>();

interface AccountNodeDef extends NodeDef {
  market?: string;
  symbol?: string;
  environment?: string;
  restUrl?: string;
  wsUrl?: string;
  keyType?: string;
  recvWindow?: string | number;
  keepaliveInterval?: string | number;
  /** Futures stream URL form: '' (DEFAULT_FUTURES_PATH_FORM), 'ws-query' or 'ws-path'. */
  futuresPathForm?: string;
  /** COIN-M family: '' (DEFAULT_COINM_API), 'dapi' or 'fapi' (unified). */
  coinmApi?: string;
  /** Recover missed fills after a gap (default true). */
  recovery?: boolean | string;
  /** Symbols always reconciled after a gap (comma / space separated). */
  recoverySymbols?: string;
  /** Look-back of recoveries in hours (default 24). */
  recoveryLookback?: string | number;
  /** Context store for the recovery cursors (empty = the default store). */
  recoveryStore?: string;
  /** Longest a live event waits for a recovery, seconds (default 5). */
  liveHoldLimit?: string | number;
}

/** The node's properties and credentials as the core's settings. */
function settingsOf(def: AccountNodeDef, credentials: CredentialsInput): AccountSettings {
  return {
    market: def.market,
    environment: def.environment,
    restUrl: def.restUrl,
    wsUrl: def.wsUrl,
    symbol: def.symbol,
    keyType: def.keyType,
    credentials,
    recvWindowMs: def.recvWindow,
    keepaliveMinutes: def.keepaliveInterval,
    futuresPathForm: def.futuresPathForm,
    coinmApi: def.coinmApi,
    recovery: def.recovery,
    recoverySymbols: def.recoverySymbols,
    lookbackHours: def.recoveryLookback,
    liveHoldSeconds: def.liveHoldLimit,
  };
}

/** The context store named in the node (undefined = the default store). */
function contextStoreName(def: AccountNodeDef): string | undefined {
  return typeof def.recoveryStore === 'string' && def.recoveryStore.trim() !== '' ? def.recoveryStore.trim() : undefined;
}


export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);
  // A stop that no deploy follows (shutdown, "stop flows"): streams kept for a redeploy close now.
  // One listener per runtime (the module may be registered again, e.g. by the test helper).
  if (!watchedRuntimes.has(RED.events)) {
    watchedRuntimes.add(RED.events);
    RED.events.on('runtime-event', (ev: { id?: string; payload?: { state?: string; deploy?: boolean } }) => {
      if (ev?.id === 'runtime-state' && ev.payload?.state === 'stop' && !ev.payload.deploy) void endAllGraces();
    });
  }

  function BinanceAccountNode(this: AccountNode, def: AccountNodeDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const prepared = prepareAccount(settingsOf(def, node.credentials ?? {}));
    const redact = (text: string): string => prepared.redactor.apply(text);
    const problem = prepared.ok ? undefined : prepared.problem;
    const configError = problem && (problem.key ? redact(t(`${TYPE}.errors.${problem.key}`)) : problem.message);
    const records = new Map<string, UserRecord>();
    /** Consumers restarted (not removed): released if they do not register again after the deploy. */
    const pending = new Set<string>();
    const users: Record<string, AccountUser> = {};
    let account: AccountStream | undefined;
    let closing = false;
    let configErrorReported = false;

    const push = (rec: UserRecord, force = true): void => {
      const s = account
        ? accountStatus(t, account.currentState, rec.showLastEvent ? account.lastEventAt : undefined)
        : { fill: 'red' as const, shape: 'ring' as const, text: t(`${TYPE}.status.${(problem?.key && CONFIG_STATUS_KEYS[problem.key]) || 'invalid-config'}`) };
      if (!force && s.text === rec.lastText) return;
      rec.lastText = s.text;
      try {
        rec.user.status(s);
      } catch {
        // a closed node: nothing to show
      }
    };
    const onState = (): void => {
      for (const rec of records.values()) push(rec);
    };
    // Events no consumer took: counted per type, noted in the log once per type (issue 13).
    const unconsumed = new ConsumptionTracker();
    unconsumed.on('unconsumed', (r: UnconsumedReport) => {
      if (r.first) node.warn(t(`${TYPE}.warnings.unconsumed`, { type: r.eventType }));
    });
    const onEvent = (e: UserDataEvent): void => {
      unconsumed.observe(e);
      for (const rec of records.values()) if (rec.showLastEvent) push(rec, false);
    };

    const open = (): AccountStream | undefined => {
      if (!prepared.ok || closing) return undefined;
      if (!account) {
        let store: ContextStateStore | undefined;
        try {
          store = new ContextStateStore(node.context() as unknown as ContextLike, undefined, contextStoreName(def));
        } catch {
          store = undefined;
        }
        const logger = { debug: (m: string) => node.debug(m), info: (m: string) => node.log(m), warn: (m: string) => node.warn(m), error: (m: string) => node.error(m) };
        account = openAccountStream(prepared, { store, logger });
        account.stream.on('state', onState);
        account.stream.on('event', onEvent);
      }
      return account;
    };
    const stopWatching = onFlowsStarted(RED, () => {
      // Every node of the deploy listens now: events kept while the stream was adopted leave.
      account?.resume();
      const stale = [...pending].filter((id) => !records.has(id));
      pending.clear();
      for (const id of stale) void account?.release(id);
    });

    Object.assign(node, {
      isBinanceAccount: true as const,
      market: prepared.ok ? prepared.config.market : (def.market ?? 'spot'),
      symbol: prepared.ok ? prepared.config.symbol : undefined,
      accountLabel: def.name || node.id,
      configError,
      deployedRestUrl: prepared.ok ? prepared.restUrl : undefined,
      users,
      getManager: () => open()?.manager,
      getStream: () => open()?.stream,
      redact,
      unconsumed,
      accepted: (e: UserDataEvent): void => unconsumed.accept(e),
      register(user: AccountUser, opts: RegisterOptions = {}): void {
        const rec: UserRecord = { user, showLastEvent: opts.showLastEvent === true };
        records.set(user.id, rec);
        users[user.id] = user;
        pending.delete(user.id);
        const a = open();
        if (!a && configError && !configErrorReported) {
          configErrorReported = true;
          node.error(t(`${TYPE}.errors.invalid-config`, { reason: configError }));
        }
        a?.acquire(user.id);
        push(rec);
      },
      deregister(user: AccountUser, done: () => void, removed: boolean): void {
        records.delete(user.id);
        delete users[user.id];
        if (!account?.holds(user.id)) done();
        else if (!removed) {
          pending.add(user.id);
          done();
        } else void account.release(user.id).finally(done);
      },
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      stopWatching();
      pending.clear();
      records.clear();
      const a = account;
      if (!a) return done();
      a.stream.removeListener('state', onState);
      a.stream.removeListener('event', onEvent);
      const timer = setTimeout(done, CLOSE_DEADLINE_MS);
      void a.close().finally(() => {
        clearTimeout(timer);
        done();
      });
    });
  }

  RED.nodes.registerType<AccountNode, AccountNodeDef, object, CredentialsInput>(TYPE, BinanceAccountNode, {
    credentials: { apiKey: { type: 'password' }, apiSecret: { type: 'password' }, privateKey: { type: 'password' }, passphrase: { type: 'password' } },
  });

  RED.httpAdmin.post('/binance-user-stream/test-connection', RED.auth.needsPermission('binance-account.write'), (req, res) => {
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const id = typeof body.id === 'string' && body.id !== '' ? body.id : undefined;
    let saved: CredentialsInput | undefined;
    let deployedRestUrl: string | null = null;
    if (id) {
      try {
        saved = (RED.nodes.getCredentials(id) as CredentialsInput | undefined) ?? undefined;
      } catch {
        saved = undefined;
      }
      const n = RED.nodes.getNode(id) as unknown;
      if (isAccountHandle(n)) {
        const dn = n as unknown as Node<CredentialsInput> & { deployedRestUrl?: string };
        saved ??= dn.credentials;
        deployedRestUrl = dn.deployedRestUrl ?? null;
      }
    }
    const { creds, usedSaved } = mergeCredentials(body.credentials, saved);
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const settings: AccountSettings = {
      market: str(body.market),
      symbol: str(body.symbol),
      environment: str(body.environment),
      restUrl: str(body.restUrl),
      wsUrl: str(body.wsUrl),
      keyType: str(body.keyType),
      recvWindowMs: str(body.recvWindow) ?? (typeof body.recvWindow === 'number' ? body.recvWindow : undefined),
      credentials: creds,
    };
    void checkKey(settings, { savedRestUrl: usedSaved ? deployedRestUrl : undefined }).then((r) => res.json(r));
  });
};
