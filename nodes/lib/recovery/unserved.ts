/**
 * Discovery endpoints a REST host does not serve (issue 23; docs/recovery.md "A host without a
 * discovery endpoint"). Binance serves every one of them, but a custom environment, a test exchange
 * or a proxy that forwards only some paths may answer 404 (or 405 / 410): retrying cannot help, and a
 * recovery that waited for such a call would stay incomplete ("catching up") for good.
 *
 * OUR RULE: a discovery call answered "not served" marks its path unavailable on that host for
 * UNSERVED_RETRY_MS; meanwhile the recoveries on the host do without that discovery (what it would
 * have found is named in ONE warning per host and path for the process), and complete as they did
 * before issue 23 (every known symbol still queried: nothing the older recovery found is lost). After
 * that time the path is asked again. Any other failure (5xx, 429 / 418, a timeout, a 400 answer to
 * the request) stays a failure: the recovery is incomplete and retried, nothing is skipped.
 *
 * The shared map holds ONLY data (paths, times, a flag): never a logger, a stream or a node (a shared
 * cache holding a logger kept closed nodes alive before: exchange/weight-budget.ts sharedWeightBudget).
 */
import type { Logger } from '../types';
import { errText, isObj } from '../util';

/** OUR CHOICE: how long a path answered "not served" is left alone before it is asked again. */
export const UNSERVED_RETRY_MS = 6 * 60 * 60_000;

/** HTTP statuses that say the host does not serve the path (not a failure of this one request). */
export const NOT_SERVED_STATUSES: ReadonlySet<number> = new Set([404, 405, 410]);

/** Most host + path entries the process keeps (oldest dropped first). */
const MAX_ENTRIES = 256;

interface Entry {
  /** Asked again from this time (the recovery's clock). */
  until: number;
  /** The warning was logged (once per host and path for the process). */
  warned: boolean;
}

const shared = new Map<string, Entry>();

/** Forgets every host's unserved paths (tests). */
export function clearUnserved(): void {
  shared.clear();
}

/** True when `err` is an answer saying the host does not serve the path (404 / 405 / 410). */
export function isNotServed(err: unknown): boolean {
  if (!isObj(err)) return false;
  const status = typeof err.httpStatus === 'number' ? err.httpStatus : typeof err.status === 'number' ? err.status : undefined;
  return status !== undefined && NOT_SERVED_STATUSES.has(status);
}

/** The unserved discovery paths of one recovery's REST host (`host` undefined: its own, not shared). */
export class UnservedPaths {
  private readonly local = new Map<string, Entry>();

  constructor(
    private readonly host: string | undefined,
    private readonly now: () => number,
    private readonly logger?: Logger,
  ) {}

  private get store(): Map<string, Entry> {
    return this.host !== undefined ? shared : this.local;
  }

  private key(path: string): string {
    return `${this.host ?? ''}\u0000${path}`;
  }

  /** True while `path` is left alone (it was answered "not served" less than UNSERVED_RETRY_MS ago). */
  skipped(path: string): boolean {
    const e = this.store.get(this.key(path));
    return e !== undefined && this.now() < e.until;
  }

  /**
   * When `err` says the host does not serve `path`: marks it (warning once, naming the path and
   * `lost`, what cannot be found without it) and returns true; else false (a real failure).
   */
  unserved(path: string, err: unknown, lost: string): boolean {
    if (!isNotServed(err)) return false;
    const store = this.store;
    const key = this.key(path);
    const old = store.get(key);
    store.delete(key);
    store.set(key, { until: this.now() + UNSERVED_RETRY_MS, warned: true });
    while (store.size > MAX_ENTRIES) {
      const oldest = store.keys().next().value;
      if (oldest === undefined) break;
      store.delete(oldest);
    }
    if (!old?.warned) {
      this.logger?.warn(
        `recovery: the REST host does not serve ${path} (${errText(err)}): ${lost} cannot be found after a gap; ` +
          `recovering without it (asked again every ${UNSERVED_RETRY_MS / 3_600_000} h)`,
      );
    }
    return true;
  }
}
