/**
 * Editor code written once (issue 26): what the node dialogs share (the account, name and message
 * option rows with their defaults, the palette label and label functions, the validators) lives in
 * resources/binance-editor.js, which Node-RED serves to the editor and every node's .html loads.
 * These tests fail when a node's .html copies a shared block again, when a node file stops loading
 * the shared code, and when the properties users' saved flows hold (names, order, defaults) change.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { RESOURCE, RESOURCE_URL, loadRepositoryEditor } from '../support/editor-source';

const root = path.resolve(__dirname, '..', '..', '..');
const TYPES = ['binance-account', 'binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-user-event', 'binance-stream-status'];

function read(rel: string): string {
  return fs.readFileSync(path.join(root, rel), 'utf8');
}
const squash = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** Each function (declared or a property's) of a script: its name and its text from `function` to the closing brace. */
function functionsOf(js: string): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  for (const m of js.matchAll(/(?:\bfunction ([A-Za-z_$][\w$]*)|\b([A-Za-z_$][\w$]*): function)\s*\([^)]*\)\s*\{/g)) {
    let depth = 0;
    let end = m.index + m[0].length - 1;
    for (; end < js.length; end++) {
      if (js[end] === '{') depth++;
      else if (js[end] === '}' && --depth === 0) break;
    }
    out.push({ name: m[1] ?? m[2], text: squash(js.slice(js.indexOf('function', m.index), end + 1)) });
  }
  return out;
}

interface Shared {
  sharedRows: string[];
  expandTemplate(type: string, text: string, prefix: string): { html: string; rows: string[] };
}
/** The shared editor code's API, from the repository's file. */
function shared(): Shared {
  const window: Record<string, unknown> = {};
  vm.runInContext(read(RESOURCE), vm.createContext({ window }));
  return window.BinanceUserStreamEditor as Shared;
}

/** Every property a node saves in a flow, in the order of its defaults (as in 0.1.0): name, default, and type/required. */
const SAVED: Record<string, Array<[string, unknown, { type?: string; required?: boolean }?]>> = {
  'binance-account-position': [
    ['name', ''],
    ['account', '', { type: 'binance-account', required: true }],
    ['output', 'delta'],
    ['assets', ''],
    ['hideZero', false],
    ['includeMarginCall', false],
    ['numbers', false],
    ['isoTimes', true],
    ['showLastEvent', false],
  ],
  'binance-account': [
    ['name', ''],
    ['market', 'spot', { required: true }],
    ['symbol', ''],
    ['environment', 'testnet', { required: true }],
    ['restUrl', ''],
    ['wsUrl', ''],
    ['keyType', 'hmac', { required: true }],
    ['recvWindow', ''],
    ['keepaliveInterval', ''],
    ['futuresPathForm', ''],
    ['coinmApi', ''],
    ['recovery', true],
    ['recoverySymbols', ''],
    ['recoveryLookback', ''],
    ['recoveryStore', ''],
    ['recoveryMaxSymbols', ''],
    ['recoveryMaxOrders', ''],
    ['liveHoldLimit', ''],
  ],
  'binance-balance-update': [
    ['name', ''],
    ['account', '', { type: 'binance-account', required: true }],
    ['balanceUpdate', true],
    ['externalLockUpdate', true],
    ['deposit', true],
    ['withdraw', true],
    ['transfer', true],
    ['fundingFee', false],
    ['assets', ''],
    ['numbers', false],
    ['isoTimes', true],
    ['showLastEvent', false],
  ],
  'binance-order-update': [
    ['name', ''],
    ['account', '', { type: 'binance-account', required: true }],
    ['symbols', ''],
    ['sides', ''],
    ['executionTypes', ''],
    ['orderStatuses', ''],
    ['includeListStatus', false],
    ['includeAlgoUpdates', false],
    ['includeTradeLite', false],
    ['numbers', false],
    ['isoTimes', true],
    ['showLastEvent', false],
  ],
  'binance-stream-status': [
    ['name', ''],
    ['account', '', { type: 'binance-account', required: true }],
    ['isoTimes', true],
  ],
  'binance-user-event': [
    ['name', ''],
    ['account', '', { type: 'binance-account', required: true }],
    ['eventTypes', ''],
    ['numbers', false],
    ['showLastEvent', false],
  ],
};

describe('editor code written once (resources/binance-editor.js)', function () {
  const htmls = new Map(TYPES.map((t) => [t, read(`nodes/${t}.html`)]));
  const api = shared();
  const prefixOf = (type: string): string => (type === 'binance-account' ? 'node-config-input' : 'node-input');

  it('every node file loads the shared code first, once, by the relative URL Node-RED serves it at; the package ships it', function () {
    assert.ok(fs.existsSync(path.join(root, RESOURCE)), RESOURCE);
    for (const [type, html] of htmls) {
      const srcs = [...html.matchAll(/<script\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1]);
      assert.deepEqual(srcs, [RESOURCE_URL], `${type}: the scripts it loads`);
      assert.ok(html.indexOf(`src="${RESOURCE_URL}"`) < html.indexOf('<script type="text/javascript">'), `${type}: loads it after its own script`);
      // the template comes before the script that registers the node (which puts the shared rows into it)
      assert.ok(html.indexOf('data-template-name=') < html.indexOf('<script type="text/javascript">'), `${type}: template after its script`);
      // registered as Node-RED documents it (the Flow Library's scorecard reads the type from it), with the shared defaults
      assert.match(html, new RegExp(`RED\\.nodes\\.registerType\\('${type}', \\{`), `${type}: RED.nodes.registerType('${type}', {...})`);
      assert.match(html, new RegExp(`\\bdefaults: E\\.(config)?[dD]efaults\\('${type}'[,)]`), `${type}: its defaults do not come from the shared code`);
    }
    const pkg = JSON.parse(read('package.json')) as { name: string; files: string[] };
    assert.equal(RESOURCE_URL, `resources/${pkg.name}/${path.posix.basename(RESOURCE)}`);
    assert.ok(pkg.files.includes('resources/'), 'package.json "files" ships resources/');
  });

  it('no node file repeats a shared row (account, name, message options): it names the row instead', function () {
    for (const [type, html] of htmls) {
      const prefix = prefixOf(type);
      for (const row of api.sharedRows) {
        const markup = api.expandTemplate(type, `<div data-binance-row="${row}"></div>`, prefix).html;
        assert.ok(!squash(html).includes(squash(markup)), `${type}: the shared "${row}" row is copied into its .html`);
        assert.ok(!html.includes(`id="${prefix}-${row}"`), `${type}: an input of the shared property ${row} in its .html`);
      }
      assert.ok(!/type: 'binance-account'/.test(html) || type === 'binance-account', `${type}: copies the account property`);
      // a checkbox row of the shared form is named (data-binance-checkbox), not copied
      for (const m of html.matchAll(/<input type="checkbox" id="node-(?:config-)?input-([A-Za-z]+)"/g)) {
        const markup = api.expandTemplate(type, `<div data-binance-checkbox="${m[1]}"></div>`, prefix).html;
        assert.ok(!squash(html).includes(squash(markup)), `${type}: the checkbox row of ${m[1]} is copied instead of named`);
      }
    }
  });

  it('no function, label function or validator pattern of the shared code is defined again in a node file, nor in two', function () {
    const resource = read(RESOURCE);
    const named = (s: string): string[] => [...s.matchAll(/\bfunction ([A-Za-z_$][\w$]*)\s*\(/g)].map((m) => m[1]);
    // a function of a node file that does what another node file's does (same text, or a same-named helper)
    const bodies = new Map<string, string>();
    const patterns = (s: string): string[] => [...s.matchAll(/\/\^[^\n/]*(?:\\\/[^\n/]*)*\$\/[gimsuy]*/g)].map((m) => m[0]);
    const sharedNames = new Set(named(resource));
    const sharedPatterns = new Set(patterns(resource));
    assert.ok(sharedNames.has('defaultsOf') && sharedNames.has('optionalRange') && sharedPatterns.size > 0);
    const seen = new Map<string, string>();
    for (const [type, html] of htmls) {
      for (const n of named(html)) assert.ok(!sharedNames.has(n), `${type}: defines ${n}(), which the shared code defines`);
      for (const f of functionsOf(html)) {
        if (f.text.length < 40) continue; // function () { return x; } and the like
        const other = bodies.get(f.text);
        assert.ok(!other || other === type, `the same function (${f.name}) in ${other} and ${type}: share it in ${RESOURCE}`);
        bodies.set(f.text, type);
      }
      for (const p of patterns(html)) {
        assert.ok(!sharedPatterns.has(p), `${type}: the shared pattern ${p} copied`);
        const other = seen.get(`p:${p}`);
        assert.ok(!other || other === type, `pattern ${p} in ${other} and ${type}: share it`);
        seen.set(`p:${p}`, type);
      }
      assert.match(html, /\n {6}paletteLabel: E\.paletteLabel,\n/, `${type}: its own paletteLabel (the shared one reads <type>.paletteLabel)`);
      assert.ok(!/\blabelStyle: function/.test(html), `${type}: its own labelStyle`);
      assert.ok(!/return this\.name \|\| this\._\('[a-z-]+\.paletteLabel'\);/.test(html), `${type}: a copy of the shared label function`);
    }
  });

  it('every dialog has its shared rows in place, each once, and nothing of a placeholder left', function () {
    const editor = loadRepositoryEditor(TYPES);
    assert.deepEqual([...editor.keys()].sort(), [...TYPES].sort());
    for (const [type, ed] of editor) {
      assert.ok(!/data-binance-/.test(ed.template), `${type}: a placeholder left`);
      for (const id of ['account', 'name']) {
        const n = ed.template.split(`id="${prefixOf(type)}-${id}"`).length - 1;
        assert.equal(n, type === 'binance-account' && id === 'account' ? 0 : 1, `${type}: ${id} inputs`);
      }
    }
  });

  it('the properties users’ saved flows hold are unchanged: names, order, defaults, config type', function () {
    const editor = loadRepositoryEditor(TYPES);
    for (const type of TYPES) {
      const defaults = editor.get(type)?.definition.defaults;
      assert.ok(defaults, type);
      const actual = Object.entries(defaults).map(([k, d]) => {
        const extra: { type?: string; required?: boolean } = {};
        if (d.type !== undefined) extra.type = d.type;
        if (d.required !== undefined) extra.required = d.required;
        return Object.keys(extra).length ? [k, d.value, extra] : [k, d.value];
      });
      assert.deepEqual(actual, SAVED[type], type);
    }
  });

  it('the shared validators answer as the per-node ones did', function () {
    const editor = loadRepositoryEditor(TYPES);
    const v = (type: string, prop: string, value: unknown): unknown => editor.get(type)?.definition.defaults[prop]?.validate?.call({}, value);
    for (const [type, prop] of [['binance-order-update', 'symbols'], ['binance-account-position', 'assets'], ['binance-balance-update', 'assets']]) {
      for (const ok of ['', undefined, 'BTCUSDT', 'btc*, eth?', 'BTC;ETH USDT']) assert.equal(v(type, prop, ok), true, `${type}.${prop} ${String(ok)}`);
      for (const bad of ['BTC-USDT', 'A_B', 'x/y']) assert.equal(v(type, prop, bad), false, `${type}.${prop} ${bad}`);
    }
    assert.equal(v('binance-user-event', 'eventTypes', 'ACCOUNT_UPDATE, *'), true);
    assert.equal(v('binance-order-update', 'sides', undefined), true);
    assert.equal(v('binance-order-update', 'sides', 'buy'), false);
    assert.equal(v('binance-account-position', 'output', 'snapshot'), true);
    assert.equal(v('binance-account-position', 'output', ''), false);
    assert.equal(v('binance-account', 'liveHoldLimit', '0'), true);
    assert.equal(v('binance-account', 'liveHoldLimit', '0.5'), true);
    assert.equal(v('binance-account', 'liveHoldLimit', '601'), false);
    assert.equal(v('binance-account', 'recvWindow', '0'), false);
    assert.equal(v('binance-account', 'recvWindow', ' '), true);
    assert.equal(v('binance-account', 'market', 'portfolio-margin'), true);
    assert.equal(v('binance-account', 'market', ''), false);
  });
});
