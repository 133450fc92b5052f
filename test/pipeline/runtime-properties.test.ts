/**
 * Issue 21, "Generated schedules that speak the runtime's language": generated schedules
 * (fast-check, shrinking on) that drive OUR NODES IN NODE-RED (node-red-node-test-helper: load,
 * setFlows 'full' | 'flows' | 'nodes', unload) against the simulator over loopback, with fake
 * timers (test/support/fake-clock.ts: setTimeout/setInterval/Date are fake, I/O is real; Node-RED's
 * 15 s close timeout, a node's 20 s close and hours of REST outage cost no real time).
 *
 * The flow: one `binance-account` (config node `acct`), and on each of two tabs a
 * `binance-order-update` (ou1, ou2; what it sends is recorded where the flow receives it, at its
 * sink out1, out2, after Node-RED's asynchronous routing — a message still on its way when a
 * deploy closes the sink is lost, and counts as lost —, and its status as the editor shows it, by
 * the runtime's `node-status` events) wired to that sink, and a node whose close is asynchronous and slow (slow1, slow2;
 * test/support/runtime-nodes.ts). Context: Node-RED's memory store, or a persistent store `persist`
 * that can be slow, fail or never answer on read and on write (test/support/persistent-store.ts).
 *
 * Vocabulary of a schedule: orders with fills (several symbols), bursts of fills of one symbol
 * (beyond the ledger's persisted 2 000 per symbol; RUNTIME_BIG=1 beyond the 20 000 kept in memory),
 * fills on more symbols than are tracked (RUNTIME_BIG=1: beyond 1 000), socket drops, half-open
 * stalls, REST 5xx / 429 / 418 (a few requests, or an outage of minutes to hours, longer than the
 * look-back), slow REST, full / modified-flows / modified-nodes deploys where another node of the
 * deploy takes 0–20 s to close (with fills made while Node-RED closes the nodes), such deploys back
 * to back (the next begins the moment the previous one has started its nodes), deploys that
 * change the account's look-back, symbols, hold limit, recovery switch or recovery store
 * (persist ↔ memory), or its market, environment (a second simulator) or key (with fills made
 * during the deploy), Node-RED restarts (unload + load; fills made while it is
 * stopped), context-store faults, and live frames with absurd trade ids (2^50).
 *
 * What is expected comes from the exchange's ledger (`sim.trades`) and the user-facing contract,
 * checked at the order-update nodes' outputs and their statuses — never from the implementation:
 *
 *  R1  every fill the exchange made reaches EACH order-update node exactly once, whatever the
 *      deploys (a consumer restarted by a deploy gets the fills of that time when it is back,
 *      each once; docs/recovery.md "Redeploys", issue 21 "Deliver"). Exceptions, from the docs:
 *      a fill of a symbol that is not listed and was not seen on the stream before it was made is
 *      not required; a second copy is tolerated across a Node-RED restart in a life that met a
 *      context-store fault (the state may not have been written or read: the crash case of the
 *      docs, at least once), never across a clean one (docs/recovery.md "Across restarts": what
 *      was delivered and written is not sent again; the flow's stop writes). Nothing is ever
 *      delivered that the exchange did not make (absurd-id frames aside). A key change starts a new
 *      stream whose saved state is another's (docs/recovery.md "Across restarts"), which continues
 *      the account node's line from the moment the deploy began ("Redeploys": the fills made
 *      during the deploy come once): a fill made within its 1 s margin before the deploy began may
 *      come once from each stream.
 *  R2  a live fill received on the connection is delivered within the account's hold limit
 *      (+ two clock steps), except across a deploy or restart (I2: held while no node is
 *      registered).
 *  R3  a node's status is green "connected" only when nothing is missing: not while a received
 *      fill waits to be delivered to it, and not for a minute on end while a fill made more than
 *      three minutes earlier has not reached it.
 *  R4  once the faults stop, the nodes settle (every fill delivered, status "connected"); with a
 *      persistent store, a last restart with fills made while Node-RED is stopped delivers them.
 *
 * Schedule rules that keep the oracle exact (a user who changes identity or switches recovery
 * off does so on a calm account): before a deploy that changes the market, environment or key,
 * or switches recovery off, and before a restart on the memory store or with recovery off, the faults stop and the
 * nodes settle (R4 is checked there too). While recovery is off, network and REST faults are not
 * applied (recovery off means a gap's fills are lost, as documented). Fills made while Node-RED is
 * stopped are required when the store holds a state written after the first fill of the current
 * identity was delivered (a stream that never wrote a state starts as a first start).
 *
 * RUNTIME_RUNS (default 50, about half a second each) schedules from RUNTIME_SEED (default 21);
 * `npm run soak:runtime` runs 5 000 with RUNTIME_BIG=1. RUNTIME_STEPS=deploy,restart,… narrows the
 * step kinds; RUNTIME_MAX_STEPS (default 10) bounds a schedule's length.
 * A failure prints fast-check's seed and path with the shrunk schedule, the violations and the
 * trace: re-run with RUNTIME_SEED=<seed> RUNTIME_PATH=<path> (and the same RUNTIME_STEPS), or run the
 * printed counterexample alone with RUNTIME_SCHEDULE='<its JSON>' (RUNTIME_DEBUG=1 prints the log).
 * RUNTIME_PROGRESS=1 prints each schedule with the heap in use before it (run node with --expose-gc
 * for the heap after a collection); RUNTIME_HEAPSNAP=<n> writes a heap snapshot before schedule n.
 */
import v8 from 'node:v8';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { stopAllSharedManagers } from '../../nodes/lib/stream/registry';
import { endAllGraces } from '../../nodes/lib/stream/reliable-stream';
import { isAccountHandle } from '../../nodes/red/account-contract';
import { forgetStoreOrder } from '../../nodes/red/context-store';
import { forgetSharedBudgets } from '../../nodes/lib/exchange/weight-budget';
import type { UserDataEvent } from '../../nodes/lib/types';
import { installClock, realNow, settle, type Clock } from '../support/fake-clock';
import { capturedLogs, helper, nodeModules, releaseCaptured, rememberSecret, startRed, type FlowNode, type NodeInitializer } from '../support/red';
import { FIRST_START_MARGIN_MS } from '../../nodes/lib/recovery/gap-recovery';
import { PersistentStore, usePersistentStore, type StoreFaultKind } from '../support/persistent-store';
import { clearSinks, runtimeNodesControl, testNodes } from '../support/runtime-nodes';

const RUNS = Number(process.env.RUNTIME_RUNS ?? 50);
const SEED = Number(process.env.RUNTIME_SEED ?? 21);
const PATH = process.env.RUNTIME_PATH;
const BIG = process.env.RUNTIME_BIG === '1';
const MAX_STEPS = Number(process.env.RUNTIME_MAX_STEPS ?? 10);
/** Fake-time step between I/O settles. */
const STEP_MS = 500;
/** Fake-time step of long waits (hours of outage). */
const LONG_STEP_MS = 5_000;
/** R3: green this long on end while a fill made MISSING_AFTER_MS earlier is missing. */
const GREEN_FOR_MS = 60_000;
const MISSING_AFTER_MS = 3 * 60_000;
const BOGUS_ID = 2 ** 50;
const RECOVERY_KEY = 'binanceUserStreamRecovery';
/**
 * RUNTIME_TOLERATE_RECOVERING=1: a second copy is also tolerated across a clean restart made while
 * a node showed "catching up" (the reading of the issue 11 suite). By default it is not: the docs
 * say what was delivered and written is not sent again, and the flow's stop writes.
 */
const TOLERATE_RECOVERING = process.env.RUNTIME_TOLERATE_RECOVERING === '1';

type Market = 'spot' | 'usdm-futures';
type DeployKind = 'full' | 'flows' | 'nodes';
type RestPath = 'trades' | 'openOrders' | 'account';
type SettingChange = 'lookback' | 'symbols' | 'hold' | 'recovery' | 'store';
type IdentityChange = 'market' | 'env' | 'key';

type Step =
  | { t: 'orders'; sym: number; fills: number; dt: number }
  | { t: 'burst'; sym: number; fills: number }
  | { t: 'manySymbols'; count: number }
  | { t: 'drop'; dt: number }
  | { t: 'stall'; dt: number }
  | { t: 'rest'; status: 500 | 503 | 429 | 418; retryAfterSec: number; count: number; path: RestPath; dt: number }
  | { t: 'outage'; status: 503 | 418; minutes: number }
  | { t: 'slowRest'; ms: number; count: number; path: RestPath; dt: number }
  | { t: 'deploy'; kind: DeployKind; tabs: 1 | 2 | 3; closeMs: number; fills: number; sym: number; startMs?: number }
  /** Deploys back to back: each begins the moment the previous one has started its nodes (no pause). */
  | { t: 'deploys'; kinds: DeployKind[]; tabs: 1 | 2 | 3; closeMs: number; fills: number; sym: number }
  | { t: 'settings'; change: SettingChange; value: number; kind: DeployKind; closeMs: number; fills: number; startMs?: number }
  | { t: 'identity'; change: IdentityChange; kind: DeployKind; closeMs: number; fills?: number }
  | { t: 'restart'; fillsWhileStopped: number; closeMs: number }
  | { t: 'store'; op: 'read' | 'write'; kind: StoreFaultKind; ms: number; count: number }
  | { t: 'bogus'; sym: number; dt: number }
  | { t: 'wait'; ms: number };

interface Schedule {
  market: Market;
  store: 'memory' | 'persist';
  symbols: number;
  lookbackH: number;
  steps: Step[];
}

const dt = fc.oneof(fc.constantFrom(0, 200, 1_000), fc.integer({ min: 0, max: 8_000 }));
const restPath = fc.constantFrom<RestPath>('trades', 'openOrders', 'account');
const deployKind = fc.constantFrom<DeployKind>('full', 'flows', 'nodes');
const closeMs = fc.oneof(fc.constant(0), fc.constantFrom(3_000, 11_000, 16_000), fc.integer({ min: 0, max: 20_000 }));
/** A deploy's start phase: mostly instant, sometimes long (a module installed first, a large flow on a small device). */
const startMs = fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, { arbitrary: fc.constantFrom(10_001, 16_000), weight: 1 }, { arbitrary: fc.integer({ min: 500, max: 30_000 }), weight: 1 });
const burstFills = BIG
  ? fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 20, max: 400 }) }, { weight: 2, arbitrary: fc.integer({ min: 2_001, max: 2_600 }) }, { weight: 1, arbitrary: fc.integer({ min: 20_001, max: 20_300 }) })
  : fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 20, max: 400 }) }, { weight: 1, arbitrary: fc.integer({ min: 2_001, max: 2_600 }) });
const manyCount = BIG ? fc.oneof(fc.integer({ min: 5, max: 40 }), fc.integer({ min: 1_001, max: 1_030 })) : fc.integer({ min: 5, max: 40 });

const STEP_KINDS: Array<{ kind: Step['t']; weight: number; arbitrary: fc.Arbitrary<Step> }> = [
  { kind: 'orders', weight: 8, arbitrary: fc.record({ t: fc.constant('orders' as const), sym: fc.nat(7), fills: fc.integer({ min: 1, max: 3 }), dt }) },
  { kind: 'burst', weight: 1, arbitrary: fc.record({ t: fc.constant('burst' as const), sym: fc.nat(7), fills: burstFills }) },
  { kind: 'manySymbols', weight: 1, arbitrary: fc.record({ t: fc.constant('manySymbols' as const), count: manyCount }) },
  { kind: 'drop', weight: 3, arbitrary: fc.record({ t: fc.constant('drop' as const), dt }) },
  { kind: 'stall', weight: 1, arbitrary: fc.record({ t: fc.constant('stall' as const), dt }) },
  {
    kind: 'rest',
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('rest' as const),
      status: fc.constantFrom(500 as const, 503 as const, 429 as const, 418 as const),
      retryAfterSec: fc.integer({ min: 1, max: 120 }),
      count: fc.integer({ min: 1, max: 4 }),
      path: restPath,
      dt,
    }),
  },
  { kind: 'outage', weight: 1, arbitrary: fc.record({ t: fc.constant('outage' as const), status: fc.constantFrom(503 as const, 418 as const), minutes: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 31, max: 180 })) }) },
  { kind: 'slowRest', weight: 1, arbitrary: fc.record({ t: fc.constant('slowRest' as const), ms: fc.integer({ min: 500, max: 15_000 }), count: fc.integer({ min: 1, max: 3 }), path: restPath, dt }) },
  { kind: 'deploy', weight: 4, arbitrary: fc.record({ t: fc.constant('deploy' as const), kind: deployKind, tabs: fc.constantFrom(1 as const, 2 as const, 3 as const), closeMs, fills: fc.integer({ min: 0, max: 3 }), sym: fc.nat(7), startMs }) },
  {
    kind: 'deploys',
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('deploys' as const),
      kinds: fc.array(deployKind, { minLength: 2, maxLength: 3 }),
      tabs: fc.constantFrom(1 as const, 2 as const, 3 as const),
      closeMs,
      fills: fc.integer({ min: 1, max: 3 }),
      sym: fc.nat(7),
    }),
  },
  {
    kind: 'settings',
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('settings' as const), change: fc.constantFrom<SettingChange>('lookback', 'symbols', 'hold', 'recovery', 'store'), value: fc.nat(3), kind: deployKind, closeMs, fills: fc.integer({ min: 0, max: 2 }), startMs }),
  },
  {
    kind: 'identity',
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('identity' as const), change: fc.constantFrom<IdentityChange>('market', 'env', 'key'), kind: deployKind, closeMs, fills: fc.integer({ min: 0, max: 2 }) }),
  },
  { kind: 'restart', weight: 2, arbitrary: fc.record({ t: fc.constant('restart' as const), fillsWhileStopped: fc.integer({ min: 0, max: 3 }), closeMs }) },
  {
    kind: 'store',
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('store' as const),
      op: fc.constantFrom('read' as const, 'write' as const),
      kind: fc.constantFrom<StoreFaultKind>('slow', 'fail', 'hang'),
      ms: fc.integer({ min: 100, max: 30_000 }),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  { kind: 'bogus', weight: 1, arbitrary: fc.record({ t: fc.constant('bogus' as const), sym: fc.nat(7), dt }) },
  { kind: 'wait', weight: 1, arbitrary: fc.record({ t: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 1_000, max: 90_000 }), fc.integer({ min: 10 * 60_000, max: 3 * 3_600_000 })) }) },
];
const allowed = process.env.RUNTIME_STEPS ? process.env.RUNTIME_STEPS.split(',').map((k) => k.trim()) : undefined;
const step: fc.Arbitrary<Step> = fc.oneof(...STEP_KINDS.filter((k) => !allowed || allowed.includes(k.kind)));

const schedule: fc.Arbitrary<Schedule> = fc.record({
  market: fc.constantFrom<Market>('spot', 'usdm-futures'),
  store: fc.constantFrom<'memory' | 'persist'>('persist', 'memory'),
  symbols: fc.integer({ min: 1, max: 3 }),
  lookbackH: fc.constantFrom(24, 1, 0.5),
  steps: fc.array(step, { minLength: 1, maxLength: MAX_STEPS }),
});

function show(s: Step): string {
  const { t, ...rest } = s;
  return `${t}(${Object.entries(rest)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')})`;
}

const SYMBOL_POOL = ['BTCUSDT', 'ETHUSDT', 'BNBUSDT', 'SOLUSDT', 'XRPUSDT', 'ADAUSDT', 'DOGEUSDT', 'LTCUSDT'];
/** The order-update nodes: what they send is counted where the flow receives it (their sinks, SINK_OF). */
const CONSUMERS = ['ou1', 'ou2'] as const;
type ConsumerOut = (typeof CONSUMERS)[number];
/** The order-update node feeding each sink: its status is what the editor shows (runtime event `node-status`). */
const STATUS_OF: Record<string, ConsumerOut> = { ou1: 'ou1', ou2: 'ou2' };
/** The sink each order-update node sends to (its only wire). */
const CONSUMER_OF_SINK: Record<string, ConsumerOut> = { out1: 'ou1', out2: 'ou2' };

function restPathOf(market: Market, p: RestPath): string {
  const table: Record<Market, Record<RestPath, string>> = {
    spot: { trades: '/api/v3/myTrades', openOrders: '/api/v3/openOrders', account: '/api/v3/account' },
    'usdm-futures': { trades: '/fapi/v1/userTrades', openOrders: '/fapi/v1/openOrders', account: '/fapi/v3/account' },
  };
  return table[market][p];
}

interface Delivery {
  life: number;
  at: number;
  recovered: boolean;
}

interface Made {
  key: string;
  at: number;
  required: boolean;
}

interface StatusNow {
  green: boolean;
  text: string;
  since: number;
}

/** A fill's identity in the ledger: environment, market, symbol, order, trade. */
const fillKey = (env: number, market: string, symbol: string, orderId: unknown, tradeId: unknown): string => `${env}/${market}/${symbol}/${String(orderId)}/${String(tradeId)}`;

/**
 * Awaits `p` (a deploy, a load, an unload) while fake time moves. Real I/O (a WebSocket's close
 * handshake, a REST call) gets a few ms of real time at each fake instant before the clock moves on,
 * and the clock moves to its next timer, at most 1 s at a time: so a close that takes 5 ms of real
 * time does not take seconds of fake time (a 10 s redeploy grace would expire in it), and a node's
 * 20 s close still costs little real time.
 */
async function ticking<T>(clock: Clock, p: Promise<T>, what: string, maxMs = 180_000): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  let elapsed = 0;
  const realStart = realNow();
  while (!done) {
    for (let i = 0; i < 6 && !done; i++) await settle(8, 1);
    if (done) break;
    if (elapsed >= maxMs && realNow() - realStart > 10_000) throw new Error(`${what}: not done after ${elapsed} ms of fake time, ${realNow() - realStart} ms of real time`);
    const step = Math.max(1, Math.min(1_000, nextTimerIn(clock) ?? 1_000));
    clock.tick(step);
    elapsed += step;
  }
  return watched;
}

/** Fake ms until the clock's next timer (undefined: none). */
function nextTimerIn(clock: Clock): number | undefined {
  const timers = (clock as unknown as { timers?: Record<string, { callAt: number }> }).timers;
  if (!timers) return undefined;
  let next: number | undefined;
  for (const t of Object.values(timers)) if (next === undefined || t.callAt < next) next = t.callAt;
  return next === undefined ? undefined : next - clock.now;
}

/**
 * A deploy of `kind`, as helper.setFlows does it, but listening for `flows:started` before the
 * deploy begins: the helper listens only after the stop phase, and misses the event when the
 * start is quick (then it rejects after 300 ms).
 */
async function setFlows(flow: FlowNode[], kind: DeployKind, credentials: Record<string, Record<string, string>>): Promise<void> {
  const h = helper as unknown as { _redNodes: { setFlows(f: FlowNode[], c: unknown, t: string): Promise<unknown> } };
  const t0 = Date.now();
  const started = new Promise<void>((resolve) => helper._events.once('flows:started', () => resolve()));
  await h._redNodes.setFlows(flow, credentials, kind);
  if (process.env.RUNTIME_DEBUG) console.log(`DBG deploy ${kind}: stopped after ${Date.now() - t0} ms`);
  await started;
  if (process.env.RUNTIME_DEBUG) console.log(`DBG deploy ${kind}: started after ${Date.now() - t0} ms`);
}

interface RunResult {
  violations: string[];
  trace: string[];
}

/** The flow's state: what the next deploy deploys. */
interface FlowState {
  market: Market;
  env: number;
  key: number;
  recovery: boolean;
  lookbackH: number;
  holdS: number;
  listed: string[];
  persist: boolean;
  rev: Record<'ou1' | 'ou2' | 'slow1' | 'slow2' | 'acct', number>;
}

interface StatusEvent {
  id?: string;
  status?: { fill?: string; shape?: string; text?: string };
}
/** The current schedule's listener of the runtime's node-status events (installed once per suite). */
let onStatus: ((ev: StatusEvent) => void) | undefined;
/** The current schedule's listener of what an order-update node's sink received (installed once per suite). */
let onSent: ((nodeId: string, msg: Record<string, unknown>) => void) | undefined;

/** The current schedule's flows:started listener that follows the sinks' environment. */
let followingEnv: (() => void) | undefined;

async function runSchedule(s: Schedule, storeRef: { current: PersistentStore }): Promise<RunResult> {
  const violations: string[] = [];
  const trace: string[] = [];
  const clock: Clock = installClock();
  const sims: BinanceSimulator[] = [];
  const store = new PersistentStore();
  forgetStoreOrder(); // a new process: no order of an earlier schedule's entries
  forgetSharedBudgets(); // nor an earlier schedule's REST weight spent (its simulator may have had this port)
  storeRef.current = store;
  const logStart = capturedLogs.length;
  let loaded = false;
  try {
    sims.push(await BinanceSimulator.start(), await BinanceSimulator.start());
    const balances = { balances: { USDT: '100000000000', BTC: '1000' }, futuresBalances: { USDT: '100000000000' } };
    const accts = sims.map((sim) => sim.createAccount(balances).id);
    // two keys, valid in both environments (the same account in each)
    const keys: CreatedKey[] = [sims[0].createKey(accts[0], 'hmac'), sims[0].createKey(accts[0], 'hmac')];
    for (const k of keys) {
      rememberSecret(k.apiKey, k.apiSecret);
      sims[1].registerKey(accts[1], { apiKey: k.apiKey, keyType: 'hmac', apiSecret: k.apiSecret });
    }

    const fs: FlowState = {
      market: s.market,
      env: 0,
      key: 0,
      recovery: true,
      lookbackH: s.lookbackH,
      holdS: 5,
      listed: SYMBOL_POOL.slice(0, s.symbols),
      persist: s.store === 'persist',
      rev: { ou1: 0, ou2: 0, slow1: 0, slow2: 0, acct: 0 },
    };
    /** Unlisted symbols fills were made on (manySymbols). */
    const extra: string[] = [];
    let extraSeq = 0;

    const credsOf = (k: number): Record<string, string> => ({ apiKey: keys[k].apiKey, apiSecret: keys[k].apiSecret ?? '' });
    const flowOf = (inlineCreds = false): FlowNode[] => {
      const urls = sims[fs.env].urlsFor(fs.market);
      const tab = (n: 1 | 2): FlowNode[] => [
        { id: `tab${n}`, type: 'tab', label: `tab ${n}` },
        { id: `ou${n}`, type: 'binance-order-update', z: `tab${n}`, name: `ou${n} r${fs.rev[`ou${n}`]}`, account: 'acct', wires: [[`out${n}`]] },
        { id: `out${n}`, type: 'test-sink', z: `tab${n}`, wires: [] },
        { id: `slow${n}`, type: 'test-slow-close', z: `tab${n}`, name: `slow${n} r${fs.rev[`slow${n}`]}`, wires: [] },
      ];
      const acct: FlowNode = {
        id: 'acct',
        type: 'binance-account',
        name: `account r${fs.rev.acct}`,
        market: fs.market,
        symbol: '',
        environment: 'custom',
        restUrl: urls.restUrl,
        wsUrl: urls.wsUrl,
        keyType: 'hmac',
        recvWindow: '',
        keepaliveInterval: '',
        recovery: fs.recovery,
        recoverySymbols: fs.listed.join(','),
        recoveryLookback: String(fs.lookbackH),
        liveHoldLimit: String(fs.holdS),
        recoveryStore: fs.persist ? 'persist' : '',
      };
      // the editor sends the credentials of a node whose credentials changed, and only then
      if (inlineCreds) acct.credentials = credsOf(fs.key);
      return [...tab(1), ...tab(2), acct];
    };
    const nodes = (): NodeInitializer[] => [...nodeModules(), testNodes];

    // ---- what the flow sees
    let life = 1;
    const deliveries = new Map<ConsumerOut, Map<string, Delivery[]>>(CONSUMERS.map((c) => [c, new Map()]));
    const status = new Map<ConsumerOut, StatusNow>(CONSUMERS.map((c) => [c, { green: false, text: '(none)', since: Date.now() }]));
    const phantoms: string[] = [];
    const made = new Map<string, Made>();
    /** Fills received on the connection (the account's manager), by key: receive time. */
    const received = new Map<string, number>();
    /** Symbols seen on the connection, per identity (`env/market/symbol`). */
    const seen = new Set<string>();
    /** Lives after which a second copy is tolerated (restart while catching up, or with store faults). */
    const tolerantLives = new Set<number>();
    /** When a key change's new stream began (a fill within the first-start margin before may come twice). */
    const keyChanges: number[] = [];
    /** A store fault was met in this life (a write may not have landed). */
    let storeFaultedThisLife = false;
    /** How many of the store's calls the trace has told. */
    let callsTraced = 0;
    let deploying = false;
    let quietSince = Date.now();
    let epochWritesAtFirstDelivery: number | undefined;

    const idOf = (symbol: string): string => `${fs.env}/${fs.market}/${symbol}`;

    onStatus = (ev) => {
      const c = ev.id !== undefined ? STATUS_OF[ev.id] : undefined;
      if (!c) return;
      const st = ev.status ?? {};
      // green "connected", also with a tracking limit's note (docs: "over N symbols: see log")
      const green = st.fill === 'green' && (st.text === 'connected' || /^connected \(over \d+ (symbols|open orders): see log\)$/.test(st.text ?? ''));
      const prev = status.get(c)!;
      const text = `${st.fill ?? ''}/${st.text ?? ''}`;
      if (prev.green !== green || prev.text !== text) status.set(c, { green, text, since: Date.now() });
    };
    /**
     * The environment of the flow whose sinks receive: it changes when a deploy that changed it has
     * started its nodes (what the old nodes still got before their close is the old environment's).
     */
    let sinkEnv = fs.env;
    const followEnv = (): void => {
      sinkEnv = fs.env;
    };
    helper._events.on('flows:started', followEnv);
    followingEnv = followEnv;
    onSent = (id, msg) => {
      if (id !== 'ou1' && id !== 'ou2') return;
      const p = (msg.payload ?? {}) as Record<string, unknown>;
      if (p.executionType !== 'TRADE') return;
      if (Number(p.tradeId) >= BOGUS_ID / 2) return; // the absurd frame: what the exchange said, not a ledger fill
      const key = fillKey(sinkEnv, String(msg.market), String(p.symbol), p.orderId, p.tradeId);
      if (!made.has(key)) {
        phantoms.push(`${id}: ${key}${msg.recovered === true ? ' (recovered)' : ''}`);
        return;
      }
      if (epochWritesAtFirstDelivery === undefined) epochWritesAtFirstDelivery = store.writesOk;
      const per = deliveries.get(id)!;
      const list = per.get(key) ?? [];
      list.push({ life, at: Date.now(), recovered: msg.recovered === true });
      per.set(key, list);
    };

    const tapped = new WeakSet<object>();
    /** From a restart's stop until the next start. */
    let processStopping = false;
    /** Taps the account's connection (the manager's `event`): receive times and symbols seen. */
    const tap = (): void => {
      const n: unknown = helper.getNode('acct');
      if (!isAccountHandle(n)) return;
      const m = n.getManager();
      if (!m || tapped.has(m)) return;
      tapped.add(m);
      const env = fs.env;
      m.on('event', (e: UserDataEvent) => {
        const raw = e.raw as Record<string, unknown>;
        const o = (e.eventType === 'ORDER_TRADE_UPDATE' ? raw.o : raw) as Record<string, unknown> | undefined;
        if (!o || (e.eventType !== 'executionReport' && e.eventType !== 'ORDER_TRADE_UPDATE')) return;
        // Seen by our stream only if it still takes events: once Node-RED is stopping (a restart)
        // it has closed, and a frame still read from the socket is a symbol it never saw.
        if (typeof o.s === 'string' && !processStopping) seen.add(`${env}/${e.market}/${o.s}`);
        if (o.x !== 'TRADE' || Number(o.t) >= BOGUS_ID / 2) return;
        const key = fillKey(env, e.market, String(o.s), o.i, o.t);
        if (!received.has(key)) received.set(key, Date.now());
      });
    };

    const delivered = (c: ConsumerOut, key: string): boolean => (deliveries.get(c)!.get(key)?.length ?? 0) > 0;
    const missing = (c: ConsumerOut, olderThanMs = 0): string[] => {
      const now = Date.now();
      return [...made.values()].filter((m) => m.required && now - m.at >= olderThanMs && !delivered(c, m.key)).map((m) => m.key);
    };
    const allDone = (): boolean => CONSUMERS.every((c) => status.get(c)!.green && missing(c).length === 0);

    /** R2 and R3 after a clock step. */
    let lastSlowCheck = 0;
    const check = (where: string, tickMs: number): void => {
      if (deploying) return;
      const now = Date.now();
      const bound = fs.holdS * 1000 + 2 * tickMs + 1_000;
      for (const c of CONSUMERS) {
        const st = status.get(c)!;
        for (const [key, at] of received) {
          if (at < quietSince || delivered(c, key) || !made.get(key)?.required) continue;
          if (now - at > bound) {
            violations.push(`R2 (hold bound): live fill ${key} received ${now - at} ms ago is not delivered to ${c} (hold limit ${fs.holdS} s), ${where}`);
            return;
          }
          if (st.green && now - at > 2 * tickMs && now - st.since > 2 * tickMs) {
            violations.push(`R3 (truthful status): ${c}'s node shows connected while received fill ${key} is not delivered to it (${now - at} ms), ${where}`);
            return;
          }
        }
      }
      if (now - lastSlowCheck < 10_000) return;
      lastSlowCheck = now;
      for (const c of CONSUMERS) {
        const st = status.get(c)!;
        if (!st.green || now - st.since < GREEN_FOR_MS || now - quietSince < GREEN_FOR_MS) continue;
        const lost = missing(c, MISSING_AFTER_MS);
        if (lost.length) {
          violations.push(`R3 (truthful status): ${c}'s node has shown connected for ${Math.round((now - st.since) / 1000)} s while ${lost.length} fill(s) made over 3 min ago never reached it (${lost.slice(0, 3).join(', ')}), ${where}`);
          return;
        }
      }
    };

    const move = async (ms: number, where: string): Promise<void> => {
      const tickMs = ms > 10 * 60_000 ? LONG_STEP_MS : STEP_MS;
      let left = ms;
      while (left > 0) {
        const st = Math.min(tickMs, left);
        clock.tick(st);
        left -= st;
        await settle(8);
        check(where, tickMs);
        if (violations.length) return;
      }
      await settle(4, 1);
    };

    const sim = (): BinanceSimulator => sims[fs.env];
    const acct = (): string => accts[fs.env];
    /** Fills on `symbol` (one order); recorded as made, required when the contract requires them. */
    const trade = (symbol: string, n: number): void => {
      const required = fs.listed.includes(symbol) || seen.has(idOf(symbol));
      const { trades } = sim().runOrderLifecycle(acct(), {
        market: fs.market,
        symbol,
        side: 'BUY',
        quantity: String(n),
        price: '10',
        fills: Array.from({ length: n }, () => '1'),
      });
      const now = Date.now();
      for (const t of trades) {
        const key = fillKey(fs.env, t.market, t.symbol, t.orderId, t.tradeId);
        made.set(key, { key, at: now, required });
      }
      if (trades.length) {
        const ids = trades.length > 1 ? `${trades[0].tradeId}–${trades[trades.length - 1].tradeId}` : String(trades[0].tradeId);
        const line = `  fill${trades.length > 1 ? 's' : ''} ${symbol} ${ids} (order ${trades[0].orderId}${required ? '' : ', not required: never seen, not listed'})`;
        if (extraTraced < 8 || fs.listed.includes(symbol)) trace.push(line);
        if (!fs.listed.includes(symbol)) extraTraced++;
      }
    };
    let extraTraced = 0;
    const traded = (): string[] => [...fs.listed, ...extra.slice(-5)];
    const symAt = (i: number): string => traded()[i % traded().length];

    /** The faults stop and the nodes settle (R4); `why` names the occasion. */
    const outage = { until: 0, status: 503 as number };
    const stopFaults = (): void => {
      for (const x of sims) x.clearFaults();
      outage.until = 0;
      store.clear();
    };
    const settleAll = async (why: string, limitMs = 20 * 60_000): Promise<boolean> => {
      stopFaults();
      for (let waited = 0; waited < limitMs && !violations.length && !allDone(); waited += 5_000) await move(5_000, `while settling ${why}`);
      if (violations.length) return false;
      if (!allDone()) {
        for (const c of CONSUMERS) {
          const lost = missing(c);
          const st = status.get(c)!;
          if (lost.length || !st.green) {
            violations.push(
              `R4 (settles): ${Math.round(limitMs / 60_000)} min after the faults stopped (${why}), ${c}: ${lost.length} fill(s) never delivered${lost.length ? ` (${lost.slice(0, 4).join(', ')}${lost.length > 4 ? ', …' : ''})` : ''}, status ${st.text}`,
            );
          }
        }
        return false;
      }
      return true;
    };

    const start = async (): Promise<void> => {
      loaded = true;
      await ticking(clock, helper.load(nodes(), flowOf(), { acct: credsOf(fs.key) }), 'helper.load');
      await settle(8);
      tap();
    };
    /** Node-RED stops: its nodes close, then its process ends and nothing of it survives (kept streams, shared managers, the store's pending answers). */
    const stopProcess = async (): Promise<void> => {
      deploying = true;
      processStopping = true;
      await ticking(clock, helper.unload(), 'helper.unload');
      loaded = false;
      await ticking(clock, endAllGraces(), 'endAllGraces');
      await ticking(clock, stopAllSharedManagers(), 'stopAllSharedManagers');
      store.processEnded();
      forgetStoreOrder(); // the state store's order of reads and writes is the process's own
    };
    /** Node-RED starts again after `stopProcess()`: a new life. */
    const startProcess = async (): Promise<void> => {
      life++;
      processStopping = false;
      received.clear();
      try {
        await start();
      } finally {
        deploying = false;
        quietSince = Date.now();
      }
    };
    /** A deploy of `kind`; `closing` names the slow node that takes `ms` to close (and makes fills when it starts to). */
    /**
     * `startMs` (optional; generated for deploy and settings steps): the deploy's start phase lasts that long —
     * fake time moves on at flows:stopped, before the nodes are started again, as when Node-RED
     * installs a missing module first or starts a large flow on a small device.
     */
    const deploy = async (kind: DeployKind, inlineCreds: boolean, closing: 'slow1' | 'slow2' | undefined, ms: number, fillsDuring: () => void, startMs = 0): Promise<void> => {
      runtimeNodesControl.closeDelayMs.clear();
      // The start phase moves fake time in one step, as an event loop busy for that long: past the
      // watchdog's 30 s without a frame that is a reconnect, a gap, whose fills recovery off gives
      // up (documented) — so with recovery off it stays below (as other faults are not applied).
      const startFor = fs.recovery ? startMs : Math.min(startMs, 10_001);
      const slowStart = (): void => process.nextTick(() => clock.tick(startFor));
      if (startFor > 0) helper._events.once('flows:stopped', slowStart);
      if (closing) runtimeNodesControl.closeDelayMs.set(closing, ms);
      let fired = false;
      runtimeNodesControl.onClose = () => {
        if (fired) return;
        fired = true;
        fillsDuring();
      };
      deploying = true;
      const t0 = Date.now();
      try {
        await ticking(clock, setFlows(flowOf(inlineCreds), kind, { acct: credsOf(fs.key) }), `a ${kind} deploy`);
        if (!fired) fillsDuring(); // nothing slow closed (e.g. a modified-nodes deploy of the account alone)
      } finally {
        helper._events.removeListener('flows:stopped', slowStart);
        runtimeNodesControl.onClose = undefined;
        deploying = false;
        quietSince = Date.now();
      }
      await settle(8);
      tap();
      trace.push(`  deployed (${kind}) in ${Date.now() - t0} ms of fake time`);
    };
    const tabsOf = (tabs: 1 | 2 | 3): Array<1 | 2> => (tabs === 3 ? [1, 2] : [tabs]);

    // ---- start
    trace.push(`start: ${s.market}, ${s.store} store, listed ${fs.listed.join(',')}, look-back ${s.lookbackH} h`);
    await start();
    await move(3_000, 'start');

    for (const [i, st] of s.steps.entries()) {
      if (violations.length) break;
      const where = `step ${i + 1} ${show(st)}`;
      trace.push(where);
      const faultsApply = fs.recovery; // recovery off: a gap's fills are lost (documented), so no gaps
      switch (st.t) {
        case 'orders':
          trade(symAt(st.sym), st.fills);
          break;
        case 'burst':
          trade(symAt(st.sym), st.fills);
          break;
        case 'manySymbols':
          for (let k = 0; k < st.count; k++) {
            const symbol = `X${String(++extraSeq).padStart(4, '0')}USDT`;
            extra.push(symbol);
            trade(symbol, 1);
          }
          break;
        case 'drop':
          if (faultsApply) sim().dropConnections({ accountId: acct() });
          break;
        case 'stall':
          if (faultsApply) sim().stallConnections({ accountId: acct() });
          break;
        case 'rest':
          if (faultsApply) {
            sim().failNext({
              path: restPathOf(fs.market, st.path),
              httpStatus: st.status,
              count: st.count,
              ...(st.status === 429 || st.status === 418 ? { retryAfterSec: st.retryAfterSec } : {}),
            });
          }
          break;
        case 'outage': {
          if (!faultsApply) break;
          // every recovery path of the market answers `status` until `until` (fake time)
          outage.until = Date.now() + st.minutes * 60_000;
          outage.status = st.status;
          const paths = new Set((['trades', 'openOrders', 'account'] as RestPath[]).map((p) => restPathOf(fs.market, p)));
          const matcher = { test: (p: string) => Date.now() < outage.until && paths.has(p) } as unknown as RegExp;
          sim().failNext({ path: matcher, httpStatus: st.status, count: 1e9, ...(st.status === 418 ? { retryAfterSec: 600 } : {}) });
          trace.push(`  REST ${st.status} until +${st.minutes} min`);
          break;
        }
        case 'slowRest':
          if (faultsApply) sim().delayNext({ path: restPathOf(fs.market, st.path), ms: st.ms, count: st.count });
          break;
        case 'bogus': {
          const symbol = symAt(st.sym);
          const now = Date.now();
          const ev =
            fs.market === 'spot'
              ? { e: 'executionReport', E: now, s: symbol, c: 'bogus', S: 'BUY', o: 'LIMIT', q: '1', p: '10', x: 'TRADE', X: 'FILLED', i: 987654321, l: '1', z: '1', L: '10', n: '0', N: 'USDT', T: now, t: BOGUS_ID, m: false }
              : { e: 'ORDER_TRADE_UPDATE', E: now, T: now, o: { s: symbol, c: 'bogus', S: 'BUY', o: 'LIMIT', q: '1', p: '10', x: 'TRADE', X: 'FILLED', i: 987654321, l: '1', z: '1', L: '10', T: now, t: BOGUS_ID } };
          sim().injectEvent(acct(), fs.market, ev, { symbol });
          trace.push(`  live frame: ${symbol} fill with trade id 2^50`);
          break;
        }
        case 'deploy': {
          const tabs = st.kind === 'full' ? ([1, 2] as Array<1 | 2>) : tabsOf(st.tabs);
          for (const n of tabsOf(st.tabs)) {
            fs.rev[`ou${n}`]++;
            fs.rev[`slow${n}`]++;
          }
          await deploy(
            st.kind,
            false,
            `slow${tabs[0]}`,
            st.closeMs,
            () => {
              if (st.fills > 0) trade(symAt(st.sym), st.fills);
            },
            st.startMs,
          );
          break;
        }
        case 'deploys': {
          // Each deploy begins in the chain of promises that ends the previous one's start (as a
          // client deploying again the moment the admin API answers would), with no turn of the
          // event loop between: no pause. Fills when each one's slow node starts to close (or
          // right after its start when none closes).
          const tabs = tabsOf(st.tabs);
          let current = -1;
          let filledFor = -1;
          const fill = (k: number): void => {
            if (filledFor === k) return;
            filledFor = k;
            trade(symAt(st.sym), st.fills);
          };
          runtimeNodesControl.onClose = () => fill(current);
          let chain: Promise<void> = Promise.resolve();
          for (const [k, kind] of st.kinds.entries()) {
            chain = chain.then(async () => {
              current = k;
              for (const n of tabs) {
                fs.rev[`ou${n}`]++;
                fs.rev[`slow${n}`]++;
              }
              runtimeNodesControl.closeDelayMs.clear();
              runtimeNodesControl.closeDelayMs.set(kind === 'full' ? 'slow1' : `slow${tabs[0]}`, st.closeMs);
              await setFlows(flowOf(false), kind, { acct: credsOf(fs.key) });
              fill(k);
            });
          }
          deploying = true;
          const t0 = Date.now();
          try {
            await ticking(clock, chain, `deploys back to back (${st.kinds.join(', ')})`);
          } finally {
            runtimeNodesControl.onClose = undefined;
            deploying = false;
            quietSince = Date.now();
          }
          await settle(8);
          tap();
          trace.push(`  deployed back to back (${st.kinds.join(', ')}) in ${Date.now() - t0} ms of fake time`);
          break;
        }
        case 'settings': {
          let calm = true;
          switch (st.change) {
            case 'lookback':
              fs.lookbackH = [0.25, 0.5, 1, 24][st.value];
              break;
            case 'hold':
              fs.holdS = [0, 1, 5, 30][st.value];
              break;
            case 'symbols': {
              const next = SYMBOL_POOL.find((x) => !fs.listed.includes(x));
              if (next) fs.listed = [...fs.listed, next];
              break;
            }
            case 'store':
              // the account node's recovery store switched persist ↔ memory (the stream is adopted;
              // a store switched back holds the state of before: attack C3 on issue 21)
              fs.persist = !fs.persist;
              break;
            case 'recovery':
              // switching off: on a calm account (a gap's fills would be lost by design); a stalled
              // link is found within 8 s (half-open detection), so that long first
              if (fs.recovery) {
                await move(10_000, `before switching recovery off`);
                calm = await settleAll(`before switching recovery off`);
              }
              fs.recovery = !fs.recovery;
              break;
          }
          if (!calm) break;
          fs.rev.acct++;
          trace.push(`  account: recovery ${fs.recovery ? 'on' : 'off'}, look-back ${fs.lookbackH} h, hold ${fs.holdS} s, listed ${fs.listed.join(',')}`);
          await deploy(
            st.kind,
            false,
            'slow1',
            st.closeMs,
            () => {
              for (let k = 0; k < st.fills; k++) trade(symAt(k), 1);
            },
            st.startMs,
          );
          break;
        }
        case 'identity': {
          if (!(await settleAll(`before changing the ${st.change}`))) break;
          if (st.change === 'market') fs.market = fs.market === 'spot' ? 'usdm-futures' : 'spot';
          if (st.change === 'env') fs.env = 1 - fs.env;
          if (st.change === 'key') fs.key = 1 - fs.key;
          fs.rev.acct++;
          // a new key of the same account continues the account node's line with the symbols it
          // knew (docs/recovery.md "Redeploys"); another market or environment knows none
          if (st.change !== 'key') seen.clear();
          extra.length = 0;
          epochWritesAtFirstDelivery = undefined;
          trace.push(`  account: ${fs.market}, environment ${fs.env ? 'B' : 'A'}, key ${fs.key}`);
          // fills made while Node-RED closes the nodes (on the new identity's account and market):
          // what the user deployed is theirs from the moment they pressed Deploy (attack C1 on issue 21)
          // — with recovery on: a new identity opens a new stream, so they lie in its gap, which
          // recovery off gives up (documented; as fills made while Node-RED is stopped).
          const deployBegan = Date.now();
          const fillsDuring = fs.recovery ? (st.fills ?? 0) : 0;
          await deploy(st.kind, st.change === 'key', 'slow1', st.closeMs, () => {
            for (let k = 0; k < fillsDuring; k++) trade(symAt(k), 1);
          });
          // another key, market or environment (REST host; back to the one of the fill, as in
          // A → B → A) continues the node's line: a fill made within FIRST_START_MARGIN_MS before
          // may come once more, recovered (docs/recovery.md, documented duplicates)
          keyChanges.push(deployBegan);
          break;
        }
        case 'restart': {
          // a restart is a gap: on the memory store (nothing kept) and with recovery off (soak seed
          // 60004: a burst still arriving when the process stops is lost, as documented) the user
          // restarts a calm account
          if ((!fs.persist || !fs.recovery) && !(await settleAll(fs.persist ? 'before a restart with recovery off' : 'before a restart on the memory store'))) break;
          const catchingUp = CONSUMERS.some((c) => !status.get(c)!.green);
          const storeFaulty = fs.persist && (store.pending('write') || store.pending('read') || storeFaultedThisLife);
          if (storeFaulty || (catchingUp && TOLERATE_RECOVERING)) tolerantLives.add(life);
          storeFaultedThisLife = false;
          runtimeNodesControl.closeDelayMs.clear();
          runtimeNodesControl.closeDelayMs.set('slow2', st.closeMs);
          await stopProcess();
          const hasState = store.saved(RECOVERY_KEY) !== undefined;
          const wroteAfterFirst = epochWritesAtFirstDelivery !== undefined && store.writesOk > epochWritesAtFirstDelivery;
          const whileStopped = fs.persist && fs.recovery ? st.fillsWhileStopped : 0;
          const before = made.size;
          for (let k = 0; k < whileStopped; k++) trade(symAt(k), 1);
          if (!(hasState && wroteAfterFirst)) {
            // a first start (nothing written for this identity): fills made while stopped are not required
            for (const m of [...made.values()].slice(before)) m.required = false;
          }
          await move(2_000, where);
          if (!fs.persist) seen.clear();
          trace.push(`  restarted (life ${life + 1})${catchingUp ? ', was catching up' : ''}${storeFaulty ? ', store faults pending' : ''}${whileStopped ? `, ${whileStopped} fill(s) while stopped${hasState && wroteAfterFirst ? '' : ' (first start: not required)'}` : ''}`);
          await startProcess();
          break;
        }
        case 'store':
          if (fs.persist) store.add(st.op, { kind: st.kind, ms: st.ms, count: st.count });
          break;
        case 'wait':
          await move(st.ms, where);
          break;
      }
      if (violations.length) break;
      if ('dt' in st) await move(Math.max(STEP_MS, st.dt), where);
      else await move(STEP_MS, where);
      const faulted = store.calls.slice(callsTraced).filter((c) => c.outcome !== 'ok');
      callsTraced = store.calls.length;
      if (faulted.length) {
        storeFaultedThisLife = true;
        trace.push(`  store: ${faulted.map((c) => `${c.op} ${c.outcome}${c.ms !== undefined ? ` ${c.ms} ms` : ''}`).join(', ')}`);
      }
    }

    // R4: the faults stop, the nodes settle
    if (!violations.length) {
      trace.push('faults stop');
      await settleAll('the end of the schedule');
    }
    // R4: a restart from the persisted state, with fills made while Node-RED is stopped
    if (!violations.length && fs.persist && fs.recovery) {
      trace.push('final restart');
      for (const sym of traded()) trade(sym, 1);
      if (await settleAll('before the final restart')) {
        await move(6_000, 'before the final restart');
        if (storeFaultedThisLife) tolerantLives.add(life);
        await stopProcess();
        for (const sym of traded()) trade(sym, 1);
        await startProcess();
        await settleAll('after the final restart');
      }
    }

    for (const c of CONSUMERS) {
      const per = new Map<string, number>();
      for (const list of deliveries.get(c)!.values()) for (const d of list) per.set(`life ${d.life} ${d.recovered ? 'recovered' : 'live'}`, (per.get(`life ${d.life} ${d.recovered ? 'recovered' : 'live'}`) ?? 0) + 1);
      trace.push(`${c} got: ${[...per].map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing'} (exchange: ${made.size} fill(s))`);
    }
    // R1: every fill of the ledger exactly once at each order-update node; nothing else
    const ledger = new Set<string>();
    for (const [env, x] of sims.entries()) {
      for (const market of ['spot', 'usdm-futures'] as const) {
        for (const t of x.trades(accts[env], market)) ledger.add(fillKey(env, market, t.symbol, t.orderId, t.tradeId));
      }
    }
    for (const k of made.keys()) if (!ledger.has(k)) violations.push(`test bug: made ${k} is not in the ledger`);
    if (phantoms.length) violations.push(`R1: ${phantoms.length} delivered fill(s) the exchange never made (${phantoms.slice(0, 3).join('; ')})`);
    for (const c of CONSUMERS) {
      const lost: string[] = [];
      const twice: string[] = [];
      for (const key of ledger) {
        const got = deliveries.get(c)!.get(key) ?? [];
        if (got.length === 0) {
          if (made.get(key)?.required) lost.push(key);
          continue;
        }
        const lives = got.map((d) => d.life);
        const perLife = new Map<number, number>();
        for (const l of lives) perLife.set(l, (perLife.get(l) ?? 0) + 1);
        const madeAt = made.get(key)?.at;
        // each identity change right after the fill may repeat it once (documented; soak seed
        // 74005: two key changes 0.5 s apart after a fill, each new stream recovered it once)
        const near = madeAt === undefined ? [] : keyChanges.filter((k) => madeAt <= k && madeAt >= k - FIRST_START_MARGIN_MS - STEP_MS);
        // (the first delivery may itself come after the change: the replaced stream's start-up
        // recovery delivered it during the deploy's stop phase — CI seed 21)
        const atKeyChange = near.length > 0 && got.length >= 2 && got.length <= 1 + near.length && got.slice(1).every((d) => d.at >= near[0]);
        if (atKeyChange) continue;
        if ([...perLife.values()].some((n) => n > 1)) {
          twice.push(`${key} ×${got.length} (${got.map((d) => `${d.recovered ? 'recovered' : 'live'}@life${d.life}`).join(', ')})`);
          continue;
        }
        const first = Math.min(...lives);
        const ok = [...perLife.keys()].filter((l) => l !== first).every((l) => [...Array(l - first).keys()].some((d) => tolerantLives.has(first + d)));
        if (!ok) twice.push(`${key} again after a restart (lives ${lives.join(', ')})`);
      }
      if (lost.length) violations.push(`R1 (lost): ${lost.length} fill(s) never reached ${c} (${lost.slice(0, 4).join(', ')}${lost.length > 4 ? ', …' : ''}); status ${status.get(c)!.text}`);
      if (twice.length) violations.push(`R1 (twice): ${twice.length} fill(s) reached ${c} more than once (${twice.slice(0, 3).join('; ')}${twice.length > 3 ? '; …' : ''})`);
    }
    return { violations, trace };
  } finally {
    try {
      onSent = undefined;
      if (followingEnv) helper._events.removeListener('flows:started', followingEnv);
      followingEnv = undefined;
      clearSinks();
      onStatus = undefined;
      runtimeNodesControl.onClose = undefined;
      runtimeNodesControl.closeDelayMs.clear();
      store.clear();
      if (loaded) await ticking(clock, helper.unload(), 'helper.unload').catch(() => undefined);
      await ticking(clock, endAllGraces(), 'endAllGraces').catch(() => undefined);
      await ticking(clock, stopAllSharedManagers(), 'stopAllSharedManagers').catch(() => undefined);
      for (const x of sims) await x.stop();
    } finally {
      clock.uninstall();
    }
    if (process.env.RUNTIME_DEBUG === 'all') console.log(trace.join('\n'));
    if ((violations.length && process.env.RUNTIME_DEBUG) || process.env.RUNTIME_DEBUG === 'all') {
      const lines = capturedLogs.slice(logStart).map((m) => `${m.level} ${m.type ?? ''}:${m.id ?? ''} ${typeof m.msg === 'string' ? m.msg : JSON.stringify(m.msg)}`);
      console.log(lines.filter((l) => !l.startsWith('60 ') && !l.startsWith('99 ')).slice(-120).join('\n'));
    }
    // the schedule's messages, logs and statuses are scanned for secrets now and let go
    for (const leak of releaseCaptured()) violations.push(`secret leaked: ${leak}`);
  }
}

describe('issue 21 runtime properties: generated schedules through Node-RED deploys, restarts, stores and settings (fast-check, simulator, fake timers)', function () {
  this.timeout(Number(process.env.RUNTIME_TIMEOUT_MS ?? 60 * 60_000));
  const storeRef: { current: PersistentStore } = { current: new PersistentStore() };
  let undoStore: (() => void) | undefined;

  const statusListener = (ev: StatusEvent): void => onStatus?.(ev);
  before(async function () {
    await startRed();
    // what an order-update node sent, as the flow receives it (after Node-RED's asynchronous routing)
    runtimeNodesControl.onReceive = (sink, msg) => {
      const c = CONSUMER_OF_SINK[sink];
      if (c) onSent?.(c, msg);
    };
    undoStore = usePersistentStore(() => storeRef.current);
    helper._events.on('node-status', statusListener);
  });
  after(async function () {
    runtimeNodesControl.onReceive = undefined;
    helper._events.removeListener('node-status', statusListener);
    undoStore?.();
    await helper.stopServer();
  });

  /** Runs one schedule; throws the violations with the schedule and its trace. */
  const runOne = async (sch: Schedule): Promise<void> => {
    const r = await runSchedule(sch, storeRef).catch((err: unknown) => {
      if (process.env.RUNTIME_DEBUG) console.log(err);
      throw err;
    });
    if (r.violations.length) {
      throw new Error(
        `${r.violations.join('\n  ')}\n  schedule: ${sch.market}, ${sch.store} store, ${sch.symbols} symbol(s), look-back ${sch.lookbackH} h: ${sch.steps.map(show).join(' → ')}` +
          `\n  trace:\n    ${r.trace.slice(-40).join('\n    ')}`,
      );
    }
  };

  // RUNTIME_SCHEDULE='<a printed counterexample>' runs that one schedule (no generation)
  const given = process.env.RUNTIME_SCHEDULE;
  if (given) {
    it(`runtime properties: the given schedule (RUNTIME_SCHEDULE)`, async function () {
      const parsed = JSON.parse(given.replace(/__proto__:null,?/g, '')) as Schedule | [Schedule];
      await runOne(Array.isArray(parsed) ? parsed[0] : parsed);
    });
    return;
  }

  // counterexamples the soaks found, each once a defect (the commit that fixed it names the seed)
  const FOUND: Array<[string, string]> = [
    [
      'seed 4711: a key change, then a restart: no fill from before the line of streams began',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"orders","sym":0,"fills":1,"dt":1001},{"t":"deploy","kind":"full","tabs":1,"closeMs":0,"fills":0,"sym":0},{"t":"identity","change":"key","kind":"full","closeMs":0},{"t":"restart","fillsWhileStopped":0,"closeMs":0},{"t":"rest","status":500,"retryAfterSec":1,"count":1,"path":"trades","dt":0}]}',
    ],
    [
      'seed 31337: a slow state read at a restart, then a live fill: the fill made while stopped is recovered',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"settings","change":"lookback","value":0,"kind":"full","closeMs":0,"fills":1},{"t":"store","op":"read","kind":"slow","ms":6001,"count":3},{"t":"restart","fillsWhileStopped":1,"closeMs":3000},{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"wait","ms":600001},{"t":"orders","sym":0,"fills":1,"dt":0}]}',
    ],
    [
      'seed 20261207: a write that never answers, then a restart: the state written after it was saved',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"store","op":"write","kind":"hang","ms":100,"count":1},{"t":"orders","sym":0,"fills":1,"dt":0}]}',
    ],
    [
      'seed 20261207: a key change and drops: the fill made before the change does not come again below a time cursor',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"drop","dt":0},{"t":"identity","change":"key","kind":"full","closeMs":0},{"t":"drop","dt":0},{"t":"wait","ms":1000},{"t":"drop","dt":0},{"t":"manySymbols","count":5}]}',
    ],
    [
      'seed 777: a write that never answers, then a key change: the new stream reads the store in time (no fallback to the look-back)',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"store","op":"write","kind":"hang","ms":100,"count":1},{"t":"bogus","sym":0,"dt":0},{"t":"identity","change":"key","kind":"full","closeMs":3000},{"t":"orders","sym":0,"fills":1,"dt":0}]}',
    ],
    [
      'seed 4242: REST down across two restarts, live fills between: the fill of a listed symbol without a cursor made before the first is recovered',
      '{"market":"spot","store":"persist","symbols":2,"lookbackH":24,"steps":[{"t":"deploy","kind":"full","tabs":1,"closeMs":0,"fills":1,"sym":0},{"t":"outage","status":503,"minutes":31},{"t":"restart","fillsWhileStopped":2,"closeMs":0},{"t":"orders","sym":0,"fills":1,"dt":2501},{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"restart","fillsWhileStopped":0,"closeMs":0}]}',
    ],
    [
      'seed 5003: a write slower than its deadline lands after the next one: the latest state is written again (the symbols seen stay saved)',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"store","op":"write","kind":"slow","ms":10001,"count":1},{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"manySymbols","count":5},{"t":"store","op":"read","kind":"slow","ms":100,"count":1}]}',
    ],
    [
      'seed 6000: REST down longer than the look-back after a stall: the fill of a symbol without a cursor made in the stall is recovered (the query\'s start is kept as its time cursor)',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":1,"steps":[{"t":"stall","dt":0},{"t":"deploy","kind":"full","tabs":1,"closeMs":0,"fills":1,"sym":0},{"t":"outage","status":503,"minutes":56},{"t":"wait","ms":3585501},{"t":"restart","fillsWhileStopped":0,"closeMs":11000}]}',
    ],
    [
      'seed 21 (deploys back to back, attack C4): two full deploys with no pause between, a fill during the first: it reaches both order-update nodes (it left at the first one\'s flows:started, still on its way when the second closed the sinks)',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"deploys","kinds":["full","full"],"tabs":1,"closeMs":0,"fills":1,"sym":0}]}',
    ],
    [
      'attack C1 on issue 21 (found again by the identity deploy with fills): a market change in a full deploy, a listed fill of the new market made during the deploy is recovered',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"identity","change":"market","kind":"full","closeMs":0,"fills":1},{"t":"orders","sym":0,"fills":1,"dt":3500},{"t":"drop","dt":0}]}',
    ],
    [
      'attack C1 on issue 21: a key change in a full deploy with an 11 s close, fills during the deploy: each once',
      '{"market":"spot","store":"persist","symbols":2,"lookbackH":24,"steps":[{"t":"orders","sym":0,"fills":1,"dt":3000},{"t":"orders","sym":1,"fills":1,"dt":3000},{"t":"identity","change":"key","kind":"full","closeMs":11000,"fills":2},{"t":"orders","sym":0,"fills":1,"dt":3000}]}',
    ],
    [
      'attack C3 on issue 21: store persist → memory, fills, a restart, back to persist, a drop: the stale persisted cursors bring nothing back',
      '{"market":"spot","store":"persist","symbols":2,"lookbackH":24,"steps":[{"t":"orders","sym":0,"fills":1,"dt":1000},{"t":"orders","sym":1,"fills":1,"dt":3000},{"t":"settings","change":"store","value":0,"kind":"full","closeMs":0,"fills":0},{"t":"orders","sym":1,"fills":2,"dt":3000},{"t":"restart","fillsWhileStopped":0,"closeMs":0},{"t":"orders","sym":0,"fills":1,"dt":3000},{"t":"settings","change":"store","value":0,"kind":"full","closeMs":0,"fills":0},{"t":"drop","dt":3000},{"t":"orders","sym":0,"fills":1,"dt":3000}]}',
    ],
    [
      'seed 30108 (soak): a restart while a burst of 2 001 fills is still leaving: what Node-RED still had on its way to the closing sinks arrives once (handed over before the close), nothing lost after the restart',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"burst","sym":0,"fills":2001},{"t":"restart","fillsWhileStopped":0,"closeMs":3000}]}',
    ],
    [
      'seed 46001 (big soak): two hung writes and two restarts: the first life\'s node, still retrying its final write, writes nothing into a later life (a dead process cannot), the next start does not repeat fills',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"drop","dt":0},{"t":"store","op":"write","kind":"hang","ms":100,"count":2},{"t":"restart","fillsWhileStopped":0,"closeMs":0},{"t":"restart","fillsWhileStopped":1,"closeMs":0}]}',
    ],
    [
      'seed 36005 (soak): a full deploy lists a second symbol while a half-open link hides its fill and the watchdog\'s recovery, planned with the old list, is running: the new symbol is queried by the next recovery from the gap\'s start',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"stall","dt":3000},{"t":"settings","change":"symbols","value":0,"kind":"full","closeMs":2001,"fills":2,"startMs":500}]}',
    ],
    [
      'seed 68001 (soak): a spot node\'s writes hang, a deploy switches the account to USDⓈ-M: the replaced node\'s final write, made once more after its deadline, does not put the spot state back over the USDⓈ-M one (the fill made while Node-RED was stopped was lost)',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"store","op":"write","kind":"hang","ms":100,"count":2},{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"deploys","kinds":["full","full"],"tabs":1,"closeMs":0,"fills":1,"sym":0},{"t":"identity","change":"market","kind":"full","closeMs":0,"fills":1}]}',
    ],
    [
      'seed 140000 (soak): the saved-state read is slow and a restart begins before it ends, with symbols first seen meanwhile: the last write waits for the read, so those symbols are saved and a fill of one made while stopped is recovered at the next start',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"store","op":"read","kind":"slow","ms":1001,"count":1},{"t":"orders","sym":0,"fills":1,"dt":0},{"t":"restart","fillsWhileStopped":0,"closeMs":0},{"t":"manySymbols","count":5},{"t":"restart","fillsWhileStopped":2,"closeMs":3000},{"t":"wait","ms":600000}]}',
    ],
    [
      'seed 7215: the first write is slower than its deadline and is the final one of a restart: it is made once more, the fills of the reconnect found during the stop are recovered after it',
      '{"market":"spot","store":"persist","symbols":1,"lookbackH":24,"steps":[{"t":"store","op":"write","kind":"slow","ms":10001,"count":1},{"t":"drop","dt":0},{"t":"burst","sym":0,"fills":20},{"t":"restart","fillsWhileStopped":0,"closeMs":0}]}',
    ],
    [
      'seed 7205: recovery switched off by a deploy whose start phase outlasts the 10 s grace: the fills made during it are kept and delivered (the grace waits for the start)',
      '{"market":"spot","store":"memory","symbols":2,"lookbackH":24,"steps":[{"t":"settings","change":"recovery","value":1,"kind":"flows","closeMs":0,"fills":2,"startMs":10001},{"t":"outage","status":503,"minutes":118},{"t":"burst","sym":2,"fills":2411},{"t":"deploy","kind":"flows","tabs":3,"closeMs":14560,"fills":1,"sym":5},{"t":"wait","ms":5499560}]}',
    ],
  ];
  for (const [what, json] of FOUND) {
    it(`runtime properties, found by a soak: ${what}`, async function () {
      await runOne(JSON.parse(json) as Schedule);
    });
  }

  it(`runtime properties: ${RUNS} schedules from seed ${SEED}: every fill once at every order-update node (R1), promptly (R2), a truthful status (R3), settled and restartable (R4)`, async function () {
    let ran = 0;
    const property = fc.asyncProperty(schedule, async (sch) => {
      ran++;
      // RUNTIME_PROGRESS=1: one line per schedule (its number, the heap in use, the schedule) on stderr
      if (process.env.RUNTIME_PROGRESS && typeof global.gc === 'function') global.gc();
      if (process.env.RUNTIME_HEAPSNAP === String(ran)) v8.writeHeapSnapshot(`runtime-${ran}.heapsnapshot`);
      if (process.env.RUNTIME_PROGRESS) process.stderr.write(`run ${ran} heap ${Math.round(process.memoryUsage().heapUsed / 1e6)} MB ${JSON.stringify(sch)}\n`);
      await runOne(sch);
    });
    try {
      await fc.assert(property, { numRuns: RUNS, seed: SEED, ...(PATH ? { path: PATH } : {}), verbose: 0, includeErrorInReport: true });
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n(${ran} schedule(s) run, shrinking included)`, { cause: err });
    }
    assert.ok(ran >= RUNS, `ran ${ran} schedules`);
  });
});
