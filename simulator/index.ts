/**
 * Loopback Binance user-data simulator (dev/test tool, not shipped in the package).
 *
 * This file is the facade: `BinanceSimulator` keeps the control API the tests and benchmarks use
 * and hands each call to the room that does it (file map: simulator/README.md):
 *  - server.ts            http server, WebSocket upgrades, pings and pong deadlines
 *  - rest/router.ts       REST front door (record, weigh, fail/delay, authenticate, route)
 *  - rest/spot.ts, rest/margin.ts, rest/futures.ts, rest/portfolio-margin.ts   REST per venue
 *  - rest/queries.ts      the order / trade queries the venues share
 *  - ws-api.ts            the spot / margin WebSocket API and its subscriptions
 *  - futures-streams.ts   listenKeys and the futures / portfolio-margin streams
 *  - ledger/ledger.ts     orders and fills, one ledger for spot, margin and futures
 *  - ledger/events.ts     the user-data events the ledger pushes
 *  - algo.ts              algo (conditional) orders
 *  - faults.ts            failNext, delayNext, injectPoison, stalls, drops, shutdowns
 *  - connections.ts       open connections, inspection, sending, raw events
 *  - books.ts, weights.ts accounts, keys and books; request weights
 *  - state.ts, model.ts   what the rooms share; types, records, error answers
 * It stays independent of the core (nodes/lib): its own signing (signing.ts) and decimals
 * (decimal.ts).
 *
 * Timers and clocks are always the globals looked up at call time (`setTimeout`, `setInterval`,
 * `Date.now()`), so fake timers installed by a test drive pings, lifetimes and expiries.
 */
import * as http from 'node:http';
import { WebSocketServer } from 'ws';
import { redact } from './signing';
import { fmt } from './decimal';
import {
  isFutures,
  safe,
  type ConnFilter,
  type ConnMarket,
  type AfterRule,
  type DelayRule,
  type FailRule,
  type FuturesMarket,
  type KeyMarket,
  type RecordedRequest,
  type SimAlgoOrder,
  type SimMarket,
  type SimOrder,
  type SimTrade,
  type SimulatorOptions,
  type SymbolList,
  type SymbolRec,
} from './model';
import { SimState } from './state';
import { AlgoRoom } from './algo';
import { BooksRoom } from './books';
import { ConnectionsRoom } from './connections';
import { FaultsRoom } from './faults';
import { StreamsRoom } from './futures-streams';
import { LedgerEvents } from './ledger/events';
import { LedgerRoom } from './ledger/ledger';
import { FuturesRest } from './rest/futures';
import { MarginRest } from './rest/margin';
import { PortfolioMarginRest } from './rest/portfolio-margin';
import { RestQueries } from './rest/queries';
import { RestRouter } from './rest/router';
import { SpotRest } from './rest/spot';
import { ServerRoom } from './server';
import { poolOf, WeightsRoom } from './weights';
import { WsApiRoom } from './ws-api';
import { SymbolsRoom } from './symbols';
import { DiscoveryRest } from './rest/discovery';

export { wsApiSigningPayload, restSigningPayload, verifySignature, signPayload, hmacSha256Hex } from './signing';
export { splitSymbol, FSTREAM_PRODUCTION_LIKE, type FstreamForm } from './model';
export type {
  SimulatorOptions,
  SimMarket,
  ConnKind,
  ConnFilter,
  RecordedRequest,
  SimOrder,
  SimAlgoOrder,
  SimTrade,
  CreatedKey,
  FailRule,
  DelayRule,
  AfterRule,
  KeyMarket,
  ConnMarket,
  SymbolList,
  SymbolRec,
} from './model';

export class BinanceSimulator {
  readonly port: number;
  readonly restUrl: string;
  readonly wsApiUrl: string;
  readonly futuresWsUrl: string;
  readonly requests: RecordedRequest[];

  private readonly s: SimState;

  private constructor(server: http.Server, wss: WebSocketServer, opts: Required<SimulatorOptions>, port: number) {
    const s = new SimState(opts);
    this.s = s;
    this.requests = s.requests;
    this.port = port;
    this.restUrl = `http://${opts.host}:${port}`;
    this.wsApiUrl = `ws://${opts.host}:${port}/ws-api/v3`;
    this.futuresWsUrl = `ws://${opts.host}:${port}`;
    s.books = new BooksRoom(s);
    s.symbolsRoom = new SymbolsRoom(s);
    s.weights = new WeightsRoom(s);
    s.faults = new FaultsRoom(s);
    s.net = new ConnectionsRoom(s);
    s.streams = new StreamsRoom(s);
    s.wsApi = new WsApiRoom(s);
    s.queries = new RestQueries(s);
    s.spot = new SpotRest(s);
    s.margin = new MarginRest(s);
    s.futures = new FuturesRest(s);
    s.pm = new PortfolioMarginRest(s);
    s.ledger = new LedgerRoom(s);
    s.events = new LedgerEvents(s);
    s.algo = new AlgoRoom(s);
    s.discovery = new DiscoveryRest(s);
    s.rest = new RestRouter(s); // after the venues: it gathers their routes
    s.server = new ServerRoom(s, server, wss);
  }

  static async start(opts: SimulatorOptions = {}): Promise<BinanceSimulator> {
    const full: Required<SimulatorOptions> = {
      host: opts.host ?? '127.0.0.1',
      port: opts.port ?? 0,
      wsApiPingIntervalMs: opts.wsApiPingIntervalMs ?? 20_000,
      wsApiPongTimeoutMs: opts.wsApiPongTimeoutMs ?? 60_000,
      futuresPingIntervalMs: opts.futuresPingIntervalMs ?? 180_000,
      futuresPongTimeoutMs: opts.futuresPongTimeoutMs ?? 600_000,
      maxConnectionLifetimeMs: opts.maxConnectionLifetimeMs ?? 86_400_000,
      listenKeyValidityMs: opts.listenKeyValidityMs ?? 3_600_000,
      listenTokenMaxValidityMs: opts.listenTokenMaxValidityMs ?? 86_400_000,
      recvWindowMax: opts.recvWindowMax ?? 60_000,
      serverShutdownGraceMs: opts.serverShutdownGraceMs ?? 5_000,
      restWeightLimitPerMinute: opts.restWeightLimitPerMinute ?? 0,
      userStreamUnreadParams: opts.userStreamUnreadParams ?? 'ignore',
      fstreamSilentForms: opts.fstreamSilentForms ?? [],
      incomeZeroAmounts: opts.incomeZeroAmounts ?? 'omit',
    };
    const server = http.createServer();
    // autoPong off: pings are answered by hand, so a stalled connection can stay silent (half-open link)
    const wss = new WebSocketServer({ noServer: true, clientTracking: false, autoPong: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(full.port, full.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : full.port;
    return new BinanceSimulator(server, wss, full, port);
  }

  async stop(): Promise<void> {
    const s = this.s;
    if (s.stopped) return;
    s.stopped = true;
    for (const t of [...s.timers]) t.clear();
    s.timers.clear();
    for (const c of [...s.conns.values()]) {
      s.net.clearConnTimers(c);
      safe(() => c.ws.terminate());
    }
    s.conns.clear();
    safe(() => s.server.wss.close());
    await new Promise<void>((resolve) => {
      s.server.server.close(() => resolve());
      safe(() => s.server.server.closeAllConnections());
    });
  }

  urlsFor(market: ConnMarket): { restUrl: string; wsUrl: string } {
    return { restUrl: this.restUrl, wsUrl: isFutures(market) || market === 'portfolio-margin' ? this.futuresWsUrl : this.wsApiUrl };
  }

  /** Server clock (Date.now() + clock offset). */
  serverTime(): number {
    return this.s.serverTime();
  }

  setClockOffset(ms: number): void {
    this.s.clockOffset = ms;
  }

  /**
   * The weight pool of a REST path: 'futures' for /fapi and /dapi (one shared limit since the
   * CM–UM integration), else the path's first segment (weights.ts).
   */
  static poolOf(path: string): string {
    return poolOf(path);
  }

  clearRequests(): void {
    this.s.requests.length = 0;
  }

  /** Redacted description of a key (for logs). */
  static describeKey(apiKey: string): string {
    return redact(apiKey);
  }

  /**
   * `coinmOnFapi`: the account's COIN-M user data is delivered on its /fapi listenKey (fstream
   * /private) as well as on its /dapi key: an account that Binance serves in the unified form after
   * the COIN-M / USDⓈ-M integration. Off by default: no source says every account gets it.
   */
  createAccount(...a: Parameters<BooksRoom['createAccount']>): ReturnType<BooksRoom['createAccount']> {
    return this.s.books.createAccount(...a);
  }

  createKey(...a: Parameters<BooksRoom['createKey']>): ReturnType<BooksRoom['createKey']> {
    return this.s.books.createKey(...a);
  }

  /** Register an externally generated key (e.g. a fixed HMAC secret or a public key PEM). */
  registerKey(...a: Parameters<BooksRoom['registerKey']>): ReturnType<BooksRoom['registerKey']> {
    return this.s.books.registerKey(...a);
  }

  revokeKey(apiKey: string): void {
    this.s.books.revokeKey(apiKey);
  }

  /** Rolling one-minute weight sum of a pool ('api', 'sapi', 'futures' = fapi + dapi, 'papi'; 'fapi' / 'dapi' name 'futures'). */
  usedWeight(pool: string): number {
    return this.s.weights.usedWeight(pool);
  }

  failNext(rule: FailRule): void {
    this.s.faults.failNext(rule);
  }

  /**
   * Slow REST: the next `count` (default 1) requests whose path matches are processed on
   * arrival (weights, failNext, signature and timestamp checks) but answered `ms` later.
   * The client's own timeout can fire first, as against a slow exchange.
   */
  delayNext(rule: DelayRule): void {
    this.s.faults.delayNext(rule);
  }

  /**
   * Runs `rule.run` right after the next successful answer to the WS API method `rule.wsMethod`,
   * in the same turn: the events it makes follow the answer on the wire (a fill at the instant a
   * subscription starts).
   */
  afterNext(rule: AfterRule): void {
    this.s.faults.afterNext(rule);
  }

  /** Drops every pending delayNext / failNext / afterNext rule (the faults stop). */
  clearFaults(): void {
    this.s.faults.clearFaults();
  }

  /**
   * A poison frame: a valid JSON user-data event whose unknown field `deep` is nested `depth`
   * levels (default 5000: more than a recursive walker's stack, far less than JSON.parse's
   * limit), in the envelope of each matching connection (WS API `{subscriptionId,event}`,
   * futures raw or `{stream,data}`). Built as text: JSON.stringify itself cannot write it.
   * Returns the number of frames sent.
   */
  injectPoison(accountId: string, market: SimMarket, opts: { depth?: number; eventType?: string } = {}): number {
    return this.s.faults.injectPoison(accountId, market, opts);
  }

  openConnections(filter?: ConnFilter): number {
    return this.s.net.openConnections(filter);
  }

  connections(...a: Parameters<ConnectionsRoom['connections']>): ReturnType<ConnectionsRoom['connections']> {
    return this.s.net.connections(...a);
  }

  listenKeys(): Array<{ listenKey: string; accountId: string; market: KeyMarket; expiresAt: number }> {
    return this.s.streams.listenKeys();
  }

  /** Active WS-API subscriptions (for tests). */
  subscriptions(...a: Parameters<ConnectionsRoom['subscriptions']>): ReturnType<ConnectionsRoom['subscriptions']> {
    return this.s.net.subscriptions(...a);
  }

  dropConnections(filter?: ConnFilter): number {
    return this.s.faults.dropConnections(filter);
  }

  /**
   * Emulates a half-open link: the connections stay open but answer nothing at all from now on
   * (no pong to client pings, no server pings, no events, no responses; even frames `ws` writes
   * by itself, such as the reply to a close frame, are dropped). Incoming frames are ignored.
   */
  stallConnections(filter?: ConnFilter): number {
    return this.s.faults.stallConnections(filter);
  }

  sendServerShutdown(filter: ConnFilter = {}, opts: { graceMs?: number } = {}): number {
    return this.s.faults.sendServerShutdown(filter, opts);
  }

  injectRaw(filter: ConnFilter, frame: string | Buffer): number {
    return this.s.net.injectRaw(filter, frame);
  }

  /**
   * Sends every frame, as-is and in order, to each matching connection, with the connection's
   * socket corked so a batch leaves in few writes (the benchmarks' fast pusher). Returns the
   * number of frames sent (frames × connections).
   */
  /**
   * The TCP sockets under the matching open connections. For the benchmark's producer, which writes
   * pre-built WebSocket frames to them directly (bench/sim-child.ts); nothing else should need it.
   */
  rawSockets(filter: ConnFilter = {}): import('node:net').Socket[] {
    return this.s.net
      .matching(filter)
      .filter((c) => !c.closed)
      .map((c) => (c.ws as unknown as { _socket?: import('node:net').Socket })._socket)
      .filter((x): x is import('node:net').Socket => x !== undefined);
  }

  injectRawBatch(filter: ConnFilter, frames: ReadonlyArray<string | Buffer>): number {
    return this.s.net.injectRawBatch(filter, frames);
  }

  injectEvent(accountId: string, market: ConnMarket, event: Record<string, unknown>, opts: { symbol?: string } = {}): number {
    return this.s.net.injectEvent(accountId, market, event, opts);
  }

  expireListenKey(listenKey: string): void {
    this.s.streams.expireListenKey(listenKey);
  }

  /** Issue a listenToken directly (same as POST /sapi/v1/userListenToken). */
  createListenToken(...a: Parameters<WsApiRoom['createListenToken']>): ReturnType<WsApiRoom['createListenToken']> {
    return this.s.wsApi.createListenToken(...a);
  }

  expireListenToken(filter: ConnFilter = {}): number {
    return this.s.faults.expireListenToken(filter);
  }

  /** Current state of an order (snapshot). */
  getOrder(orderId: number): SimOrder | undefined {
    return this.s.ledger.getOrder(orderId);
  }

  /** Balances of a spot-like book as strings (free/locked), or futures wallet balances. */
  balances(accountId: string, market: SimMarket, symbol?: string): Record<string, { free: string; locked: string }> {
    return this.s.ledger.balances(accountId, market, symbol);
  }

  /** Futures positions of an account (strings). */
  positions(accountId: string, market: FuturesMarket): Array<{ symbol: string; positionSide: string; positionAmt: string; entryPrice: string }> {
    return this.s.ledger.positions(accountId, market);
  }

  placeOrder(...a: Parameters<LedgerRoom['placeOrder']>): ReturnType<LedgerRoom['placeOrder']> {
    return this.s.ledger.placeOrder(...a);
  }

  /** Fills `quantity` of an order; `commission` overrides the simulator's fee (e.g. '0'). */
  fillOrder(orderId: number, f: { quantity: string; price?: string; maker?: boolean; commission?: string }): SimTrade {
    return this.s.ledger.fillOrder(orderId, f);
  }

  /**
   * An order placed and cancelled at once without any fill (LIMIT at `price`): the short-lived order
   * of a gap. Its events go out as usual; it shows in allOrders with status CANCELED.
   */
  placeAndCancel(
    accountId: string,
    o: { market: SimMarket; symbol: string; side: 'BUY' | 'SELL'; quantity: string; price: string; clientOrderId?: string },
  ): SimOrder {
    const placed = this.s.ledger.placeOrder(accountId, { ...o, type: 'LIMIT' });
    this.s.ledger.cancelOrder(placed.orderId);
    return this.s.ledger.getOrder(placed.orderId)!;
  }

  /**
   * Lists a symbol in the exchange's symbol list `list` (default 'spot': exchangeInfo, and margin
   * allPairs unless `margin: false`; or a futures family's contracts), or changes a listed one. Base
   * and quote default to the split of the name; status 'TRADING'. Orders on an unlisted symbol still
   * work: the symbol is listed when the first order is placed.
   */
  addSymbol(symbol: string, opts: { list?: SymbolList; baseAsset?: string; quoteAsset?: string; status?: string; margin?: boolean } = {}): SymbolRec {
    return this.s.symbolsRoom.add(symbol, opts);
  }

  /** Sets a listed symbol's status (TRADING, HALT, BREAK, …). */
  setSymbolStatus(symbol: string, status: string, list: SymbolList = 'spot'): void {
    this.s.symbolsRoom.setStatus(symbol, status, list);
  }

  /** The symbols of a list, sorted by name. */
  listedSymbols(list: SymbolList = 'spot'): SymbolRec[] {
    return this.s.symbolsRoom.list(list);
  }

  /** The futures income history of an account (all rows, oldest first, amounts as strings). */
  incomeHistory(accountId: string, market: FuturesMarket): Array<{ tranId: number; symbol: string; incomeType: string; income: string; asset: string; time: number; tradeId: string }> {
    return this.s.incomeLog
      .filter((r) => r.accountId === accountId && r.market === market)
      .map((r) => ({ tranId: r.tranId, symbol: r.symbol, incomeType: r.incomeType, income: fmt(r.income), asset: r.asset, time: r.time, tradeId: r.tradeId }));
  }

  cancelOrder(orderId: number): void {
    this.s.ledger.cancelOrder(orderId);
  }

  expireOrder(orderId: number, expiryReason?: string): void {
    this.s.ledger.expireOrder(orderId, expiryReason);
  }

  /**
   * Places a USDⓈ-M conditional order in the simulated Algo Service (not the order book): it shows
   * in GET /fapi/v1/openAlgoOrders and /fapi/v1/algoOrder, and ALGO_UPDATE (NEW) is pushed.
   */
  placeAlgoOrder(...a: Parameters<AlgoRoom['placeAlgoOrder']>): ReturnType<AlgoRoom['placeAlgoOrder']> {
    return this.s.algo.placeAlgoOrder(...a);
  }

  /**
   * Triggers a NEW algo order: ALGO_UPDATE TRIGGERING, the order enters the book (ORDER_TRADE_UPDATE
   * NEW, `ot` = the algo type), ALGO_UPDATE TRIGGERED with `ai` = its orderId. With `fillPrice` the
   * order is then filled completely, which finishes the algo order (ALGO_UPDATE FINISHED).
   */
  triggerAlgoOrder(algoId: number, opts: { fillPrice?: string } = {}): { algo: SimAlgoOrder; order: SimOrder } {
    return this.s.algo.triggerAlgoOrder(algoId, opts);
  }

  /** Cancels a NEW algo order (ALGO_UPDATE CANCELED). */
  cancelAlgoOrder(algoId: number): SimAlgoOrder {
    return this.s.algo.cancelAlgoOrder(algoId);
  }

  /** Current state of an algo order (snapshot). */
  getAlgoOrder(algoId: number): SimAlgoOrder | undefined {
    return this.s.algo.getAlgoOrder(algoId);
  }

  runOrderLifecycle(...a: Parameters<LedgerRoom['runOrderLifecycle']>): ReturnType<LedgerRoom['runOrderLifecycle']> {
    return this.s.ledger.runOrderLifecycle(...a);
  }

  deposit(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.s.ledger.deposit(accountId, market, asset, amount, opts);
  }

  withdraw(accountId: string, market: SimMarket, asset: string, amount: string, opts: { symbol?: string } = {}): void {
    this.s.ledger.withdraw(accountId, market, asset, amount, opts);
  }

  /** A funding fee: ACCOUNT_UPDATE FUNDING_FEE, with `a.S` = `symbol` when given (the contract that paid it). */
  fundingFee(accountId: string, market: FuturesMarket, asset: string, amount: string, symbol?: string): void {
    this.s.ledger.fundingFee(accountId, market, asset, amount, symbol);
  }

  marginCall(accountId: string, market: FuturesMarket, symbol: string): void {
    this.s.ledger.marginCall(accountId, market, symbol);
  }

  trades(accountId: string, market: SimMarket, symbol?: string): SimTrade[] {
    return this.s.ledger.trades(accountId, market, symbol);
  }
}
