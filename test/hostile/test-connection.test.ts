/**
 * Test connection (admin endpoint of binance-account, in a real Node-RED runtime) warns in words
 * when the key can trade or move funds: read-only is enough for this package. The answers come
 * from the hostile server, which plays the exchange's account and API-restrictions endpoints.
 */
import assert from 'node:assert/strict';
import type { BinanceSimulator } from '../../simulator/index';
import { capture, helper, nodeModules } from '../support/red';
import { TAB, accountNode, credentialsFor, newAccount, redWithSimulator } from '../nodes/flows';
import { HostileServer } from './server';

const ENDPOINT = '/binance-user-stream/test-connection';
const KEY = 'testConnKey' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6';
const SECRET = 'testConnSecret' + 'Z6y5X4w3V2u1T0s9R8q7P6o5N4m3L2k1J0i9H8g7F6e5D4c3';

describe('test connection: a key that can trade or withdraw is named in words', function () {
  let sim: BinanceSimulator;
  let hostile: HostileServer;
  redWithSimulator((s) => {
    sim = s;
  });
  beforeEach(async () => {
    hostile = await HostileServer.start();
    const a = newAccount(sim, 'spot');
    await helper.load(nodeModules(['binance-account']), [TAB, accountNode(sim, a)], credentialsFor(a));
  });
  afterEach(async () => {
    await hostile.close();
  });

  function answer(path: string, body: unknown, status = 200): void {
    hostile.on('GET', path, (_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  }

  async function test(): Promise<{ ok: boolean; keyWarning?: string }> {
    const res = await helper
      .request()
      .post(ENDPOINT)
      .send({
        id: 'acct',
        market: 'spot',
        environment: 'custom',
        restUrl: hostile.restUrl,
        wsUrl: hostile.wsApiUrl,
        keyType: 'hmac',
        credentials: { apiKey: KEY, apiSecret: SECRET },
      });
    capture(res.text);
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes(KEY) && !res.text.includes(SECRET));
    return res.body as { ok: boolean; keyWarning?: string };
  }

  const SPOT_ACCOUNT = { accountType: 'SPOT', canTrade: false, canWithdraw: false, canDeposit: true, permissions: ['SPOT'], balances: [] };

  it('the key can trade and withdraw (its API restrictions say so): a warning that says read-only is enough', async () => {
    answer('/api/v3/account', SPOT_ACCOUNT);
    answer('/sapi/v1/account/apiRestrictions', { enableReading: true, enableSpotAndMarginTrading: true, enableWithdrawals: true, enableFutures: false, ipRestrict: false });
    const r = await test();
    assert.equal(r.ok, true);
    assert.match(r.keyWarning ?? '', /^This key can trade and withdraw or transfer funds \(enableSpotAndMarginTrading, enableWithdrawals in the key's API restrictions\)/);
    assert.match(r.keyWarning ?? '', /read-only key is enough, and a leaked read-only key cannot move funds/);
    assert.ok(hostile.requests.some((q) => q.url.startsWith('/sapi/v1/account/apiRestrictions') && q.url.includes('signature=')), 'asked, signed');
  });

  it('a read-only key: no warning', async () => {
    answer('/api/v3/account', { ...SPOT_ACCOUNT, canTrade: true, canWithdraw: true });
    answer('/sapi/v1/account/apiRestrictions', { enableReading: true, enableSpotAndMarginTrading: false, enableWithdrawals: false, enableFutures: false });
    const r = await test();
    assert.equal(r.ok, true);
    assert.equal(r.keyWarning, undefined, 'the key restrictions win over the account flags');
  });

  it('without the restrictions endpoint (testnet, gateways): the account flags decide', async () => {
    answer('/api/v3/account', { ...SPOT_ACCOUNT, canTrade: true });
    const r = await test();
    assert.equal(r.ok, true);
    assert.match(r.keyWarning ?? '', /^This key can trade \(canTrade in the account answer\)/);
    answer('/api/v3/account', SPOT_ACCOUNT);
    assert.equal((await test()).keyWarning, undefined);
  });
});
