/**
 * Issue 24: the open-order table (recovery/open-orders.ts) evicts its least recently seen order
 * without walking the deleted entries of its Map. Its cost per event is measured in the bench
 * (the "book" mix); here its order of eviction is checked against a plain model: the same orders
 * are dropped, in the same order, as by the Map-order rule it replaced.
 */
import assert from 'node:assert/strict';
import { OpenOrders, type OpenOrdersHost } from '../../nodes/lib/recovery/open-orders';
import { prng } from '../support/prng';

function table(max: number, dropped: string[]): OpenOrders {
  const host: OpenOrdersHost = {
    get: () => Promise.resolve([] as never),
    qualify: (_b, s) => s,
    split: (s) => ({ book: {} as never, symbol: s }),
    seeSymbol: () => undefined,
    asAccountEvent: (_b, e) => e,
    isolatedParams: () => ({}),
    changed: () => undefined,
    dropped: (symbol, orderId) => dropped.push(`${symbol}/${orderId}`),
  };
  return new OpenOrders(host, { scope: 'auto', isolated: false, maxOrderLookups: 10, maxTrackedOrders: max, now: () => 0 });
}

/** The rule as it was: a Map in order of last move; a repeat of the last order keeps its place. */
class Model {
  readonly orders = new Map<string, string>();
  last: string | undefined;
  constructor(
    private readonly max: number,
    private readonly dropped: string[],
  ) {}
  track(key: string, status: string): void {
    const same = this.last === key;
    if (status === 'FILLED' || status === 'CANCELED') {
      this.orders.delete(key);
      return;
    }
    if (same && this.orders.has(key)) {
      this.orders.set(key, status);
      return;
    }
    this.last = key;
    this.orders.delete(key);
    this.orders.set(key, status);
    while (this.orders.size > this.max) {
      const oldest = this.orders.keys().next().value as string;
      this.orders.delete(oldest);
      this.dropped.push(oldest);
    }
  }
}

describe('bounds: the open-order table', () => {
  it('60 000 random order events at a cap of 10 000 open orders: the same orders are dropped, in the same order, as by the least-recently-seen rule; the persisted list is the same', () => {
    const rand = prng(2424);
    const max = 10_000;
    const gotDropped: string[] = [];
    const wantDropped: string[] = [];
    const t = table(max, gotDropped);
    const m = new Model(max, wantDropped);
    let nextId = 1;
    let lastKey: [string, number] | undefined;
    for (let i = 0; i < 60_000; i++) {
      const r = rand();
      let symbol: string;
      let id: number;
      if (r < 0.5 || nextId < 100) {
        symbol = `S${Math.floor(rand() * 400)}`;
        id = nextId++; // a new resting order
      } else if (r < 0.65 && lastKey) {
        [symbol, id] = lastKey; // the same order again (a partial fill)
      } else {
        id = 1 + Math.floor(rand() * (nextId - 1)); // an older order, maybe already gone
        symbol = `S${id % 400}`;
      }
      const s = rand();
      const status = s < 0.6 ? 'NEW' : s < 0.8 ? 'PARTIALLY_FILLED' : s < 0.9 ? 'FILLED' : 'CANCELED';
      t.track(symbol, id, status, undefined, false);
      m.track(`${symbol}/${id}`, status);
      lastKey = [symbol, id];
    }
    assert.ok(wantDropped.length > 10_000, `the cap was exceeded many times (${wantDropped.length})`);
    assert.deepEqual(gotDropped, wantDropped);
    const persisted = t.persisted(max).map(([symbol, id, status]) => `${symbol}/${id}/${status}`);
    assert.deepEqual(
      persisted,
      [...m.orders].map(([k, status]) => `${k}/${status}`),
    );
  });
});
