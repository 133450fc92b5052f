/**
 * Local estimate of the exchange's clock. Signed requests carry `timestamp = now() `, which must
 * lie within recvWindow of the server's time and not more than 1 s ahead (-1021 otherwise).
 *
 * `sync()` asks the server (`GET /api/v3/time`, `/fapi/v1/time` or `/dapi/v1/time`) and keeps
 * offset = serverTime − midpoint of the request. Concurrent calls share one request, and that
 * request has a hard deadline (`deadlineMs`, real time): when it passes, the request is aborted,
 * every caller's promise rejects and the next sync() asks again. Nobody waits on it for ever.
 */
export const CLOCK_SYNC_TIMEOUT_MS = 10_000;

export class ClockSync {
  private offset = 0;
  private syncedAt: number | undefined;
  private inflight: Promise<number> | undefined;
  private readonly deadlineMs: number;

  constructor(
    private readonly fetchServerTime: (signal: AbortSignal) => Promise<number>,
    opts: { deadlineMs?: number } = {},
  ) {
    const d = opts.deadlineMs;
    this.deadlineMs = typeof d === 'number' && Number.isFinite(d) && d > 0 ? d : CLOCK_SYNC_TIMEOUT_MS;
  }

  /** Estimated server time, epoch ms. */
  now(): number {
    return Math.round(Date.now() + this.offset);
  }

  get offsetMs(): number {
    return this.offset;
  }

  get lastSyncAt(): number | undefined {
    return this.syncedAt;
  }

  /** Re-measures the offset; resolves with it. Rejects if the server cannot be asked in time. */
  sync(): Promise<number> {
    this.inflight ??= this.measure();
    return this.inflight;
  }

  private async measure(): Promise<number> {
    const deadlineMs = this.deadlineMs;
    // Real time on purpose: it bounds I/O, whatever a test does with the clock.
    const deadline = AbortSignal.timeout(deadlineMs);
    let onAbort: (() => void) | undefined;
    const expired = new Promise<never>((_, reject) => {
      onAbort = () => reject(new Error(`server time not received within ${Math.round(deadlineMs / 100) / 10} s`));
      deadline.addEventListener('abort', onAbort, { once: true });
    });
    expired.catch(() => undefined);
    try {
      const t0 = Date.now();
      const server = await Promise.race([this.fetchServerTime(deadline), expired]);
      const t1 = Date.now();
      if (!Number.isFinite(server)) throw new Error('server time is not a number');
      this.offset = server - (t0 + t1) / 2;
      this.syncedAt = t1;
      return this.offset;
    } finally {
      if (onAbort) deadline.removeEventListener('abort', onAbort);
      this.inflight = undefined;
    }
  }

  /** Syncs if never synced or the last sync is older than `maxAgeMs`; never rejects. */
  async ensureFresh(maxAgeMs: number): Promise<boolean> {
    if (this.syncedAt !== undefined && Date.now() - this.syncedAt < maxAgeMs) return true;
    try {
      await this.sync();
      return true;
    } catch {
      // keep the previous offset; the signed request will tell (-1021) if it matters
      return false;
    }
  }
}
