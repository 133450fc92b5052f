/**
 * The redeploy grace of a reliable stream: when its last user (account node) releases it, the
 * stream is kept `graceMs` so that a redeploy of an unchanged account adopts it — no reconnect,
 * no gap, no REST call. Meanwhile the manager is held by a grace consumer and the delivery
 * pipeline is paused (events wait for the new nodes). An adoption resumes the pipeline when the
 * adapter says the new nodes listen (`resume()`; Node-RED: flows:started), or after
 * RESUME_FALLBACK_MS. Without adoption the stream closes when the grace ends, or as soon as the
 * deploy has started its nodes (`endUnadoptedGraces()`; Node-RED: flows:started). A stop of the
 * runtime that no deploy follows ends every grace at once (`endAllGraces()`).
 */
import type { Logger } from '../types';
import { errText } from '../util';
import type { StreamManager } from './stream-manager';

export const DEFAULT_RELEASE_GRACE_MS = 10_000;
/** After an adoption, kept events leave at the latest this long after it (no resume() came). */
export const RESUME_FALLBACK_MS = 2_000;
/** The manager consumer that keeps the stream up during the grace. */
const GRACE_CONSUMER = '\u0000reliable-stream-grace';

/** What the grace needs from its stream. */
export interface GraceHost {
  readonly manager: StreamManager;
  /** True while some user holds the stream (it was adopted). */
  adopted(): boolean;
  /** Keep events (no consumer) / deliver them again. */
  pause(): void;
  resume(): void;
  /** Closes the stream (no adoption came). */
  close(): Promise<void>;
  readonly logger?: Logger;
}

/** Graces running now. */
const running = new Set<RedeployGrace>();

export class RedeployGrace {
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly host: GraceHost,
    readonly graceMs: number = DEFAULT_RELEASE_GRACE_MS,
  ) {}

  /** True once a new user holds the stream. */
  get isAdopted(): boolean {
    return this.host.adopted();
  }

  /** True while the grace runs (the stream waits for an adoption). */
  get active(): boolean {
    return this.graceTimer !== undefined;
  }

  /** The last user released the stream: keep it. Synchronous, so the manager is held at once. */
  begin(): void {
    this.host.pause();
    this.clearResume();
    if (this.graceTimer !== undefined) return;
    this.host.manager.acquire(GRACE_CONSUMER);
    running.add(this);
    this.graceTimer = setTimeout(() => void this.end(), this.graceMs);
    // A grace never keeps a process alive.
    if (typeof this.graceTimer === 'object' && 'unref' in this.graceTimer) this.graceTimer.unref();
  }

  /** A new user adopted the stream during the grace: resume soon at the latest. */
  adopt(): void {
    if (!this.active) return;
    this.host.logger?.debug('stream adopted by a redeployed account node');
    if (this.resumeTimer === undefined) this.resumeTimer = setTimeout(() => this.resume(), RESUME_FALLBACK_MS);
  }

  /** The adopting flow's nodes listen: kept events leave now. */
  resume(): void {
    this.clearResume();
    if (this.host.adopted()) this.host.resume();
  }

  /** Ends the grace now: closes the stream unless it was adopted, then lets the manager go. Never rejects. */
  async end(): Promise<void> {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (!running.delete(this)) return;
    try {
      if (!this.host.adopted()) await this.host.close();
      await this.host.manager.release(GRACE_CONSUMER);
    } catch (err) {
      this.host.logger?.warn(`release failed: ${errText(err)}`);
    }
  }

  /** The stream closes by itself: drop the grace and its timers. */
  cancel(): void {
    this.clearResume();
    if (this.graceTimer === undefined) return;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    running.delete(this);
    void this.host.manager.release(GRACE_CONSUMER).catch(() => undefined);
  }

  private clearResume(): void {
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }
}

/**
 * A deploy has started all its nodes: a stream kept for it that no account node adopted never will
 * be (another key, URL or market, or the account is gone), so it closes now instead of when its
 * grace ends. Adopted graces run on as before. Never rejects.
 */
export async function endUnadoptedGraces(): Promise<void> {
  await Promise.all([...running].filter((g) => !g.isAdopted).map((g) => g.end()));
}

/**
 * Ends every redeploy grace now (the runtime stops without a new deploy, e.g. shutdown): streams
 * that were not adopted close at once. Never rejects.
 */
export async function endAllGraces(): Promise<void> {
  await Promise.all([...running].map((g) => g.end()));
}
