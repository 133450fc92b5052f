import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { interpolate, lookupCatalog } from '../../nodes/red/status';
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
  messageCode?: string;
  messageParams?: Record<string, string | number>;
  keyWarningCode?: string;
  keyWarningParams?: Record<string, string | number>;
}

const LOCALES = path.resolve(__dirname, '..', '..', '..', 'nodes', 'locales');
const catalogs = new Map(['en-US', 'ja', 'zh-CN'].map((l) => [l, JSON.parse(fs.readFileSync(path.join(LOCALES, l, 'binance-account.json'), 'utf8')) as unknown]));

/**
 * A coded sentence as the editor shows it in `lang` (nodes/binance-account.html resultText): the
 * code's text in binance-account.test.text or .errors, the `source` parameter translated too.
 */
function shown(lang: string, code: string | undefined, params: Record<string, string | number> = {}): string {
  assert.ok(code, 'a sentence of ours comes with its code');
  const cat = catalogs.get(lang);
  const tpl = lookupCatalog(cat, `binance-account.test.text.${code}`) ?? lookupCatalog(cat, `binance-account.errors.${code}`);
  assert.ok(tpl, `${lang}: no text for code ${code}`);
  const p = { ...params };
  if (typeof p.source === 'string') p.source = lookupCatalog(cat, `binance-account.test.source.${p.source}`) ?? assert.fail(`${lang}: no text for source ${p.source}`);
  const out = interpolate(tpl, p);
  assert.doesNotMatch(out, /__[A-Za-z0-9_]+__/, `${lang}: ${code} leaves a placeholder unfilled: ${out}`);
  return out;
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

  it('every sentence we write comes with its code and parameters (translated in ja / zh-CN); the exchange\'s own words stay verbatim', async function () {
    const a = newAccount(sim, 'spot');
    await deploy(a);
    const typed = { apiKey: a.key.apiKey, apiSecret: a.key.apiSecret };
    const secrets = [a.key.apiKey, a.key.apiSecret];

    // settings problems: a keyed one (errors.*) and literal reasons
    const noKey = await post({ ...bodyFor(a, 'spot', {}), id: '' }, secrets);
    assert.equal(noKey.messageCode, 'missing-api-key');
    assert.equal(noKey.message, 'The API key is missing.', 'the English text stays for n8n and logs');
    assert.equal(shown('ja', noKey.messageCode, noKey.messageParams), 'APIキーがありません');
    const env = await post({ ...bodyFor(a, 'spot', typed), environment: 'moon' }, secrets);
    assert.equal(env.messageCode, 'unknown-environment');
    assert.deepEqual(env.messageParams, { environment: 'moon' });
    assert.equal(shown('zh-CN', env.messageCode, env.messageParams), '未知环境 "moon"');
    const insecure = await post({ ...bodyFor(a, 'spot', typed), restUrl: 'http://example.invalid:8080' }, secrets);
    assert.equal(insecure.problem, 'url');
    assert.equal(insecure.messageCode, 'url-insecure');
    assert.equal(insecure.messageParams?.host, 'example.invalid');
    assert.match(shown('ja', insecure.messageCode, insecure.messageParams), /example\.invalid には https:\/\/ を使う必要があります/);

    // saved credentials against another server
    const other = await post({ ...bodyFor(a, 'spot', { apiKey: '__PWRD__', apiSecret: '__PWRD__' }), restUrl: 'http://127.0.0.1:9' }, secrets);
    assert.equal(other.messageCode, 'other-server');
    assert.match(shown('ja', other.messageCode), /APIキーと APIシークレットをもう一度入力/);

    // the exchange's answer: our frame has a code, Binance's msg is a parameter, as it came
    const wrongKey = 'WRONGKEY0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTV';
    rememberSecret(wrongKey);
    const bad = await post(bodyFor(a, 'spot', { apiKey: wrongKey, apiSecret: a.key.apiSecret }), [wrongKey, a.key.apiSecret]);
    assert.equal(bad.problem, 'bad-key');
    assert.equal(bad.messageCode, 'http-failed');
    assert.equal(bad.messageParams?.code, '-2015');
    assert.equal(typeof bad.messageParams?.msg, 'string');
    assert.ok(String(bad.messageParams?.msg).length > 0 && String(bad.message).endsWith(String(bad.messageParams?.msg)), 'the msg is the one in the English text');
    assert.ok(shown('zh-CN', bad.messageCode, bad.messageParams).endsWith(` -2015 ${String(bad.messageParams?.msg)}`));

    // nothing listening: a network error with the system's code
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const network = await post({ ...bodyFor(a, 'spot', typed), restUrl: `http://127.0.0.1:${port}` }, secrets);
    assert.equal(network.messageCode, 'network-error');
    assert.equal(network.messageParams?.detail, 'ECONNREFUSED');
    assert.equal(shown('ja', network.messageCode, network.messageParams), 'GET /api/v3/time: ネットワークエラー (ECONNREFUSED)');

    // a key that can trade: the warning by code, the flag names untranslated
    const ok = await post(bodyFor(a, 'spot', typed), secrets);
    assert.equal(ok.ok, true, JSON.stringify(ok));
    assert.equal(ok.keyWarningCode, 'key-can-trade');
    assert.deepEqual(ok.keyWarningParams, { flags: 'enableSpotAndMarginTrading, enableMargin, enableFutures', source: 'api-restrictions' });
    assert.equal(shown('en-US', ok.keyWarningCode, ok.keyWarningParams), ok.keyWarning, 'the en-US text is the English one');
    assert.match(shown('ja', ok.keyWarningCode, ok.keyWarningParams), /^このキーは取引ができます \(キーの API 制限 の enableSpotAndMarginTrading, enableMargin, enableFutures\)/);
    assert.match(shown('zh-CN', ok.keyWarningCode, ok.keyWarningParams), /^该 API Key 可以交易/);
  });

  it('an encrypted private key with a wrong passphrase: its code names the passphrase', async function () {
    const a = newAccount(sim, 'spot', 'ed25519', 'right-passphrase');
    await deploy(a);
    rememberSecret('wrong-passphrase-2');
    const r = await post({ ...bodyFor(a), credentials: { apiKey: '__PWRD__', privateKey: '__PWRD__', passphrase: 'wrong-passphrase-2' } }, [
      a.key.apiKey,
      a.key.privateKeyPem,
      'wrong-passphrase-2',
      a.key.passphrase,
    ]);
    assert.equal(r.problem, 'config');
    assert.equal(r.messageCode, 'pem-passphrase-rejected');
    assert.equal(r.messageParams?.keyType, 'ed25519');
    assert.match(shown('ja', r.messageCode, r.messageParams), /^ed25519 の秘密鍵を読み込めません \(パスフレーズが違いませんか？\)/);
  });
});
