/**
 * The recovery cursors (core `PersistedRecoveryState`) kept in the workflow's static data of the
 * trigger node (`getWorkflowStaticData('node')`).
 *
 * How n8n persists it (checked 2026-12-01 in n8n 2.40.7's packages/cli: workflow-static-data.service,
 * workflows/triggers/trigger-execution-context.factory and workflow-trigger-activator): the object is observed; a change marks it
 * `__dataChanged`, and the whole static data of the workflow is written to the database
 * when the trigger emits (before the execution runs), after activation, and when
 * a reactivation after a failure succeeds. Nothing is written on deactivation or shutdown, and
 * writes are not awaited by emit(). Known problems: static data is not saved for manual (test)
 * runs; a workflow whose other nodes also change static data overwrites it last-writer-wins
 * (n8n issue #6564 "`getWorkflowStaticData` doesn't always save"). So what the database holds
 * is the state as of the last emitted event, and a restart recovers from there (fills delivered
 * after it can come again: across a restart delivery is at least once, as with Node-RED).
 */
import { parsePersistedState, type PersistedRecoveryState, type StateStore } from '../../../nodes/lib';

/** Key of the cursors in the node's static data. */
export const STATIC_DATA_KEY = 'binanceUserStreamRecovery';

export class StaticDataStore implements StateStore {
  constructor(private readonly data: Record<string, unknown>) {}

  async get(): Promise<PersistedRecoveryState | undefined> {
    return parsePersistedState(this.data[STATIC_DATA_KEY]);
  }

  async set(s: PersistedRecoveryState): Promise<void> {
    // a plain JSON copy: n8n stores static data as JSON, and later changes must be seen as changes
    this.data[STATIC_DATA_KEY] = JSON.parse(JSON.stringify(s)) as unknown;
  }
}
