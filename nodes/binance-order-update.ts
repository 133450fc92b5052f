/**
 * `binance-order-update`: spot/margin `executionReport` and futures `ORDER_TRADE_UPDATE`,
 * normalised into one payload; optionally `listStatus`, `ALGO_UPDATE` and `TRADE_LITE`.
 * Thin adapter: connection in the core (via the account node), normalisation in lib/normalize.
 */
import { accountOf, consume, eventMessage, guarded } from './red/data-node';
import { makeTranslate } from './red/translate';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { makeOrderFilter } from './lib/events/filters';
import {
  normalizeAlgoUpdate,
  normalizeExecutionReport,
  normalizeListStatus,
  normalizeOrderTradeUpdate,
  normalizeTradeLite,
  type Payload,
} from './lib/normalize';

import type { UserDataEvent } from './lib/types';

const TYPE = 'binance-order-update';

interface OrderUpdateDef extends NodeDef {
  account?: string;
  symbols?: string;
  sides?: string;
  executionTypes?: string;
  orderStatuses?: string;
  includeListStatus?: boolean;
  includeAlgoUpdates?: boolean;
  includeTradeLite?: boolean;
  numbers?: boolean;
  isoTimes?: boolean;
  showLastEvent?: boolean;
}

export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);

  function BinanceOrderUpdateNode(this: Node, def: OrderUpdateDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const account = accountOf(RED, node, def.account, TYPE, t);
    if (!account) return;
    const filter = makeOrderFilter(def);
    const opts = { numbers: def.numbers === true, isoTimes: def.isoTimes === true };

    const build = (e: UserDataEvent): { payload: Payload; order: boolean } | undefined => {
      switch (e.eventType) {
        case 'executionReport':
          return { payload: normalizeExecutionReport(e.raw), order: true };
        case 'ORDER_TRADE_UPDATE':
          return { payload: normalizeOrderTradeUpdate(e.raw, e.market), order: true };
        case 'listStatus':
          return def.includeListStatus ? { payload: normalizeListStatus(e.raw), order: false } : undefined;
        case 'ALGO_UPDATE':
          return def.includeAlgoUpdates ? { payload: normalizeAlgoUpdate(e.raw), order: false } : undefined;
        case 'TRADE_LITE':
          return def.includeTradeLite ? { payload: normalizeTradeLite(e.raw, e.market), order: false } : undefined;
        default:
          return undefined;
      }
    };

    const onEvent = guarded(node, account, (e: UserDataEvent): void => {
      const built = build(e);
      if (!built) return;
      account.accepted?.(e);
      const p = built.payload as { symbol?: string; side?: string; executionType?: string; orderStatus?: string };
      if (!filter.symbolAndSide(p)) return;
      if (built.order && !filter.execution(p)) return;
      node.send(eventMessage(account, e, typeof p.symbol === 'string' ? p.symbol : '', built.payload, opts));
    });

    consume(RED, node, account, { event: onEvent }, { showLastEvent: def.showLastEvent === true });
  }

  RED.nodes.registerType(TYPE, BinanceOrderUpdateNode);
};
