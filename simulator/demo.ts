/**
 * A realistic "trading day" for the simulator: orders, partial fills, cancels, expiries,
 * deposits and funding fees, one step every few seconds, on the chosen markets.
 * Used by the CLI (`--demo`) and by `npm start`.
 */
import type { BinanceSimulator, SimMarket } from './index';

export interface DemoOptions {
  /** Delay between two steps, ms. Default 3000. */
  intervalMs?: number;
  /** Markets to trade. Default ['spot', 'usdm-futures']. */
  markets?: SimMarket[];
  /** Where to write one line per step. Default: nothing. */
  log?: (line: string) => void;
  /** Stop after this many steps (default: run until stop()). */
  maxSteps?: number;
}

export interface DemoHandle {
  stop(): void;
  /** Steps executed so far. */
  readonly steps: number;
}

type Step = () => string;

const SYMBOLS: Record<SimMarket, { symbol: string; qty: string; base: number; quoteAsset: string }> = {
  spot: { symbol: 'BTCUSDT', qty: '0.01', base: 60_000, quoteAsset: 'USDT' },
  margin: { symbol: 'ETHUSDT', qty: '0.5', base: 3_000, quoteAsset: 'USDT' },
  'isolated-margin': { symbol: 'BNBUSDT', qty: '1', base: 600, quoteAsset: 'USDT' },
  'usdm-futures': { symbol: 'BTCUSDT', qty: '0.01', base: 60_000, quoteAsset: 'USDT' },
  'coinm-futures': { symbol: 'BTCUSD_PERP', qty: '2', base: 60_000, quoteAsset: 'BTC' },
};

function stepsFor(sim: BinanceSimulator, accountId: string, market: SimMarket): Step[] {
  const cfg = SYMBOLS[market];
  let price = cfg.base;
  const px = (delta = 0): string => (price + delta).toFixed(2);
  const walk = (): void => {
    price = Math.max(cfg.base * 0.5, price * (1 + (Math.random() - 0.5) * 0.004));
  };
  const half = (q: string): string => String(Number(q) / 2);
  const isFut = market === 'usdm-futures' || market === 'coinm-futures';
  const opts = market === 'isolated-margin' ? { symbol: cfg.symbol } : {};
  let openId = 0;
  const steps: Step[] = [
    () => {
      walk();
      const o = sim.placeOrder(accountId, { market, symbol: cfg.symbol, side: 'BUY', quantity: cfg.qty, price: px(-5) });
      openId = o.orderId;
      return `${market}: BUY ${cfg.qty} ${cfg.symbol} @ ${px(-5)} placed (#${o.orderId})`;
    },
    () => {
      const t = sim.fillOrder(openId, { quantity: half(cfg.qty) });
      return `${market}: #${openId} partially filled ${t.quantity} @ ${t.price} (trade ${t.tradeId})`;
    },
    () => {
      const t = sim.fillOrder(openId, { quantity: half(cfg.qty) });
      return `${market}: #${openId} filled (trade ${t.tradeId})`;
    },
    () => {
      walk();
      const { order, trades } = sim.runOrderLifecycle(accountId, {
        market, symbol: cfg.symbol, side: 'SELL', quantity: cfg.qty, price: px(10),
      });
      return `${market}: SELL ${cfg.qty} @ ${px(10)} filled at once (#${order.orderId}, trade ${trades[0]?.tradeId})`;
    },
    () => {
      walk();
      const o = sim.placeOrder(accountId, { market, symbol: cfg.symbol, side: 'BUY', quantity: cfg.qty, price: px(-300) });
      openId = o.orderId;
      return `${market}: far BUY @ ${px(-300)} placed (#${o.orderId})`;
    },
    () => {
      sim.cancelOrder(openId);
      return `${market}: #${openId} canceled`;
    },
    () => {
      const { order } = sim.runOrderLifecycle(accountId, {
        market, symbol: cfg.symbol, side: 'SELL', quantity: cfg.qty, price: px(200), fills: [half(cfg.qty)], outcome: 'expired',
      });
      return `${market}: SELL #${order.orderId} half filled, rest expired`;
    },
    () => {
      const { order } = sim.runOrderLifecycle(accountId, {
        market, symbol: cfg.symbol, side: 'BUY', quantity: half(cfg.qty), price: px(-1),
      });
      return `${market}: BUY ${half(cfg.qty)} #${order.orderId} filled (rebalance)`;
    },
    () => {
      const amount = isFut && market === 'coinm-futures' ? '0.01' : '100';
      sim.deposit(accountId, market, cfg.quoteAsset, amount, opts);
      return `${market}: deposit ${amount} ${cfg.quoteAsset}`;
    },
  ];
  if (isFut) {
    steps.push(() => {
      const fee = market === 'coinm-futures' ? '-0.00001' : '-0.35';
      sim.fundingFee(accountId, market, cfg.quoteAsset, fee);
      return `${market}: funding fee ${fee} ${cfg.quoteAsset}`;
    });
  }
  return steps;
}

/** Run the demo scenario on an existing simulator account. Call stop() on the handle to end it. */
export function runDemoScenario(sim: BinanceSimulator, accountId: string, opts: DemoOptions = {}): DemoHandle {
  const markets = opts.markets ?? ['spot', 'usdm-futures'];
  const interval = opts.intervalMs ?? 3000;
  const log = opts.log ?? ((): void => undefined);
  const lists = markets.map((m) => ({ market: m, steps: stepsFor(sim, accountId, m), next: 0 }));
  let round = 0;
  let steps = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let clear: typeof clearTimeout = clearTimeout;
  const schedule = (): void => {
    // look the timer API up now and keep its matching clear function (fake timers friendly)
    clear = clearTimeout;
    timer = setTimeout(run, interval);
  };
  const run = (): void => {
    timer = undefined;
    if (stopped) return;
    const l = lists[round % lists.length];
    round++;
    try {
      const line = l.steps[l.next % l.steps.length]();
      log(line);
    } catch (e) {
      log(`${l.market}: step skipped (${e instanceof Error ? e.message : String(e)})`);
    }
    l.next++;
    steps++;
    if (opts.maxSteps !== undefined && steps >= opts.maxSteps) {
      stopped = true;
      return;
    }
    schedule();
  };
  schedule();
  return {
    stop(): void {
      stopped = true;
      if (timer !== undefined) clear(timer);
      timer = undefined;
    },
    get steps(): number {
      return steps;
    },
  };
}
