/**
 * What an n8n user installs: `npm pack` of n8n/ ships the bundled node and credentials named in
 * package.json's `n8n` section with their icon, the examples, README and licence — no sources,
 * tests, maps or key material — and declares no runtime dependency (the core, ws and axios are
 * bundled; n8n-workflow is a peer). Conventions of n8n community packages are checked too.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const dir = path.resolve(__dirname, '..', '..', '..', 'n8n');

interface Pkg {
  name: string;
  keywords: string[];
  n8n: { n8nNodesApiVersion: number; nodes: string[]; credentials: string[] };
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

describe('n8n package contents (npm pack)', function () {
  this.timeout(60_000);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Pkg;
  let files: string[];

  before(() => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
  });

  it('follows the community-node conventions: name, keyword, n8n section, n8n-workflow as a peer, no runtime dependencies', () => {
    assert.match(pkg.name, /^n8n-nodes-/);
    assert.ok(pkg.keywords.includes('n8n-community-node-package'));
    assert.equal(pkg.n8n.n8nNodesApiVersion, 1);
    assert.deepEqual(pkg.peerDependencies, { 'n8n-workflow': '*' });
    assert.deepEqual(pkg.dependencies ?? {}, {});
  });

  it('ships every node and credential of the n8n section, bundled, with its icon', () => {
    for (const js of [...pkg.n8n.nodes, ...pkg.n8n.credentials]) assert.ok(files.includes(js), `${js} not packed`);
    assert.ok(files.includes('dist/nodes/BinanceUserStreamTrigger/binance.svg'));
    for (const js of pkg.n8n.nodes) {
      const text = fs.readFileSync(path.join(dir, js), 'utf8');
      const required = [...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !m.startsWith('node:'));
      const external = required.filter((m) => !['n8n-workflow', 'bufferutil', 'utf-8-validate'].includes(m) && !isBuiltin(m));
      assert.deepEqual(external, [], 'only n8n-workflow and Node built-ins stay outside the bundle');
    }
  });

  it('ships the licence text of every package bundled into dist/ (MIT and the like require it with every copy)', () => {
    assert.ok(files.includes('dist/THIRD-PARTY-NOTICES.md'), 'dist/THIRD-PARTY-NOTICES.md not packed');
    const notices = fs.readFileSync(path.join(dir, 'dist', 'THIRD-PARTY-NOTICES.md'), 'utf8');
    const bundled = new Set<string>();
    for (const js of [...pkg.n8n.nodes, ...pkg.n8n.credentials]) {
      // esbuild marks each bundled module with a `// ../node_modules/<package>/<file>` line
      for (const m of fs.readFileSync(path.join(dir, js), 'utf8').matchAll(/^\/\/ (?:\.\.\/)*node_modules\/((?:@[^/\s]+\/)?[^/\s]+)\//gm)) bundled.add(m[1]);
    }
    assert.ok(bundled.has('ws') && bundled.has('axios'), `bundled: ${[...bundled].join(', ')}`);
    const sections = new Map<string, string>();
    for (const part of notices.split(/^## /m).slice(1)) {
      const m = /^(\S+) \d+\.\d+\.\d+\S* \(([^)]+)\)\n\n([\s\S]*)$/.exec(part);
      assert.ok(m, `malformed section: ${part.slice(0, 80)}`);
      sections.set(m[1], m[3]);
    }
    for (const name of bundled) {
      const text = sections.get(name);
      assert.ok(text, `no notice for the bundled ${name}`);
      assert.match(text, /copyright/i, `${name}: no copyright line`);
      assert.match(text, /permission|licen[cs]e/i, `${name}: no licence text`);
    }
  });

  it('ships no sources, tests, maps, scripts or key material; README, licence and the examples', () => {
    const forbidden = files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.map') || /(^|\/)(test|scripts)\//.test(f) || /\.(pem|key)$/i.test(f));
    assert.deepEqual(forbidden, []);
    for (const f of ['README.md', 'LICENSE', 'package.json']) assert.ok(files.includes(f), `${f} missing`);
    assert.ok(files.some((f) => f.startsWith('examples/') && f.endsWith('.json')), 'no example workflow');
  });
});

function isBuiltin(m: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:module') as typeof import('node:module')).builtinModules.includes(m);
}

describe('n8n example workflows', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Pkg;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadTriggerType } = require('./trigger-functions') as typeof import('./trigger-functions');
  const description = loadTriggerType().description;
  const names = new Set(description.properties.map((p) => p.name));
  for (const file of fs.readdirSync(path.join(dir, 'examples')).filter((f) => f.endsWith('.json'))) {
    it(`${file}: our trigger under the package's node type, with parameters the node has, connected onwards`, () => {
      const wf = JSON.parse(fs.readFileSync(path.join(dir, 'examples', file), 'utf8')) as {
        nodes: Array<{ name: string; type: string; parameters: Record<string, unknown>; credentials?: Record<string, unknown> }>;
        connections: Record<string, { main: Array<Array<{ node: string }>> }>;
      };
      const trigger = wf.nodes.find((n) => n.type.endsWith(`.${description.name}`));
      assert.ok(trigger, 'no Binance User Stream Trigger');
      assert.equal(trigger.type, `${pkg.name}.${description.name}`);
      for (const k of Object.keys(trigger.parameters)) assert.ok(names.has(k), `unknown parameter ${k}`);
      assert.ok(trigger.credentials?.binanceUserStreamApi, 'no Binance API credential');
      const next = wf.connections[trigger.name]?.main?.[0]?.[0]?.node;
      assert.ok(next && wf.nodes.some((n) => n.name === next), 'the trigger is not connected');
    });
  }
});
