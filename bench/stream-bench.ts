/**
 * Scenarios 1 and 2 of issue 7: throughput (N executionReport frames pushed as fast as the
 * client consumes them) and latency (1 000 stamped frames per second; send → user callback),
 * for every client of clients.ts, interleaved in the same process against one simulator process.
 */
import { BaselineClient, CoreClient, OurNodeClient, RedFloorClient, SdkClient, type StreamClient } from './clients';
import { nowNs, percentile, round, median, type BenchOptions } from './common';
import { EmbeddedRed } from './red-runtime';
import { MIXES, type Mix, type PushStats } from './sim-child';
import { SimProcess } from './sim-client';

export interface ThroughputRun {
  eventsPerSec: number;
  ms: number;
  /** CPU time of this (client) process over the run / wall time: 1.0 = one core saturated. */
  clientCpu: number;
  /** The producer's side of the run (bench/sim-child push). */
  producer: PushStats;
}

/** Was the producer faster than this client? (capacity: frames per second of producer CPU) */
export interface ProducerCheck {
  /** Median producer capacity over the client's runs, frames/s. */
  capacityPerSec: number;
  /** capacity ÷ the client's events/s: > 1 means the producer could have pushed faster. */
  margin: number;
  /** Least share of a run during which frames were still queued at the producer (the rest of the run they were in the socket buffers). */
  queuedShare: number;
  faster: boolean;
}

export interface ClientThroughput {
  client: string;
  runs: ThroughputRun[];
  /** Median of the runs. */
  eventsPerSec: number;
  ratioToBaseline: number;
  /** CPU time of the client process per event, µs (median of the runs). */
  cpuUsPerEvent: number;
  /**
   * baseline µs/event ÷ this client's µs/event: the throughput ratio when both are CPU-bound
   * (independent of how fast the simulator process can push).
   */
  cpuRatioToBaseline: number;
  producer?: ProducerCheck;
  error?: string;
}

export interface ClientLatency {
  client: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  error?: string;
}

/** The throughput of every client on one traffic shape (sim-child MIXES), measured side by side. */
export interface MixThroughput {
  mix: Mix;
  throughput: ClientThroughput[];
  producerFaster: boolean;
}

export interface StreamBenchResult {
  n: number;
  rounds: number;
  /** The `lifecycle` mix (the figures of earlier runs). */
  throughput: ClientThroughput[];
  /** Every mix measured (issue 24), `lifecycle` first. */
  mixes?: MixThroughput[];
  latency: { rate: number; durationMs: number; clients: ClientLatency[] };
  notes: string[];
  /** True when the producer was faster than every measured client (see ProducerCheck). */
  producerFaster: boolean;
}


async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let h: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, reject) => (h = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms)))]);
  } finally {
    if (h) clearTimeout(h);
  }
}

async function throughputRun(sim: SimProcess, client: StreamClient, n: number, mix: Mix = 'lifecycle'): Promise<ThroughputRun> {
  const [acct] = await sim.setup(1);
  let received = 0;
  let done: (() => void) | undefined;
  await withTimeout(
    client.connect(acct, () => {
      received += 1;
      if (received === n) done?.();
    }, mix),
    20_000,
    `${client.name} connect`,
  );
  const finished = new Promise<void>((r) => {
    done = r;
  });
  // frames serialised before the clock starts: the run measures the client, not the producer
  await sim.request({ cmd: 'prepare', accountId: acct.accountId, n, mix });
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  const pushed = sim.request<PushStats>({ cmd: 'push', accountId: acct.accountId, n });
  const timeout = new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`timed out after ${received}/${n} events`)), Math.max(60_000, n / 5)).unref());
  await Promise.race([finished, timeout]);
  const t1 = nowNs();
  const cpu = process.cpuUsage(cpu0);
  const producer = await pushed;
  await client.close();
  const ms = Number(t1 - t0) / 1e6;
  return { eventsPerSec: Math.round((n / ms) * 1000), ms: round(ms, 1), clientCpu: round((cpu.user + cpu.system) / 1000 / ms, 3), producer: { ...producer, queuedMs: round(producer.queuedMs, 1), cpuMs: round(producer.cpuMs, 1) } };
}

async function latencyRun(sim: SimProcess, client: StreamClient, rate: number, durationMs: number): Promise<ClientLatency> {
  const [acct] = await sim.setup(1);
  const total = Math.round((rate * durationMs) / 1000);
  const lat = new Float64Array(total);
  let k = 0;
  await withTimeout(
    client.connect(acct, (c) => {
      const t = nowNs();
      if (typeof c === 'string' && c.startsWith('bt') && k < total) lat[k++] = Number(t - BigInt(c.slice(2))) / 1e6;
    }),
    20_000,
    `${client.name} connect`,
  );
  await sim.request({ cmd: 'pace', accountId: acct.accountId, rate, durationMs });
  const start = Date.now();
  while (k < total && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 10));
  await client.close();
  const sorted = Array.from(lat.subarray(0, k)).sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return {
    client: client.name,
    samples: k,
    p50Ms: round(percentile(sorted, 50), 3),
    p99Ms: round(percentile(sorted, 99), 3),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 3),
    meanMs: round(mean, 3),
  };
}

/** Warm-up and interleaved rounds of every client on one mix. */
async function measureMix(
  sim: SimProcess,
  clients: StreamClient[],
  opts: BenchOptions,
  mix: Mix,
  errors: Map<string, string>,
  notes: string[],
  log: (s: string) => void,
): Promise<{ result: MixThroughput; runs: Map<string, ThroughputRun[]> }> {
  // Warm-up: every client once with a small N (JIT, first-connection costs); a quick run warms
  // the later mixes with fewer frames (the clients' common paths are warm by then).
  const warmN = Math.min(opts.n, mix !== 'lifecycle' && opts.quick ? 2_000 : 20_000);
  for (const c of clients) {
    try {
      const w = await throughputRun(sim, c, warmN, mix);
      log(`  ${mix} warm-up ${c.name}: ${w.eventsPerSec} ev/s`);
    } catch (err) {
      log(`  ${mix} warm-up ${c.name} failed: ${err instanceof Error ? err.message : String(err)}`);
      errors.set(c.name, err instanceof Error ? err.message : String(err));
      await c.close().catch(() => undefined);
    }
  }
  const runs = new Map<string, ThroughputRun[]>(clients.map((c) => [c.name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    // interleaved, and each round starts with another client (a drift of the shared machine's
    // load does not always land on the same client)
    const order = clients.map((_, i) => clients[(i + r) % clients.length]);
    for (const c of order) {
      if (errors.has(c.name)) continue;
      try {
        const run = await throughputRun(sim, c, opts.n, mix);
        runs.get(c.name)!.push(run);
        log(`  ${mix} throughput round ${r + 1}/${opts.rounds} ${c.name}: ${run.eventsPerSec} ev/s (client CPU ${run.clientCpu})`);
      } catch (err) {
        errors.set(c.name, err instanceof Error ? err.message : String(err));
        await c.close().catch(() => undefined);
      }
    }
  }
  const base = median(runs.get(clients[0].name)!.map((x) => x.eventsPerSec));
  const usPerEvent = (r: ThroughputRun): number => (r.clientCpu * 1e6) / r.eventsPerSec;
  const baseUs = median(runs.get(clients[0].name)!.map(usPerEvent));
  const throughput: ClientThroughput[] = clients.map((c) => {
    const rs = runs.get(c.name)!;
    const eps = rs.length > 0 ? median(rs.map((x) => x.eventsPerSec)) : NaN;
    const us = rs.length > 0 ? median(rs.map(usPerEvent)) : NaN;
    const out: ClientThroughput = {
      client: c.name,
      runs: rs,
      eventsPerSec: eps,
      ratioToBaseline: round(eps / base, 3),
      cpuUsPerEvent: round(us, 2),
      cpuRatioToBaseline: round(baseUs / us, 3),
    };
    if (rs.length > 0) {
      const capacity = median(rs.map((x) => x.producer.capacityPerSec));
      const queuedShare = Math.min(...rs.map((x) => Math.min(1, x.producer.queuedMs / x.ms)));
      // Faster: (1) the producer needs less than half of a core for the client's rate (capacity
      // at least twice its events/s), and (2) in every run the producer had handed every frame
      // to the kernel before the client finished: from then on the client read only from the
      // socket buffers (several MB on loopback), so it never waited for the producer.
      const drainedFirst = rs.every((x) => x.producer.queuedMs <= x.ms);
      out.producer = { capacityPerSec: capacity, margin: round(capacity / eps, 2), queuedShare: round(queuedShare, 3), faster: capacity >= 2 * eps && drainedFirst };
    }
    const e = errors.get(c.name);
    if (e !== undefined) out.error = e;
    return out;
  });
  const withProducer = throughput.filter((t) => t.producer !== undefined);
  const producerFaster = withProducer.length > 0 && withProducer.every((t) => t.producer!.faster);
  for (const t of withProducer) {
    if (!t.producer!.faster) {
      notes.push(
        `${mix}: the producer was NOT faster than ${t.client}: ${t.producer!.capacityPerSec} frames/s of producer CPU against ${t.eventsPerSec} events/s, frames queued at the producer for ${round(100 * t.producer!.queuedShare, 1)} % of its run (its figures may be producer-limited)`,
      );
    }
  }
  return { result: { mix, throughput, producerFaster }, runs };
}

export async function runStreamBench(opts: BenchOptions, log: (s: string) => void): Promise<StreamBenchResult> {
  const sim = await SimProcess.start();
  const red = await EmbeddedRed.start();
  const notes: string[] = [];
  try {
    // Every row with its defaults: exact decimals, de-duplication and recovery on.
    // BENCH_CLIENTS=core,ours: only the clients whose name contains one of the words (profiling).
    const only = (process.env.BENCH_CLIENTS ?? '').split(',').filter((w) => w !== '');
    const clients: StreamClient[] = [
      new BaselineClient(sim.info),
      new RedFloorClient(red, sim.info),
      new CoreClient(sim.info),
      new OurNodeClient(red, sim.info),
      new SdkClient(sim.info, false),
      new SdkClient(sim.info, true),
    ].filter((c, i) => i === 0 || only.length === 0 || only.some((w) => c.name.includes(w)));
    // BENCH_MIXES=book,balances: only those traffic shapes (default all; lifecycle always first).
    const wanted = (process.env.BENCH_MIXES ?? '').split(',').filter((w) => w !== '');
    const mixes = MIXES.filter((m) => m === 'lifecycle' || wanted.length === 0 || wanted.includes(m));
    const errors = new Map<string, string>();
    const measured: MixThroughput[] = [];
    let lifecycleRuns: Map<string, ThroughputRun[]> | undefined;
    for (const mix of mixes) {
      log(`  mix ${mix}`);
      const m = await measureMix(sim, clients, opts, mix, errors, notes, log);
      measured.push(m.result);
      if (mix === 'lifecycle') lifecycleRuns = m.runs;
    }
    const runs = lifecycleRuns!;
    const throughput = measured[0].throughput;
    const producerFaster = measured.every((m) => m.producerFaster);
    const baseCpu = median(runs.get(clients[0].name)!.map((x) => x.clientCpu));
    if (baseCpu < 0.9) {
      notes.push(
        `the baseline client used ${baseCpu} of a core although frames were waiting for it ${round(100 * (throughput[0].producer?.queuedShare ?? 0), 1)} % of its run: the shared machine's other jobs took the rest`,
      );
    }
    const latClients: ClientLatency[] = [];
    for (const c of clients) {
      if (errors.has(c.name)) {
        latClients.push({ client: c.name, samples: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, meanMs: NaN, error: errors.get(c.name) });
        continue;
      }
      try {
        const l = await latencyRun(sim, c, opts.latencyRate, opts.latencyMs);
        latClients.push(l);
        log(`  latency ${c.name}: p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms (${l.samples} samples)`);
      } catch (err) {
        await c.close().catch(() => undefined);
        latClients.push({ client: c.name, samples: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, meanMs: NaN, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { n: opts.n, rounds: opts.rounds, throughput, mixes: measured, latency: { rate: opts.latencyRate, durationMs: opts.latencyMs, clients: latClients }, notes, producerFaster };
  } finally {
    await red.stop().catch(() => undefined);
    await sim.stop();
  }
}
