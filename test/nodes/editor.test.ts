/**
 * Editor files: every label key used in an editor template or script (the node's .html with the
 * shared rows of resources/binance-editor.js in place, and its label functions) exists in the node's
 * message catalog, every node has help with Inputs / Outputs / Details, icons are 2:3 SVGs,
 * credentials are password fields in the editor, and the runtime reads the properties the
 * editor defines.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERROR_CODE_REASONS, lookupCatalog, statusForState } from '../../nodes/red/status';
import { FUTURES_PATH_FORMS } from '../../nodes/lib/exchange/endpoints';
import { labelKeys, loadRepositoryEditor } from '../support/editor-source';

const root = path.resolve(__dirname, '..', '..', '..');
const TYPES = ['binance-account', 'binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-user-event', 'binance-stream-status'];

function read(rel: string): string {
  return fs.readFileSync(path.join(root, rel), 'utf8');
}

function catalog(type: string): unknown {
  return JSON.parse(read(`nodes/locales/en-US/${type}.json`)) as unknown;
}

describe('editor files', function () {
  const editor = loadRepositoryEditor(TYPES);
  for (const type of TYPES) {
    describe(type, function () {
      const html = read(`nodes/${type}.html`);
      const cat = catalog(type);
      const ed = editor.get(type);
      // the node's file with its dialog as the editor shows it (the shared rows in place)
      const source = `${html}\n${ed?.template ?? ''}`;
      // the properties the node registers (its own and the shared ones its dialog names)
      const defaults = (): string[] => {
        assert.ok(ed, `${type} not registered`);
        return Object.keys(ed.definition.defaults);
      };

      it('every data-i18n / _() key exists in the catalog', function () {
        const keys = new Set<string>(ed ? labelKeys(ed.definition) : []);
        for (const m of source.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g)) keys.add(m[1]);
        for (const m of source.matchAll(/\b_\('([a-z-]+\.[A-Za-z0-9.-]*[A-Za-z0-9])'\s*[,)]/g)) keys.add(m[1]);
        assert.ok(keys.size > 2);
        for (const k of keys) assert.ok(lookupCatalog(cat, k) !== undefined, `${type}: missing catalog key ${k}`);
      });

      it('every option of the selects has a label, and each form field has a default', function () {
        const ids = [...(ed?.template ?? '').matchAll(/id="node-(?:config-)?input-([A-Za-z]+)"/g)].map((m) => m[1]);
        const credentials = ['apiKey', 'apiSecret', 'privateKey', 'passphrase'];
        const helpers = ['executionTypesMode', 'executionTypesList'];
        for (const id of ids) {
          assert.ok(defaults().includes(id) || credentials.includes(id) || helpers.includes(id), `${type}: input ${id} has no default`);
        }
        for (const d of defaults()) assert.ok(ids.includes(d), `${type}: default ${d} has no input`);
      });

      it('the runtime reads the properties the editor defines', function () {
        // the node file and the Node-RED helpers it imports (nodes/red/*.ts), where the properties may be typed
        const own = read(`nodes/${type}.ts`);
        const helpers = [...own.matchAll(/from '\.\/red\/([a-z-]+)'/g)].map((m) => read(`nodes/red/${m[1]}.ts`));
        const ts = [own, ...helpers].join('\n');
        for (const d of defaults()) {
          if (d === 'name') continue;
          assert.ok(new RegExp(`\\b${d}\\??:`).test(ts), `${type}: ${d} not in the runtime's definition`);
        }
      });

      it('has help with Inputs, Outputs (or Properties) and Details', function () {
        const help = read(`nodes/locales/en-US/${type}.html`);
        assert.match(help, new RegExp(`data-help-name="${type}"`));
        assert.match(help, /<h3>Inputs/);
        assert.match(help, /<h3>(Outputs|Properties)<\/h3>/);
        assert.match(help, /<h3>Details<\/h3>/);
        const firstP = /<p>([\s\S]*?)<\/p>/.exec(help);
        assert.ok(firstP && firstP[1].length > 20, 'the first paragraph is the palette tooltip');
      });

      if (type !== 'binance-account') {
        it('is in the Binance palette category with a 2:3 white SVG icon', function () {
          assert.match(html, /category: 'Binance'/);
          assert.match(html, /color: '#F3BA2F'/);
          const icon = /icon: '([^']+)'/.exec(html)?.[1];
          assert.ok(icon && icon.endsWith('.svg'));
          const svg = read(`icons/${icon}`);
          assert.match(svg, /viewBox="0 0 40 60"/);
          assert.ok(!/stroke="#(?!ffffff)[0-9a-f]{6}"/i.test(svg) && !/fill="#(?!ffffff)[0-9a-f]{6}"/i.test(svg), 'white only');
        });
      }
    });
  }

  it('the config node declares every credential as a password, in the editor and the runtime', function () {
    const html = read('nodes/binance-account.html');
    const ts = read('nodes/binance-account.ts');
    for (const c of ['apiKey', 'apiSecret', 'privateKey', 'passphrase']) {
      assert.match(html, new RegExp(`${c}: \\{ type: 'password'`));
      assert.match(html, new RegExp(`<input type="password" id="node-config-input-${c}"`));
      assert.match(ts, new RegExp(`${c}: \\{ type: 'password' \\}`));
    }
  });

  it('every runtime status key and test-connection problem has an English text', function () {
    const cat = catalog('binance-account');
    const keys = new Set<string>(Object.values(ERROR_CODE_REASONS));
    for (const state of ['idle', 'connecting', 'connected', 'reconnecting', 'auth-error', 'error', 'stopped']) {
      const k = statusForState({ state }).key;
      if (k) keys.add(k);
    }
    keys.add('connected-at');
    keys.add('invalid-config');
    for (const k of keys) assert.ok(lookupCatalog(cat, `binance-account.status.${k}`), `status ${k}`);
    const problems = ['bad-key', 'bad-key-format', 'bad-signature', 'clock-skew', 'ip-or-permission', 'network', 'url', 'config', 'rate-limit', 'server', 'unknown'];
    for (const p of problems) assert.ok(lookupCatalog(cat, `binance-account.test.problem.${p}`), `problem ${p}`);
    for (const t of TYPES.slice(1)) assert.equal(lookupCatalog(catalog(t), `${t}.status.no-account`), 'no account');
  });

  it('the futures Stream URL setting offers, validates and explains exactly the values of FUTURES_PATH_FORMS (issue 22)', function () {
    const html = read('nodes/binance-account.html');
    const select = /<select id="node-config-input-futuresPathForm"[^>]*>([\s\S]*?)<\/select>/.exec(html);
    assert.ok(select, 'the select');
    const offered = [...select[1].matchAll(/<option value="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(offered, ['', ...FUTURES_PATH_FORMS]);
    const validator = /futuresPathForm: \{[\s\S]*?return \[([^\]]*)\]\.indexOf/.exec(html);
    assert.ok(validator, 'the validator');
    assert.deepEqual([...validator[1].matchAll(/'([^']*)'/g)].map((m) => m[1]), ['', ...FUTURES_PATH_FORMS]);
    const cat = catalog('binance-account');
    for (const f of FUTURES_PATH_FORMS) assert.ok(lookupCatalog(cat, `binance-account.futuresPathForm.${f}`), `label of ${f}`);
    for (const k of ['status.connected-silent', 'warnings.silent-stream', 'warnings.silent-stream-other']) assert.ok(lookupCatalog(cat, `binance-account.${k}`), k);
    const help = read('nodes/locales/en-US/binance-account.html');
    for (const f of FUTURES_PATH_FORMS) assert.match(help, new RegExp(`<code>${f}</code> = `), `help explains ${f}`);
  });

  it('package.json registers exactly the six node files', function () {
    const pkg = JSON.parse(read('package.json')) as { 'node-red': { nodes: Record<string, string> } };
    assert.deepEqual(pkg['node-red'].nodes, Object.fromEntries(TYPES.map((t) => [t, `dist/nodes/${t}.js`])));
  });
});
