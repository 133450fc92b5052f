/**
 * `binance-account-position`: `outboundAccountPosition` (spot/margin) and futures `ACCOUNT_UPDATE`
 * as balance / position changes (optionally futures `MARGIN_CALL` too), or (output 'snapshot') the whole balance sheet: loaded over REST
 * (`manager.rest`) once the stream is connected, reloaded after every gap, kept current from the events.
 */
import { accountOf, makeTranslate } from './common';
import { eventIdOf, shapePayload } from './lib/events';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { makeMatcher } from './lib/filters';
import { BalanceSheetTracker } from './lib/account';
import {
  isZeroBalance,
  normalizeAccountPosition,
  normalizeMarginCall,
  renderBalanceSheet,
  type Balance,
  type BalanceSheet,
  type Payload,
} from './lib/normalize';
import type { UserDataEvent } from './lib/types';

const TYPE = 'binance-account-position';
const EVENT_TYPES = new Set(['outboundAccountPosition', 'ACCOUNT_UPDATE']);

interface AccountPositionDef extends NodeDef {
  account?: string;
  output?: string;
  assets?: string;
  hideZero?: boolean;
  includeMarginCall?: boolean;
  numbers?: boolean;
  isoTimes?: boolean;
  showLastEvent?: boolean;
}

/** The distinct values, comma separated, in first-seen order: the `msg.topic` of a multi-asset event. */
function joined(values: Array<unknown>): string {
  return [...new Set(values.filter((v): v is string => typeof v === 'string' && v !== ''))].join(',');
}


export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);

  function BinanceAccountPositionNode(this: Node, def: AccountPositionDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const account = accountOf(RED, node, def.account, TYPE, t);
    if (!account) return;
    const snapshotMode = def.output === 'snapshot';
    const shape = { numbers: def.numbers === true, isoTimes: def.isoTimes === true };
    const hideZero = def.hideZero === true;
    const assetMatch = makeMatcher(def.assets);

    /** `e`: the event the message comes from (absent for the REST-loaded snapshot): gives msg.eventId. */
    const send = (topic: string, eventType: string, payload: Payload, raw: unknown, e?: UserDataEvent): void => {
      const msg: NodeMessage = {
        topic,
        payload: shapePayload(payload, shape),
        eventType,
        market: account.market,
        account: account.accountLabel,
        raw,
      };
      if (e) msg.eventId = eventIdOf(e);
      if (e?.recovered) msg.recovered = true;
      node.send(msg);
    };

    // ---- snapshot mode: the balance sheet, kept current by the core
    const stream = account.getStream();
    const tracker = snapshotMode && stream ? new BalanceSheetTracker({ stream, market: account.market, symbol: account.symbol }) : undefined;
    const render = (sheet: BalanceSheet): Payload => renderBalanceSheet(sheet, { assetMatch: (a) => assetMatch(a), hideZero });
    tracker?.on('update', (u) => send('snapshot', u.eventType, render(u.sheet), u.raw, u.event));
    tracker?.on('failed', (err) => node.error(t(`${TYPE}.errors.snapshot-failed`, { reason: account.redact(err instanceof Error ? err.message : String(err)) })));

    const onEvent = (e: UserDataEvent): void => {
      if (!EVENT_TYPES.has(e.eventType) && e.eventType !== 'MARGIN_CALL') return;
      try {
        if (e.eventType === 'MARGIN_CALL') {
          if (def.includeMarginCall === true) {
            account.accepted?.(e);
            const mc = normalizeMarginCall(e.raw);
            // topic: the symbols of the positions at risk
            send(joined((Array.isArray(mc.positions) ? (mc.positions as Payload[]) : []).map((x) => x.symbol)), 'MARGIN_CALL', mc, e.raw, e);
          }
          return;
        }
        account.accepted?.(e);
        const p = normalizeAccountPosition(e.raw);
        if (snapshotMode) {
          tracker?.apply(e, p);
          return;
        }
        const balances = (Array.isArray(p.balances) ? (p.balances as Balance[]) : [])
          .filter((b) => assetMatch(b.asset))
          .filter((b) => !hideZero || !isZeroBalance(b));
        const positions = Array.isArray(p.positions) ? (p.positions as Payload[]) : undefined;
        if (balances.length === 0 && (!positions || positions.length === 0)) return;
        // topic: the position symbols (futures), else the assets, comma separated
        const topic = positions && positions.length > 0 ? joined(positions.map((x) => x.symbol)) : joined(balances.map((b) => b.asset));
        send(topic, e.eventType, { ...p, balances }, e.recovered && e.restRecord ? e.restRecord : e.raw, e);
      } catch (err) {
        node.error(account.redact(`cannot handle ${e.eventType}: ${err instanceof Error ? err.message : String(err)}`));
      }
    };
    // Events from the account's reliable stream (live + recovered, de-duplicated).
    stream?.on('event', onEvent);
    account.register(node, { showLastEvent: def.showLastEvent === true });
    tracker?.start();

    node.on('close', (removed: boolean, done: () => void) => {
      tracker?.stop();
      stream?.removeListener('event', onEvent);
      account.deregister(node, done, removed);
    });
  }

  RED.nodes.registerType(TYPE, BinanceAccountPositionNode);
};
