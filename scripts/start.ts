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
 * default 8090), NODE_RED_USER_DIR (default .demo-userdir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
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

/** A user directory of the project's own, with this package linked in. */
function prepareUserDir(userDir: string, port: number): string {
  fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
  fs.writeFileSync(
    path.join(userDir, 'package.json'),
    JSON.stringify({ name: 'binance-user-stream-demo', private: true, dependencies: { [PKG]: `file:${root}` } }, null, 2),
  );
  const link = path.join(userDir, 'node_modules', PKG);
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(root, link, 'dir');
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

/** The getting-started example with its account node pointed at `setup`. */
function demoFlow(setup: AccountSetup): FlowNode[] {
  const file = path.join(root, 'examples', 'getting-started.json');
  const flow = JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];
  const tab: FlowNode = { id: 'binance-demo-tab', type: 'tab', label: 'Binance demo', disabled: false, info: '' };
  for (const n of flow) {
    if (n.type !== 'binance-account') {
      n.z = tab.id;
      continue;
    }
    Object.assign(n, {
      market: setup.market,
      environment: setup.environment,
      restUrl: setup.restUrl,
      wsUrl: setup.wsUrl,
      keyType: 'hmac',
      credentials: setup.credentials,
    });
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
  const port = Number(process.env.PORT ?? 1880);
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
    sim = await BinanceSimulator.start({ port: Number(process.env.SIM_PORT ?? 8090) });
    const market: SimMarket = 'spot';
    const account = sim.createAccount({
      balances: { USDT: '25000.00000000', BTC: '0.50000000', ETH: '5.00000000', BNB: '10.00000000' },
      futuresBalances: { USDT: '10000.00000000' },
    });
    const key = sim.createKey(account.id, 'hmac');
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
  await deploy(editor, demoFlow(setup));
  log('');
  log(`Node-RED editor: ${editor}/`);
  log('The "Getting started" flow is deployed: open the Debug sidebar to watch fills arrive.');
  log('Press Ctrl+C to stop.');
}

main().catch((err: unknown) => {
  process.stderr.write(`[start] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
