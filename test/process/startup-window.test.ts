/**
 * A restart of Node-RED with a persistent store (real processes): the start-up recovery reads the
 * exchange's history up to the moment it runs, and live events cover what comes after once the
 * stream is subscribed. A fill made between the two must still reach the flow.
 *
 * Found by the crash-window measurement (test/support/crash-window.ts): about one restart in
 * eight lost one fill made in the ~100 ms between the start-up recovery's REST read and the
 * subscription (the connection first syncs the clock with GET /api/v3/time). Here the window is
 * made wide on purpose: the exchange answers that clock request 3 s late (`delayNext`), and the
 * fill is made once the start-up recovery has finished, or the stream is connected, whichever
 * the runtime reports first. The fill is due before a later live fill (the one made once
 * connected) is delivered.
 *
 * Also: a graceful restart (SIGINT: the state is written on close) delivers nothing twice.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { BinanceSimulator } from '../../simulator/index';
import { fillKey, isFill, recordedFlow, STORE_CASES, type Recorded } from '../support/crash-window';
import { readRecorded, RedProcess } from '../support/red-process';

async function until(predicate: () => boolean, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('restart of Node-RED with a persistent store (real processes, simulator)', function () {
  this.timeout(120_000);
  let sim: BinanceSimulator;
  let rp: RedProcess | undefined;

  before(async function () {
    sim = await BinanceSimulator.start();
  });
  after(async function () {
    await rp?.dispose();
    await sim?.stop();
  });

  it('a fill made after the start-up recovery read the history and before the stream was subscribed is delivered, once; nothing is delivered twice', async function () {
    const { id: accountId } = sim.createAccount({ balances: { USDT: '1000000', BTC: '100', ETH: '100', BNB: '5' } });
    const key = sim.createKey(accountId, 'hmac');
    const store = STORE_CASES['file-nocache'];
    rp = await RedProcess.create({ prefix: 'binance-startup-', settings: { contextStorage: store.contextStorage }, recorder: true });
    const fillsFile = path.join(rp.userDir, 'fills.jsonl');
    const statusFile = path.join(rp.userDir, 'status.jsonl');
    const fills = (): string[] => readRecorded<Recorded>(fillsFile).filter(isFill).map((r) => fillKey(r.payload));
    const statuses = (): Recorded[] => readRecorded<Recorded>(statusFile);
    const fill = (symbol: string, side: 'BUY' | 'SELL'): string => {
      const [t] = sim.runOrderLifecycle(accountId, { market: 'spot', symbol, side, quantity: '0.001', price: '100', fills: ['0.001'] }).trades;
      return `${t.symbol}/${t.tradeId}/${t.side}`;
    };
    const connectedSince = (from: number): boolean => statuses().slice(from).some((s) => s.topic === 'state' && s.payload?.state === 'connected');

    await rp.restart();
    await rp.deploy(recordedFlow({ urls: sim.urlsFor('spot'), apiKey: key.apiKey, apiSecret: key.apiSecret ?? '', recoveryStore: store.recoveryStore, fillsFile, statusFile }));
    await until(() => connectedSince(0), 30_000, () => 'the first connection');
    const a = fill('BTCUSDT', 'BUY');
    await until(() => fills().includes(a), 10_000, () => `live fill ${a}`);
    await rp.stop();

    // Node-RED is stopped: a fill to recover at start-up. The next clock request is answered 3 s late.
    const b = fill('BTCUSDT', 'SELL');
    sim.delayNext({ path: '/api/v3/time', ms: 3000 });
    const mark = statuses().length;
    await rp.restart();
    await until(
      () => connectedSince(mark) || statuses().slice(mark).some((s) => s.topic === 'recovery'),
      30_000,
      () => 'the start-up recovery or the connection',
    );
    const subscribed = sim.subscriptions({ accountId }).length > 0;
    const c = fill('BTCUSDT', 'BUY');
    await until(() => connectedSince(mark), 30_000, () => 'the connection after the restart');
    const d = fill('BTCUSDT', 'SELL');
    await until(() => fills().includes(d), 10_000, () => `live fill ${d}`);

    const got = fills();
    assert.deepEqual(
      got.filter((k) => [a, b, c, d].includes(k)),
      [a, b, c, d],
      `every fill once, in order (fill ${c} was made ${subscribed ? 'after' : 'before'} the stream was subscribed)`,
    );
    assert.equal(new Set(got).size, got.length, 'a graceful restart delivers nothing twice');
  });
});
