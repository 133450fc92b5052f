/**
 * `npm start`: Node-RED (the project's dev dependency) on localhost with this
 * package loaded from the working tree, in the project's own user directory
 * (`.demo-userdir/`, never ~/.node-red), with the example flow
 * `examples/getting-started.json` deployed.
 *
 * Without credentials it also starts the local Binance simulator, trading a
 * realistic day on a demo account, so fills appear in the Debug sidebar within
 * seconds. With BINANCE_API_KEY and BINANCE_API_SECRET set it connects to Binance
 * instead (BINANCE_MARKET, default spot; BINANCE_ENVIRONMENT, default testnet).
 *
 * Environment: PORT (editor port, default 1880), SIM_PORT (simulator port,
 * default 8090), NODE_RED_USER_DIR (default .demo-userdir). A default port that is
 * taken (your own Node-RED on 1880) is replaced by the next free one; a port you set
 * yourself that is taken is an error that says so. The URLs used are printed.
 *
 * With the dev dependency @flowfuse/node-red-dashboard installed, the live-dashboard
 * example is deployed too (on its own tab) and its URL printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BinanceSimulator, type SimMarket } from '../simulator/index';
import { runDemoScenario } from '../simulator/demo';

const root = path.resolve(__dirname, '..', '..');
const PKG = 'node-red-contrib-binance-user-stream';

type FlowNode = Record<string, unknown> & { id: string; type: string };

interface AccountSetup {
  market: string;
  environment: string;
  restUrl: string;
  wsUrl: string;
  credentials: Record<string, string>;
}

function log(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

const DASHBOARD = '@flowfuse/node-red-dashboard';

/** The dashboard module's folder (a dev dependency), or undefined when it is not installed. */
function dashboardDir(): string | undefined {
  try {
    return path.dirname(require.resolve(`${DASHBOARD}/package.json`, { paths: [root] }));
  } catch {
    return undefined;
  }
}

/** Whether `port` can be listened on at `host` (nothing else uses it). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * The port to use: `wanted` (from the environment) must be free, else an error that names it and
 * says how to choose another; without one, the default or the next free port after it.
 */
export async function choosePort(what: string, envName: string, wanted: string | undefined, dflt: number, avoid: number[] = []): Promise<number> {
  if (wanted !== undefined && wanted !== '') {
    const port = Number(wanted);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${envName}=${wanted} is not a port number`);
    if (!(await portIsFree(port))) {
      throw new Error(`port ${port} (${envName}, the ${what}) is already in use: choose another, e.g. ${envName}=${port + 1} npm start`);
    }
    return port;
  }
  for (let port = dflt; port < dflt + 100 && port <= 65535; port++) {
    if (!avoid.includes(port) && (await portIsFree(port))) {
      if (port !== dflt) log(`port ${dflt} is in use: the ${what} uses ${port} instead (set ${envName} to choose)`);
      return port;
    }
  }
  throw new Error(`no free port for the ${what} in ${dflt}–${dflt + 99}: set ${envName}`);
}

/** A user directory of the project's own, with this package (and the dashboard, when installed) linked in. */
function prepareUserDir(userDir: string, port: number): string {
  fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
  const deps: Record<string, string> = { [PKG]: `file:${root}` };
  const link = path.join(userDir, 'node_modules', PKG);
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(root, link, 'dir');
  const dashboard = dashboardDir();
  if (dashboard) {
    const dlink = path.join(userDir, 'node_modules', DASHBOARD);
    fs.mkdirSync(path.dirname(dlink), { recursive: true });
    fs.rmSync(dlink, { recursive: true, force: true });
    fs.symlinkSync(dashboard, dlink, 'dir');
    deps[DASHBOARD] = `file:${dashboard}`;
  }
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'binance-user-stream-demo', private: true, dependencies: deps }, null, 2));
  const settings = path.join(userDir, 'settings.js');
  fs.writeFileSync(
    settings,
    [
      '// Written by `npm start` for the local demo. Not for production use.',
      'module.exports = {',
      `  uiHost: '127.0.0.1',`,
      `  uiPort: ${port},`,
      `  flowFile: 'flows.json',`,
      // The demo's flow is rewritten at every start; its credentials are the
      // simulator's throw-away demo keys (or yours, from the environment).
      `  credentialSecret: 'binance-user-stream-local-demo',`,
      `  editorTheme: { tours: false, projects: { enabled: false } },`,
      // No first-run "update notifications" dialog, nothing sent to nodered.org.
      `  telemetry: { enabled: false, updateNotification: false },`,
      `  diagnostics: { enabled: false, ui: false },`,
      `  logging: { console: { level: 'info', metrics: false, audit: false } },`,
      '};',
      '',
    ].join('\n'),
  );
  return settings;
}

async function waitForEditor(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/settings`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('Node-RED did not start within 60 s');
}

/**
 * An example on a tab of its own, its account node pointed at `setup`. The comment of the
 * getting-started example says that the account already points at the simulator.
 */
function exampleFlow(name: string, label: string, setup: AccountSetup, simulated: boolean): FlowNode[] {
  const file = path.join(root, 'examples', `${name}.json`);
  const flow = JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];
  const tab: FlowNode = { id: `binance-demo-tab-${name}`, type: 'tab', label, disabled: false, info: '' };
  for (const n of flow) {
    if (n.type === 'binance-account') {
      Object.assign(n, {
        name: simulated ? `${String(n.name)} – simulator` : n.name,
        market: setup.market,
        environment: setup.environment,
        restUrl: setup.restUrl,
        wsUrl: setup.wsUrl,
        keyType: 'hmac',
        credentials: setup.credentials,
      });
    } else if (n.x !== undefined) {
      n.z = tab.id;
    }
    if (n.type === 'comment' && typeof n.info === 'string' && n === flow[0]) {
      n.info = `${simulated ? '**Started by `npm start`: the account points at the local Binance simulator with a demo key; nothing to set up.**' : '**Started by `npm start` with your API key from the environment.**'}\n\n${n.info}`;
    }
  }
  return [tab, ...flow];
}

async function deploy(url: string, flow: FlowNode[]): Promise<void> {
  const res = await fetch(`${url}/flows`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify(flow),
  });
  if (!res.ok) throw new Error(`deploy failed: HTTP ${res.status} ${await res.text()}`);
}

async function main(): Promise<void> {
  const port = await choosePort('Node-RED editor', 'PORT', process.env.PORT, 1880);
  const userDir = path.resolve(process.env.NODE_RED_USER_DIR ?? path.join(root, '.demo-userdir'));
  const editor = `http://127.0.0.1:${port}`;

  let sim: BinanceSimulator | undefined;
  let stopScenario: (() => void) | undefined;
  let setup: AccountSetup;
  const apiKey = process.env.BINANCE_API_KEY;
  const apiSecret = process.env.BINANCE_API_SECRET;
  if (apiKey && apiSecret) {
    setup = {
      market: process.env.BINANCE_MARKET ?? 'spot',
      environment: process.env.BINANCE_ENVIRONMENT ?? 'testnet',
      restUrl: '',
      wsUrl: '',
      credentials: { apiKey, apiSecret },
    };
    log(`using your API key on Binance ${setup.environment}, market ${setup.market}`);
  } else {
    const simPort = await choosePort('Binance simulator', 'SIM_PORT', process.env.SIM_PORT, 8090, [port]);
    sim = await BinanceSimulator.start({ port: simPort });
    const market: SimMarket = 'spot';
    const account = sim.createAccount({
      balances: { USDT: '25000.00000000', BTC: '0.50000000', ETH: '5.00000000', BNB: '10.00000000' },
      futuresBalances: { USDT: '10000.00000000' },
    });
    // a read-only key, as the README recommends (Test connection then shows no permission warning)
    const key = sim.createKey(account.id, 'hmac', { canTrade: false, enableMargin: false, enableFutures: false });
    const urls = sim.urlsFor(market);
    setup = {
      market,
      environment: 'custom',
      restUrl: urls.restUrl,
      wsUrl: urls.wsUrl,
      credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
    };
    const scenario = runDemoScenario(sim, account.id, { markets: [market], intervalMs: 2500 });
    stopScenario = () => scenario.stop();
    log(`simulator on ${sim.restUrl} (demo account, market ${market}); no real exchange is contacted`);
  }

  const settings = prepareUserDir(userDir, port);
  const child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--userDir', userDir, '--settings', settings], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const shutdown = async (): Promise<void> => {
    stopScenario?.();
    if (child.exitCode === null) child.kill('SIGINT');
    // Node-RED closes its nodes (and so our connections) before it exits.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    await sim?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
  child.on('exit', (code) => {
    log(`Node-RED exited (${code ?? 'signal'})`);
    stopScenario?.();
    void sim?.stop().finally(() => process.exit(code ?? 0));
  });

  await waitForEditor(editor, child);
  const simulated = sim !== undefined;
  const flows = [...exampleFlow('getting-started', 'Binance demo', setup, simulated)];
  const withDashboard = dashboardDir() !== undefined;
  if (withDashboard) flows.push(...exampleFlow('live-dashboard', 'Binance dashboard', setup, simulated));
  await deploy(editor, flows);
  log('');
  log(`Node-RED editor:    ${editor}/`);
  if (withDashboard) log(`Live dashboard:     ${editor}/dashboard/binance`);
  if (sim) log(`Binance simulator:  ${sim.restUrl} (the exchange's REST and WebSocket API for the nodes; no web page)`);
  log('The "Getting started" flow is deployed: open the Debug sidebar to watch fills arrive.');
  log('Press Ctrl+C to stop.');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`[start] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
