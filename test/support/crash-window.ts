/**
 * The crash window, measured with real Node-RED processes (issue 21): how many fills a kill -9 of
 * Node-RED makes the flow receive twice, and whether any is lost, for a given context store.
 *
 * One user directory, one flow: binance-account (recoveryStore = the store under test) →
 * binance-order-update → test-recorder (appends each message it gets to a file, synchronously, so
 * what the flow received survives the kill), and binance-stream-status → another recorder. The
 * simulator runs in this process; fills are made continuously (one order with one fill every
 * `fillEveryMs`, alternating symbols and sides), whether Node-RED runs or not. The runtime is
 * killed with SIGKILL at a random time after each start, stays down a random time, and is started
 * again on the same user directory; `kills` times. Then the fills stop, and the last run is given
 * time to deliver everything.
 *
 * The verdict comes from the exchange's ledger (`sim.trades`), not from the implementation:
 *  - lost: fills of the ledger the flow never received;
 *  - repeated, per kill k: fills received in run k that a run before it had already received;
 *  - repeated within a run (no kill in between): fills a run received twice (a defect of its own).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BinanceSimulator } from '../../simulator/index';
import { readRecorded, recorderNode, RedProcess, type FlowNode } from './red-process';
import { prng } from './prng';

/** A context store as users configure it, and the account's `recoveryStore` naming it. */
export interface StoreCase {
  /** Short name for tables. */
  name: string;
  /** settings.js `contextStorage`. */
  contextStorage: Record<string, unknown>;
  /** The account node's `recoveryStore` ('' = the default store). */
  recoveryStore: string;
  /** Whether the store keeps the state across a restart of Node-RED. */
  persistent: boolean;
}

/** The context stores users run. */
export const STORE_CASES = {
  /** Node-RED's default: no contextStorage at all (memory). */
  memory: { name: 'memory (default)', contextStorage: { default: { module: 'memory' } }, recoveryStore: '', persistent: false },
  /** localfilesystem as documented: cache on, flushed every 30 s. */
  file: {
    name: 'localfilesystem (cache, flush 30 s)',
    contextStorage: { default: { module: 'memory' }, file: { module: 'localfilesystem' } },
    recoveryStore: 'file',
    persistent: true,
  },
  /** localfilesystem with a short flush interval. */
  'file-flush1': {
    name: 'localfilesystem (cache, flush 1 s)',
    contextStorage: { default: { module: 'memory' }, file: { module: 'localfilesystem', config: { flushInterval: 1 } } },
    recoveryStore: 'file',
    persistent: true,
  },
  /** localfilesystem without cache: every set is written to the file (atomically). */
  'file-nocache': {
    name: 'localfilesystem (cache: false)',
    contextStorage: { default: { module: 'memory' }, file: { module: 'localfilesystem', config: { cache: false } } },
    recoveryStore: 'file',
    persistent: true,
  },
} satisfies Record<string, StoreCase>;

export type StoreCaseName = keyof typeof STORE_CASES;

export interface CrashWindowOptions {
  store: StoreCase;
  kills: number;
  /** How long each run lives before its kill, drawn uniformly (ms after the runtime is ready). */
  upMs: [number, number];
  /** How long Node-RED stays down after a kill, drawn uniformly (ms). */
  downMs: [number, number];
  /** One fill every this many ms (default 50). */
  fillEveryMs?: number;
  /** The first run lives at least this long (e.g. longer than the store's flush interval). Default upMs[0]. */
  firstUpMs?: number;
  /** After the fills stop: the last run is given until nothing new has arrived for this long (default 10 s). */
  quietMs?: number;
  /** Seed of the random kill times (default: random). */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Keep the user directory (flows, context, recorded files, node-red.log) when fills were lost, for a look. */
  keepOnLoss?: boolean;
}

export interface KillRecord {
  /** How long the run lived before the kill (ms after ready). */
  upMs: number;
  /** How long Node-RED was down (ms). */
  downMs: number;
  /** Fills the killed run had received. */
  receivedBefore: number;
  /** Fills the next run received that an earlier run had already received. */
  repeated: number;
  /** How far back before the kill those had first been received (ms): the deliveries of that span came twice. */
  repeatedSpanMs: number;
  /** Whether the next run did a start-up recovery (false: it started as a first start). */
  startupRecovery: boolean;
  /** When it was killed, and when the next run's stream first reported `connected` (epoch ms). */
  killedAt: number;
  connectedAt?: number;
  /** Ledger fills made from the kill until the next run was connected. */
  madeWhileDown: number;
  /** Lost fills made from 1 s before the kill until the next run was connected. */
  lost: number;
}

export interface CrashWindowResult {
  store: string;
  seed: number;
  kills: KillRecord[];
  /** Fills in the exchange's ledger. */
  fills: number;
  /** Fill messages the flow received (repeats included). */
  received: number;
  /** Ledger fills never received (symbol/tradeId/side). */
  lost: string[];
  /** Lost fills made outside every kill's window (from 1 s before it until connected again). */
  lostOutsideKills: number;
  /** Received fills that are not in the ledger (must be none). */
  unknown: string[];
  repeated: number;
  repeatedMax: number;
  repeatedMean: number;
  /** Fills a run received twice with no kill in between (must be 0). */
  repeatedWithinRun: number;
  /** Milliseconds the whole measurement took. */
  ms: number;
  /** The user directory, when kept (`keepOnLoss`). */
  keptDir?: string;
}

export interface Recorded {
  at?: number;
  topic?: string;
  recovered?: boolean;
  payload?: Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function fillKey(p: Record<string, unknown>): string {
  return `${String(p.symbol)}/${String(p.tradeId)}/${String(p.side)}`;
}

export function isFill(r: Recorded): r is Recorded & { payload: Record<string, unknown> } {
  return !!r.payload && r.payload.executionType === 'TRADE' && r.payload.tradeId !== undefined;
}

/**
 * The measured flow: a spot account on `urls` (recoveryStore as given) → binance-order-update →
 * a recorder appending to `fillsFile`, and binance-stream-status → a recorder appending to `statusFile`.
 */
export function recordedFlow(o: { urls: { restUrl: string; wsUrl: string }; apiKey: string; apiSecret: string; recoveryStore: string; fillsFile: string; statusFile: string }): FlowNode[] {
  const tab = 'crash-tab';
  return [
    { id: tab, type: 'tab', label: 'crash window', disabled: false, info: '' },
    {
      id: 'acct',
      type: 'binance-account',
      name: 'crash account',
      market: 'spot',
      symbol: '',
      environment: 'custom',
      restUrl: o.urls.restUrl,
      wsUrl: o.urls.wsUrl,
      keyType: 'hmac',
      recvWindow: '',
      keepaliveInterval: '',
      recovery: true,
      recoverySymbols: '',
      recoveryLookback: '',
      recoveryStore: o.recoveryStore,
      credentials: { apiKey: o.apiKey, apiSecret: o.apiSecret },
    },
    {
      id: 'ou',
      type: 'binance-order-update',
      z: tab,
      name: '',
      account: 'acct',
      symbols: '',
      sides: '',
      executionTypes: '',
      orderStatuses: '',
      includeListStatus: false,
      includeAlgoUpdates: false,
      includeTradeLite: false,
      wires: [['rec-fills']],
    },
    { id: 'ss', type: 'binance-stream-status', z: tab, name: '', account: 'acct', isoTimes: true, wires: [['rec-status']] },
    recorderNode('rec-fills', tab, o.fillsFile),
    recorderNode('rec-status', tab, o.statusFile),
  ];
}

/** Runs one measurement; the simulator is the caller's (started, and stopped by the caller). */
export async function measureCrashWindow(sim: BinanceSimulator, o: CrashWindowOptions): Promise<CrashWindowResult> {
  const started = Date.now();
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = prng(seed);
  const between = ([lo, hi]: [number, number]): number => Math.round(lo + (hi - lo) * rand());
  const log = o.log ?? ((): void => undefined);

  const { id: accountId } = sim.createAccount({ balances: { USDT: '10000000', BTC: '1000', ETH: '10000', BNB: '5' } });
  const key = sim.createKey(accountId, 'hmac');
  const urls = sim.urlsFor('spot');

  const rp = await RedProcess.create({
    prefix: 'binance-crash-',
    settings: { contextStorage: o.store.contextStorage },
    recorder: true,
  });
  const fillsFile = path.join(rp.userDir, 'fills.jsonl');
  const statusFile = path.join(rp.userDir, 'status.jsonl');

  const flow = recordedFlow({ urls, apiKey: key.apiKey, apiSecret: key.apiSecret ?? '', recoveryStore: o.store.recoveryStore, fillsFile, statusFile });

  // Fills, continuously from the first connection on, whatever Node-RED is doing.
  const symbols = ['BTCUSDT', 'ETHUSDT'];
  let n = 0;
  let producerError: unknown;
  let producer: ReturnType<typeof setInterval> | undefined;
  const produce = (): void => {
    try {
      const symbol = symbols[n % symbols.length];
      const side = Math.floor(n / symbols.length) % 2 === 0 ? 'BUY' : 'SELL';
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol, side, quantity: '0.001', price: '100', fills: ['0.001'] });
      n++;
    } catch (e) {
      producerError = e;
    }
  };

  const kills: KillRecord[] = [];
  /** Index in the fills file where each run starts. */
  const runStarts: number[] = [];
  const statusStarts: number[] = [];
  let keep = false;
  const records = (): Recorded[] => readRecorded<Recorded>(fillsFile);
  const statuses = (): Recorded[] => readRecorded<Recorded>(statusFile);
  try {
    runStarts.push(0);
    statusStarts.push(0);
    await rp.restart();
    await rp.deploy(flow);
    // The first start recovers nothing from before it (docs/recovery.md): fills start once it is connected.
    await until(() => statuses().some((s) => s.topic === 'state' && s.payload?.state === 'connected'), 30_000, 'the first connection');
    producer = setInterval(produce, o.fillEveryMs ?? 50);
    for (let k = 0; k < o.kills; k++) {
      const up = k === 0 ? Math.max(o.firstUpMs ?? 0, between(o.upMs)) : between(o.upMs);
      await sleep(up);
      await rp.kill();
      const before = records().length;
      const fillsBefore = records().slice(runStarts[runStarts.length - 1]).filter(isFill).length;
      const down = between(o.downMs);
      kills.push({ upMs: up, downMs: down, receivedBefore: fillsBefore, repeated: 0, repeatedSpanMs: 0, startupRecovery: false, killedAt: Date.now(), madeWhileDown: 0, lost: 0 });
      log(`  kill ${k + 1}/${o.kills} after ${up} ms up (${fillsBefore} fills this run); down ${down} ms`);
      await sleep(down);
      runStarts.push(before);
      statusStarts.push(statuses().length);
      await rp.restart();
    }
    clearInterval(producer);
    if (producerError) throw producerError;

    // The last run: until every ledger fill arrived, or nothing new came for quietMs.
    const trades = sim.trades(accountId, 'spot');
    const ledger = new Set(trades.map((t) => `${t.symbol}/${t.tradeId}/${t.side}`));
    const quietMs = o.quietMs ?? 10_000;
    let seen = -1;
    let lastChange = Date.now();
    for (;;) {
      const got = new Set(records().filter(isFill).map((r) => fillKey(r.payload)));
      if ([...ledger].every((k) => got.has(k))) break;
      if (got.size !== seen) {
        seen = got.size;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > quietMs) break;
      await sleep(100);
    }
    await rp.stop();
    fs.writeFileSync(path.join(rp.userDir, 'node-red.log'), rp.output);

    // The verdict.
    const all = records();
    const st = statuses();
    /** When each fill was first received. */
    const seenBefore = new Map<string, number>();
    let repeatedWithinRun = 0;
    const received: string[] = [];
    for (let r = 0; r < runStarts.length; r++) {
      const seg = all.slice(runStarts[r], r + 1 < runStarts.length ? runStarts[r + 1] : all.length).filter(isFill);
      const inRun = new Map<string, number>();
      let repeated = 0;
      let oldest: number | undefined;
      for (const x of seg) {
        const key = fillKey(x.payload);
        const first = seenBefore.get(key);
        if (inRun.has(key)) repeatedWithinRun++;
        else if (first !== undefined) {
          repeated++;
          oldest = Math.min(oldest ?? first, first);
        }
        if (!inRun.has(key)) inRun.set(key, x.at ?? 0);
        received.push(key);
      }
      if (r > 0) {
        kills[r - 1].repeated = repeated;
        kills[r - 1].repeatedSpanMs = oldest === undefined ? 0 : Math.max(0, kills[r - 1].killedAt - oldest);
        const sSeg = st.slice(statusStarts[r], r + 1 < statusStarts.length ? statusStarts[r + 1] : st.length);
        kills[r - 1].startupRecovery = sSeg.some((s) => s.topic === 'recovery' && ['startup', 'restart'].includes(String((s.payload?.gap as Record<string, unknown> | undefined)?.reason)));
        kills[r - 1].connectedAt = sSeg.find((s) => s.topic === 'state' && s.payload?.state === 'connected')?.at;
      }
      for (const [key, at] of inRun) if (!seenBefore.has(key)) seenBefore.set(key, at);
    }
    const lost = [...ledger].filter((k) => !seenBefore.has(k));
    keep = !!o.keepOnLoss && lost.length > 0;
    const lostSet = new Set(lost);
    let lostOutsideKills = 0;
    for (const t of trades) {
      const key = `${t.symbol}/${t.tradeId}/${t.side}`;
      const inWindow = (k: KillRecord, from: number): boolean => t.time >= from && t.time <= (k.connectedAt ?? Infinity);
      for (const k of kills) if (inWindow(k, k.killedAt)) k.madeWhileDown++;
      if (!lostSet.has(key)) continue;
      const k = kills.find((x) => inWindow(x, x.killedAt - 1000));
      if (k) k.lost++;
      else lostOutsideKills++;
    }
    const unknown = [...seenBefore.keys()].filter((k) => !ledger.has(k));
    const per = kills.map((k) => k.repeated);
    const repeated = per.reduce((a, b) => a + b, 0);
    return {
      store: o.store.name,
      seed,
      kills,
      fills: ledger.size,
      received: received.length,
      lost,
      lostOutsideKills,
      unknown,
      repeated,
      repeatedMax: per.length ? Math.max(...per) : 0,
      repeatedMean: per.length ? repeated / per.length : 0,
      repeatedWithinRun,
      ms: Date.now() - started,
      keptDir: keep ? rp.userDir : undefined,
    };
  } catch (e) {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- Node-RED output ---\n${rp.output.slice(-4000)}`, { cause: e });
  } finally {
    clearInterval(producer);
    if (keep) await rp.stop();
    else await rp.dispose();
  }
}
