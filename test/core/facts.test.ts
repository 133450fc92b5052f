/**
 * One fact, one place: every REST path and request-weight literal of the core lives in
 * nodes/lib/exchange/facts.ts. This test reads the TypeScript sources under nodes/ (comments
 * stripped) and fails when a path or a weight literal appears anywhere else, or twice in the table.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REST, weightOf, WEIGHT_LIMITS_PER_MINUTE, weightPoolOf } from '../../nodes/lib/exchange/facts';
import { resolveEndpoints } from '../../nodes/lib/exchange/endpoints';

const ROOT = path.resolve(__dirname, '..', '..', '..', 'nodes');
const FACTS = path.join('lib', 'exchange', 'facts.ts');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Source without comments (strings kept), so doc comments may name paths. */
function code(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const n = text[i + 1];
    if (c === '/' && n === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && n === '*') {
      i = text.indexOf('*/', i + 2);
      i = i < 0 ? text.length : i + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      const q = c;
      let j = i + 1;
      while (j < text.length && text[j] !== q) j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const PATH_LITERAL = /['"`](\/(?:api|sapi|fapi|dapi|papi|eapi)\/v\d+\/[A-Za-z0-9/]*)['"`$]/g;
const WEIGHT_LITERAL = /\bweight\w*\s*[:=]\s*\(?\s*-?\d|\bweight\s*\(\s*\d|\b(?:has|p)\(?['"]?\w+['"]?\)?\s*\?\s*\d+\s*:\s*\d+|case\s+['"]\/(?:api|sapi|fapi|dapi|papi)\//i;

describe('one table of exchange facts (nodes/lib/exchange/facts.ts)', () => {
  const files = sources(ROOT).map((f) => ({ rel: path.relative(ROOT, f), text: code(fs.readFileSync(f, 'utf8')) }));

  it('finds the sources (the test reads the real tree)', () => {
    assert.ok(files.length > 20, `only ${files.length} files under ${ROOT}`);
    assert.ok(files.some((f) => f.rel === FACTS));
  });

  it('every REST path literal is in facts.ts, and only once there', () => {
    const where = new Map<string, string[]>();
    for (const f of files) {
      for (const m of f.text.matchAll(PATH_LITERAL)) {
        const list = where.get(m[1]) ?? [];
        list.push(f.rel);
        where.set(m[1], list);
      }
    }
    assert.ok(where.size >= 30, `only ${where.size} REST paths found`);
    const bad = [...where].filter(([, list]) => list.length !== 1 || list[0] !== FACTS);
    assert.deepEqual(bad, [], `REST paths outside the facts table or duplicated: ${JSON.stringify(bad)}`);
  });

  it('no weight literal outside facts.ts', () => {
    const bad: string[] = [];
    for (const f of files) {
      if (f.rel === FACTS) continue;
      f.text.split('\n').forEach((line, i) => {
        if (WEIGHT_LITERAL.test(line)) bad.push(`${f.rel}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(bad, []);
  });

  it('the detector sees a duplicated path and a weight literal (it can fail)', () => {
    const sample = code(`// '/fapi/v1/order' in a comment is fine\nconst x = { path: '/fapi/v1/order', weight: 5 };`);
    assert.deepEqual([...sample.matchAll(PATH_LITERAL)].map((m) => m[1]), ['/fapi/v1/order']);
    assert.ok(WEIGHT_LITERAL.test(sample));
    assert.ok(WEIGHT_LITERAL.test(`return has('symbol') ? 6 : 80;`));
  });

  it('weights and pools come from the table (USDⓈ-M and COIN-M share one limit)', () => {
    assert.equal(weightOf(REST.coinm.openAlgoOrders.path, {}), 40);
    assert.equal(weightOf(REST.coinm.openAlgoOrders.path, { symbol: 'BTCUSD_PERP' }), 1);
    assert.equal(weightOf(REST.pm.cmTrades.path, { pair: 'BTCUSD' }), 40);
    assert.equal(weightPoolOf('usdm-futures'), weightPoolOf('coinm-futures'));
    assert.equal(WEIGHT_LIMITS_PER_MINUTE[weightPoolOf('coinm-futures')], 2400);
  });

  it('unified COIN-M recovery reads its paths and host from the table', () => {
    const ep = resolveEndpoints({ market: 'coinm-futures', environment: 'production', coinmApi: 'fapi', keyType: 'hmac', credentials: { apiKey: 'k', apiSecret: 's' } });
    assert.equal(ep.restUrl, 'https://fapi.binance.com');
    assert.equal(ep.recovery.restUrl, 'https://dapi.binance.com');
    assert.equal(ep.recovery.rest?.trades, REST.coinm.trades);
    assert.equal(ep.recovery.rest?.openAlgoOrders, REST.coinm.openAlgoOrders);
  });

  it('portfolio margin: papi listenKey, fstream /pm/ws/<key>, production only', () => {
    const ep = resolveEndpoints({ market: 'portfolio-margin', environment: 'production', keyType: 'hmac', credentials: { apiKey: 'k', apiSecret: 's' } });
    assert.equal(ep.restUrl, 'https://papi.binance.com');
    assert.equal(ep.listenKeyPath, REST.pm.listenKey.path);
    assert.equal(ep.futuresStreamStyle, 'pm');
    assert.throws(
      () => resolveEndpoints({ market: 'portfolio-margin', environment: 'testnet', keyType: 'hmac', credentials: { apiKey: 'k', apiSecret: 's' } }),
      /portfolio-margin has no testnet environment/,
    );
  });
});
