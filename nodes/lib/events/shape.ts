/** ISO 8601 twins of the time fields, and the payload as a consumer's options want it. */
import { toNumbers } from './numbers';

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
