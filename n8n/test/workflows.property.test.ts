/**
 * Several n8n workflows on one credential, as generated schedules (issue 21): three workflows
 * with the built trigger (trigger-functions.ts: static data saved as n8n saves it) are
 * deactivated and activated again at random, while fills are made and the connection drops. The
 * expected deliveries come from the exchange and the user-facing contract, not from the
 * implementation: every workflow gets every fill made since its first activation exactly once,
 * across its activations (recovered while it was inactive or the connection was down), and the
 * workflows share one connection (never two at once). Fixed seeds; PROPERTY_N8N_SEEDS=n runs n.
 */
import assert from 'node:assert/strict';
import type { IDataObject } from 'n8n-workflow';
import { BinanceSimulator } from '../../simulator/index';
import { waitFor } from '../../test/support/fake-clock';
import { prng } from '../../test/support/prng';
import { TriggerHarness, loadTriggerType } from './trigger-functions';

const SYMBOLS = ['BTCUSDT', 'ETHUSDT'];
const WORKFLOWS = 3;
const STEPS = 25;

interface Workflow {
  db: { staticData: IDataObject };
  /** The current activation, if active. */
  active?: TriggerHarness;
  /** Every activation so far. */
  lives: TriggerHarness[];
}

describe('n8n: several workflows on one credential, generated schedules (built trigger, simulator)', function () {
  this.timeout(180_000);
  const type = loadTriggerType();
  const n = Number(process.env.PROPERTY_N8N_SEEDS ?? 0);
  const seeds = n > 0 ? Array.from({ length: n }, (_, i) => 1000 + i) : [1, 2, 3, 4];

  for (const seed of seeds) {
    it(`seed ${seed}: each workflow gets every fill since its first activation exactly once, across deactivations and drops; one connection`, async () => {
      const rnd = prng(seed);
      const sim = await BinanceSimulator.start();
      const trace: string[] = [];
      const workflows: Workflow[] = Array.from({ length: WORKFLOWS }, () => ({ db: { staticData: {} }, lives: [] }));
      try {
        const acct = sim.createAccount({ balances: { USDT: '100000000', BTC: '1000', ETH: '100000' } }).id;
        const key = sim.createKey(acct, 'hmac');
        const urls = sim.urlsFor('spot');
        const credentials = { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', apiKey: key.apiKey, apiSecret: key.apiSecret };
        const fills: string[] = [];
        const activate = async (w: Workflow): Promise<void> => {
          // the recovery symbols are listed: a workflow deactivated before it saw a symbol still recovers it
          const h = new TriggerHarness(type, { parameters: { market: 'spot', options: { recoverySymbols: SYMBOLS.join(',') } }, credentials, db: w.db });
          await h.activate();
          w.active = h;
          w.lives.push(h);
        };
        const deactivate = async (w: Workflow): Promise<void> => {
          const h = w.active;
          w.active = undefined;
          await h?.close();
        };
        const subscribed = (): Promise<void> => waitFor(() => sim.subscriptions({ market: 'spot' }).length === 1, { timeoutMs: 20_000, message: 'subscribed' });
        const got = (w: Workflow): string[] =>
          w.lives.flatMap((h) => h.items().filter((i) => i.executionType === 'TRADE').map((i) => i.eventId as string));

        for (const w of workflows) await activate(w);
        await subscribed();
        for (let step = 0; step < STEPS; step++) {
          assert.ok(sim.openConnections() <= 1, `never two connections; schedule: ${trace.join(', ')}`);
          const r = rnd();
          if (r < 0.45) {
            const k = 1 + Math.floor(rnd() * 3);
            for (let i = 0; i < k; i++) {
              const symbol = SYMBOLS[Math.floor(rnd() * SYMBOLS.length)];
              const o = sim.placeOrder(acct, { market: 'spot', symbol, side: 'BUY', quantity: '0.01', price: symbol === 'BTCUSDT' ? '50000' : '3000' });
              fills.push(`fill:spot:${symbol}:${o.orderId}:${sim.fillOrder(o.orderId, { quantity: '0.01' }).tradeId}`);
            }
            trace.push(`fill ×${k}`);
          } else if (r < 0.8) {
            const i = Math.floor(rnd() * WORKFLOWS);
            const w = workflows[i];
            if (w.active) {
              await deactivate(w);
              trace.push(`deactivate w${i}`);
            } else {
              await activate(w);
              trace.push(`activate w${i}`);
            }
          } else if (r < 0.9) {
            sim.dropConnections();
            trace.push('drop');
          } else {
            // let what is on its way arrive (the next step may come while frames are in flight)
            const active = workflows.filter((w) => w.active);
            await waitFor(() => active.every((w) => fills.every((f) => got(w).includes(f))), { timeoutMs: 30_000, message: 'caught up' }).catch(() => undefined);
            trace.push('settle');
          }
        }
        for (const w of workflows) if (!w.active) await activate(w);
        await subscribed();
        await waitFor(() => workflows.every((w) => fills.every((f) => got(w).includes(f))), { timeoutMs: 60_000, message: 'every fill to every workflow' }).catch((err: Error) => {
          const missing = workflows.map((w, i) => `w${i}: ${JSON.stringify(fills.filter((f) => !got(w).includes(f)))}`);
          throw new Error(`${err.message}; missing ${missing.join('; ')}; schedule: ${trace.join(', ')}`);
        });
        await new Promise((r) => setTimeout(r, 500));
        workflows.forEach((w, i) => {
          assert.deepEqual([...got(w)].sort(), [...fills].sort(), `w${i}: each fill exactly once; schedule: ${trace.join(', ')}`);
        });
        // one connection for every workflow (after the last drop's reconnect)
        await waitFor(() => sim.openConnections() === 1 && sim.subscriptions({ market: 'spot' }).length === 1, { timeoutMs: 20_000, message: `one connection; schedule: ${trace.join(', ')}` });
      } finally {
        for (const w of workflows) await w.active?.close();
        await sim.stop();
      }
    });
  }
});
