/**
 * Our nodes in a translated editor (issue 26), in a real browser: Debian's Chromium driven by
 * playwright-core against a real Node-RED (child process, this package installed in a temp user
 * dir) and the Binance simulator, once per language, ja and zh-CN.
 *
 * How Node-RED picks the languages (4.1 and 5): the editor follows the browser's language
 * (navigator.language, e.g. ja-JP → the ja catalogs) unless the user chose one under User Settings
 * ▸ View ▸ Language (localStorage "editor-language"); the runtime (node statuses, log lines) follows
 * settings.js `lang`, else the OS locale. Here the browser runs with the locale `ja-JP` / `zh-CN`
 * and the runtime with `lang` set to the same language, as a user in Japan or China would have it.
 *
 * It sees: the palette labels, the canvas label of an unnamed node, the order update dialog, the
 * account config dialog (labels, market and environment choices, Test connection and its result),
 * the help sidebar and the deployed nodes' status, each in the language's catalog text, and never the
 * en-US one. Screenshots to test-results/screenshots/ (i18n-<lang>-*.png); `node
 * scripts/screenshots.js` copies the README's to docs/screenshots/.
 *
 * Chromium: CHROMIUM_PATH or /usr/bin/chromium. Without it the test is skipped locally, and fails
 * when CI is set.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { BinanceSimulator } from '../../simulator/index';
import { NodeRedProcess, readFlow, repoRoot, type FlowNode, needChromium, openChromium } from './runtime';

const DATA_TYPES = ['binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-user-event', 'binance-stream-status'];

/** A text of `type`'s catalog in `lang` (dotted key below the type). */
function text(lang: string, type: string, key: string): string {
  const cat = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'nodes', 'locales', lang, `${type}.json`), 'utf8')) as Record<string, unknown>;
  let cur: unknown = cat[type];
  for (const k of key.split('.')) cur = (cur as Record<string, unknown> | undefined)?.[k];
  assert.equal(typeof cur, 'string', `${lang}/${type}.json has no text ${key}`);
  return cur as string;
}

/** The first sentence of `type`'s help in `lang` (the palette tooltip), as the browser shows it. */
function helpIntro(lang: string, type: string): string {
  const html = fs.readFileSync(path.join(repoRoot(), 'nodes', 'locales', lang, `${type}.html`), 'utf8');
  const p = /<p>([\s\S]*?)<\/p>/.exec(html);
  assert.ok(p);
  return p[1].replace(/<[^>]+>/g, '').split(/[。：:.]/)[0].trim();
}

interface EditorRED {
  nodes: { eachNode(cb: (n: { id: string; type: string }) => void): void };
  sidebar: { help: { show(type: string): void } };
}

for (const [lang, locale] of [
  ['ja', 'ja-JP'],
  ['zh-CN', 'zh-CN'],
] as const) {
  describe(`the editor in ${lang} (issue 26): our palette, dialogs, help and statuses translated`, function () {
    this.timeout(60_000);
    const shots = path.join(repoRoot(), 'test-results', 'screenshots');
    let sim: BinanceSimulator | undefined;
    let nr: NodeRedProcess | undefined;
    let context: BrowserContext | undefined;
    let page: Page;
    let profile: string | undefined;
    let broken = false;
    const t = (type: string, key: string): string => text(lang, type, key);
    const en = (type: string, key: string): string => text('en-US', type, key);

    const shot = async (name: string): Promise<void> => {
      fs.mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, `i18n-${lang}-${name}.png`) });
    };

    before(async function () {
      needChromium(this);
      sim = await BinanceSimulator.start();
      const account = sim.createAccount({ balances: { USDT: '25000.00000000', BTC: '0.50000000' } });
      const key = sim.createKey(account.id, 'hmac');
      const urls = sim.urlsFor('spot');
      nr = await NodeRedProcess.start({ lang });
      // an account on the simulator and one unnamed node of each data type (their canvas label is the palette label)
      const flow: FlowNode[] = [
        { id: 'tab1', type: 'tab', label: 'Binance' },
        {
          id: 'acct',
          type: 'binance-account',
          name: '',
          market: 'spot',
          environment: 'custom',
          restUrl: urls.restUrl,
          wsUrl: urls.wsUrl,
          keyType: 'hmac',
          recovery: true,
          credentials: { apiKey: key.apiKey, apiSecret: key.apiSecret ?? '' },
        },
        // each with the settings of the getting-started example, unnamed
        ...DATA_TYPES.map((type, i) => {
          const example = readFlow(path.join(repoRoot(), 'examples', 'getting-started.json')).find((n) => n.type === type);
          assert.ok(example, `getting-started has no ${type}`);
          return { ...example, ...(type === 'binance-user-event' ? { eventTypes: '' } : {}), id: `n${i}`, z: 'tab1', name: '', account: 'acct', x: 180, y: 80 + i * 70, wires: [] as string[][] };
        }),
      ];
      await nr.deploy(flow);
      profile = fs.mkdtempSync(path.join(os.tmpdir(), `binance-i18n-${lang}-chromium-`));
      ({ context, page } = await openChromium(profile, locale));
    });

    beforeEach(function () {
      if (broken) this.skip();
    });

    afterEach(function () {
      if (this.currentTest?.state === 'failed') broken = true;
    });

    after(async function () {
      if (broken && page && nr) await shot('failure').catch(() => undefined);
      await context?.close().catch(() => undefined);
      if (profile) fs.rmSync(profile, { recursive: true, force: true });
      await nr?.stop();
      await sim?.stop();
    });

    const canvasNode = (type: string) => page.locator(`g.red-ui-flow-node-group[id="n${DATA_TYPES.indexOf(type)}"]`);

    it(`palette labels, canvas labels and the deployed status in ${lang}`, async function () {
      assert.ok(nr);
      await page.goto(`${nr.url}/`);
      const category = page.locator('#red-ui-palette-container-Binance');
      await category.waitFor({ state: 'visible', timeout: 30_000 });
      assert.equal(await page.evaluate(() => navigator.language), locale);
      for (const type of DATA_TYPES) {
        const want = t(type, 'paletteLabel');
        assert.notEqual(want, en(type, 'paletteLabel'), `${lang}/${type}: paletteLabel is the English one`);
        const label = category.locator(`.red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-label`);
        assert.equal((await label.textContent())?.replace(/\s+/g, ''), want.replace(/\s+/g, ''), `${type} in the palette`);
        // an unnamed node's canvas label is its palette label
        await canvasNode(type).waitFor({ state: 'visible' });
        assert.equal((await canvasNode(type).locator('.red-ui-flow-node-label-text').textContent())?.trim(), want, `${type} on the canvas`);
      }
      // the runtime speaks the same language: the status every node shows
      const connected = t('binance-account', 'status.connected');
      assert.notEqual(connected, en('binance-account', 'status.connected'));
      for (const type of DATA_TYPES) {
        await canvasNode(type).locator('.red-ui-flow-node-status-dot-green').waitFor({ state: 'visible' });
        await canvasNode(type).locator('text.red-ui-flow-node-status-label', { hasText: connected }).waitFor({ state: 'visible' });
      }
      await category.evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await shot('01-palette-canvas');
    });

    it(`the order update dialog and the account config dialog in ${lang}, with Test connection`, async function () {
      const type = 'binance-order-update';
      for (let attempt = 1; ; attempt++) {
        try {
          const box = await canvasNode(type).boundingBox();
          assert.ok(box);
          await page.mouse.dblclick(box.x + box.width / 2, box.y + 15);
          await page.locator('#node-input-btn-account-edit').waitFor({ state: 'visible', timeout: 8000 });
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
          await page.keyboard.press('Control+Escape');
          await page.waitForTimeout(500);
        }
      }
      const labelOf = (id: string) => page.locator(`label[for="${id}"]`).first();
      assert.equal((await labelOf('node-input-account').innerText()).trim(), t(type, 'label.account'));
      assert.equal((await labelOf('node-input-symbols').innerText()).trim(), t(type, 'label.symbols'));
      assert.equal((await page.locator('#node-input-sides option[value="BUY"]').textContent())?.trim(), t(type, 'sides.BUY'));
      assert.equal(await page.locator('#node-input-symbols').getAttribute('placeholder'), t(type, 'placeholder.symbols'));
      await shot('02-order-update-dialog');

      await page.locator('#node-input-btn-account-edit').click();
      await page.locator('#node-config-input-market').waitFor({ state: 'visible', timeout: 8000 });
      const acct = 'binance-account';
      for (const [id, key] of [
        ['node-config-input-market', 'label.market'],
        ['node-config-input-environment', 'label.environment'],
        ['node-config-input-keyType', 'label.keyType'],
        ['node-config-input-apiKey', 'label.apiKey'],
      ] as const) {
        assert.equal((await labelOf(id).innerText()).trim(), t(acct, key), `label of ${id}`);
      }
      assert.notEqual(t(acct, 'label.market'), en(acct, 'label.market'));
      for (const m of ['spot', 'margin', 'usdm-futures', 'coinm-futures', 'portfolio-margin']) {
        assert.equal((await page.locator(`#node-config-input-market option[value="${m}"]`).textContent())?.trim(), t(acct, `market.${m}`), `market ${m}`);
      }
      for (const e of ['production', 'testnet', 'demo', 'custom']) {
        assert.equal((await page.locator(`#node-config-input-environment option[value="${e}"]`).textContent())?.trim(), t(acct, `environment.${e}`), `environment ${e}`);
      }
      assert.equal((await page.locator('#node-config-binance-test').innerText()).trim(), t(acct, 'label.test'));
      // Test connection with the saved key: the result in the dialog's language
      await page.waitForFunction(() => (document.querySelector('#node-config-input-apiSecret') as HTMLInputElement | null)?.value === '__PWRD__');
      await page.locator('#node-config-binance-test').click();
      const result = page.locator('#node-config-binance-test-result.binance-account-ok');
      await result.waitFor({ state: 'visible' });
      const shown = await result.innerText();
      assert.ok(shown.includes(`✔ ${t(acct, 'test.ok')}`), `test result: ${shown}`);
      assert.ok(shown.includes(t(acct, 'test.permissions')), `test result: ${shown}`);
      // the simulator's key can trade: the warning is ours, so it is in the dialog's language too
      // (flag names untranslated), never the English sentence the core writes for n8n and logs
      const warning = t(acct, 'test.text.key-can-trade').split(/[(（]/)[0].trim();
      assert.ok(shown.includes(`⚠ ${warning}`), `test result: ${shown}`);
      assert.ok(shown.includes(t(acct, 'test.source.api-restrictions')) && shown.includes('enableSpotAndMarginTrading'), `test result: ${shown}`);
      assert.ok(!shown.includes('This key can'), `test result: ${shown}`);
      await page.locator('#node-config-input-name').evaluate((el) => el.scrollIntoView({ block: 'center' }));
      await shot('03-account-config');
      await page.locator('#node-config-dialog-cancel').click();
      await page.locator('#node-config-input-market').waitFor({ state: 'detached' });
      await page.locator('#node-dialog-cancel').click();
      await page.locator('#node-input-account').waitFor({ state: 'detached' });
    });

    it(`the help sidebar shows our help in ${lang}`, async function () {
      for (const type of ['binance-order-update', 'binance-account']) {
        await page.evaluate((ty) => (window as unknown as { RED: EditorRED }).RED.sidebar.help.show(ty), type);
        const intro = helpIntro(lang, type);
        assert.ok(intro.length > 5 && !intro.includes(helpIntro('en-US', type)));
        await page.locator('.red-ui-sidebar-help-stack').getByText(intro).first().waitFor({ state: 'visible' });
      }
      await shot('04-help');
    });
  });
}
