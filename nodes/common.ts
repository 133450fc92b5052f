/**
 * Plumbing shared by the Node-RED adapters (not a node: Node-RED only loads the files named in
 * package.json). Message look-up with a fallback to the en-US catalog beside the compiled files,
 * and the consumers' look-up of their `binance-account` config node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { isAccountHandle, type AccountHandle } from './red/account-contract';
import { eventIdOf, shapePayload, type MessageOptions } from './lib/events';
import { interpolate, lookupCatalog } from './red/status';
import type { UserDataEvent } from './lib/types';

export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/**
 * `RED._` for the node type's catalog, falling back to `locales/en-US/<type>.json` when the runtime
 * has no translation (the test helper, or a key it does not know).
 */
export function makeTranslate(RED: NodeAPI, type: string): Translate {
  let catalog: unknown = {};
  try {
    catalog = JSON.parse(fs.readFileSync(path.join(__dirname, 'locales', 'en-US', `${type}.json`), 'utf8')) as unknown;
  } catch {
    // no catalog beside the file: keys are returned as they are
  }
  return (key, vars = {}) => {
    let r: unknown;
    try {
      r = RED._(key, vars);
    } catch {
      r = undefined;
    }
    if (typeof r === 'string' && r !== '' && r !== key && !r.endsWith(`:${key}`)) return r;
    const local = lookupCatalog(catalog, key);
    return local !== undefined ? interpolate(local, vars) : key;
  };
}

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
  return msg;
}

/** Runs an event handler so that a failure is a redacted node error, never a throw out of the stream. */
export function guarded(node: Node, account: AccountHandle, handle: (e: UserDataEvent) => void): (e: UserDataEvent) => void {
  return (e) => {
    try {
      handle(e);
    } catch (err) {
      node.error(account.redact(`cannot handle ${e.eventType}: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
}
