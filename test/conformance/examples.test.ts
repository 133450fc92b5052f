/**
 * The example flows (examples/*.json), checked the way a user meets them:
 *  - each starts with a comment node that says how to set it up, and holds no credentials or secrets;
 *  - every node of ours appears in some example;
 *  - in a real Node-RED runtime (child process, 127.0.0.1, temp user dir, all core nodes and this
 *    package) every node type of every example is known, and the example deploys with its account
 *    pointed at the simulator (environment "custom" + credentials): no missing types, no errors, our
 *    nodes' status turns to a green dot, and the flow then does what its comment promises.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BinanceSimulator, type SimMarket } from '../../simulator/index';
import { Comms, exampleFiles, NodeRedProcess, readFlow, repoRoot, until, type FlowNode } from '../e2e/runtime';
import { installWithSqlite, queryFile } from '../e2e/sqlite';

const OUR_TYPES = ['binance-account', 'binance-order-update', 'binance-account-position', 'binance-balance-update', 'binance-user-event', 'binance-stream-status'];
const DATA_TYPES = OUR_TYPES.filter((t) => t !== 'binance-account');

/** Strings that must not appear in a shipped example. */
const SECRET_PATTERNS: Array<[string, RegExp]> = [
  ['PEM private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['Binance-style API key or secret (64 alphanumerics)', /(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])/],
  ['Telegram bot token', /\b\d{6,12}:[A-Za-z0-9_-]{30,}\b/],
  ['URL with user:password', /[a-z]+:\/\/[^/\s:@]+:[^/\s@]+@/i],
  ['listenKey in a URL', /listenKey=[A-Za-z0-9]{20,}/],
];
const SECRET_PROPERTIES = /^(apiKey|apiSecret|secret|privateKey|passphrase|password|token|listenKey|listenToken)$/i;

function strings(v: unknown, out: Array<[string, string]> = [], where = ''): Array<[string, string]> {
  if (typeof v === 'string') out.push([where, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => strings(x, out, `${where}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) strings(x, out, where ? `${where}.${k}` : k);
  return out;
}

/**
 * The example made deployable on its own tab with ids prefixed (so statuses and debug
 * messages of one example cannot be mistaken for another's), and its account node(s)
 * pointed at the simulator.
 */
function deployable(flow: FlowNode[], prefix: string, account: (n: FlowNode) => Record<string, unknown>): FlowNode[] {
  const ids = new Set(flow.map((n) => n.id));
  const map = (id: string): string => `${prefix}.${id}`;
  const remap = (v: unknown): unknown => {
    if (typeof v === 'string') return ids.has(v) ? map(v) : v;
    if (Array.isArray(v)) return v.map(remap);
    return v;
  };
  const tab: FlowNode = { id: `${prefix}.tab`, type: 'tab', label: prefix, disabled: false, info: '' };
  const out: FlowNode[] = [tab];
  for (const n of flow) {
    const c: FlowNode = { ...n, id: map(n.id) };
    for (const k of REFERENCES) if (k in c) c[k] = remap(c[k]);
    if (Array.isArray(c.wires)) c.wires = (c.wires as unknown[]).map(remap);
    if (n.type === 'binance-account') Object.assign(c, account(n));
    else if (n.type === 'sqlitedb') c.db = path.join(dbDir(), `${prefix}.sqlite`);
    else if (!isConfigNode(n)) c.z = tab.id;
    out.push(c);
  }
  return out;
}

const examples = exampleFiles();

/** Properties that hold the id of another node (wires, config nodes of ours, the core's and the dashboard's). */
let dbDirPath: string | undefined;
/** A temporary folder for the examples' SQLite files (the `db` property of their sqlitedb node). */
function dbDir(): string {
  dbDirPath ??= fs.mkdtempSync(path.join(os.tmpdir(), 'binance-sqlite-'));
  return dbDirPath;
}
after(function () {
  if (dbDirPath) fs.rmSync(dbDirPath, { recursive: true, force: true });
});

const REFERENCES = ['wires', 'account', 'links', 'scope', 'g', 'broker', 'ui', 'page', 'group', 'theme', 'mydb'];

/** A config node (no position on a tab): the account, the MQTT broker, the dashboard's base/page/group/theme. */
function isConfigNode(n: FlowNode): boolean {
  return n.x === undefined && n.type !== 'tab';
}

/** The account node of an example and the ids of its own nodes. */
function accountOf(flow: FlowNode[]): FlowNode {
  const accounts = flow.filter((n) => n.type === 'binance-account');
  assert.equal(accounts.length, 1, 'one account node per example');
  return accounts[0];
}

/** Every example as shipped, side by side in one workspace (one tab each), accounts on the simulator. */
function allTogether(account: (n: FlowNode) => Record<string, unknown>): FlowNode[] {
  const out: FlowNode[] = [];
  for (const file of examples) {
    const name = path.basename(file, '.json');
    const tab: FlowNode = { id: `tab-${name}`, type: 'tab', label: name, disabled: false, info: '' };
    out.push(tab);
    for (const n of readFlow(file)) {
      const c: FlowNode = { ...n };
      if (n.type === 'binance-account') Object.assign(c, account(n));
      else if (!isConfigNode(n)) c.z = tab.id;
      out.push(c);
    }
  }
  return out;
}

describe('example flows', function () {
  it('there are examples, and each parses as a flow array of nodes with unique ids', function () {
    assert.ok(examples.length >= 5, `only ${examples.length} examples`);
    for (const f of examples) {
      const flow = readFlow(f);
      assert.ok(Array.isArray(flow) && flow.length > 1, `${f}: not a flow`);
      for (const n of flow) assert.ok(typeof n.id === 'string' && typeof n.type === 'string', `${f}: node without id/type`);
      assert.equal(new Set(flow.map((n) => n.id)).size, flow.length, `${f}: duplicate ids`);
    }
  });

  for (const file of examples) {
    const name = path.basename(file);
    describe(name, function () {
      const flow = readFlow(file);

      it('starts with a comment node that says how to set it up', function () {
        const first = flow[0];
        assert.equal(first.type, 'comment', `${name}: first node is ${first.type}`);
        assert.ok(typeof first.name === 'string' && first.name.trim().length > 0, `${name}: the comment has no title`);
        const info = typeof first.info === 'string' ? first.info : '';
        assert.ok(info.length >= 80, `${name}: the comment's setup text is missing or too short`);
        // setup = which account node to configure + deploy
        assert.match(info, /double-click/i, `${name}: the comment does not say to open the account node`);
        assert.match(info, /API key/i, `${name}: the comment does not mention the API key`);
        assert.match(info, /deploy/i, `${name}: the comment does not say to deploy`);
      });

      it('holds no credentials or secrets', function () {
        const text = fs.readFileSync(file, 'utf8');
        for (const [what, re] of SECRET_PATTERNS) assert.doesNotMatch(text, re, `${name} contains a ${what}`);
        for (const n of flow) {
          assert.equal(n.credentials, undefined, `${name}: node ${n.id} carries credentials`);
          for (const [where, value] of strings(n)) {
            const key = where.split('.').pop() ?? '';
            if (SECRET_PROPERTIES.test(key)) assert.equal(value, '', `${name}: ${n.id}.${where} is set`);
          }
        }
        // account nodes: no custom endpoints (a shipped example points at Binance, the user picks the environment)
        for (const n of flow.filter((x) => x.type === 'binance-account')) {
          assert.notEqual(n.environment, 'custom', `${name}: ${n.id} uses custom URLs`);
          assert.equal(n.restUrl ?? '', '', `${name}: ${n.id} has a REST URL`);
          assert.equal(n.wsUrl ?? '', '', `${name}: ${n.id} has a WebSocket URL`);
        }
      });

      it('every node of ours refers to an account node of the same example', function () {
        const accounts = new Set(flow.filter((n) => n.type === 'binance-account').map((n) => n.id));
        assert.ok(accounts.size >= 1, `${name}: no binance-account node`);
        for (const n of flow.filter((x) => DATA_TYPES.includes(x.type))) {
          assert.ok(accounts.has(String(n.account)), `${name}: ${n.id} refers to account ${String(n.account)}`);
        }
      });
    });
  }

  it('imported into one workspace holding all the others: no id clashes, and each uses an account of its own', function () {
    const owner = new Map<string, string>();
    const accountNames = new Map<string, string>();
    for (const f of examples) {
      const name = path.basename(f);
      const flow = readFlow(f);
      for (const n of flow) {
        const other = owner.get(n.id);
        assert.equal(other, undefined, `${name}: node id ${n.id} is also in ${other ?? ''} (Node-RED would say "Some of the nodes you are importing already exist")`);
        owner.set(n.id, name);
      }
      const acct = accountOf(flow);
      const label = String(acct.name);
      assert.ok(label.trim() !== '', `${name}: the account node has no name`);
      assert.equal(accountNames.get(label), undefined, `${name}: account name "${label}" is also used by ${accountNames.get(label) ?? ''}`);
      accountNames.set(label, name);
      // the comment names this example's own account, and the account's market is the one it describes
      assert.ok(String(flow[0].info).includes(`**${label}**`), `${name}: the comment does not name its account "${label}"`);
      if (/futures/i.test(name)) assert.match(String(acct.market), /futures/, `${name}: a futures example on a ${String(acct.market)} account`);
      for (const n of flow.filter((x) => DATA_TYPES.includes(x.type))) assert.equal(n.account, acct.id, `${name}: ${n.id} uses another account`);
    }
    const all = allTogether(() => ({}));
    assert.equal(new Set(all.map((n) => n.id)).size, all.length);
  });

  it('a new account starts on the testnet, as the examples (which start there) say', function () {
    const html = fs.readFileSync(path.join(repoRoot(), 'nodes', 'binance-account.html'), 'utf8');
    assert.match(html, /environment: \{\s*(\/\/[^\n]*\n\s*)?value: 'testnet'/);
    for (const f of examples) {
      const acct = accountOf(readFlow(f));
      assert.equal(acct.environment, 'testnet', `${path.basename(f)}: the account is on ${String(acct.environment)}`);
      assert.match(String(readFlow(f)[0].info), /testnet/i, `${path.basename(f)}: the comment does not say which environment to start with`);
    }
  });

  it('every node of ours appears in some example', function () {
    const used = new Set(examples.flatMap((f) => readFlow(f).map((n) => n.type)));
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
      'node-red': { nodes: Record<string, string> };
    };
    assert.deepEqual(Object.keys(pkg['node-red'].nodes).sort(), [...OUR_TYPES].sort());
    for (const t of OUR_TYPES) assert.ok(used.has(t), `${t} is in no example`);
  });
});

describe('example flows in a real Node-RED runtime (against the simulator)', function () {
  this.timeout(120_000);
  let sim: BinanceSimulator;
  let nr: NodeRedProcess;
  let comms: Comms;
  let accountId: string;
  let apiKey: string;
  let apiSecret: string;
  let known: Set<string>;
  let csvDir: string | undefined;

  before(async function () {
    sim = await BinanceSimulator.start();
    const account = sim.createAccount({
      balances: { USDT: '25000.00000000', BTC: '0.50000000', ETH: '5.00000000' },
      futuresBalances: { USDT: '10000.00000000' },
    });
    accountId = account.id;
    const key = sim.createKey(accountId, 'hmac');
    apiKey = key.apiKey;
    apiSecret = key.apiSecret ?? '';
    csvDir = fs.mkdtempSync(path.join(os.tmpdir(), 'binance-csv-'));
    nr = await NodeRedProcess.start({ env: { FILLS_CSV_FILE: path.join(csvDir, 'fills.csv') }, install: installWithSqlite });
    comms = await Comms.connect(nr);
    known = await nr.knownTypes();
  });

  after(async function () {
    comms?.close();
    await nr?.stop();
    await sim?.stop();
    if (csvDir) fs.rmSync(csvDir, { recursive: true, force: true });
  });

  it('the runtime has loaded this package, the core nodes, the dashboard and the SQLite node', function () {
    for (const t of [...OUR_TYPES, 'debug', 'function', 'comment', 'inject', 'mqtt out', 'ui-base', 'ui-table', 'ui-chart', 'sqlite', 'sqlitedb']) assert.ok(known.has(t), `${t} not registered`);
  });

  /** What each example should do once deployed; examples not listed here are only deployed. */
  /** An example's behaviour: `id(type, name)` is the deployed id of its node of that type and name. */
  const behaviour: Record<string, (prefix: string, redeploy: () => Promise<void>, id: (type: string, name: string) => string) => Promise<void>> = {
    'getting-started.json': async (_p, _redeploy, id) => {
      await until(() => debugFrom(id('debug', 'stream status')).some((m) => m.includes('connected')), 10_000, () => 'the stream status debug message');
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '60000' });
      sim.deposit(accountId, 'spot', 'USDT', '100');
      await until(() => debugFrom(id('debug', 'order update')).some((m) => m.includes('TRADE') && m.includes('BTCUSDT')), 10_000, () => 'a fill in Debug');
      await until(() => debugFrom(id('debug', 'account position')).length > 0, 10_000, () => 'an account position in Debug');
      await until(() => debugFrom(id('debug', 'balance update')).some((m) => m.includes('USDT')), 10_000, () => 'the deposit in Debug');
      sim.injectEvent(accountId, 'spot', { e: 'externalLockUpdate', a: 'BTC', d: '0.1', T: 1 });
      await until(() => debugFrom(id('debug', 'other events')).some((m) => m.includes('externalLockUpdate') || m.includes('0.1')), 10_000, () => 'the other event in Debug');
    },
    'fills-to-csv.json': async (_p, redeploy) => {
      const csv = path.join(csvDir ?? '', 'fills.csv');
      const read = (): string => (fs.existsSync(csv) ? fs.readFileSync(csv, 'utf8') : '');
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.02', price: '61000', fills: ['0.01', '0.01'] });
      await until(() => read().split('\n').filter((l) => l.includes('BTCUSDT')).length === 2, 10_000, () => `two rows in ${csv}: ${read()}`);
      const header = 'time,symbol,side,quantity,price,commission,commissionAsset,orderId,tradeId,eventId,recovered';
      let lines = read().trim().split('\n');
      assert.equal(lines[0], header);
      assert.match(lines[1], /^\d{4}-\d\d-\d\dT[\d:.]+Z,BTCUSDT,SELL,0\.01\d*,61000(\.0+)?,.*,fill:spot:BTCUSDT:\d+:\d+,false$/);
      // a redeploy (and a restart) appends to the file without writing the header again
      await redeploy();
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '60000' });
      await until(() => read().split('\n').filter((l) => l.includes('BTCUSDT')).length === 3, 10_000, () => `a third row in ${csv}: ${read()}`);
      lines = read().trim().split('\n');
      assert.equal(lines.filter((l) => l === header).length, 1, `the header is written once:\n${read()}`);
    },
    'fills-to-telegram.json': async (_p, _redeploy, id) => {
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '60000' });
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.1', price: '3000' });
      // no token in the environment: the function warns once (not on every fill) and sends nothing out
      await until(() => debugFrom(id('function', 'Telegram message')).some((m) => m.includes('TELEGRAM_BOT_TOKEN')), 10_000, () => 'the missing-token warning');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(debugFrom(id('function', 'Telegram message')).filter((m) => m.includes('TELEGRAM_BOT_TOKEN')).length, 1, 'the warning is repeated on every fill');
      assert.equal(comms.statuses.get(id('function', 'Telegram message'))?.text, 'TELEGRAM_BOT_TOKEN not set');
      assert.equal(debugFrom(id('debug', 'Telegram reply')).length, 0, 'something reached the http request node');
    },
    'realized-pnl.json': async (_p, _redeploy, id) => {
      // spot, average cost: buy 0.01 @ 60000 (fee 0.00001 BTC: 0.00999 received), sell 0.00999 @ 61000 (fee 0.1% in USDT)
      sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: '0.01', price: '60000' });
      const sell = sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'SELL', quantity: '0.00999', price: '61000' });
      const last = (id: string): Record<string, unknown> | undefined => {
        const d = comms.debug().filter((m) => m.id === id);
        return d.length ? (JSON.parse(String(d[d.length - 1].msg)) as Record<string, unknown>) : undefined;
      };
      await until(() => String((last(id('debug', 'P&L per order'))?.payload as Record<string, unknown> | undefined)?.orderId) === String(sell.order.orderId), 10_000, () => 'the sell order in Debug');
      const order = last(id('debug', 'P&L per order'))?.payload as Record<string, unknown>;
      // 0.00999 × (61000 − 600/0.00999) − 609.39 × 0.001 = 609.39 − 600 − 0.60939
      assert.equal(order.realized, '8.78061');
      assert.equal(order.asset, 'USDT');
      assert.equal(order.complete, true);
      const day = last(id('debug', 'P&L per day'))?.payload as Record<string, unknown>;
      assert.equal(day.realized, '8.78061');
      assert.equal(day.fills, 2);
      assert.match(String(day.day), /^\d{4}-\d\d-\d\d$/);
    },
    'fill-journal-sqlite.json': async (prefix) => {
      const file = path.join(dbDir(), `${prefix}.sqlite`);
      const trades = sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'ETHUSDT', side: 'BUY', quantity: '0.2', price: '3000', fills: ['0.1', '0.1'] }).trades;
      const rows = async (): Promise<Array<Record<string, unknown>>> => (fs.existsSync(file) ? await queryFile(file, 'SELECT * FROM fills ORDER BY CAST(trade_id AS INTEGER)').catch(() => []) : []);
      await until(async () => (await rows()).length === 2, 15_000, () => `two rows in ${file}`);
      assert.deepEqual((await rows()).map((r) => r.trade_id), trades.map((t) => String(t.tradeId)));
    },
    'live-dashboard.json': async () => {
      const res = await fetch(`${nr.url}/dashboard/binance`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /<html/i);
    },
    'balances-table.json': async (_p, _redeploy, id) => {
      await until(() => debugFrom(id('debug', 'balances')).some((m) => m.includes('USDT')), 10_000, () => 'the balance table in Debug');
      const res = await fetch(`${nr.url}/binance/balances`);
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.match(html, /<td>USDT<\/td><td>\d+(\.\d+)?<\/td>/);
      assert.match(html, /<td>BTC<\/td>/);
      assert.doesNotMatch(html, /<td>BNB<\/td>/, 'a zero balance is shown');
    },
    'futures-margin-call-alert.json': async (_p, _redeploy, id) => {
      sim.marginCall(accountId, 'usdm-futures', 'BTCUSDT');
      await until(() => debugFrom(id('debug', 'alert')).some((m) => m.includes('MARGIN CALL')), 10_000, () => 'the margin-call alert in Debug');
    },
  };

  function debugFrom(id: string): string[] {
    return comms
      .debug()
      .filter((d) => d.id === id)
      .map((d) => JSON.stringify(d));
  }

  for (const file of examples) {
    const name = path.basename(file);
    it(`${name}: every node type is known, it deploys against the simulator, connects and works`, async function () {
      const flow = readFlow(file);
      const unknown = [...new Set(flow.map((n) => n.type))].filter((t) => !known.has(t));
      assert.deepEqual(unknown, [], `${name} uses unknown node types`);

      const prefix = name.replace(/\.json$/, '');
      const deployFlow = deployable(flow, prefix, (n) => {
        const urls = sim.urlsFor(String(n.market) as SimMarket);
        return {
          environment: 'custom',
          restUrl: urls.restUrl,
          wsUrl: urls.wsUrl,
          keyType: 'hmac',
          credentials: { apiKey, apiSecret },
        };
      });
      comms.clear();
      const mark = nr.output.length;
      await nr.deploy(deployFlow);

      const ours = deployFlow.filter((n) => DATA_TYPES.includes(n.type));
      assert.ok(ours.length > 0);
      await until(
        () => ours.every((n) => comms.statuses.get(n.id)?.fill === 'green' && comms.statuses.get(n.id)?.shape === 'dot'),
        15_000,
        () => `green status on ${ours.map((n) => `${n.id}=${JSON.stringify(comms.statuses.get(n.id))}`).join(', ')}`,
      );
      const missing = comms.messages.filter((m) => m.topic === 'notification/runtime-state' && JSON.stringify(m.data).includes('missing-types'));
      assert.deepEqual(missing, [], `${name}: runtime reports missing types`);

      const idOf = (type: string, label: string): string => {
        const n = flow.find((x) => x.type === type && x.name === label);
        assert.ok(n, `${name}: no ${type} "${label}"`);
        return `${prefix}.${n.id}`;
      };
      const redeploy = async (): Promise<void> => {
        comms.statuses.clear();
        await nr.deploy(deployFlow.map((n) => ({ ...n, ...(n.type === 'function' ? { info: `redeployed ${Date.now()}` } : {}) })));
        await until(() => ours.every((n) => comms.statuses.get(n.id)?.fill === 'green'), 15_000, () => 'green again after the redeploy');
      };
      await behaviour[name]?.(prefix, redeploy, idOf);

      const log = nr.output.slice(mark);
      assert.doesNotMatch(log, /\[error\]/, `${name}: errors in the runtime log:\n${log}`);
      assert.ok(!log.includes(apiSecret) && !log.includes(apiKey), `${name}: the key appears in the runtime log`);
      assert.doesNotMatch(JSON.stringify(comms.messages), new RegExp(`${apiKey}|${apiSecret}`), `${name}: the key reached the editor`);
    });
  }

  it('all examples deployed together, as shipped (one workspace): every node of ours connects on its own account', async function () {
    const flow = allTogether((n) => {
      const urls = sim.urlsFor(String(n.market) as SimMarket);
      return { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', credentials: { apiKey, apiSecret } };
    });
    comms.clear();
    const mark = nr.output.length;
    await nr.deploy(flow);
    const ours = flow.filter((n) => DATA_TYPES.includes(n.type));
    await until(
      () => ours.every((n) => comms.statuses.get(n.id)?.fill === 'green'),
      20_000,
      () => `green status on ${ours.filter((n) => comms.statuses.get(n.id)?.fill !== 'green').map((n) => `${n.id}=${JSON.stringify(comms.statuses.get(n.id))}`).join(', ')}`,
    );
    // each example's nodes use that example's account, and the runtime started one account node per example
    const deployed = (await nr.get('/flows')) as FlowNode[];
    const accounts = deployed.filter((n) => n.type === 'binance-account');
    assert.equal(accounts.length, examples.length);
    for (const file of examples) {
      const own = accountOf(readFlow(file)).id;
      for (const n of readFlow(file).filter((x) => DATA_TYPES.includes(x.type))) {
        assert.equal(deployed.find((d) => d.id === n.id)?.account, own, `${path.basename(file)}: ${n.id}`);
      }
    }
    const log = nr.output.slice(mark);
    assert.doesNotMatch(log, /\[error\]/, `errors in the runtime log:\n${log}`);
  });

});

describe('fill-journal-sqlite.json: every fill once in a real SQLite file, through a gap, a replay and a restart', function () {
  this.timeout(180_000);
  let sim: BinanceSimulator;
  let nr: NodeRedProcess | undefined;
  let comms: Comms | undefined;
  let accountId: string;
  let apiKey: string;
  let apiSecret: string;

  before(async function () {
    sim = await BinanceSimulator.start();
    accountId = sim.createAccount({ balances: { USDT: '25000.00000000', BTC: '0.50000000' } }).id;
    const key = sim.createKey(accountId, 'hmac');
    apiKey = key.apiKey;
    apiSecret = key.apiSecret ?? '';
  });
  after(async function () {
    comms?.close();
    await nr?.stop();
    await sim?.stop();
  });

  it('rows keyed by eventId: a recovered fill is one row, a replay of every message and a restart add none, the summary and the CSV export agree', async function () {
    const file = path.join(dbDir(), 'journal.sqlite');
    const example = readFlow(path.join(repoRoot(), 'examples', 'fill-journal-sqlite.json'));
    const flow = deployable(example, 'journal', (n) => {
      const urls = sim.urlsFor(String(n.market) as SimMarket);
      return { environment: 'custom', restUrl: urls.restUrl, wsUrl: urls.wsUrl, keyType: 'hmac', credentials: { apiKey, apiSecret } };
    }).map((n) => (n.type === 'sqlitedb' ? { ...n, db: file } : n));
    const idOf = (type: string, name: string): string => `journal.${example.find((n) => n.type === type && n.name === name)!.id}`;
    // The test's own additions: a Debug node that keeps each message of the order-update node (to
    // replay them), and POST /test/replay that sends a kept message into the journal again.
    const ou = flow.find((n) => n.id === idOf('binance-order-update', 'fills only'))!;
    ou.wires = [[...(ou.wires as string[][])[0], 'test.capture']];
    // … and one that counts the statements the upsert node carried out (it sends only on success)
    const upsert = flow.find((n) => n.id === idOf('sqlite', 'upsert fill'))!;
    upsert.wires = [[...(upsert.wires as string[][])[0], 'test.upserted']];
    const tab = flow.find((n) => n.type === 'tab')!.id;
    flow.push(
      { id: 'test.upserted', type: 'debug', z: tab, name: 'upserted', active: true, tosidebar: true, console: false, complete: 'eventId', targetType: 'msg', x: 0, y: 0, wires: [] },
      { id: 'test.capture', type: 'debug', z: tab, name: 'capture', active: true, tosidebar: true, console: false, complete: 'true', targetType: 'full', x: 0, y: 0, wires: [] },
      { id: 'test.replayIn', type: 'http in', z: tab, url: '/test/replay', method: 'post', upload: false, x: 0, y: 0, wires: [['test.replayFn']] },
      {
        id: 'test.replayFn',
        type: 'function',
        z: tab,
        func: 'const again = msg.payload;\nreturn [again, { req: msg.req, res: msg.res, payload: "ok" }];',
        outputs: 2,
        x: 0,
        y: 0,
        wires: [[idOf('function', 'fill to row')], ['test.replayOut']],
      },
      { id: 'test.replayOut', type: 'http response', z: tab, statusCode: '', headers: {}, x: 0, y: 0, wires: [] },
    );
    const rows = async (): Promise<Array<Record<string, unknown>>> => (fs.existsSync(file) ? await queryFile(file, 'SELECT * FROM fills ORDER BY time, CAST(trade_id AS INTEGER)').catch(() => []) : []);
    const captured = (): Array<Record<string, unknown>> =>
      (comms?.debug() ?? []).filter((d) => d.id === 'test.capture').map((d) => JSON.parse(String(d.msg)) as Record<string, unknown>);
    const start = async (): Promise<void> => {
      nr = await NodeRedProcess.start({ install: installWithSqlite });
      comms = await Comms.connect(nr);
      await nr.deploy(flow);
      await until(() => comms!.statuses.get(ou.id)?.fill === 'green', 15_000, () => `green status: ${JSON.stringify(comms!.statuses.get(ou.id))}`);
    };
    const upserted = (): number => (comms?.debug() ?? []).filter((d) => d.id === 'test.upserted').length;
    /**
     * Sends `msgs` into the journal again, once the upsert has carried out the `done` statements of
     * this life's fills; resolves when it has carried out each of the replayed ones (none failed).
     */
    const replay = async (msgs: Array<Record<string, unknown>>, done: number): Promise<void> => {
      await until(() => upserted() === done, 10_000, () => `the upsert of this life's ${done} fills (${upserted()})`);
      const before = upserted();
      for (const m of msgs) {
        const res = await fetch(`${nr!.url}/test/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(m) });
        assert.equal(res.status, 200);
      }
      await until(() => upserted() === before + msgs.length, 10_000, () => `the upsert of the ${msgs.length} replayed messages (${upserted() - before} carried out)`);
    };
    const made: string[] = [];
    const trade = (qty: string, fills: string[]): void => {
      for (const t of sim.runOrderLifecycle(accountId, { market: 'spot', symbol: 'BTCUSDT', side: 'BUY', quantity: qty, price: '60000', fills }).trades) made.push(String(t.tradeId));
    };

    await start();
    // live fills
    trade('0.02', ['0.01', '0.01']);
    await until(async () => (await rows()).length === 2, 15_000, () => 'two rows');
    // a fill made while the connection is down arrives recovered (REST), once
    sim.dropConnections({ accountId });
    trade('0.01', ['0.01']);
    await until(async () => (await rows()).length === 3, 30_000, () => 'the recovered fill');
    let r = await rows();
    assert.deepEqual(r.map((x) => x.trade_id), made, 'one row per fill, in order');
    assert.deepEqual(r.map((x) => x.recovered), [0, 0, 1], 'the fill of the gap is marked recovered');
    assert.ok(r.every((x) => /^fill:spot:BTCUSDT:\d+:\d+$/.test(String(x.event_id)) && x.symbol === 'BTCUSDT' && x.side === 'BUY'));
    assert.deepEqual(r.map((x) => x.quantity), ['0.01000000', '0.01000000', '0.01000000'], 'exact decimal strings');

    // a replay of every message the flow received: nothing counts twice
    await until(() => captured().length >= 3, 10_000, () => `the three messages in Debug: ${captured().length}`);
    const sent = captured();
    assert.equal(sent.length, 3);
    await replay(sent, 3);
    assert.equal((await rows()).length, 3, 'a replay added rows');

    // a restart of Node-RED (a new process, the same database file): the rows stay, new fills add
    // one row each, and the replay of the first life's messages adds none
    comms!.close();
    await nr!.stop();
    await start();
    trade('0.01', ['0.01']);
    await until(async () => (await rows()).length === 4, 15_000, () => 'the fill after the restart');
    await replay(sent, 1);
    r = await rows();
    assert.deepEqual(r.map((x) => x.trade_id), made, 'after the restart and a second replay: each fill once');

    // the daily summary and the CSV export read the same rows
    comms!.clear();
    const inject = await fetch(`${nr!.url}/inject/${idOf('inject', 'daily summary')}`, { method: 'POST' });
    assert.equal(inject.status, 200);
    await until(() => comms!.debug().some((d) => d.id === idOf('debug', 'daily summary')), 10_000, () => 'the daily summary in Debug');
    const summary = JSON.parse(String(comms!.debug().find((d) => d.id === idOf('debug', 'daily summary'))!.msg)) as Array<Record<string, unknown>>;
    assert.equal(summary.length, 1);
    assert.equal(summary[0].fills, 4);
    assert.equal(summary[0].quantity, 0.04);
    assert.equal(summary[0].quote_quantity, 2400);
    const csv = await fetch(`${nr!.url}/binance/fills.csv`);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines[0], 'event_id,time,market,symbol,side,quantity,price,quote_quantity,commission,commission_asset,order_id,trade_id,recovered,account');
    assert.deepEqual(lines.slice(1).map((l) => l.split(',')[11]), made);
    const log = nr!.output;
    assert.doesNotMatch(log, /\[error\]/, `errors in the runtime log:\n${log}`);
  });
});
