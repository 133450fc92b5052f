/**
 * Simulator: a stalled connection is a true half-open link (nothing goes out, not even a pong or
 * the reply to a close frame), healthy connections still answer client pings, and refused
 * WebSocket handshakes (failNext 429/418) carry Retry-After like REST answers.
 */
import { strict as assert } from 'node:assert';
import type * as http from 'node:http';
import { WebSocket } from 'ws';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { WsClient, httpRequest, settle, subscribeParams } from './helpers';

/** Client ping with a payload; resolves with the payload of the matching pong. */
function pingFor(c: WsClient, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const onPong = (data: Buffer): void => {
      if (data.toString('utf8') !== payload) return;
      c.ws.off('pong', onPong);
      resolve(payload);
    };
    c.ws.on('pong', onPong);
    c.ws.ping(Buffer.from(payload));
  });
}

/** Opens a WebSocket that the server refuses; resolves with the HTTP status and headers. */
function refusedHandshake(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake was accepted'));
    });
    ws.once('unexpected-response', (_req, res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
  });
}

describe('simulator: half-open links and refused handshakes', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let hmac: CreatedKey;
  const clients: WsClient[] = [];

  async function connect(url: string): Promise<WsClient> {
    const c = await WsClient.connect(url);
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount().id;
    hmac = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await sim.stop();
  });

  it('a healthy connection answers client pings with the same payload (answered by hand, auto-pong is off)', async () => {
    const c = await connect(sim.wsApiUrl);
    assert.equal(await pingFor(c, 'hello-1'), 'hello-1');
    assert.equal(await pingFor(c, 'hello-2'), 'hello-2');
    assert.equal(sim.connections()[0].pingsReceived, 2);
  });

  for (const kind of ['ws-api', 'futures'] as const) {
    it(`${kind}: a stalled connection answers no client ping and sends nothing else`, async () => {
      let c: WsClient;
      if (kind === 'ws-api') {
        c = await connect(sim.wsApiUrl);
        await c.request('userDataStream.subscribe.signature', subscribeParams(hmac, sim.serverTime()));
      } else {
        const lk = await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: hmac.apiKey });
        c = await connect(`${sim.futuresWsUrl}/private/ws/${String(lk.json.listenKey)}`);
      }
      const control = await connect(sim.wsApiUrl);
      assert.equal(await pingFor(c, 'before'), 'before', 'answered while healthy');
      assert.equal(sim.stallConnections({ accountId: acct }), 1);
      let pongs = 0;
      c.ws.on('pong', () => pongs++);
      const frames = c.messages.length;
      c.ws.ping(Buffer.from('after'));
      // the server has read the ping ...
      for (let i = 0; i < 200 && (sim.connections({ accountId: acct })[0]?.pingsReceived ?? 0) < 2; i++) await settle(5);
      assert.equal(sim.connections({ accountId: acct })[0].pingsReceived, 2, 'the ping reached the server');
      // ... and a full round trip on another connection completes: a pong would have arrived by now
      assert.equal(await pingFor(control, 'control'), 'control');
      await settle(20);
      assert.equal(pongs, 0, 'no pong from a stalled connection');
      sim.deposit(acct, kind === 'ws-api' ? 'spot' : 'usdm-futures', 'USDT', '1');
      await pingFor(control, 'control-2');
      await settle(20);
      assert.equal(c.messages.length, frames, 'no event either');
      assert.equal(c.closed, false, 'the link stays open');
    });
  }

  it("a stalled connection does not even answer the client's close frame (the client sees 1006, not 1000)", async () => {
    const healthy = await connect(sim.wsApiUrl);
    healthy.ws.close(1000);
    await healthy.waitClosed();
    assert.equal(healthy.closeCode, 1000, 'a healthy server echoes the close frame');

    const c = await connect(sim.wsApiUrl);
    assert.equal(sim.stallConnections({}), 1);
    c.ws.close(1000);
    await c.waitClosed();
    assert.equal(c.closeCode, 1006, 'no close frame came back');
    for (let i = 0; i < 200 && sim.openConnections() > 0; i++) await settle(5);
    assert.equal(sim.openConnections(), 0, 'the server side is gone once the client hung up');
  });

  it('a refused WebSocket handshake (429 / 418) carries Retry-After like REST', async () => {
    sim.failNext({ path: '/ws-api/v3', httpStatus: 429, code: -1003, retryAfterSec: 7 });
    const r429 = await refusedHandshake(sim.wsApiUrl);
    assert.equal(r429.status, 429);
    assert.equal(r429.headers['retry-after'], '7');
    assert.equal((JSON.parse(r429.body) as { code: number }).code, -1003);

    sim.failNext({ path: '/ws-api/v3', httpStatus: 418 });
    const r418 = await refusedHandshake(sim.wsApiUrl);
    assert.equal(r418.status, 418);
    assert.equal(r418.headers['retry-after'], '120', 'a ban defaults to 120 s');

    const lk = await httpRequest(sim.restUrl, 'POST', '/fapi/v1/listenKey', { apiKey: hmac.apiKey });
    sim.failNext({ path: /^\/private\//, httpStatus: 429 });
    const f429 = await refusedHandshake(`${sim.futuresWsUrl}/private/ws/${String(lk.json.listenKey)}`);
    assert.equal(f429.status, 429);
    assert.equal(f429.headers['retry-after'], '1');

    sim.failNext({ path: '/ws-api/v3', httpStatus: 503 });
    const r503 = await refusedHandshake(sim.wsApiUrl);
    assert.equal(r503.status, 503);
    assert.equal(r503.headers['retry-after'], undefined, 'no Retry-After on other failures');

    // and then the handshake succeeds again
    const ok = await connect(sim.wsApiUrl);
    assert.equal(ok.closed, false);
  });
});
