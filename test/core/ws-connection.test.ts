import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { MAX_FRAMES_PER_TURN, WsConnection } from '../../nodes/lib/transport/ws-connection';
import type { Logger } from '../../nodes/lib/types';

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe('core: WsConnection reads in bounded bursts', () => {
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

  it('a burst of thousands of frames: reading pauses at the MAX_FRAMES_PER_TURN-th frame of a turn and resumes in the next; all frames arrive, in order', async () => {
    const conn = await WsConnection.open({ url, silenceTimeoutMs: 60_000, pingIntervalMs: 30_000, logger: quiet, label: 'test' });
    const server = await serverSide;
    const clientWs = (conn as unknown as { ws: { isPaused: boolean } }).ws;
    const total = 4000;
    const pad = 'x'.repeat(180);
    const frames = Array.from({ length: total }, (_, i) => JSON.stringify({ n: i, pad }));
    const turns: { frames: number; pausedAt: number | undefined; pausedAtStart: boolean }[] = [];
    const seen: number[] = [];
    let turn: (typeof turns)[number] | undefined;
    const all = new Promise<void>((resolve) => {
      conn.onMessage = (text) => {
        if (!turn) {
          const t = { frames: 0, pausedAt: undefined, pausedAtStart: clientWs.isPaused };
          turn = t;
          turns.push(t);
          setImmediate(() => {
            turn = undefined;
          });
        }
        turn.frames++;
        if (turn.pausedAt === undefined && clientWs.isPaused) turn.pausedAt = turn.frames;
        seen.push((JSON.parse(text) as { n: number }).n);
        if (seen.length === total) resolve();
      };
    });
    // One corked write of about 800 KB: Node reads it in 64 KB chunks of ~300 frames each.
    const sock = (server as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    sock.cork();
    for (const f of frames) server.send(f);
    sock.uncork();
    await all;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, Array.from({ length: total }, (_, i) => i), 'every frame, in order');
    const busy = turns.filter((t) => t.frames >= MAX_FRAMES_PER_TURN);
    assert.ok(busy.length > 0, `some turn had at least ${MAX_FRAMES_PER_TURN} frames (turns: ${turns.map((t) => t.frames).join(',')})`);
    for (const t of busy) assert.equal(t.pausedAt, MAX_FRAMES_PER_TURN, 'paused exactly at the limit');
    for (const t of turns.filter((x) => x.frames < MAX_FRAMES_PER_TURN)) assert.equal(t.pausedAt, undefined, 'no pause below the limit');
    assert.ok(turns.every((t) => !t.pausedAtStart), 'every turn starts with reading resumed');
    assert.equal(clientWs.isPaused, false, 'reading resumed after the burst');
    await conn.close(1000);
  });

  it('a connection that closes while reading is paused still reports its close', async () => {
    const conn = await WsConnection.open({ url, silenceTimeoutMs: 60_000, pingIntervalMs: 30_000, logger: quiet, label: 'test' });
    const server = await serverSide;
    let got = 0;
    conn.onMessage = () => {
      got++;
    };
    const closed = new Promise<string>((r) => {
      conn.onClose = (info) => r(info.reason);
    });
    const sock = (server as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
    sock.cork();
    for (let i = 0; i < MAX_FRAMES_PER_TURN * 3; i++) server.send(`{"n":${i}}`);
    sock.uncork();
    server.close(1001, 'going away');
    assert.equal(await closed, 'server-close');
    assert.equal(got, MAX_FRAMES_PER_TURN * 3, 'frames sent before the close are all handled');
  });
});

describe('core: WsConnection keeps frames that arrive with the handshake', () => {
  it('a frame sent in the same TCP write as the 101 answer reaches the handler set right after open() (a futures stream may push an event at once)', async () => {
    const { createServer } = await import('node:http');
    const { createHash } = await import('node:crypto');
    const server = createServer();
    const sockets = new Set<import('node:stream').Duplex>();
    server.on('upgrade', (req, socket) => {
      sockets.add(socket);
      const accept = createHash('sha1')
        .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      const payload = Buffer.from(JSON.stringify({ e: 'ORDER_TRADE_UPDATE', n: 1 }));
      const frame = Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
      // one write: the handshake answer and the first frame arrive in one chunk
      socket.write(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`),
          frame,
        ]),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const conn = await WsConnection.open({ url, silenceTimeoutMs: 60_000, pingIntervalMs: 30_000, logger: quiet, label: 'test' });
      const got: string[] = [];
      conn.onMessage = (text) => got.push(text);
      for (let i = 0; i < 20 && got.length === 0; i++) await new Promise((r) => setImmediate(r));
      conn.terminate('test over');
      assert.deepEqual(got, [JSON.stringify({ e: 'ORDER_TRADE_UPDATE', n: 1 })]);
    } finally {
      for (const s of sockets) s.destroy(); // upgraded sockets are no longer the server's
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
