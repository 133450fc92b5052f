import assert from 'node:assert/strict';
import { EventDeduper, dedupeKey, stableStringify } from '../../nodes/lib/recovery/dedupe';
import { fillEventFromRow } from '../../nodes/lib/recovery';
import type { Market, UserDataEvent } from '../../nodes/lib/types';

function spotFill(over: Partial<Record<string, unknown>> = {}, market: Market = 'spot'): UserDataEvent {
  return {
    market,
    eventType: 'executionReport',
    raw: { e: 'executionReport', E: 1000, s: 'BTCUSDT', i: 7, t: 42, x: 'TRADE', X: 'PARTIALLY_FILLED', l: '1', L: '10', ...over },
    receivedAt: 1,
  };
}

function futFill(o: Record<string, unknown> = {}, market: Market = 'usdm-futures', E = 5000): UserDataEvent {
  return {
    market,
    eventType: 'ORDER_TRADE_UPDATE',
    raw: { e: 'ORDER_TRADE_UPDATE', E, T: E, o: { s: 'BTCUSDT', i: 9, t: 77, x: 'TRADE', X: 'FILLED', l: '1', L: '10', ...o } },
    receivedAt: 1,
  };
}

describe('recovery/dedupe: EventDeduper', () => {
  it('rejects the second copy of a live fill (rotation overlap) and accepts the first', () => {
    const d = new EventDeduper();
    assert.equal(d.accept(spotFill()), true);
    // the overlapping connection delivers the same fill again
    assert.equal(d.accept(spotFill()), false);
    assert.equal(d.duplicateCount, 1);
  });

  it('fill key ignores event time: the same trade seen with another E is a duplicate', () => {
    const d = new EventDeduper();
    assert.equal(d.accept(spotFill({ E: 1000 })), true);
    assert.equal(d.accept(spotFill({ E: 1001 })), false);
  });

  it('recovered fill (REST row, no E) dedupes against the live fill, live first', () => {
    const d = new EventDeduper();
    const row = { symbol: 'BTCUSDT', id: 42, orderId: 7, price: '10', qty: '1', time: 999, isBuyer: true, isMaker: false };
    const rec = fillEventFromRow('spot', row, 2);
    assert.equal(rec.raw.E, undefined);
    assert.equal(d.accept(spotFill()), true);
    assert.equal(d.accept(rec), false);
  });

  it('recovered fill dedupes against the live fill, recovered first', () => {
    const d = new EventDeduper();
    const row = { symbol: 'BTCUSDT', id: 42, orderId: 7, price: '10', qty: '1', time: 999, isBuyer: true, isMaker: false };
    assert.equal(d.accept(fillEventFromRow('spot', row, 2)), true);
    assert.equal(d.accept(spotFill()), false);
  });

  it('futures: recovered userTrades row dedupes against ORDER_TRADE_UPDATE in both orders', () => {
    const row = { symbol: 'BTCUSDT', id: 77, orderId: 9, side: 'BUY', price: '10', qty: '1', time: 5000, maker: true, realizedPnl: '0' };
    const a = new EventDeduper();
    assert.equal(a.accept(futFill()), true);
    assert.equal(a.accept(fillEventFromRow('usdm-futures', row, 1)), false);
    const b = new EventDeduper();
    assert.equal(b.accept(fillEventFromRow('usdm-futures', row, 1)), true);
    assert.equal(b.accept(futFill()), false);
  });

  it('no false duplicates across markets, symbols, orders and trade ids', () => {
    const d = new EventDeduper();
    assert.equal(d.accept(spotFill()), true);
    assert.equal(d.accept(spotFill({}, 'margin')), true);
    assert.equal(d.accept(spotFill({}, 'isolated-margin')), true);
    assert.equal(d.accept(spotFill({ s: 'ETHUSDT' })), true);
    assert.equal(d.accept(spotFill({ i: 8 })), true);
    assert.equal(d.accept(spotFill({ t: 43 })), true);
    assert.equal(d.accept(futFill()), true);
    assert.equal(d.accept(futFill({}, 'coinm-futures')), true);
    assert.equal(d.size, 8);
  });

  it('TRADE_LITE is its own family: it does not suppress the full fill of the same trade', () => {
    const d = new EventDeduper();
    const lite: UserDataEvent = {
      market: 'usdm-futures',
      eventType: 'TRADE_LITE',
      raw: { e: 'TRADE_LITE', E: 4999, T: 4999, s: 'BTCUSDT', i: 9, t: 77, l: '1', L: '10' },
      receivedAt: 1,
    };
    assert.equal(d.accept(lite), true);
    assert.equal(d.accept(futFill()), true);
    assert.equal(d.accept({ ...lite, raw: { ...lite.raw, E: 5001 } }), false);
  });

  it('non-fill order events: keyed by (orderId, status, execType, E)', () => {
    const d = new EventDeduper();
    const ev = (x: string, X: string, E: number): UserDataEvent => ({
      market: 'spot',
      eventType: 'executionReport',
      raw: { e: 'executionReport', E, s: 'BTCUSDT', i: 7, t: -1, x, X },
      receivedAt: 1,
    });
    assert.equal(d.accept(ev('NEW', 'NEW', 1)), true);
    assert.equal(d.accept(ev('NEW', 'NEW', 1)), false);
    assert.equal(d.accept(ev('CANCELED', 'CANCELED', 2)), true);
    // same status, later event time (e.g. an amendment): not a duplicate
    assert.equal(d.accept(ev('REPLACED', 'NEW', 3)), true);
    assert.equal(d.accept(ev('NEW', 'NEW', 4)), true);
  });

  it('other events: by (eventType, E, content); recovered snapshots without E always pass', () => {
    const d = new EventDeduper();
    const bal = (E: number | undefined, free: string): UserDataEvent => ({
      market: 'spot',
      eventType: 'outboundAccountPosition',
      raw: E === undefined ? { e: 'outboundAccountPosition', B: [{ a: 'BTC', f: free, l: '0' }] } : { e: 'outboundAccountPosition', E, u: E, B: [{ a: 'BTC', f: free, l: '0' }] },
      receivedAt: 1,
      ...(E === undefined ? { recovered: true } : {}),
    });
    assert.equal(d.accept(bal(1, '1')), true);
    assert.equal(d.accept(bal(1, '1')), false);
    assert.equal(d.accept(bal(1, '2')), true);
    assert.equal(d.accept(bal(undefined, '1')), true);
    assert.equal(d.accept(bal(undefined, '1')), true);
    assert.equal(dedupeKey(bal(undefined, '1')), undefined);
  });

  it('key order inside the event does not matter (stable JSON)', () => {
    assert.equal(stableStringify({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } }), '{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
    const d = new EventDeduper();
    const a: UserDataEvent = { market: 'usdm-futures', eventType: 'MARGIN_CALL', raw: { e: 'MARGIN_CALL', E: 5, cw: '1', p: [] }, receivedAt: 1 };
    const b: UserDataEvent = { market: 'usdm-futures', eventType: 'MARGIN_CALL', raw: { p: [], cw: '1', E: 5, e: 'MARGIN_CALL' }, receivedAt: 2 };
    assert.equal(d.accept(a), true);
    assert.equal(d.accept(b), false);
  });

  it('bounded memory: keeps at most maxEntries keys and forgets the oldest first', () => {
    const d = new EventDeduper({ maxEntries: 3 });
    for (const t of [1, 2, 3]) assert.equal(d.accept(spotFill({ t })), true);
    assert.equal(d.size, 3);
    assert.equal(d.accept(spotFill({ t: 4 })), true); // evicts t=1
    assert.equal(d.size, 3);
    assert.equal(d.has(spotFill({ t: 1 })), false);
    assert.equal(d.has(spotFill({ t: 2 })), true);
    // FIFO by first sighting (ring buffer): a duplicate is still caught but does not
    // refresh its key, so t=2 (the oldest remembered) is evicted next, then t=3
    assert.equal(d.accept(spotFill({ t: 2 })), false);
    assert.equal(d.size, 3);
    assert.equal(d.accept(spotFill({ t: 5 })), true);
    assert.equal(d.has(spotFill({ t: 2 })), false);
    assert.equal(d.has(spotFill({ t: 3 })), true);
    assert.equal(d.accept(spotFill({ t: 6 })), true);
    assert.equal(d.has(spotFill({ t: 3 })), false);
    assert.equal(d.has(spotFill({ t: 4 })), true);
    // an evicted key is accepted again (the documented cost of bounded memory)
    assert.equal(d.accept(spotFill({ t: 1 })), true);
    assert.equal(d.has(spotFill({ t: 4 })), false);
  });

  it('ring buffer: wraps around many times, always remembering exactly the last maxEntries keys', () => {
    const max = 7;
    const d = new EventDeduper({ maxEntries: max });
    for (let t = 0; t < 100; t++) {
      assert.equal(d.accept(spotFill({ t })), true);
      // every key still inside the window is caught as a duplicate (and the window is unchanged)
      for (let k = Math.max(0, t - max + 1); k <= t; k++) assert.equal(d.accept(spotFill({ t: k })), false, `t=${t} k=${k}`);
      assert.equal(d.size, Math.min(t + 1, max));
      if (t >= max) assert.equal(d.has(spotFill({ t: t - max })), false);
    }
    assert.equal(d.duplicateCount, (max * (max + 1)) / 2 + (100 - max) * max);
  });

  it('clear() forgets everything and the ring starts over', () => {
    const d = new EventDeduper({ maxEntries: 2 });
    for (const t of [1, 2, 3]) d.accept(spotFill({ t }));
    d.clear();
    assert.equal(d.size, 0);
    assert.equal(d.accept(spotFill({ t: 2 })), true);
    assert.equal(d.accept(spotFill({ t: 3 })), true);
    assert.equal(d.accept(spotFill({ t: 4 })), true); // evicts t=2
    assert.equal(d.has(spotFill({ t: 2 })), false);
    assert.equal(d.has(spotFill({ t: 3 })), true);
    assert.equal(d.size, 2);
  });

  it('bounded memory holds over 20 000 distinct fills', () => {
    const d = new EventDeduper({ maxEntries: 1000 });
    for (let t = 0; t < 20_000; t++) d.accept(spotFill({ t }));
    assert.equal(d.size, 1000);
    assert.equal(d.accept(spotFill({ t: 19_999 })), false);
    assert.equal(d.accept(spotFill({ t: 18_999 })), true);
  });

  it('numeric keys match exactly when the string keys match: number and canonical string ids are one id, others are not', () => {
    const d = new EventDeduper();
    assert.equal(d.accept(spotFill({ i: 7, t: 42 })), true);
    assert.equal(d.accept(spotFill({ i: '7', t: '42' })), false, 'same ids as decimal strings');
    assert.equal(d.accept(spotFill({ i: '07', t: 42 })), true, 'leading zero: another id, as in the string key');
    assert.equal(d.accept(spotFill({ i: '07', t: 42 })), false);
    assert.equal(d.accept(spotFill({ i: 7, t: '+42' })), true);
    assert.equal(d.accept(spotFill({ i: 7, t: '+42' })), false);
    // beyond 2^53: not exact as a double, kept as a string key
    assert.equal(d.accept(spotFill({ i: '90071992547409930', t: 1 })), true);
    assert.equal(d.accept(spotFill({ i: '90071992547409931', t: 1 })), true);
    assert.equal(d.accept(spotFill({ i: '90071992547409931', t: 1 })), false);
    // a safe 16-digit id, as a number and as its string
    assert.equal(d.accept(spotFill({ i: 4503599627370497, t: 2 })), true);
    assert.equal(d.accept(spotFill({ i: '4503599627370497', t: 2 })), false);
  });

  it('agrees with the string key on a mixed corpus: an event is a duplicate exactly when its dedupeKey was seen', () => {
    const d = new EventDeduper();
    const seen = new Set<string>();
    const ids: unknown[] = [0, 1, '1', '01', 2 ** 40, String(2 ** 40), -1, '-1', 1.5, '', undefined, null, 2 ** 53 + 2, '9007199254740993'];
    const statuses: unknown[] = ['NEW', 'FILLED', '', undefined, 3];
    let n = 0;
    for (const i of ids) {
      for (const t of ids) {
        for (const X of statuses) {
          for (const x of ['TRADE', 'NEW']) {
            for (const s of ['BTCUSDT', '', undefined]) {
              const e = spotFill({ i, t, X, x, s, E: n % 3 === 0 ? undefined : 1000 + (n % 5) });
              for (const copy of [e, { ...e, raw: { ...e.raw } }]) {
                const key = dedupeKey(copy);
                const expected = key === undefined ? true : !seen.has(key);
                if (key !== undefined) seen.add(key);
                assert.equal(d.accept(copy), expected, `event ${JSON.stringify(copy.raw)}`);
              }
              n++;
            }
          }
        }
      }
    }
    assert.equal(d.size, seen.size);
  });

  it('string and numeric keys share one FIFO ring, across growth of the ring', () => {
    const max = 1000;
    const d = new EventDeduper({ maxEntries: max });
    const other = (E: number): UserDataEvent => ({ market: 'spot', eventType: 'balanceUpdate', raw: { e: 'balanceUpdate', E, a: 'BTC', d: '1' }, receivedAt: 1 });
    const ev = (k: number): UserDataEvent => (k % 3 === 0 ? other(k) : spotFill({ t: k }));
    for (let k = 0; k < 5000; k++) {
      assert.equal(d.accept(ev(k)), true);
      if (k % 97 === 0) {
        for (let j = Math.max(0, k - max + 1); j <= k; j += 13) assert.equal(d.has(ev(j)), true, `k=${k} j=${j} remembered`);
        if (k >= max) assert.equal(d.has(ev(k - max)), false, `k=${k}: ${k - max} forgotten`);
      }
      assert.equal(d.size, Math.min(k + 1, max));
    }
  });

  it('rejects a bad maxEntries', () => {
    assert.throws(() => new EventDeduper({ maxEntries: 0 }), RangeError);
  });
});
