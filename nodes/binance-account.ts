/**
 * `binance-account` config node: one Binance API key + market, opened with the core's
 * `openAccountStream` (lib/account). Node-RED wiring only: credentials, the data nodes' register /
 * deregister (MQTT broker style: status fanned out to every user, the stream closes only when the
 * last user is removed), and the editor's "Test connection" button (`checkKey`):
 * POST /binance-user-stream/test-connection (permission binance-account.write).
 */
import { makeTranslate } from './red/translate';
import type { Node, NodeAPI } from 'node-red';
import { accountRestBase, openAccountStream, prepareAccount, type AccountStream } from './lib/account';
import type { CredentialsInput } from './lib/exchange/credentials';
import { deployStopped, deployStopping, endAllGraces, endUnadoptedGraces } from './lib/stream/redeploy-grace';
import type { UserDataEvent } from './lib/types';
import { FUTURES_PING_INTERVAL_MS } from './lib/exchange/endpoints';
import { ConsumptionTracker, type UnconsumedReport } from './lib/events/unconsumed';
import type { AccountHandle, AccountUser, RegisterOptions } from './red/account-contract';
import { CONFIG_STATUS_KEYS, contextStoreName, nodeLogger, settingsOf, storeAdvice, type AccountNodeDef } from './red/account-settings';
import { registerTestConnection } from './red/test-connection';
import { accountStatus } from './red/account-status';
import { ContextStateStore, type ContextLike } from './red/context-store';
import { onceOnRuntimePhases, onDeployStarted } from './red/flows-started';
import { UserStatuses } from './red/user-statuses';
import { nodeForEvent } from './red/node-for-event';

const TYPE = 'binance-account';
/** Close must finish well within Node-RED's 15 s. */
const CLOSE_DEADLINE_MS = 12_000;

type AccountNode = Node<CredentialsInput> & AccountHandle & { users: Record<string, AccountUser> };

export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);
  // Streams kept for a redeploy (redeploy-grace.ts) live through the deploy's whole stop phase,
  // however long its closes take; once the deploy has started every node, a stream no account node
  // adopted (another key, URL or market, or the account is gone) closes at once. A stop that no
  // deploy follows (shutdown, "stop flows"): they close now.
  onceOnRuntimePhases(RED, {
    stopping: deployStopping,
    stopped: deployStopped,
    started: () => void endUnadoptedGraces(),
    stop: () => void endAllGraces(),
  });

  /** Stores already advised on (once per runtime and store, not per deploy). */
  const advised = new Set<string>();
  /** Says once what the recovery store means for a crash or a restart (docs/recovery.md, "Crash window"). */
  function adviseOnStore(node: Node, storeName: string | undefined): void {
    let advice: ReturnType<typeof storeAdvice>;
    try {
      advice = storeAdvice((RED.settings as unknown as { contextStorage?: unknown }).contextStorage, storeName);
    } catch {
      return;
    }
    if (!advice || advised.has(advice.store)) return;
    advised.add(advice.store);
    if (advice.kind === 'memory') node.log(t(`${TYPE}.warnings.store-memory`, { store: advice.store }));
    else node.warn(t(`${TYPE}.warnings.store-cached`, { store: advice.store, seconds: advice.flushSeconds }));
  }

  function BinanceAccountNode(this: AccountNode, def: AccountNodeDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const prepared = prepareAccount(settingsOf(def, node.credentials ?? {}));
    if (prepared.ok && prepared.recovery.enabled) adviseOnStore(node, contextStoreName(def));
    const redact = (text: string): string => prepared.redactor.apply(text);
    const problem = prepared.ok ? undefined : prepared.problem;
    // In the runtime's language: a keyed problem, else its text code (lib/texts.ts), else English.
    const configError =
      problem &&
      (problem.key
        ? redact(t(`${TYPE}.errors.${problem.key}`))
        : problem.code
          ? redact(t(`${TYPE}.test.text.${problem.code}`, (problem.params ?? {}) as Record<string, string>))
          : problem.message);
    /**
     * Consumers restarted (not removed): away (the stream keeps their events, I6) until the deploy
     * has started its nodes; then back if they registered again, released if not.
     */
    const pending = new Set<string>();
    let account: AccountStream | undefined;
    let closing = false;
    let configErrorReported = false;

    const statuses = new UserStatuses((showLastEvent) =>
      account
        ? accountStatus(t, account.currentState, showLastEvent ? account.lastEventAt : undefined)
        : { fill: 'red', shape: 'ring', text: t(`${TYPE}.status.${(problem?.key && CONFIG_STATUS_KEYS[problem.key]) || 'invalid-config'}`) },
    );
    /** The silent connection already reported (its opening time): the log says it once per connection. */
    let silentSince: number | undefined;
    const onState = (): void => {
      statuses.pushAll();
      const silent = account?.currentState.silent;
      if (silent && silent.since !== silentSince) {
        silentSince = silent.since;
        const vars = {
          since: new Date(silent.since).toTimeString().slice(0, 8),
          minutes: Math.round(FUTURES_PING_INTERVAL_MS / 60_000),
          form: silent.pathForm ?? '',
          others: (silent.alternatives ?? []).map((f) => `${f} (${t(`${TYPE}.futuresPathForm.${f}`)})`).join(', '),
        };
        node.warn(t(`${TYPE}.warnings.${silent.pathForm ? 'silent-stream' : 'silent-stream-other'}`, vars));
      }
    };
    // Events no consumer took: counted per type, noted in the log once per type (issue 13).
    const unconsumed = new ConsumptionTracker();
    unconsumed.on('unconsumed', (r: UnconsumedReport) => {
      const made = nodeForEvent(r.eventType);
      if (!r.first) return;
      if (r.other) node.warn(t(`${TYPE}.warnings.unconsumedOther`, { named: r.other.named, type: r.other.latest }));
      else node.warn(made ? t(`${TYPE}.warnings.unconsumedFor`, { type: r.eventType, node: made }) : t(`${TYPE}.warnings.unconsumed`, { type: r.eventType }));
    });
    const onEvent = (e: UserDataEvent): void => {
      unconsumed.observe(e);
      statuses.pushLastEvent();
    };

    let store: ContextStateStore | undefined;
    const open = (): AccountStream | undefined => {
      if (!prepared.ok || closing) return undefined;
      if (!account) {
        try {
          store = new ContextStateStore(node.context() as unknown as ContextLike, undefined, contextStoreName(def), node.id);
        } catch {
          store = undefined;
        }
        account = openAccountStream(prepared, { store, logger: nodeLogger(node), line: node.id });
        account.stream.on('state', onState);
        account.stream.on('event', onEvent);
      }
      return account;
    };
    // One delivery turn after flows:started, skipped when the next deploy's stop began by then
    // (flows-started.ts): what leaves here reaches the nodes that will receive it (I6).
    const stopWatching = onDeployStarted(RED, () => {
      // A stream kept for the deploy that no account node adopted (an account redeployed with
      // another key, URL or market) closes now. Idempotent: the first account node's call does it
      // (and the runtime-state `start` right after, for a deploy that left no account node).
      void endUnadoptedGraces();
      // The deploy has started every node: restarted consumers that came back take their events
      // now; those that did not are gone (moved to another account, say), not waited for.
      const restarted = [...pending];
      pending.clear();
      for (const id of restarted) {
        if (statuses.has(id)) account?.acquire(id);
        else void account?.release(id);
      }
      // Every node of the deploy listens now: events kept while the stream was adopted leave.
      account?.resume();
    });

    Object.assign(node, {
      isBinanceAccount: true as const,
      market: prepared.ok ? prepared.config.market : (def.market ?? 'spot'),
      symbol: prepared.ok ? prepared.config.symbol : undefined,
      accountLabel: def.name || node.id,
      configError,
      deployedRestUrl: prepared.ok ? prepared.restUrl : undefined,
      accountRestBase: prepared.ok ? accountRestBase(prepared.endpoints) : undefined,
      users: statuses.users,
      getManager: () => open()?.manager,
      getStream: () => open()?.stream,
      redact,
      unconsumed,
      accepted: (e: UserDataEvent): void => unconsumed.accept(e),
      register(user: AccountUser, opts: RegisterOptions = {}): void {
        const a = open();
        if (!a && configError && !configErrorReported) {
          configErrorReported = true;
          node.error(t(`${TYPE}.errors.invalid-config`, { reason: configError }));
        }
        // Restarted by this deploy: back at flows:started, once every node of the deploy exists
        // (also those it sends to: a message to a node not started yet would be lost).
        if (!pending.has(user.id)) a?.acquire(user.id);
        statuses.add(user, opts.showLastEvent === true);
      },
      awayUntilStarted(user: AccountUser): void {
        if (closing || !account?.holds(user.id) || pending.has(user.id)) return;
        pending.add(user.id);
        account.away(user.id);
      },
      deregister(user: AccountUser, done: () => void, removed: boolean): void {
        statuses.remove(user.id);
        if (!account?.holds(user.id)) done();
        else if (!removed) {
          // Restarted by a deploy: its events wait for it (I6), however long the deploy's closes take.
          pending.add(user.id);
          account.away(user.id);
          done();
        } else void account.release(user.id).finally(done);
      },
    });

    node.on('close', (removed: boolean, done: () => void) => {
      closing = true;
      stopWatching();
      pending.clear();
      statuses.clear();
      const a = account;
      if (!a) return done();
      a.stream.removeListener('state', onState);
      a.stream.removeListener('event', onEvent);
      const timer = setTimeout(done, CLOSE_DEADLINE_MS);
      // deleted (removed): no redeploy grace, the connection closes now
      void a.close({ keep: !removed }).finally(() => {
        clearTimeout(timer);
        // deleted: its last state is not handed to a later node of this process (context-store.ts)
        if (removed) store?.forget();
        done();
      });
    });
  }

  RED.nodes.registerType<AccountNode, AccountNodeDef, object, CredentialsInput>(TYPE, BinanceAccountNode, {
    credentials: { apiKey: { type: 'password' }, apiSecret: { type: 'password' }, privateKey: { type: 'password' }, passphrase: { type: 'password' } },
  });
  registerTestConnection(RED);
};
