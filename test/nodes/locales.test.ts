/**
 * The message catalogs and help files stay complete in every language (issue 26):
 *  - every language folder under nodes/locales has the same catalogs and help files;
 *  - every catalog key (nested) exists in every language, with a non-empty text;
 *  - a text's placeholders (`__name__`, `{{name}}`) and its `<code>` identifiers are the same
 *    in every language (a translation cannot drop or rename one);
 *  - a help file keeps the structure of the en-US one (same sections, property and table rows)
 *    and the same `<code>` identifiers, which stay untranslated.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { accountStatus } from '../../nodes/red/account-status';
import { interpolate, lookupCatalog } from '../../nodes/red/status';
import type { ReliableStateChange } from '../../nodes/lib/stream/reliable-stream';
import { KEY_POWER_SOURCES, SETTINGS_PROBLEM_KEYS, TEXT_CODES } from '../../nodes/lib/texts';

const root = path.resolve(__dirname, '..', '..', '..');
const LOCALES = path.join(root, 'nodes', 'locales');
const LANGS = ['en-US', 'ja', 'zh-CN'];
const REFERENCE = 'en-US';

function read(lang: string, file: string): string {
  return fs.readFileSync(path.join(LOCALES, lang, file), 'utf8');
}

/** `a.b.c` → text, for every leaf of a catalog. */
export function flatten(obj: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, obj);
  }
  return out;
}

/** The placeholders of an i18n text, sorted: `__n__` (Node-RED's runtime) and `{{n}}` (i18next). */
export function placeholders(text: string): string[] {
  return [...text.matchAll(/__([A-Za-z0-9_]+?)__|\{\{-?\s*([A-Za-z0-9_.]+)\s*\}\}/g)].map((m) => m[1] ?? m[2]).sort();
}

/** The contents of the `<code>` elements, sorted: identifiers, paths and values that stay as they are. */
export function codes(text: string): string[] {
  return [...text.matchAll(/<code>([\s\S]*?)<\/code>/g)].map((m) => m[1]).sort();
}

/** The help file's skeleton: its sections and rows, in order. */
function skeleton(html: string): string[] {
  return [...html.matchAll(/<(h3|h4|dt|dd|tr|li|table|dl|ul)\b[^>]*>/g)].map((m) => m[1]);
}

/** Differences between the reference catalog and `lang`'s, as readable lines (empty: none). */
export function catalogProblems(reference: unknown, other: unknown, lang: string, file: string): string[] {
  const ref = flatten(reference);
  const cat = flatten(other);
  const problems: string[] = [];
  for (const [k, v] of ref) {
    if (!cat.has(k)) {
      problems.push(`${lang}/${file}: missing key ${k}`);
      continue;
    }
    const t = cat.get(k);
    if (typeof t !== 'string' || t.trim() === '') {
      problems.push(`${lang}/${file}: ${k} is empty or not a text`);
      continue;
    }
    if (typeof v === 'string') {
      if (placeholders(v).join(',') !== placeholders(t).join(',')) {
        problems.push(`${lang}/${file}: ${k} has placeholders [${placeholders(t).join(', ')}], ${REFERENCE} has [${placeholders(v).join(', ')}]`);
      }
      if (codes(v).join('\n') !== codes(t).join('\n')) problems.push(`${lang}/${file}: ${k} changes a <code> identifier`);
    }
  }
  for (const k of cat.keys()) if (!ref.has(k)) problems.push(`${lang}/${file}: key ${k} is not in ${REFERENCE}`);
  return problems;
}

describe('locales: every language complete (issue 26)', function () {
  it('the languages are en-US, ja and zh-CN, each with the same catalogs and help files', function () {
    const dirs = fs.readdirSync(LOCALES).filter((d) => fs.statSync(path.join(LOCALES, d)).isDirectory());
    assert.deepEqual(dirs.sort(), [...LANGS].sort());
    const files = (lang: string): string[] => fs.readdirSync(path.join(LOCALES, lang)).sort();
    const ref = files(REFERENCE);
    assert.ok(ref.some((f) => f.endsWith('.json')) && ref.some((f) => f.endsWith('.html')));
    for (const f of ref) assert.match(f, /^binance-[a-z-]+\.(json|html)$/, `unexpected file ${REFERENCE}/${f}`);
    for (const lang of LANGS) {
      const have = files(lang);
      for (const f of ref) assert.ok(have.includes(f), `${lang}: ${f} is missing (it exists in ${REFERENCE})`);
      for (const f of have) assert.ok(ref.includes(f), `${lang}: ${f} has no ${REFERENCE} original`);
    }
    // every node registered in package.json has a catalog and help
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
    for (const t of Object.keys(pkg['node-red'].nodes)) {
      assert.ok(ref.includes(`${t}.json`) && ref.includes(`${t}.html`), `${t}: no catalog or help`);
    }
  });

  const refFiles = fs.readdirSync(path.join(LOCALES, REFERENCE)).sort();
  for (const file of refFiles.filter((f) => f.endsWith('.json'))) {
    it(`${file}: the same keys, placeholders and identifiers in every language`, function () {
      const reference = JSON.parse(read(REFERENCE, file)) as unknown;
      assert.ok(flatten(reference).size > 3);
      const problems: string[] = [];
      for (const lang of LANGS.filter((l) => l !== REFERENCE)) {
        if (!fs.existsSync(path.join(LOCALES, lang, file))) {
          problems.push(`${lang}/${file}: missing`);
          continue;
        }
        problems.push(...catalogProblems(reference, JSON.parse(read(lang, file)) as unknown, lang, file));
      }
      assert.deepEqual(problems, []);
    });
  }

  for (const file of refFiles.filter((f) => f.endsWith('.html'))) {
    it(`${file}: help in every language with the en-US structure and identifiers`, function () {
      const type = file.replace(/\.html$/, '');
      const reference = read(REFERENCE, file);
      for (const lang of LANGS.filter((l) => l !== REFERENCE)) {
        assert.ok(fs.existsSync(path.join(LOCALES, lang, file)), `${lang}/${file} is missing`);
        const help = read(lang, file);
        assert.match(help, new RegExp(`^<script type="text/html" data-help-name="${type}">`), `${lang}/${file}: not a help script for ${type}`);
        assert.match(help, /<\/script>\s*$/);
        assert.deepEqual(skeleton(help), skeleton(reference), `${lang}/${file}: sections or rows differ from ${REFERENCE}`);
        assert.deepEqual(codes(help), codes(reference), `${lang}/${file}: <code> identifiers differ from ${REFERENCE}`);
        const firstP = /<p>([\s\S]*?)<\/p>/.exec(help);
        assert.ok(firstP && firstP[1].length > 10, `${lang}/${file}: the first paragraph is the palette tooltip`);
      }
    });
  }

  it('a reconnecting status says its reason in the catalog\'s language too (network error, closed by the server, watchdog)', function () {
    for (const lang of LANGS) {
      const cat = JSON.parse(read(lang, 'binance-account.json')) as unknown;
      const t = (key: string, vars: Record<string, string | number> = {}): string => interpolate(lookupCatalog(cat, key) ?? key, vars);
      const status = (message: string): string =>
        accountStatus(t, { state: 'reconnecting', previous: 'connected', attempt: 3, message, at: 0 } as unknown as ReliableStateChange).text;
      const reconnecting = (reason: string): string => t('binance-account.status.reconnecting-because', { n: 3, reason });
      assert.equal(status('connect failed: connect ECONNREFUSED 127.0.0.1:9'), reconnecting(t('binance-account.status.reason-network', { code: 'ECONNREFUSED' })));
      assert.equal(status('server-close: 1006'), reconnecting(t('binance-account.status.reason-server-close')));
      assert.equal(status('watchdog'), reconnecting(t('binance-account.status.reason-watchdog')));
      // a reason quoted from elsewhere stays as it is
      assert.equal(status('Unexpected server response: 502'), reconnecting('HTTP 502'));
    }
    // and the ja text is Japanese all through
    const ja = JSON.parse(read('ja', 'binance-account.json')) as unknown;
    const tj = (key: string, vars: Record<string, string | number> = {}): string => interpolate(lookupCatalog(ja, key) ?? key, vars);
    const s = accountStatus(tj, { state: 'reconnecting', previous: 'connected', attempt: 2, message: 'GET /api/v3/time: network error (ENOTFOUND)', at: 0 } as unknown as ReliableStateChange);
    assert.equal(s.text, '再接続中 (2): ネットワークエラー ENOTFOUND');
  });

  it('every text code the core can return (nodes/lib/texts.ts) has its text in every catalog, and no catalog keeps a stale one', function () {
    for (const lang of LANGS) {
      const cat = JSON.parse(read(lang, 'binance-account.json')) as { 'binance-account': { test: { text: object; source: object } } };
      for (const code of TEXT_CODES) assert.ok(lookupCatalog(cat, `binance-account.test.text.${code}`), `${lang}: no binance-account.test.text.${code}`);
      for (const key of SETTINGS_PROBLEM_KEYS) assert.ok(lookupCatalog(cat, `binance-account.errors.${key}`), `${lang}: no binance-account.errors.${key}`);
      for (const s of KEY_POWER_SOURCES) assert.ok(lookupCatalog(cat, `binance-account.test.source.${s}`), `${lang}: no binance-account.test.source.${s}`);
      assert.deepEqual(Object.keys(cat['binance-account'].test.text).sort(), [...TEXT_CODES].sort(), `${lang}: test.text has exactly the core's codes`);
      assert.deepEqual(Object.keys(cat['binance-account'].test.source).sort(), [...KEY_POWER_SOURCES].sort(), `${lang}: test.source`);
    }
  });

  it('the check itself: a key deleted, a placeholder renamed or an identifier translated is reported', function () {
    const en = { t: { a: 'x __n__ <code>ws-path</code>', b: { c: 'y' } } };
    assert.deepEqual(catalogProblems(en, { t: { a: 'ｘ __n__ <code>ws-path</code>', b: { c: 'ｙ' } } }, 'ja', 'f.json'), []);
    assert.deepEqual(catalogProblems(en, { t: { a: 'ｘ __n__ <code>ws-path</code>', b: {} } }, 'ja', 'f.json'), ['ja/f.json: missing key t.b.c']);
    assert.equal(catalogProblems(en, { t: { a: 'ｘ __m__ <code>ws-path</code>', b: { c: 'ｙ' } } }, 'ja', 'f.json').length, 1);
    assert.equal(catalogProblems(en, { t: { a: 'ｘ __n__ <code>パス</code>', b: { c: 'ｙ' } } }, 'ja', 'f.json').length, 1);
    assert.equal(catalogProblems(en, { t: { a: 'ｘ __n__ <code>ws-path</code>', b: { c: 'ｙ', d: 'z' } } }, 'ja', 'f.json').length, 1);
  });
});
