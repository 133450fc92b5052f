/**
 * Runtime events our nodes follow, with one listener per Node-RED runtime: `flows:started` for all
 * our nodes (one per node would trip Node's MaxListenersExceededWarning from the 11th node; it
 * calls the handlers of the live ones), the stop phase of a deploy (flows:stopping → flows:stopped,
 * which lasts as long as the slowest close), and a stop that no deploy follows.
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

const stopWatched = new WeakSet<object>();

/** What the runtime does around a deploy, as our nodes follow it. */
export interface RuntimePhases {
  /** A deploy (or a stop) begins closing nodes (flows:stopping). */
  stopping(): void;
  /** Every close of that stop phase finished or timed out (flows:stopped). */
  stopped(): void;
  /** The deploy has started its nodes (runtime-state `start`, right after flows:started). */
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
  const stop = guarded(phases.stop);
  const started = guarded(phases.started);
  // The runtime's state, not flows:started: that one keeps a single listener, present only while
  // account nodes exist (onFlowsStarted; they call the same idempotent `started` work there).
  RED.events.on('runtime-event', (ev: { id?: string; payload?: { state?: string; deploy?: boolean } }) => {
    if (ev?.id !== 'runtime-state') return;
    if (ev.payload?.state === 'stop' && !ev.payload.deploy) stop();
    else if (ev.payload?.state === 'start') started();
  });
}
