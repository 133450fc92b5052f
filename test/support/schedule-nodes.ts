/**
 * Two small node types for tests that drive our nodes through Node-RED deploys:
 *
 *  - `schedule-sink`: records every message it receives (`control.onInput(id, msg)`), without the
 *    per-instance listener that `collect()` needs. A sink restarted by a deploy keeps recording,
 *    so nothing sent between a node's start and a test's re-attach is missed.
 *  - `schedule-slow-close`: a node whose close is asynchronous and takes `control.closeDelayMs(id)`
 *    ms (on the timer functions in use, so a fake clock can move it), as MQTT, TCP, database and
 *    file nodes close. `control.onClose(id)` runs at the start of its close: the moment Node-RED
 *    is stopping the nodes of a deploy (a test makes fills then).
 */
import type { Node, NodeAPI, NodeDef } from 'node-red';

export interface RuntimeNodesControl {
  onInput?: (nodeId: string, msg: Record<string, unknown>) => void;
  /** Close delay of a slow node (ms; 0 or undefined: closes at once). */
  closeDelayMs: Map<string, number>;
  /** Runs when a slow node starts to close. */
  onClose?: (nodeId: string) => void;
}

export const runtimeNodesControl: RuntimeNodesControl = { closeDelayMs: new Map() };

/** Node initializer registering `schedule-sink` and `schedule-slow-close` (pass it to helper.load). */
export function runtimeTestNodes(RED: NodeAPI): void {
  function Sink(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const id = def.id;
    this.on('input', (msg: unknown) => runtimeNodesControl.onInput?.(id, msg as Record<string, unknown>));
  }
  function SlowClose(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const id = def.id;
    this.on('close', (_removed: boolean, done: () => void) => {
      runtimeNodesControl.onClose?.(id);
      const ms = runtimeNodesControl.closeDelayMs.get(id) ?? 0;
      if (ms > 0) setTimeout(done, ms);
      else done();
    });
  }
  RED.nodes.registerType('schedule-sink', Sink);
  RED.nodes.registerType('schedule-slow-close', SlowClose);
}
