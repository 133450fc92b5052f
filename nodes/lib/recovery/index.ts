/**
 * Gap recovery and delivery, as a folder of small modules:
 *  - ledger.ts       which fills were delivered; where a recovery resumes (cursors, I1/I4)
 *  - rest-rows.ts    REST paths per market; REST rows → events
 *  - gap-recovery.ts what a recovery fetches after a gap (a batch + cursor commits)
 *  - books.ts        the trade histories read (portfolio margin: three) and symbol naming
 *  - live-tracking.ts symbols, last event time and open orders seen live
 *  - symbol-fills.ts one symbol's fills from its cursor; trade-pages.ts the paging
 *  - open-orders.ts  open orders reconciled after a gap
 *  - delivery.ts     the live/recovered merge: holding (bounded, I2), de-duplication, commits
 *  - dedupe.ts       identity keys of non-fill events (bounded window)
 * Invariants I1–I5: docs/recovery.md.
 */
export * from './ledger';
export {
  apiFor,
  fillEventFromRow,
  orderStateEventFromRow,
  algoStateEventFromRow,
  balanceEventFromAccount,
  type MarketApi,
} from './rest-rows';
export * from './gap-recovery';
export { fillIdentity, type Book } from './books';
export * from './delivery';
export * from './dedupe';
