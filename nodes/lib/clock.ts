/**
 * Local estimate of the exchange's clock. Signed requests carry `timestamp = now() `, which must
 * lie within recvWindow of the server's time and not more than 1 s ahead (-1021 otherwise).
 *
 * `sync()` asks the server (`GET /api/v3/time`, `/fapi/v1/time` or `/dapi/v1/time`) and keeps
 * offset = serverTime − midpoint of the request. Concurrent calls share one request.
 */
export class ClockSync {
  private offset = 0;
  private syncedAt: number | undefined;
  private inflight: Promise<number> | undefined;

  constructor(private readonly fetchServerTime: () => Promise<number>) {}

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

  /** Re-measures the offset; resolves with it. Rejects if the server cannot be asked. */
  sync(): Promise<number> {
    this.inflight ??= (async () => {
      try {
        const t0 = Date.now();
        const server = await this.fetchServerTime();
        const t1 = Date.now();
        if (!Number.isFinite(server)) throw new Error('server time is not a number');
        this.offset = server - (t0 + t1) / 2;
        this.syncedAt = t1;
        return this.offset;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** Syncs if never synced or the last sync is older than `maxAgeMs`; never rejects. */
  async ensureFresh(maxAgeMs: number): Promise<void> {
    if (this.syncedAt !== undefined && Date.now() - this.syncedAt < maxAgeMs) return;
    try {
      await this.sync();
    } catch {
      // keep the previous offset; the signed request will tell (-1021) if it matters
    }
  }
}
