/**
 * kill -9 of Node-RED (real processes, test/support/red-process.ts) while the simulator makes fills
 * continuously; restarted on the same user directory, with the context stores users run. The fills
 * the flow received (recorded synchronously to a file by a node in the flow) against the
 * exchange's ledger (test/support/crash-window.ts):
 *  - persistent store (`localfilesystem`, cache off or flushed every second): no fill is lost, none
 *    comes twice within a run, every restart recovers from the saved state (none is taken for a
 *    first start); the fills repeated after each kill (at least once across a crash) are reported;
 *  - memory store (Node-RED's default): a restart is a first start (docs/recovery.md): nothing
 *    is delivered twice, and the fills made while Node-RED was down are reported, not recovered.
 *
 * A few kills per store keep the cost small; `npm run bench:crash` measures more of them.
 * The kill times come from a fixed seed (CRASH_SEED to replay another).
 */
import { strict as assert } from 'node:assert';
import { BinanceSimulator } from '../../simulator/index';
import { measureCrashWindow, STORE_CASES, type CrashWindowResult } from '../support/crash-window';

const SEED = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : 21;

function report(r: CrashWindowResult): string {
  const per = r.kills.map((k) => `${k.repeated}${k.startupRecovery ? '' : ' (first start)'}`).join(', ');
  return `${r.store}: ${r.fills} fills, ${r.kills.length} kills, lost ${r.lost.length}, repeated per kill [${per}] (max ${r.repeatedMax}, mean ${r.repeatedMean.toFixed(1)}), seed ${r.seed}`;
}

describe('kill -9 of Node-RED with fills flowing (real processes, simulator)', function () {
  this.timeout(180_000);
  let sim: BinanceSimulator;

  before(async function () {
    sim = await BinanceSimulator.start();
  });
  after(async function () {
    await sim?.stop();
  });

  for (const [name, kills] of [['file-nocache', 3], ['file-flush1', 2]] as const) {
    it(`${STORE_CASES[name].name}: no fill lost, none twice within a run, every restart recovers; the repeats per kill are reported`, async function () {
      const r = await measureCrashWindow(sim, {
        store: STORE_CASES[name],
        kills,
        // the core writes its state within 5 s (a flush of 1 s on top): the first kill comes after it
        firstUpMs: 7000,
        upMs: [300, 6000],
        downMs: [0, 1500],
        seed: SEED,
      });
      console.log(`      ${report(r)}`);
      assert.deepEqual(r.lost, [], `fills never delivered: ${report(r)}`);
      assert.deepEqual(r.unknown, [], 'fills delivered that the exchange never made');
      assert.equal(r.repeatedWithinRun, 0, 'a fill delivered twice without a kill in between');
      assert.deepEqual(
        r.kills.map((k) => k.startupRecovery),
        r.kills.map(() => true),
        'every restart recovers what happened while Node-RED was down (none is a first start)',
      );
      assert.ok(r.fills > 0 && r.received >= r.fills);
    });
  }

  it('memory (default): a restart is a first start: nothing delivered twice, the fills made while down are not recovered', async function () {
    const r = await measureCrashWindow(sim, { store: STORE_CASES.memory, kills: 1, upMs: [2000, 5000], downMs: [500, 1500], quietMs: 3000, seed: SEED });
    console.log(`      ${report(r)}`);
    assert.equal(r.repeated, 0);
    assert.equal(r.repeatedWithinRun, 0);
    assert.deepEqual(r.unknown, []);
    assert.deepEqual(
      r.kills.map((k) => k.startupRecovery),
      [false],
      'the memory store keeps nothing across a restart',
    );
  });
});
