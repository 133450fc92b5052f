/**
 * An embedded Node-RED runtime for the benchmarks, as a user runs it (no test helper: the helper
 * wraps Node.prototype.send in sinon spies that record every message, which would dominate both
 * the throughput and the heap figures).
 *
 *  - our nodes are loaded from the compiled dist/nodes (`nodesDir`), like a package install;
 *  - a tiny `bench-sink` node (written into a temp nodes dir) passes every message it receives
 *    to a callback, standing in for the user's downstream node;
 *  - flows are deployed through the runtime API (`runtime.flows.setFlows`), as the editor does.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { isAccountHandle } from '../nodes/red/account-contract';
import type { StreamState } from '../nodes/lib/types';

export type FlowNode = Record<string, unknown> & { id: string; type: string };
export type SinkFn = (msg: Record<string, unknown>) => void;

interface RedRuntimeApi {
  flows: {
    setFlows(opts: { flows: { flows: FlowNode[]; credentials?: Record<string, Record<string, string>> }; deploymentType?: string }): Promise<unknown>;
  };
}

interface RedModule {
  init(server: http.Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  runtime: RedRuntimeApi;
  nodes: { getNode(id: string): unknown };
}

const SINK_JS = `module.exports = function (RED) {
  function BenchSink(n) {
    RED.nodes.createNode(this, n);
    this.on('input', function (msg) {
      const fn = globalThis.__benchSink;
      if (fn) fn(msg);
    });
  }
  RED.nodes.registerType('bench-sink', BenchSink);
  // The floor of Node-RED's own message passing: a plain node that sends the objects it is handed
  // (globalThis.__benchSource), one message each, to the nodes wired to it.
  function BenchSource(n) {
    RED.nodes.createNode(this, n);
    const node = this;
    globalThis.__benchSource = function (payload) {
      node.send({ payload: payload });
    };
    this.on('close', function () {
      globalThis.__benchSource = undefined;
    });
  }
  RED.nodes.registerType('bench-source', BenchSource);
};
`;
const SINK_HTML =
  `<script type="text/javascript">RED.nodes.registerType('bench-sink',{category:'function',defaults:{},inputs:1,outputs:0,label:'bench sink'});</script>\n` +
  `<script type="text/javascript">RED.nodes.registerType('bench-source',{category:'function',defaults:{},inputs:0,outputs:1,label:'bench source'});</script>\n`;

export const TAB: FlowNode = { id: 'bench-tab', type: 'tab', label: 'bench', disabled: false, info: '' };

export class EmbeddedRed {
  private constructor(
    private readonly red: RedModule,
    private readonly server: http.Server,
    private readonly userDir: string,
  ) {}

  static async start(): Promise<EmbeddedRed> {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-bench-red-'));
    const sinkDir = path.join(userDir, 'bench-nodes');
    fs.mkdirSync(sinkDir, { recursive: true });
    fs.writeFileSync(path.join(sinkDir, 'bench-sink.js'), SINK_JS);
    fs.writeFileSync(path.join(sinkDir, 'bench-sink.html'), SINK_HTML);
    const distNodes = path.resolve(__dirname, '..', 'nodes');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const red = require('node-red') as RedModule;
    const server = http.createServer((_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    red.init(server, {
      userDir,
      flowFile: 'flows.json',
      credentialSecret: 'bench-only-not-a-secret',
      nodesDir: [distNodes, sinkDir],
      httpAdminRoot: false,
      httpNodeRoot: false,
      disableEditor: true,
      logging: { console: { level: process.env.BENCH_RED_LOG ?? 'error', metrics: false, audit: false } },
      editorTheme: { tours: false, projects: { enabled: false } },
      externalModules: { autoInstall: false },
      telemetry: { enabled: false },
      diagnostics: { enabled: false },
    });
    await red.start();
    const er = new EmbeddedRed(red, server, userDir);
    // start() resolves before the initial (empty) flows and credentials have finished loading; a
    // deploy racing with that load can lose its credentials. Deploy an empty flow first.
    await new Promise((r) => setTimeout(r, 250));
    await er.deploy([TAB]);
    return er;
  }

  set sink(fn: SinkFn | undefined) {
    (globalThis as { __benchSink?: SinkFn }).__benchSink = fn;
  }

  async deploy(flows: FlowNode[], credentials: Record<string, Record<string, string>> = {}, type = 'full'): Promise<void> {
    await this.red.runtime.flows.setFlows({ flows: { flows, credentials }, deploymentType: type });
  }

  getNode(id: string): unknown {
    return this.red.nodes.getNode(id);
  }

  /** State of an account node's stream (undefined when it has none). */
  streamState(accountNodeId: string): StreamState | undefined {
    const n = this.getNode(accountNodeId);
    return isAccountHandle(n) ? n.getManager()?.state : undefined;
  }

  async stop(): Promise<void> {
    await this.deploy([], {}, 'full').catch(() => undefined);
    await this.red.stop();
    this.server.close();
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** A spot account config node on the simulator (environment 'custom'). */
export function accountNode(id: string, name: string, restUrl: string, wsUrl: string, market = 'spot'): FlowNode {
  return {
    id,
    type: 'binance-account',
    name,
    market,
    symbol: '',
    environment: 'custom',
    restUrl,
    wsUrl,
    keyType: 'hmac',
    recvWindow: '',
    keepaliveInterval: '',
  };
}

export function orderUpdateNode(id: string, account: string, wires: string[]): FlowNode {
  return {
    id,
    type: 'binance-order-update',
    z: TAB.id,
    name: '',
    account,
    symbols: '',
    sides: '',
    executionTypes: '',
    orderStatuses: '',
    includeListStatus: false,
    includeAlgoUpdates: false,
    includeTradeLite: false,
    numbers: false,
    showLastEvent: false,
    wires: [wires],
  };
}

/** binance-balance-update with its defaults (the `balances` mix). */
export function balanceUpdateNode(id: string, account: string, wires: string[]): FlowNode {
  return { id, type: 'binance-balance-update', z: TAB.id, name: '', account, balanceUpdate: true, externalLockUpdate: true, deposit: true, withdraw: true, transfer: true, fundingFee: false, assets: '', wires: [wires] };
}

/** binance-account-position with its defaults (delta output: one message per event). */
export function accountPositionNode(id: string, account: string, wires: string[]): FlowNode {
  return { id, type: 'binance-account-position', z: TAB.id, name: '', account, output: 'delta', assets: '', hideZero: false, includeMarginCall: false, wires: [wires] };
}

/** A plain node that sends what `globalThis.__benchSource(payload)` hands it (the Node-RED floor). */
export function sourceNode(id: string, wires: string[]): FlowNode {
  return { id, type: 'bench-source', z: TAB.id, name: '', wires: [wires] };
}

export function sinkNode(id: string): FlowNode {
  return { id, type: 'bench-sink', z: TAB.id, name: '', wires: [] };
}
