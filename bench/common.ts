/**
 * Shared helpers of the benchmarks: options, statistics, loopback guard, GC/heap sampling,
 * and the line protocol between a scenario process and the runner.
 */
import * as crypto from 'node:crypto';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a mutable module object (the ESM namespace is read-only)
import dns = require('node:dns');
import * as os from 'node:os';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

export interface BenchOptions {
  quick: boolean;
  /** Frames per throughput run. */
  n: number;
  /** Throughput rounds (each client runs once per round, interleaved). */
  rounds: number;
  /** Latency run length per client, ms. */
  latencyMs: number;
  /** Latency send rate, frames per second. */
  latencyRate: number;
  /** Deploy/redeploy cycles (the growth figure of issue 7 is taken after these). */
  cycles: number;
  /** Further deploy/redeploy cycles after `cycles`, over which the trend (slope) is measured. */
  trendCycles: number;
  /** Simulated hours of the soak. */
  hours: number;
  /** Accounts of the scale scenario. */
  accounts: number;
  /** Events of the burst scenario (queued at once after a reconnect). */
  burst: number;
  /** Idle CPU measuring window of the scale scenario, ms. */
  idleMs: number;
  /** Scenarios to run (default all). */
  only: string[];
  /** Where the JSON goes. */
  out: string;
}

function numArg(argv: string[], name: string, env: string | undefined, dflt: number): number {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  let raw: string | undefined;
  if (i >= 0) raw = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  raw ??= env;
  const v = raw !== undefined ? Number(raw) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

function strArg(argv: string[], name: string, env: string | undefined): string | undefined {
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i >= 0) return argv[i].includes('=') ? argv[i].split('=').slice(1).join('=') : argv[i + 1];
  return env;
}

/** Options from the command line (`--quick`, `--n 100000`, ...) and BENCH_* environment variables. */
export function parseOptions(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  const only = (strArg(argv, 'only', env.BENCH_ONLY) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    quick,
    n: Math.round(numArg(argv, 'n', env.BENCH_N, quick ? 20_000 : 200_000)),
    rounds: Math.round(numArg(argv, 'rounds', env.BENCH_ROUNDS, quick ? 1 : 3)),
    latencyMs: numArg(argv, 'latency-ms', env.BENCH_LATENCY_MS, quick ? 2_000 : 20_000),
    latencyRate: numArg(argv, 'latency-rate', env.BENCH_LATENCY_RATE, 1_000),
    cycles: Math.round(numArg(argv, 'cycles', env.BENCH_CYCLES, quick ? 50 : 1_000)),
    trendCycles: Math.round(numArg(argv, 'trend-cycles', env.BENCH_TREND_CYCLES, quick ? 50 : 2_000)),
    hours: numArg(argv, 'hours', env.BENCH_HOURS, quick ? 2 : 24),
    accounts: Math.round(numArg(argv, 'accounts', env.BENCH_ACCOUNTS, quick ? 20 : 1_000)),
    burst: Math.round(numArg(argv, 'burst', env.BENCH_BURST, quick ? 5_000 : 50_000)),
    idleMs: numArg(argv, 'idle-ms', env.BENCH_IDLE_MS, quick ? 3_000 : 30_000),
    only,
    out: strArg(argv, 'out', env.BENCH_OUT) ?? 'bench/results/latest.json',
  };
}

// ---------------------------------------------------------------------------- statistics

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i];
    sy += ys[i];
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// ---------------------------------------------------------------------------- process helpers

/** Monotonic nanoseconds (CLOCK_MONOTONIC: the same clock in every process of the machine). */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

let gcFn: (() => void) | undefined;

/** A full garbage collection (uses --expose-gc when given, else enables it at run time). */
export function fullGc(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

/** Heap used after two full collections (bytes). */
export async function settledHeap(): Promise<number> {
  for (let i = 0; i < 2; i++) {
    await new Promise((r) => setImmediate(r));
    fullGc();
  }
  return process.memoryUsage().heapUsed;
}

/** Active handles/requests by kind (process.getActiveResourcesInfo), e.g. {TCPWRAP: 2, Timeout: 5}. */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

export function countResources(r: Record<string, number>, exclude: readonly string[] = []): number {
  let n = 0;
  for (const [k, v] of Object.entries(r)) if (!exclude.includes(k)) n += v;
  return n;
}

/**
 * Loopback guard: any DNS lookup of a name other than localhost fails, and so does any TCP
 * connect to a non-loopback address, so nothing in a benchmark (an SDK default, a typo) can
 * reach a real exchange host.
 */
export function installLoopbackGuard(): void {
  const loopback = (h: string): boolean => h === 'localhost' || h === '127.0.0.1' || h === '::1' || h.startsWith('127.');
  const origLookup = dns.lookup;
  const guarded = function (this: unknown, hostname: string, ...rest: unknown[]): void {
    if (!loopback(hostname)) {
      const cb = rest[rest.length - 1];
      const err = Object.assign(new Error(`bench loopback guard: lookup of ${hostname} refused`), { code: 'ENOTFOUND' });
      if (typeof cb === 'function') process.nextTick(() => (cb as (e: Error) => void)(err));
      return;
    }
    (origLookup as (...a: unknown[]) => void).call(this, hostname, ...rest);
  };
  (dns as { lookup: unknown }).lookup = guarded;
}

export function machine(): { cpus: number; cpuModel: string; node: string; platform: string; totalMemGb: number } {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    totalMemGb: round(os.totalmem() / 2 ** 30, 1),
  };
}

// ---------------------------------------------------------------------------- signing

/** Spot WS-API `userDataStream.subscribe.signature` request (HMAC), as a JSON frame. */
export function subscribeSignatureFrame(id: string, apiKey: string, apiSecret: string, timestamp: number): string {
  const params: Record<string, string | number> = { apiKey, timestamp };
  const payload = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature = crypto.createHmac('sha256', apiSecret).update(payload).digest('hex');
  return JSON.stringify({ id, method: 'userDataStream.subscribe.signature', params: { ...params, signature } });
}

// ---------------------------------------------------------------------------- result protocol

/** Marker of the result line a scenario process prints on stdout. */
export const RESULT_MARK = '@@bench-result@@ ';

export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
}

export async function delay(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
