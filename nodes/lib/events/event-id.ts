import type { UserDataEvent } from '../types';
import { algoOrderOf } from './fields';

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
 * | ALGO_UPDATE | `algo:<market>:<symbol>:<algoId>:<algoStatus>` (a frame without its order: `ALGO_UPDATE:<market>:<transactionTime>:<eventTime>`) |
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
      // `o`, or `ao` on portfolio margin (fields.ts algoOrderOf)
      const o = algoOrderOf(r);
      // without its order (a malformed frame) the event's own times tell it apart
      id = o ? `algo:${m}:${part(o.s)}:${part(o.aid)}:${part(o.X)}` : `ALGO_UPDATE:${m}:${part(r.T)}:${part(r.E)}`;
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
