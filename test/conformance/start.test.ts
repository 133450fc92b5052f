/**
 * `npm start` (scripts/start.ts) when ports are taken, the common case for a Node-RED user whose
 * own Node-RED listens on 1880: a default port that is taken is replaced by the next free one; a
 * port the user chose that is taken is a clear error naming the variable; the URLs used are printed.
 * All on 127.0.0.1; the full run starts the simulator and Node-RED in a temporary user directory.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { choosePort, portIsFree } from '../../scripts/start';
import { freePort, until } from '../e2e/runtime';

const START = path.resolve(__dirname, '..', '..', 'scripts', 'start.js');

async function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

function run(env: Record<string, string>): { output: () => string; exited: Promise<number | null>; stop: () => void } {
  let out = '';
  const child = spawn(process.execPath, [START], { env: { ...process.env, ...env, BINANCE_API_KEY: '', BINANCE_API_SECRET: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { output: () => out, exited, stop: () => child.kill('SIGINT') };
}

describe('npm start with ports taken', function () {
  this.timeout(90_000);

  it('a default port in use: the next free one is used, and said so', async function () {
    const busy = await occupy();
    try {
      assert.equal(await portIsFree(busy.port), false);
      const chosen = await choosePort('Node-RED editor', 'PORT', undefined, busy.port);
      assert.ok(chosen > busy.port, `${chosen}`);
      assert.equal(await portIsFree(chosen), true);
      assert.equal(await choosePort('simulator', 'SIM_PORT', undefined, busy.port, [chosen]) === chosen, false, 'a port given to the editor is not reused');
    } finally {
      await busy.close();
    }
  });

  it('a port the user chose that is in use: an error that names it and says how to choose another', async function () {
    const busy = await occupy();
    try {
      const editorPort = await freePort();
      const r = run({ PORT: String(editorPort), SIM_PORT: String(busy.port), NODE_RED_USER_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'binance-start-')) });
      assert.equal(await r.exited, 1);
      assert.match(r.output(), new RegExp(`port ${busy.port} \\(SIM_PORT, the Binance simulator\\) is already in use: choose another, e\\.g\\. SIM_PORT=${busy.port + 1} npm start`));
    } finally {
      await busy.close();
    }
  });

  it('starts on the ports given, deploys the demo and the dashboard, and prints the URLs it used', async function () {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-start-'));
    const [editorPort, simPort] = [await freePort(), await freePort()];
    const r = run({ PORT: String(editorPort), SIM_PORT: String(simPort), NODE_RED_USER_DIR: userDir });
    try {
      await until(() => r.output().includes('Press Ctrl+C'), 60_000, () => `the start-up banner:\n${r.output()}`);
      assert.match(r.output(), new RegExp(`Node-RED editor: +http://127\\.0\\.0\\.1:${editorPort}/`));
      assert.match(r.output(), new RegExp(`Live dashboard: +http://127\\.0\\.0\\.1:${editorPort}/dashboard/binance`));
      assert.match(r.output(), new RegExp(`Binance simulator: +http://127\\.0\\.0\\.1:${simPort}`));
      const flows = (await (await fetch(`http://127.0.0.1:${editorPort}/flows`)).json()) as Array<{ type: string; label?: string }>;
      assert.deepEqual(flows.filter((n) => n.type === 'tab').map((n) => n.label), ['Binance demo', 'Binance dashboard']);
      assert.equal((await fetch(`http://127.0.0.1:${editorPort}/dashboard/binance`)).status, 200);
    } finally {
      r.stop();
      await r.exited;
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });
});
