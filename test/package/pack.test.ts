/**
 * What a user installs: `npm pack` must ship the built nodes with their editor files, locales and
 * icons, the examples, the licence, readme and changelog, and nothing else (no tests, no simulator,
 * no TypeScript sources, no fixtures or keys); and that tarball, installed into a fresh user
 * directory, must work in a Node-RED of its own as the README says:
 *  - every node type registers without error, with its help, its palette label and every label of
 *    its dialog resolved from the served message catalog (no raw "binance-account.label.x"), its
 *    icon served, and the examples listed under the package and served as shipped;
 *  - the getting-started example, taken from the runtime's example library and set up only through
 *    documented account properties (environment `custom`, REST and WebSocket URL, API key and
 *    secret), connects to an exchange that is NOT our simulator (doc-exchange/, written from
 *    Binance's documentation alone) and delivers its fill to the Debug node, with every status
 *    green: spot, cross margin (the token request's unlisted parameters ignored or refused), USDⓈ-M
 *    futures (both `/private` forms of `futuresPathForm`, the server's ping answered), COIN-M
 *    futures (dstream) and portfolio margin (an algo order update in the documented `{fs, ao}` frame);
 *  - no secret (API key and secret, and the listenKeys and listenTokens issued) is in the exported
 *    flow, the flow files, the Debug sidebar or the runtime's output.
 *
 * The tarball's dependencies come from this repository's node_modules (tests reach no registry), as
 * links, so that the package can only resolve what it declares. With PACK_INSTALL=npm (CI only: it
 * needs the npm registry) the tarball is installed with `npm install <tgz>` instead, and
 * NODE_RED_PATH may name a freshly installed Node-RED.
 */
import { strict as assert } from 'node:assert';
import { builtinModules } from 'node:module';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Comms, NodeRedProcess, until, type FlowNode } from '../e2e/runtime';
import { RESOURCE, RESOURCE_URL, labelKeys, loadEditor } from '../support/editor-source';
import { FuturesDocExchange } from './doc-exchange/futures';
import { MarginDocExchange } from './doc-exchange/margin';
import { PortfolioMarginDocExchange } from './doc-exchange/portfolio-margin';
import { DocExchange } from './doc-exchange/spot';

const root = path.resolve(__dirname, '..', '..', '..');

interface PackFile { path: string }
interface PackResult { filename: string; files: PackFile[] }
interface PackageJson {
  name: string;
  version: string;
  license?: string;
  keywords?: string[];
  engines?: Record<string, string>;
  main?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  'node-red': { version?: string; nodes: Record<string, string> };
}

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;

/** `npm pack` into `dir` (the build is made by `npm test`'s pretest, so no prepack here): the tarball and its files. */
function pack(dir: string): { tgz: string; files: string[] } {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const parsed = JSON.parse(out) as PackResult[];
  return { tgz: path.join(dir, parsed[0].filename), files: parsed[0].files.map((f) => f.path) };
}

/** Every module name a packed .js file requires that is not a relative path. */
function bareRequires(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/\brequire\(\s*["']([^"'.][^"']*)["']\s*\)/g)) out.add(m[1]);
      }
    }
  };
  walk(dir);
  return out;
}

/** The package's root folder name for a module specifier (`axios/lib/x` → `axios`, `@a/b/c` → `@a/b`). */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describe('package contents (npm pack)', function () {
  this.timeout(60000);
  let tmp: string;
  let tgz: string;
  let files: string[];

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-pack-'));
    ({ tgz, files } = pack(tmp));
  });

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('ships no tests, simulator, sources, benchmarks, source maps, build info or key material', function () {
    const forbidden = files.filter(
      (f) =>
        /(^|\/)test\//.test(f) ||
        /(^|\/)simulator\//.test(f) ||
        /(^|\/)bench\//.test(f) ||
        /(^|\/)n8n\//.test(f) ||
        f.startsWith('.ci/') ||
        f.startsWith('scripts/') ||
        f.startsWith('docs/') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        f.endsWith('.map') ||
        f.endsWith('.tsbuildinfo') ||
        /\.(pem|key|p8|crt|tgz)$/i.test(f) ||
        /fixture/i.test(f),
    );
    assert.deepEqual(forbidden, []);
  });

  it('ships every registered node with its .html beside the .js, and the icons and locales', function () {
    const nodes = Object.values(pkg['node-red'].nodes);
    assert.ok(nodes.length > 0, 'package.json node-red.nodes is empty');
    for (const js of nodes) {
      assert.ok(files.includes(js), `${js} not packed`);
      assert.ok(files.includes(js.replace(/\.js$/, '.html')), `${js} has no .html beside it`);
      const dir = path.posix.dirname(js);
      assert.ok(files.some((f) => f.startsWith(`${dir}/icons/`) && f.endsWith('.svg')), `no icons beside ${js}`);
      const base = path.posix.basename(js, '.js');
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.json`), `no message catalog for ${base}`);
      assert.ok(files.includes(`${dir}/locales/en-US/${base}.html`), `no help for ${base}`);
    }
  });

  it('ships the editor code the node dialogs share (resources/, which Node-RED serves to the editor)', function () {
    assert.ok(files.includes(RESOURCE), `${RESOURCE} missing`);
  });

  it('ships the licence, readme, changelog and every example', function () {
    for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) assert.ok(files.includes(f), `${f} missing`);
    const examples = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.json'));
    assert.ok(examples.length > 0);
    for (const e of examples) assert.ok(files.includes(`examples/${e}`), `examples/${e} missing`);
  });

  it('package.json: Node-RED ≥ 4 and Node ≥ 20, the node-red keyword, exact runtime dependencies, no install scripts', function () {
    assert.ok(pkg.keywords?.includes('node-red'), 'the "node-red" keyword lists the package in the flow library');
    assert.equal(pkg.license, 'MIT');
    assert.match(pkg['node-red'].version ?? '', /^>=4(\.|$)/);
    assert.match(pkg.engines?.node ?? '', /^>=20(\.|$)/);
    // the Node-RED we develop on is pinned, and the oldest major the section names (4) is one of
    // the CI matrix's cells (.ci/cells/*/package.json)
    assert.match(pkg.devDependencies?.['node-red'] ?? '', /^\d+\.\d+\.\d+$/);
    const cells = path.join(root, '.ci', 'cells');
    const cellRed = fs.readdirSync(cells).map((c) => (JSON.parse(fs.readFileSync(path.join(cells, c, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies['node-red']);
    assert.ok(cellRed.some((v) => /^4\.\d+\.\d+$/.test(v)), `a CI cell runs Node-RED 4 (cells: ${cellRed.join(', ')})`);
    assert.deepEqual(Object.keys(pkg.dependencies ?? {}).sort(), ['@redis/client', 'axios', 'ws']);
    for (const [name, v] of Object.entries(pkg.dependencies ?? {})) assert.match(v, /^\d+\.\d+\.\d+$/, `${name} is not pinned`);
    assert.equal(pkg.peerDependencies, undefined, 'Node-RED packages declare no peer dependencies');
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(pkg.scripts?.[s], undefined, `a user's install would run "${s}"`);
  });

  it('the packed code requires only Node built-ins and its declared dependencies (never a dev dependency)', function () {
    const dir = path.join(tmp, 'unpacked');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1']);
    const allowed = new Set([...Object.keys(pkg.dependencies ?? {})]);
    const builtins = new Set(builtinModules);
    const stray = [...bareRequires(path.join(dir, 'dist'))].filter((m) => !builtins.has(m.replace(/^node:/, '')) && !allowed.has(packageOf(m)));
    assert.deepEqual(stray, []);
  });

  describe('the tarball in a fresh Node-RED, as a user installs it', function () {
    this.timeout(120000);
    const apiKey = `k${crypto.randomBytes(24).toString('hex')}`;
    const apiSecret = `s${crypto.randomBytes(24).toString('hex')}`;
    let nr: NodeRedProcess;
    let comms: Comms;
    let exchange: DocExchange;
    /** The listenTokens and listenKeys the doc exchanges issued: stream credentials, never to be shown either. */
    const issued: string[] = [];
    /** Our nodes (not the account) of the flow deployed last. */
    let ours: FlowNode[] = [];
    const allGreen = (): boolean => ours.every((n) => comms.statuses.get(n.id)?.fill === 'green');

    /** The tarball into `userDir`, as `npm install <tgz>` would leave it. */
    function install(userDir: string): void {
      fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'fresh-user-dir', private: true }, null, 2));
      if (process.env.PACK_INSTALL === 'npm') {
        execFileSync('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', tgz], { cwd: userDir, stdio: 'ignore', timeout: 300_000 });
        return;
      }
      const dir = path.join(userDir, 'node_modules', pkg.name);
      fs.mkdirSync(dir, { recursive: true });
      execFileSync('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1']);
      // Only the declared dependencies, at their pinned versions, as links into our node_modules.
      for (const [dep, version] of Object.entries(pkg.dependencies ?? {})) {
        const src = path.join(root, 'node_modules', dep);
        const installed = (JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as { version: string }).version;
        assert.equal(installed, version, `node_modules/${dep} is not the pinned version`);
        const link = path.join(userDir, 'node_modules', dep);
        fs.mkdirSync(path.dirname(link), { recursive: true }); // a scoped name (@redis/client)
        fs.symlinkSync(src, link, 'dir');
      }
    }

    before(async function () {
      exchange = await DocExchange.start({ apiKey, apiSecret });
      nr = await NodeRedProcess.start({ install });
      comms = await Comms.connect(nr);
    });

    after(async function () {
      comms?.close();
      await nr?.stop();
      await exchange?.close();
    });

    async function text(p: string, accept = 'application/json'): Promise<{ status: number; type: string; body: string }> {
      const res = await fetch(`${nr.url}${p}`, { headers: { accept } });
      return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
    }

    it('registers every node type of package.json, enabled and without error, from the installed tarball', async function () {
      const mod = (await nr.get(`/nodes/${pkg.name}`)) as { version: string; path: string; nodes: Array<{ name: string; types: string[]; enabled: boolean; err?: unknown }> };
      assert.equal(mod.version, pkg.version);
      assert.equal(fs.realpathSync(mod.path), fs.realpathSync(path.join(nr.userDir, 'node_modules', pkg.name)), 'loaded from the user directory');
      for (const type of Object.keys(pkg['node-red'].nodes)) {
        const set = mod.nodes.find((n) => n.name === type);
        assert.ok(set, `${type} not registered`);
        assert.equal(set.err, undefined, `${type}: ${JSON.stringify(set.err)}`);
        assert.equal(set.enabled, true);
        assert.deepEqual(set.types, [type]);
      }
      assert.ok(!/\[(error|warn)\].*binance/i.test(nr.output.split('Started flows')[0]), `load errors:\n${nr.output}`);
    });

    it('serves each node’s help, palette label, dialog labels (no raw i18n keys) and icon', async function () {
      const catalogs = (await nr.get('/nodes/messages?lng=en-US')) as Record<string, Record<string, unknown>>;
      const html = (await text('/nodes', 'text/html')).body;
      const parts = html.split(/<!-- --- \[red-module:([^\]]+)\] --- -->/);
      const sets = new Map<string, string>();
      for (let i = 1; i < parts.length; i += 2) sets.set(parts[i], parts[i + 1]);
      // the editor code the dialogs share, from where each node file loads it (relative to the editor)
      const shared = await text(`/${RESOURCE_URL}`, '*/*');
      assert.equal(shared.status, 200, `${RESOURCE_URL} not served`);
      assert.match(shared.type, /javascript/);
      const editor = loadEditor(shared.body, [...sets].filter(([id]) => id.startsWith(`${pkg.name}/`)).map(([, h]) => h));
      const icons = ((await nr.get('/icons')) as Record<string, string[]>)[pkg.name] ?? [];
      const look = (c: unknown, key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), c);
      for (const type of Object.keys(pkg['node-red'].nodes)) {
        const id = `${pkg.name}/${type}`;
        const h = sets.get(id);
        assert.ok(h, `no editor HTML served for ${id}`);
        const cat = catalogs[id];
        assert.ok(cat, `no message catalog served for ${id}`);
        assert.ok(h.includes(`<script src="${RESOURCE_URL}"></script>`), `${type}: does not load the shared editor code`);
        const ed = editor.get(type);
        assert.ok(ed, `${type}: not registered by the served scripts`);
        // the served file with its dialog as the editor shows it (the shared rows in place)
        const dialog = `${h}\n${ed.template}`;
        const keys = new Set<string>(labelKeys(ed.definition));
        for (const m of dialog.matchAll(/data-i18n="([^"]+)"/g)) for (const k of m[1].split(';')) keys.add(k.replace(/^\[[a-z]+\]/, ''));
        for (const m of dialog.matchAll(/\b_\('([a-z-]+\.[A-Za-z0-9.-]*[A-Za-z0-9])'\s*[,)]/g)) keys.add(m[1]);
        assert.ok(keys.size > 3, `${type}: too few labels found (${keys.size})`);
        for (const k of keys) assert.equal(typeof look(cat, k), 'string', `${type}: label key ${k} does not resolve`);
        assert.equal(typeof look(cat, `${type}.paletteLabel`), 'string', `${type}: no palette label`);
        const help = new RegExp(`<script type="text/html" data-help-name="${type}">([\\s\\S]*?)</script>`).exec(h);
        assert.ok(help && help[1].replace(/<[^>]+>/g, '').trim().length > 100, `${type}: no help text`);
        for (const m of h.matchAll(/\bicon: '([^']+)'/g)) {
          assert.ok(icons.includes(m[1]), `${type}: icon ${m[1]} not served (${icons.join(', ')})`);
          const r = await text(`/icons/${pkg.name}/${m[1]}`, '*/*');
          assert.equal(r.status, 200);
          assert.match(r.type, /^image\/svg\+xml/);
          assert.match(r.body, /<svg[\s>]/);
        }
      }
    });

    it('lists the examples under the package (Import ▸ Examples) and serves each as shipped', async function () {
      const listed = ((await nr.get(`/library/examples/flows/${pkg.name}`)) as Array<{ fn?: string }>).map((e) => e.fn).sort();
      const shipped = files.filter((f) => /^examples\/[^/]+\.json$/.test(f)).map((f) => path.posix.basename(f, '.json')).sort();
      assert.deepEqual(listed, shipped);
      for (const name of shipped) {
        const served = (await nr.get(`/library/examples/flows/${pkg.name}/${name}`)) as FlowNode[];
        assert.deepEqual(served, JSON.parse(fs.readFileSync(path.join(root, 'examples', `${name}.json`), 'utf8')));
      }
    });

    /**
     * The getting-started example from the runtime's example library, its account set up only
     * through documented properties (environment `custom`, REST and WebSocket URL, `market`, key),
     * deployed: resolves with the first message its order node sends to Debug for `market`, once
     * every one of our nodes shows a green status.
     */
    async function deployGettingStarted(
      market: string,
      restUrl: string,
      wsUrl: string,
      requests: () => string[],
      extra: Record<string, unknown> = {},
      /** Properties of the example's order node that the test changes (as a user would in its dialog). */
      orderNodeProps: Record<string, unknown> = {},
    ): Promise<Record<string, unknown> & { fills: () => Array<Record<string, unknown>> }> {
      const example = (await nr.get(`/library/examples/flows/${pkg.name}/getting-started`)) as FlowNode[];
      const tab: FlowNode = { id: 'fresh.tab', type: 'tab', label: 'Getting started' };
      const flow: FlowNode[] = [tab];
      for (const n of example) {
        if (n.type === 'binance-account') {
          flow.push({ ...n, market, environment: 'custom', restUrl, wsUrl, keyType: 'hmac', ...extra, credentials: { apiKey, apiSecret } });
        } else if (n.type === 'binance-order-update') flow.push({ ...n, ...orderNodeProps, z: tab.id });
        else flow.push({ ...n, z: tab.id });
      }
      const orderNode = example.find((n) => n.type === 'binance-order-update');
      assert.ok(orderNode);
      const debugId = ((orderNode.wires as string[][])[0] ?? [])[0];
      assert.ok(debugId, 'the order node is wired to a Debug node');
      const seen = comms.debug().length;
      ours = flow.filter((n) => n.type.startsWith('binance-') && n.type !== 'binance-account');
      for (const n of ours) comms.statuses.delete(n.id); // only the statuses of this deploy count
      await nr.deploy(flow);
      const fills = (): Array<Record<string, unknown>> =>
        comms.debug().slice(seen).filter((d) => d.id === debugId).map((d) => JSON.parse(String(d.msg)) as Record<string, unknown>).filter((m) => m.market === market);
      await until(() => fills().length > 0, 15_000, () => `a ${market} fill in Debug; exchange saw ${requests().join(', ')}; statuses ${JSON.stringify([...comms.statuses])}\n${nr.output.slice(-3000)}`);
      // every status our nodes show is green, and text, not a catalog key
      await until(allGreen, 10_000, () => `${market}: green statuses: ${JSON.stringify([...comms.statuses])}; exchange saw ${requests().join(', ')}`);
      for (const n of ours) assert.doesNotMatch(String(comms.statuses.get(n.id)?.text), /^binance-[a-z-]+\.[A-Za-z.-]+$/, `${n.type} shows a raw key`);
      return Object.assign(fills()[0], { fills });
    }

    /**
     * A dropped connection: the stream reconnects, recovers over REST (every request accepted by the
     * doc exchange), turns green again, and every fill the exchange pushed reached Debug exactly once
     * (the one recovered over REST, delivered live before, not again).
     */
    async function dropAndRecover(x: { drop(): void; refused: string[]; requests: string[]; pushed: number[] }, fills: () => Array<Record<string, unknown>>, connections: () => number): Promise<void> {
      const before = connections();
      const rest = x.requests.length;
      const refused = x.refused.length;
      x.drop();
      await until(() => connections() > before, 10_000, () => `a reconnect; exchange saw ${x.requests.join(', ')}`);
      await until(allGreen, 10_000, () => `green again: ${JSON.stringify([...comms.statuses])}; refused ${x.refused.join('; ')}`);
      await until(() => fills().length >= x.pushed.length, 10_000, () => `${x.pushed.length} fills in Debug, got ${fills().length}`);
      assert.ok(x.requests.slice(rest).some((r) => /^GET \/(fapi|dapi|sapi|api)\/.*(userTrades|myTrades)$/.test(r)), `recovery asked for the trades: ${x.requests.slice(rest).join(', ')}`);
      assert.deepEqual(x.refused.slice(refused), [], 'no REST request refused');
      const ids = fills().map((m) => String(m.eventId));
      assert.equal(new Set(ids).size, ids.length, `each fill once: ${ids.join(', ')}`);
      assert.equal(ids.length, x.pushed.length, `every fill pushed, once: ${ids.join(', ')}`);
    }

    it('the getting-started example, set up through the documented account properties, delivers a fill from a Binance-documented exchange to Debug', async function () {
      const msg = await deployGettingStarted('spot', exchange.restUrl, exchange.wsUrl, () => exchange.requests);
      assert.equal(msg.topic, 'ETHBTC');
      assert.equal(msg.eventType, 'executionReport');
      assert.equal(msg.eventId, `fill:spot:ETHBTC:${exchange.pushed[0]}:12345`);
      const p = msg.payload as Record<string, unknown>;
      assert.equal(p.executionType, 'TRADE');
      assert.equal(p.orderStatus, 'FILLED');
      assert.equal(p.lastFilledQuantity, '1.00000000');
      assert.equal(p.commissionAsset, 'ETH');
      assert.ok(exchange.requests.includes('WS userDataStream.subscribe.signature'));
      await dropAndRecover(exchange, msg.fills, () => exchange.requests.filter((r) => r === 'WS userDataStream.subscribe.signature').length);
    });

    // Binance's pages do not say what a key-only (USER_STREAM) endpoint does with a timestamp and
    // signature it does not list: the client must stream under both readings (doc-exchange/common.ts).
    for (const unreadParams of ['ignore', 'refuse'] as const) {
      it(`cross margin (unlisted parameters: ${unreadParams}): a fill from a Binance-documented listenToken exchange reaches Debug, status green`, async function () {
        const x = await MarginDocExchange.start({ apiKey, apiSecret, unreadParams });
        try {
          const msg = await deployGettingStarted('margin', x.restUrl, x.wsUrl, () => x.requests);
          assert.ok(x.requests.includes('POST /sapi/v1/userListenToken'), x.requests.join(', '));
          assert.ok(x.requests.includes('WS userDataStream.subscribe.listenToken'), x.requests.join(', '));
          assert.ok(!x.requests.includes('WS userDataStream.subscribe.signature'), 'margin subscribes with its listenToken');
          assert.equal(msg.topic, 'ETHBTC');
          assert.equal(msg.eventType, 'executionReport');
          assert.equal(msg.eventId, `fill:margin:ETHBTC:${x.pushed[0]}:12345`);
          assert.equal((msg.payload as Record<string, unknown>).executionType, 'TRADE');
          await dropAndRecover(x, msg.fills, () => x.requests.filter((r) => r === 'WS userDataStream.subscribe.listenToken').length);
          issued.push(...x.tokens.keys());
        } finally {
          await x.close();
        }
      });
    }

    // the three values of the futures URL setting (issue 22): the query form with and without the
    // events= allow-list, and the path form
    for (const [label, extra, form, withEvents] of [
      ['default stream URL', {}, 'ws-query', true],
      ['futuresPathForm ws-query-no-events', { futuresPathForm: 'ws-query-no-events' }, 'ws-query', false],
      ['futuresPathForm ws-path', { futuresPathForm: 'ws-path' }, 'ws-path', false],
    ] as const) {
      it(`USDⓈ-M futures (${label}): a fill from a Binance-documented listenKey exchange on /private reaches Debug, status green; after a drop, recovered once`, async function () {
        const x = await FuturesDocExchange.start({ apiKey, apiSecret, family: 'usdm', unreadParams: 'refuse' });
        try {
          const msg = await deployGettingStarted('usdm-futures', x.restUrl, x.wsUrl, () => x.requests, extra);
          assert.ok(x.requests.includes('POST /fapi/v1/listenKey'), x.requests.join(', '));
          assert.equal(x.streams[0]?.form, form, JSON.stringify(x.streams));
          assert.equal(x.streams[0]?.events !== null, withEvents, JSON.stringify(x.streams));
          assert.ok(x.streams.every((s) => s.valid), JSON.stringify(x.streams));
          assert.equal(msg.topic, 'BTCUSDT');
          assert.equal(msg.eventType, 'ORDER_TRADE_UPDATE');
          assert.equal(msg.eventId, `fill:usdm-futures:BTCUSDT:${x.pushed[0]}:12345`);
          const p = msg.payload as Record<string, unknown>;
          assert.equal(p.executionType, 'TRADE');
          // live, it carries the order's status; when a recovery got it first (a reconnect raced the push on
          // a loaded machine), it is the same fill, once, from the trade history (which has no order status)
          if (msg.recovered !== true) assert.equal(p.orderStatus, 'FILLED');
          assert.equal(p.lastFilledQuantity, '0.001');
          assert.equal(p.commissionAsset, 'USDT');
          await until(() => x.pongs > 0, 5_000, () => 'a pong to the server ping');
          await dropAndRecover(x, msg.fills, () => x.streams.length);
          issued.push(...x.streams.map((st) => st.listenKey));
        } finally {
          await x.close();
        }
      });
    }

    it('COIN-M futures (default dapi): a fill from a Binance-documented dstream exchange reaches Debug, status green; after a drop, recovered once', async function () {
      const x = await FuturesDocExchange.start({ apiKey, apiSecret, family: 'coinm', unreadParams: 'refuse' });
      try {
        const msg = await deployGettingStarted('coinm-futures', x.restUrl, x.wsUrl, () => x.requests);
        assert.ok(x.requests.includes('POST /dapi/v1/listenKey'), x.requests.join(', '));
        assert.equal(x.streams[0]?.form, 'dstream-ws', JSON.stringify(x.streams));
        assert.equal(msg.topic, 'BTCUSD_200925');
        assert.equal(msg.eventType, 'ORDER_TRADE_UPDATE');
        assert.equal(msg.eventId, `fill:coinm-futures:BTCUSD_200925:${x.pushed[0]}:12345`);
        const p = msg.payload as Record<string, unknown>;
        assert.equal(p.lastFilledQuantity, '2');
        // COIN-M quantities are contracts: no l × L "quote quantity"; `ma` and the alias `i` as the page shows them
        assert.equal('lastQuoteQuantity' in p, false);
        assert.equal(p.marginAsset, 'BTC');
        assert.equal(p.accountAlias, 'SfsR');
        assert.equal(p.bidsBaseQuantity, '0');
        await until(() => x.pongs > 0, 5_000, () => 'a pong to the server ping');
        await dropAndRecover(x, msg.fills, () => x.streams.length);
        issued.push(...x.streams.map((st) => st.listenKey));
      } finally {
        await x.close();
      }
    });

    it("COIN-M unified (coinmApi fapi) and USDⓈ-M account nodes on one key: one /fapi listenKey carries both families; each fill reaches its node's Debug once, under its market; after a drop each recovers its own, asking only its own symbols", async function () {
      const x = await FuturesDocExchange.start({ apiKey, apiSecret, family: 'unified', unreadParams: 'refuse' });
      try {
        // the getting-started example twice on one key: as USDⓈ-M (ids as shipped) and as COIN-M 'fapi' (ids + '.cm')
        const example = (await nr.get(`/library/examples/flows/${pkg.name}/getting-started`)) as FlowNode[];
        const tab: FlowNode = { id: 'fresh.tab', type: 'tab', label: 'Getting started' };
        const flow: FlowNode[] = [tab];
        const orderDebug: Record<string, string> = {};
        for (const [market, suffix, extra] of [['usdm-futures', '', {}], ['coinm-futures', '.cm', { coinmApi: 'fapi' }]] as const) {
          const id = (v: string): string => `${v}${suffix}`;
          for (const n of example) {
            const c: FlowNode = { ...n, id: id(n.id) };
            if (Array.isArray(n.wires)) c.wires = (n.wires as string[][]).map((w) => w.map(id));
            if (typeof n.account === 'string') c.account = id(n.account);
            if (n.type === 'binance-account') {
              flow.push({ ...c, name: `${market} account`, market, environment: 'custom', restUrl: x.restUrl, wsUrl: x.wsUrl, keyType: 'hmac', ...extra, credentials: { apiKey, apiSecret } });
            } else flow.push({ ...c, z: tab.id });
            if (n.type === 'binance-order-update') orderDebug[market] = ((c.wires as string[][])[0] ?? [])[0];
          }
        }
        const seen = comms.debug().length;
        ours = flow.filter((n) => n.type.startsWith('binance-') && n.type !== 'binance-account');
        for (const n of ours) comms.statuses.delete(n.id);
        await nr.deploy(flow);
        await until(() => x.openStreams === 2 && allGreen(), 15_000, () => `two streams, green: ${x.requests.join(', ')}; ${JSON.stringify([...comms.statuses])}\n${nr.output.slice(-3000)}`);
        const at = (market: string): Array<Record<string, unknown>> =>
          comms.debug().slice(seen).filter((d) => d.id === orderDebug[market]).map((d) => JSON.parse(String(d.msg)) as Record<string, unknown>);
        assert.deepEqual(x.requests.filter((r) => r.endsWith('/listenKey')).map((r) => r.split(' ')[1]).filter((v, i, a) => a.indexOf(v) === i), ['/fapi/v1/listenKey']);

        x.pushBoth(); // one USDⓈ-M and one COIN-M fill, each to both connections
        await until(() => at('usdm-futures').length >= 1 && at('coinm-futures').length >= 1, 10_000, () => `a fill at each node: ${JSON.stringify(comms.debug().slice(seen))}`);
        const rest = x.requests.length;
        x.drop();
        x.pushBoth(); // made while no connection is open: recovered over REST
        await until(() => x.openStreams === 2 && allGreen(), 15_000, () => `reconnected, green: ${JSON.stringify([...comms.statuses])}; refused ${x.refused.join('; ')}`);
        await until(() => at('usdm-futures').length >= 2 && at('coinm-futures').length >= 2, 10_000, () => `the recovered fills: ${x.requests.slice(rest).join(', ')}; refused ${x.refused.join('; ')}`);
        x.pushBoth(); // a marker: every frame before it on each connection has been handled
        await until(() => at('usdm-futures').length >= 3 && at('coinm-futures').length >= 3, 10_000, () => `the markers: ${JSON.stringify(comms.debug().slice(seen))}`);

        assert.deepEqual(x.refused, [], 'no REST request refused (no symbol asked on the other family\'s REST)');
        for (const [market, symbol] of [['usdm-futures', 'BTCUSDT'], ['coinm-futures', 'BTCUSD_200925']] as const) {
          const msgs = at(market);
          const ids = msgs.map((m) => String(m.eventId));
          assert.deepEqual(msgs.map((m) => `${String(m.market)} ${String(m.topic)}`), Array(3).fill(`${market} ${symbol}`), `${market}: its own fills only: ${ids.join(', ')}`);
          assert.equal(new Set(ids).size, 3, `${market}: each once: ${ids.join(', ')}`);
          assert.equal(msgs[1].recovered, true, `${market}: the fill made while down was recovered`);
          assert.ok(ids.every((i) => i.startsWith(`fill:${market}:${symbol}:`)), ids.join(', '));
        }
        const trades = x.requests.slice(rest).filter((r) => r.endsWith('/userTrades'));
        assert.ok(trades.includes('GET /fapi/v1/userTrades') && trades.includes('GET /dapi/v1/userTrades'), trades.join(', '));
        issued.push(...x.streams.map((st) => st.listenKey));
      } finally {
        await x.close();
      }
    });

    // The PM stream nests an algo order under `ao`, with a top-level `fs` (Binance's PM connector
    // types, 2026-07-13; python PM 12.0.1, 2026-08-11): the order node with algo updates on shows it
    // with its symbol, side, status and its own eventId.
    it('portfolio margin: an ALGO_UPDATE {fs, ao} from a Binance-documented papi exchange reaches Debug (algo updates on) with its symbol, side and status, status green', async function () {
      const x = await PortfolioMarginDocExchange.start({ apiKey, apiSecret, unreadParams: 'refuse' });
      try {
        const msg = await deployGettingStarted('portfolio-margin', x.restUrl, x.wsUrl, () => x.requests, {}, { includeAlgoUpdates: true });
        assert.ok(x.requests.includes('POST /papi/v1/listenKey'), x.requests.join(', '));
        assert.ok(x.streams.length > 0 && x.streams.every((s) => s.valid), JSON.stringify(x.streams));
        assert.equal(msg.eventType, 'ALGO_UPDATE');
        assert.equal(msg.topic, 'BNBUSDT');
        assert.equal(msg.eventId, `algo:portfolio-margin:BNBUSDT:${x.pushed[0]}:NEW`);
        const p = msg.payload as Record<string, unknown>;
        assert.equal(p.symbol, 'BNBUSDT');
        assert.equal(p.side, 'SELL');
        assert.equal(p.algoStatus, 'NEW');
        assert.equal(p.algoId, x.pushed[0]);
        assert.equal(p.businessUnit, 'UM');
        assert.equal(p.triggerPrice, '750');
        assert.deepEqual(x.refused, [], 'no REST request refused');
        issued.push(...x.streams.map((st) => st.listenKey));
      } finally {
        await x.close();
      }
    });

    it('no secret (API key, secret, listenKey or listenToken) in the exported flow, the flow files, the Debug sidebar or the runtime output', async function () {
      const exported = (await text('/flows')).body;
      assert.match(exported, /"environment":"custom"/, 'the deployed account is exported');
      const where: Array<[string, string]> = [
        ['GET /flows', exported],
        ['runtime output', nr.output],
        ['debug messages', JSON.stringify(comms.messages)],
        ['flows.json', fs.readFileSync(path.join(nr.userDir, 'flows.json'), 'utf8')],
        ['flows_cred.json', fs.readFileSync(path.join(nr.userDir, 'flows_cred.json'), 'utf8')],
      ];
      assert.ok(issued.length >= 5, `stream credentials issued: ${issued.length}`);
      for (const [name, body] of where) {
        assert.ok(!body.includes(apiKey), `the API key is in ${name}`);
        assert.ok(!body.includes(apiSecret), `the API secret is in ${name}`);
        for (const t of issued) assert.ok(!body.includes(t), `a listenKey / listenToken is in ${name}`);
      }
    });
  });
});
