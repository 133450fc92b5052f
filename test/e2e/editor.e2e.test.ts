/**
 * End-to-end in a real browser: Debian's Chromium driven by playwright-core against a
 * real Node-RED (child process, this package installed in a temp user dir) and the
 * Binance simulator. Like a new user: open the editor, find the Binance palette
 * category, import the getting-started example from Import ▸ Examples, point its
 * account at the simulator in the config dialog (password fields), deploy, see the
 * nodes turn to a green "connected" dot, and see a fill arrive in the Debug sidebar.
 * Then: Test connection with emptied key fields, the live dashboard page with a simulator
 * fill on it, and a status that says why (a wrong secret).
 *
 * Screenshots of each step go to test-results/screenshots/ (gitignored);
 * `node scripts/screenshots.js` copies the ones the README shows to docs/screenshots/.
 *
 * Chromium: CHROMIUM_PATH or /usr/bin/chromium (Debian: `apt-get install chromium`).
 * Without it the test is skipped locally, and fails when CI is set.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import { BinanceSimulator } from '../../simulator/index';
import { NodeRedProcess, PKG, repoRoot, until, needChromium, openChromium } from './runtime';

const DATA_TYPES = ['binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-user-event', 'binance-stream-status'];
const ALL_TYPES = ['binance-account', ...DATA_TYPES];
/** Our nodes in examples/getting-started.json: type and name. */
const EXAMPLE_NODES: Array<[string, string]> = [
  ['binance-order-update', 'orders and fills'],
  ['binance-account-position', 'balances'],
  ['binance-balance-update', 'deposits and transfers'],
  ['binance-stream-status', 'stream status'],
  ['binance-user-event', 'other events'],
];

/** The parts of the editor's RED object used here. */
interface EditorRED {
  nodes: {
    getType(t: string): unknown;
    eachNode(cb: (n: { id: string; type: string; name?: string }) => void): void;
    eachConfig(cb: (n: { id: string; type: string; name?: string; valid?: boolean }) => void): void;
  };
}

describe('editor end-to-end in Chromium (import, configure, deploy, live fills)', function () {
  this.timeout(60_000);
  const shots = path.join(repoRoot(), 'test-results', 'screenshots');
  let sim: BinanceSimulator | undefined;
  let nr: NodeRedProcess | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let profile: string | undefined;
  let accountId: string;
  let apiKey: string;
  let apiSecret: string;
  /** A step failed: the ones after it cannot run. */
  let broken = false;

  const shot = async (name: string): Promise<void> => {
    fs.mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, `${name}.png`) });
  };

  /** Closes the editor's notifications (a click closes one) so they do not cover the screenshots. */
  const dismissNotifications = async (): Promise<void> => {
    const visible = page.locator('.red-ui-notification').locator('visible=true');
    for (let n = await visible.count(); n > 0; n = await visible.count()) {
      await visible.first().click({ timeout: 2000 }).catch(() => undefined);
      await page.waitForFunction((before) => {
        const all = Array.from(document.querySelectorAll('.red-ui-notification')) as HTMLElement[];
        return all.filter((e) => e.offsetParent !== null && getComputedStyle(e).opacity !== '0').length < before;
      }, n);
    }
  };

  before(async function () {
    needChromium(this);
    sim = await BinanceSimulator.start();
    const account = sim.createAccount({
      balances: { USDT: '25000.00000000', BTC: '0.50000000', ETH: '5.00000000' },
      futuresBalances: { USDT: '10000.00000000' },
    });
    accountId = account.id;
    const key = sim.createKey(accountId, 'hmac');
    apiKey = key.apiKey;
    apiSecret = key.apiSecret ?? '';
    nr = await NodeRedProcess.start();
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-e2e-chromium-'));
    ({ context, page } = await openChromium(profile));
    fs.rmSync(path.join(shots, 'failure.png'), { force: true });
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

  /** The canvas node of type `type` whose label is `label` (the debug nodes share some labels). */
  const canvasNode = async (type: string, label: string): Promise<Locator> => {
    const ids = await page.evaluate(
      ([t, l]) => {
        const RED = (window as unknown as { RED: EditorRED }).RED;
        const out: string[] = [];
        RED.nodes.eachNode((n) => {
          if (n.type === t && n.name === l) out.push(n.id);
        });
        return out;
      },
      [type, label] as const,
    );
    assert.equal(ids.length, 1, `expected one ${type} "${label}" in the workspace, found ${ids.length}`);
    return page.locator(`g.red-ui-flow-node-group[id="${ids[0]}"]`);
  };

  it('opens the editor and shows the Binance palette category with our nodes', async function () {
    assert.ok(nr);
    await page.goto(`${nr.url}/`);
    const category = page.locator('#red-ui-palette-container-Binance');
    // the editor's first load is the slowest step (several MB of scripts)
    await category.waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal((await category.locator('.red-ui-palette-header').innerText()).trim(), 'Binance');
    for (const t of DATA_TYPES) {
      await category.locator(`.red-ui-palette-node[data-palette-type="${t}"]`).waitFor({ state: 'visible' });
    }
    const inCategory = await category.locator('.red-ui-palette-node').evaluateAll((els) => els.map((e) => e.getAttribute('data-palette-type')));
    assert.deepEqual([...inCategory].sort(), [...DATA_TYPES].sort(), 'the Binance category holds exactly our five data nodes');
    // the account is a config node: registered in the editor, shown in no palette category
    const registered = await page.evaluate(
      (types) => types.filter((t) => (window as unknown as { RED: EditorRED }).RED.nodes.getType(t)),
      ALL_TYPES,
    );
    assert.deepEqual(registered, ALL_TYPES);
    await category.evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await shot('01-palette');
  });

  /**
   * Opens Import ▸ Examples and selects one of ours; resolves once the editor has loaded it (its
   * Import button is enabled). On a loaded machine the first click on the entry can come before the
   * tree is ready: then it clicks again.
   */
  const chooseExample = async (name: string): Promise<void> => {
    await page.locator('#red-ui-header-button-sidemenu').click();
    await page.locator('#menu-item-import').click();
    await page.locator('#red-ui-clipboard-dialog-import-tabs').waitFor({ state: 'visible' });
    await page.locator('#red-ui-clipboard-dialog-import-tabs li', { hasText: 'Examples' }).click();
    const lib = page.locator('#red-ui-clipboard-dialog-import-tab-examples');
    const entry = lib.locator('.red-ui-treeList-label', { hasText: name });
    const ok = page.locator('#red-ui-clipboard-dialog-ok:not(.ui-state-disabled)');
    for (let attempt = 1; ; attempt++) {
      if (!(await entry.isVisible())) await lib.locator('.red-ui-treeList-label', { hasText: PKG }).click();
      await entry.click();
      try {
        await ok.waitFor({ state: 'visible', timeout: 5000 });
        return;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  };

  it('imports the getting-started example from Import ▸ Examples', async function () {
    await chooseExample('getting-started');
    await shot('02-import-examples');
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    // imported nodes follow the mouse until placed with a click on the workspace
    const ws = page.locator('#red-ui-workspace-chart');
    const box = await ws.boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + 120, box.y + 80);
    await page.mouse.move(box.x + 140, box.y + 100);
    await page.mouse.click(box.x + 140, box.y + 100);
    await dismissNotifications();
    await page.waitForFunction(() => document.querySelectorAll('g.red-ui-flow-node-group').length >= 9);
    for (const [type, label] of EXAMPLE_NODES) {
      const n = await canvasNode(type, label);
      await n.waitFor({ state: 'visible' });
      assert.equal(await n.locator('.red-ui-flow-node-label-text').textContent(), label);
    }
    // an account without a key is marked as not properly configured before any deploy, and so are its users
    await page.waitForFunction(() => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      let acct: { valid?: boolean } | undefined;
      RED.nodes.eachConfig((c) => {
        if (c.type === 'binance-account') acct = c;
      });
      return acct?.valid === false;
    });
    const orders = await canvasNode('binance-order-update', 'orders and fills');
    await orders.locator('.red-ui-flow-node-error').locator('visible=true').waitFor({ state: 'visible' });
  });

  /**
   * Opens the account dialog from the data node `label` of `type`. A loaded machine can swallow
   * the double-click while the editor is still busy: then the trays are closed and it tries again.
   */
  const openAccount = async (type: string, label: string): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const box = await (await canvasNode(type, label)).boundingBox();
        assert.ok(box);
        await page.mouse.dblclick(box.x + box.width / 2, box.y + 15);
        await page.locator('#node-input-btn-account-edit').click({ timeout: 8000 });
        await page.locator('#node-config-input-market').waitFor({ state: 'visible', timeout: 8000 });
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        await page.keyboard.press('Control+Escape');
        await page.keyboard.press('Control+Escape');
        await page.waitForTimeout(500);
      }
    }
  };

  it('opens the account config dialog: credential fields are password inputs; points it at the simulator', async function () {
    assert.ok(sim);
    await openAccount('binance-order-update', 'orders and fills');
    for (const f of ['apiKey', 'apiSecret', 'privateKey', 'passphrase']) {
      assert.equal(await page.locator(`#node-config-input-${f}`).getAttribute('type'), 'password', `${f} is not a password input`);
    }
    const urls = sim.urlsFor('spot');
    await page.locator('#node-config-input-environment').selectOption('custom');
    await page.locator('#node-config-input-restUrl').fill(urls.restUrl);
    await page.locator('#node-config-input-wsUrl').fill(urls.wsUrl);
    await page.locator('#node-config-input-apiKey').fill(apiKey);
    await page.locator('#node-config-input-apiSecret').fill(apiSecret);
    // the typed key and secret are masked on screen
    assert.equal(await page.locator('#node-config-input-apiSecret').inputValue(), apiSecret);
    await page.locator('#node-config-binance-test').click();
    await page.locator('#node-config-binance-test-result.binance-account-ok').waitFor({ state: 'visible' });
    await shot('03b-account-test-connection');
    await page.locator('#node-config-input-name').evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await shot('03-account-config');
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-config-input-market').waitFor({ state: 'detached' });
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-account').waitFor({ state: 'detached' });
  });

  it('deploys; every Binance node shows a green dot "connected"', async function () {
    assert.ok(nr);
    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: /deployed/i }).first().waitFor({ state: 'visible' });
    await dismissNotifications();
    // deselect the imported nodes (a click on empty workspace)
    const ws = await page.locator('#red-ui-workspace-chart').boundingBox();
    assert.ok(ws);
    await page.mouse.click(ws.x + ws.width - 60, ws.y + ws.height - 60);
    for (const [type, label] of EXAMPLE_NODES) {
      const n = await canvasNode(type, label);
      await n.locator('.red-ui-flow-node-status-dot-green').waitFor({ state: 'visible' });
      await n.locator('text.red-ui-flow-node-status-label', { hasText: /^connected/ }).waitFor({ state: 'visible' });
    }
    // the secrets went to the runtime's credential store, never back to the editor
    const flows = await (await fetch(`${nr.url}/flows`)).text();
    assert.ok(!flows.includes(apiSecret) && !flows.includes(apiKey), 'GET /flows returns the key');
    const acct = (JSON.parse(flows) as Array<{ id: string; type: string }>).find((n) => n.type === 'binance-account');
    assert.ok(acct, 'no account node deployed');
    const creds = await (await fetch(`${nr.url}/credentials/binance-account/${acct.id}`)).text();
    assert.ok(!creds.includes(apiSecret) && !creds.includes(apiKey), 'the credentials endpoint returns the key');
    assert.match(creds, /"has_apiSecret":true/);
    assert.ok(!nr.output.includes(apiSecret) && !nr.output.includes(apiKey), 'the key appears in the runtime log');
    await shot('04-deployed-connected');
  });

  it('a fill on the exchange appears in the Debug sidebar', async function () {
    assert.ok(sim);
    // open the Debug sidebar (Node-RED 4: a sidebar tab, or its icon when the tabs are collapsed;
    // Node-RED 5 shows the debug messages panel from the start)
    const debug = page.locator('.red-ui-debug-content').locator('visible=true');
    if ((await debug.count()) === 0) {
      await page.locator('#red-ui-tab-debug-link-button, #red-ui-tab-debug a.red-ui-tab-label').locator('visible=true').first().click();
    }
    await debug.first().waitFor({ state: 'visible' });
    // a wider sidebar (drag its separator), so a message's fields read on one line each
    const separator = page.locator('#red-ui-sidebar-separator').locator('visible=true');
    const sep = (await separator.count()) > 0 ? await separator.first().boundingBox() : null;
    if (sep) {
      await page.mouse.move(sep.x + sep.width / 2, sep.y + sep.height / 2);
      await page.mouse.down();
      await page.mouse.move(sep.x - 150, sep.y + sep.height / 2, { steps: 5 });
      await page.mouse.move(sep.x - 300, sep.y + sep.height / 2, { steps: 5 });
      await page.mouse.up();
    }
    const { order, trades } = sim.runOrderLifecycle(accountId, {
      market: 'spot',
      symbol: 'BTCUSDT',
      side: 'BUY',
      quantity: '0.0125',
      price: '61234.5',
    });
    assert.equal(trades.length, 1);
    // two order updates arrive in Debug: NEW, then the fill (TRADE); newest at the bottom
    const updates = page.locator('.red-ui-debug-msg').filter({ hasText: 'node: order update' }).filter({ hasText: 'BTCUSDT' });
    await until(async () => (await updates.count()) >= 2, 15_000, async () => `two order updates in Debug`);
    assert.equal(await updates.count(), 2);
    const msg = updates.nth(1);
    await msg.scrollIntoViewIfNeeded();
    // open the message and its payload: the fill's fields as the user reads them
    await msg.locator('.red-ui-debug-msg-object-header').locator('visible=true').first().click();
    await msg.locator('.red-ui-debug-msg-object-key', { hasText: /^payload$/ }).locator('visible=true').first().click();
    const body = msg.locator('.red-ui-debug-msg-payload');
    await body.getByText('"TRADE"', { exact: true }).first().waitFor({ state: 'visible' });
    await body.getByText('"TRADE"', { exact: true }).first().evaluate((el) => el.scrollIntoView({ block: 'center' }));
    const text = await body.innerText();
    assert.match(text, new RegExp(`orderId[^\\n]*\\n?[^\\n]*${order.orderId}`));
    assert.match(text, /"FILLED"/);
    assert.match(text, /"0\.0125/);
    assert.match(text, /"61234\.5/);
    await shot('05-debug-fill');
  });


  it('Test connection with the key fields emptied reports the missing key (the saved key is not used)', async function () {
    await openAccount('binance-order-update', 'orders and fills');
    // the saved key shows as a placeholder; emptied, it is no key, as it would be after Update + Deploy.
    // The editor fills the placeholders when the saved credentials have loaded: wait for that first.
    await page.waitForFunction(() =>
      ['apiKey', 'apiSecret'].every((f) => (document.querySelector(`#node-config-input-${f}`) as HTMLInputElement | null)?.value === '__PWRD__'),
    );
    // On a loaded machine the editor has been seen to put a placeholder back after the fill: empty
    // both fields until both read empty, then test.
    const emptied = (): Promise<boolean> =>
      page.evaluate(() => ['apiKey', 'apiSecret'].every((f) => (document.querySelector(`#node-config-input-${f}`) as HTMLInputElement | null)?.value === ''));
    for (let i = 0; i < 5 && !(await emptied()); i++) {
      await page.locator('#node-config-input-apiKey').fill('');
      await page.locator('#node-config-input-apiSecret').fill('');
      await page.waitForTimeout(200);
    }
    assert.ok(await emptied(), 'both key fields empty before the test');
    await page.locator('#node-config-binance-test').click();
    const result = page.locator('#node-config-binance-test-result.binance-account-failed');
    await result.waitFor({ state: 'visible' });
    // the detail is the catalog's text for the core's code (binance-account.errors.missing-api-key)
    assert.match(await result.innerText(), /The configuration is incomplete\.\s+The API key is missing/);
    // the button sits with the credentials, above the recovery options
    const test = await page.locator('#node-config-binance-test').boundingBox();
    const recovery = await page.locator('#node-config-input-recovery').boundingBox();
    assert.ok(test && recovery && test.y < recovery.y, 'Test connection is below the recovery options');
    await shot('06-test-connection-emptied');
    await page.locator('#node-config-dialog-cancel').click();
    await page.locator('#node-config-input-market').waitFor({ state: 'detached' });
    await page.locator('#node-dialog-cancel').click();
    await page.locator('#node-input-account').waitFor({ state: 'detached' });
  });

  it('the live dashboard: imported from Examples, deployed, and a simulator fill appears on its page', async function () {
    assert.ok(sim && nr && context);
    await chooseExample('live-dashboard');
    await page.locator('#red-ui-clipboard-dialog-ok').click();
    const ws = page.locator('#red-ui-workspace-chart');
    const box = await ws.boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + 120, box.y + 420);
    await page.mouse.move(box.x + 140, box.y + 440);
    await page.mouse.click(box.x + 140, box.y + 440);
    await dismissNotifications();
    // its own account (not the getting-started one): point it at the simulator
    await openAccount('binance-order-update', 'fills');
    assert.equal(await page.locator('#node-config-input-name').inputValue(), 'Binance account (live dashboard)');
    const urls = sim.urlsFor('spot');
    await page.locator('#node-config-input-environment').selectOption('custom');
    await page.locator('#node-config-input-restUrl').fill(urls.restUrl);
    await page.locator('#node-config-input-wsUrl').fill(urls.wsUrl);
    await page.locator('#node-config-input-apiKey').fill(apiKey);
    await page.locator('#node-config-input-apiSecret').fill(apiSecret);
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-config-input-market').waitFor({ state: 'detached' });
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-account').waitFor({ state: 'detached' });
    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: /deployed/i }).first().waitFor({ state: 'visible' });
    await dismissNotifications();
    const fills = await canvasNode('binance-order-update', 'fills');
    await fills.locator('.red-ui-flow-node-status-dot-green').waitFor({ state: 'visible' });

    const dash = await context.newPage();
    try {
      await dash.setViewportSize({ width: 1280, height: 900 });
      await dash.goto(`${nr.url}/dashboard/binance`);
      await dash.getByText('Latest fills').first().waitFor({ state: 'visible', timeout: 30_000 });
      await dash.getByText('connected', { exact: false }).first().waitFor({ state: 'visible' });
      const { order } = sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'SELL', quantity: '0.25', price: '3012.5' });
      await dash.locator('table').getByText(String(order.orderId)).first().waitFor({ state: 'visible' });
      await dash.locator('table').getByText('ETHUSDT').first().waitFor({ state: 'visible' });
      await dash.getByText('USDT', { exact: true }).first().waitFor({ state: 'visible' });
      await dash.waitForTimeout(500); // let the chart finish its animation for the screenshot
      fs.mkdirSync(shots, { recursive: true });
      await dash.screenshot({ path: path.join(shots, '07-dashboard.png'), fullPage: true });
    } finally {
      await dash.close();
    }
  });

  it('a wrong secret deployed: the nodes say why ("bad signature: check secret / key type")', async function () {
    await openAccount('binance-order-update', 'orders and fills');
    await page.locator('#node-config-input-apiSecret').fill('WRONG-SECRET-for-the-status-test-0123456789');
    await page.locator('#node-config-dialog-ok').click();
    await page.locator('#node-config-input-market').waitFor({ state: 'detached' });
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-account').waitFor({ state: 'detached' });
    await page.locator('#red-ui-header-button-deploy').click();
    await page.locator('.red-ui-notification', { hasText: /deployed/i }).first().waitFor({ state: 'visible' });
    await dismissNotifications();
    const n = await canvasNode('binance-order-update', 'orders and fills');
    await n.locator('text.red-ui-flow-node-status-label', { hasText: 'bad signature: check secret / key type' }).waitFor({ state: 'visible' });
    await n.locator('.red-ui-flow-node-status-ring-red').waitFor({ state: 'visible' });
    await shot('08-status-with-reason');
  });
});
