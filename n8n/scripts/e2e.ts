/**
 * End-to-end run in a real n8n (`npm run test:n8n-e2e`, after `npm run build`): everything on
 * loopback.
 *
 *  1. Node 24 (the project's development Node: the dev dependency `node`, an npm package) and the
 *     pinned n8n (.ci/n8n, installed with --ignore-scripts; sqlite3 then built from source against
 *     that Node's headers).
 *  2. `npm pack` of n8n/ → the tarball is installed, twice, into a fresh n8n: once into n8n's own
 *     community-nodes folder (`<user folder>/.n8n/nodes/node_modules`, what Settings → Community
 *     Nodes → Install leaves), once into a folder n8n loads as a custom extension
 *     (N8N_CUSTOM_EXTENSIONS).
 *  3. For each: our simulator on 127.0.0.1 with an account and an HMAC key; n8n on 127.0.0.1 with
 *     a fresh user folder; owner set up and an API key created over its REST API; the credential
 *     created over the public API and (as a package) tested by n8n's credential test; a workflow
 *     (the example's trigger → No Operation) created and activated over the public API.
 *  4. A simulator order is filled; the run waits for an execution whose trigger output carries
 *     that fill (eventId, tradeId); then the workflow is deactivated and the stream must close.
 *
 * Prints `2 passed, 0 failed` (or the reason and exit code 1). KEEP_N8N_E2E=1 keeps the folder.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinanceSimulator } from '../../simulator';

const root = path.resolve(__dirname, '..', '..', '..');
const ci = path.join(root, '.ci');
/** The development Node 24 (the dev dependency `node`: its binary and headers). */
const devNode = path.join(root, 'node_modules', 'node');
const node24 = path.join(root, 'node_modules', '.bin', 'node');
const n8nDir = path.join(ci, 'n8n');
const n8nBin = path.join(n8nDir, 'node_modules', 'n8n', 'bin', 'n8n');
const STEP_TIMEOUT_MS = 120_000;

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function log(text: string): void {
  console.log(`[n8n-e2e] ${text}`);
}

/** Installs Node 24 and the pinned n8n when missing (time-boxed by the caller's CI budget). */
function ensureN8n(): void {
  if (!fs.existsSync(node24)) throw new Error(`no development Node at ${node24}: run npm install (the dev dependency "node")`);
  if (!fs.existsSync(n8nBin)) {
    log('installing the pinned n8n (.ci/n8n, --ignore-scripts; a few minutes)');
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], n8nDir);
  }
  const sqlite = path.join(n8nDir, 'node_modules', 'sqlite3');
  if (!fs.existsSync(path.join(sqlite, 'build', 'Release', 'node_sqlite3.node'))) {
    log('building sqlite3 from source against Node 24 headers');
    const nodedir = path.join(devNode, 'node_modules', `node-${process.platform}-${process.arch}`);
    const gyp = path.join(n8nDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    run(node24, [gyp, 'rebuild', '--release', '-j', '2', `--nodedir=${nodedir}`], sqlite);
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface Api {
  (method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown; cookie?: string }>;
}

function client(base: string, headers: () => Record<string, string>): Api {
  return async (method, p, body) => {
    // n8n on a loaded machine may refuse or drop a connection for a moment: a request that was not
    // answered is tried again (a GET always; a POST only when the connection was refused, so it
    // was never received), with its cause in the error when it keeps failing
    let res: Response | undefined;
    let failure: string | undefined;
    for (let attempt = 1; !res && failure === undefined; attempt++) {
      try {
        res = await fetch(`${base}${p}`, {
          method,
          headers: { 'content-type': 'application/json', ...headers() },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const retry = attempt < 6 && (method === 'GET' || cause?.code === 'ECONNREFUSED');
        if (!retry) failure = `${method} ${p}: ${(err as Error).message}${cause ? ` (${cause.code ?? cause.message ?? ''})` : ''}`;
        else await new Promise((r) => setTimeout(r, 2000));
      }
    }
    if (!res) throw new Error(failure);
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON
    }
    const cookie = res.headers.getSetCookie?.().map((c) => c.split(';')[0]).join('; ');
    return { status: res.status, json, cookie };
  };
}

type LoadMode = 'community-package' | 'custom-extension';

/** Installs the tarball as n8n's community-package installer leaves it: `<dir>/node_modules/<name>`, no scripts, no peer. */
function installTarball(dir: string, tgz: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"installed-nodes","private":true}');
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--omit=peer', tgz], dir);
  const brought = fs.readdirSync(path.join(dir, 'node_modules')).filter((f) => !f.startsWith('.'));
  if (brought.join() !== 'n8n-nodes-binance-user-stream') throw new Error(`the tarball brought dependencies: ${brought.join(', ')}`);
  return path.join(dir, 'node_modules', 'n8n-nodes-binance-user-stream');
}

async function runOnce(mode: LoadMode, tgz: string, work: string): Promise<void> {
  let n8n: ChildProcess | undefined;
  const sim = await BinanceSimulator.start({ port: 0 });
  try {
    // 2. the packed tarball in a fresh n8n: in n8n's own community-nodes folder (what Settings →
    //    Community Nodes → Install leaves), or in a folder named by N8N_CUSTOM_EXTENSIONS
    const userFolder = path.join(work, mode, 'user');
    const installed =
      mode === 'community-package' ? installTarball(path.join(userFolder, '.n8n', 'nodes'), tgz) : installTarball(path.join(work, mode, 'ext'), tgz);
    log(`${mode}: installed ${path.basename(tgz)} into a fresh folder`);

    // 3. simulator account + key; n8n
    const account = sim.createAccount({ balances: { USDT: '10000', BTC: '1' } });
    const key = sim.createKey(account.id, 'hmac');
    const urls = sim.urlsFor('spot');
    const port = 5678 + Math.floor(Math.random() * 2000);
    const base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: path.join(work, mode),
      N8N_USER_FOLDER: userFolder,
      N8N_PORT: String(port),
      N8N_LISTEN_ADDRESS: '127.0.0.1',
      N8N_HOST: '127.0.0.1',
      ...(mode === 'custom-extension' ? { N8N_CUSTOM_EXTENSIONS: installed } : {}),
      N8N_DIAGNOSTICS_ENABLED: 'false',
      N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
      N8N_TEMPLATES_ENABLED: 'false',
      N8N_PERSONALIZATION_ENABLED: 'false',
      // modules that call n8n's servers at start-up (no network here but loopback)
      N8N_DISABLED_MODULES: 'mcp-registry,promotions,instance-ai,workflow-builder,chat-hub,insights,agents,instance-registry',
      N8N_SECURE_COOKIE: 'false',
      N8N_PUBLIC_API_DISABLED: 'false',
      N8N_LOG_LEVEL: 'info',
      EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
    };
    const logFile = path.join(work, `${mode}.n8n.log`);
    const n8nLog = fs.openSync(logFile, 'w');
    n8n = spawn(node24, [n8nBin, 'start'], { cwd: work, env, stdio: ['ignore', n8nLog, n8nLog] });
    log(`${mode}: n8n ${run(node24, [n8nBin, '--version'], work, env).trim()} on Node ${run(node24, ['-v'], work).trim()} starting on ${base} (log ${logFile})`);
    await waitFor('n8n /healthz/readiness', async () => ((await fetch(`${base}/healthz/readiness`)).ok ? true : undefined), 240_000);

    let cookie = '';
    let apiKey = '';
    const rest = client(base, (): Record<string, string> => (cookie ? { cookie } : {}));
    const api = client(base, () => ({ 'X-N8N-API-KEY': apiKey }));
    const owner = { email: 'owner@example.com', firstName: 'E2E', lastName: 'Owner', password: 'E2e-password-1' };
    const setup = await rest('POST', '/rest/owner/setup', owner);
    if (setup.status !== 200) throw new Error(`owner setup: ${setup.status} ${JSON.stringify(setup.json)}`);
    cookie = setup.cookie ?? '';
    const created = await rest('POST', '/rest/api-keys', { label: 'e2e', expiresAt: null, scopes: ['workflow:create', 'workflow:read', 'workflow:activate', 'workflow:deactivate', 'credential:create', 'execution:read', 'execution:list', 'workflow:list'] });
    apiKey = ((created.json as { data?: { rawApiKey?: string } }).data?.rawApiKey ?? '') as string;
    if (!apiKey) throw new Error(`api key: ${created.status} ${JSON.stringify(created.json)}`);
    log(`${mode}: owner set up, API key created`);

    // n8n names a package's node <package>.<name>, a custom extension's CUSTOM.<name>
    const types = await rest('GET', '/types/nodes.json');
    const nodeType = ((types.json as Array<{ name: string }>) ?? []).map((t) => t.name).find((n) => n.endsWith('.binanceUserStreamTrigger'));
    const wantType = mode === 'community-package' ? 'n8n-nodes-binance-user-stream.binanceUserStreamTrigger' : 'CUSTOM.binanceUserStreamTrigger';
    if (nodeType !== wantType) throw new Error(`n8n did not load the Binance User Stream Trigger as ${wantType} (found ${String(nodeType)})`);

    const credData = { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: key.apiKey, apiSecret: key.apiSecret, privateKey: '', passphrase: '' };
    const cred = await api('POST', '/api/v1/credentials', { name: 'Simulator key', type: 'binanceUserStreamApi', data: credData });
    const credId = (cred.json as { id?: string }).id;
    if (!credId) throw new Error(`credential: ${cred.status} ${JSON.stringify(cred.json)}`);

    if (mode === 'community-package') {
      // n8n's credential test (the dialog's Test) → the node's credentialTest → the core key check.
      // (n8n 2.40.7 looks up `testedBy` only for packages, not for custom extensions.)
      const tested = await rest('POST', '/rest/credentials/test', { credentials: { id: credId, name: 'Simulator key', type: 'binanceUserStreamApi', data: credData } });
      const verdict = (tested.json as { data?: { status?: string; message?: string } }).data;
      if (verdict?.status !== 'OK' || !verdict.message?.startsWith('Key accepted')) throw new Error(`credential test: ${tested.status} ${JSON.stringify(tested.json)}`);
      log(`${mode}: credential test in n8n: ${verdict.status}, "${verdict.message}"`);
    }

    // the example workflow's trigger (fills only), its Telegram node replaced by No Operation
    // (no network here but loopback)
    const example = JSON.parse(fs.readFileSync(path.join(root, 'n8n', 'examples', 'fills-to-telegram.json'), 'utf8')) as { nodes: Array<Record<string, unknown>> };
    const trigger = example.nodes.find((n) => String(n.type).endsWith('.binanceUserStreamTrigger')) as Record<string, unknown>;
    const wf = await api('POST', '/api/v1/workflows', {
      name: 'Binance fills (e2e)',
      nodes: [
        { ...trigger, type: nodeType, credentials: { binanceUserStreamApi: { id: credId, name: 'Simulator key' } } },
        { id: 'a1b2c3d4-0000-4000-8000-000000000002', name: 'No Operation', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
      ],
      connections: { [String(trigger.name)]: { main: [[{ node: 'No Operation', type: 'main', index: 0 }]] } },
      settings: { saveDataSuccessExecution: 'all', executionOrder: 'v1' },
    });
    const wfId = (wf.json as { id?: string }).id;
    if (!wfId) throw new Error(`workflow: ${wf.status} ${JSON.stringify(wf.json)}`);
    const act = await api('POST', `/api/v1/workflows/${wfId}/activate`);
    if (act.status !== 200) throw new Error(`activate: ${act.status} ${JSON.stringify(act.json)}`);
    log(`${mode}: workflow ${wfId} active`);

    // 4. the stream is subscribed → a fill → an execution carrying it
    await waitFor('the trigger subscribed to the simulator', async () => (sim.subscriptions({ market: 'spot' }).length > 0 ? true : undefined));
    const order = sim.placeOrder(account.id, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000' });
    const trade = sim.fillOrder(order.orderId, { quantity: '0.01' });
    const fillId = `fill:spot:BTCUSDT:${order.orderId}:${trade.tradeId}`;
    log(`${mode}: simulator fill ${fillId}`);
    const execution = await waitFor('an execution with the fill', async () => {
      const list = await api('GET', `/api/v1/executions?workflowId=${wfId}&includeData=true`);
      const rows = (list.json as { data?: Array<Record<string, unknown>> }).data ?? [];
      return rows.find((r) => JSON.stringify(r).includes(fillId));
    });
    const text = JSON.stringify(execution);
    for (const want of [`"eventId":"${fillId}"`, `"tradeId":${trade.tradeId}`, '"executionType":"TRADE"', '"recovered":false', '"symbol":"BTCUSDT"']) {
      if (!text.includes(want)) throw new Error(`execution ${String(execution.id)} lacks ${want}`);
    }
    if (text.includes(key.apiSecret as string)) throw new Error('the API secret appears in the execution');
    log(`${mode}: execution ${String(execution.id)} (${String(execution.status)}) carries the fill ${fillId}`);

    const deact = await api('POST', `/api/v1/workflows/${wfId}/deactivate`);
    if (deact.status !== 200) throw new Error(`deactivate: ${deact.status} ${JSON.stringify(deact.json)}`);
    await waitFor('the stream closed after deactivation', async () => (sim.openConnections() === 0 ? true : undefined), 15_000);
    log(`${mode}: deactivated, the simulator has no open connection`);
    if (fs.readFileSync(logFile, 'utf8').includes(key.apiSecret as string)) throw new Error('the API secret appears in the n8n log');
  } finally {
    if (n8n && n8n.exitCode === null) {
      const proc = n8n;
      proc.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          proc.kill('SIGKILL');
          r(undefined);
        }, 15_000);
        proc.once('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
    await sim.stop();
  }
}

async function main(): Promise<void> {
  ensureN8n();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'n8n-e2e-'));
  let passed = 0;
  try {
    const tgzName = run('npm', ['pack', '--silent', '--pack-destination', work], path.join(root, 'n8n')).trim().split('\n').pop() as string;
    for (const mode of ['community-package', 'custom-extension'] as const) {
      await runOnce(mode, path.join(work, tgzName), work);
      passed++;
    }
    console.log(`${passed} passed, 0 failed`);
  } catch (err) {
    console.error(`[n8n-e2e] FAILED: ${err instanceof Error ? err.message : String(err)}`);
    // the end of each n8n log says why (a crash, a restart) before the folder goes
    for (const f of fs.existsSync(work) ? fs.readdirSync(work).filter((n) => n.endsWith('.n8n.log')) : []) {
      const lines = fs.readFileSync(path.join(work, f), 'utf8').split('\n').slice(-40);
      console.error(`[n8n-e2e] last lines of ${f}:\n${lines.join('\n')}`);
    }
    console.log(`${passed} passed, 1 failed`);
    process.exitCode = 1;
  } finally {
    if (process.env.KEEP_N8N_E2E !== '1') fs.rmSync(work, { recursive: true, force: true });
  }
}

void main();
