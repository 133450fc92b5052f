/**
 * Messages on their way (I6 at the flow's first hop; issue 21, runtime schedule seed 7205).
 *
 * Node-RED passes a sent message on one turn later (`setImmediate` in Flow.send, unless the
 * `runtimeSyncDelivery` setting is on), to the destination node object it looked up at the send.
 * A deploy's stop closes its nodes synchronously right after flows:stopping, and a closed node has
 * no input listener: a message our data node sent in the same turn as a deploy's stop (a frame
 * read in the same poll phase as the saved flow file's completion, or a burst still leaving) is
 * dropped on the way to every destination that stop closes, although our pipeline counted it as
 * delivered (the node took it). Node-RED's own nodes lose such messages too; ours must not lose a
 * fill.
 *
 * So each message a data node sends is followed one turn later by a check (our immediate runs
 * after Node-RED's, queued at the send): only while a stop began meanwhile (otherwise nothing was
 * at risk and the check costs a queue shift), it looks at each destination the message went to —
 * still listening (not closed by the stop, or closing asynchronously and still taking input):
 * received; not listening: dropped. A dropped message is handed, once the deploy has started its
 * nodes (one delivery turn after flows:started, as the events kept for restarted consumers:
 * flows-started.ts), to the node that now has that destination's id — provided the sending node
 * (by id) is still wired to it; otherwise the flow no longer wants it there.
 *
 * Whether a node takes input is read from Node-RED's node object (`_inputCallback`,
 * `_inputCallbacks`, the same in 4.1 and 5); a runtime without them is taken as having delivered
 * (the behaviour before this guard).
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { onDeployStarted } from './flows-started';

type Events = NodeAPI['events'];

interface Sent {
  /** Message per output, as given to node.send (an array of messages on one output is several). */
  outputs: Array<NodeMessage | NodeMessage[] | null | undefined>;
  /** Destination objects per output, looked up when a stop began while this was on its way. */
  at?: Array<Array<{ id: string; node: unknown }>>;
}

interface Sender {
  node: Node & { wires?: string[][] };
  queue: Sent[];
}

interface Redelivery {
  from: string;
  to: string;
  msg: NodeMessage;
}

interface Runtime {
  senders: Set<Sender>;
  redeliver: Redelivery[];
  onStopping: () => void;
  stopWatching?: () => void;
}

/** Per Node-RED runtime (one per process). */
const runtimes = new Map<Events, Runtime>();

function listening(n: unknown): boolean {
  if (typeof n !== 'object' || n === null) return false;
  const o = n as { _inputCallback?: unknown; _inputCallbacks?: unknown };
  // A runtime without these fields: cannot tell, so count it as delivered (never a duplicate).
  if (!('_inputCallback' in o) && !('_inputCallbacks' in o)) return true;
  return (o._inputCallback !== null && o._inputCallback !== undefined) || (o._inputCallbacks !== null && o._inputCallbacks !== undefined);
}

function syncDelivery(RED: NodeAPI): boolean {
  try {
    return (RED.settings as unknown as { runtimeSyncDelivery?: boolean }).runtimeSyncDelivery === true;
  } catch {
    return false;
  }
}

function runtimeOf(RED: NodeAPI): Runtime {
  let r = runtimes.get(RED.events);
  if (!r) {
    const rt: Runtime = {
      senders: new Set(),
      redeliver: [],
      onStopping: () => {
        // Before the stop closes anything: remember where each message on its way is going.
        for (const s of rt.senders) {
          if (s.queue.length === 0) continue;
          const wires = Array.isArray(s.node.wires) ? s.node.wires : [];
          const at = wires.map((ids) => (Array.isArray(ids) ? ids : []).map((id) => ({ id, node: RED.nodes.getNode(id) as unknown })));
          for (const sent of s.queue) sent.at ??= at;
        }
      },
    };
    RED.events.on('flows:stopping', rt.onStopping);
    runtimes.set(RED.events, rt);
    r = rt;
  }
  return r;
}

function flush(RED: NodeAPI, rt: Runtime): void {
  const list = rt.redeliver;
  rt.redeliver = [];
  for (const r of list) {
    const from = RED.nodes.getNode(r.from) as (Node & { wires?: string[][] }) | null;
    const stillWired = Array.isArray(from?.wires) && from.wires.some((ids) => Array.isArray(ids) && ids.includes(r.to));
    const to = RED.nodes.getNode(r.to) as (Node & { receive?: (m: NodeMessage) => void }) | null;
    if (!stillWired || !to || typeof to.receive !== 'function') continue;
    try {
      to.receive(r.msg);
    } catch {
      // the destination's own failure; the next ones still go
    }
  }
}

/**
 * Follows what `node` sends (see the header): wraps its `send`. Returns the function that stops
 * following it (its close); messages already known dropped are still handed over at the deploy's
 * start.
 */
export function followSends(RED: NodeAPI, node: Node): () => void {
  if (syncDelivery(RED)) return () => undefined; // delivered within send: nothing is ever on its way
  const rt = runtimeOf(RED);
  const sender: Sender = { node: node as Sender['node'], queue: [] };
  rt.senders.add(sender);
  if (!rt.stopWatching) rt.stopWatching = onDeployStarted(RED, () => flush(RED, rt));
  const original = node.send.bind(node);
  const check = (): void => {
    const sent = sender.queue.shift();
    if (!sent?.at) return;
    // Node-RED's delivery of this message ran before this check (queued first, at the send).
    sent.at.forEach((dests, i) => {
      const out = sent.outputs[i];
      if (out === null || out === undefined) return;
      const msgs = Array.isArray(out) ? out : [out];
      for (const d of dests) {
        if (listening(d.node)) continue;
        for (const m of msgs) if (m) rt.redeliver.push({ from: node.id, to: d.id, msg: RED.util.cloneMessage(m) });
      }
    });
  };
  node.send = (msg?: NodeMessage | Array<NodeMessage | NodeMessage[] | null>): void => {
    original(msg as NodeMessage);
    if (msg === undefined || msg === null) return;
    sender.queue.push({ outputs: Array.isArray(msg) ? msg : [msg] });
    setImmediate(check);
  };
  return () => {
    rt.senders.delete(sender);
    if (rt.senders.size === 0 && rt.redeliver.length === 0) {
      rt.stopWatching?.();
      rt.stopWatching = undefined;
    }
  };
}

/**
 * Forgets every runtime's messages on their way and stops following its deploys: what a new process
 * starts with (tests that play a restart of Node-RED inside one process; node-red-node-test-helper
 * keeps one runtime across its loads).
 */
export function forgetInFlight(): void {
  for (const [events, rt] of runtimes) {
    events.removeListener('flows:stopping', rt.onStopping);
    rt.stopWatching?.();
    rt.senders.clear();
    rt.redeliver = [];
  }
  runtimes.clear();
}
