/**
 * The simulator's discovery endpoints (issue 23) over loopback HTTP with signed requests: income
 * histories, positionRisk, allOrders by time, the symbol lists and the account balances, each with
 * its documented windows, limits, ordering, errors and weights (sources: nodes/lib/exchange/facts.ts,
 * docs/protocol-notes.md "Discovery after a gap").
 */
import { strict as assert } from 'node:assert';
import { BinanceSimulator, type CreatedKey } from '../../simulator/index';
import { httpRequest, signedRest, type HttpResult, type Json } from './helpers';

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('simulator discovery after a gap (income, positions, allOrders, symbol lists, balances)', () => {
  let sim: BinanceSimulator;
  let acct: string;
  let key: CreatedKey;

  beforeEach(async () => {
    sim = await BinanceSimulator.start();
    acct = sim.createAccount().id;
    key = sim.createKey(acct, 'hmac');
  });
  afterEach(async () => {
    await sim.stop();
  });

  const get = (path: string, params: Array<[string, string]> = []): Promise<HttpResult> => signedRest(sim, key, 'GET', path, params);
  /** Weight the simulator charged for the last request. */
  const lastWeight = (): number | undefined => sim.requests[sim.requests.length - 1].weight;
  const rows = (r: HttpResult): Json[] => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Json[];
  };
  const err = (r: HttpResult): number => {
    assert.ok(r.status >= 400, `expected an error, got ${r.status} ${JSON.stringify(r.body)}`);
    return r.json.code as number;
  };

  describe('income history', () => {
    it('USDⓈ-M: every fill writes COMMISSION with its tradeId; a reducing fill writes REALIZED_PNL (non-zero); weight 30', async () => {
      const open = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'SOLUSDT', side: 'BUY', quantity: '2', price: '100' });
      const close = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'SOLUSDT', side: 'SELL', quantity: '1', price: '110' });
      const r = rows(await get('/fapi/v1/income', [['startTime', String(open.order.time - 1)]]));
      assert.equal(lastWeight(), 30);
      assert.deepEqual(
        r.map((x) => [x.symbol, x.incomeType, x.tradeId]),
        [
          ['SOLUSDT', 'COMMISSION', String(open.trades[0].tradeId)],
          ['SOLUSDT', 'REALIZED_PNL', String(close.trades[0].tradeId)],
          ['SOLUSDT', 'COMMISSION', String(close.trades[0].tradeId)],
        ],
      );
      assert.equal(r[0].income, `-${open.trades[0].commission}`);
      assert.equal(r[0].asset, 'USDT');
      assert.equal(Number(r[1].income), 10); // (110 - 100) × 1
      assert.equal(typeof r[0].tranId, 'number'); // USDⓈ-M: a number; COIN-M / PM: a string
      // the trade ids are those of userTrades
      const trades = rows(await get('/fapi/v1/userTrades', [['symbol', 'SOLUSDT']]));
      assert.deepEqual(trades.map((t) => String(t.id)), [r[0].tradeId, r[2].tradeId]);
      // symbol and incomeType filter
      assert.equal(rows(await get('/fapi/v1/income', [['incomeType', 'REALIZED_PNL']])).length, 1);
      assert.equal(rows(await get('/fapi/v1/income', [['symbol', 'BTCUSDT']])).length, 0);
    });

    it('a zero-commission fill writes no COMMISSION row (unless incomeZeroAmounts include); funding fee and transfer rows', async () => {
      const t = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'ADAUSDT', side: 'BUY', quantity: '10', price: '1', commission: '0' });
      assert.equal(t.trades[0].commission, '0.00000000');
      sim.fundingFee(acct, 'usdm-futures', 'USDT', '-0.5', 'ADAUSDT');
      sim.deposit(acct, 'usdm-futures', 'USDT', '7');
      const r = rows(await get('/fapi/v1/income'));
      assert.deepEqual(
        r.map((x) => [x.symbol, x.incomeType, x.income]),
        [
          ['ADAUSDT', 'FUNDING_FEE', '-0.50000000'],
          ['', 'TRANSFER', '7.00000000'],
        ],
      );
      await sim.stop();
      sim = await BinanceSimulator.start({ incomeZeroAmounts: 'include' });
      acct = sim.createAccount().id;
      key = sim.createKey(acct, 'hmac');
      sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'ADAUSDT', side: 'BUY', quantity: '10', price: '1', commission: '0' });
      assert.deepEqual(rows(await get('/fapi/v1/income')).map((x) => [x.incomeType, x.income]), [['COMMISSION', '0.00000000']]);
    });

    it('windows: without times the last 7 days; history of 89 days; startTime after endTime -1023; page refused (-1104); limit ≤ 1000', async () => {
      sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000' });
      const at = sim.serverTime();
      sim.setClockOffset(8 * DAY);
      assert.equal(rows(await get('/fapi/v1/income')).length, 0, 'older than the 7-day default');
      assert.equal(rows(await get('/fapi/v1/income', [['startTime', String(at - 1000)]])).length, 1);
      sim.setClockOffset(90 * DAY);
      assert.equal(rows(await get('/fapi/v1/income', [['startTime', String(at - 1000)]])).length, 0, 'beyond three months');
      sim.setClockOffset(0);
      assert.equal(err(await get('/fapi/v1/income', [['startTime', String(at + 10)], ['endTime', String(at)]])), -1023);
      assert.equal(err(await get('/fapi/v1/income', [['page', '1']])), -1104);
      assert.equal(err(await get('/fapi/v1/income', [['limit', '1001']])), -1100);
      assert.equal(rows(await get('/fapi/v1/income', [['limit', '1000']])).length, 1);
    });

    it('pagination by startTime: oldest first, the first `limit` rows from startTime; default limit 100; without startTime the newest', async () => {
      const o = sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '150', price: '100' });
      const first = sim.serverTime();
      for (let i = 0; i < 150; i++) sim.fillOrder(o.orderId, { quantity: '1' });
      const all = sim.incomeHistory(acct, 'usdm-futures');
      assert.equal(all.length, 150);
      const p1 = rows(await get('/fapi/v1/income', [['startTime', String(first)]]));
      assert.equal(p1.length, 100, 'default limit 100');
      assert.deepEqual(p1.map((x) => Number(x.tranId)), all.slice(0, 100).map((x) => x.tranId));
      // next page: startTime = last row's time, rows already seen dropped (same-ms rows repeat)
      const seen = new Set(p1.map((x) => x.tranId));
      const p2 = rows(await get('/fapi/v1/income', [['startTime', String(p1[p1.length - 1].time)], ['limit', '1000']])).filter((x) => !seen.has(x.tranId));
      assert.deepEqual([...p1, ...p2].map((x) => Number(x.tranId)), all.map((x) => x.tranId));
      const newest = rows(await get('/fapi/v1/income', [['limit', '10']]));
      assert.deepEqual(newest.map((x) => Number(x.tranId)), all.slice(140).map((x) => x.tranId));
    });

    it('COIN-M: weight 20, span over 200 days -1127 (an omitted endTime is now), tranId a string; PM UM / CM weight 30 on papi', async () => {
      const t = sim.runOrderLifecycle(acct, { market: 'coinm-futures', symbol: 'BTCUSD_PERP', side: 'BUY', quantity: '1', price: '50000' });
      const now = sim.serverTime();
      const r = rows(await get('/dapi/v1/income', [['startTime', String(now - 200 * DAY)], ['endTime', String(now)]]));
      assert.equal(lastWeight(), 20);
      assert.deepEqual(r.map((x) => [x.symbol, x.incomeType, x.asset, x.tradeId]), [['BTCUSD_PERP', 'COMMISSION', 'BTC', String(t.trades[0].tradeId)]]);
      assert.equal(typeof r[0].tranId, 'string');
      assert.equal(err(await get('/dapi/v1/income', [['startTime', String(now - 200 * DAY - 1)], ['endTime', String(now)]])), -1127);
      assert.equal(err(await get('/dapi/v1/income', [['startTime', String(now - 201 * DAY)]])), -1127);
      // USDⓈ-M documents no maximum span
      rows(await get('/fapi/v1/income', [['startTime', String(now - 300 * DAY)], ['endTime', String(now)]]));
      // portfolio margin reads the UM / CM books
      sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'ETHUSDT', side: 'BUY', quantity: '1', price: '3000' });
      const papiBefore = sim.usedWeight('papi');
      assert.deepEqual(rows(await get('/papi/v1/um/income')).map((x) => x.symbol), ['ETHUSDT']);
      assert.deepEqual(rows(await get('/papi/v1/cm/income')).map((x) => x.symbol), ['BTCUSD_PERP']);
      assert.equal(sim.usedWeight('papi') - papiBefore, 60);
      assert.equal(err(await get('/papi/v1/cm/income', [['startTime', String(now - 201 * DAY)]])), -1127);
      assert.equal(err(await get('/papi/v1/um/income', [['page', '2']])), -1104);
    });
  });

  describe('positionRisk', () => {
    it('USDⓈ-M v3 lists only held (or ordered) symbols with updateTime; v2 keeps closed ones; weight 5', async () => {
      const open = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'XRPUSDT', side: 'BUY', quantity: '100', price: '0.5' });
      let r = rows(await get('/fapi/v3/positionRisk'));
      assert.equal(lastWeight(), 5);
      assert.deepEqual(r.map((x) => [x.symbol, x.positionAmt, x.updateTime]), [['XRPUSDT', '100', open.order.updateTime]]);
      sim.setClockOffset(5000);
      const close = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'XRPUSDT', side: 'SELL', quantity: '100', price: '0.6' });
      r = rows(await get('/fapi/v3/positionRisk'));
      assert.deepEqual(r, []);
      r = rows(await get('/fapi/v2/positionRisk'));
      assert.deepEqual(r.map((x) => [x.symbol, x.positionAmt, x.updateTime]), [['XRPUSDT', '0', close.order.updateTime]]);
      assert.ok((close.order.updateTime as number) > (open.order.updateTime as number));
    });

    it('COIN-M: every TRADING contract, zero rows with updateTime 0, pair / marginAsset filters; weight 1; PM UM 5 / CM 1', async () => {
      const t = sim.runOrderLifecycle(acct, { market: 'coinm-futures', symbol: 'ADAUSD_PERP', side: 'BUY', quantity: '3', price: '0.5' });
      let r = rows(await get('/dapi/v1/positionRisk'));
      assert.equal(lastWeight(), 1);
      assert.deepEqual(
        r.map((x) => [x.symbol, x.positionAmt, x.updateTime]),
        [
          ['ADAUSD_PERP', '3', t.order.updateTime],
          ['BTCUSD_PERP', '0', 0],
          ['ETHUSD_PERP', '0', 0],
        ],
      );
      r = rows(await get('/dapi/v1/positionRisk', [['pair', 'ADAUSD']]));
      assert.deepEqual(r.map((x) => x.symbol), ['ADAUSD_PERP']);
      r = rows(await get('/dapi/v1/positionRisk', [['marginAsset', 'BTC']]));
      assert.deepEqual(r.map((x) => x.symbol), ['BTCUSD_PERP']);
      assert.deepEqual(rows(await get('/papi/v1/cm/positionRisk')).length, 3);
      assert.equal(lastWeight(), 1);
      assert.deepEqual(rows(await get('/papi/v1/um/positionRisk')), []);
      assert.equal(lastWeight(), 5);
      sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '50000' });
      const um = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.01', price: '50000' });
      // PM UM keeps the closed position's row (zero amount), as its page's example shows
      assert.deepEqual(rows(await get('/papi/v1/um/positionRisk')).map((x) => [x.symbol, x.positionAmt, x.updateTime]), [['BTCUSDT', '0', um.order.updateTime]]);
    });
  });

  describe('allOrders by time', () => {
    it('spot: a placed-and-cancelled order shows CANCELED; span ≤ 24 h (else -1127); limit ≤ 1000; weight 20', async () => {
      const c = sim.placeAndCancel(acct, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '20000' });
      assert.equal(c.status, 'CANCELED');
      const now = sim.serverTime();
      const r = rows(await get('/api/v3/allOrders', [['symbol', 'BTCUSDT'], ['startTime', String(now - DAY)], ['endTime', String(now)]]));
      assert.equal(lastWeight(), 20);
      assert.deepEqual(r.map((x) => [x.orderId, x.status, x.executedQty]), [[c.orderId, 'CANCELED', '0.00000000']]);
      assert.equal(err(await get('/api/v3/allOrders', [['symbol', 'BTCUSDT'], ['startTime', String(now - DAY - 1)], ['endTime', String(now)]])), -1127);
      assert.equal(err(await get('/api/v3/allOrders', [['startTime', String(now - HOUR)]])), -1102);
      assert.equal(err(await get('/api/v3/allOrders', [['symbol', 'BTCUSDT'], ['limit', '1001']])), -1100);
      // archived: cancelled without a fill, 90 days on
      sim.setClockOffset(91 * DAY);
      assert.deepEqual(rows(await get('/api/v3/allOrders', [['symbol', 'BTCUSDT']])), []);
    });

    it('cross margin: span under 24 h, default the last 24 h, limit ≤ 500, weight 200', async () => {
      const c = sim.placeAndCancel(acct, { market: 'margin', symbol: 'ETHUSDT', side: 'SELL', quantity: '1', price: '9000' });
      const now = sim.serverTime();
      assert.equal(rows(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT']])).length, 1);
      assert.equal(lastWeight(), 200);
      assert.equal(err(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT'], ['startTime', String(now - DAY)], ['endTime', String(now)]])), -1127);
      assert.equal(rows(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT'], ['startTime', String(now - DAY + 1)], ['endTime', String(now)]])).length, 1);
      assert.equal(err(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT'], ['limit', '501']])), -1100);
      sim.setClockOffset(DAY + HOUR);
      assert.deepEqual(rows(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT']])), [], 'outside the default 24 h');
      // an omitted endTime is "now": the span counts up to now
      assert.equal(err(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT'], ['startTime', String(c.time)]])), -1127);
      const r = rows(await get('/sapi/v1/margin/allOrders', [['symbol', 'ETHUSDT'], ['startTime', String(c.time)], ['endTime', String(c.time + HOUR)]]));
      assert.deepEqual(r.map((x) => [x.orderId, x.status]), [[c.orderId, 'CANCELED']]);
    });

    it('USDⓈ-M: symbol optional (orders of every symbol), span under 7 days, unfilled cancelled orders gone after 3 days, all after 90; weight 5', async () => {
      const c = sim.placeAndCancel(acct, { market: 'usdm-futures', symbol: 'DOGEUSDT', side: 'BUY', quantity: '100', price: '0.1' });
      const f = sim.runOrderLifecycle(acct, { market: 'usdm-futures', symbol: 'LINKUSDT', side: 'BUY', quantity: '1', price: '10' });
      const now = sim.serverTime();
      let r = rows(await get('/fapi/v1/allOrders', [['startTime', String(now - HOUR)]]));
      assert.equal(lastWeight(), 5);
      assert.deepEqual(r.map((x) => [x.symbol, x.status]), [['DOGEUSDT', 'CANCELED'], ['LINKUSDT', 'FILLED']]);
      assert.equal(err(await get('/fapi/v1/allOrders', [['startTime', String(now - 7 * DAY)], ['endTime', String(now)]])), -1127);
      sim.setClockOffset(3 * DAY + HOUR);
      r = rows(await get('/fapi/v1/allOrders', [['startTime', String(c.time)]]));
      assert.deepEqual(r.map((x) => x.orderId), [f.order.orderId], 'the unfilled cancelled order is gone after 3 days');
      sim.setClockOffset(91 * DAY);
      assert.deepEqual(rows(await get('/fapi/v1/allOrders', [['symbol', 'LINKUSDT'], ['orderId', '0']])), []);
    });

    it('COIN-M: symbol or pair required; PM UM (symbol required) 5, CM 20 / 40 with pair, margin 100', async () => {
      const c = sim.placeAndCancel(acct, { market: 'coinm-futures', symbol: 'ETHUSD_PERP', side: 'BUY', quantity: '1', price: '1000' });
      assert.equal(err(await get('/dapi/v1/allOrders')), -1102);
      assert.deepEqual(rows(await get('/dapi/v1/allOrders', [['pair', 'ETHUSD']])).map((x) => x.orderId), [c.orderId]);
      assert.equal(lastWeight(), 5);
      assert.deepEqual(rows(await get('/papi/v1/cm/allOrders', [['pair', 'ETHUSD']])).map((x) => x.orderId), [c.orderId]);
      assert.equal(lastWeight(), 40);
      rows(await get('/papi/v1/cm/allOrders', [['symbol', 'ETHUSD_PERP']]));
      assert.equal(lastWeight(), 20);
      assert.equal(err(await get('/papi/v1/um/allOrders')), -1102);
      const u = sim.placeAndCancel(acct, { market: 'usdm-futures', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '1000' });
      assert.deepEqual(rows(await get('/papi/v1/um/allOrders', [['symbol', 'BTCUSDT']])).map((x) => x.orderId), [u.orderId]);
      assert.equal(lastWeight(), 5);
      const m = sim.placeAndCancel(acct, { market: 'margin', symbol: 'BNBUSDT', side: 'BUY', quantity: '1', price: '100' });
      assert.deepEqual(rows(await get('/papi/v1/margin/allOrders', [['symbol', 'BNBUSDT']])).map((x) => x.orderId), [m.orderId]);
      assert.equal(lastWeight(), 100);
    });
  });

  describe('symbol lists', () => {
    it('exchangeInfo (weight 20, no key): seeded, added and on-the-fly symbols with base / quote / status; filters and errors', async () => {
      sim.addSymbol('PEPEFDUSD', { status: 'BREAK', margin: false });
      sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'NEWCOINUSDT', side: 'BUY', quantity: '5', price: '2' });
      let r = await httpRequest(sim.restUrl, 'GET', '/api/v3/exchangeInfo?showPermissionSets=false');
      assert.equal(r.status, 200);
      assert.equal(lastWeight(), 20);
      const symbols = r.json.symbols as Json[];
      const by = new Map(symbols.map((x) => [x.symbol as string, x]));
      assert.deepEqual([by.get('NEWCOINUSDT')?.baseAsset, by.get('NEWCOINUSDT')?.quoteAsset, by.get('NEWCOINUSDT')?.status], ['NEWCOIN', 'USDT', 'TRADING']);
      assert.deepEqual([by.get('PEPEFDUSD')?.baseAsset, by.get('PEPEFDUSD')?.quoteAsset, by.get('PEPEFDUSD')?.status], ['PEPE', 'FDUSD', 'BREAK']);
      assert.ok(by.has('BTCUSDT') && by.has('ETHBTC'));
      assert.ok(symbols.every((x) => Array.isArray(x.permissionSets) && (x.permissionSets as unknown[]).length === 0));
      r = await httpRequest(sim.restUrl, 'GET', '/api/v3/exchangeInfo?symbolStatus=BREAK');
      assert.deepEqual((r.json.symbols as Json[]).map((x) => [x.symbol, x.permissionSets]), [['PEPEFDUSD', [['SPOT']]]]);
      r = await httpRequest(sim.restUrl, 'GET', `/api/v3/exchangeInfo?symbols=${encodeURIComponent('["ETHBTC","BNBBTC"]')}`);
      assert.deepEqual((r.json.symbols as Json[]).map((x) => x.symbol), ['ETHBTC', 'BNBBTC']);
      r = await httpRequest(sim.restUrl, 'GET', '/api/v3/exchangeInfo?symbol=NOPE');
      assert.equal(r.json.code, -1121);
      r = await httpRequest(sim.restUrl, 'GET', '/api/v3/exchangeInfo?symbol=BTCUSDT&symbolStatus=TRADING');
      assert.equal(r.json.code, -1128);
      // futures contracts are not in the spot list
      sim.placeOrder(acct, { market: 'usdm-futures', symbol: 'WIFUSDT', side: 'BUY', quantity: '1', price: '1' });
      assert.ok(!sim.listedSymbols('spot').some((x) => x.symbol === 'WIFUSDT'));
      assert.ok(sim.listedSymbols('usdm-futures').some((x) => x.symbol === 'WIFUSDT'));
    });

    it('margin allPairs (weight 1, API key): the cross-margin pairs with base / quote', async () => {
      sim.addSymbol('SPOTONLYUSDT', { margin: false });
      sim.addSymbol('ZZZBTC');
      const noKey = await httpRequest(sim.restUrl, 'GET', '/sapi/v1/margin/allPairs');
      assert.equal(noKey.json.code, -2014);
      const r = await httpRequest(sim.restUrl, 'GET', '/sapi/v1/margin/allPairs', { apiKey: key.apiKey });
      assert.equal(r.status, 200);
      assert.equal(lastWeight(), 1);
      const pairs = r.body as Json[];
      assert.ok(!pairs.some((x) => x.symbol === 'SPOTONLYUSDT'));
      const zzz = pairs.find((x) => x.symbol === 'ZZZBTC');
      assert.deepEqual([zzz?.base, zzz?.quote, zzz?.isMarginTrade], ['ZZZ', 'BTC', true]);
      const one = await httpRequest(sim.restUrl, 'GET', '/sapi/v1/margin/allPairs?symbol=ZZZBTC', { apiKey: key.apiKey });
      assert.deepEqual((one.body as Json[]).map((x) => x.symbol), ['ZZZBTC']);
    });
  });

  describe('balances before and after a gap', () => {
    it('spot: a fill on a brand-new symbol moves both assets and the account updateTime; margin userAssets fields', async () => {
      const before = (await get('/api/v3/account')).json;
      sim.setClockOffset(1000);
      sim.runOrderLifecycle(acct, { market: 'spot', symbol: 'FRESHUSDT', side: 'BUY', quantity: '10', price: '3' });
      const after = (await get('/api/v3/account')).json;
      assert.equal(lastWeight(), 20);
      assert.ok((after.updateTime as number) > (before.updateTime as number));
      const bal = (a: Json, asset: string): Json | undefined => (a.balances as Json[]).find((b) => b.asset === asset);
      assert.equal(bal(before, 'FRESH'), undefined);
      assert.equal(bal(after, 'FRESH')?.free, '9.99000000'); // 10 less the 0.1 % commission in the base asset
      assert.notEqual(bal(after, 'USDT')?.free, bal(before, 'USDT')?.free);
      // margin: free / locked / borrowed / interest / netAsset per asset
      sim.runOrderLifecycle(acct, { market: 'margin', symbol: 'FRESHUSDT', side: 'BUY', quantity: '1', price: '3' });
      const m = (await get('/sapi/v1/margin/account')).json;
      assert.equal(lastWeight(), 10);
      const fresh = (m.userAssets as Json[]).find((x) => x.asset === 'FRESH');
      assert.deepEqual(Object.keys(fresh ?? {}).sort(), ['asset', 'borrowed', 'free', 'interest', 'locked', 'netAsset']);
    });
  });
});
