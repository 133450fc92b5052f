/**
 * Runtime events our nodes follow, with one listener per Node-RED runtime: `flows:started` for all
 * our nodes (one per node would trip Node's MaxListenersExceededWarning from the 11th node; it
 * calls the handlers of the live ones), the stop phase of a deploy (flows:stopping → flows:stopped,
 * which lasts as long as the slowest close), and a stop that no deploy follows.
 *
 * Node-RED passes a sent message on one turn later (`setImmediate`, unless `runtimeSyncDelivery`),
 * and a deploy's stop closes its nodes synchronously at flows:stopping: a message still on its way
 * to a node that this stop closes is dropped. A next deploy can begin its stop in the very chain of
 * promises that ends a deploy's start (back-to-back deploys; the admin API answers before the start
 * phase ends), so what our nodes send *at* flows:started could meet it. `onDeployStarted` therefore
 * runs one turn later, and not at all when a stop phase began meanwhile (that deploy's own start
 * takes over): events kept for restarted consumers leave only when no stop can be waiting in line
 * before Node-RED has passed them on (I6, docs/recovery.md; issue 21 attack C4).
 */
import type { NodeAPI } from 'node-red';

type Events = NodeAPI['events'];
const handlersOf = new WeakMap<Events, { handlers: Set<() => void>; listener: () => void }>();

/** Calls `handler` on every `flows:started` until the returned function is called. */
export function onFlowsStarted(RED: NodeAPI, handler: () => void): () => void {
  const events = RED.events;
  let entry = handlersOf.get(events);
  if (!entry) {
    const handlers = new Set<() => void>();
    const listener = (): void => {
      for (const h of [...handlers]) {
        try {
          h();
        } catch {
          // one node's handler must not keep the others from running
        }
      }
    };
    entry = { handlers, listener };
    handlersOf.set(events, entry);
  }
  const e = entry;
  if (e.handlers.size === 0) events.on('flows:started', e.listener);
  e.handlers.add(handler);
  return () => {
    if (!e.handlers.delete(handler)) return;
    if (e.handlers.size === 0) events.removeListener('flows:started', e.listener);
  };
}

/** Stop phases begun (flows:stopping) per runtime, to tell whether one began since a given moment. */
const stopsOf = new WeakMap<Events, { n: number }>();
function stopCounter(events: Events): { n: number } {
  let c = stopsOf.get(events);
  if (!c) {
    const counter = { n: 0 };
    events.on('flows:stopping', () => {
      counter.n++;
    });
    stopsOf.set(events, counter);
    c = counter;
  }
  return c;
}

/**
 * Runs `fn` on Node-RED's next delivery turn (after the messages sent until now were passed on),
 * unless a deploy's stop phase begins before it: then that deploy's start takes over.
 */
export function afterDeliveryTurn(RED: NodeAPI, fn: () => void): void {
  const stops = stopCounter(RED.events);
  const seen = stops.n;
  setImmediate(() => {
    if (stops.n !== seen) return;
    try {
      fn();
    } catch {
      // never throw out of a timer
    }
  });
}

/**
 * Calls `handler` once every deploy has started its nodes and Node-RED's delivery turn after
 * flows:started passed with no new stop phase begun (see the header), until the returned function
 * is called. A deploy followed at once by another: only the last one's start calls it.
 */
export function onDeployStarted(RED: NodeAPI, handler: () => void): () => void {
  stopCounter(RED.events);
  let on = true;
  const stop = onFlowsStarted(RED, () => afterDeliveryTurn(RED, () => on && handler()));
  return () => {
    on = false;
    stop();
  };
}

const stopWatched = new WeakSet<object>();

/** What the runtime does around a deploy, as our nodes follow it. */
export interface RuntimePhases {
  /** A deploy (or a stop) begins closing nodes (flows:stopping). */
  stopping(): void;
  /** Every close of that stop phase finished or timed out (flows:stopped). */
  stopped(): void;
  /**
   * The deploy has started its nodes (runtime-state `start`, right after flows:started), called a
   * delivery turn later and only when no stop phase began meanwhile (afterDeliveryTurn).
   */
  started(): void;
  /** The runtime stopped without a new deploy (shutdown, "stop flows"). */
  stop(): void;
}

/**
 * Follows the phases of the runtime's deploys and stops, once per runtime however often it is
 * asked (the module may be registered again, e.g. by the test helper): flows:stopping,
 * flows:stopped, the runtime-state `start` that follows flows:started, and a runtime-state `stop`
 * that no deploy follows.
 */
export function onceOnRuntimePhases(RED: NodeAPI, phases: RuntimePhases): void {
  if (stopWatched.has(RED.events)) return;
  stopWatched.add(RED.events);
  const guarded = (fn: () => void) => (): void => {
    try {
      fn();
    } catch {
      // never throw into the runtime's event emitter
    }
  };
  RED.events.on('flows:stopping', guarded(phases.stopping));
  RED.events.on('flows:stopped', guarded(phases.stopped));
  stopCounter(RED.events);
  const stop = guarded(phases.stop);
  const started = (): void => afterDeliveryTurn(RED, guarded(phases.started));
  // The runtime's state, not flows:started: that one keeps a single listener, present only while
  // account nodes exist (onFlowsStarted; they call the same idempotent `started` work there).
  RED.events.on('runtime-event', (ev: { id?: string; payload?: { state?: string; deploy?: boolean } }) => {
    if (ev?.id !== 'runtime-state') return;
    if (ev.payload?.state === 'stop' && !ev.payload.deploy) stop();
    else if (ev.payload?.state === 'start') started();
  });
}
