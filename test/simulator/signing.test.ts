import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import {
  hmacSha256Hex,
  restSigningPayload,
  signPayload,
  verifySignature,
  wsApiSigningPayload,
} from '../../simulator/signing';

const K = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';
const SECRET = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';

// Reference §1.3: every row, as params objects (the payload is built by the helper, sorted).
const WS_VECTORS: Array<{ params: Record<string, unknown>; payload: string; sig: string }> = [
  {
    params: { timestamp: 1649729878532, apiKey: K },
    payload: `apiKey=${K}&timestamp=1649729878532`,
    sig: '1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed',
  },
  {
    params: { apiKey: K, timestamp: 1660801839480 },
    payload: `apiKey=${K}&timestamp=1660801839480`,
    sig: '83303b4a136ac1371795f465808367242685a9e3a42b22edb4d977d0696eb45c',
  },
  {
    params: { symbol: 'BTCUSDT', apiKey: K, timestamp: 1660813156812 },
    payload: `apiKey=${K}&symbol=BTCUSDT&timestamp=1660813156812`,
    sig: 'd632b3fdb8a81dd44f82c7c901833309dd714fe508772a89b0a35b0ee0c48b89',
  },
  {
    params: {
      symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01000000', price: '52000.00',
      recvWindow: 100, timestamp: 1645423376532, apiKey: K,
    },
    payload: `apiKey=${K}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT`,
    sig: 'aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24',
  },
  {
    params: {
      symbol: '１２３４５６', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '1.00000000', price: '0.10000000',
      recvWindow: 5000, timestamp: 1645423376532, apiKey: K,
    },
    payload: `apiKey=${K}&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=１２３４５６&timeInForce=GTC&timestamp=1645423376532&type=LIMIT`,
    sig: 'b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd',
  },
  {
    params: { recvWindow: 5000, apiKey: K, timestamp: 1747385641636, signature: 'ignored' },
    payload: `apiKey=${K}&recvWindow=5000&timestamp=1747385641636`,
    sig: '49601ffc5b0122c3c7ee3ea85ef7d6cd76256f5191a57c976418faa32e917653',
  },
];

describe('simulator signing helpers', () => {
  for (const v of WS_VECTORS) {
    it(`WS-API HMAC vector ${v.sig.slice(0, 8)}`, () => {
      const payload = wsApiSigningPayload(v.params);
      assert.equal(payload, v.payload);
      assert.equal(hmacSha256Hex(SECRET, payload), v.sig);
      const key = { keyType: 'hmac' as const, apiSecret: SECRET };
      assert.equal(signPayload(key, payload), v.sig);
      assert.equal(verifySignature(key, payload, v.sig), true);
      assert.equal(verifySignature(key, payload, v.sig.toUpperCase()), true, 'hex is case-insensitive');
      const bad = v.sig.slice(0, -1) + (v.sig.endsWith('0') ? '1' : '0');
      assert.equal(verifySignature(key, payload, bad), false);
      assert.equal(verifySignature({ keyType: 'hmac', apiSecret: SECRET + 'x' }, payload, v.sig), false);
    });
  }

  it('REST HMAC vector (sent order, unsorted; signature stripped from query or body)', () => {
    const q = 'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559';
    const sig = 'c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71';
    assert.equal(hmacSha256Hex(SECRET, q), sig);
    const inQuery = restSigningPayload(`${q}&signature=${sig}`, '');
    assert.equal(inQuery.payload, q);
    assert.equal(inQuery.signature, sig);
    // mixed query + body: concatenated without separator (the docs' example 3)
    const mixed = restSigningPayload(
      'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC',
      `quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=${sig}`,
    );
    assert.equal(
      mixed.payload,
      'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559',
    );
    assert.equal(mixed.signature, sig);
  });

  for (const keyType of ['ed25519', 'rsa'] as const) {
    it(`${keyType} round trip with a generated key; tampered signature or payload rejected`, () => {
      const pair =
        keyType === 'ed25519'
          ? crypto.generateKeyPairSync('ed25519', {
              publicKeyEncoding: { type: 'spki', format: 'pem' },
              privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
            })
          : crypto.generateKeyPairSync('rsa', {
              modulusLength: 2048,
              publicKeyEncoding: { type: 'spki', format: 'pem' },
              privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
            });
      const payload = wsApiSigningPayload({ apiKey: K, timestamp: 1747385641636, recvWindow: 5000 });
      const sig = signPayload({ keyType, privateKeyPem: pair.privateKey }, payload);
      assert.match(sig, /^[A-Za-z0-9+/]+={0,2}$/);
      const vk = { keyType, publicKeyPem: pair.publicKey };
      assert.equal(verifySignature(vk, payload, sig), true);
      const raw = Buffer.from(sig, 'base64');
      raw[0] ^= 0xff;
      assert.equal(verifySignature(vk, payload, raw.toString('base64')), false);
      assert.equal(verifySignature(vk, payload + '1', sig), false);
      assert.equal(verifySignature(vk, payload, 'not base64 !!'), false);
      // independent check with node:crypto
      const data = Buffer.from(payload);
      const ok =
        keyType === 'ed25519'
          ? crypto.verify(null, data, pair.publicKey, Buffer.from(sig, 'base64'))
          : crypto.verify('sha256', data, pair.publicKey, Buffer.from(sig, 'base64'));
      assert.equal(ok, true);
    });
  }

  it('encrypted PEM with passphrase signs', () => {
    const pair = crypto.generateKeyPairSync('ed25519', {
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' },
    });
    const sig = signPayload({ keyType: 'ed25519', privateKeyPem: pair.privateKey, passphrase: 'pw' }, 'a=1');
    assert.equal(verifySignature({ keyType: 'ed25519', publicKeyPem: pair.publicKey }, 'a=1', sig), true);
  });
});
