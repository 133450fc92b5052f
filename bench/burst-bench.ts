/**
 * The burst case (issue 17): an account's connection drops; right after the core has reconnected
 * (the gap's recovery starting), `burst` executionReport frames are queued at once on the new
 * connection while the gap's recovery runs (its REST reads answer 1.5 s late), as after a gap
 * on a busy account: the live events are held until the recovery has finished (I2). Measured in the core (`openAccountStream`, the
 * defaults: recovery, de-duplication, exact decimals on): the time from the first frame written
 * to the last event delivered, every event delivered exactly once, and the peak heap while
 * draining (sampled every 500 events and every 5 ms).
 */
import * as v8 from 'node:v8';
import { endAllGraces, MemoryStateStore, openAccountStream, type UserDataEvent } from '../nodes/lib/index';
import { delay, nowNs, round, settledHeap, waitUntil, type BenchOptions } from './common';
import type { PushStats } from './sim-child';
import { SimProcess } from './sim-client';

export interface BurstResult {
  events: number;
  delivered: number;
  duplicates: number;
  /** From the push to the last event delivered, ms. */
  drainMs: number;
  /** From the push to the first event delivered, ms: how long the burst was held for the recovery (I2). */
  heldMs: number;
  eventsPerSec: number;
  /** Heap after GC before the burst, MB. */
  heapBeforeMb: number;
  /** Highest heap used seen while draining, MB. */
  peakHeapMb: number;
  /** Heap after GC once drained, MB. */
  heapAfterMb: number;
  gaps: number;
  recoveries: number;
  /** Delay of the recovery's REST reads, ms. */
  recoveryDelayMs: number;
  producer: PushStats;
}

const MB = 2 ** 20;
/** How late the recovery's REST reads answer (below the default hold of 5 s). */
const RECOVERY_MS = 1_500;

export async function runBurst(opts: BenchOptions, log: (s: string) => void): Promise<BurstResult> {
  const sim = await SimProcess.start();
  try {
    const [acct] = await sim.setup(1);
    const handle = openAccountStream(
      { market: 'spot', environment: 'custom', restUrl: sim.info.restUrl, wsUrl: sim.info.wsApiUrl, keyType: 'hmac', credentials: { apiKey: acct.apiKey, apiSecret: acct.apiSecret } },
      { store: new MemoryStateStore() },
    );
    const n = opts.burst;
    const seen = new Set<string>();
    let delivered = 0;
    let duplicates = 0;
    let peak = 0;
    let doneAt = 0n;
    let gaps = 0;
    let recoveries = 0;
    let firstAt = 0n;
    const sampleHeap = (): void => {
      const h = v8.getHeapStatistics().used_heap_size;
      if (h > peak) peak = h;
    };
    handle.stream.on('gap', () => (gaps += 1));
    handle.stream.on('recovery', (r: { phase: string }) => {
      if (r.phase === 'finished') recoveries += 1;
    });
    handle.stream.on('event', (e: UserDataEvent) => {
      if (e.eventType !== 'executionReport' || e.recovered) return;
      // executionId (I) is unique per frame
      const id = String(e.raw.I);
      if (seen.has(id)) duplicates += 1;
      else seen.add(id);
      delivered += 1;
      if (delivered === 1) firstAt = nowNs();
      if (delivered % 500 === 0) sampleHeap();
      if (delivered === n) doneAt = nowNs();
    });
    handle.acquire('bench');
    await waitUntil(() => handle.currentState.state === 'connected', 15_000, 'connected');
    const firstConn = await sim.request<{ open: number }>({ cmd: 'connections' });
    // The gap's recovery takes a while (slow REST answers), so the burst arrives while it runs and
    // is held until it finishes (invariant I2), as after a real outage.
    await sim.request({ cmd: 'slowRecovery', ms: RECOVERY_MS, count: 20 });
    await sim.request({ cmd: 'drop', accountId: acct.accountId });
    await waitUntil(() => handle.manager.state !== 'connected', 10_000, 'the drop seen');
    await waitUntil(() => handle.manager.state === 'connected', 30_000, 'reconnected');
    log(`  burst: reconnected (${firstConn.open} connection before the drop); queueing ${n} frames`);
    await sim.request({ cmd: 'prepare', accountId: acct.accountId, n });
    const heapBefore = await settledHeap();
    peak = heapBefore;
    const sampler = setInterval(sampleHeap, 5);
    const t0 = nowNs();
    const pushed = sim.request<PushStats>({ cmd: 'push', accountId: acct.accountId, n });
    const start = Date.now();
    while (delivered < n && Date.now() - start < 120_000) await delay(2);
    clearInterval(sampler);
    sampleHeap();
    const producer = await pushed;
    const drainMs = Number((doneAt || nowNs()) - t0) / 1e6;
    await waitUntil(() => handle.currentState.state === 'connected', 15_000, 'recovery finished');
    const heapAfter = await settledHeap();
    await handle.close();
    await endAllGraces();
    log(`  burst: ${delivered}/${n} delivered in ${round(drainMs, 1)} ms, peak heap ${round(peak / MB, 1)} MB`);
    return {
      events: n,
      delivered,
      duplicates,
      drainMs: round(drainMs, 1),
      heldMs: round(Number((firstAt || t0) - t0) / 1e6, 1),
      eventsPerSec: Math.round((delivered / drainMs) * 1000),
      heapBeforeMb: round(heapBefore / MB, 1),
      peakHeapMb: round(peak / MB, 1),
      heapAfterMb: round(heapAfter / MB, 1),
      gaps,
      recoveries,
      recoveryDelayMs: RECOVERY_MS,
      producer,
    };
  } finally {
    await sim.stop();
  }
}
