/**
 * `binance-account-position`: `outboundAccountPosition` (spot/margin) and futures `ACCOUNT_UPDATE`
 * as balance / position changes (optionally futures `MARGIN_CALL` too), or (output 'snapshot') the
 * whole balance sheet, kept current by the core's BalanceSheetTracker (lib/account/balance-sheet.ts).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { shapePayload } from './lib/events';
import { makeMatcher } from './lib/events/filters';
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
import { errText } from './lib/util';
import { accountOf, consume, eventMessage, guarded } from './red/data-node';
import { makeTranslate } from './red/translate';

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

    const send = (topic: string, payload: Payload, e: UserDataEvent): void => node.send(eventMessage(account, e, topic, payload, shape));
    /** The sheet loaded over REST (no event: no eventId; raw is the REST answer). */
    const sendLoaded = (payload: Payload, raw: unknown): void =>
      node.send({ topic: 'snapshot', payload: shapePayload(payload, shape), eventType: 'snapshot', market: account.market, account: account.accountLabel, raw });

    // ---- snapshot mode: the balance sheet, kept current by the core
    const stream = account.getStream();
    const tracker = snapshotMode && stream ? new BalanceSheetTracker({ stream, market: account.market, symbol: account.symbol, accountRestBase: account.accountRestBase }) : undefined;
    const render = (sheet: BalanceSheet): Payload => renderBalanceSheet(sheet, { assetMatch: (a) => assetMatch(a), hideZero });
    tracker?.on('update', (u) => (u.event ? send('snapshot', render(u.sheet), u.event) : sendLoaded(render(u.sheet), u.raw)));
    tracker?.on('failed', (err) => node.error(t(`${TYPE}.errors.snapshot-failed`, { reason: account.redact(errText(err)) })));

    const onEvent = guarded(node, account, (e: UserDataEvent): void => {
      if (e.eventType === 'MARGIN_CALL') {
        if (def.includeMarginCall !== true) return;
        account.accepted?.(e);
        const mc = normalizeMarginCall(e.raw);
        // topic: the symbols of the positions at risk
        send(joined((Array.isArray(mc.positions) ? (mc.positions as Payload[]) : []).map((x) => x.symbol)), mc, e);
        return;
      }
      if (!EVENT_TYPES.has(e.eventType)) return;
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
      send(topic, { ...p, balances }, e);
    });
    consume(RED, node, account, { event: onEvent }, { showLastEvent: def.showLastEvent === true, onClose: () => tracker?.stop() });
    tracker?.start();
  }

  RED.nodes.registerType(TYPE, BinanceAccountPositionNode);
};
