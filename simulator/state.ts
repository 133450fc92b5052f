/**
 * What every room of the simulator shares: the options, the books (accounts, keys, orders,
 * trades, algo orders), the open connections, listen keys and tokens, the fault rules, the
 * request and weight logs, the id counters, the server clock and the timers, and a reference to
 * each room, so that one room calls another as `this.s.<room>.<method>()`.
 *
 * Timers and clocks are always the globals looked up at call time (`setTimeout`, `setInterval`,
 * `Date.now()`), so fake timers installed by a test drive pings, lifetimes and expiries.
 */
import {
  safe,
  type Account,
  type AlgoRec,
  type Conn,
  type AfterRule,
  type DelayRule,
  type FailRule,
  type IncomeRec,
  type KeyRec,
  type ListenKeyRec,
  type ListenTokenRec,
  type OrderRec,
  type RecordedRequest,
  type SimTrade,
  type SimulatorOptions,
  type SymbolList,
  type SymbolRec,
  type Timer,
} from './model';
import type { AlgoRoom } from './algo';
import type { BooksRoom } from './books';
import type { FaultsRoom } from './faults';
import type { StreamsRoom } from './futures-streams';
import type { LedgerRoom } from './ledger/ledger';
import type { LedgerEvents } from './ledger/events';
import type { ConnectionsRoom } from './connections';
import type { RestRouter } from './rest/router';
import type { RestQueries } from './rest/queries';
import type { SpotRest } from './rest/spot';
import type { MarginRest } from './rest/margin';
import type { FuturesRest } from './rest/futures';
import type { PortfolioMarginRest } from './rest/portfolio-margin';
import type { ServerRoom } from './server';
import type { WeightsRoom } from './weights';
import type { SymbolsRoom } from './symbols';
import type { DiscoveryRest } from './rest/discovery';
import type { WsApiRoom } from './ws-api';

export class SimState {
  readonly requests: RecordedRequest[] = [];
  readonly accounts = new Map<string, Account>();
  readonly keys = new Map<string, KeyRec>();
  readonly orders = new Map<number, OrderRec>();
  readonly algoOrders = new Map<number, AlgoRec>();
  readonly tradeLog: SimTrade[] = [];
  /** Futures income history rows, oldest first (ledger: fills, funding fees, transfers). */
  readonly incomeLog: IncomeRec[] = [];
  /** The exchange's symbol lists (symbols.ts). */
  readonly symbols: Record<SymbolList, Map<string, SymbolRec>> = { spot: new Map(), 'usdm-futures': new Map(), 'coinm-futures': new Map() };
  readonly conns = new Map<number, Conn>();
  readonly listenKeyMap = new Map<string, ListenKeyRec>();
  readonly listenTokens = new Map<string, ListenTokenRec>();
  readonly failRules: Array<FailRule & { remaining: number }> = [];
  readonly delayRules: Array<DelayRule & { remaining: number }> = [];
  readonly afterRules: AfterRule[] = [];
  readonly timers = new Set<Timer>();
  readonly weightLog: Array<{ at: number; pool: string; weight: number }> = [];
  clockOffset = 0;
  nextAccount = 1;
  nextOrderId = 1_000_000;
  nextAlgoId = 2_000_000_001;
  nextConnId = 1;
  nextExecId = 1;
  nextTranId = 9_000_000_001;
  stopped = false;

  // the rooms (set once by the facade's constructor)
  server!: ServerRoom;
  books!: BooksRoom;
  weights!: WeightsRoom;
  faults!: FaultsRoom;
  net!: ConnectionsRoom;
  streams!: StreamsRoom;
  wsApi!: WsApiRoom;
  rest!: RestRouter;
  queries!: RestQueries;
  spot!: SpotRest;
  margin!: MarginRest;
  futures!: FuturesRest;
  pm!: PortfolioMarginRest;
  ledger!: LedgerRoom;
  events!: LedgerEvents;
  algo!: AlgoRoom;
  symbolsRoom!: SymbolsRoom;
  discovery!: DiscoveryRest;

  constructor(readonly opts: Required<SimulatorOptions>) {}

  /** Server clock (Date.now() + clock offset). */
  serverTime(): number {
    return Date.now() + this.clockOffset;
  }

  account(id: string): Account {
    const a = this.accounts.get(id);
    if (!a) throw new Error(`unknown account ${id}`);
    return a;
  }

  /**
   * setTimeout looked up now; the matching clearTimeout is captured with it, so a timer created
   * before or after a test installs fake timers is always cleared by the right implementation.
   */
  timer(fn: () => void, ms: number): Timer {
    const clear = clearTimeout;
    const set = setTimeout;
    // setTimeout fires at once beyond 2^31 - 1 ms: a long wait (a token valid for years) is chained
    const MAX = 2_147_483_647;
    let t: ReturnType<typeof setTimeout>;
    const arm = (left: number): void => {
      t = set(() => {
        if (left > MAX) return arm(left - MAX);
        this.timers.delete(h);
        safe(fn);
      }, Math.min(left, MAX));
    };
    arm(Math.max(0, Number.isFinite(ms) ? ms : MAX));
    const h = this.own(() => clear(t));
    return h;
  }

  interval(fn: () => void, ms: number): Timer {
    const clear = clearInterval;
    const t = setInterval(() => safe(fn), ms);
    return this.own(() => clear(t));
  }

  /** A handle in `timers` whose clear() runs `clear` and forgets it (stop() clears them all). */
  private own(clear: () => void): Timer {
    const h: Timer = {
      clear: () => {
        clear();
        this.timers.delete(h);
      },
    };
    this.timers.add(h);
    return h;
  }

  clearTimer(t: Timer | undefined): void {
    t?.clear();
  }

  /** Keep the request log bounded for long CLI runs (tests never get near this). */
  record(rec: RecordedRequest): void {
    this.requests.push(rec);
    if (this.requests.length > 50_000) this.requests.splice(0, 10_000);
  }
}
