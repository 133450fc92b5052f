/**
 * Issue 24: the de-duplication of non-fill events is bounded in bytes. Each event used to be kept
 * as the string of its whole content (1 500 distinct 100 KB balance events kept 144 MB); now a
 * long key is kept as a 128-bit SHA-256 prefix, and the string keys are held within a byte budget
 * (the oldest forgotten early, logged once with a count). Fills never depend on this window (the
 * fill ledger de-duplicates them by their exact ids), and order events keep their exact numeric keys.
 *
 * Memory is measured on the structure itself: its own byte counter, and the characters of the keys
 * its Set holds (read directly, so the check does not trust the counter; on the old code those
 * were the whole events: 1 500 × 100 KB).
 */
import assert from 'node:assert/strict';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { MemoryStateStore, openAccountStream, type AccountStream, type UserDataEvent } from '../../nodes/lib';
import { stopAllSharedManagers } from '../../nodes/lib/stream/registry';
import { EventDeduper } from '../../nodes/lib/recovery/dedupe';
import { Deduper } from '../../nodes/lib/stream/overlap-dedup';
import { keyBytes } from '../../nodes/lib/events/bounded';
import { waitFor } from '../support/fake-clock';
import { LogCapture } from '../support/log-capture';

/** Characters of the string keys a deduper's Set holds (read directly, whatever its counters say). */
function keptChars(d: EventDeduper | Deduper): number {
  const set = (d as unknown as { strSeen?: Set<string>; seen?: Set<string> }).strSeen ?? (d as unknown as { seen: Set<string> }).seen;
  let n = 0;
  for (const k of set) n += k.length;
  return n;
}

const PAD = 'x'.repeat(100_000);

function bigBalance(i: number): Record<string, unknown> {
  return { e: 'outboundAccountPosition', E: 1_800_000_000_000 + i, u: 1_800_000_000_000 + i, B: [{ a: 'USDT', f: `${i}.00000000`, l: '0.00000000' }], note: PAD };
}

describe('bounds: de-duplication of non-fill events in bytes', function () {
  this.timeout(120_000);

  it('1 500 distinct 100 KB balance events through the simulator: all delivered, each key of bounded size (the window holds < 400 KB, not 150 MB), a repeat still de-duplicated, the stream alive for fills', async () => {
    const sim = await BinanceSimulator.start();
    const log = new LogCapture();
    let account: AccountStream | undefined;
    try {
      const acct = sim.createAccount({ balances: { USDT: '1000000', BTC: '10' } }).id;
      const key: CreatedKey = sim.createKey(acct, 'hmac');
      account = openAccountStream(
        { market: 'spot', environment: 'custom', ...sim.urlsFor('spot'), keyType: 'hmac', credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret } },
        { store: new MemoryStateStore(), logger: log },
      );
      const balances: UserDataEvent[] = [];
      const fills: UserDataEvent[] = [];
      account.stream.on('event', (e) => {
        if (e.eventType === 'outboundAccountPosition' && (e.raw as { note?: string }).note === PAD) balances.push(e);
        if (e.eventType === 'executionReport' && (e.raw as { x?: string }).x === 'TRADE') fills.push(e);
      });
      account.acquire('test');
      account.resume();
      await waitFor(() => account!.stream.currentState.state === 'connected', { timeoutMs: 20_000, message: 'connected' });
      const n = 1_500;
      for (let i = 0; i < n; i++) {
        sim.injectEvent(acct, 'spot', bigBalance(i));
        if (i % 50 === 49) await waitFor(() => balances.length === i + 1, { timeoutMs: 20_000, message: `event ${i}` });
      }
      await waitFor(() => balances.length === n, { timeoutMs: 30_000, message: 'all delivered' });
      const d = account.stream.pipeline.deduper;
      assert.ok(keptChars(d) <= n * 64, `the keys hold ${keptChars(d)} characters for ${n} events of 100 KB`);
      assert.ok(d.keyBytes <= n * keyBytes('#'.repeat(23)) + 64 * 1024, `own counter: ${d.keyBytes} bytes`);
      assert.ok(d.retainedBytes < 8 * 1024 * 1024, `retained ${d.retainedBytes} bytes in all`);
      assert.equal(d.forgottenEarly, 0, 'within the default budget nothing is forgotten early');
      // a repeat of a recent one (the same content) is still recognised
      const dups = account.stream.duplicateCount;
      sim.injectEvent(acct, 'spot', bigBalance(n - 1));
      await waitFor(() => account!.stream.duplicateCount === dups + 1, { timeoutMs: 10_000, message: 'repeat de-duplicated' });
      assert.equal(balances.length, n, 'the repeat was not delivered');
      // and the stream still delivers fills
      const o = sim.placeOrder(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '1', price: '50000' });
      sim.fillOrder(o.orderId, { quantity: '0.1' });
      await waitFor(() => fills.length === 1, { timeoutMs: 10_000, message: 'fill delivered' });
      assert.equal(account.stream.currentState.state, 'connected');
    } finally {
      await account?.close({ keep: false });
      await stopAllSharedManagers();
      await sim.stop();
    }
  });

  it('a small byte budget: a flood of 5 000 distinct large events keeps the string keys within it (oldest forgotten early, one warning with a count); order events keep their exact keys', () => {
    const log = new LogCapture();
    const budget = 64 * 1024;
    const d = new EventDeduper({ maxKeyBytes: budget, logger: log });
    const order = (i: number): UserDataEvent => ({
      market: 'spot',
      eventType: 'executionReport',
      raw: { e: 'executionReport', E: 1_700_000_000_000 + i, s: 'BTCUSDT', i, x: 'NEW', X: 'NEW', t: -1 },
      receivedAt: 0,
    });
    const big = (i: number): UserDataEvent => ({ market: 'spot', eventType: 'outboundAccountPosition', raw: bigBalance(i), receivedAt: 0 });
    assert.equal(d.accept(order(1)), true);
    let maxKeyBytes = 0;
    for (let i = 0; i < 5_000; i++) {
      assert.equal(d.accept(big(i)), true, `event ${i} is new`);
      maxKeyBytes = Math.max(maxKeyBytes, d.keyBytes);
    }
    assert.ok(maxKeyBytes <= budget, `string keys ${maxKeyBytes} bytes, budget ${budget}`);
    assert.ok(keptChars(d) * 2 <= budget, `the Set holds ${keptChars(d)} characters`);
    assert.ok(d.forgottenEarly > 4_000, `forgotten early: ${d.forgottenEarly}`);
    const warnings = log.lines.filter((l) => /^warn de-duplication: \d+ key\(s\) of non-fill events forgotten early .*Fills are not affected/.test(l));
    assert.equal(warnings.length, 1, 'one warning (then at most one per 10 minutes)');
    // the newest are still recognised, the order event too (numeric keys are not in the byte budget)
    assert.equal(d.accept(big(4_999)), false);
    assert.equal(d.accept(order(1)), false);
    // the oldest were forgotten: a copy would be delivered again (never a loss)
    assert.equal(d.has(big(0)), false);
  });

  it('the overlap de-duplication (two subscriptions during a rotation) keeps compact fingerprints: 2 000 distinct 100 KB events hold < 400 KB', () => {
    const d = new Deduper();
    d.begin();
    for (let i = 0; i < 2_000; i++) assert.equal(d.admit(bigBalance(i)), true);
    assert.equal(d.admit(bigBalance(1_999)), false, 'a copy seen on the other subscription is dropped');
    assert.ok(keptChars(d) <= 2_000 * 64, `fingerprints hold ${keptChars(d)} characters`);
    assert.ok(d.retainedBytes < 400 * 1024, `own counter ${d.retainedBytes}`);
    d.end();
  });
});
