/**
 * Which events the trigger emits and as what items: the core's filters and its one normaliser
 * (`normalizeUserDataEvent`, the table the Node-RED nodes use too), the core's `eventIdOf`, and the
 * decimal conversion `toNumbers`. No n8n runtime here, so it is tested on its own as well.
 */
import {
  FUTURES_REASON_GROUPS,
  eventIdOf,
  makeMatcher,
  makeOrderFilter,
  normalizeAccountPosition,
  normalizeBalanceUpdates,
  normalizeUserDataEvent,
  toNumbers,
  type BalanceReasonGroup,
  type Payload,
  type UserDataEvent,
} from '../../../nodes/lib';

/** The trigger's "Events" choice. */
export type EventChoice = 'orderUpdates' | 'accountPosition' | 'balanceUpdates' | 'anyEvent';

export interface EventSelection {
  events: EventChoice;
  /** orderUpdates: 'fills' (default) or 'all'. */
  orderUpdates?: string;
  /** Symbols with `*` / `?` wildcards (order updates, any event); empty = all. */
  symbols?: string;
  /** Assets with wildcards (balances / positions, balance updates); empty = all. */
  assets?: string;
  /** balanceUpdates: the futures ACCOUNT_UPDATE reasons wanted (deposit, withdraw, transfer, fundingFee). */
  reasons?: string[];
  /** anyEvent: event types with wildcards; empty = every type. */
  eventTypes?: string;
  /** 'strings' (default, exact) or 'numbers'. */
  decimals?: string;
}

/** One item's JSON: the normalised payload's fields, plus what identifies the event. */
export type ItemJson = Payload & {
  eventId: string;
  eventType: string;
  market: string;
  recovered: boolean;
  raw: Record<string, unknown>;
};

const ORDER_EVENTS = new Set(['executionReport', 'ORDER_TRADE_UPDATE']);
const POSITION_EVENTS = new Set(['outboundAccountPosition', 'ACCOUNT_UPDATE']);
const BALANCE_EVENTS = new Set(['balanceUpdate', 'externalLockUpdate', 'ACCOUNT_UPDATE']);
const DEFAULT_REASONS: readonly BalanceReasonGroup[] = ['deposit', 'withdraw', 'transfer'];

/** Builds the function turning one event into the items to emit (none: not wanted). */
export function makeSelector(sel: EventSelection): (e: UserDataEvent) => ItemJson[] {
  const numbers = sel.decimals === 'numbers';
  const symbolMatch = makeMatcher(sel.symbols);
  const assetMatch = makeMatcher(sel.assets);
  const item = (e: UserDataEvent, payload: Payload, subject?: string): ItemJson => ({
    ...(numbers ? toNumbers(payload) : payload),
    eventId: eventIdOf(e, subject),
    eventType: e.eventType,
    market: e.market,
    recovered: e.recovered === true,
    // recovered: the REST record it was rebuilt from (what the exchange actually sent)
    raw: e.recovered && e.restRecord ? e.restRecord : e.raw,
  });

  switch (sel.events) {
    case 'orderUpdates': {
      const filter = makeOrderFilter({ symbols: sel.symbols, executionTypes: sel.orderUpdates === 'all' ? '' : 'fills' });
      return (e) => {
        if (!ORDER_EVENTS.has(e.eventType)) return [];
        const p = normalizeUserDataEvent(e.eventType, e.raw, e.market) ?? {};
        const subject = p as { symbol?: string; side?: string; executionType?: string; orderStatus?: string };
        if (!filter.symbolAndSide(subject) || !filter.execution(subject)) return [];
        return [item(e, p)];
      };
    }
    case 'accountPosition':
      return (e) => {
        if (!POSITION_EVENTS.has(e.eventType)) return [];
        const p = normalizeAccountPosition(e.raw);
        const balances = (Array.isArray(p.balances) ? (p.balances as Payload[]) : []).filter((b) => assetMatch(b.asset as string));
        const positions = Array.isArray(p.positions) ? (p.positions as Payload[]) : [];
        if (balances.length === 0 && positions.length === 0) return [];
        return [item(e, { ...p, balances })];
      };
    case 'balanceUpdates': {
      const reasons = new Set<string>(sel.reasons ?? DEFAULT_REASONS);
      return (e) => {
        if (!BALANCE_EVENTS.has(e.eventType)) return [];
        if (e.eventType === 'ACCOUNT_UPDATE') {
          const m = (e.raw.a as { m?: unknown } | undefined)?.m;
          const group = typeof m === 'string' ? FUTURES_REASON_GROUPS[m] : undefined;
          if (group === undefined || !reasons.has(group)) return [];
        }
        return normalizeBalanceUpdates(e.raw)
          .filter((b) => assetMatch(b.asset))
          .map((b) => item(e, b.payload, e.eventType === 'ACCOUNT_UPDATE' ? b.asset : undefined));
      };
    }
    default: {
      const typeMatch = makeMatcher(sel.eventTypes);
      const hasSymbols = (sel.symbols ?? '').trim() !== '';
      return (e) => {
        if (!typeMatch(e.eventType)) return [];
        // known types: the readable payload; any other type (added by Binance later): the raw event
        const p = normalizeUserDataEvent(e.eventType, e.raw, e.market) ?? structuredClone(e.raw);
        if (hasSymbols && !symbolMatch(typeof p.symbol === 'string' ? p.symbol : undefined)) return [];
        return [item(e, p)];
      };
    }
  }
}
