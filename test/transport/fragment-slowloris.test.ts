/**
 * Issue 24, the fragment slow-loris: a server that opens a fragmented WebSocket message (a first
 * frame without FIN), never sends the rest and keeps answering our pings kept the stream
 * `connected` with nothing readable, for ever (every pong counted as a sign of life). An incomplete
 * message now counts as silence: once it has stayed incomplete longer than the silence watchdog
 * allows, the link is dropped and replaced, as a half-open one. On the old code these tests time
 * out waiting for the drop.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { BinanceSimulator } from '../../simulator/index';
import { StreamManager } from '../../nodes/lib/stream/stream-manager';
import { WsConnection, type CloseInfo } from '../../nodes/lib/transport/ws-connection';
import { advance, installClock, waitFor, type Clock } from '../support/fake-clock';
import { LogCapture, attach, simConfig, testEvent } from '../core/helpers';

/** A server-to-client text frame without FIN (RFC 6455 §5.2: 0x01, unmasked, short payload). */
function openingFragment(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error('short payloads only');
  return Buffer.concat([Buffer.from([0x01, payload.length]), payload]);
}

describe('transport: an incomplete fragmented message counts as silence', function () {
  this.timeout(60_000);

  describe('WsConnection against a plain ws server that answers pings', () => {
    let wss: WebSocketServer;
    let url: string;
    let serverSide: Promise<ServerSocket>;

    beforeEach(async () => {
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise<void>((r) => wss.once('listening', () => r()));
      url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
      serverSide = new Promise((r) => wss.once('connection', (ws) => r(ws)));
    });
    afterEach(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    });

    it('a first fragment never finished: pongs keep coming, yet the connection is dropped by the watchdog', async () => {
      const log = new LogCapture();
      const conn = await WsConnection.open({ url, silenceTimeoutMs: 1_000, pingIntervalMs: 200, pongTimeoutMs: 1_000, logger: log, label: 'test' });
      const server = await serverSide;
      const got: string[] = [];
      conn.onMessage = (t) => got.push(t);
      const closed = new Promise<CloseInfo>((r) => {
        conn.onClose = r;
      });
      let pings = 0;
      server.on('ping', () => pings++);
      server.send('{"e":"executionReport","partial":', { fin: false });
      const sentAt = Date.now();
      const info = await Promise.race([
        closed,
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('still connected 20 s after the fragment (the limit is 1 s)')), 20_000).unref()),
      ]);
      assert.equal(info.reason, 'watchdog');
      assert.ok(pings >= 2, `the server answered ${pings} pings meanwhile`);
      assert.ok(info.lastFrameAt > sentAt, 'a pong arrived after the fragment: by the frame rule the link was alive');
      assert.deepEqual(got, [], 'nothing readable arrived');
      assert.match(log.text(), /^warn test: a fragmented message has stayed incomplete for \d+ s \(limit 1 s\): reconnecting$/m);
    });

    it('fragmented messages that do complete are delivered and the connection stays (the watch is per message)', async () => {
      const conn = await WsConnection.open({ url, silenceTimeoutMs: 1_000, pingIntervalMs: 200, pongTimeoutMs: 1_000, logger: new LogCapture(), label: 'test' });
      const server = await serverSide;
      const got: string[] = [];
      conn.onMessage = (t) => got.push(t);
      let closed: CloseInfo | undefined;
      conn.onClose = (i) => {
        closed = i;
      };
      // 12 messages of 3 fragments, one fragment every 80 ms: some message is open nearly all the time
      for (let m = 0; m < 12; m++) {
        for (let f = 0; f < 3; f++) {
          server.send(f === 0 ? `{"m":${m},` : f === 1 ? '"x":' : '1}', { fin: f === 2 });
          await new Promise((r) => setTimeout(r, 80));
        }
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(closed, undefined, 'not dropped');
      assert.deepEqual(
        got.map((t) => (JSON.parse(t) as { m: number }).m),
        Array.from({ length: 12 }, (_, i) => i),
      );
      await conn.close(1_000);
    });
  });

  describe('the account stream against the simulator (fake timers)', () => {
    let clock: Clock | undefined;
    let sim: BinanceSimulator | undefined;
    let manager: StreamManager | undefined;

    afterEach(async () => {
      try {
        if (manager && clock) {
          const p = manager.stop();
          await advance(clock, 6_000, 500);
          await p;
        }
        await sim?.stop();
      } finally {
        manager = undefined;
        clock?.uninstall();
        clock = undefined;
      }
    });

    for (const market of ['spot', 'usdm-futures'] as const) {
      it(`${market}: the server opens a fragmented message and answers pings: the link is dropped ('watchdog') and replaced; events flow on the new one`, async () => {
        clock = installClock();
        sim = await BinanceSimulator.start();
        const { id: accountId } = sim.createAccount();
        const c = simConfig(sim, accountId, market);
        const log = new LogCapture();
        const m = (manager = new StreamManager(c.config, { logger: log }));
        const rec = attach(m);
        m.acquire('c1');
        await waitFor(() => m.state === 'connected', { clock, stepMs: 50, timeoutMs: 10_000, message: 'connected' });
        const kind = market === 'spot' ? 'ws-api' : 'futures';
        const sockets = sim.rawSockets({ accountId, kind });
        assert.equal(sockets.length, 1);
        sockets[0].write(openingFragment('{"e":"balanceUpdate","E":1,'));
        const openedAt = Date.now();
        await waitFor(() => rec.gaps.length === 1, { clock, stepMs: 250, maxFakeMs: 30 * 60_000, timeoutMs: 60_000, message: 'the watchdog drop' });
        assert.equal(rec.gaps[0].reason, 'watchdog');
        const droppedAt = rec.states.find((s) => s.state === 'reconnecting')?.at ?? 0;
        assert.ok(droppedAt > openedAt, 'dropped after the fragment');
        assert.match(log.text(), /^warn .*a fragmented message has stayed incomplete/m);
        assert.doesNotMatch(log.text(), /half-open link/, 'not the pong deadline: pongs kept coming');
        await waitFor(() => m.state === 'connected', { clock, stepMs: 250, maxFakeMs: 60_000, timeoutMs: 30_000, message: 'reconnected' });
        sim.injectEvent(accountId, market, testEvent(market, 1));
        await waitFor(() => rec.events.length === 1, { clock, stepMs: 50, timeoutMs: 10_000, message: 'an event on the new link' });
      });
    }
  });
});
