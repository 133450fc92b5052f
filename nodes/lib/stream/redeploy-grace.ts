/**
 * The redeploy grace of a reliable stream: when its last user (account node) releases it, the
 * stream is kept so that a redeploy of an unchanged account adopts it — no reconnect, no gap, no
 * REST call. Meanwhile the manager is held by a grace consumer and the delivery pipeline is paused
 * (events wait for the new nodes, nothing is recorded as delivered: I6).
 *
 * How long: a host that tells its deploys (Node-RED: `deployStopping()` at flows:stopping,
 * `deployStopped()` at flows:stopped) keeps the grace through the whole deploy, however long its
 * nodes take to close and however long it takes to start them again; the grace ends when the
 * deploy has started its nodes (`endUnadoptedGraces()`; Node-RED: flows:started) for a stream
 * nobody adopted, or when the runtime stops without a deploy (`endAllGraces()`; Node-RED also says
 * so when a deploy cannot start its flows: missing types or modules). `graceMs` is only a
 * fallback, counted from the deploy's start — or from the release when the host tells no deploy
 * (n8n, direct use). Counted from the end of the stop phase, it ended the grace of a deploy whose
 * start phase lasted longer, and the events it kept were lost (runtime schedule seed 7205: recovery
 * switched off, so nothing recovered them).
 *
 * An adoption resumes the pipeline when the adapter says the new nodes listen (`resume()`;
 * Node-RED: flows:started), or RESUME_FALLBACK_MS after it when the host tells no deploy.
 */
import type { Logger } from '../types';
import { errText } from '../util';
import type { StreamManager } from './stream-manager';

export const DEFAULT_RELEASE_GRACE_MS = 10_000;
/** After an adoption outside a told deploy, kept events leave at the latest this long after it. */
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
/** The host's deploy, as it told it: `stopping` from its stop phase on, until its nodes started. */
let deployPhase: 'none' | 'stopping' | 'starting' = 'none';
/** What waits for the told deploy to have started its nodes (whenDeployStarted). */
const atDeployStarted: Array<() => void> = [];

/**
 * Runs `fn` once the deploy the host told has started its nodes (`endUnadoptedGraces()`) or the
 * runtime stopped (`endAllGraces()`); at once when no deploy is told. E.g. a closed account handle's
 * consumers that a deploy restarts stay away until then (I6).
 */
export function whenDeployStarted(fn: () => void): void {
  if (deployPhase === 'none') fn();
  else atDeployStarted.push(fn);
}

function runDeployStarted(): void {
  for (const fn of atDeployStarted.splice(0)) {
    try {
      fn();
    } catch {
      // one waiter must not keep the others from running
    }
  }
}

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
    return running.has(this);
  }

  /** The last user released the stream: keep it. Synchronous, so the manager is held at once. */
  begin(): void {
    this.host.pause();
    this.clearResume();
    if (running.has(this)) {
      // still running from an earlier adoption: its fallback counted from then and would end this
      // new grace early, in the middle of the next deploy's stop phase (generated runtime
      // schedule seed 1207: two deploys within 10 s, the second with a 9 s close, lost a fill)
      this.clearFallback();
      if (deployPhase === 'none') this.armFallback();
      return;
    }
    this.host.manager.acquire(GRACE_CONSUMER);
    running.add(this);
    // In a told deploy the fallback waits for its start (endUnadoptedGraces()).
    if (deployPhase === 'none') this.armFallback();
  }

  /** A new user adopted the stream during the grace: resume soon at the latest (no told deploy). */
  adopt(): void {
    if (!this.active) return;
    this.host.logger?.debug('stream adopted by a redeployed account node');
    if (deployPhase === 'none' && this.resumeTimer === undefined) this.resumeTimer = setTimeout(() => this.resume(), RESUME_FALLBACK_MS);
  }

  /** The adopting flow's nodes listen: kept events leave now, and the grace is over. */
  resume(): void {
    this.clearResume();
    if (!this.host.adopted()) return;
    this.host.resume();
    if (running.delete(this)) {
      this.clearFallback();
      void this.host.manager.release(GRACE_CONSUMER).catch((err: unknown) => this.host.logger?.warn(`release failed: ${errText(err)}`));
    }
  }

  /** Ends the grace now: closes the stream unless it was adopted, then lets the manager go. Never rejects. */
  async end(): Promise<void> {
    this.clearFallback();
    if (!running.delete(this)) return;
    try {
      // Adopted, but no resume() came by now: the new users listen (or never will).
      if (this.host.adopted()) this.resume();
      else await this.host.close();
      await this.host.manager.release(GRACE_CONSUMER);
    } catch (err) {
      this.host.logger?.warn(`release failed: ${errText(err)}`);
    }
  }

  /** The stream closes by itself: drop the grace and its timers. */
  cancel(): void {
    this.clearResume();
    this.clearFallback();
    if (!running.delete(this)) return;
    void this.host.manager.release(GRACE_CONSUMER).catch(() => undefined);
  }

  /**
   * The stream hands over to a new one on the same manager, whose grace takes over the manager's
   * grace consumer (the same id): drop this grace without letting the manager go.
   */
  handOff(): void {
    this.clearResume();
    this.clearFallback();
    running.delete(this);
  }

  /** Arms the fallback end of the grace (idempotent). */
  armFallback(): void {
    if (this.graceTimer !== undefined || !running.has(this)) return;
    this.graceTimer = setTimeout(() => void this.end(), this.graceMs);
    // A grace never keeps a process alive.
    if (typeof this.graceTimer === 'object' && 'unref' in this.graceTimer) this.graceTimer.unref();
  }

  private clearFallback(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  private clearResume(): void {
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }
}

/**
 * The host begins a deploy's stop phase (Node-RED: flows:stopping): graces begun from now on keep
 * their stream however long the nodes take to close; their fallback waits for `deployStopped()`.
 */
export function deployStopping(): void {
  deployPhase = 'stopping';
}

/**
 * The stop phase ended (Node-RED: flows:stopped, after every close): the deploy starts its nodes
 * now, however long that takes (a start may install missing modules first); the graces wait for it
 * (`endUnadoptedGraces()`), their fallbacks count from then.
 */
export function deployStopped(): void {
  if (deployPhase === 'stopping') deployPhase = 'starting';
}

/**
 * A deploy has started all its nodes: a stream kept for it that no account node adopted never will
 * be (another key, URL or market, or the account is gone), so it closes now instead of when its
 * grace ends. Adopted graces run on until their fallback (the adapter resumes them). Never rejects.
 */
export async function endUnadoptedGraces(): Promise<void> {
  deployPhase = 'none';
  runDeployStarted();
  for (const g of running) g.armFallback();
  await Promise.all([...running].filter((g) => !g.isAdopted).map((g) => g.end()));
}

/**
 * Ends every redeploy grace now (the runtime stops without a new deploy, e.g. shutdown): streams
 * that were not adopted close at once. Never rejects.
 */
export async function endAllGraces(): Promise<void> {
  deployPhase = 'none';
  runDeployStarted();
  await Promise.all([...running].map((g) => g.end()));
}
