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
esbuild.buildSync({
  entryPoints: entries,
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
// Icons beside the files that name them (`file:binance.svg`).
for (const dir of ['nodes/BinanceUserStreamTrigger', 'credentials']) {
  for (const f of fs.readdirSync(path.join(here, dir))) {
    if (f.endsWith('.svg')) fs.copyFileSync(path.join(here, dir, f), path.join(dist, dir, f));
  }
}
