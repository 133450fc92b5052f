/**
 * `binance-user-event`: every user-data event of the account, filtered by event type (a list with
 * wildcards; empty = all). Known types get the readable payload of lib/normalize
 * (USER_EVENT_NORMALIZERS), any other type (GRID_UPDATE, types Binance adds later) its raw event as
 * payload. `msg.topic` is the event type. Thin adapter: connection in the core (via the account
 * node), normalisation in lib/normalize.
 */
import { accountOf, consume, eventMessage, guarded } from './red/data-node';
import { makeTranslate } from './red/translate';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { makeMatcher } from './lib/events/filters';
import { normalizeUserDataEvent } from './lib/normalize';
import type { UserDataEvent } from './lib/types';

const TYPE = 'binance-user-event';

interface UserEventDef extends NodeDef {
  account?: string;
  /** Event types with `*` / `?` wildcards, comma or space separated; empty = every type. */
  eventTypes?: string;
  numbers?: boolean;
  showLastEvent?: boolean;
}

export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);

  function BinanceUserEventNode(this: Node, def: UserEventDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const account = accountOf(RED, node, def.account, TYPE, t);
    if (!account) return;
    const typeMatch = makeMatcher(def.eventTypes);
    const numbers = def.numbers === true;

    const onEvent = guarded(node, account, (e: UserDataEvent): void => {
      if (!typeMatch(e.eventType)) return;
      account.accepted?.(e);
      const payload = normalizeUserDataEvent(e.eventType, e.raw, e.market);
      if (payload !== undefined) node.send(eventMessage(account, e, e.eventType, payload, numbers));
      // an unknown type: the event itself (a copy, so a flow changing it cannot change msg.raw)
      else node.send(eventMessage(account, e, e.eventType, structuredClone(e.raw), false));
    });

    consume(RED, node, account, { event: onEvent }, { showLastEvent: def.showLastEvent === true });
  }

  RED.nodes.registerType(TYPE, BinanceUserEventNode);
};
