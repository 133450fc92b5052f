/**
 * node-red-node-sqlite for the fill-journal example's tests, as a user gets it from the palette:
 * installed into `.ci/sqlite` from the npm registry (`npm ci --ignore-scripts`: its sqlite3 would
 * otherwise try to download a prebuilt binary from GitHub, which CI cannot reach), then sqlite3
 * built from source by node-gyp against the headers of the development Node (the dev dependency
 * `node`, an npm package that ships them), for N-API version 6: one build that every Node of the
 * matrix (20 to 26) loads. Needs python3, make and a C++ compiler (.ci/run installs them). Done
 * once; later runs find the build.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installBuild, repoRoot } from './runtime';

function run(cmd: string, args: string[], cwd: string): void {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'], timeout: 20 * 60_000 });
}

/** The installed node-red-node-sqlite's folder (installing and building it first when missing). */
export function sqliteNodeDir(): string {
  const dir = path.join(repoRoot(), '.ci', 'sqlite');
  const modules = path.join(dir, 'node_modules');
  const nodeDir = path.join(modules, 'node-red-node-sqlite');
  if (!fs.existsSync(path.join(nodeDir, 'package.json'))) {
    run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
  }
  const sqlite3 = path.join(modules, 'sqlite3');
  if (!fs.existsSync(path.join(sqlite3, 'build', 'Release', 'node_sqlite3.node'))) {
    const devNode = path.join(repoRoot(), 'node_modules', 'node');
    const headers = path.join(devNode, 'node_modules', `node-${process.platform}-${process.arch}`);
    const node = path.join(devNode, 'bin', 'node');
    const gyp = path.join(modules, 'node-gyp', 'bin', 'node-gyp.js');
    run(node, [gyp, 'rebuild', '--release', '-j', '2', `--nodedir=${headers}`, '--napi_build_version=6'], sqlite3);
  }
  return nodeDir;
}

/** installBuild (this package, the dashboard) and node-red-node-sqlite, as the palette installs it. */
export function installWithSqlite(userDir: string): void {
  installBuild(userDir);
  const name = 'node-red-node-sqlite';
  fs.symlinkSync(sqliteNodeDir(), path.join(userDir, 'node_modules', name), 'dir');
  const pkgFile = path.join(userDir, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { dependencies: Record<string, string> };
  pkg.dependencies[name] = '*';
  fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2));
}

interface Sqlite3 {
  Database: new (file: string, mode: number, cb: (err: Error | null) => void) => {
    all(sql: string, cb: (err: Error | null, rows: Array<Record<string, unknown>>) => void): void;
    close(cb: (err: Error | null) => void): void;
  };
  OPEN_READONLY: number;
}

/** The rows of `sql` in the database `file`, read with the same sqlite3 build (read-only). */
export async function queryFile(file: string, sql: string): Promise<Array<Record<string, unknown>>> {
  sqliteNodeDir();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sqlite3 = require(path.join(repoRoot(), '.ci', 'sqlite', 'node_modules', 'sqlite3')) as Sqlite3;
  const db = await new Promise<InstanceType<Sqlite3['Database']>>((resolve, reject) => {
    const d = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
  });
  try {
    return await new Promise((resolve, reject) => db.all(sql, (err, rows) => (err ? reject(err) : resolve(rows))));
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}
