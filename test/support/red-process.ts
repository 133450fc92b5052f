/**
 * Real Node-RED processes for tests and benchmarks where the process itself matters (kill -9,
 * restarts on the same user directory, later several instances side by side).
 *
 * A `RedProcess` is one user directory (a temp folder, this package installed in it the way npm
 * would leave it, a settings.js written from the options) and at most one running Node-RED child
 * (`node_modules/node-red/red.js`, or `NODE_RED_PATH`) on 127.0.0.1. It can be started, deployed
 * to through the admin API, killed with SIGKILL, started again on the same directory (a restart:
 * the runtime reads its flows, credentials and context stores back from disk), stopped gracefully,
 * and finally removed.
 *
 * `recorderNodesDir()` writes a node type `test-recorder` that appends every message it receives to
 * a file, synchronously (fs.appendFileSync), one JSON line each (`at`: when, `topic`, `recovered`,
 * `payload`): what the flow received survives a kill of the runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildRoot, freePort, PKG, repoRoot, type FlowNode } from '../e2e/runtime';

export type { FlowNode };

export interface RedProcessOptions {
  /**
   * Settings merged into settings.js (JSON values: `contextStorage`, …). The console log level
   * must stay at `info` or below: readiness is the runtime's "Started flows" line.
   */
  settings?: Record<string, unknown>;
  /** Folders of extra node types (settings `nodesDir`). */
  nodesDirs?: string[];
  /** Also make the `test-recorder` node type available (written into the user directory). */
  recorder?: boolean;
  /** Extra environment variables of the runtime. */
  env?: Record<string, string>;
  /** Puts this package into the user directory (default: the build these tests were compiled into, linked). */
  install?: (userDir: string) => void;
  /** Prefix of the temp user directory. */
  prefix?: string;
  /** How long a start may take before it fails (ms). Default 60 000. */
  startTimeoutMs?: number;
}

/** This package in `userDir` as npm would leave it: its package.json, and dist → the build. */
export function installBuild(userDir: string): void {
  const pkgDir = path.join(userDir, 'node_modules', PKG);
  fs.mkdirSync(pkgDir, { recursive: true });
  fs.copyFileSync(path.join(repoRoot(), 'package.json'), path.join(pkgDir, 'package.json'));
  fs.symlinkSync(buildRoot(), path.join(pkgDir, 'dist'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'binance-red-process', private: true, dependencies: { [PKG]: '*' } }, null, 2));
}

const RECORDER_JS = `'use strict';
const fs = require('fs');
module.exports = function (RED) {
  function TestRecorder(n) {
    RED.nodes.createNode(this, n);
    const file = n.file;
    this.on('input', function (msg, send, done) {
      const line = JSON.stringify({ at: Date.now(), topic: msg.topic, recovered: msg.recovered === true ? true : undefined, payload: msg.payload });
      fs.appendFileSync(file, line + '\\n');
      done();
    });
  }
  RED.nodes.registerType('test-recorder', TestRecorder);
};
`;
const RECORDER_HTML = `<script type="text/javascript">RED.nodes.registerType('test-recorder',{category:'function',defaults:{file:{value:''}},inputs:1,outputs:0,label:'test recorder'});</script>\n`;

/** Writes the `test-recorder` node type into `dir` (created if needed); returns `dir` for `nodesDirs`. */
export function recorderNodesDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'test-recorder.js'), RECORDER_JS);
  fs.writeFileSync(path.join(dir, 'test-recorder.html'), RECORDER_HTML);
  return dir;
}

/** A `test-recorder` node appending to `file`. */
export function recorderNode(id: string, z: string, file: string): FlowNode {
  return { id, type: 'test-recorder', z, name: '', file, wires: [] };
}

/** The JSON lines a recorder wrote (a torn last line, if any, is left out). */
export function readRecorded<T = Record<string, unknown>>(file: string): T[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line cut by a kill in the middle of a write
    }
  }
  return out;
}

function redJs(): string {
  const alt = process.env.NODE_RED_PATH;
  if (alt) return path.join(path.resolve(alt), 'red.js');
  return require.resolve('node-red/red.js');
}

/** The runtime's environment: ours minus anything that would reach a real exchange or bot. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(TELEGRAM_|BINANCE_)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

export class RedProcess {
  readonly url: string;
  /** Everything every run of the runtime printed. */
  output = '';
  /** What the current (or last) run printed. */
  runOutput = '';
  /** How many times a runtime was started on this user directory. */
  starts = 0;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  private constructor(
    readonly userDir: string,
    readonly port: number,
    private readonly settingsFile: string,
    private readonly opts: RedProcessOptions,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** A fresh user directory and a runtime started on it (ready: admin API up, flows started). */
  static async start(opts: RedProcessOptions = {}): Promise<RedProcess> {
    const rp = await RedProcess.create(opts);
    try {
      await rp.restart();
    } catch (e) {
      await rp.dispose();
      throw e;
    }
    return rp;
  }

  /** A fresh user directory with its settings, no runtime started yet. */
  static async create(opts: RedProcessOptions = {}): Promise<RedProcess> {
    const port = await freePort();
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), opts.prefix ?? 'binance-rp-'));
    try {
      (opts.install ?? installBuild)(userDir);
      const nodesDirs = [...(opts.nodesDirs ?? [])];
      if (opts.recorder) nodesDirs.push(recorderNodesDir(path.join(userDir, 'test-nodes')));
      const settings: Record<string, unknown> = {
        uiHost: '127.0.0.1',
        uiPort: port,
        flowFile: 'flows.json',
        credentialSecret: crypto.randomBytes(16).toString('hex'),
        telemetry: { enabled: false, updateNotification: false },
        diagnostics: { enabled: false, ui: false },
        externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
        editorTheme: { tours: false, projects: { enabled: false } },
        logging: { console: { level: 'info', metrics: false, audit: false } },
        ...(nodesDirs.length ? { nodesDir: nodesDirs } : {}),
        ...opts.settings,
      };
      const file = path.join(userDir, 'settings.js');
      fs.writeFileSync(file, `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
      return new RedProcess(userDir, port, file, opts);
    } catch (e) {
      fs.rmSync(userDir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The running child's pid, if one runs. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts a runtime on the user directory (the first start, or a restart after kill() / stop()),
   * resolving once the admin API answers and the flows have started.
   */
  async restart(): Promise<void> {
    if (this.running) throw new Error('Node-RED is already running on this user directory');
    this.runOutput = '';
    this.starts++;
    const child = spawn(process.execPath, [redJs(), '--userDir', this.userDir, '--settings', this.settingsFile], {
      cwd: this.userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv(this.opts.env),
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const add = (b: Buffer): void => {
      const s = b.toString('utf8');
      this.output += s;
      if (this.child === child) this.runOutput += s;
      if (process.env.RED_PROCESS_VERBOSE) process.stdout.write(s);
    };
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
    try {
      await this.waitReady(this.opts.startTimeoutMs ?? 60_000);
    } catch (e) {
      await this.kill();
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- Node-RED output ---\n${this.runOutput.slice(-4000)}`, { cause: e });
    }
  }

  private async waitReady(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    let api = false;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`Node-RED exited (code ${this.child?.exitCode}, signal ${this.child?.signalCode})`);
      if (!api) {
        try {
          api = (await fetch(`${this.url}/settings`)).ok;
        } catch {
          // not listening yet
        }
      }
      if (api && /\] Started flows/.test(this.runOutput)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`Node-RED did not start within ${ms} ms`);
  }

  /** GET on the admin API. */
  async get(p: string): Promise<unknown> {
    const res = await fetch(`${this.url}${p}`, { headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET ${p}: HTTP ${res.status}`);
    return (await res.json()) as unknown;
  }

  /**
   * Deploys `flow` through the admin API as the editor does (`type`: full, flows or nodes).
   * Credentials go in each node's `credentials`; the runtime encrypts them into flows_cred.json.
   */
  async deploy(flow: FlowNode[], type: 'full' | 'flows' | 'nodes' = 'full'): Promise<string> {
    const res = await fetch(`${this.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': type },
      body: JSON.stringify({ flows: flow }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`deploy failed: HTTP ${res.status} ${text}`);
    return (JSON.parse(text) as { rev: string }).rev;
  }

  /** kill -9: resolves once the process is gone. Nothing of the runtime runs after it (no close handlers, no flushes). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Freezes the runtime (SIGSTOP): its sockets stay open, nothing runs. `resume()` lets it go on. */
  pause(): void {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  /** SIGCONT after `pause()`. */
  resume(): void {
    if (this.running) this.child?.kill('SIGCONT');
  }

  /** A graceful stop (SIGINT: Node-RED closes its flows and flushes its context stores); SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    if (!this.running) return;
    const child = this.child!;
    child.kill('SIGCONT'); // if paused
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Stops the runtime (gracefully) and removes the user directory. */
  async dispose(): Promise<void> {
    await this.stop().catch(() => undefined);
    fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}
