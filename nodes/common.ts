/**
 * Plumbing shared by the Node-RED adapters (not a node: Node-RED only loads the files named in
 * package.json). Message look-up with a fallback to the en-US catalog beside the compiled files,
 * and the consumers' look-up of their `binance-account` config node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { isAccountHandle, type AccountHandle } from './red/account-contract';
import { interpolate, lookupCatalog, toNumbers } from './lib/normalize';
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

/** The payload fields that hold an epoch-ms time; with the ISO option each gets a `<name>Iso` twin. */
export const TIME_FIELDS: ReadonlySet<string> = new Set([
  'eventTime',
  'transactionTime',
  'orderTradeTime',
  'orderCreationTime',
  'workingTime',
  'trailingTime',
  'goodTillDate',
  'triggerTime',
  'lastUpdateTime',
  'clearTime',
  'updatedAt',
  // binance-stream-status
  'at',
  'from',
  'to',
  'startedAt',
  'finishedAt',
]);

/**
 * A copy of the payload with an ISO 8601 string (UTC, e.g. `2026-03-01T12:00:00.000Z`) right after
 * every epoch-ms time field (TIME_FIELDS, also inside nested objects): `eventTime` → `eventTimeIso`.
 * Zero, negative or non-numeric times get no twin.
 */
export function withIsoTimes<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = walk(x);
      if (TIME_FIELDS.has(k) && typeof x === 'number' && Number.isFinite(x) && x > 0 && x < 8.64e15) out[`${k}Iso`] = new Date(x).toISOString();
    }
    return out;
  };
  return walk(value) as T;
}

/** A decimal string without trailing zeros ("0.00100000" → "0.001", "5.000" → "5"), so REST and stream spellings agree. */
function canonicalDecimal(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') return '';
  return v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '') : v;
}

function part(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/**
 * `msg.eventId`: a stable id of the event, the same whether it arrived live, twice (rotation
 * overlap) or was rebuilt from REST after a gap, so a downstream store can upsert on it. Built from
 * the fields that identify the event (documented in the README and the nodes' help):
 *
 * | event | eventId |
 * |---|---|
 * | a fill (execution type TRADE) | `fill:<market>:<symbol>:<orderId>:<tradeId>` |
 * | another order update | `order:<market>:<symbol>:<orderId>:<orderStatus>:<filled quantity>:<order quantity>` (one id per order state) |
 * | listStatus | `listStatus:<market>:<symbol>:<orderListId>:<listOrderStatus>:<transactionTime>` |
 * | ALGO_UPDATE | `algo:<market>:<symbol>:<algoId>:<algoStatus>` |
 * | TRADE_LITE | `tradeLite:<market>:<symbol>:<orderId>:<tradeId>` |
 * | balanceUpdate, externalLockUpdate | `<eventType>:<market>:<asset>:<time>:<delta>` |
 * | outboundAccountPosition, ACCOUNT_UPDATE, MARGIN_CALL | `<eventType>:<market>:<transactionTime or lastUpdateTime>:<eventTime>` (`:<asset>` per asset for binance-balance-update) |
 *
 * Decimals are written without trailing zeros. `subject` (an asset) is appended when one event
 * becomes several messages.
 */
export function eventIdOf(e: UserDataEvent, subject?: string): string {
  const r = e.raw;
  const m = e.market;
  let id: string;
  switch (e.eventType) {
    case 'executionReport':
    case 'ORDER_TRADE_UPDATE': {
      const o = (e.eventType === 'ORDER_TRADE_UPDATE' && r.o && typeof r.o === 'object' ? r.o : r) as Record<string, unknown>;
      id =
        o.x === 'TRADE'
          ? `fill:${m}:${part(o.s)}:${part(o.i)}:${part(o.t)}`
          : `order:${m}:${part(o.s)}:${part(o.i)}:${part(o.X)}:${canonicalDecimal(o.z)}:${canonicalDecimal(o.q)}`;
      break;
    }
    case 'listStatus':
      id = `listStatus:${m}:${part(r.s)}:${part(r.g)}:${part(r.L)}:${part(r.T)}`;
      break;
    case 'ALGO_UPDATE': {
      const o = (r.o && typeof r.o === 'object' ? r.o : {}) as Record<string, unknown>;
      id = `algo:${m}:${part(o.s)}:${part(o.aid)}:${part(o.X)}`;
      break;
    }
    case 'TRADE_LITE':
      id = `tradeLite:${m}:${part(r.s)}:${part(r.i)}:${part(r.t)}`;
      break;
    case 'balanceUpdate':
    case 'externalLockUpdate':
      id = `${e.eventType}:${m}:${part(r.a)}:${part(r.T)}:${canonicalDecimal(r.d)}`;
      break;
    default:
      id = `${e.eventType}:${m}:${part(r.T ?? r.u)}:${part(r.E)}`;
  }
  return subject !== undefined ? `${id}:${subject}` : id;
}

/** Options of a data node's messages. */
export interface MessageOptions {
  /** Decimal strings to numbers (toNumbers). */
  numbers: boolean;
  /** ISO 8601 twins of the time fields (withIsoTimes). */
  isoTimes?: boolean;
  /** Appended to the eventId when one event becomes several messages (an asset). */
  subject?: string;
}

/** The payload as the node's options want it: numbers converted, ISO times added. */
export function shapePayload<T>(payload: T, opts: MessageOptions): T {
  const p = opts.numbers ? toNumbers(payload) : payload;
  return opts.isoTimes ? withIsoTimes(p) : p;
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
