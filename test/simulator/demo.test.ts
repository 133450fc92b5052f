import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { signPayload } from '../../simulator/signing';
import { BinanceSimulator } from '../../simulator/index';
import { runDemoScenario } from '../../simulator/demo';
import { WsClient, httpRequest, subscribeParams, installClock, restoreClock, tick, type Json } from './helpers';

describe('simulator demo scenario and stop()', () => {
  let sim: BinanceSimulator | undefined;
  afterEach(async () => {
    restoreClock();
    await sim?.stop();
  });

  it('runs a trading day on every market: all steps succeed, events reach subscribers, trade ids are consistent', async () => {
    const clock = installClock();
    sim = await BinanceSimulator.start();
    const acct = sim.createAccount({ balances: { USDT: '100000', BTC: '5', ETH: '50', BNB: '100' }, futuresBalances: { USDT: '50000', BTC: '2' } }).id;
    const key = sim.createKey(acct, 'hmac');
    const spot = await WsClient.connect(sim.wsApiUrl);
    await spot.request('userDataStream.subscribe.signature', subscribeParams(key, sim.serverTime()));
    const lk = (await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: key.apiKey })).json.listenKey as string;
    const fut = await WsClient.connect(`${sim.futuresWsUrl}/private/ws?listenKey=${lk}`);
    const lines: string[] = [];
    const markets = ['spot', 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures'] as const;
    const h = runDemoScenario(sim, acct, { intervalMs: 2000, markets: [...markets], log: (l) => lines.push(l), maxSteps: 50 });
    await tick(clock, 120_000, 2000);
    assert.equal(h.steps, 50);
    assert.equal(lines.length, 50);
    assert.deepEqual(lines.filter((l) => l.includes('skipped')), []);
    for (const m of markets) assert.ok(sim.trades(acct, m).length >= 4, `${m} has trades`);
    const spotTradeIds = spot.events().filter((e) => e.e === 'executionReport' && e.x === 'TRADE').map((e) => e.t);
    assert.deepEqual(spotTradeIds, sim.trades(acct, 'spot').map((t) => t.tradeId));
    const futTradeIds = fut.messages.filter((m) => m.e === 'ORDER_TRADE_UPDATE' && (m.o as Json).x === 'TRADE').map((m) => (m.o as Json).t);
    assert.deepEqual(futTradeIds, sim.trades(acct, 'usdm-futures').map((t) => t.tradeId));
    assert.ok(spot.events().some((e) => e.e === 'balanceUpdate'));
    assert.ok(fut.messages.some((m) => m.e === 'ACCOUNT_UPDATE' && (m.a as Json).m === 'FUNDING_FEE'));
    // the scenario stops itself after maxSteps
    await tick(clock, 10_000, 2000);
    assert.equal(lines.length, 50);
    h.stop();
    spot.close();
    fut.close();
  });

  it('stop() closes every socket and clears every timer (nothing left for the fake clock)', async () => {
    const clock = installClock();
    sim = await BinanceSimulator.start();
    const acct = sim.createAccount().id;
    const key = sim.createKey(acct, 'hmac');
    const a = await WsClient.connect(sim.wsApiUrl);
    const tok = sim.createListenToken(acct, 'margin');
    await a.request('userDataStream.subscribe.listenToken', { listenToken: tok.token });
    const lk = (await httpRequest(sim.restUrl, 'POST', '/dapi/v1/listenKey', { apiKey: key.apiKey })).json.listenKey as string;
    const b = await WsClient.connect(`${sim.futuresWsUrl}/stream?streams=${lk}`);
    const fk = (await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: key.apiKey })).json.listenKey as string;
    const legacy = await WsClient.connect(`${sim.futuresWsUrl}/ws/${fk}`);
    sim.sendServerShutdown({});
    assert.ok(clock.countTimers() > 0);
    await sim.stop();
    sim = undefined;
    await Promise.all([a.waitClosed(), b.waitClosed(), legacy.waitClosed()]);
    assert.equal(clock.countTimers(), 0);
  });

  it('CLI (--port 0 --demo) prints working URLs and keys, streams the demo, exits on SIGTERM', async () => {
    const cli = path.join(__dirname, '..', '..', 'simulator', 'cli.js');
    const child = spawn(process.execPath, [cli, '--port', '0', '--demo', '--interval', '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          if (/\] spot: .*placed/.test(out)) resolve();
        });
        child.on('exit', () => reject(new Error(`cli exited early: ${out}`)));
      });
      const rest = /REST\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1];
      const apiKey = /Demo HMAC key[\s\S]*?apiKey\s+(\w+)/.exec(out)![1];
      const secret = /apiSecret\s+(\w+)/.exec(out)![1];
      assert.match(out, /WebSocket API\s+ws:\/\/127\.0\.0\.1:\d+\/ws-api\/v3/);
      assert.match(out, /Demo ed25519 key[\s\S]*BEGIN PRIVATE KEY/);
      assert.match(out, /Demo rsa key/);
      const qs = `timestamp=${Date.now()}`;
      const sig = signPayload({ keyType: 'hmac', apiSecret: secret }, qs);
      const r = await httpRequest(rest, 'GET', `/api/v3/account?${qs}&signature=${sig}`, { apiKey });
      assert.equal(r.status, 200);
      assert.ok((r.json.balances as Json[]).some((b) => b.asset === 'USDT'));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
