#!/usr/bin/env node
// Copies what Node-RED's loader needs next to the compiled node files:
// each node's .html, the locales/ folder and the icons/ folder (the loader only
// looks for icons beside the node .js files, not at the package root).
// The editor code the dialogs share, resources/binance-editor.js, stays where it is: Node-RED
// serves it from the package root's resources/ folder (package.json "files" ships it).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
// Optional argument: another build directory (default dist), e.g. for a
// private build next to a running test suite: `node scripts/copy-assets.js /tmp/x`.
const out = path.join(path.resolve(process.argv[2] || path.join(root, 'dist')), 'nodes');
fs.mkdirSync(out, { recursive: true });

for (const f of fs.readdirSync(path.join(root, 'nodes'))) {
  if (f.endsWith('.html')) fs.copyFileSync(path.join(root, 'nodes', f), path.join(out, f));
}
fs.cpSync(path.join(root, 'nodes', 'locales'), path.join(out, 'locales'), { recursive: true });
fs.cpSync(path.join(root, 'icons'), path.join(out, 'icons'), { recursive: true });
