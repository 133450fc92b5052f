/**
 * Hostile networks, REST and handshake level: hard deadlines against trickling servers, no
 * redirects (the key never reaches a second host), bounded answers, clamped server delays, and
 * redaction before truncation. Over loopback to the hostile server (test/hostile/server.ts).
 */
import assert from 'node:assert/strict';
import { MAX_SERVER_DELAY_MS, parseRetryAfter } from '../../nodes/lib/exchange/backoff';
import { ClockSync } from '../../nodes/lib/exchange/clock';
import { Redactor, redactTruncate } from '../../nodes/lib/exchange/redact';
import { BinanceApiError, MAX_RESPONSE_BYTES, RestClient } from '../../nodes/lib/transport/rest';
import { createSigner } from '../../nodes/lib/exchange/signing';
import { WsConnection } from '../../nodes/lib/transport/ws-connection';
import type { Logger } from '../../nodes/lib/types';
import { HostileServer, Recorder } from './server';

const API_KEY = 'hostileApiKey' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4Y5z6';
const SECRET = 'hostileSecret' + 'z9Y8x7W6v5U4t3S2r1Q0p9O8n7M6l5K4j3I2h1G0f9E8d7C6b5';
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function client(baseUrl: string, extra: { timeoutMs?: number } = {}): RestClient {
  return new RestClient({
    baseUrl,
    apiKey: API_KEY,
    signer: createSigner('hmac', { apiKey: API_KEY, apiSecret: SECRET }),
    recvWindow: 5000,
    timePath: '/api/v3/time',
    redactor: new Redactor([API_KEY, SECRET]),
    ...extra,
  });
}

/** Resolves with the settled outcome of `p`, or 'pending' if it has not settled when `other` does. */
async function outcome<T>(p: Promise<T>, other: Promise<unknown>): Promise<{ ok: T } | { err: unknown } | 'pending'> {
  return Promise.race([
    p.then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err }),
    ),
    other.then(() => 'pending' as const),
  ]);
}

describe('hostile networks: REST, clock sync and handshakes', function () {
  let hostile: HostileServer;

  beforeEach(async () => {
    hostile = await HostileServer.start();
  });
  afterEach(async () => {
    await hostile.close();
  });

  describe('a trickling server', () => {
    it('REST: a call has a hard total deadline, however often a byte arrives', async () => {
      // A valid answer, one byte every 20 ms: complete after about 2 s, far past the 300 ms deadline.
      const body = JSON.stringify({ serverTime: 1_700_000_000_000, pad: 'x'.repeat(60) });
      let closed!: Promise<void>;
      hostile.on('GET', '/api/v3/time', (_req, res) => {
        closed = new Promise((r) => res.on('close', () => r()));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        hostile.trickle(res, body, 20);
      });
      const rest = client(hostile.restUrl, { timeoutMs: 300 });
      const err = await rest.request('GET', '/api/v3/time').then(
        () => assert.fail('the trickled answer was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BinanceApiError);
      assert.equal(err.kind, 'network');
      assert.match(err.message, /GET \/api\/v3\/time: no complete answer within 0\.3 s \(abandoned\)/);
      await closed; // and the connection was dropped, not left trickling
    });

    it('clock sync: a never-answering time source rejects at the deadline and the next sync asks again', async () => {
      let calls = 0;
      let lastSignal: AbortSignal | undefined;
      const clock = new ClockSync(
        (signal) => {
          calls++;
          lastSignal = signal;
          return new Promise<number>(() => undefined); // never settles
        },
        { deadlineMs: 50 },
      );
      const a = clock.sync();
      const b = clock.sync(); // shares the request
      const never = new Promise<void>((r) => setTimeout(r, 2_000));
      const ra = await outcome(a, never);
      const rb = await outcome(b, never);
      assert.ok(ra !== 'pending' && 'err' in ra, 'the first caller is not left waiting');
      assert.ok(rb !== 'pending' && 'err' in rb, 'nor the one that shared the request');
      assert.match(String((ra as { err: Error }).err.message), /server time not received within 0\.1 s/);
      assert.equal(lastSignal?.aborted, true, 'the request was told to abort');
      assert.equal(calls, 1);
      assert.equal(await clock.ensureFresh(0), false, 'ensureFresh never rejects');
      assert.equal(calls, 2, 'the next sync is a new request');
    });

    it('clock sync through the REST client: the trickled GET /api/v3/time is abandoned at the deadline', async () => {
      hostile.on('GET', '/api/v3/time', (_req, res) => {
        const body = `{"serverTime":1700000000000}${' '.repeat(372)}`; // 10 s in full
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        hostile.trickle(res, body, 25);
      });
      const rest = client(hostile.restUrl, { timeoutMs: 300 });
      const r = await outcome(rest.clock.sync(), new Promise((res) => setTimeout(res, 3_000)));
      assert.ok(r !== 'pending' && 'err' in r, `the sync settled with an error (${JSON.stringify(r)})`);
      assert.equal(rest.clock.lastSyncAt, undefined);
    });

    it('WebSocket handshake: a hard total deadline, however often a byte of the upgrade answer arrives', async () => {
      hostile.onUpgradeRequest((_req, socket) => {
        hostile.trickle(socket, `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Pad: ${'p'.repeat(200)}\r\n`, 10);
      });
      const err = await WsConnection.open({
        url: hostile.wsApiUrl,
        silenceTimeoutMs: 30_000,
        pingIntervalMs: 4_000,
        logger: quiet,
        label: 'test',
        handshakeTimeoutMs: 300,
      }).then(
        (c) => {
          c.terminate('test');
          return assert.fail('the trickled handshake was accepted');
        },
        (e: unknown) => e,
      );
      assert.ok(err instanceof BinanceApiError);
      assert.equal(err.kind, 'network');
      assert.match(err.message, /WebSocket handshake not completed within 0\.3 s/);
    });
  });

  describe('redirects', () => {
    let recorder: Recorder;
    beforeEach(async () => {
      recorder = await Recorder.start('127.0.0.2');
    });
    afterEach(async () => {
      await recorder.close();
    });

    for (const status of [301, 302, 303, 307, 308]) {
      it(`REST: a ${status} is an error naming the status; nothing reaches the redirect target (no key, no signed query)`, async () => {
        hostile.on('GET', '/api/v3/account', (req, res) => {
          res.writeHead(status, { location: `${recorder.url}/steal${(req.url ?? '').slice('/api/v3/account'.length)}` }).end();
        });
        const rest = client(hostile.restUrl);
        const err = await rest.request('GET', '/api/v3/account', { omitZeroBalances: true }, { security: 'signed' }).then(
          () => assert.fail('the redirect was followed'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof BinanceApiError);
        assert.equal(err.httpStatus, status);
        assert.match(err.message, new RegExp(`GET /api/v3/account failed: HTTP ${status} redirect refused`));
        assert.doesNotMatch(err.message, /127\.0\.0\.2|steal|signature|timestamp|omitZeroBalances/, 'neither the target nor our query string');
        assert.ok(!err.message.includes(API_KEY));
        assert.equal(hostile.requests.filter((r) => r.url.startsWith('/api/v3/account')).length, 1, 'asked once');
        assert.deepEqual(recorder.seen, [], 'nothing reached the second host');
      });
    }

    it('REST: the API-key-only listenKey POST is not forwarded either (the key alone opens the stream)', async () => {
      hostile.on('POST', '/fapi/v1/listenKey', (_req, res) => {
        res.writeHead(307, { location: `${recorder.url}/fapi/v1/listenKey` }).end();
      });
      const rest = client(hostile.restUrl);
      await assert.rejects(rest.request('POST', '/fapi/v1/listenKey', {}, { security: 'apiKey' }), /HTTP 307 redirect refused/);
      assert.deepEqual(recorder.seen, []);
    });

    it('WebSocket: a redirected handshake is refused and the target sees nothing (as before: a guard)', async () => {
      hostile.onUpgradeRequest((_req, socket) => HostileServer.refuseUpgrade(socket, 302, { Location: `${recorder.url.replace('http', 'ws')}/ws-api/v3` }));
      await assert.rejects(
        WsConnection.open({ url: hostile.wsApiUrl, silenceTimeoutMs: 30_000, pingIntervalMs: 4_000, logger: quiet, label: 'test' }),
        /handshake refused: HTTP 302/,
      );
      assert.deepEqual(recorder.seen, []);
    });
  });

  describe('bounded answers', () => {
    it(`REST: a body larger than the cap (${MAX_RESPONSE_BYTES / 1024 / 1024} MiB) fails with a clear error and the connection is dropped mid-body`, async () => {
      // 12 times the cap, streamed by the server from one 64 KiB buffer: nothing large is allocated.
      let report: ReturnType<HostileServer['huge']> | undefined;
      hostile.on('GET', '/api/v3/time', (_req, res) => {
        report = hostile.huge(res, 12 * MAX_RESPONSE_BYTES);
      });
      const rest = client(hostile.restUrl);
      const err = await rest.request('GET', '/api/v3/time').then(
        () => assert.fail('the huge body was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof BinanceApiError);
      assert.match(err.message, /GET \/api\/v3\/time: answer larger than 4096 KiB refused \(connection dropped\)/);
      assert.ok(report);
      await report.done;
      assert.equal(report.aborted, true, 'the server saw the connection dropped before the end of the body');
      assert.ok(report.bytesSent < report.total, `the server could not send it all (${report.bytesSent} of ${report.total})`);
    });
  });

  describe('server-given delays', () => {
    it('Retry-After values are clamped: absurd, negative, dates, garbage', () => {
      assert.equal(parseRetryAfter('3000000'), MAX_SERVER_DELAY_MS, '34 days → the maximum');
      assert.equal(parseRetryAfter('7'), 7_000);
      assert.equal(parseRetryAfter('-5'), 0);
      assert.equal(parseRetryAfter(''), undefined);
      assert.equal(parseRetryAfter('soon'), undefined);
      assert.equal(parseRetryAfter(undefined), undefined);
      const now = Date.parse('2026-01-01T00:00:00Z');
      assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30_000);
      assert.equal(parseRetryAfter('Fri, 01 Jan 2027 00:00:00 GMT', now), MAX_SERVER_DELAY_MS);
      // every BinanceApiError clamps, whatever the source (REST, handshake, WS API retryAfter)
      assert.equal(new BinanceApiError('x', { httpStatus: 429, retryAfterMs: 1e12 }).retryAfterMs, MAX_SERVER_DELAY_MS);
    });

    it('REST: 429 with Retry-After: 3000000 gives a clamped wait', async () => {
      hostile.on('POST', '/fapi/v1/listenKey', (_req, res) => {
        res.writeHead(429, { 'retry-after': '3000000', 'content-type': 'application/json' }).end('{"code":-1003,"msg":"Too many requests."}');
      });
      const err = await client(hostile.restUrl)
        .request('POST', '/fapi/v1/listenKey', {}, { security: 'apiKey' })
        .then(
          () => assert.fail('accepted'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof BinanceApiError);
      assert.equal(err.kind, 'rate-limit');
      assert.equal(err.retryAfterMs, MAX_SERVER_DELAY_MS);
    });

    it('HTTP 451 (restricted location) is its own kind, not a server error', async () => {
      hostile.on('GET', '/api/v3/time', (_req, res) => {
        res
          .writeHead(451, { 'content-type': 'application/json' })
          .end('{"code":0,"msg":"Service unavailable from a restricted location according to \'b. Eligibility\' in https://www.binance.com/en/terms."}');
      });
      const err = await client(hostile.restUrl)
        .request('GET', '/api/v3/time')
        .then(
          () => assert.fail('accepted'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof BinanceApiError);
      assert.equal(err.kind, 'restricted');
      assert.equal(err.httpStatus, 451);
    });
  });

  describe('redact first, then truncate', () => {
    it('a secret straddling the cut leaks no part of itself', () => {
      const text = `${'x'.repeat(290)}${API_KEY} and more`;
      const out = redactTruncate(text, [API_KEY], 300);
      assert.ok(!out.includes(API_KEY.slice(0, 6)), out);
      const r = new Redactor([API_KEY]);
      assert.ok(!r.clip(text, 300).includes(API_KEY.slice(0, 6)));
    });

    it('WebSocket handshake refused with the key inside a long error text: no prefix of it in the error', async () => {
      const msg = `${'m'.repeat(190)}${API_KEY}${'n'.repeat(50)}`;
      hostile.onUpgradeRequest((_req, socket) => HostileServer.refuseUpgrade(socket, 400, {}, JSON.stringify({ code: -1100, msg })));
      const err = await WsConnection.open({
        url: hostile.wsApiUrl,
        silenceTimeoutMs: 30_000,
        pingIntervalMs: 4_000,
        logger: quiet,
        label: 'test',
        redact: (t) => new Redactor([API_KEY]).apply(t),
      }).then(
        () => assert.fail('accepted'),
        (e: unknown) => e as Error,
      );
      assert.match(err.message, /handshake refused: HTTP 400 -1100 m+\*\*\*/);
      assert.ok(!err.message.includes(API_KEY.slice(0, 8)), err.message);
    });
  });
});
