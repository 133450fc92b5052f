/**
 * Node types for runtime tests (issue 21), registered next to ours with `helper.load`:
 *
 *  - `test-sink`: records every message it receives in `sunk(id)` (and in `arrivals()`, all sinks
 *    in one order). The record lives outside the node, so it survives the node's restart by a
 *    deploy (a helper node's listeners do not).
 *  - `test-slow-close`: a node whose close takes `closeMs` (property, ms), as MQTT, TCP, database
 *    and file nodes close asynchronously (Node-RED waits for them, up to its 15 s close timeout).
 *    `closeStarted(id)` resolves when its next close begins, i.e. when the stop phase of a deploy
 *    that restarts it is under way.
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';

type Msg = Record<string, unknown>;

const sinks = new Map<string, Msg[]>();
const arrivalLog: Array<{ sink: string; msg: Msg }> = [];
const closeWaiters = new Map<string, Array<() => void>>();
let fast = false;

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

interface SlowCloseDef extends NodeDef {
  closeMs?: string | number;
}

export function testNodes(RED: NodeAPI): void {
  function TestSink(this: Node, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const id = this.id;
    this.on('input', (msg: Msg, _send: unknown, done?: () => void) => {
      sunk(id).push(msg);
      arrivalLog.push({ sink: id, msg });
      done?.();
    });
  }
  function TestSlowClose(this: Node, def: SlowCloseDef): void {
    RED.nodes.createNode(this, def);
    const ms = Number(def.closeMs ?? 0);
    const id = this.id;
    this.on('close', (_removed: boolean, done: () => void) => {
      const waiting = closeWaiters.get(id) ?? [];
      closeWaiters.delete(id);
      for (const w of waiting) w();
      if (fast) done();
      else setTimeout(done, ms);
    });
  }
  RED.nodes.registerType('test-sink', TestSink);
  RED.nodes.registerType('test-slow-close', TestSlowClose);
}
