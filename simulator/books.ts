/**
 * Accounts, keys and their books: createAccount / createKey / registerKey / revokeKey, and the
 * readers of an account's balances (spot, cross and isolated margin), futures wallets and positions
 * (margin asset, unrealised PnL, average price) that the ledger and the REST rooms share.
 */
import { dec, mul, div } from './decimal';
import { randomAlnum, generateKeyMaterial, type SimKeyType } from './signing';
import {
  splitSymbol,
  coinmContractSize,
  type SimMarket,
  type CreatedKey,
  type SpotLike,
  type FuturesMarket,
  type Balance,
  type Position,
  type FuturesBook,
  type Account,
  type OrderRec,
} from './model';
import type { SimState } from './state';

export class BooksRoom {
  constructor(private readonly s: SimState) {}

  /**
   * `coinmOnFapi`: the account's COIN-M user data is delivered on its /fapi listenKey (fstream
   * /private) as well as on its /dapi key: an account that Binance serves in the unified form after
   * the COIN-M / USDⓈ-M integration. Off by default: no source says every account gets it.
   */
  createAccount(opts: { balances?: Record<string, string>; futuresBalances?: Record<string, string>; coinmOnFapi?: boolean } = {}): {
    id: string;
  } {
    const id = `acct-${this.s.nextAccount++}`;
    const balances = opts.balances ?? { USDT: '10000', BTC: '1', ETH: '10', BNB: '5' };
    const fut = opts.futuresBalances ?? { USDT: '10000', BTC: '1' };
    const mk = (): Map<string, Balance> => {
      const m = new Map<string, Balance>();
      for (const [a, v] of Object.entries(balances)) m.set(a.toUpperCase(), { free: dec(v), locked: 0n });
      return m;
    };
    const book = (): FuturesBook => {
      const wallet = new Map<string, bigint>();
      for (const [a, v] of Object.entries(fut)) wallet.set(a.toUpperCase(), dec(v));
      return { wallet, positions: new Map(), marks: new Map() };
    };
    this.s.accounts.set(id, {
      id,
      uid: 10_000_000 + this.s.nextAccount,
      spot: mk(),
      margin: mk(),
      isolated: new Map(),
      initialBalances: balances,
      coinmOnFapi: opts.coinmOnFapi === true,
      futures: { 'usdm-futures': book(), 'coinm-futures': book() },
      tradeSeq: new Map(),
      updatedAt: this.s.serverTime(),
    });
    return { id };
  }

  createKey(
    accountId: string,
    keyType: SimKeyType,
    opts: { passphrase?: string; canTrade?: boolean; enableMargin?: boolean; enableFutures?: boolean; enableWithdrawals?: boolean } = {},
  ): CreatedKey {
    this.s.account(accountId);
    const apiKey = randomAlnum(64);
    const mat = generateKeyMaterial(keyType, opts.passphrase);
    this.s.keys.set(apiKey, {
      apiKey,
      accountId,
      keyType,
      apiSecret: mat.apiSecret,
      publicKeyPem: mat.publicKeyPem,
      canTrade: opts.canTrade ?? true,
      enableMargin: opts.enableMargin ?? true,
      enableFutures: opts.enableFutures ?? true,
      enableWithdrawals: opts.enableWithdrawals ?? false,
      createdAt: this.s.serverTime(),
      revoked: false,
    });
    const out: CreatedKey = { apiKey, keyType };
    if (mat.apiSecret) out.apiSecret = mat.apiSecret;
    if (mat.privateKeyPem) out.privateKeyPem = mat.privateKeyPem;
    if (mat.publicKeyPem) out.publicKeyPem = mat.publicKeyPem;
    if (opts.passphrase && keyType !== 'hmac') out.passphrase = opts.passphrase;
    return out;
  }

  /** Register an externally generated key (e.g. a fixed HMAC secret or a public key PEM). */
  registerKey(
    accountId: string,
    k: { apiKey: string; keyType: SimKeyType; apiSecret?: string; publicKeyPem?: string },
  ): void {
    this.s.account(accountId);
    this.s.keys.set(k.apiKey, {
      apiKey: k.apiKey,
      accountId,
      keyType: k.keyType,
      apiSecret: k.apiSecret,
      publicKeyPem: k.publicKeyPem,
      canTrade: true,
      enableMargin: true,
      enableFutures: true,
      enableWithdrawals: false,
      createdAt: this.s.serverTime(),
      revoked: false,
    });
  }

  revokeKey(apiKey: string): void {
    const k = this.s.keys.get(apiKey);
    if (k) k.revoked = true;
  }

  isolatedBook(a: Account, symbol: string): Map<string, Balance> {
    const sym = symbol.toUpperCase();
    let book = a.isolated.get(sym);
    if (!book) {
      const { base, quote } = splitSymbol(sym);
      book = new Map();
      for (const asset of [base, quote]) {
        const init = Object.entries(a.initialBalances).find(([k]) => k.toUpperCase() === asset);
        book.set(asset, { free: init ? dec(init[1]) : 0n, locked: 0n });
      }
      a.isolated.set(sym, book);
    }
    return book;
  }

  unrealized(market: FuturesMarket, book: FuturesBook, p: Position): bigint {
    const mark = book.marks.get(p.symbol) ?? p.entry;
    if (p.amt === 0n || p.entry === 0n || mark === 0n) return 0n;
    if (market === 'usdm-futures') return mul(mark - p.entry, p.amt);
    const notional = mul(p.amt, coinmContractSize(p.symbol));
    return div(notional, p.entry) - div(notional, mark);
  }

  nextTradeId(a: Account, market: SimMarket): number {
    const n = (a.tradeSeq.get(market) ?? 5000) + 1;
    a.tradeSeq.set(market, n);
    return n;
  }

  spotBook(a: Account, market: SpotLike, symbol: string): Map<string, Balance> {
    if (market === 'spot') return a.spot;
    if (market === 'margin') return a.margin;
    return this.isolatedBook(a, symbol);
  }

  bal(book: Map<string, Balance>, asset: string): Balance {
    let b = book.get(asset);
    if (!b) {
      b = { free: 0n, locked: 0n };
      book.set(asset, b);
    }
    return b;
  }

  marginAsset(market: FuturesMarket, symbol: string): string {
    const { base, quote } = splitSymbol(symbol);
    return market === 'usdm-futures' ? quote : base;
  }

  avgPrice(o: OrderRec): bigint {
    if (o.executed === 0n) return 0n;
    if (o.market === 'coinm-futures') {
      // cumQuote holds the cumulative base quantity for COIN-M: avg = qty*cs / base
      return div(mul(o.executed, coinmContractSize(o.symbol)), o.cumQuote);
    }
    return div(o.cumQuote, o.executed);
  }

  pickIsolatedSymbol(a: Account, asset: string, symbol?: string): string {
    if (symbol) return symbol.toUpperCase();
    for (const s of a.isolated.keys()) {
      const { base, quote } = splitSymbol(s);
      if (base === asset || quote === asset) return s;
    }
    throw new Error('isolated-margin balance changes need opts.symbol');
  }
}
