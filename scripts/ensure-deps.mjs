// Installs the project's npm dependencies when they are missing or older than
// package-lock.json, so `npm test`, `npm run demo` and `npm run bench` work on a
// fresh clone with no prior `npm install`.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');

function upToDate() {
  if (!existsSync(marker)) return false;
  if (!existsSync(lock)) return true;
  return statSync(marker).mtimeMs >= statSync(lock).mtimeMs;
}

if (!upToDate()) {
  console.error('tidemark: installing npm dependencies (first run)...');
  const args = existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  const r = spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`tidemark: npm ${args[0]} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}
