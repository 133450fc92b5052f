#!/usr/bin/env node
// Installs the n8n package's own dev dependencies (n8n-workflow for its types and runtime in tests,
// esbuild, the eslint 9 stack of @n8n/node-cli's rules) into n8n/node_modules when they are missing
// or older than n8n/package-lock.json. Kept apart from the root's because n8n's lint plugin needs
// eslint 9 (the root uses 10), and with --ignore-scripts because n8n-workflow's expression sandbox
// (isolated-vm, a native module) is neither needed here nor buildable on every Node.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const here = path.resolve(__dirname, '..');
const lock = path.join(here, 'package-lock.json');
const installed = path.join(here, 'node_modules', '.package-lock.json');
const fresh = fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs;
if (!fresh) {
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
}
