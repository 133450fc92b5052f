/**
 * The account: plain settings checked once (settings.ts), the one entry point `openAccountStream`
 * (account-stream.ts), the key check behind "Test connection" (key-check.ts) and the balance sheet
 * kept current (balance-sheet.ts).
 */
export * from './settings';
export * from './account-stream';
export * from './key-check';
export * from './balance-sheet';
