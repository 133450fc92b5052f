/**
 * The skeleton every data node shares: find the account node (`accountOf`), wire the listeners to
 * the account's reliable stream and register (`consume`; on close: listeners off, then deregister),
 * and build a message from an event (`eventMessage`, `guarded`).
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { eventIdOf, shapePayload, type MessageOptions } from '../lib/events';
import type { ReliableStream, ReliableStreamEvents } from '../lib/stream/reliable-stream';
import type { UserDataEvent } from '../lib/types';
import { errText } from '../lib/util';
import { isAccountHandle, type AccountHandle, type RegisterOptions } from './account-contract';
import { followSends } from './in-flight';
import type { Translate } from './translate';

/**
 * The consumer's account node, or undefined after showing a red ring "no account" and logging the
 * error once (a missing, unset or foreign config node).
 */
export function accountOf(RED: NodeAPI, node: Node, accountId: string | undefined, type: string, t: Translate): AccountHandle | undefined {
  const account: unknown = accountId ? RED.nodes.getNode(accountId) : null;
  if (isAccountHandle(account)) return account;
  node.status({ fill: 'red', shape: 'ring', text: t(`${type}.status.no-account`) });
  node.error(t(`${type}.errors.no-account`));
  return undefined;
}

/**
 * The message a data node sends for one event: `topic` (symbol or asset), `payload` (numbers
 * converted and ISO times added on request), `eventId` (eventIdOf), `eventType`, `market`, `account`
 * (a label, never a key) and `raw`. For an event rebuilt from REST after a gap, `recovered: true`
 * and `raw` is the REST record it came from (what the exchange actually sent).
 */
export function eventMessage(
  account: AccountHandle,
  e: UserDataEvent,
  topic: string,
  payload: Record<string, unknown>,
  opts: MessageOptions | boolean,
): NodeMessage {
  const o: MessageOptions = typeof opts === 'boolean' ? { numbers: opts } : opts;
  const msg: NodeMessage = {
    topic,
    payload: shapePayload(payload, o),
    eventId: eventIdOf(e, o.subject),
    eventType: e.eventType,
    market: e.market,
    account: account.accountLabel,
    raw: e.recovered && e.restRecord ? e.restRecord : e.raw,
  };
  if (e.recovered) msg.recovered = true;
  if (e.possibleDuplicate) msg.possibleDuplicate = true;
  return msg;
}

/** Runs an event handler so that a failure is a redacted node error, never a throw out of the stream. */
export function guarded(node: Node, account: AccountHandle, handle: (e: UserDataEvent) => void): (e: UserDataEvent) => void {
  return (e) => {
    try {
      handle(e);
    } catch (err) {
      node.error(account.redact(`cannot handle ${e.eventType}: ${errText(err)}`));
    }
  };
}

/** Listeners on the account's reliable stream, by event name. */
export type StreamListeners = { [K in keyof ReliableStreamEvents]?: (...args: ReliableStreamEvents[K]) => void };

/**
 * Wires a consumer node to its account: the listeners on the account's reliable stream (live and
 * recovered events, de-duplicated; states; gaps; recoveries), then registers the node (its status
 * follows the stream). On close: `onClose`, the listeners off, then deregister in the same
 * synchronous step (the account node decides whether the stream stays up for a redeploy, and a
 * node restarted by a deploy is away: its events wait for it, I6). What the node sends is followed
 * to its destinations (in-flight.ts: a deploy's stop closing them meanwhile). Returns the stream
 * (undefined when the account cannot connect).
 */
export function consume(
  RED: NodeAPI,
  node: Node,
  account: AccountHandle,
  listeners: StreamListeners,
  opts: RegisterOptions & { onClose?: () => void } = {},
): ReliableStream | undefined {
  const stream = account.getStream();
  const entries = Object.entries(listeners) as Array<[keyof ReliableStreamEvents, (...a: unknown[]) => void]>;
  for (const [name, fn] of entries) stream?.on(name, fn);
  const unfollow = followSends(RED, node, () => account.awayUntilStarted?.(node));
  account.register(node, { showLastEvent: opts.showLastEvent === true });
  node.on('close', (removed: boolean, done: () => void) => {
    opts.onClose?.();
    unfollow();
    for (const [name, fn] of entries) stream?.removeListener(name, fn);
    account.deregister(node, done, removed);
  });
  return stream;
}
