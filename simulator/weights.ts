/**
 * Request weights: the rolling one-minute X-MBX-USED-WEIGHT-1M sum per pool, and the wait
 * (Retry-After) until enough weight has left the window.
 */
import type { SimState } from './state';

/**
 * The weight pool of a REST path. USDⓈ-M (/fapi) and COIN-M (/dapi) share ONE per-IP limit and one
 * X-MBX-USED-WEIGHT-1M counter since the CM–UM integration ("Important CM-UM Integration Notice"
 * §A.3, COIN-M docs, effective 2026-06-30): pool 'futures'. Others: the path's first segment.
 */
export function poolOf(path: string): string {
  const first = path.split('/')[1] ?? 'api';
  return first === 'fapi' || first === 'dapi' ? 'futures' : first;
}

export class WeightsRoom {
  constructor(private readonly s: SimState) {}

  addWeight(pool: string, weight: number): number {
    const now = Date.now();
    this.s.weightLog.push({ at: now, pool, weight });
    while (this.s.weightLog.length > 0 && this.s.weightLog[0].at <= now - 60_000) this.s.weightLog.shift();
    return this.usedWeight(pool);
  }

  /** Rolling one-minute weight sum of a pool ('api', 'sapi', 'futures' = fapi + dapi, 'papi'; 'fapi' / 'dapi' name 'futures'). */
  usedWeight(pool: string): number {
    if (pool === 'fapi' || pool === 'dapi') pool = 'futures';
    const now = Date.now();
    let sum = 0;
    for (const w of this.s.weightLog) if (w.pool === pool && w.at > now - 60_000) sum += w.weight;
    return sum;
  }

  /** Seconds until `excess` weight of a pool has left the rolling window. */
  retryAfterSec(pool: string, excess: number): number {
    const now = Date.now();
    let freed = 0;
    for (const w of this.s.weightLog) {
      if (w.pool !== pool || w.at <= now - 60_000) continue;
      freed += w.weight;
      if (freed >= excess) return Math.max(1, Math.ceil((w.at + 60_000 - now) / 1000));
    }
    return 60;
  }
}
