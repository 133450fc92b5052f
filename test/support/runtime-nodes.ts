/**
 * Node types for runtime tests (issue 21), registered next to ours with `helper.load`:
 *
 *  - `test-sink`: records every message it receives in `sunk(id)` (and in `arrivals()`, all sinks
 *    in one order; and tells `runtimeNodesControl.onReceive`). The record lives outside the node, so it survives the node's restart by a
 *    deploy (a helper node's listeners do not): nothing sent between a node's start and a test's
 *    re-attach is missed.
 *  - `test-slow-close`: a node whose close is asynchronous and takes `closeMs` ms, as MQTT, TCP,
 *    database and file nodes close (Node-RED waits for them, up to its 15 s close timeout). The
 *    time is `runtimeNodesControl.closeDelayMs.get(id)` where set (decided at the close), else the
 *    node's `closeMs` property; it runs on the timer functions in use, so a fake clock moves it.
 *    The start of its close (the stop phase of a deploy that restarts it, or an unload) is told to
 *    `closeStarted(id)` (the next close) and to `runtimeNodesControl.onClose(id)` (every close).
 *    While `holdCloses(true)`, its close waits for the test instead (`closeHeld(id)`, `letClose(id)`).
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';

type Msg = Record<string, unknown>;

export interface RuntimeNodesControl {
  /** Close delay of a slow node by id (ms), overriding its `closeMs` property. */
  closeDelayMs: Map<string, number>;
  /** Runs when a slow node starts to close. */
  onClose?: (nodeId: string) => void;
  /** Runs when a sink receives a message (what the flow received, after Node-RED's routing). */
  onReceive?: (sinkId: string, msg: Msg) => void;
}

export const runtimeNodesControl: RuntimeNodesControl = { closeDelayMs: new Map() };

const sinks = new Map<string, Msg[]>();
const arrivalLog: Array<{ sink: string; msg: Msg }> = [];
const closeWaiters = new Map<string, Array<() => void>>();
const held = new Map<string, () => void>();
let fast = false;
let holding = false;

/** The messages every incarnation of the sink node `id` received, in order of arrival. */
export function sunk(id: string): Msg[] {
  let list = sinks.get(id);
  if (!list) {
    list = [];
    sinks.set(id, list);
  }
  return list;
}

/** Every message of every sink in one order of arrival (to tell what came before what). */
export function arrivals(): ReadonlyArray<{ sink: string; msg: Msg }> {
  return arrivalLog;
}

/** Forgets every recorded message (call between tests). */
export function clearSinks(): void {
  sinks.clear();
  arrivalLog.length = 0;
}

/** While on, slow-close nodes close at once (a test's clean-up need not wait for them). */
export function fastCloses(on: boolean): void {
  fast = on;
}

/** Resolves when the next close of the slow-close node `id` begins. */
export function closeStarted(id: string): Promise<void> {
  return new Promise((resolve) => {
    const list = closeWaiters.get(id) ?? [];
    list.push(resolve);
    closeWaiters.set(id, list);
  });
}

/**
 * While on, a slow-close node's close waits until the test calls `letClose(id)`; off lets every
 * held close finish.
 */
export function holdCloses(on: boolean): void {
  holding = on;
  if (on) return;
  for (const done of held.values()) done();
  held.clear();
}

/** True while the close of the slow-close node `id` is held (its close has begun). */
export function closeHeld(id: string): boolean {
  return held.has(id);
}

/** Lets the held close of the slow-close node `id` finish. */
export function letClose(id: string): void {
  const done = held.get(id);
  held.delete(id);
  done?.();
}

interface SlowCloseDef extends NodeDef {
  closeMs?: string | number;
}

/** Node initializer registering `test-sink` and `test-slow-close` (pass it to helper.load). */
export function testNodes(RED: NodeAPI): void {
  function TestSink(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const id = def.id;
    this.on('input', (msg: Msg, _send: unknown, done?: () => void) => {
      sunk(id).push(msg);
      arrivalLog.push({ sink: id, msg });
      runtimeNodesControl.onReceive?.(id, msg);
      done?.();
    });
  }
  function TestSlowClose(this: Node, def: SlowCloseDef): void {
    RED.nodes.createNode(this, def);
    const id = def.id;
    this.on('close', (_removed: boolean, done: () => void) => {
      const waiting = closeWaiters.get(id) ?? [];
      closeWaiters.delete(id);
      for (const w of waiting) w();
      runtimeNodesControl.onClose?.(id);
      if (holding) {
        held.set(id, done);
        return;
      }
      const ms = fast ? 0 : (runtimeNodesControl.closeDelayMs.get(id) ?? Number(def.closeMs ?? 0));
      if (ms > 0) setTimeout(done, ms);
      else done();
    });
  }
  RED.nodes.registerType('test-sink', TestSink);
  RED.nodes.registerType('test-slow-close', TestSlowClose);
}
