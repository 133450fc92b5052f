import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as v8 from 'node:v8';
import {
  applyToBalanceSheet,
  balanceSheetFromAccount,
  divideDecimals,
  isZeroBalance,
  multiplyDecimals,
  normalizeAccountPosition,
  normalizeAlgoUpdate,
  normalizeBalanceUpdates,
  normalizeExecutionReport,
  normalizeListStatus,
  normalizeOrderTradeUpdate,
  normalizeOrderUpdate,
  normalizePem,
  normalizeTradeLite,
  renderBalanceSheet,
  spotAveragePrice,
  toNumbers,
} from '../../nodes/lib/normalize';
import { interpolate, lookupCatalog, statusForState } from '../../nodes/red/status';
import { makeMatcher, makeOrderFilter, parseList, wildcardToRegExp } from '../../nodes/lib/events/filters';

// Field layout as documented in the spot user-data-stream docs (executionReport).
const EXECUTION_REPORT = {
  e: 'executionReport',
  E: 1499405658658,
  s: 'ETHBTC',
  c: 'mUvoqJxFIILMdfAW5iGSOW',
  S: 'BUY',
  o: 'LIMIT',
  f: 'GTC',
  q: '1.00000000',
  p: '0.10264410',
  P: '0.00000000',
  F: '0.00000000',
  g: -1,
  C: '',
  x: 'TRADE',
  X: 'PARTIALLY_FILLED',
  r: 'NONE',
  i: 4293153,
  l: '0.30000000',
  z: '0.30000000',
  L: '0.10264410',
  n: '0.00003079',
  N: 'BNB',
  T: 1499405658657,
  t: 42,
  I: 8641984,
  w: true,
  m: false,
  M: false,
  O: 1499405658657,
  Z: '0.03079323',
  Y: '0.03079323',
  Q: '0.00000000',
  W: 1499405658657,
  V: 'NONE',
  eR: 'NONE',
};

const ORDER_TRADE_UPDATE = {
  e: 'ORDER_TRADE_UPDATE',
  E: 1568879465651,
  T: 1568879465650,
  o: {
    s: 'BTCUSDT',
    c: 'TEST',
    S: 'SELL',
    o: 'TRAILING_STOP_MARKET',
    f: 'GTC',
    q: '0.001',
    p: '0',
    ap: '9356.5',
    sp: '7103.04',
    x: 'TRADE',
    X: 'FILLED',
    i: 8886774,
    l: '0.001',
    z: '0.001',
    L: '9356.5',
    N: 'USDT',
    n: '0.00374260',
    T: 1568879465650,
    t: 1234,
    b: '0',
    a: '9.91',
    m: false,
    R: true,
    wt: 'CONTRACT_PRICE',
    ot: 'TRAILING_STOP_MARKET',
    ps: 'LONG',
    cp: false,
    AP: '7476.89',
    cr: '5.0',
    pP: false,
    si: 0,
    ss: 0,
    rp: '0.12',
    V: 'EXPIRE_TAKER',
    pm: 'OPPONENT',
    gtd: 0,
    er: '2',
  },
};

describe('normalize: order updates', () => {
  it('maps every executionReport field to a readable name', () => {
    const p = normalizeExecutionReport(EXECUTION_REPORT);
    assert.equal(p.symbol, 'ETHBTC');
    assert.equal(p.side, 'BUY');
    assert.equal(p.orderType, 'LIMIT');
    assert.equal(p.timeInForce, 'GTC');
    assert.equal(p.quantity, '1.00000000');
    assert.equal(p.price, '0.10264410');
    assert.equal(p.stopPrice, '0.00000000');
    assert.equal(p.executionType, 'TRADE');
    assert.equal(p.orderStatus, 'PARTIALLY_FILLED');
    assert.equal(p.rejectReason, 'NONE');
    assert.equal(p.expiryReason, 'NONE');
    assert.equal(p.orderId, 4293153);
    assert.equal(p.clientOrderId, 'mUvoqJxFIILMdfAW5iGSOW');
    assert.equal(p.originalClientOrderId, undefined, 'empty C is left out');
    assert.equal(p.orderListId, -1);
    assert.equal(p.lastFilledQuantity, '0.30000000');
    assert.equal(p.lastFilledPrice, '0.10264410');
    assert.equal(p.cumulativeFilledQuantity, '0.30000000');
    assert.equal(p.cumulativeQuoteQuantity, '0.03079323');
    assert.equal(p.averagePrice, '0.1026441');
    assert.equal(p.commission, '0.00003079');
    assert.equal(p.commissionAsset, 'BNB');
    assert.equal(p.tradeId, 42);
    assert.equal(p.isMaker, false);
    assert.equal(p.isOnBook, true);
    assert.equal(p.eventTime, 1499405658658);
    assert.equal(p.transactionTime, 1499405658657);
    assert.equal(p.orderCreationTime, 1499405658657);
    assert.equal(p.workingTime, 1499405658657);
    assert.equal(p.selfTradePreventionMode, 'NONE');
    assert.equal(p.lastQuoteQuantity, '0.03079323');
    assert.ok(!Object.values(p).includes(undefined), 'no undefined values');
  });

  it('spot averagePrice is "0" when nothing is filled', () => {
    const p = normalizeExecutionReport({ ...EXECUTION_REPORT, x: 'NEW', X: 'NEW', z: '0.00000000', Z: '0.00000000' });
    assert.equal(p.averagePrice, '0');
    assert.equal(spotAveragePrice('0.00000000', '0.00000000'), '0');
  });

  it('decimal parsing: plain exchange forms and the other accepted forms give the same exact values', () => {
    const cases: Array<[string, string | undefined]> = [
      ['123', '123'],
      ['0.00400000', '0.004'],
      ['-0.00400000', '-0.004'],
      ['64123.45000000', '64123.45'],
      ['-.5', '-0.5'],
      ['.5', '0.5'],
      ['5.', '5'],
      ['+1.5', '1.5'],
      [' 1.5 ', '1.5'],
      ['1e3', '1000'],
      ['1.5E-2', '0.015'],
      ['-0', '0'],
      ['', undefined],
      ['.', undefined],
      ['-', undefined],
      ['1.2.3', undefined],
      ['--1', undefined],
      ['1,5', undefined],
      ['abc', undefined],
    ];
    for (const [input, expected] of cases) assert.equal(multiplyDecimals(input, '1'), expected, JSON.stringify(input));
    assert.equal(spotAveragePrice('641.23450000', '0.01000000'), '64123.45');
    assert.equal(spotAveragePrice('1', '3'), '0.33333333');
    assert.equal(spotAveragePrice('2', '3'), '0.66666667', 'rounded half up');
    assert.equal(spotAveragePrice('1.123456789012', '1'), '1.123456789012', 'keeps the scale of Z when it is above 8');
    assert.equal(spotAveragePrice('5', '-0.0'), '0');
    assert.equal(spotAveragePrice('x', '1'), undefined);
    assert.equal(spotAveragePrice('1', 'x'), undefined);
  });

  it('spot averagePrice is absent (not invented as "0") when z or Z is absent', () => {
    assert.equal(spotAveragePrice(undefined, undefined), undefined);
    assert.equal(spotAveragePrice('5.00000000', undefined), undefined, 'Z without z');
    assert.equal(spotAveragePrice(undefined, '0.00000000'), undefined, 'z = 0 without Z');
    assert.equal(spotAveragePrice(undefined, '0.30000000'), undefined, 'z without Z');
    // a fill rebuilt from a myTrades row after a gap: l, L, n, N, m ... but neither z nor Z
    const { z: _z, Z: _Z, ...withoutCumulative } = EXECUTION_REPORT;
    void _z;
    void _Z;
    for (const raw of [withoutCumulative, { ...EXECUTION_REPORT, Z: undefined }, { ...EXECUTION_REPORT, z: undefined }]) {
      const p = normalizeExecutionReport(raw);
      assert.ok(!('averagePrice' in p), JSON.stringify(p));
      assert.equal(p.lastFilledPrice, '0.10264410', 'what is present is kept');
    }
    const recovered = normalizeExecutionReport({ e: 'executionReport', s: 'BTCUSDT', i: 7, t: 12, l: '0.5', L: '100', n: '0.0005', N: 'BTC', T: 1, m: true, S: 'BUY', x: 'TRADE' });
    assert.deepEqual(Object.keys(recovered).sort(), [
      'commission',
      'commissionAsset',
      'executionType',
      'isMaker',
      'lastFilledPrice',
      'lastFilledQuantity',
      'orderId',
      'side',
      'symbol',
      'tradeId',
      'transactionTime',
    ]);
    // and nothing else is invented for futures either
    const fut = normalizeOrderTradeUpdate({ e: 'ORDER_TRADE_UPDATE', T: 1, o: { s: 'BTCUSDT', i: 7, t: 12, l: '0.5', L: '100', x: 'TRADE' } });
    assert.deepEqual(Object.keys(fut).sort(), [
      'executionType',
      'lastFilledPrice',
      'lastFilledQuantity',
      'lastQuoteQuantity',
      'orderId',
      'symbol',
      'tradeId',
      'transactionTime',
    ]);
    const algo = normalizeAlgoUpdate({ e: 'ALGO_UPDATE', o: { aid: 3, X: 'NEW' } });
    assert.deepEqual(algo, { algoId: 3, algoStatus: 'NEW' });
  });

  it('payloads keep the documented key order, omit absent fields and stay fast (non-dictionary) objects', () => {
    // V8 intrinsic, enabled for functions compiled from here on: a payload built by deleting
    // undefined keys of a large literal is a dictionary-mode object (slow for every consumer).
    v8.setFlagsFromString('--allow-natives-syntax');
    const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean;
    const spotKeys = [
      'symbol', 'side', 'orderType', 'timeInForce', 'quantity', 'price', 'stopPrice', 'icebergQuantity',
      'quoteOrderQuantity', 'executionType', 'orderStatus', 'rejectReason', 'expiryReason', 'orderId', 'clientOrderId',
      'originalClientOrderId', 'orderListId', 'lastFilledQuantity', 'lastFilledPrice', 'lastQuoteQuantity',
      'cumulativeFilledQuantity', 'cumulativeQuoteQuantity', 'averagePrice', 'commission', 'commissionAsset', 'tradeId',
      'executionId', 'isMaker', 'isOnBook', 'eventTime', 'transactionTime', 'orderCreationTime', 'workingTime',
      'selfTradePreventionMode', 'trailingDelta', 'trailingTime', 'strategyId', 'strategyType', 'preventedMatchId',
      'preventedQuantity', 'lastPreventedQuantity', 'tradeGroupId', 'counterOrderId', 'counterSymbol',
      'preventedExecutionQuantity', 'preventedExecutionPrice', 'preventedExecutionQuoteQuantity', 'matchType',
      'allocationId', 'workingFloor', 'usedSor', 'pegPriceType', 'pegOffsetType', 'pegOffsetValue', 'peggedPrice',
    ];
    const fullSpot = {
      ...EXECUTION_REPORT, C: 'old', d: 4, D: 5, j: 6, J: 7, v: 8, A: '1', B: '2', u: 9, U: 10, Cs: 'BTCUSDT',
      pl: '3', pL: '4', pY: '5', b: 'ONE_PARTY_TRADE_REPORT', a: 11, k: 'EXCHANGE', uS: true, gP: 'PRIMARY_PEG',
      gOT: 'PRICE_LEVEL', gOV: 1, gp: '6',
    };
    const full = normalizeExecutionReport(fullSpot);
    assert.deepEqual(Object.keys(full), spotKeys);
    assert.equal(full.originalClientOrderId, 'old');
    assert.equal(full.peggedPrice, '6');
    assert.equal(hasFastProperties(full), true);
    // sparse (e.g. rebuilt from a REST row): only what is present, in the same relative order
    const sparse = normalizeExecutionReport({ e: 'executionReport', E: 5, s: 'BTCUSDT', i: 7, X: 'NEW', N: null });
    assert.deepEqual(Object.keys(sparse), ['symbol', 'orderStatus', 'orderId', 'commissionAsset', 'eventTime']);
    assert.deepEqual(sparse, { symbol: 'BTCUSDT', orderStatus: 'NEW', orderId: 7, commissionAsset: null, eventTime: 5 });
    assert.equal(hasFastProperties(sparse), true);

    const futKeys = [
      'symbol', 'side', 'orderType', 'timeInForce', 'quantity', 'price', 'stopPrice', 'executionType', 'orderStatus',
      'expiryReason', 'orderId', 'clientOrderId', 'lastFilledQuantity', 'lastFilledPrice', 'lastQuoteQuantity',
      'cumulativeFilledQuantity', 'averagePrice', 'commission', 'commissionAsset', 'tradeId', 'isMaker', 'eventTime',
      'transactionTime', 'orderTradeTime', 'positionSide', 'reduceOnly', 'closePosition', 'realizedProfit',
      'bidsNotional', 'asksNotional', 'stopPriceWorkingType', 'originalOrderType', 'activationPrice', 'callbackRate',
      'priceProtect', 'selfTradePreventionMode', 'priceMatch', 'goodTillDate', 'modifyId', 'businessUnit',
    ];
    const fut = normalizeOrderTradeUpdate({
      ...ORDER_TRADE_UPDATE,
      fs: 'UM',
      o: { ...(ORDER_TRADE_UPDATE.o as Record<string, unknown>), pP: false, M: 3, t: 5, m: true, N: 'USDT', n: '0.1', er: '9' },
    });
    assert.deepEqual(Object.keys(fut), futKeys);
    assert.equal(fut.expiryReason, '9', 'an unknown expiry code stays as sent');
    assert.equal(hasFastProperties(fut), true);
    const futSparse = normalizeOrderTradeUpdate({ e: 'ORDER_TRADE_UPDATE', E: 9, o: { s: 'BTCUSDT', l: '2', L: '3' } });
    assert.deepEqual(futSparse, { symbol: 'BTCUSDT', lastFilledQuantity: '2', lastFilledPrice: '3', lastQuoteQuantity: '6', eventTime: 9 });
    assert.deepEqual(Object.keys(futSparse), ['symbol', 'lastFilledQuantity', 'lastFilledPrice', 'lastQuoteQuantity', 'eventTime']);
    assert.equal(hasFastProperties(futSparse), true);
    assert.equal(hasFastProperties(normalizeListStatus({ e: 'listStatus', s: 'BTCUSDT', g: 1 })), true);
  });

  it('keeps a null commissionAsset as null', () => {
    const p = normalizeExecutionReport({ ...EXECUTION_REPORT, N: null });
    assert.equal(p.commissionAsset, null);
  });

  it('maps ORDER_TRADE_UPDATE including futures-only fields', () => {
    const p = normalizeOrderTradeUpdate(ORDER_TRADE_UPDATE);
    assert.equal(p.symbol, 'BTCUSDT');
    assert.equal(p.side, 'SELL');
    assert.equal(p.orderType, 'TRAILING_STOP_MARKET');
    assert.equal(p.averagePrice, '9356.5');
    assert.equal(p.stopPrice, '7103.04');
    assert.equal(p.orderStatus, 'FILLED');
    assert.equal(p.positionSide, 'LONG');
    assert.equal(p.reduceOnly, true);
    assert.equal(p.closePosition, false);
    assert.equal(p.realizedProfit, '0.12');
    assert.equal(p.activationPrice, '7476.89');
    assert.equal(p.callbackRate, '5.0');
    assert.equal(p.bidsNotional, '0');
    assert.equal(p.asksNotional, '9.91');
    assert.equal(p.stopPriceWorkingType, 'CONTRACT_PRICE');
    assert.equal(p.originalOrderType, 'TRAILING_STOP_MARKET');
    assert.equal(p.priceMatch, 'OPPONENT');
    assert.equal(p.goodTillDate, 0);
    assert.equal(p.expiryReason, 'IOC_REMAINDER');
    assert.equal(p.transactionTime, 1568879465650);
    assert.equal(p.orderTradeTime, 1568879465650);
    assert.equal(p.commission, '0.00374260');
    assert.equal(p.commissionAsset, 'USDT');
    assert.equal(p.lastQuoteQuantity, '9.3565');
    assert.equal(p.selfTradePreventionMode, 'EXPIRE_TAKER');
    assert.deepEqual(normalizeOrderUpdate(ORDER_TRADE_UPDATE), p);
    assert.equal(normalizeOrderUpdate(EXECUTION_REPORT).symbol, 'ETHBTC');
  });

  it('maps listStatus, ALGO_UPDATE and TRADE_LITE', () => {
    const ls = normalizeListStatus({
      e: 'listStatus',
      E: 1,
      s: 'ETHBTC',
      g: 2,
      c: 'OCO',
      l: 'EXEC_STARTED',
      L: 'EXECUTING',
      r: 'NONE',
      C: 'F4QN4G8DlFATFlIUQ0cjdD',
      T: 2,
      O: [{ s: 'ETHBTC', i: 17, c: 'AJYsMjErWJesZvqlJCTUgL' }],
    });
    assert.deepEqual(ls, {
      symbol: 'ETHBTC',
      orderListId: 2,
      contingencyType: 'OCO',
      listStatusType: 'EXEC_STARTED',
      listOrderStatus: 'EXECUTING',
      listRejectReason: 'NONE',
      listClientOrderId: 'F4QN4G8DlFATFlIUQ0cjdD',
      eventTime: 1,
      transactionTime: 2,
      orders: [{ symbol: 'ETHBTC', orderId: 17, clientOrderId: 'AJYsMjErWJesZvqlJCTUgL' }],
    });
    const algo = normalizeAlgoUpdate({
      e: 'ALGO_UPDATE',
      E: 5,
      T: 4,
      o: { caid: 'x', aid: 9, at: 'CONDITIONAL', o: 'STOP_MARKET', s: 'BTCUSDT', S: 'BUY', ps: 'BOTH', f: 'GTC', q: '1', X: 'NEW', ai: '', tp: '100', p: '0', rm: '' },
    });
    assert.equal(algo.algoId, 9);
    assert.equal(algo.clientAlgoId, 'x');
    assert.equal(algo.algoStatus, 'NEW');
    assert.equal(algo.triggerPrice, '100');
    assert.equal(algo.orderId, undefined);
    assert.equal(algo.failReason, undefined);
    const lite = normalizeTradeLite({ e: 'TRADE_LITE', E: 1, T: 2, s: 'BTCUSDT', q: '0.5', p: '0', m: true, c: 'c1', S: 'BUY', L: '100.5', l: '0.2', t: 7, i: 8 });
    assert.deepEqual(lite, {
      symbol: 'BTCUSDT',
      side: 'BUY',
      quantity: '0.5',
      price: '0',
      lastFilledQuantity: '0.2',
      lastFilledPrice: '100.5',
      lastQuoteQuantity: '20.1',
      isMaker: true,
      orderId: 8,
      clientOrderId: 'c1',
      tradeId: 7,
      eventTime: 1,
      transactionTime: 2,
    });
  });
});

describe('normalize: decimals', () => {
  it('divides exactly and rounds half-up', () => {
    assert.equal(divideDecimals('1', '3'), '0.33333333');
    assert.equal(divideDecimals('2', '3'), '0.66666667');
    assert.equal(divideDecimals('100.50', '3'), '33.5');
    assert.equal(divideDecimals('0.03079323', '0.30000000'), '0.1026441');
    assert.equal(divideDecimals('-1', '3'), '-0.33333333');
    assert.equal(divideDecimals('1', '0'), undefined);
    assert.equal(divideDecimals('x', '1'), undefined);
    assert.equal(divideDecimals('123456789012345678901234567890', '10'), '12345678901234567890123456789');
    // more decimals in Z than 8 keep their precision
    assert.equal(spotAveragePrice('0.0000000001234', '1'), '0.0000000001234');
  });

  it('multiplies exactly', () => {
    assert.equal(multiplyDecimals('0.001', '9356.5'), '9.3565');
    assert.equal(multiplyDecimals('0.10', '0.20'), '0.02');
    assert.equal(multiplyDecimals('-2', '3'), '-6');
  });

  it('toNumbers converts only known decimal fields, deeply', () => {
    const p = normalizeExecutionReport(EXECUTION_REPORT);
    const n = toNumbers<Record<string, unknown>>({ ...p, clientOrderId: '123', balances: [{ asset: 'BTC', free: '1.5', locked: '0' }] });
    assert.equal(n.quantity, 1);
    assert.equal(n.price, 0.1026441);
    assert.equal(n.averagePrice, 0.1026441);
    assert.equal(n.clientOrderId, '123', 'ids stay strings');
    assert.equal(n.symbol, 'ETHBTC');
    assert.deepEqual(n.balances, [{ asset: 'BTC', free: 1.5, locked: 0 }]);
    assert.equal(p.quantity, '1.00000000', 'input not mutated');
  });
});

describe('normalize: balances and positions', () => {
  it('outboundAccountPosition and ACCOUNT_UPDATE', () => {
    const spot = normalizeAccountPosition({ e: 'outboundAccountPosition', E: 10, u: 9, B: [{ a: 'ETH', f: '10000.000000', l: '0.000000' }] });
    assert.deepEqual(spot, { balances: [{ asset: 'ETH', free: '10000.000000', locked: '0.000000' }], eventTime: 10, lastUpdateTime: 9 });
    const fut = normalizeAccountPosition({
      e: 'ACCOUNT_UPDATE',
      E: 20,
      T: 19,
      a: {
        m: 'ORDER',
        B: [{ a: 'USDT', wb: '122624.12345678', cw: '100.12345678', bc: '50.12345678' }],
        P: [{ s: 'BTCUSDT', pa: '0', ep: '0.00000', bep: '0', cr: '200', up: '0', mt: 'isolated', iw: '0.00000000', ps: 'BOTH' }],
      },
    });
    assert.equal(fut.reason, 'ORDER');
    assert.deepEqual(fut.balances, [{ asset: 'USDT', walletBalance: '122624.12345678', crossWalletBalance: '100.12345678', balanceChange: '50.12345678' }]);
    assert.deepEqual(fut.positions, [
      {
        symbol: 'BTCUSDT',
        positionSide: 'BOTH',
        positionAmount: '0',
        entryPrice: '0.00000',
        breakEvenPrice: '0',
        accumulatedRealized: '200',
        unrealizedPnl: '0',
        marginType: 'isolated',
        isolatedWallet: '0.00000000',
      },
    ]);
  });

  it('balance updates: balanceUpdate, externalLockUpdate, ACCOUNT_UPDATE', () => {
    assert.deepEqual(normalizeBalanceUpdates({ e: 'balanceUpdate', E: 1, a: 'BTC', d: '100.00000000', T: 2 }), [
      { asset: 'BTC', payload: { asset: 'BTC', delta: '100.00000000', eventTime: 1, clearTime: 2 } },
    ]);
    assert.deepEqual(normalizeBalanceUpdates({ e: 'externalLockUpdate', E: 1, a: 'NEO', d: '10.0', T: 3 }), [
      { asset: 'NEO', payload: { asset: 'NEO', delta: '10.0', eventTime: 1, transactionTime: 3 } },
    ]);
    const f = normalizeBalanceUpdates({ e: 'ACCOUNT_UPDATE', E: 1, T: 2, a: { m: 'FUNDING_FEE', B: [{ a: 'USDT', wb: '10', cw: '9', bc: '-0.1' }], P: [] } });
    assert.deepEqual(f, [
      {
        asset: 'USDT',
        payload: { asset: 'USDT', reason: 'FUNDING_FEE', reasonGroup: 'fundingFee', delta: '-0.1', walletBalance: '10', crossWalletBalance: '9', eventTime: 1, transactionTime: 2 },
      },
    ]);
  });

  it('balance sheet from spot REST account, kept current by events', () => {
    const sheet = balanceSheetFromAccount('spot', {
      updateTime: 5,
      balances: [
        { asset: 'BTC', free: '1.0', locked: '0.0' },
        { asset: 'USDT', free: '0.0', locked: '0.0' },
      ],
    });
    applyToBalanceSheet(sheet, normalizeAccountPosition({ e: 'outboundAccountPosition', E: 10, u: 9, B: [{ a: 'ETH', f: '2', l: '1' }, { a: 'BTC', f: '0.5', l: '0.5' }] }));
    assert.deepEqual(renderBalanceSheet(sheet), {
      balances: [
        { asset: 'BTC', free: '0.5', locked: '0.5' },
        { asset: 'ETH', free: '2', locked: '1' },
        { asset: 'USDT', free: '0.0', locked: '0.0' },
      ],
      updatedAt: 10,
    });
    assert.deepEqual(
      (renderBalanceSheet(sheet, { hideZero: true, assetMatch: makeMatcher('B*, USDT') }).balances as Array<{ asset: string }>).map((b) => b.asset),
      ['BTC'],
    );
  });

  it('balance sheet for margin, isolated margin and futures', () => {
    const m = balanceSheetFromAccount('margin', { userAssets: [{ asset: 'BTC', free: '1', locked: '0', borrowed: '0', interest: '0', netAsset: '1' }] });
    assert.equal(m.balances.get('BTC')?.netAsset, '1');
    const iso = balanceSheetFromAccount('isolated-margin', {
      assets: [{ symbol: 'BTCUSDT', baseAsset: { asset: 'BTC', free: '1', locked: '0' }, quoteAsset: { asset: 'USDT', free: '5', locked: '0' } }],
    });
    assert.deepEqual([...iso.balances.keys()], ['BTC', 'USDT']);
    const fut = balanceSheetFromAccount('usdm-futures', {
      assets: [{ asset: 'USDT', walletBalance: '100', crossWalletBalance: '100' }],
      positions: [{ symbol: 'BTCUSDT', positionSide: 'BOTH', positionAmt: '0.5', entryPrice: '100', unrealizedProfit: '1' }],
    });
    applyToBalanceSheet(
      fut,
      normalizeAccountPosition({ e: 'ACCOUNT_UPDATE', E: 3, T: 2, a: { m: 'ORDER', B: [{ a: 'USDT', wb: '90', cw: '90', bc: '0' }], P: [{ s: 'BTCUSDT', ps: 'BOTH', pa: '0', ep: '0', up: '0' }] } }),
    );
    const out = renderBalanceSheet(fut);
    assert.equal(out.reason, 'ORDER');
    assert.deepEqual(out.balances, [{ asset: 'USDT', walletBalance: '90', crossWalletBalance: '90' }]);
    assert.equal((out.positions as Array<Record<string, unknown>>)[0].positionAmount, '0');
    assert.deepEqual(renderBalanceSheet(fut, { hideZero: true }).positions, []);
    assert.equal(isZeroBalance({ asset: 'X', free: '0.000', locked: '0' }), true);
    assert.equal(isZeroBalance({ asset: 'X', free: '0.001', locked: '0' }), false);
  });
});

describe('filters', () => {
  it('parses lists and wildcards', () => {
    assert.deepEqual(parseList(' btcusdt, ETH*;  ?NBUSDT  '), ['BTCUSDT', 'ETH*', '?NBUSDT']);
    assert.deepEqual(parseList(['a b', 'c']), ['A', 'B', 'C']);
    assert.deepEqual(parseList(undefined), []);
    assert.ok(wildcardToRegExp('ETH*').test('ETHUSDT'));
    assert.ok(!wildcardToRegExp('ETH*').test('XETHUSDT'));
    assert.ok(wildcardToRegExp('?NBUSDT').test('BNBUSDT'));
    assert.ok(!wildcardToRegExp('?NBUSDT').test('NBUSDT'));
    assert.ok(wildcardToRegExp('A.B').test('A.B'));
    assert.ok(!wildcardToRegExp('A.B').test('AXB'), 'dots are literal');
    const m = makeMatcher('btcusdt *USDC');
    assert.ok(m('BTCUSDT'));
    assert.ok(m('ethusdc'));
    assert.ok(!m('ETHUSDT'));
    assert.ok(!m(undefined));
    assert.ok(makeMatcher('')('ANYTHING'));
  });

  it('order filter: symbols, sides, execution types (fills only), statuses', () => {
    const f = makeOrderFilter({ symbols: 'BTC*', sides: 'BUY', executionTypes: 'fills', orderStatuses: 'FILLED, PARTIALLY_FILLED' });
    assert.ok(f.symbolAndSide({ symbol: 'BTCUSDT', side: 'BUY' }));
    assert.ok(!f.symbolAndSide({ symbol: 'ETHUSDT', side: 'BUY' }));
    assert.ok(!f.symbolAndSide({ symbol: 'BTCUSDT', side: 'SELL' }));
    assert.ok(f.execution({ executionType: 'TRADE', orderStatus: 'FILLED' }));
    assert.ok(!f.execution({ executionType: 'NEW', orderStatus: 'NEW' }));
    assert.ok(!f.execution({ executionType: 'TRADE', orderStatus: 'CANCELED' }));
    const all = makeOrderFilter({});
    assert.ok(all.symbolAndSide({ symbol: 'X', side: 'SELL' }));
    assert.ok(all.execution({ executionType: 'NEW', orderStatus: 'NEW' }));
    const custom = makeOrderFilter({ executionTypes: 'NEW CANCELED', sides: '' });
    assert.ok(custom.execution({ executionType: 'CANCELED' }));
    assert.ok(!custom.execution({ executionType: 'TRADE' }));
  });
});

describe('normalize: status, i18n helpers, PEM', () => {
  it('maps states to truthful statuses', () => {
    assert.deepEqual(statusForState({ state: 'connected' }), { fill: 'green', shape: 'dot', key: 'connected' });
    assert.deepEqual(statusForState({ state: 'connecting' }), { fill: 'yellow', shape: 'ring', key: 'connecting' });
    assert.deepEqual(statusForState({ state: 'reconnecting', attempt: 3 }), { fill: 'yellow', shape: 'ring', key: 'reconnecting', vars: { n: 3 } });
    assert.deepEqual(statusForState({ state: 'auth-error', code: -2015 }), { fill: 'red', shape: 'ring', key: 'invalid-api-key' });
    assert.deepEqual(statusForState({ state: 'auth-error', code: -1022 }), { fill: 'red', shape: 'ring', key: 'bad-signature' });
    assert.deepEqual(statusForState({ state: 'error', message: 'Custom REST URL is not a valid URL' }), {
      fill: 'red',
      shape: 'ring',
      text: 'Custom REST URL is…',
    });
    const c = statusForState({ state: 'connected' }, new Date(2026, 0, 1, 9, 5, 7).getTime());
    assert.equal(c.key, 'connected-at');
    assert.deepEqual(c.vars, { time: '09:05:07' });
  });

  it('interpolates catalog strings', () => {
    const cat = { a: { status: { reconnecting: 'reconnecting (__n__)' } } };
    assert.equal(lookupCatalog(cat, 'a.status.reconnecting'), 'reconnecting (__n__)');
    assert.equal(lookupCatalog(cat, 'a.status.nope'), undefined);
    assert.equal(interpolate('reconnecting (__n__)', { n: 2 }), 'reconnecting (2)');
  });

  it('repairs a PEM whose line breaks were dropped', () => {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const flat = pem.replace(/\n/g, ' ');
    const fixed = normalizePem(flat);
    assert.ok(fixed);
    const key = crypto.createPrivateKey(fixed);
    assert.equal(key.asymmetricKeyType, 'ed25519');
    assert.equal(normalizePem(pem.replace(/\n/g, '\\n')), pem);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.equal(normalizePem(rsa.replace(/\n/g, '')), rsa);
  });
});
