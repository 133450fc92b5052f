import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { BinanceSimulator, SimMarket } from '../../simulator/index';
import { capture, helper, nodeModules, rememberSecret } from '../support/red';
import { accountNode, redWithSimulator, credentialsFor, MARKETS, newAccount, symbolFor, TAB, type TestAccount } from './flows';

const ENDPOINT = '/binance-user-stream/test-connection';

interface TestResponse {
  ok: boolean;
  problem?: string;
  code?: number;
  message?: string;
  permissions?: Record<string, unknown>;
  accountType?: string;
  clockOffsetMs?: number;
  warnings?: string[];
  keyWarning?: string;
}

describe('test-connection admin endpoint', function () {
  let sim: BinanceSimulator;

  redWithSimulator((s) => {
    sim = s;
  });
  afterEach(function () {
    sim.setClockOffset(0);
  });

  /** Loads a flow (so the admin route exists) with the account node deployed. */
  async function deploy(a: TestAccount): Promise<void> {
    await helper.load(nodeModules(['binance-account']), [TAB, accountNode(sim, a)], credentialsFor(a));
  }

  function bodyFor(a: TestAccount, market: SimMarket = a.market, credentials: Record<string, string | undefined> = {}): Record<string, unknown> {
    const urls = sim.urlsFor(market);
    return {
      id: 'acct',
      market,
      symbol: market === 'isolated-margin' ? symbolFor(market) : '',
      environment: 'custom',
      restUrl: urls.restUrl,
      wsUrl: urls.wsUrl,
      keyType: a.key.keyType,
      credentials,
    };
  }

  async function post(body: Record<string, unknown>, secrets: Array<string | undefined>): Promise<TestResponse> {
    const res = await helper.request().post(ENDPOINT).send(body);
    capture(res.text);
    assert.equal(res.status, 200);
    for (const s of secrets) {
      if (s) assert.ok(!res.text.includes(s), 'the response must not contain a secret');
    }
    return res.body as TestResponse;
  }

  for (const market of MARKETS) {
    it(`${market}: a good key (typed in the dialog) is accepted and its permissions reported`, async function () {
      const a = newAccount(sim, market);
      await deploy(a);
      const r = await post(bodyFor(a, market, { apiKey: a.key.apiKey, apiSecret: a.key.apiSecret }), [a.key.apiKey, a.key.apiSecret]);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(typeof r.clockOffsetMs, 'number');
      assert.equal(typeof r.permissions, 'object');
      if (market === 'spot') {
        assert.equal(r.accountType, 'SPOT');
        assert.equal(r.permissions?.canTrade, true);
        assert.deepEqual(r.permissions?.permissions, ['SPOT']);
      }
      if (market === 'margin') assert.equal(r.permissions?.tradeEnabled, true);
      const path = { spot: '/api/v3/account', margin: '/sapi/v1/margin/account', 'isolated-margin': '/sapi/v1/margin/isolated/account', 'usdm-futures': '/fapi/v3/account', 'coinm-futures': '/dapi/v1/account' }[market];
      const req = sim.requests.filter((x) => x.kind === 'rest' && x.path === path && x.apiKey === a.key.apiKey);
      assert.equal(req.length, 1, `one signed ${path} request`);
      assert.equal(req[0].status, 200);
      if (market === 'isolated-margin') assert.equal(req[0].params.symbols, 'BTCUSDT');
    });
  }

  it('spot: the key\'s own permissions (apiRestrictions): a read-only key gets no warning, a trading key is told so', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    const trading = await post(bodyFor(a, 'spot', { apiKey: a.key.apiKey, apiSecret: a.key.apiSecret }), [a.key.apiKey, a.key.apiSecret]);
    assert.match(trading.keyWarning ?? '', /^This key can trade \(enableSpotAndMarginTrading, enableMargin, enableFutures in the key's API restrictions\)/);
    const readOnly = sim.createKey(a.accountId, 'hmac', { canTrade: false, enableMargin: false, enableFutures: false });
    rememberSecret(readOnly.apiKey, readOnly.apiSecret);
    const r = await post(bodyFor(a, 'spot', { apiKey: readOnly.apiKey, apiSecret: readOnly.apiSecret }), [readOnly.apiKey, readOnly.apiSecret]);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.keyWarning, undefined, 'a read-only key is what we recommend');
    const asked = sim.requests.filter((x) => x.kind === 'rest' && x.path === '/sapi/v1/account/apiRestrictions' && x.apiKey === readOnly.apiKey);
    assert.deepEqual(asked.map((x) => x.status), [200], 'asked once, signed, answered');
  });

  it('uses the saved credentials for unchanged (__PWRD__) or empty fields, by config node id', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    const r = await post(bodyFor(a, 'spot', { apiKey: '__PWRD__', apiSecret: '__PWRD__' }), [a.key.apiKey, a.key.apiSecret]);
    assert.equal(r.ok, true, JSON.stringify(r));
    const r2 = await post(bodyFor(a, 'spot', {}), [a.key.apiKey, a.key.apiSecret]);
    assert.equal(r2.ok, true, JSON.stringify(r2));
  });

  it('never sends saved credentials to a server other than the deployed one', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    // another loopback "server" that would receive the saved key if the test were run against it
    let connections = 0;
    const other = net.createServer((sock) => {
      connections++;
      sock.destroy();
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const port = (other.address() as net.AddressInfo).port;
      const body = { ...bodyFor(a, 'spot', { apiKey: '__PWRD__', apiSecret: '__PWRD__' }), restUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws-api/v3` };
      const r = await post(body, [a.key.apiKey, a.key.apiSecret]);
      assert.equal(r.ok, false);
      assert.equal(r.problem, 'config');
      assert.match(r.message ?? '', /enter the API key and secret again/);
      assert.equal(connections, 0, 'nothing was sent to the other server');
      // with the key typed in again, testing against another server is the user's choice
      const typed = await post({ ...body, credentials: { apiKey: a.key.apiKey, apiSecret: a.key.apiSecret } }, [a.key.apiKey, a.key.apiSecret]);
      assert.equal(typed.ok, false);
      assert.ok(connections > 0, 'the typed key was tried against the given server');
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });

  it('works for a not-yet-deployed account (no id) with an Ed25519 key', async function () {
    const a = newAccount(sim, 'usdm-futures', 'ed25519', 'pass-phrase-123');
    const other = newAccount(sim, 'spot');
    await deploy(other); // the route exists; the tested account is not deployed
    const body = { ...bodyFor(a), id: 'not-deployed', credentials: { apiKey: a.key.apiKey, privateKey: a.key.privateKeyPem?.replace(/\n/g, ' '), passphrase: a.key.passphrase } };
    const r = await post(body, [a.key.apiKey, a.key.privateKeyPem, a.key.passphrase]);
    assert.equal(r.ok, true, JSON.stringify(r));
  });

  it('an encrypted private key with a wrong passphrase is a configuration problem', async function () {
    const a = newAccount(sim, 'spot', 'rsa', 'right-passphrase');
    await deploy(a);
    rememberSecret('wrong-passphrase');
    const r = await post({ ...bodyFor(a), credentials: { apiKey: '__PWRD__', privateKey: '__PWRD__', passphrase: 'wrong-passphrase' } }, [
      a.key.apiKey,
      a.key.privateKeyPem,
      'wrong-passphrase',
      a.key.passphrase,
    ]);
    assert.equal(r.ok, false);
    assert.equal(r.problem, 'config');
    assert.match(String(r.message), /passphrase/);
    const ok = await post({ ...bodyFor(a), credentials: { apiKey: '__PWRD__', privateKey: '__PWRD__', passphrase: '__PWRD__' } }, [
      a.key.apiKey,
      a.key.privateKeyPem,
      a.key.passphrase,
    ]);
    assert.equal(ok.ok, true, JSON.stringify(ok));
  });

  it('a wrong key is reported as a bad key, without echoing it', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    const wrongKey = 'WRONGKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU';
    rememberSecret(wrongKey);
    const r = await post(bodyFor(a, 'spot', { apiKey: wrongKey, apiSecret: a.key.apiSecret }), [wrongKey, a.key.apiSecret]);
    assert.equal(r.ok, false);
    assert.equal(r.problem, 'bad-key');
    assert.equal(r.code, -2015);
  });

  it('a bad secret is reported as a bad signature, without echoing it', async function () {
    const a = newAccount(sim, 'usdm-futures');
    await deploy(a);
    const badSecret = 'BADSECRET0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST';
    rememberSecret(badSecret);
    const r = await post(bodyFor(a, 'usdm-futures', { apiKey: '__PWRD__', apiSecret: badSecret }), [a.key.apiKey, badSecret, a.key.apiSecret]);
    assert.equal(r.ok, false);
    assert.equal(r.problem, 'bad-signature');
    assert.equal(r.code, -1022);
  });

  it('reports clock skew, network and URL problems, and an incomplete configuration', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    sim.setClockOffset(4000);
    const skew = await post(bodyFor(a, 'spot', {}), [a.key.apiKey, a.key.apiSecret]);
    assert.equal(skew.ok, true, 'the test re-syncs like the stream does');
    assert.ok((skew.clockOffsetMs ?? 0) > 3000);
    assert.deepEqual(skew.warnings, ['clock-skew']);
    sim.setClockOffset(0);

    // a loopback port with nothing listening
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    // keys typed in the dialog (saved ones are only tested against the deployed server)
    const typed = { apiKey: a.key.apiKey, apiSecret: a.key.apiSecret };
    const network = await post({ ...bodyFor(a, 'spot', typed), restUrl: `http://127.0.0.1:${port}` }, [a.key.apiKey, a.key.apiSecret]);
    assert.equal(network.ok, false);
    assert.equal(network.problem, 'network');

    const url = await post({ ...bodyFor(a, 'spot', typed), restUrl: 'http://example.invalid:8080' }, [a.key.apiKey, a.key.apiSecret]);
    assert.equal(url.ok, false);
    assert.equal(url.problem, 'url');
    assert.match(String(url.message), /https/);

    const wrongPath = await post({ ...bodyFor(a, 'spot', typed), restUrl: `${sim.restUrl}/nothing-here` }, [a.key.apiKey, a.key.apiSecret]);
    assert.equal(wrongPath.ok, false);
    assert.equal(wrongPath.problem, 'url');

    const noSecret = await post({ ...bodyFor(a, 'spot', { apiKey: a.key.apiKey }), id: '' }, [a.key.apiKey]);
    assert.equal(noSecret.ok, false);
    assert.equal(noSecret.problem, 'config');
  });
});
