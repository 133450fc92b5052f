/**
 * Events and normalisation: Binance user-data events into readable payloads, and the message
 * fields every adapter adds (a stable eventId, ISO twins of the times, numbers on request).
 * Pure functions: no framework import, no I/O.
 *
 *  - fields.ts       raw value readers (dec, num, text, ...) and clean()
 *  - decimals.ts     exact decimal arithmetic on strings (averagePrice, zero checks)
 *  - orders.ts       order events → payloads
 *  - balances.ts     balance / position events → payloads
 *  - user-events.ts  the table of every event type we give a readable payload
 *  - numbers.ts      decimal strings → numbers on request (toNumbers)
 *  - event-id.ts     msg.eventId: the same id live, twice, or rebuilt from REST
 *  - shape.ts        ISO time twins and the payload as a consumer's options want it
 *
 * Conventions:
 *  - decimals stay strings exactly as the exchange sent them (a number that arrives
 *    as a JSON number is turned into its string form); `toNumbers()` converts the
 *    known decimal fields to numbers on request;
 *  - ids and times stay numbers (epoch ms);
 *  - absent fields are left out (no `undefined` keys in the payload), and nothing is
 *    invented for them: a field is derived only from raw fields that are present (events
 *    rebuilt from REST rows after a gap lack many keys);
 *  - spot `averagePrice` = cumulativeQuoteQuantity / cumulativeFilledQuantity, computed
 *    with exact integer arithmetic and rounded half-up to max(8, scale of Z) decimals,
 *    trailing zeros trimmed; it is "0" when nothing is filled (z present and 0), like the
 *    futures `ap` field, and absent when z or Z is absent.
 *
 */
export { isFutures, type Payload } from './fields';
export * from './decimals';
export * from './orders';
export * from './balances';
export * from './user-events';
export * from './numbers';
export * from './event-id';
export * from './shape';
