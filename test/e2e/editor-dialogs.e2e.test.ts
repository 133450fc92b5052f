/**
 * Every node dialog in a real editor (Debian's Chromium, playwright-core, a real Node-RED): the
 * dialogs are built from each node's .html and the editor code they share
 * (resources/binance-editor.js, served by Node-RED). A flow with non-default values is deployed;
 * each node's dialog opens with its values in place, the shared rows (account, message options,
 * name) among them, with translated labels; Done without a change leaves the node unchanged (the
 * properties a saved flow holds).
 *
 * Chromium: CHROMIUM_PATH or /usr/bin/chromium. Without it the test is skipped locally, and fails when CI is set.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type Page } from 'playwright-core';
import { NodeRedProcess, readFlow, repoRoot, type FlowNode, needChromium, openChromium } from './runtime';


interface EditorNode {
  id: string;
  type: string;
  changed?: boolean;
  _def: { defaults: Record<string, unknown> };
  [k: string]: unknown;
}
interface EditorRED {
  nodes: {
    node(id: string): EditorNode | null;
    eachNode(cb: (n: EditorNode) => void): void;
    eachConfig(cb: (n: EditorNode) => void): void;
    convertNode(n: EditorNode, opts?: unknown): Record<string, unknown>;
  };
  editor: { edit(n: EditorNode): void; editConfig(name: string, type: string, id: string): void };
}

/** The getting-started example with non-default values for the shared and the nodes' own options. */
function flow(): FlowNode[] {
  const nodes = readFlow(path.join(repoRoot(), 'examples', 'getting-started.json'));
  for (const n of nodes) {
    // the example's account predates some options: a dialog's Done would add them (as it always has)
    if (n.type === 'binance-account') Object.assign(n, { coinmApi: '', recoveryMaxSymbols: '', recoveryMaxOrders: '', liveHoldLimit: '', recoveryLookback: '24' });
    if (!n.type.startsWith('binance-') || n.type === 'binance-account') continue;
    // both values of a checkbox, so that an input the editor did not fill (unchecked) shows
    n.isoTimes = n.type === 'binance-order-update' || n.type === 'binance-stream-status' ? false : true;
    if ('numbers' in n) n.numbers = true;
    if ('showLastEvent' in n) n.showLastEvent = !n.showLastEvent;
    if (n.type === 'binance-order-update') Object.assign(n, { symbols: 'BTCUSDT, ETH*', sides: 'SELL', executionTypes: 'fills', includeTradeLite: true });
    if (n.type === 'binance-account-position') Object.assign(n, { output: 'snapshot', assets: 'BTC', includeMarginCall: true });
    if (n.type === 'binance-balance-update') Object.assign(n, { withdraw: false, assets: 'USDT' });
  }
  return nodes;
}

describe('editor end-to-end in Chromium: every node dialog (shared rows from resources/)', function () {
  this.timeout(60_000);
  let nr: NodeRedProcess | undefined;
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  let page: Page;
  const deployed = flow();
  const ours = deployed.filter((n) => n.type.startsWith('binance-'));

  before(async function () {
    needChromium(this);
    nr = await NodeRedProcess.start();
    await nr.deploy(deployed);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-e2e-dialogs-'));
    ({ context, page } = await openChromium(profile));
    await page.goto(`${nr.url}/`, { timeout: 45_000 });
    await page.waitForFunction((ids) => ids.every((id) => (window as unknown as { RED?: EditorRED }).RED?.nodes?.node(id)), ours.map((n) => n.id), { timeout: 45_000 });
  });

  afterEach(async function () {
    // a failed step leaves its dialog open: close it for the next node
    if (this.currentTest?.state !== 'failed' || !page) return;
    for (const cancel of ['#node-config-dialog-cancel', '#node-dialog-cancel']) {
      const b = page.locator(cancel).locator('visible=true');
      if ((await b.count()) > 0) await b.first().click().catch(() => undefined);
    }
  });

  after(async function () {
    await context?.close().catch(() => undefined);
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await nr?.stop();
  });

  /** The node as the editor would save it (export form, without position and wires). */
  const saved = (id: string): Promise<Record<string, unknown>> =>
    page.evaluate((nodeId) => {
      const RED = (window as unknown as { RED: EditorRED }).RED;
      const n = RED.nodes.node(nodeId);
      if (!n) throw new Error(`no node ${nodeId}`);
      const out = RED.nodes.convertNode(n);
      for (const k of ['x', 'y', 'z', 'wires', 'g']) delete out[k];
      return { ...out, changed: !!n.changed };
    }, id);

  for (const node of ours) {
    it(`${node.type}: the dialog shows the saved values, shared rows included, translated; Done changes nothing`, async function () {
      const config = node.type === 'binance-account';
      const prefix = config ? 'node-config-input' : 'node-input';
      const before = await saved(node.id);
      assert.equal(before.changed, false);
      await page.evaluate(
        ([id, cfg]) => {
          const RED = (window as unknown as { RED: EditorRED }).RED;
          const n = RED.nodes.node(id as string);
          if (!n) throw new Error('no node');
          if (cfg) RED.editor.editConfig('', 'binance-account', n.id);
          else RED.editor.edit(n);
        },
        [node.id, config] as const,
      );
      await page.locator(`#${prefix}-name`).waitFor({ state: 'visible' });
      const form = page.locator(config ? '#node-config-dialog-edit-form' : '#dialog-form');
      // the dialog holds an input for each saved property (the shared ones included) with its value
      const props = Object.keys(before).filter((k) => !['id', 'type', 'changed', 'name'].includes(k));
      assert.ok(props.length > 0);
      assert.equal(await page.locator(`#${prefix}-name`).inputValue(), node.name);
      for (const p of props) {
        const input = page.locator(`#${prefix}-${p}`);
        assert.equal(await input.count(), 1, `${node.type}: no input for ${p}`);
        const kind = await input.evaluate((el) => (el as HTMLInputElement).type);
        if (kind === 'checkbox') assert.equal(await input.isChecked(), before[p], `${node.type}: ${p}`);
        else if (kind !== 'hidden') assert.equal(await input.inputValue(), String(before[p]), `${node.type}: ${p}`);
      }
      if (!config) assert.equal(await page.locator('#node-input-account').inputValue(), before.account);
      // every label is translated (no raw catalog key on screen)
      const text = await form.innerText();
      assert.ok(!/binance-[a-z-]+\.(label|placeholder|output|sides|executionTypes)\./.test(text), `${node.type}: a raw key in the dialog:\n${text}`);
      assert.ok(text.includes('Name'), `${node.type}: the name row's label`);
      if (!config) assert.ok(/Account/.test(text), `${node.type}: the account row's label`);
      await page.locator(config ? '#node-config-dialog-ok' : '#node-dialog-ok').click();
      await page.locator(`#${prefix}-name`).waitFor({ state: 'detached' });
      const after = await saved(node.id);
      if (config) {
        // the account's credentials (none saved here) are sent with it once its dialog was open: the
        // editor marks it changed for them, as it always has; its properties must not change
        delete after.credentials;
        after.changed = false;
      }
      assert.deepEqual(after, before, `${node.type}: Done without a change changed the node`);
    });
  }
});
