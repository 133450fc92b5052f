/**
 * The Flow Library scorecard checks that can run offline (node-red-dev validate
 * needs catalogue.nodered.org for the rest), re-implemented so they run in CI:
 * P01 licence, P03 repository/bugs, P04 naming, P05 `node-red` keyword,
 * P06 node-red.version, P07 engines.node, N02 every node type used in an example,
 * D01 at most 6 dependencies, and node types parsable from each node's .html.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');

interface Pkg {
  name: string;
  license?: string;
  repository?: unknown;
  bugs?: unknown;
  keywords?: string[];
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  'node-red'?: { version?: string; nodes?: Record<string, string> };
}

const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Pkg;

/** Lowest major of a simple `>=X[.Y.Z]` range, as the scorecard's semver check needs. */
function minMajor(range: string): number {
  const m = /^>=\s*(\d+)(?:\.\d+){0,2}$/.exec(range.trim());
  assert.ok(m, `range ${range} is not a simple >= range`);
  return Number(m[1]);
}

/** Node types registered in the editor: `RED.nodes.registerType('<literal>', {...category...})`. */
export function editorTypes(html: string): Array<{ type: string; category: string }> {
  const out: Array<{ type: string; category: string }> = [];
  const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  for (const js of scripts) {
    for (const m of js.matchAll(/RED\.nodes\.registerType\(\s*['"]([^'"]+)['"]\s*,\s*\{([\s\S]*?)\n\s{0,4}\}\s*\)/g)) {
      const cat = /category\s*:\s*['"]([^'"]+)['"]/.exec(m[2]);
      out.push({ type: m[1], category: cat ? cat[1] : '' });
    }
  }
  return out;
}

function exampleFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return exampleFiles(p);
    return d.name.endsWith('.json') ? [p] : [];
  });
}

describe('Flow Library scorecard (offline checks)', function () {
  it('P01 has a licence', function () {
    assert.equal(pkg.license, 'MIT');
    assert.ok(fs.existsSync(path.join(root, 'LICENSE')));
  });

  it('P03 has a repository and a bugs URL', function () {
    assert.ok(pkg.repository, 'repository missing');
    assert.ok(pkg.bugs, 'bugs missing');
  });

  it('P04 is named node-red-contrib-* (or scoped)', function () {
    assert.match(pkg.name, /^(@[a-z0-9-]+\/[a-z0-9-]+|node-red-contrib-[a-z0-9-]+)$/);
  });

  it('P05 has the node-red keyword', function () {
    assert.ok(pkg.keywords?.includes('node-red'));
  });

  it('P06 declares node-red.version >=4.0.0 (satisfied by 4.1 and 5.x)', function () {
    assert.equal(pkg['node-red']?.version, '>=4.0.0');
  });

  it('P07 engines.node is satisfied by the Node version Node-RED 5 needs (22.9)', function () {
    const node = pkg.engines?.node;
    assert.ok(node, 'engines.node missing');
    assert.ok(minMajor(node) <= 22, `engines.node ${node} excludes Node 22`);
    assert.ok(minMajor(node) >= 20, `engines.node ${node} claims Node versions we do not test`);
  });

  it('D01 has at most 6 dependencies', function () {
    assert.ok(Object.keys(pkg.dependencies ?? {}).length <= 6);
  });

  it('every registered node has an .html whose types parse, in the Binance category', function () {
    const nodes = pkg['node-red']?.nodes ?? {};
    assert.ok(Object.keys(nodes).length >= 5, 'expected at least five node types');
    for (const [name, js] of Object.entries(nodes)) {
      const htmlPath = path.join(root, js.replace(/\.js$/, '.html'));
      assert.ok(fs.existsSync(htmlPath), `${htmlPath} missing`);
      const types = editorTypes(fs.readFileSync(htmlPath, 'utf8'));
      assert.deepEqual(types.map((t) => t.type), [name], `${htmlPath} should register exactly ${name}`);
      assert.ok(['Binance', 'config'].includes(types[0].category), `${name} category ${types[0].category}`);
    }
  });

  it('N02 every non-config node type appears in some example flow', function () {
    const nodes = pkg['node-red']?.nodes ?? {};
    const used = new Set<string>();
    for (const f of exampleFiles(path.join(root, 'examples'))) {
      const flow = JSON.parse(fs.readFileSync(f, 'utf8')) as Array<{ type: string }>;
      for (const n of flow) used.add(n.type);
    }
    for (const [name, js] of Object.entries(nodes)) {
      const types = editorTypes(fs.readFileSync(path.join(root, js.replace(/\.js$/, '.html')), 'utf8'));
      if (types[0]?.category === 'config') continue;
      assert.ok(used.has(name), `${name} is in no example`);
    }
  });
});
