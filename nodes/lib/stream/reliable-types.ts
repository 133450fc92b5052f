/** The types of the reliable stream (stream/reliable-stream.ts): its states, events and options. */
import type { FillLedger, GapRecoveryOptions, RecoveryStats } from '../recovery';
import type { EventDeduper } from '../recovery/dedupe';
import type { StateOwner, StateStore } from '../recovery/persistence';
import type { RecoveryEndpoints } from '../exchange/endpoints';
import type { WeightBudget } from '../exchange/weight-budget';
import type { GapEvent, Logger, Market, SilentStream, StateChange, StreamState, UserDataEvent } from '../types';

/** The manager's states plus `recovering` (connected, catching up). */
export type ReliableState = StreamState | 'recovering';

export interface ReliableStateChange extends Omit<StateChange, 'state' | 'previous'> {
  state: ReliableState;
  previous: ReliableState;
  /** While `recovering`: since when (epoch ms). */
  since?: number;
  /**
   * Tracking bounds that dropped entries (the setting's value): symbols / open orders no longer
   * reconciled after a gap. Shown in the status until the stream is opened again.
   */
  limits?: { symbols?: number; orders?: number };
  /**
   * The connection is open but the server sent nothing on it, not even its pings, for longer than
   * its ping interval (the URL form is probably not served): shown until its first frame arrives.
   */
  silent?: SilentStream;
  /** Connected, but the recovery state could not be saved (the last write failed): a restart would repeat fills. */
  unsaved?: boolean;
}

export interface RecoveryReport {
  phase: 'started' | 'finished';
  gap: GapEvent;
  /** Present when `phase` is `finished`. */
  stats?: RecoveryStats;
}

export interface ReliableStreamEvents {
  event: [UserDataEvent];
  state: [ReliableStateChange];
  gap: [GapEvent];
  recovery: [RecoveryReport];
}

/** What a reliable stream hands over to the next one on its manager (ReliableStream.handOver). */
export interface StreamHandover {
  /** Kept, not delivered, in order. */
  events: UserDataEvent[];
  /** What it delivered (fills). */
  ledger: FillLedger;
  /** What it delivered (other events). */
  deduper: EventDeduper;
  /** Settles when the old stream has closed (its last state written). */
  closed?: Promise<void>;
}

/**
 * What a stream continues from when it replaces another stream of the same account node (its
 * line; registry.ts) that a deploy put on hold: a new key or REST host (another owner, so the saved
 * state is discarded) is what the user deployed from the moment they pressed Deploy.
 */
export interface StreamContinuation {
  /** When the deploy's stop phase put the replaced stream on hold (our clock, ms). */
  heldSince: number;
  /** The symbols it knew (only when the market and isolated symbol are the same). */
  symbols: string[];
}

export interface ReliableStreamOptions {
  market: Market;
  /** Recover missed fills after gaps. Default true. When false, events pass through (de-duplicated). */
  recovery?: boolean;
  /** Symbols always reconciled (besides those seen and those with open orders). */
  symbols?: string[];
  /** Isolated-margin symbol. */
  isolatedSymbol?: string;
  /** Look-back of recoveries (start-up included). Default 24 h. */
  lookbackMs?: number;
  /** Where the recovery cursors are kept across restarts. None: nothing is persisted. */
  store?: StateStore;
  /** Whose state the stream writes (a saved state of another owner is discarded). */
  owner?: StateOwner;
  /** How often the cursors are written while they change. Default 5000 ms. */
  persistIntervalMs?: number;
  /** REST base of the account: the weight budget is shared per host and weight pool. */
  restUrl?: string;
  /**
   * Where recovery reads (ResolvedEndpoints.recovery: host and endpoints from the facts table).
   * When its host is not `restUrl` (COIN-M unified: dapi while the listenKey is on fapi), recovery's
   * requests go there, signed by the same client.
   */
  recoveryEndpoints?: RecoveryEndpoints;
  /** Explicit weight budget (tests). Default: sharedWeightBudget(restUrl, market). */
  budget?: WeightBudget;
  /** First delay before a recovery that had errors is run again. Default 30 s (doubling, cap 10 min). */
  retryDelayMs?: number;
  /** Longest a live event is held back for a recovery (I2). Default 5 s. */
  maxHoldMs?: number;
  /** How long the last release() keeps the stream for a redeploy to adopt it. Default 10 s. */
  releaseGraceMs?: number;
  /** Bound of the de-duplication memory. Default 100 000 keys. */
  dedupeMaxEntries?: number;
  /**
   * What a stream of the same manager hands over (registry.ts: a redeploy switched recovery on or
   * off): the new stream starts in its redeploy grace, with these events kept in order.
   */
  handover?: StreamHandover;
  /**
   * The line of streams this one belongs to (Node-RED: the account node's id): a new stream of the
   * line replaces the one the deploy put on hold and continues it (registry.ts). None: no line.
   */
  line?: string;
  /** Set by the registry: the replaced stream of the same line (see StreamContinuation). */
  continues?: StreamContinuation;
  logger?: Logger;
  /** Further GapRecovery tuning (tests, advanced). */
  tuning?: Partial<
    Pick<GapRecoveryOptions, 'pageLimit' | 'clockSlackMs' | 'openOrdersScope' | 'maxOrderLookups' | 'includeAccount' | 'maxSymbols' | 'maxTrackedOrders'>
  >;
}
