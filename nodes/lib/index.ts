/**
 * The core's public API, for every adapter (Node-RED in nodes/*.ts, n8n): open an account with
 * `openAccountStream`, check a key with `checkKey`, keep a balance sheet with
 * `BalanceSheetTracker`, and turn events into payloads with the event API. Nothing here imports a
 * framework. Map of the parts: docs/architecture.md.
 */
export * from './account';
export * from './types';
export { normalizePem, type CredentialsInput } from './exchange/credentials';
export * from './normalize';
export * from './events/filters';
export { ConsumptionTracker, type UnconsumedReport } from './events/unconsumed';
export { MemoryStateStore, parsePersistedState, type PersistedRecoveryState, type StateStore } from './recovery/persistence';
export { endAllGraces, endUnadoptedGraces, type RecoveryReport, type ReliableState, type ReliableStateChange, type ReliableStream } from './stream/reliable-stream';
export type { RecoveryStats } from './recovery';
export { errText, isObj } from './util';
