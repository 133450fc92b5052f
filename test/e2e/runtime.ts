/**
 * A real Node-RED runtime for the conformance and browser tests: a child process of
 * the Node-RED dev dependency (or `NODE_RED_PATH`), on 127.0.0.1 and a free port,
 * with a throw-away user directory holding this package (the build these tests
 * were compiled into, or what the caller installs: the package test's tarball) and
 * all of Node-RED's core nodes. Plus a small client for
 * the admin API and the editor's comms WebSocket (node status, debug messages,
 * runtime notifications).
 *
 * Like `scripts/start.ts`, but isolated: nothing is written to the working tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { WebSocket, type RawData } from 'ws';

export const PKG = 'node-red-contrib-binance-user-stream';

export interface FlowNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

/** The repository root: the nearest folder above this file (or the cwd) whose package.json is ours. */
export function repoRoot(): string {
  const candidates: string[] = [];
  for (let d = __dirname; ; d = path.dirname(d)) {
    candidates.push(d);
    if (path.dirname(d) === d) break;
  }
  candidates.push(process.cwd());
  for (const d of candidates) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === PKG && fs.existsSync(path.join(d, 'examples'))) return d;
    } catch {
      // not here
    }
  }
  throw new Error(`cannot find the ${PKG} repository root`);
}

/** The build these tests were compiled into (dist/ or a private --outDir): it holds nodes/*.js. */
export function buildRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

export function exampleFiles(): string[] {
  const dir = path.join(repoRoot(), 'examples');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function readFlow(file: string): FlowNode[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];
}

/** red.js of the Node-RED in use. */
function redJs(): string {
  const alt = process.env.NODE_RED_PATH;
  if (alt) return path.join(path.resolve(alt), 'red.js');
  return require.resolve('node-red/red.js');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The dashboard module the live-dashboard example uses. */
export const DASHBOARD = '@flowfuse/node-red-dashboard';

/** The folder of the installed dashboard module (a dev dependency), or undefined. */
export function dashboardDir(): string | undefined {
  try {
    return path.dirname(require.resolve(`${DASHBOARD}/package.json`, { paths: [repoRoot()] }));
  } catch {
    return undefined;
  }
}

/**
 * A user directory with this package installed the way npm would leave it:
 * node_modules/<PKG>/package.json (the repository's), node_modules/<PKG>/dist → the build, and the
 * examples and the editor resources (links to the repository's).
 */
export function installBuild(userDir: string): void {
  const root = repoRoot();
  const pkgDir = path.join(userDir, 'node_modules', PKG);
  fs.mkdirSync(pkgDir, { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkgDir, 'package.json'));
  fs.symlinkSync(buildRoot(), path.join(pkgDir, 'dist'), 'dir');
  fs.symlinkSync(path.join(root, 'examples'), path.join(pkgDir, 'examples'), 'dir');
  // the editor code the node dialogs share, served from the package's resources/ folder
  fs.symlinkSync(path.join(root, 'resources'), path.join(pkgDir, 'resources'), 'dir');
  // FlowFuse Dashboard 2.0 (a dev dependency) for the live-dashboard example, installed the same way
  const deps: Record<string, string> = { [PKG]: '*' };
  const dashboard = dashboardDir();
  if (dashboard) {
    fs.mkdirSync(path.join(userDir, 'node_modules', '@flowfuse'), { recursive: true });
    fs.symlinkSync(dashboard, path.join(userDir, 'node_modules', DASHBOARD), 'dir');
    deps[DASHBOARD] = '*';
  }
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'binance-user-stream-test', private: true, dependencies: deps }, null, 2));
}

/**
 * settings.js for a runtime on 127.0.0.1:`port` (own credential secret, no telemetry, no palette installs);
 * `lang`: the runtime's language (settings `lang`: node statuses and log lines), else the OS locale's.
 */
function writeSettings(userDir: string, port: number, lang?: string): string {
  const settings = path.join(userDir, 'settings.js');
  const secret = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(
    settings,
    [
      'module.exports = {',
      `  uiHost: '127.0.0.1',`,
      `  uiPort: ${port},`,
      `  flowFile: 'flows.json',`,
      `  credentialSecret: '${secret}',`,
      `  telemetry: { enabled: false, updateNotification: false },`,
      `  diagnostics: { enabled: false, ui: false },`,
      `  externalModules: { palette: { allowInstall: false }, modules: { allowInstall: false } },`,
      `  editorTheme: { tours: false, projects: { enabled: false }, palette: { editable: false } },`,
      `  logging: { console: { level: 'info', metrics: false, audit: false } },`,
      ...(lang ? [`  lang: ${JSON.stringify(lang)},`] : []),
      '};',
      '',
    ].join('\n'),
  );
  return settings;
}

export interface CommsMessage {
  topic: string;
  data: unknown;
}

export interface NodeStatus {
  fill?: string;
  shape?: string;
  text?: string;
}

/**
 * The runtime's environment: ours minus anything an example would use to reach
 * the outside world (the Telegram example reads TELEGRAM_* from the environment).
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(TELEGRAM_|BINANCE_)/.test(k)) delete env[k];
  return env;
}

export class NodeRedProcess {
  readonly url: string;
  /** Everything the runtime printed. */
  output = '';
  private constructor(
    readonly port: number,
    readonly userDir: string,
    private readonly child: ChildProcess,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    const add = (b: Buffer): void => {
      this.output += b.toString('utf8');
      if (process.env.E2E_VERBOSE) process.stdout.write(b);
    };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
  }

  /**
   * `env`: extra environment variables for the runtime (e.g. where an example writes its file).
   * `install`: puts this package into the user directory instead of linking the build (the
   * package test installs the packed tarball).
   * `lang`: the runtime's language (settings.js `lang`), e.g. `ja` or `zh-CN`.
   */
  static async start(opts: { env?: Record<string, string>; install?: (userDir: string) => void; lang?: string } = {}): Promise<NodeRedProcess> {
    const port = await freePort();
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-nr-'));
    try {
      (opts.install ?? installBuild)(userDir);
    } catch (e) {
      fs.rmSync(userDir, { recursive: true, force: true });
      throw e;
    }
    const settings = writeSettings(userDir, port, opts.lang);
    // cwd = the user directory: examples that write files (fills-to-csv) write there.
    const child = spawn(process.execPath, [redJs(), '--userDir', userDir, '--settings', settings], {
      cwd: userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...childEnv(), ...opts.env },
    });
    const nr = new NodeRedProcess(port, userDir, child);
    try {
      await nr.waitForEditor();
    } catch (e) {
      await nr.stop();
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- Node-RED output ---\n${nr.output.slice(-4000)}`, { cause: e });
    }
    return nr;
  }

  private async waitForEditor(): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`Node-RED exited with code ${this.child.exitCode}`);
      try {
        const res = await fetch(`${this.url}/settings`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error('Node-RED did not start within 60 s');
  }

  async get(p: string): Promise<unknown> {
    const res = await fetch(`${this.url}${p}`, { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status}`);
    return (await res.json()) as unknown;
  }

  /** Node types the runtime knows (enabled node sets). */
  async knownTypes(): Promise<Set<string>> {
    const sets = (await this.get('/nodes')) as Array<{ types?: string[]; enabled?: boolean; err?: unknown; module: string }>;
    const out = new Set<string>();
    for (const s of sets) if (s.enabled !== false && !s.err) for (const t of s.types ?? []) out.add(t);
    return out;
  }

  /** Full deploy; resolves with the new revision. */
  async deploy(flow: FlowNode[]): Promise<string> {
    const res = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows: flow }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`deploy failed: HTTP ${res.status} ${text}`);
    return (JSON.parse(text) as { rev: string }).rev;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** The editor's comms WebSocket: node statuses, debug messages and runtime notifications. */
export class Comms {
  readonly messages: CommsMessage[] = [];
  readonly statuses = new Map<string, NodeStatus>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: RawData) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return;
      }
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        const msg = m as CommsMessage;
        if (typeof msg?.topic !== 'string') continue;
        this.messages.push(msg);
        if (msg.topic.startsWith('status/')) this.statuses.set(msg.topic.slice('status/'.length), (msg.data ?? {}) as NodeStatus);
      }
    });
    ws.on('error', () => undefined);
  }

  static async connect(nr: NodeRedProcess): Promise<Comms> {
    const ws = new WebSocket(`ws://127.0.0.1:${nr.port}/comms`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const c = new Comms(ws);
    for (const topic of ['status/#', 'debug', 'notification/#']) ws.send(JSON.stringify({ subscribe: topic }));
    return c;
  }

  clear(): void {
    this.messages.length = 0;
    this.statuses.clear();
  }

  debug(): Array<Record<string, unknown>> {
    return this.messages.filter((m) => m.topic === 'debug').map((m) => m.data as Record<string, unknown>);
  }

  close(): void {
    this.ws.close();
  }
}

/** Resolves when `predicate()` is true (polled), or rejects after `ms` with `what()`. */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  ms: number,
  what: () => string | Promise<string>,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------- the browser

/** Debian's Chromium (`apt-get install chromium`), or CHROMIUM_PATH. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Headless, and none of Chromium's own connections (refused on this closed network). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** In a suite's `before`: skips it without Chromium, or fails it when CI is set (CI must run the browser tests). */
export function needChromium(suite: Mocha.Context): void {
  if (fs.existsSync(CHROMIUM)) return;
  const msg = `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(`${msg}: CI must run the browser test`);
  process.stdout.write(`      (skipped: ${msg})\n`);
  suite.skip();
}

/** Chromium on a fresh profile folder (`locale`: the browser's language), with the editor tests' window and time-outs. */
export async function openChromium(profile: string, locale?: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: locale ? [...CHROMIUM_ARGS, `--lang=${locale}`] : CHROMIUM_ARGS,
    ...(locale ? { locale } : {}),
    viewport: { width: 1440, height: 860 },
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(25_000);
  context.setDefaultNavigationTimeout(45_000);
  return { context, page: context.pages()[0] ?? (await context.newPage()) };
}
