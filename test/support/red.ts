/**
 * Node-RED test harness for the node tests (test/nodes/*.test.ts).
 *
 *  - `helper` is node-red-node-test-helper, initialised with the Node-RED found at
 *    `process.env.NODE_RED_PATH` (another install, e.g. Node-RED 5 in CI) or the devDependency.
 *  - `nodeModules()` loads our node modules from dist/nodes/*.js (what Node-RED loads).
 *  - Secret scanning: every secret a test uses is registered with `rememberSecret()`; everything
 *    that could leak (log lines of every level, node statuses, messages sent between nodes, admin
 *    responses) is captured, and a root after-all hook fails the run if any secret appears.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { forgetInFlight } from '../../nodes/red/in-flight';

const localRequire = createRequire(__filename);

export interface FlowNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

/** The parts of node-red-node-test-helper used here (it ships no types). */
export interface NodeTestHelper {
  init(runtimePath?: string, userSettings?: Record<string, unknown>): void;
  load(
    nodes: NodeInitializer | NodeInitializer[],
    flow: FlowNode[],
    credentials?: Record<string, Record<string, string>>,
  ): Promise<void>;
  unload(): Promise<void>;
  setFlows(flow: FlowNode[], type?: 'full' | 'flows' | 'nodes', credentials?: Record<string, Record<string, string>>): Promise<void>;
  getNode(id: string): TestNode | null;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
  request(): SupertestAgent;
  log(): unknown;
  _events: EventEmitter;
}

export type NodeInitializer = (RED: NodeAPI) => void;

export interface TestNode extends EventEmitter {
  id: string;
  type: string;
  status(s: unknown): void;
  [key: string]: unknown;
}

export interface SupertestResponse {
  status: number;
  body: unknown;
  text: string;
}

export interface SupertestRequest extends PromiseLike<SupertestResponse> {
  send(body: unknown): SupertestRequest;
  set(name: string, value: string): SupertestRequest;
  expect(status: number): SupertestRequest;
}

export interface SupertestAgent {
  post(url: string): SupertestRequest;
  get(url: string): SupertestRequest;
}

const nodeRedPath = localRequire.resolve(process.env.NODE_RED_PATH ?? 'node-red');
export const helper = localRequire('node-red-node-test-helper') as NodeTestHelper;
helper.init(nodeRedPath);
// A test's unload ends its Node-RED "process": the next load starts as a new one, without the
// messages an earlier flow still had on their way at its stop (nodes/red/in-flight.ts).
const unloadRuntime = helper.unload.bind(helper);
helper.unload = async (): Promise<void> => {
  await unloadRuntime();
  forgetInFlight();
};

/** Require relative to the Node-RED in use (its own @node-red/util). */
const redRequire = createRequire(nodeRedPath);

interface LogMessage {
  level: number;
  msg: unknown;
  type?: string;
  id?: string;
  name?: string;
}

interface UtilLog {
  addHandler(h: EventEmitter): void;
  removeHandler(h: EventEmitter): void;
  ERROR: number;
  WARN: number;
}

interface Hooks {
  add(name: string, fn: (ev: unknown) => void): void;
  remove(name: string): void;
}

const util = redRequire('@node-red/util') as { log: UtilLog; hooks: Hooks };

// ---------------------------------------------------------------------------
// node modules under test

const distNodes = path.resolve(__dirname, '..', '..', 'nodes');

export type OurNodeType =
  | 'binance-account'
  | 'binance-order-update'
  | 'binance-account-position'
  | 'binance-balance-update'
  | 'binance-user-event'
  | 'binance-stream-status';

export const NODE_TYPES: readonly OurNodeType[] = [
  'binance-account',
  'binance-order-update',
  'binance-account-position',
  'binance-balance-update',
  'binance-user-event',
  'binance-stream-status',
];

/** Our node modules as Node-RED loads them (dist/nodes/<type>.js, `module.exports = fn`). */
/** Node-RED's hooks (RED.hooks; what a plugin registers its own with). */
export function hooksOfRuntime(): { add(id: string, fn: (...a: never[]) => unknown): void; remove(id: string): void } {
  return (redRequire('@node-red/util') as { hooks: ReturnType<typeof hooksOfRuntime> }).hooks;
}

export function nodeModules(types: readonly OurNodeType[] = NODE_TYPES): NodeInitializer[] {
  return types.map((t) => {
    const init = localRequire(path.join(distNodes, `${t}.js`)) as NodeInitializer;
    // node-red-node-test-helper's mock runtime has no `hooks`; Node-RED gives its nodes the
    // runtime's (the ones its Flow and Node call): the same object, from its own @node-red/util.
    return (RED: NodeAPI) => {
      const api = RED as unknown as { hooks?: unknown };
      api.hooks ??= hooksOfRuntime();
      init(RED);
    };
  });
}

// ---------------------------------------------------------------------------
// capture + secret scan

const secrets = new Set<string>();
/** Everything captured during the run, as text. */
export const captured: string[] = [];
export const capturedLogs: LogMessage[] = [];

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v instanceof Error) return `${v.message}\n${v.stack ?? ''}`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Registers a secret that must never appear in anything captured (min. length 8). */
export function rememberSecret(...values: Array<string | undefined>): void {
  for (const v of values) {
    if (typeof v !== 'string' || v.length < 8) continue;
    secrets.add(v);
    // PEM: each long base64 line of the body on its own (a log could carry one line).
    for (const line of v.split(/\r?\n/)) if (line.length >= 40 && !line.startsWith('-----')) secrets.add(line.trim());
  }
}

/** Adds any value (an admin response, a status, a message) to what is scanned. */
export function capture(v: unknown): void {
  captured.push(asText(v));
}

const logHandler = new EventEmitter();
logHandler.on('log', (m: LogMessage) => {
  capturedLogs.push(m);
  captured.push(`${m.type ?? ''}:${m.id ?? ''} ${asText(m.msg)}`);
});

let hooksInstalled = false;

/**
 * Installs the capture (log handler, onSend hook, node-status events). Call after
 * helper.startServer() (RED.init resets the log handlers) and it is idempotent.
 */
export function installCapture(): void {
  util.log.removeHandler(logHandler);
  util.log.addHandler(logHandler);
  if (!hooksInstalled) {
    hooksInstalled = true;
    helper._events.on('node-status', (ev: unknown) => capture(ev));
  }
  util.hooks.remove('onSend.secretscan');
  util.hooks.add('onSend.secretscan', (events: unknown) => {
    if (Array.isArray(events)) {
      for (const e of events) capture((e as { msg?: unknown }).msg);
    }
  });
}

/** Texts (with a little context) where a registered secret was found. */
export function findLeaks(): string[] {
  const leaks: string[] = [];
  for (const text of captured) {
    for (const s of secrets) {
      const i = text.indexOf(s);
      if (i >= 0) leaks.push(`secret ${s.slice(0, 4)}… found in: ${text.slice(Math.max(0, i - 80), i).replace(s, '***')}[SECRET]`);
    }
  }
  return leaks;
}

const leaksFound: string[] = [];

/**
 * Scans what was captured so far and lets it go, keeping only the leaks found (for the root hook):
 * a long soak (thousands of schedules, each with thousands of messages) otherwise holds every
 * message's text until the end and runs out of heap. Returns the leaks found in this part.
 */
export function releaseCaptured(): string[] {
  const leaks = findLeaks();
  leaksFound.push(...leaks);
  captured.length = 0;
  capturedLogs.length = 0;
  return leaks;
}

/** Starts the helper's server and the capture (use in a `before`). */
export async function startRed(): Promise<void> {
  await helper.startServer();
  installCapture();
}

// Root-level hook: runs once after every test file, whichever loaded this module.
after(function () {
  const leaks = [...leaksFound, ...findLeaks()];
  if (leaks.length > 0) throw new Error(`secrets leaked into captured output:\n${leaks.slice(0, 10).join('\n')}`);
});

// ---------------------------------------------------------------------------
// small helpers for flows

/** Resolves when `predicate()` is true (checked on every event loop turn), or rejects after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 8000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Collected {
  msgs: Array<Record<string, unknown>>;
}

/** Collects every message arriving at a helper node. */
export function collect(nodeId: string): Collected {
  const n = helper.getNode(nodeId);
  if (!n) throw new Error(`no node ${nodeId}`);
  const c: Collected = { msgs: [] };
  n.on('input', (msg: Record<string, unknown>) => {
    c.msgs.push(msg);
  });
  return c;
}

export interface StatusRecord {
  fill?: string;
  shape?: string;
  text?: string;
}

/** Records every status of a node (by spying on its status method). */
export function watchStatus(nodeId: string): StatusRecord[] {
  const n = helper.getNode(nodeId);
  if (!n) throw new Error(`no node ${nodeId}`);
  const out: StatusRecord[] = [];
  const orig = n.status.bind(n);
  n.status = (s: unknown): void => {
    out.push(s as StatusRecord);
    orig(s);
  };
  return out;
}
