/**
 * What a Node-RED user meets (issue 15), in a real Node-RED runtime against the simulator:
 *  - Test connection reads an emptied field as "no key", as the deploy does;
 *  - statuses say why: "bad signature: check secret / key type", "no API key",
 *    "reconnecting (n): network error ECONNREFUSED";
 *  - msg.eventId: the same fill gives the same id live and recovered (spot and futures);
 *  - ISO time strings beside the epoch times, when chosen;
 *  - binance-stream-status answers an input message with the current state.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { BinanceSimulator, SimTrade } from '../../simulator/index';
import { eventIdOf } from '../../nodes/lib/events';
import { failureReason, interpolate, lookupCatalog } from '../../nodes/red/status';
import { collect, helper, nodeModules, rememberSecret, waitFor, type FlowNode } from '../support/red';
import { accountNode, consumer, credentialsFor, helperNode, newAccount, redWithSimulator, TAB, waitConnected, type TestAccount } from './flows';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const enAccountCatalog = require('../../nodes/locales/en-US/binance-account.json') as unknown;

type Msg = Record<string, unknown> & { payload: Record<string, unknown> };
interface Spied {
  status: { getCalls(): Array<{ args: unknown[]; thisValue: unknown }> };
}

/** The texts of the statuses node `id` has shown, oldest first. */
function statusTexts(id: string): string[] {
  const n = helper.getNode(id) as unknown as Spied;
  return n.status
    .getCalls()
    .filter((c) => (c.thisValue as { id?: string }).id === id)
    .map((c) => String((c.args[0] as { text?: string }).text));
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('what a Node-RED user meets (issue 15)', function () {
  this.timeout(30_000);
  let sim: BinanceSimulator;
  redWithSimulator((s) => {
    sim = s;
  });

  describe('Test connection', function () {
    it('an emptied key / secret field means "no key", exactly as at deploy (the saved key is not used)', async function () {
      const a = newAccount(sim, 'spot');
      await helper.load(nodeModules(['binance-account']), [TAB, accountNode(sim, a)], credentialsFor(a));
      const urls = sim.urlsFor('spot');
      const body = { id: 'acct', market: 'spot', environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac' };
      const before = sim.requests.length;
      const res = await helper.request().post('/binance-user-stream/test-connection').send({ ...body, credentials: { apiKey: '', apiSecret: '', privateKey: '', passphrase: '' } });
      assert.equal(res.status, 200);
      const r = res.body as { ok: boolean; problem?: string; message?: string };
      assert.equal(r.ok, false, 'the saved key was tested although the fields were emptied');
      assert.equal(r.problem, 'config');
      assert.equal(r.message, 'The API key is missing.');
      assert.equal(sim.requests.slice(before).filter((x) => x.apiKey === a.key.apiKey).length, 0, 'the saved key was sent');
      // only the secret emptied: the saved key with no secret
      const r2 = (await helper.request().post('/binance-user-stream/test-connection').send({ ...body, credentials: { apiKey: '__PWRD__', apiSecret: '' } })).body as { ok: boolean; message?: string };
      assert.equal(r2.ok, false);
      assert.equal(r2.message, 'The API secret is missing (HMAC key).');
      // unchanged fields still use the saved key
      const r3 = (await helper.request().post('/binance-user-stream/test-connection').send({ ...body, credentials: { apiKey: '__PWRD__', apiSecret: '__PWRD__' } })).body as { ok: boolean };
      assert.equal(r3.ok, true);
    });
  });

  describe('statuses say why', function () {
    it('a rejected signature (-1022): "bad signature: check secret / key type"', async function () {
      const a = newAccount(sim, 'spot'); // spot subscribes with a signature (futures' listenKey needs only the key)
      const badSecret = 'WRONGSECRET23456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR';
      rememberSecret(badSecret);
      await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out'), helperNode('out')], {
        acct: { apiKey: a.key.apiKey, apiSecret: badSecret },
      });
      await waitFor(() => statusTexts('ou').includes('bad signature: check secret / key type'), 10_000, `the bad-signature status (${statusTexts('ou').join(' | ')})`);
    });

    it('no key: "no API key" (was "invalid config")', async function () {
      const a = newAccount(sim, 'spot');
      await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out'), helperNode('out')], { acct: {} });
      await waitFor(() => statusTexts('ou').length > 0, 5000, 'a status');
      assert.equal(statusTexts('ou').at(-1), 'no API key');
    });

    it('the server cannot be reached: "reconnecting (n): network error ECONNREFUSED"', async function () {
      const a = newAccount(sim, 'usdm-futures');
      const port = await closedPort();
      const flow: FlowNode[] = [
        TAB,
        accountNode(sim, a, { restUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` }),
        consumer('ou', 'binance-order-update', 'out'),
        helperNode('out'),
      ];
      await helper.load(nodeModules(), flow, credentialsFor(a));
      await waitFor(() => statusTexts('ou').some((t) => /^reconnecting \(\d+\): network error ECONNREFUSED$/.test(t)), 10_000, `the reason in the status (${statusTexts('ou').join(' | ')})`);
    });

    it('failure reasons are short and name the error, in the catalog\'s words (unit)', function () {
      // the English text of a reason: its catalog text (issue 26: translated like the rest of the status), or a literal
      const en = (m: string): string | undefined => {
        const r = failureReason(m);
        return r?.key ? interpolate(lookupCatalog(enAccountCatalog, `binance-account.status.${r.key}`) ?? r.key, r.vars) : r?.text;
      };
      assert.equal(en('POST /fapi/v1/listenKey: network error (ENOTFOUND)'), 'network error ENOTFOUND');
      assert.equal(en('connect failed: getaddrinfo EAI_AGAIN stream.binance.com'), 'network error EAI_AGAIN');
      assert.equal(en('Unexpected server response: 502'), 'HTTP 502');
      assert.equal(en('server-close'), 'closed by the server');
      assert.equal(en('watchdog'), 'silent link (watchdog)');
      assert.ok((en('something rather long went wrong in a way nobody expected') ?? '').length <= 32);
    });
  });

  describe('msg.eventId', function () {
    for (const market of ['spot', 'usdm-futures'] as const) {
      it(`${market}: a fill's eventId is fill:<market>:<symbol>:<orderId>:<tradeId>, live and recovered after a gap alike`, async function () {
        const a = newAccount(sim, market);
        await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out'), helperNode('out')], credentialsFor(a));
        const out = collect('out') as unknown as { msgs: Msg[] };
        await waitConnected();
        const fills = (): Msg[] => out.msgs.filter((m) => m.payload.executionType === 'TRADE');
        const idOf = (t: SimTrade): string => `fill:${market}:${t.symbol}:${t.orderId}:${t.tradeId}`;
        const live = sim.runOrderLifecycle(a.accountId, { market, symbol: 'BTCUSDT', side: 'BUY', quantity: '0.003', price: '100', fills: ['0.001'] });
        await waitFor(() => fills().length === 2, 5000, 'live fills');
        assert.deepEqual(fills().map((m) => m.eventId), live.trades.map(idOf));
        const newId = out.msgs.find((m) => m.payload.executionType === 'NEW')?.eventId;
        assert.equal(newId, `order:${market}:BTCUSDT:${live.order.orderId}:NEW:0:0.003`);

        // fills made while the connection is down come back from REST history with the same ids
        assert.ok(sim.dropConnections({ accountId: a.accountId }) >= 1);
        const missed = sim.runOrderLifecycle(a.accountId, { market, symbol: 'BTCUSDT', side: 'SELL', quantity: '0.002', price: '101', fills: ['0.001'] }).trades;
        await waitFor(() => fills().length === 2 + missed.length, 10_000, 'recovered fills');
        const recovered = fills().slice(2);
        assert.ok(recovered.every((m) => m.recovered === true));
        assert.deepEqual(recovered.map((m) => m.eventId), missed.map(idOf));
      });
    }

    it('other events: ids from their identifying fields, one per message', function () {
      const e = (eventType: string, raw: Record<string, unknown>): Parameters<typeof eventIdOf>[0] => ({ market: 'spot', eventType, raw, receivedAt: 0 });
      assert.equal(eventIdOf(e('balanceUpdate', { e: 'balanceUpdate', a: 'USDT', d: '25.50000000', T: 1700000000000, E: 1700000000001 })), 'balanceUpdate:spot:USDT:1700000000000:25.5');
      assert.equal(eventIdOf(e('outboundAccountPosition', { E: 2, u: 1 })), 'outboundAccountPosition:spot:1:2');
      const acc = { market: 'usdm-futures' as const, eventType: 'ACCOUNT_UPDATE', raw: { E: 5, T: 4 }, receivedAt: 0 };
      assert.equal(eventIdOf(acc, 'USDT'), 'ACCOUNT_UPDATE:usdm-futures:4:5:USDT');
      assert.notEqual(eventIdOf(acc, 'USDT'), eventIdOf(acc, 'BNB'));
      // an ALGO_UPDATE without its order (malformed: no `ao` / `o` object): its times tell it apart
      const algo = (raw: Record<string, unknown>): Parameters<typeof eventIdOf>[0] => ({ market: 'portfolio-margin', eventType: 'ALGO_UPDATE', raw, receivedAt: 0 });
      assert.equal(eventIdOf(algo({ e: 'ALGO_UPDATE', T: 7, E: 8, fs: 'UM' })), 'ALGO_UPDATE:portfolio-margin:7:8');
      assert.notEqual(eventIdOf(algo({ e: 'ALGO_UPDATE', T: 7, E: 8, ao: 'x' })), eventIdOf(algo({ e: 'ALGO_UPDATE', T: 9, E: 10, ao: null })));
      assert.equal(eventIdOf(algo({ e: 'ALGO_UPDATE', T: 7, E: 8, ao: { s: 'BTCUSDT', aid: 3, X: 'NEW' } })), 'algo:portfolio-margin:BTCUSDT:3:NEW');
    });
  });

  describe('ISO times', function () {
    async function firstFill(a: TestAccount, props: Record<string, unknown>): Promise<Msg> {
      await helper.load(nodeModules(), [TAB, accountNode(sim, a), consumer('ou', 'binance-order-update', 'out', props), helperNode('out')], credentialsFor(a));
      const out = collect('out') as unknown as { msgs: Msg[] };
      await waitConnected();
      sim.runOrderLifecycle(a.accountId, { market: a.market, symbol: 'BTCUSDT', side: 'SELL', quantity: '0.001', price: '100' });
      await waitFor(() => out.msgs.some((m) => m.payload.executionType === 'TRADE'), 5000, 'a fill');
      const m = out.msgs.find((x) => x.payload.executionType === 'TRADE');
      assert.ok(m);
      await helper.unload();
      return m;
    }

    it('with the option: eventTimeIso, transactionTimeIso … beside the epoch ms; without it: none', async function () {
      const a = newAccount(sim, 'spot');
      const m = await firstFill(a, { isoTimes: true, numbers: true });
      const p = m.payload;
      assert.equal(typeof p.eventTime, 'number');
      assert.equal(p.eventTimeIso, new Date(p.eventTime as number).toISOString());
      assert.equal(p.transactionTimeIso, new Date(p.transactionTime as number).toISOString());
      assert.equal(typeof p.lastFilledPrice, 'number', 'numbers still converted');
      const keys = Object.keys(p);
      assert.equal(keys.indexOf('eventTimeIso'), keys.indexOf('eventTime') + 1, 'right after the epoch field');
      const plain = await firstFill(a, {});
      assert.equal(plain.payload.eventTimeIso, undefined);
    });
  });

  describe('binance-stream-status', function () {
    it('answers an input message with the current state (the message itself, so its properties travel back)', async function () {
      const a = newAccount(sim, 'spot');
      await helper.load(
        nodeModules(),
        [TAB, accountNode(sim, a), { ...consumer('ss', 'binance-stream-status', 'out'), isoTimes: true }, helperNode('out')],
        credentialsFor(a),
      );
      const out = collect('out') as unknown as { msgs: Msg[] };
      await waitConnected();
      await waitFor(() => out.msgs.length >= 1, 5000, 'the initial state');
      const n = out.msgs.length;
      (helper.getNode('ss') as unknown as { receive(m: unknown): void }).receive({ payload: 'ask', _client: { socketId: 'abc' } });
      await waitFor(() => out.msgs.length > n, 5000, 'the answer');
      const m = out.msgs[n];
      assert.equal(m.topic, 'state');
      assert.equal(m.payload.state, 'connected');
      assert.equal(m.account, 'test account');
      assert.deepEqual(m._client, { socketId: 'abc' });
      assert.equal(m.payload.atIso, new Date(m.payload.at as number).toISOString());
    });
  });
});
