/**
 * `npm run bench -- --quick` still runs end to end: every scenario finishes, the table is
 * printed and the JSON holds a figure for each measured client. No figure is judged here
 * (speed is measured by bench/, never asserted by tests).
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const distRoot = path.resolve(__dirname, '..', '..');

interface BenchResult {
  quick: boolean;
  scenarios: Record<string, { ok: boolean; result?: Record<string, unknown> }>;
}

describe('benchmark smoke run (npm run bench -- --quick)', function () {
  this.timeout(300_000);

  it('runs every scenario, prints the tables and writes the JSON', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
    const out = path.join(dir, 'latest.json');
    try {
      const stdout = await new Promise<string>((resolve, reject) => {
        execFile(
          process.execPath,
          [path.join(distRoot, 'bench', 'run.js'), '--quick', `--out=${out}`],
          { cwd: path.resolve(distRoot, '..'), maxBuffer: 16 * 1024 * 1024 },
          (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so)),
        );
      });
      assert.match(stdout, /Throughput/);
      assert.match(stdout, /control: 6 plain nodes/);
      const json = JSON.parse(fs.readFileSync(out, 'utf8')) as BenchResult;
      assert.equal(json.quick, true);
      for (const name of ['stream', 'redeploy', 'redeploy-control', 'redeploy-nojit', 'soak', 'scale', 'burst']) {
        assert.ok(json.scenarios[name], `scenario ${name} missing`);
        assert.equal(json.scenarios[name].ok, true, `scenario ${name} failed`);
      }
      assert.match(stdout, /Producer check/);
      const stream = json.scenarios.stream.result as { throughput: Array<{ client: string; eventsPerSec: number; cpuUsPerEvent: number }> };
      const names = stream.throughput.map((c) => c.client).join(' | ');
      for (const row of ['baseline', 'Node-RED floor', 'core only', 'binance-order-update', 'raw events', 'beautified events']) {
        assert.ok(names.includes(row), `row ${row} missing: ${names}`);
      }
      for (const c of stream.throughput) {
        assert.ok(c.eventsPerSec > 0, `${c.client} delivered nothing`);
        assert.ok(c.cpuUsPerEvent > 0, `${c.client} has no CPU per event`);
      }
      // issue 24: every client on every traffic shape
      const mixes = (json.scenarios.stream.result as { mixes?: Array<{ mix: string; throughput: Array<{ client: string; eventsPerSec: number }> }> }).mixes ?? [];
      assert.deepEqual(
        mixes.map((m) => m.mix),
        ['lifecycle', 'book', 'balances'],
      );
      for (const m of mixes) for (const c of m.throughput) assert.ok(c.eventsPerSec > 0, `${m.mix}: ${c.client} delivered nothing`);
      for (const m of mixes) assert.match(stdout, new RegExp(`Mix "${m.mix}"`));
      const burst = json.scenarios.burst.result as { events: number; delivered: number; duplicates: number };
      assert.equal(burst.delivered, burst.events, 'every burst event delivered');
      assert.equal(burst.duplicates, 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
