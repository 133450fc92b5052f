/**
 * `npm run bench:crash` (= build, then `node dist/bench/crash-window.js [options]`): the crash
 * window as measured (issue 21). For each context store users run, real Node-RED processes are
 * killed with SIGKILL at random points while the simulator (in this process) makes fills
 * continuously, and restarted on the same user directory; the fills the flow received are compared
 * with the exchange's ledger. See test/support/crash-window.ts for the set-up and the definitions.
 *
 * Prints one table: store, kills, fills, lost, repeated (total, max and mean per kill), and writes
 * the JSON to bench/results/crash-window-latest.json (`--out`).
 *
 * Options: --stores=memory,file,file-flush1,file-nocache  --kills=8  --fill-ms=50
 *          --up=500-10000 (ms a run lives before its kill; the 30 s store: --up-file=1000-40000)
 *          --down=0-3000  --seed=N  --cold (also: the 30 s store killed before its first flush)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinanceSimulator } from '../simulator/index';
import { measureCrashWindow, STORE_CASES, type CrashWindowResult, type StoreCaseName } from '../test/support/crash-window';

interface Row {
  label: string;
  result: CrashWindowResult;
}

function arg(name: string): string | undefined {
  const pre = `--${name}=`;
  const a = process.argv.find((x) => x.startsWith(pre));
  if (a) return a.slice(pre.length);
  return process.argv.includes(`--${name}`) ? '' : undefined;
}

function range(v: string | undefined, dflt: [number, number]): [number, number] {
  if (!v) return dflt;
  const [a, b] = v.split('-').map(Number);
  if (!Number.isFinite(a) || !Number.isFinite(b) || b < a) throw new Error(`bad range ${v}`);
  return [a, b];
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const stores = (arg('stores') ?? 'memory,file,file-flush1,file-nocache').split(',').filter(Boolean) as StoreCaseName[];
  for (const s of stores) if (!(s in STORE_CASES)) throw new Error(`unknown store ${s} (${Object.keys(STORE_CASES).join(', ')})`);
  const kills = Number(arg('kills') ?? 8);
  const fillEveryMs = Number(arg('fill-ms') ?? 50);
  const up = range(arg('up'), [500, 10_000]);
  const upFile = range(arg('up-file'), [1000, 40_000]);
  const down = range(arg('down'), [0, 3000]);
  const seed = arg('seed') ? Number(arg('seed')) : undefined;
  const out = arg('out') || path.join('bench', 'results', 'crash-window-latest.json');

  const sim = await BinanceSimulator.start();
  const rows: Row[] = [];
  try {
    const plan: Array<{ label: string; store: StoreCaseName; up: [number, number]; firstUpMs?: number }> = [];
    for (const s of stores) {
      // The 30 s store: its first kill comes after its first flush (35 s: the core writes within 5 s,
      // the store flushes 30 s later), so that the rows show the steady state; --cold measures the other.
      if (s === 'file') {
        plan.push({ label: STORE_CASES[s].name, store: s, up: upFile, firstUpMs: 36_000 });
        if (arg('cold') !== undefined) plan.push({ label: `${STORE_CASES[s].name}, first kill < 30 s`, store: s, up: [1000, 25_000] });
      } else if (s === 'memory') {
        plan.push({ label: STORE_CASES[s].name, store: s, up });
      } else {
        // The core writes its state at most every 5 s: the first kill comes after the first write.
        plan.push({ label: STORE_CASES[s].name, store: s, up, firstUpMs: 7000 });
      }
    }
    for (const p of plan) {
      console.error(`${p.label}: ${kills} kills…`);
      const result = await measureCrashWindow(sim, {
        store: STORE_CASES[p.store],
        kills,
        upMs: p.up,
        firstUpMs: p.firstUpMs,
        downMs: down,
        fillEveryMs,
        seed,
        quietMs: p.store === 'memory' ? 5000 : 40_000,
        keepOnLoss: STORE_CASES[p.store].persistent,
        log: (l) => console.error(l),
      });
      rows.push({ label: p.label, result });
      const r = result;
      console.error(`  → fills ${r.fills}, lost ${r.lost.length}, repeated ${r.repeated} (max ${r.repeatedMax}/kill), ${Math.round(r.ms / 1000)} s, seed ${r.seed}`);
      if (r.keptDir) console.error(`  lost ${r.lost.slice(0, 20).join(', ')}; user directory kept: ${r.keptDir}`);
    }
  } finally {
    await sim.stop();
  }

  const header = ['store', 'kills', 'fills', 'lost', 'repeated', 'max / kill', 'mean / kill', 'span max s', 'span mean s', 'first starts', 'twice in a run'];
  const spans = (r: CrashWindowResult): number[] => r.kills.map((k) => k.repeatedSpanMs / 1000);
  const body = rows.map(({ label, result: r }) => [
    label,
    String(r.kills.length),
    String(r.fills),
    String(r.lost.length),
    String(r.repeated),
    String(r.repeatedMax),
    r.repeatedMean.toFixed(1),
    r.kills.length ? Math.max(...spans(r)).toFixed(1) : '-',
    r.kills.length ? (spans(r).reduce((a, b) => a + b, 0) / r.kills.length).toFixed(1) : '-',
    String(r.kills.filter((k) => !k.startupRecovery).length),
    String(r.repeatedWithinRun + r.unknown.length),
  ]);
  console.log(`\nCrash window (kill -9 of Node-RED, spot, one fill every ${fillEveryMs} ms; ${os.cpus().length} CPUs, Node ${process.version})\n`);
  console.log(table([header, ...body]));
  console.log('\nspan: how far back before the kill the repeated fills had first been delivered (the deliveries of that span came twice).');
  console.log('first starts: restarts that found no saved state (no start-up recovery: the fills made while down are not recovered).');
  console.log('\nper kill (up ms / down ms / fills received before the kill / repeated after it / span ms / lost):');
  for (const { label, result: r } of rows) {
    console.log(`  ${label}: ${r.kills.map((k) => `${k.upMs}/${k.downMs}/${k.receivedBefore}/${k.repeated}/${k.repeatedSpanMs}/${k.lost}${k.startupRecovery ? '' : ' (first start)'}`).join(', ')}`);
    if (r.lost.length) console.log(`    lost: ${r.lost.slice(0, 12).join(', ')}${r.lost.length > 12 ? ', …' : ''}${r.lostOutsideKills ? ` (${r.lostOutsideKills} outside the kills' windows)` : ''}`);
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), fillEveryMs, node: process.version, rows }, null, 2));
  console.log(`\nwritten: ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
