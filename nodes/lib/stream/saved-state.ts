/**
 * Reading the saved recovery state at start-up, as a fault-tolerant step of the reliable stream
 * (reliable-stream.ts). Store faults are faults, never a first start (issue 21, case 6):
 *  - every read has a deadline (persistence.ts STORE_DEADLINE_MS); an error or no answer is retried
 *    (1 s, doubling, at most every 30 s) until it succeeds, and shown meanwhile as the reason of
 *    *catching up*;
 *  - until the state is known nothing is written to that store (a write would replace the saved
 *    cursors with a state that does not know them), live fills move no cursor (the ledger is not
 *    caught up), and gaps wait;
 *  - live events wait at most the hold bound (I2), and not at all once a read failed;
 *  - after STATE_FALLBACK_MS of failed reads the start-up recovery runs from the look-back (what
 *    can be recovered without the state); when the state is read later, its own start-up recovery
 *    follows (the ledger de-duplicates what both fetch).
 */
import type { GapEvent, Logger } from '../types';
import { readState, type PersistedRecoveryState, type StateStore } from '../recovery/persistence';
import { errText } from '../util';

/** After this long without a readable state, recover from the look-back. */
export const STATE_FALLBACK_MS = 30_000;
/** Longest wait between two reads of an unreadable state. */
const MAX_READ_RETRY_MS = 30_000;

export interface SavedStateHost {
  /** Applies a read state (false: it was discarded, e.g. another stream's). */
  restore(state: PersistedRecoveryState | undefined): boolean;
  /** The state is known (`gap`: the start-up gap to recover, if any; `fresh`: nothing saved: a first start). */
  known(gap: GapEvent | undefined, fresh: boolean): void;
  /** The start-up gap as known now (`stateUnknown`: from the look-back). */
  startupGap(stateUnknown: boolean): GapEvent | undefined;
  /** Writing to the store may begin. */
  allowWrites(): void;
  /** Live events need not wait for the state any more. */
  letEventsFlow(): void;
  /** What is shown may have changed. */
  changed(): void;
  readonly logger?: Logger;
}

export class SavedStateReader {
  /** Why the state is not known yet (after a failed read), shown in *catching up*. */
  problem: string | undefined;
  /** The state was read (or there is none to read). */
  read = false;
  private failures = 0;
  private firstFailureAt: number | undefined;
  private fellBack = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly host: SavedStateHost,
    private readonly store: StateStore,
  ) {}

  /** First read; resolves when it answered or failed (later reads go on by themselves). */
  async start(): Promise<void> {
    await this.attempt();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    let state: PersistedRecoveryState | undefined;
    try {
      state = await readState(this.store);
    } catch (err) {
      if (!this.stopped) this.failed(err);
      return;
    }
    if (this.stopped) return;
    if (this.problem !== undefined) this.host.logger?.info(`the saved recovery state was read (after ${this.failures} failed attempt(s))`);
    this.problem = undefined;
    this.read = true;
    const applied = this.host.restore(state);
    this.host.allowWrites();
    this.host.known(applied ? this.host.startupGap(false) : undefined, !applied && !this.fellBack);
    this.host.changed();
  }

  private failed(err: unknown): void {
    this.failures++;
    this.problem = errText(err);
    this.firstFailureAt ??= Date.now();
    const delay = Math.min(MAX_READ_RETRY_MS, 1000 * 2 ** Math.min(this.failures - 1, 5));
    if (this.failures <= 3 || this.failures % 20 === 0) {
      this.host.logger?.warn(
        `could not read the saved recovery state (attempt ${this.failures}): ${this.problem}; ` +
          `live events go on, nothing is saved until it is read, next attempt in ${Math.round(delay / 1000)} s`,
      );
    }
    this.host.letEventsFlow();
    if (!this.fellBack && Date.now() - this.firstFailureAt >= STATE_FALLBACK_MS) {
      this.fellBack = true;
      const g = this.host.startupGap(true);
      this.host.logger?.warn(
        `the saved recovery state cannot be read; recovering from the look-back${g ? ` (since ${new Date(g.from).toISOString()})` : ''} meanwhile`,
      );
      this.host.known(g, false);
    }
    this.host.changed();
    this.timer = setTimeout(() => void this.attempt(), delay);
  }
}
