/**
 * Runs every benchmark the project has, one after another in its own process
 * so they do not disturb each other's memory figures. Each writes its results
 * to bench/results/<name>.json; bench/summary.ts then writes summary.md and
 * summary.svg from them.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BENCHMARKS = ['ltx.bench.ts', 'eventlog.bench.ts', 'replicate.bench.ts', 'idle.bench.ts', 'compare-litestream.bench.ts', 'time-travel.bench.ts'];

let failed = 0;
for (const file of BENCHMARKS) {
  const path = join(here, file);
  console.log(`\n== ${file}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${file} failed (exit ${r.status ?? r.signal})`);
    failed++;
  }
}
// Summarized even after a failure: the summary describes whatever results exist.
console.log('\n== summary.ts');
const summary = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'summary.ts')], { stdio: 'inherit' });
if (summary.status !== 0) {
  console.error(`summary.ts failed (exit ${summary.status ?? summary.signal})`);
  failed++;
}
process.exit(failed === 0 ? 0 : 1);
