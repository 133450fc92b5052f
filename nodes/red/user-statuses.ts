/**
 * The account node's consumers and the status each shows (fanned out on every state change; with
 * "show last event", refreshed on events when the text changes).
 */
import type { AccountUser } from './account-contract';
import type { NodeStatus } from './account-status';

interface UserRecord {
  user: AccountUser;
  showLastEvent: boolean;
  lastText?: string;
}

export class UserStatuses {
  private readonly records = new Map<string, UserRecord>();
  /** The consumers by id (the `users` map of the account node, MQTT broker style). */
  readonly users: Record<string, AccountUser> = {};

  /** `statusOf(showLastEvent)`: the status to show now. */
  constructor(private readonly statusOf: (showLastEvent: boolean) => NodeStatus) {}

  add(user: AccountUser, showLastEvent: boolean): void {
    const rec: UserRecord = { user, showLastEvent };
    this.records.set(user.id, rec);
    this.users[user.id] = user;
    this.push(rec);
  }

  remove(id: string): void {
    this.records.delete(id);
    delete this.users[id];
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  clear(): void {
    this.records.clear();
  }

  /** The state changed: every consumer shows it. */
  pushAll(): void {
    for (const rec of this.records.values()) this.push(rec);
  }

  /** An event came: the consumers showing the last event's time update when their text changes. */
  pushLastEvent(): void {
    for (const rec of this.records.values()) if (rec.showLastEvent) this.push(rec, false);
  }

  private push(rec: UserRecord, force = true): void {
    const s = this.statusOf(rec.showLastEvent);
    if (!force && s.text === rec.lastText) return;
    rec.lastText = s.text;
    try {
      rec.user.status(s);
    } catch {
      // a closed node: nothing to show
    }
  }
}
