/**
 * What our data nodes send, through a deploy (I6 at the flow's first hop; issue 21: runtime
 * schedule seed 7205, attack round 4 D1, D1c, D11).
 *
 * Node-RED passes a sent message on one turn later (`setImmediate` in Flow.send, unless the
 * `runtimeSyncDelivery` setting is on; later still when a plugin's routing hook is asynchronous)
 * to the destination node object it looked up. A deploy's stop closes its nodes synchronously
 * right after flows:stopping, and a closed node takes no input; until the deploy has started its
 * nodes, a message to the id of a node it stopped is dropped. Our pipeline counts an event as
 * delivered when our data node takes it, so two cases lost fills:
 *
 *  1. A data node that the deploy does not restart, wired to a node that it does (the user edited
 *     the function or debug node after ours and deployed modified nodes): it kept sending into the
 *     stop phase. Now, at flows:stopping, such a data node is *away* until the deploy has started
 *     (`awayUntilStarted`, as a restarted one is: its events wait, I6).
 *  2. A message sent in the very turn the stop began was still on its way. Now each one then on its
 *     way is watched (Node-RED's `onReceive` hook, added for that deploy only): a destination that
 *     took no input when Node-RED handed it over (closed by the stop) gets it through its new node
 *     (`receive`) once the deploy has started its nodes (one delivery turn after flows:started,
 *     as the events kept for restarted consumers: flows-started.ts) — provided the sending node,
 *     by id, is still wired to it; a destination that took it (unchanged, or closing
 *     asynchronously and still taking input) is not given it again, whenever Node-RED routed it.
 *
 * Whether a node takes input is read from Node-RED's node object (`_inputCallback`,
 * `_inputCallbacks`, the same in 4.1 and 5); a runtime without them or without hooks is taken as
 * having delivered (never a duplicate). Beyond the first hop (a node after ours passing the
 * message on to a node the deploy closes) Node-RED drops messages of every node alike.
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { onDeployStarted } from './flows-started';

type Events = NodeAPI['events'];
type Wired = Node & { wires?: string[][]; z?: string };

interface Sender {
  node: Wired;
  /** Messages sent whose delivery turn has not passed yet (the `_msgid` of each). */
  queue: string[];
  /** Those messages by `_msgid`. */
  sent: Map<string, NodeMessage>;
  /** A deploy is closing a node this one sends to (and not this one). */
  onDestinationStopping?: () => void;
}

interface AtRisk {
  from: string;
  /** Destinations (ids) the message is on its way to. */
  to: Set<string>;
  msg: NodeMessage;
}

interface Runtime {
  senders: Set<Sender>;
  /** Messages on their way when a stop began, by `_msgid`. */
  atRisk: Map<string, AtRisk>;
  redeliver: Array<{ from: string; to: string; msg: NodeMessage }>;
  hooked: boolean;
  onStopping: (ev: unknown) => void;
  stopWatching?: () => void;
}

interface StoppingEvent {
  type?: string;
  diff?: { changed?: string[]; removed?: string[]; linked?: string[]; rewired?: string[]; flowChanged?: string[]; added?: string[] };
}

interface Hooks {
  add(id: string, fn: (ev: { msg?: { _msgid?: string }; destination?: { id?: string; node?: unknown } }) => void): void;
  remove(id: string): void;
}

const HOOK = 'onReceive.binance-user-stream-in-flight';

/** Per Node-RED runtime (one per process). */
const runtimes = new Map<Events, Runtime>();

function listening(n: unknown): boolean {
  if (typeof n !== 'object' || n === null) return false;
  const o = n as { _inputCallback?: unknown; _inputCallbacks?: unknown };
  // A runtime without these fields: cannot tell, so count it as delivered (never a duplicate).
  if (!('_inputCallback' in o) && !('_inputCallbacks' in o)) return true;
  return (o._inputCallback !== null && o._inputCallback !== undefined) || (o._inputCallbacks !== null && o._inputCallbacks !== undefined);
}

function hooksOf(RED: NodeAPI): Hooks | undefined {
  const h = (RED as unknown as { hooks?: Partial<Hooks> }).hooks;
  return typeof h?.add === 'function' && typeof h.remove === 'function' ? (h as Hooks) : undefined;
}

function syncDelivery(RED: NodeAPI): boolean {
  try {
    return (RED.settings as unknown as { runtimeSyncDelivery?: boolean }).runtimeSyncDelivery === true;
  } catch {
    return false;
  }
}

/** Which node ids a stop closes (Node-RED's flows.stop: full; modified nodes; modified flows). */
function stopsOf(RED: NodeAPI, ev: StoppingEvent): (id: string) => boolean {
  if (ev.type === 'full' || !ev.diff) return () => true;
  const d = ev.diff;
  const ids = new Set<string>([...(d.changed ?? []), ...(d.removed ?? [])]);
  if (ev.type === 'flows') for (const id of [...(d.linked ?? []), ...(d.rewired ?? [])]) ids.add(id);
  const flows = new Set<string>([...(d.flowChanged ?? []), ...(d.added ?? []), ...(d.removed ?? [])]);
  return (id) => {
    if (ids.has(id)) return true;
    const z = (RED.nodes.getNode(id) as Wired | null)?.z;
    return z !== undefined && flows.has(z);
  };
}

function runtimeOf(RED: NodeAPI): Runtime {
  const r = runtimes.get(RED.events);
  if (r) return r;
  const hooks = hooksOf(RED);
  const rt: Runtime = {
    senders: new Set(),
    atRisk: new Map(),
    redeliver: [],
    hooked: false,
    onStopping: (ev) => {
      const stops = stopsOf(RED, (ev ?? {}) as StoppingEvent);
      for (const s of rt.senders) {
        const wires = (Array.isArray(s.node.wires) ? s.node.wires : []).map((ids) => (Array.isArray(ids) ? ids : []));
        const closing = wires.flat().filter(stops);
        // Case 1: this node stays, a node it sends to is closed: away until the deploy has started.
        if (closing.length > 0 && !stops(s.node.id)) s.onDestinationStopping?.();
        // Case 2: what it sent is still on its way: watch where Node-RED hands it.
        if (!hooks || s.queue.length === 0 || closing.length === 0) continue;
        for (const id of s.queue) {
          const msg = s.sent.get(id);
          if (msg && !rt.atRisk.has(id)) rt.atRisk.set(id, { from: s.node.id, to: new Set(closing), msg });
        }
      }
      if (hooks && rt.atRisk.size > 0 && !rt.hooked) {
        rt.hooked = true;
        hooks.add(HOOK, (e) => {
          const id = e?.msg?._msgid;
          const to = e?.destination?.id;
          if (id === undefined || to === undefined) return;
          const risk = rt.atRisk.get(id);
          if (!risk?.to.delete(to)) return;
          if (risk.to.size === 0) rt.atRisk.delete(id);
          // Handed to a node that takes no input (closed by the stop): it goes to its new node.
          if (!listening(e.destination?.node)) rt.redeliver.push({ from: risk.from, to, msg: RED.util.cloneMessage(risk.msg) });
        });
      }
    },
  };
  RED.events.on('flows:stopping', rt.onStopping);
  runtimes.set(RED.events, rt);
  return rt;
}

/** The deploy has started its nodes: hand over what closed nodes missed; stop watching. */
function deployStarted(RED: NodeAPI, rt: Runtime): void {
  const list = rt.redeliver;
  rt.redeliver = [];
  // Not handed over by now: Node-RED dropped it before any node (or it is still held by a plugin's
  // routing hook, which hands it to the new node itself): not given again (never a duplicate).
  rt.atRisk.clear();
  if (rt.hooked) {
    rt.hooked = false;
    hooksOf(RED)?.remove(HOOK);
  }
  for (const r of list) {
    const from = RED.nodes.getNode(r.from) as Wired | null;
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
 * Follows what `node` sends (see the header): wraps its `send`. `onDestinationStopping`: a deploy's
 * stop closes a node it sends to, not itself. Returns the function that stops following it (its
 * close); what closed nodes missed is still handed over at the deploy's start.
 */
export function followSends(RED: NodeAPI, node: Node, onDestinationStopping?: () => void): () => void {
  const rt = runtimeOf(RED);
  const sender: Sender = { node: node as Wired, queue: [], sent: new Map(), onDestinationStopping };
  rt.senders.add(sender);
  rt.stopWatching ??= onDeployStarted(RED, () => deployStarted(RED, rt));
  if (syncDelivery(RED)) {
    // Delivered within send: nothing is ever on its way.
    return () => void rt.senders.delete(sender);
  }
  const original = node.send.bind(node);
  const check = (): void => {
    const id = sender.queue.shift();
    if (id !== undefined) sender.sent.delete(id);
  };
  node.send = (msg?: NodeMessage | Array<NodeMessage | NodeMessage[] | null>): void => {
    original(msg as NodeMessage);
    if (msg === undefined || msg === null) return;
    for (const out of Array.isArray(msg) ? msg : [msg]) {
      for (const m of Array.isArray(out) ? out : [out]) {
        const id = (m as { _msgid?: string } | null)?._msgid;
        if (id === undefined) continue;
        sender.queue.push(id);
        sender.sent.set(id, m as NodeMessage);
        setImmediate(check);
      }
    }
  };
  return () => {
    rt.senders.delete(sender);
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
    rt.atRisk.clear();
    rt.redeliver = [];
  }
  runtimes.clear();
}
