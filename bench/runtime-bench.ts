/**
 * Scenario 3a (deploy/redeploy cycles) and scenario 4 (many accounts in one runtime), both in an
 * embedded Node-RED runtime against the simulator process.
 */
import * as v8 from 'node:v8';
import { activeResources, countResources, delay, round, settledHeap, slope, type BenchOptions } from './common';
import { accountNode, EmbeddedRed, orderUpdateNode, sinkNode, TAB, type FlowNode } from './red-runtime';
import { SimProcess } from './sim-client';
import type { SimAccount, SimInfo } from './sim-child';

const MB = 2 ** 20;

/** Handles that belong to the measuring harness itself, not to the code under test. */
const HARNESS_HANDLES = ['PipeWrap', 'ProcessWrap', 'TTYWrap', 'FSReqCallback'];

export type RedeployFlow = 'ours' | 'control';

/** V8 flags of the attribution run: no optimising or baseline compiler (bytecode interpreter only). */
export const NO_JIT_FLAGS = ['--no-opt', '--no-sparkplug', '--no-maglev'];

export interface RedeployResult {
  /** 'ours': account + 4 of our nodes; 'control': the same number of plain nodes (Node-RED only). */
  flow: RedeployFlow;
  /** False in the attribution run with V8's compilers off (NO_JIT_FLAGS): no compiled code to grow. */
  jit: boolean;
  cycles: number;
  trendCycles: number;
  nodes: string[];
  /** Heap after GC (MB), V8 code space (MB) and handles at the samples, and the cycle of each sample. */
  samples: Array<{ cycle: number; heapMb: number; codeSpaceMb: number; handles: number }>;
  heapStartMb: number;
  /** Heap after `cycles` deploys (the figure of issue 7). */
  heapEndMb: number;
  heapGrowthMb: number;
  /** Least-squares slope over the samples of the first `cycles` deploys, bytes per cycle. */
  slopeBytesPerCycle: number;
  /** Heap after `cycles + trendCycles` deploys. */
  heapTrendEndMb: number;
  /** Least-squares slope over the samples from cycle `cycles` to the end, bytes per cycle. */
  trendSlopeBytesPerCycle: number;
  handlesStart: Record<string, number>;
  handlesEnd: Record<string, number>;
  simConnectionsAtEnd: number;
  msPerCycle: number;
}

function fourNodeFlow(info: SimInfo, acct: SimAccount, variant: number): FlowNode[] {
  return [
    TAB,
    { ...accountNode('acct', `bench account ${variant % 2}`, info.restUrl, info.wsApiUrl), credentials: { apiKey: acct.apiKey, apiSecret: acct.apiSecret } },
    orderUpdateNode('ou', 'acct', ['sink']),
    { id: 'ap', type: 'binance-account-position', z: TAB.id, name: '', account: 'acct', output: 'events', assets: '', hideZero: false, numbers: false, showLastEvent: false, wires: [['sink']] },
    { id: 'bu', type: 'binance-balance-update', z: TAB.id, name: '', account: 'acct', assets: '', numbers: false, showLastEvent: false, wires: [['sink']] },
    { id: 'ss', type: 'binance-stream-status', z: TAB.id, name: '', account: 'acct', wires: [['sink']] },
    sinkNode('sink'),
  ];
}

/** The control: as many nodes, none of ours (what Node-RED's own deploy costs). */
function controlFlow(variant: number): FlowNode[] {
  return [TAB, ...['acct', 'ou', 'ap', 'bu', 'ss'].map((id) => ({ ...sinkNode(id), name: `control ${variant % 2}` })), sinkNode('sink')];
}

function codeSpaceBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'code_space')?.space_used_size ?? 0;
}

async function waitConnected(red: EmbeddedRed, ids: string[], timeoutMs: number): Promise<void> {
  const start = Date.now();
  for (;;) {
    const pending = ids.filter((id) => red.streamState(id) !== 'connected');
    if (pending.length === 0) return;
    if (Date.now() - start > timeoutMs) throw new Error(`${pending.length} account(s) not connected (e.g. ${red.streamState(pending[0])})`);
    await delay(5);
  }
}

/**
 * `cycles + trendCycles` full deploys after a short warm-up, sampling the heap after GC every
 * 100 cycles (or a tenth of `cycles`, when smaller).
 */
export async function runRedeploy(opts: BenchOptions, log: (s: string) => void, flow: RedeployFlow = 'ours'): Promise<RedeployResult> {
  const sim = await SimProcess.start();
  const red = await EmbeddedRed.start();
  red.sink = () => undefined;
  try {
    const [acct] = await sim.setup(1);
    const warm = Math.min(20, opts.cycles);
    let cycle = 0;
    const deployOnce = async (): Promise<void> => {
      // 'full': every node is stopped and started again, the account's stream is closed and reopened.
      if (flow === 'ours') {
        await red.deploy(fourNodeFlow(sim.info, acct, cycle), {}, 'full');
        await waitConnected(red, ['acct'], 15_000);
      } else {
        await red.deploy(controlFlow(cycle), {}, 'full');
      }
      cycle += 1;
    };
    for (let i = 0; i < warm; i++) await deployOnce();
    const every = Math.max(1, Math.min(100, Math.floor(opts.cycles / 10)));
    const samples: RedeployResult['samples'] = [];
    const sample = async (): Promise<void> => {
      const heap = await settledHeap();
      samples.push({ cycle: cycle - warm, heapMb: round(heap / MB, 3), codeSpaceMb: round(codeSpaceBytes() / MB, 3), handles: countResources(activeResources(), HARNESS_HANDLES) });
    };
    await sample();
    const handlesStart = activeResources();
    const t0 = Date.now();
    const total = opts.cycles + opts.trendCycles;
    for (let i = 1; i <= total; i++) {
      await deployOnce();
      if (i % every === 0 || i === opts.cycles || i === total) {
        await sample();
        if (i % (every * 5) === 0 || i === total) log(`  ${flow} redeploy ${i}/${total}: heap ${samples[samples.length - 1].heapMb} MB, handles ${samples[samples.length - 1].handles}`);
      }
    }
    const msPerCycle = (Date.now() - t0) / total;
    await delay(200);
    const handlesEnd = activeResources();
    const conns = await sim.request<{ open: number }>({ cmd: 'connections' });
    const first = samples[0].heapMb;
    const atCycles = samples.find((s) => s.cycle === opts.cycles) ?? samples[samples.length - 1];
    const last = samples[samples.length - 1];
    const fit = (from: number, to: number): number => {
      const sel = samples.filter((s) => s.cycle >= from && s.cycle <= to);
      return Math.round(
        slope(
          sel.map((s) => s.cycle),
          sel.map((s) => s.heapMb * MB),
        ),
      );
    };
    return {
      flow,
      jit: !NO_JIT_FLAGS.every((f) => process.execArgv.includes(f)),
      cycles: opts.cycles,
      trendCycles: opts.trendCycles,
      nodes: flow === 'ours' ? ['binance-account', 'binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-stream-status'] : ['6 x bench-sink (control)'],
      samples,
      heapStartMb: first,
      heapEndMb: atCycles.heapMb,
      heapGrowthMb: round(atCycles.heapMb - first, 3),
      slopeBytesPerCycle: fit(0, opts.cycles),
      heapTrendEndMb: last.heapMb,
      trendSlopeBytesPerCycle: fit(opts.cycles, total),
      handlesStart,
      handlesEnd,
      simConnectionsAtEnd: conns.open,
      msPerCycle: round(msPerCycle, 1),
    };
  } finally {
    red.sink = undefined;
    await red.stop().catch(() => undefined);
    await sim.stop();
  }
}

export interface ScaleResult {
  accounts: number;
  markets: Record<string, number>;
  connectMs: number;
  simConnections: { open: number; wsApi: number; futures: number };
  idleWindowMs: number;
  /** CPU of the Node-RED process while idle, % of one core. */
  idleCpuPercent: number;
  rssMb: number;
  rssBeforeMb: number;
  heapUsedMb: number;
  heapBeforeMb: number;
  /** (heap after − heap before) / accounts, KB. */
  perAccountHeapKb: number;
  /** (RSS after − RSS before) / accounts, KB. */
  perAccountRssKb: number;
  handles: Record<string, number>;
}

export async function runScale(opts: BenchOptions, log: (s: string) => void): Promise<ScaleResult> {
  const sim = await SimProcess.start();
  const red = await EmbeddedRed.start();
  red.sink = () => undefined;
  try {
    const accounts = await sim.setup(opts.accounts);
    await red.deploy([TAB]);
    const heapBefore = await settledHeap();
    const rssBefore = process.memoryUsage().rss;
    const flow: FlowNode[] = [TAB, sinkNode('sink')];
    const ids: string[] = [];
    const markets: Record<string, number> = {};
    accounts.forEach((a, i) => {
      // half spot (WebSocket API sessions), half USDⓈ-M futures (listenKey, keepalive timers)
      const market = i % 2 === 0 ? 'spot' : 'usdm-futures';
      markets[market] = (markets[market] ?? 0) + 1;
      const wsUrl = market === 'spot' ? sim.info.wsApiUrl : sim.info.futuresWsUrl;
      const id = `acct${i}`;
      ids.push(id);
      flow.push({ ...accountNode(id, `account ${i}`, sim.info.restUrl, wsUrl, market), credentials: { apiKey: a.apiKey, apiSecret: a.apiSecret } });
      flow.push(orderUpdateNode(`ou${i}`, id, ['sink']));
    });
    const t0 = Date.now();
    await red.deploy(flow);
    await waitConnected(red, ids, 120_000);
    const connectMs = Date.now() - t0;
    log(`  scale: ${opts.accounts} accounts connected in ${connectMs} ms`);
    await delay(Math.min(5_000, opts.idleMs / 3));
    await settledHeap();
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await delay(opts.idleMs);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = Number(process.hrtime.bigint() - w0) / 1e6;
    const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;
    const simConnections = await sim.request<{ open: number; wsApi: number; futures: number }>({ cmd: 'connections' });
    const heap = await settledHeap();
    const rss = process.memoryUsage().rss;
    log(`  scale: idle CPU ${round(idleCpuPercent, 3)} % of one core, RSS ${round(rss / MB, 1)} MB, ${simConnections.open} connections`);
    return {
      accounts: opts.accounts,
      markets,
      connectMs,
      simConnections,
      idleWindowMs: Math.round(wallMs),
      idleCpuPercent: round(idleCpuPercent, 3),
      rssMb: round(rss / MB, 1),
      rssBeforeMb: round(rssBefore / MB, 1),
      heapUsedMb: round(heap / MB, 1),
      heapBeforeMb: round(heapBefore / MB, 1),
      perAccountHeapKb: Math.round((heap - heapBefore) / 1024 / opts.accounts),
      perAccountRssKb: Math.round((rss - rssBefore) / 1024 / opts.accounts),
      handles: activeResources(),
    };
  } finally {
    red.sink = undefined;
    await red.stop().catch(() => undefined);
    await sim.stop();
  }
}
