/**
 * What a user installs: `npm pack` must ship the built nodes with their
 * editor files, locales and icons, the examples, and nothing else
 * (no tests, no simulator, no TypeScript sources, no fixtures or keys).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');

interface PackFile { path: string }
interface PackResult { files: PackFile[] }

function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const parsed = JSON.parse(out) as PackResult[];
  return parsed[0].files.map((f) => f.path);
}

describe('package contents (npm pack)', function () {
  this.timeout(60000);
  let files: string[];
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    'node-red': { nodes: Record<string, string> };
  };

  before(function () {
    files = packedFiles();
  });

  it('ships no tests, simulator, sources, benchmarks, source maps or key material', function () {
    const forbidden = files.filter(
      (f) =>
        /(^|\/)test\//.test(f) ||
        /(^|\/)simulator\//.test(f) ||
        /(^|\/)bench\//.test(f) ||
        f.startsWith('.ci/') ||
        f.startsWith('scripts/') ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
        f.endsWith('.map') ||
        /\.(pem|key|p8|crt)$/i.test(f) ||
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

  it('ships the licence and readme', function () {
    for (const f of ['LICENSE', 'README.md', 'package.json']) assert.ok(files.includes(f), `${f} missing`);
  });
});
