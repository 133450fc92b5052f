#!/usr/bin/env node
// Builds the n8n package: each node and credential file is bundled with esbuild into dist/ as one
// CommonJS file, together with the shared core it imports from ../nodes/lib (the same sources the
// Node-RED package compiles; nothing is copied into git) and the core's ws + axios. n8n-workflow
// stays external (a peer dependency: n8n provides it). The runtime dependency list is thus empty.
// Type checking is the root build's job (the root tsconfig includes n8n/).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const here = path.resolve(__dirname, '..');
const dist = path.join(here, 'dist');
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));

let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  console.error('n8n/scripts/build.js: esbuild missing — run `node n8n/scripts/deps.js` (or `npm run build` at the root) first');
  process.exit(1);
}

fs.rmSync(dist, { recursive: true, force: true });
// package.json names the built files (dist/<path>.js); their sources are <path>.ts beside this folder.
const entries = [...pkg.n8n.nodes, ...pkg.n8n.credentials].map((js) => {
  const rel = js.replace(/^dist\//, '').replace(/\.js$/, '');
  return { in: path.join(here, `${rel}.ts`), out: rel };
});
const result = esbuild.buildSync({
  entryPoints: entries,
  metafile: true,
  outdir: dist,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // n8n's own copy; ws's optional native helpers are tried with require() inside try/catch
  external: ['n8n-workflow', 'bufferutil', 'utf-8-validate'],
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
writeNotices(result.metafile);
// Icons beside the files that name them (`file:binance.svg`).
for (const dir of ['nodes/BinanceUserStreamTrigger', 'credentials']) {
  for (const f of fs.readdirSync(path.join(here, dir))) {
    if (f.endsWith('.svg')) fs.copyFileSync(path.join(here, dir, f), path.join(dist, dir, f));
  }
}

/**
 * dist/THIRD-PARTY-NOTICES.md: the bundle holds code of ws, axios and their dependencies, whose
 * licences (MIT and the like) require their copyright and licence text to travel with every copy;
 * esbuild keeps only the few `/*!` comments. One section per bundled package (from esbuild's
 * metafile): name, version, licence, and its licence file.
 */
function writeNotices(metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const abs = path.resolve(process.cwd(), input);
    const at = abs.lastIndexOf(`${path.sep}node_modules${path.sep}`);
    if (at < 0) continue;
    const rest = abs.slice(at + '/node_modules/'.length).split(path.sep);
    const name = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    dirs.add(path.join(abs.slice(0, at), 'node_modules', name));
  }
  const sections = [...dirs]
    .map((d) => {
      const p = JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8'));
      const license = typeof p.license === 'string' ? p.license : (p.license && p.license.type) || 'see below';
      return { name: p.name, text: `## ${p.name} ${p.version} (${license})\n\n${licenceText(d, p)}\n` };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const head = `# Third-party notices\n\n${pkg.name} bundles the following packages into dist/ (with esbuild); their licences follow.\n`;
  fs.writeFileSync(path.join(dist, 'THIRD-PARTY-NOTICES.md'), [head, ...sections.map((s) => s.text)].join('\n'));
}

/** The licence text a package ships: its licence file, else the licence section of its README (agent-base 6). */
function licenceText(dir, p) {
  const files = fs.readdirSync(dir);
  const file = files.find((f) => /^(licen[cs]e|copying)(\.|-|$)/i.test(f));
  if (file) return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  const readme = files.find((f) => /^readme(\.|$)/i.test(f));
  const text = readme ? fs.readFileSync(path.join(dir, readme), 'utf8') : '';
  const at = text.search(/^(#+ *licen[cs]e\b.*|\(The MIT License\))$/im);
  if (at < 0) throw new Error(`n8n/scripts/build.js: ${p.name} ${p.version} is bundled but ships no licence text`);
  return text
    .slice(at)
    .split('\n')
    .filter((l) => !/^\[[^\]]+\]: /.test(l))
    .join('\n')
    .trim();
}
