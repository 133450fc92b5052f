#!/usr/bin/env node
// Copies the screenshots the README shows from the last browser test run
// (test-results/screenshots/, written by test/e2e/editor.e2e.test.ts and
// test/e2e/locales.e2e.test.ts) to docs/screenshots/. Run `npm test` (or the e2e tests alone) first.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const from = path.join(root, 'test-results', 'screenshots');
const to = path.join(root, 'docs', 'screenshots');

/** test screenshot -> docs name */
const CHOSEN = {
  '01-palette.png': 'palette.png',
  '03-account-config.png': 'account-config.png',
  '04-deployed-connected.png': 'deployed-connected.png',
  '05-debug-fill.png': 'debug-fill.png',
  '07-dashboard.png': 'dashboard.png',
  '08-status-with-reason.png': 'status-with-reason.png',
  'i18n-ja-03-account-config.png': 'editor-ja.png',
  'i18n-zh-CN-03-account-config.png': 'editor-zh-CN.png',
};

const missing = Object.keys(CHOSEN).filter((f) => !fs.existsSync(path.join(from, f)));
if (missing.length) {
  console.error(`missing in ${path.relative(root, from)}: ${missing.join(', ')} (run the browser test first)`);
  process.exit(1);
}
fs.mkdirSync(to, { recursive: true });
for (const [src, dst] of Object.entries(CHOSEN)) {
  fs.copyFileSync(path.join(from, src), path.join(to, dst));
  console.log(`${path.relative(root, path.join(to, dst))} <- ${src}`);
}
