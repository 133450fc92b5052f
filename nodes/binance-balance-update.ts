/**
 * `binance-balance-update`: `balanceUpdate` (deposits, withdrawals, transfers), `externalLockUpdate`
 * and futures `ACCOUNT_UPDATE` with the reasons the user chose; one message per asset.
 */
import { accountOf, consume, eventMessage, guarded } from './red/data-node';
import { makeTranslate } from './red/translate';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { makeMatcher } from './lib/events/filters';
import {
  FUTURES_REASON_GROUPS,
  normalizeBalanceUpdates,
  type BalanceReasonGroup,
} from './lib/normalize';

import type { UserDataEvent } from './lib/types';

const TYPE = 'binance-balance-update';

interface BalanceUpdateDef extends NodeDef {
  account?: string;
  balanceUpdate?: boolean;
  externalLockUpdate?: boolean;
  deposit?: boolean;
  withdraw?: boolean;
  transfer?: boolean;
  fundingFee?: boolean;
  assets?: string;
  numbers?: boolean;
  isoTimes?: boolean;
  showLastEvent?: boolean;
}

export = function register(RED: NodeAPI): void {
  const t = makeTranslate(RED, TYPE);

  function BinanceBalanceUpdateNode(this: Node, def: BalanceUpdateDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const node = this;
    const account = accountOf(RED, node, def.account, TYPE, t);
    if (!account) return;
    // Checkboxes default to on, except funding fees (frequent, usually not wanted).
    const on = (v: boolean | undefined, dflt: boolean): boolean => (v === undefined ? dflt : v === true);
    const groups: Record<BalanceReasonGroup, boolean> = {
      deposit: on(def.deposit, true),
      withdraw: on(def.withdraw, true),
      transfer: on(def.transfer, true),
      fundingFee: on(def.fundingFee, false),
    };
    const wantBalanceUpdate = on(def.balanceUpdate, true);
    const wantExternalLock = on(def.externalLockUpdate, true);
    const assetMatch = makeMatcher(def.assets);
    const numbers = def.numbers === true;
    const isoTimes = def.isoTimes === true;

    const wanted = (e: UserDataEvent): boolean => {
      switch (e.eventType) {
        case 'balanceUpdate':
          return wantBalanceUpdate;
        case 'externalLockUpdate':
          return wantExternalLock;
        case 'ACCOUNT_UPDATE': {
          const a = e.raw.a as { m?: unknown } | undefined;
          const group = typeof a?.m === 'string' ? FUTURES_REASON_GROUPS[a.m] : undefined;
          return group !== undefined && groups[group];
        }
        default:
          return false;
      }
    };

    const onEvent = guarded(node, account, (e: UserDataEvent): void => {
      if (!wanted(e)) return;
      account.accepted?.(e);
      for (const { asset, payload } of normalizeBalanceUpdates(e.raw)) {
        // one futures ACCOUNT_UPDATE becomes one message per asset: the asset makes each eventId unique
        const subject = e.eventType === 'ACCOUNT_UPDATE' ? asset : undefined;
        if (assetMatch(asset)) node.send(eventMessage(account, e, asset, payload, { numbers, isoTimes, subject }));
      }
    });

    consume(RED, node, account, { event: onEvent }, { showLastEvent: def.showLastEvent === true });
  }

  RED.nodes.registerType(TYPE, BinanceBalanceUpdateNode);
};
