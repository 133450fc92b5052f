/**
 * Flow builders for the node tests: a simulator account + key per market, and the
 * binance-account config node pointing at the simulator (environment 'custom').
 */
import { BinanceSimulator, type CreatedKey, type SimMarket } from '../../simulator/index';
import { isAccountHandle } from '../../nodes/red/account-contract';
import { helper, rememberSecret, startRed, waitFor, type FlowNode } from '../support/red';

/**
 * The hooks of a Node-RED suite against the simulator: the helper's server and a simulator
 * start once (`started` receives the simulator), the flows are unloaded after every test,
 * and both stop after the suite. Call inside `describe`.
 */
export function redWithSimulator(started: (sim: BinanceSimulator) => void): void {
  let sim: BinanceSimulator | undefined;
  before(async function () {
    await startRed();
    sim = await BinanceSimulator.start();
    started(sim);
  });
  after(async function () {
    await sim?.stop();
    await helper.stopServer();
  });
  afterEach(async function () {
    await helper.unload();
  });
}

export const MARKETS: readonly SimMarket[] = ['spot', 'margin', 'isolated-margin', 'usdm-futures', 'coinm-futures'];

export const TAB: FlowNode = { id: 'tab1', type: 'tab', label: 'tests' };

/** A symbol the simulator trades on each market. */
export function symbolFor(market: SimMarket): string {
  return market === 'coinm-futures' ? 'BTCUSD_PERP' : 'BTCUSDT';
}

export function isFutures(market: SimMarket): boolean {
  return market === 'usdm-futures' || market === 'coinm-futures';
}

export interface TestAccount {
  accountId: string;
  key: CreatedKey;
  market: SimMarket;
}

export function newAccount(sim: BinanceSimulator, market: SimMarket, keyType: 'hmac' | 'ed25519' | 'rsa' = 'hmac', passphrase?: string): TestAccount {
  const { id } = sim.createAccount({
    balances: { USDT: '100000', BTC: '10', ETH: '50', BNB: '5' },
    futuresBalances: { USDT: '100000', BTC: '10' },
  });
  const key = sim.createKey(id, keyType, passphrase ? { passphrase } : {});
  rememberSecret(key.apiKey, key.apiSecret, key.privateKeyPem, key.passphrase);
  return { accountId: id, key, market };
}

/** The config node (id 'acct') for the account, on the simulator's URLs. */
export function accountNode(sim: BinanceSimulator, a: TestAccount, extra: Record<string, unknown> = {}): FlowNode {
  const urls = sim.urlsFor(a.market);
  return {
    id: 'acct',
    type: 'binance-account',
    name: 'test account',
    market: a.market,
    symbol: a.market === 'isolated-margin' ? symbolFor(a.market) : '',
    environment: 'custom',
    restUrl: urls.restUrl,
    wsUrl: urls.wsUrl,
    keyType: a.key.keyType,
    recvWindow: '',
    keepaliveInterval: '',
    ...extra,
  };
}

export function credentialsFor(a: TestAccount, id = 'acct'): Record<string, Record<string, string>> {
  const c: Record<string, string> = { apiKey: a.key.apiKey };
  if (a.key.apiSecret) c.apiSecret = a.key.apiSecret;
  if (a.key.privateKeyPem) c.privateKey = a.key.privateKeyPem;
  if (a.key.passphrase) c.passphrase = a.key.passphrase;
  return { [id]: c };
}

export function helperNode(id: string): FlowNode {
  return { id, type: 'helper', z: TAB.id };
}

export function consumer(id: string, type: string, out: string, props: Record<string, unknown> = {}): FlowNode {
  return { id, type, z: TAB.id, name: '', account: 'acct', wires: [[out]], ...props };
}

/** Resolves when the account node's stream is connected. */
export async function waitConnected(id = 'acct'): Promise<void> {
  await waitFor(
    () => {
      const n: unknown = helper.getNode(id);
      return isAccountHandle(n) && n.getManager()?.state === 'connected';
    },
    10000,
    'the stream to connect',
  );
}
