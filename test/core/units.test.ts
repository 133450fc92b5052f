import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { Backoff, reconnectOptions } from '../../nodes/lib/exchange/backoff';
import {
  COINM_API_FAMILY,
  COINM_RECOVERY_PATHS,
  DEFAULT_COINM_API,
  DEFAULT_FUTURES_PATH_FORM,
  FUTURES_PATH_FORMS,
  ENDPOINTS,
  FUTURES_USER_DATA_EVENTS,
  futuresStreamUrl,
  isLoopbackHost,
  resolveEndpoints,
} from '../../nodes/lib/exchange/endpoints';
import { Redactor, redact } from '../../nodes/lib/exchange/redact';
import { BinanceApiError, classifyError } from '../../nodes/lib/transport/rest';
import { CredentialsError, createSigner, restQueryString, wsApiPayload } from '../../nodes/lib/exchange/signing';
import { renewDelay } from '../../nodes/lib/transport/transport-margin';
import { Deduper } from '../../nodes/lib/stream/overlap-dedup';
import { installClock } from '../support/fake-clock';
import { accountIdentity, shortId } from '../../nodes/lib/stream/identity';
import type { AccountConfig } from '../../nodes/lib/types';

const K = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';
const S = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';

function cfg(extra: Partial<AccountConfig>): AccountConfig {
  return { market: 'spot', environment: 'production', keyType: 'hmac', credentials: { apiKey: K, apiSecret: S }, ...extra };
}

describe('core units: signing', () => {
  const hmac = createSigner('hmac', { apiKey: K, apiSecret: S });

  it('HMAC known-answer vectors of the reference (WS-API payloads, sorted)', () => {
    assert.equal(wsApiPayload({ timestamp: 1649729878532, apiKey: K }), `apiKey=${K}&timestamp=1649729878532`);
    assert.equal(hmac(`apiKey=${K}&timestamp=1649729878532`), '1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed');
    assert.equal(hmac(`apiKey=${K}&timestamp=1660801839480`), '83303b4a136ac1371795f465808367242685a9e3a42b22edb4d977d0696eb45c');
    assert.equal(
      hmac(wsApiPayload({ symbol: 'BTCUSDT', timestamp: 1660813156812, apiKey: K })),
      'd632b3fdb8a81dd44f82c7c901833309dd714fe508772a89b0a35b0ee0c48b89',
    );
    const order = {
      type: 'LIMIT', timestamp: 1645423376532, timeInForce: 'GTC', symbol: 'BTCUSDT', side: 'SELL',
      recvWindow: 100, quantity: '0.01000000', price: '52000.00', apiKey: K,
    };
    assert.equal(hmac(wsApiPayload(order)), 'aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24');
    const utf8 = {
      apiKey: K, price: '0.10000000', quantity: '1.00000000', recvWindow: 5000, side: 'BUY', symbol: '１２３４５６',
      timeInForce: 'GTC', timestamp: 1645423376532, type: 'LIMIT',
    };
    assert.equal(hmac(wsApiPayload(utf8)), 'b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd');
    assert.equal(
      hmac(wsApiPayload({ timestamp: 1747385641636, recvWindow: 5000, apiKey: K })),
      '49601ffc5b0122c3c7ee3ea85ef7d6cd76256f5191a57c976418faa32e917653',
    );
    assert.equal(wsApiPayload({ b: 1, a: 2, signature: 'x', c: undefined }), 'a=2&b=1');
  });

  it('REST: sent order, percent-encoded, known-answer vector', () => {
    const qs = restQueryString({
      symbol: 'LTCBTC', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: 1, price: 0.1, recvWindow: 5000, timestamp: 1499827319559,
    });
    assert.equal(qs, 'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559');
    assert.equal(hmac(qs), 'c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71');
    assert.equal(restQueryString({ symbol: '１２', x: 'a b&c' }), 'symbol=%EF%BC%91%EF%BC%92&x=a%20b%26c');
  });

  it('Ed25519 and RSA (base64) verify with the public key; encrypted PEM with passphrase', () => {
    const ed = crypto.generateKeyPairSync('ed25519');
    const edPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sigEd = createSigner('ed25519', { apiKey: 'k', privateKey: edPem })('apiKey=k&timestamp=1');
    assert.match(sigEd, /^[A-Za-z0-9+/]+=*$/);
    assert.ok(crypto.verify(null, Buffer.from('apiKey=k&timestamp=1'), ed.publicKey, Buffer.from(sigEd, 'base64')));

    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaPem = rsa.privateKey
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass phrase' })
      .toString();
    const sigRsa = createSigner('rsa', { apiKey: 'k', privateKey: rsaPem, passphrase: 'pass phrase' })('a=1');
    assert.ok(crypto.verify('sha256', Buffer.from('a=1'), { key: rsa.publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, Buffer.from(sigRsa, 'base64')));

    assert.throws(() => createSigner('rsa', { apiKey: 'k', privateKey: rsaPem }), (e: Error) => e instanceof CredentialsError && /passphrase is needed/.test(e.message));
    assert.throws(() => createSigner('rsa', { apiKey: 'k', privateKey: rsaPem, passphrase: 'wrong-one' }), (e: Error) => e instanceof CredentialsError && !e.message.includes('wrong-one'));
    assert.throws(() => createSigner('ed25519', { apiKey: 'k', privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }), /not ed25519/);
    assert.throws(() => createSigner('hmac', { apiKey: 'k' }), /secret is missing/);
    assert.throws(() => createSigner('hmac', { apiKey: '', apiSecret: 's' }), /API key is missing/);
  });
});

describe('core units: backoff', () => {
  it('full jitter: first delay within the initial bound, doubling ceiling, capped, reset', () => {
    const b = new Backoff(1_000, 60_000, () => 0.999999);
    const delays = Array.from({ length: 10 }, () => b.next());
    assert.ok(delays[0] <= 1_000);
    assert.deepEqual(delays.map((d, i) => d <= b.ceiling(i + 1)), Array(10).fill(true));
    assert.equal(b.ceiling(1), 1_000);
    assert.equal(b.ceiling(2), 2_000);
    assert.equal(b.ceiling(7), 60_000);
    assert.equal(b.ceiling(1000), 60_000);
    assert.ok(delays[9] > 50_000 && delays[9] <= 60_000);
    assert.equal(b.attempt, 10);
    b.reset();
    assert.equal(b.attempt, 0);
    assert.ok(b.next() <= 1_000);
    const zero = new Backoff(1_000, 60_000, () => 0);
    assert.equal(zero.next(), 0);
  });

  it('jitter is spread over [0, ceiling]', () => {
    const b = new Backoff(1_000, 60_000);
    const d = Array.from({ length: 200 }, () => {
      b.reset();
      return b.next();
    });
    assert.ok(Math.min(...d) < 300 && Math.max(...d) > 700);
  });

  it('reconnect options: defaults and sanitising', () => {
    assert.deepEqual(reconnectOptions(), { initialDelayMs: 1_000, maxDelayMs: 60_000, authRetryDelayMs: 300_000 });
    assert.deepEqual(reconnectOptions({ initialDelayMs: -1, maxDelayMs: 10 }), { initialDelayMs: 1_000, maxDelayMs: 1_000, authRetryDelayMs: 300_000 });
  });
});

describe('core units: endpoints', () => {
  it('one table: production, testnet, demo for every venue', () => {
    assert.equal(resolveEndpoints(cfg({})).wsUrl, 'wss://ws-api.binance.com:443/ws-api/v3');
    assert.equal(resolveEndpoints(cfg({ environment: 'testnet' })).wsUrl, 'wss://ws-api.testnet.binance.vision/ws-api/v3');
    assert.equal(resolveEndpoints(cfg({ environment: 'demo' })).restUrl, 'https://demo-api.binance.com');
    const um = resolveEndpoints(cfg({ market: 'usdm-futures' }));
    assert.equal(um.restUrl, 'https://fapi.binance.com');
    assert.equal(um.wsUrl, 'wss://fstream.binance.com');
    assert.equal(um.listenKeyPath, '/fapi/v1/listenKey');
    assert.equal(um.timePath, '/fapi/v1/time');
    assert.equal(um.serverPingIntervalMs, 180_000);
    assert.equal(resolveEndpoints(cfg({ market: 'usdm-futures', environment: 'testnet' })).wsUrl, 'wss://fstream.binancefuture.com');
    assert.equal(resolveEndpoints(cfg({ market: 'usdm-futures', environment: 'demo' })).wsUrl, 'wss://demo-fstream.binance.com');
    assert.equal(COINM_API_FAMILY, 'dapi');
    assert.equal(DEFAULT_COINM_API, 'dapi');
    const cm = resolveEndpoints(cfg({ market: 'coinm-futures' }));
    assert.equal(cm.restUrl, 'https://dapi.binance.com');
    assert.equal(cm.wsUrl, 'wss://dstream.binance.com');
    assert.equal(cm.listenKeyPath, '/dapi/v1/listenKey');
    assert.equal(cm.timePath, '/dapi/v1/time');
    assert.equal(cm.futuresStreamStyle, 'ws');
    assert.equal(cm.recovery.restUrl, 'https://dapi.binance.com');
    assert.equal(cm.recovery.paths?.trades, '/dapi/v1/userTrades');
    // unified COIN-M: listenKey + stream on fapi/fstream, recovery stays on dapi
    const cu = resolveEndpoints(cfg({ market: 'coinm-futures', coinmApi: 'fapi' }));
    assert.equal(cu.restUrl, 'https://fapi.binance.com');
    assert.equal(cu.wsUrl, 'wss://fstream.binance.com');
    assert.equal(cu.listenKeyPath, '/fapi/v1/listenKey');
    assert.equal(cu.futuresStreamStyle, 'private');
    assert.equal(cu.recovery.restUrl, 'https://dapi.binance.com');
    assert.deepEqual(cu.recovery.paths, COINM_RECOVERY_PATHS);
    const cuc = resolveEndpoints(cfg({ market: 'coinm-futures', coinmApi: 'fapi', environment: 'custom', restUrl: 'http://127.0.0.1:1', wsUrl: 'ws://127.0.0.1:1' }));
    assert.equal(cuc.recovery.restUrl, 'http://127.0.0.1:1');
    assert.throws(() => resolveEndpoints(cfg({ market: 'coinm-futures', coinmApi: 'papi' as never })), /unknown COIN-M API family/);
    assert.equal(um.recovery.restUrl, 'https://fapi.binance.com');
    assert.equal(um.futuresStreamStyle, 'private');
    assert.equal(resolveEndpoints(cfg({ market: 'coinm-futures', environment: 'testnet' })).wsUrl, 'wss://dstream.binancefuture.com');
    assert.equal(resolveEndpoints(cfg({ market: 'coinm-futures', environment: 'demo' })).wsUrl, 'wss://demo-dstream.binance.com');
    const mg = resolveEndpoints(cfg({ market: 'isolated-margin', symbol: 'BTCUSDT' }));
    assert.equal(mg.listenTokenPath, '/sapi/v1/userListenToken');
    assert.equal(mg.serverPingIntervalMs, 20_000);
    for (const fam of Object.values(ENDPOINTS)) for (const h of Object.values(fam)) {
      assert.match(h.restUrl, /^https:\/\//);
      assert.match(h.wsUrl, /^wss:\/\//);
    }
  });

  it('custom URLs: plain only on loopback, clear errors otherwise', () => {
    const ok = resolveEndpoints(cfg({ environment: 'custom', restUrl: 'http://127.0.0.1:8090/', wsUrl: 'ws://localhost:8090/ws-api/v3' }));
    assert.equal(ok.restUrl, 'http://127.0.0.1:8090');
    assert.equal(ok.wsUrl, 'ws://localhost:8090/ws-api/v3');
    assert.ok(resolveEndpoints(cfg({ environment: 'custom', restUrl: 'http://[::1]:1', wsUrl: 'ws://127.1.2.3:1' })));
    assert.ok(resolveEndpoints(cfg({ environment: 'custom', restUrl: 'https://gw.example.com', wsUrl: 'wss://gw.example.com/ws' })));
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', restUrl: 'http://example.com', wsUrl: 'wss://x.com' })), /must use https:\/\/ for host example\.com.*loopback/);
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', restUrl: 'https://x.com', wsUrl: 'ws://10.0.0.1' })), /must use wss:\/\//);
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', restUrl: 'ftp://x.com', wsUrl: 'wss://x.com' })), /must start with https:\/\//);
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', wsUrl: 'wss://x.com' })), /Custom REST URL is required/);
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', restUrl: 'not a url', wsUrl: 'wss://x.com' })), /not a valid URL/);
    assert.throws(() => resolveEndpoints(cfg({ environment: 'custom', restUrl: 'https://u:p@x.com', wsUrl: 'wss://x.com' })), (e: Error) => !e.message.includes('u:p'));
    assert.throws(() => resolveEndpoints(cfg({ market: 'isolated-margin' })), /needs a symbol/);
    assert.ok(isLoopbackHost('127.255.0.1') && isLoopbackHost('[::1]') && !isLoopbackHost('128.0.0.1') && !isLoopbackHost('127.0.0.256'));
  });

  it('futures stream URL forms on /private, events list includes listenKeyExpired', () => {
    assert.equal(DEFAULT_FUTURES_PATH_FORM, 'ws-query');
    assert.ok(FUTURES_USER_DATA_EVENTS.includes('listenKeyExpired') && FUTURES_USER_DATA_EVENTS.includes('ORDER_TRADE_UPDATE'));
    assert.equal(futuresStreamUrl('wss://fstream.binance.com/', 'abc', 'ws-path'), 'wss://fstream.binance.com/private/ws/abc');
    const q = new URL(futuresStreamUrl('wss://fstream.binance.com', 'abc', 'ws-query'));
    assert.equal(q.pathname, '/private/ws');
    assert.equal(q.searchParams.get('listenKey'), 'abc');
    assert.deepEqual(q.searchParams.get('events')?.split('/'), [...FUTURES_USER_DATA_EVENTS]);
    // the query form without the events= allow-list (issue 22): ccxt's and the connector's form
    assert.equal(futuresStreamUrl('wss://fstream.binance.com', 'abc', 'ws-query-no-events'), 'wss://fstream.binance.com/private/ws?listenKey=abc');
    assert.deepEqual([...FUTURES_PATH_FORMS], ['ws-query', 'ws-query-no-events', 'ws-path']);
    for (const f of FUTURES_PATH_FORMS) assert.equal(resolveEndpoints({ ...cfg({ market: 'usdm-futures' }), futuresPathForm: f }).futuresPathForm, f);
    assert.throws(
      () => resolveEndpoints({ ...cfg({ market: 'usdm-futures' }), futuresPathForm: 'legacy' as never }),
      /unknown futures stream URL form "legacy" \(ws-query, ws-query-no-events, ws-path, or empty for the default ws-query\)/,
    );
    // dstream: /ws/<key>, whatever the /private form setting
    assert.equal(futuresStreamUrl('wss://dstream.binance.com', 'abc', 'ws-query', 'ws'), 'wss://dstream.binance.com/ws/abc');
    assert.equal(futuresStreamUrl('wss://dstream.binance.com/', 'abc', 'ws-path', 'ws'), 'wss://dstream.binance.com/ws/abc');
  });
});

describe('core units: redaction, errors, identity, dedup, renewal timing', () => {
  it('redacts secrets, key-like runs of PEM bodies and percent-encoded forms', () => {
    const pem = crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const body = pem.split('\n')[1];
    assert.equal(redact(`key ${K} and ${S}!`, [K, S]), 'key *** and ***!');
    assert.ok(!redact(`line: ${body}`, [pem]).includes(body));
    assert.ok(!redact(`u=${encodeURIComponent('a/b+c=d==xyzxyz')}`, ['a/b+c=d==xyzxyz']).includes('xyzxyz'));
    assert.equal(redact('short abc', ['abc', undefined]), 'short abc');
    const r = new Redactor([K]);
    r.add('listenKeyABCDEFGHIJ');
    assert.equal(r.apply(`wss://x/private/ws?listenKey=listenKeyABCDEFGHIJ&k=${K}`), 'wss://x/private/ws?listenKey=***&k=***');
  });

  it('classifies errors', () => {
    assert.equal(classifyError(400, -2015), 'auth');
    assert.equal(classifyError(400, -2014), 'auth');
    assert.equal(classifyError(400, -1022), 'auth');
    assert.equal(classifyError(401, undefined), 'auth');
    assert.equal(classifyError(429, -1003), 'rate-limit');
    assert.equal(classifyError(418, -1003), 'banned');
    assert.equal(classifyError(400, -1021), 'clock');
    assert.equal(classifyError(503, undefined), 'server');
    assert.equal(classifyError(400, -1125), 'request');
    const e = new BinanceApiError('x', { httpStatus: 429, code: -1003, retryAfterMs: 5 });
    assert.equal(e.kind, 'rate-limit');
    assert.equal(e.retryAfterMs, 5);
  });

  it('identity: no raw key, differs by credentials, market, symbol; stable', () => {
    const a = accountIdentity(cfg({}));
    assert.equal(a, accountIdentity(cfg({})));
    assert.ok(!a.includes(K));
    assert.notEqual(a, accountIdentity(cfg({ credentials: { apiKey: K, apiSecret: 'other-secret' } })));
    assert.notEqual(a, accountIdentity(cfg({ market: 'margin' })));
    assert.notEqual(
      accountIdentity(cfg({ market: 'isolated-margin', symbol: 'BTCUSDT' })),
      accountIdentity(cfg({ market: 'isolated-margin', symbol: 'ETHUSDT' })),
    );
    assert.match(shortId(cfg({})), /^spot:production:[0-9a-f]{6}$/);
  });

  it('dedup: only during an overlap and its tail; bounded', () => {
    const d = new Deduper(3, 0);
    const ev = (n: number): Record<string, unknown> => ({ e: 'x', n });
    assert.ok(d.admit(ev(1)) && d.admit(ev(1)), 'no overlap: everything passes');
    d.begin();
    assert.ok(d.admit(ev(1)));
    assert.ok(!d.admit(ev(1)));
    for (let i = 2; i <= 5; i++) assert.ok(d.admit(ev(i)));
    assert.ok(d.admit(ev(1)), 'evicted (bounded)');
    d.end();
    assert.ok(!d.overlapping);
    assert.ok(d.admit(ev(5)));
  });

  it('dedup: the tail after an overlap catches copies until it runs out, then everything passes again (fake clock)', () => {
    const clock = installClock({ now: 1_000_000 });
    try {
      const d = new Deduper(100, 1_000);
      const ev = (n: number): Record<string, unknown> => ({ e: 'x', n });
      assert.ok(!d.overlapping);
      d.begin();
      assert.ok(d.admit(ev(1)));
      d.end();
      clock.tick(999);
      assert.ok(d.overlapping, 'inside the tail');
      assert.ok(!d.admit(ev(1)), 'a late copy inside the tail is suppressed');
      clock.tick(1);
      assert.ok(!d.overlapping, 'tail over');
      assert.ok(d.admit(ev(1)) && d.admit(ev(1)), 'no overlap: everything passes');
      // a second overlap gets its own tail (and starts with an empty memory)
      d.begin();
      d.begin();
      assert.ok(d.admit(ev(2)));
      d.end();
      clock.tick(5_000);
      assert.ok(d.overlapping, 'still one overlap running');
      assert.ok(!d.admit(ev(2)));
      assert.ok(d.admit(ev(1)), 'forgotten when the earlier tail ran out');
      d.end();
      clock.tick(500);
      assert.ok(!d.admit(ev(2)));
      clock.tick(500);
      assert.ok(d.admit(ev(2)));
      d.reset();
      assert.ok(!d.overlapping);
    } finally {
      clock.uninstall();
    }
  });

  it('listenToken renewal: 80 % of validity or 5 minutes before expiry, whichever is earlier; within [10 s, the 24-hour token\'s]', () => {
    assert.equal(renewDelay(24 * 3_600_000), 69_120_000);
    assert.equal(renewDelay(20 * 60_000), 15 * 60_000);
    assert.equal(renewDelay(10 * 60_000), 5 * 60_000);
    assert.equal(renewDelay(60_000), 48_000);
    // a token said to expire at once, or already expired: not renewed in a loop
    assert.equal(renewDelay(0), 10_000);
    assert.equal(renewDelay(-5_000), 10_000);
    assert.equal(renewDelay(Number.NaN), 10_000);
    // an expiry years ahead: as for Binance's longest validity (a timer beyond 2^31 ms fires at once)
    assert.equal(renewDelay(1e14), 69_120_000);
    assert.equal(renewDelay(Number.POSITIVE_INFINITY), 10_000);
  });
});
