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
 *  2. A message sent in the very turn the stop began was still on its way. Now, at flows:stopping,
 *     each one on its way to a node the stop closes is handed to that node at once (`receive`),
 *     before its close — as if Node-RED had passed it on a moment earlier — and Node-RED's own
 *     hand-over of it to that node, later, is cancelled (its `onReceive` hook, added for that stop
 *     only, answers false). This holds for a deploy and for a stop without one (a restart of
 *     Node-RED during a burst: its last state must not count as delivered what Node-RED dropped).
 *
 * A runtime without hooks (RED.hooks, Node-RED 2 and later) gets case 1 only. Beyond the first
 * hop (a node after ours passing the message on to a node the deploy closes) Node-RED drops
 * messages of every node alike.
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { onDeployStarted } from './flows-started';

type Events = NodeAPI['events'];
type Wired = Node & { wires?: string[][]; z?: string };

interface Sender {
  node: Wired;
  /** Messages sent whose delivery turn has not passed yet (the `_msgid` of each). */
  queue: string[];
  /** Those messages by `_msgid`, with the output they left on. */
  sent: Map<string, { msg: NodeMessage; port: number }>;
  /** A deploy is closing a node this one sends to (and not this one). */
  onDestinationStopping?: () => void;
}

interface Runtime {
  senders: Set<Sender>;
  /**
   * Messages handed over at a stop, by `_msgid`: the sender, the destinations whose later
   * hand-over by Node-RED is cancelled (each with the node object it was handed to), and since
   * when (forgotten after HANDED_FOR_MS: Node-RED dropped it).
   */
  handed: Map<string, { from: string; to: Map<string, unknown>; at: number }>;
  /** The time of the oldest entry of `handed` (when to forget it). */
  oldestAt: number;
  /** For subflow instances closed by a stop: handed to their new instance at the deploy's start. */
  later: Array<{ from: string; to: string; msg: NodeMessage }>;
  hooks: Hooks | undefined;
  hooked: boolean;
  onStopping: (ev: unknown) => void;
  stopWatching?: () => void;
}

interface StoppingEvent {
  type?: string;
  diff?: { changed?: string[]; removed?: string[]; linked?: string[]; rewired?: string[]; flowChanged?: string[]; added?: string[] };
}

interface HookEvent {
  msg?: { _msgid?: string };
  source?: { id?: string };
  destination?: { id?: string; node?: unknown };
}

interface Hooks {
  add(id: string, fn: (ev: HookEvent) => boolean | undefined): void;
  remove(id: string): void;
}

/**
 * Node-RED's later hand-over of a message handed at a stop is recognised (not a copy of the same
 * `_msgid` that reaches the node another way: attack round 5 F1, a fork through a delay node) as
 * the hand-over to the very node object it was handed to (onReceive: routed before the stop), or
 * one from our sender routed after the stop (preDeliver: a plugin's asynchronous routing hook, D11).
 */
const HOOK = 'onReceive.binance-user-stream-in-flight';
const HOOK_ROUTED = 'preDeliver.binance-user-stream-in-flight';
/**
 * How long Node-RED may still hand over a message that was handed at a stop: one turn, or as long
 * as a plugin's asynchronous routing hook holds it (message tracing: milliseconds). Past it, the
 * hand-over is not waited for (Node-RED dropped it: no node of that id then).
 */
const HANDED_FOR_MS = 60_000;

/** Per Node-RED runtime (one per process). */
const runtimes = new Map<Events, Runtime>();

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
    handed: new Map(),
    oldestAt: 0,
    later: [],
    hooks,
    hooked: false,
    onStopping: (ev) => {
      const stops = stopsOf(RED, (ev ?? {}) as StoppingEvent);
      for (const s of rt.senders) {
        const wires = (Array.isArray(s.node.wires) ? s.node.wires : []).map((ids) => (Array.isArray(ids) ? ids : []));
        const closing = wires.map((ids) => ids.filter(stops));
        if (!closing.some((ids) => ids.length > 0)) continue;
        // Case 1: this node stays, a node it sends to is closed: away until the deploy has started.
        if (!stops(s.node.id)) s.onDestinationStopping?.();
        // Case 2: what it sent is still on its way: hand it over now, before the closes.
        if (!hooks) continue;
        for (const id of s.queue) {
          const sent = s.sent.get(id);
          if (!sent || rt.handed.has(id)) continue;
          const to = new Map<string, unknown>();
          for (const d of closing[sent.port] ?? []) {
            const n = RED.nodes.getNode(d) as (Node & { receive?: (m: NodeMessage) => void }) | null;
            if (!n || typeof n.receive !== 'function') continue;
            if (typeof n.type === 'string' && n.type.startsWith('subflow:')) {
              // A subflow instance passes what it receives on to its inner nodes a turn later,
              // and the stop closes those too: its new instance gets it once the deploy has
              // started (a stop that no deploy follows cannot hand it to any).
              rt.later.push({ from: s.node.id, to: d, msg: RED.util.cloneMessage(sent.msg) });
            } else {
              try {
                n.receive(RED.util.cloneMessage(sent.msg));
              } catch {
                // the destination's own failure; the others still get it
              }
            }
            to.set(d, n);
          }
          if (to.size === 0) continue;
          if (rt.handed.size === 0) rt.oldestAt = Date.now();
          rt.handed.set(id, { from: s.node.id, to, at: Date.now() });
        }
      }
      if (hooks && rt.handed.size > 0 && !rt.hooked) {
        rt.hooked = true;
        // handed over before the stop: this later hand-over would be a second one
        const settle = (e: HookEvent, isIt: (h: { from: string; to: Map<string, unknown> }, to: string) => boolean): false | undefined => {
          const id = e?.msg?._msgid;
          const to = e?.destination?.id;
          if (id === undefined || to === undefined) return undefined;
          const handed = rt.handed.get(id);
          const cancel = handed !== undefined && isIt(handed, to) && handed.to.delete(to);
          if (handed && handed.to.size === 0) rt.handed.delete(id);
          // Every message of the runtime passes here while hooked: only while hand-overs are
          // pending, HANDED_FOR_MS at most (a message Node-RED dropped is not waited for longer).
          const now = Date.now();
          if (rt.handed.size === 0 || now - rt.oldestAt > HANDED_FOR_MS || now < rt.oldestAt) forgetOld(rt);
          return cancel ? false : undefined;
        };
        hooks.add(HOOK, (e) => settle(e, (h, to) => h.to.get(to) === e?.destination?.node));
        hooks.add(HOOK_ROUTED, (e) => settle(e, (h, to) => h.from === e?.source?.id && h.to.has(to)));
      }
    },
  };
  RED.events.on('flows:stopping', rt.onStopping);
  runtimes.set(RED.events, rt);
  return rt;
}

/** Hands what closed subflow instances missed to their new instances (if the sender still wires to them). */
function handLater(RED: NodeAPI, rt: Runtime): void {
  const list = rt.later;
  rt.later = [];
  for (const r of list) {
    const from = RED.nodes.getNode(r.from) as Wired | null;
    const wired = Array.isArray(from?.wires) && from.wires.some((ids) => Array.isArray(ids) && ids.includes(r.to));
    const to = RED.nodes.getNode(r.to) as (Node & { receive?: (m: NodeMessage) => void }) | null;
    if (!wired || !to || typeof to.receive !== 'function') continue;
    try {
      to.receive(r.msg);
    } catch {
      // the destination's own failure; the next ones still go
    }
  }
}

/** Forgets hand-overs not seen for HANDED_FOR_MS; stops watching when none is left. */
function forgetOld(rt: Runtime): void {
  const now = Date.now();
  let oldest = Infinity;
  for (const [id, h] of rt.handed) {
    if (now - h.at > HANDED_FOR_MS || now < h.at) rt.handed.delete(id);
    else oldest = Math.min(oldest, h.at);
  }
  rt.oldestAt = oldest === Infinity ? 0 : oldest;
  if (rt.handed.size === 0 && rt.hooked) {
    rt.hooked = false;
    rt.hooks?.remove(HOOK);
    rt.hooks?.remove(HOOK_ROUTED);
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
  // Each deploy's start: hand-overs that Node-RED dropped are not waited for beyond their time.
  rt.stopWatching ??= onDeployStarted(RED, () => {
    handLater(RED, rt);
    forgetOld(rt);
  });
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
    (Array.isArray(msg) ? msg : [msg]).forEach((out, port) => {
      for (const m of Array.isArray(out) ? out : [out]) {
        const id = (m as { _msgid?: string } | null)?._msgid;
        if (id === undefined) continue;
        sender.queue.push(id);
        sender.sent.set(id, { msg: m as NodeMessage, port });
        setImmediate(check);
      }
    });
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
    rt.handed.clear();
    rt.later = [];
    if (rt.hooked) {
      rt.hooks?.remove(HOOK);
      rt.hooks?.remove(HOOK_ROUTED);
    }
    rt.hooked = false;
  }
  runtimes.clear();
}
