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
 * (n8n issue #6564 "`getWorkflowStaticData` doesn't always save").
 *
 * So the trigger writes the state through (`saveNow()`) just before each emit and once after
 * activation, besides the core's own writes (after a delivery, so after the emit, and every 5 s):
 * what n8n saves with an emit then holds the cursors up to and including the emitted event, and
 * never one that was not emitted (the core counts an event delivered only once it reaches the
 * trigger, which emits it at once). A deactivation or a restart then recovers from exactly what
 * was emitted; only a crash around n8n's save (or a lost write, above) loses or repeats more.
 */
import { parsePersistedState, type PersistedRecoveryState, type StateStore } from '../../../nodes/lib';

/** Key of the cursors in the node's static data. */
export const STATIC_DATA_KEY = 'binanceUserStreamRecovery';

/** What `saveNow()` reads: the core's recovery state (GapRecovery). */
export interface RecoveryStateSource {
  snapshot(): PersistedRecoveryState;
  /** Increases whenever `snapshot()` would change. */
  readonly revision: number;
}

export class StaticDataStore implements StateStore {
  private savedRevision: number | undefined;
  /** The saved state was read: saveNow() may write (before, it would replace unread cursors). */
  private read = false;

  constructor(private readonly data: Record<string, unknown>) {}

  async get(): Promise<PersistedRecoveryState | undefined> {
    const s = parsePersistedState(this.data[STATIC_DATA_KEY]);
    this.read = true;
    return s;
  }

  async set(s: PersistedRecoveryState): Promise<void> {
    this.write(s);
  }

  /**
   * Writes the core's state into static data now, synchronously, if it changed since the last
   * saveNow(). The trigger calls it just before each emit (n8n saves static data with the emit)
   * and once after activation (n8n saves it then), so the database holds the cursors up to the
   * last emitted event: the core counts an event delivered (and its state may claim it) only
   * once it is handed to the trigger, which emits it at once. Never throws.
   */
  saveNow(source: RecoveryStateSource): void {
    try {
      const rev = source.revision;
      if (!this.read || rev === this.savedRevision) return;
      this.write(source.snapshot());
      this.savedRevision = rev;
    } catch {
      // the core's own writes (StatePersister) still run and log their failures
    }
  }

  private write(s: PersistedRecoveryState): void {
    // a plain JSON copy: n8n stores static data as JSON, and later changes must be seen as changes
    this.data[STATIC_DATA_KEY] = JSON.parse(JSON.stringify(s)) as unknown;
  }
}
