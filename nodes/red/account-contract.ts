/**
 * The contract between the `binance-account` config node and the nodes that use it (MQTT broker
 * style): what a consumer offers the account node, what the account node offers its consumers.
 */
import type { ReliableStream } from '../lib/stream/reliable-stream';
import type { StreamManager } from '../lib/stream/stream-manager';
import type { Market, UserDataEvent } from '../lib/types';
import type { ConsumptionTracker } from '../lib/events/unconsumed';

/** The parts of a Node-RED node the account node needs from a consumer. */
export interface AccountUser {
  id: string;
  status(status: { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string }): void;
}

export interface RegisterOptions {
  /** Add the time of the last event to the green "connected" status. */
  showLastEvent?: boolean;
}

/** What a `binance-account` node offers to its consumers (MQTT broker style). */
export interface AccountHandle {
  readonly isBinanceAccount: true;
  readonly market: Market;
  /** Isolated-margin symbol. */
  readonly symbol: string | undefined;
  /** The account node's name, or its id when it has none. Never a key. */
  readonly accountLabel: string;
  /** Base URL of the account's balance request when it is not the stream's REST host (COIN-M unified). */
  readonly accountRestBase?: string;
  /** The configuration problem, when the account cannot connect at all (already redacted). */
  readonly configError: string | undefined;
  /** The shared stream manager (created on first use); undefined when the configuration is invalid. */
  getManager(): StreamManager | undefined;
  /**
   * The account's reliable stream over that manager: live events de-duplicated, gaps recovered
   * over REST (recovered events carry `recovered: true`). What consumer nodes listen to.
   */
  getStream(): ReliableStream | undefined;
  /** Adds a consumer: starts the stream if needed and keeps the consumer's status current. */
  register(user: AccountUser, opts?: RegisterOptions): void;
  /**
   * Removes a consumer. `removed` = the node was deleted/disabled: the consumer is released at once
   * (the last one stops the stream) and not waited for. Otherwise (restart on redeploy) it is away:
   * the stream keeps the events meanwhile, recording none as delivered (I6), until the flows have
   * started; then they leave to it if it registered again, else it is released.
   */
  deregister(user: AccountUser, done: () => void, removed: boolean): void;
  /**
   * A deploy's stop is closing a node this consumer sends to (the consumer itself stays): Node-RED
   * drops what is sent to it until the deploy has started its nodes, so the consumer is away as if
   * restarted (I6) until then.
   */
  awayUntilStarted?(user: AccountUser): void;
  /** Removes this account's secrets from a text. */
  redact(text: string): string;
  /**
   * A consumer tells that its configuration takes this event (its type; symbol or asset filters do
   * not matter). Events no consumer takes are counted in `unconsumed` (lib/unconsumed.ts).
   */
  accepted?(e: UserDataEvent): void;
  /** Events of this account that no consumer took, per type; reports `unconsumed`. */
  readonly unconsumed?: ConsumptionTracker;
}

export function isAccountHandle(v: unknown): v is AccountHandle {
  return v !== null && typeof v === 'object' && (v as { isBinanceAccount?: unknown }).isBinanceAccount === true;
}
